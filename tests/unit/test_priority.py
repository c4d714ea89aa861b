"""Critical-path order (``cronlane.priority``): when several jobs are ready at once, the one with
the longest path still ahead goes first, by declared durations or, without them, by what each
job took in its schedule's last run."""

from __future__ import annotations

from typing import Any

from benchmarks import scale
from cronlane import Catalog, Job, Schedule, Selection
from cronlane.inprocess import InProcess
from cronlane.model import JobMessage, JobNode, RunStatus
from cronlane.priority import by_rank, expected_durations, ranks

HOURLY = Schedule("hourly", "cron(30 * * * ? *)", Selection.everything())
# three chains on concurrency 2: x -> x2 -> x3 and y -> y2 -> y3 (1 s each), long (1 s) -> tail (5 s)
CHAINS = {
    "x": (),
    "x2": ("x",),
    "x3": ("x2",),
    "y": (),
    "y2": ("y",),
    "y3": ("y2",),
    "long": (),
    "tail": ("long",),
}
TOOK = {name: 5.0 if name == "tail" else 1.0 for name in CHAINS}


def test_a_rank_is_the_job_and_the_longest_path_below_it() -> None:
    dependents = {"a": ("b", "c"), "b": ("d",), "c": (), "d": ()}
    rank = ranks(["a", "b", "c", "d"], dependents, {"a": 1.0, "b": 2.0, "c": 10.0, "d": 3.0})
    assert rank == {"d": 3.0, "c": 10.0, "b": 5.0, "a": 11.0}


def test_an_expected_duration_is_declared_else_measured_else_the_median_else_one_second() -> None:
    got = expected_durations(["a", "b", "c", "d"], {"a": 4.0, "b": None}, {"b": 2.0, "a": 99.0})
    assert got == {"a": 4.0, "b": 2.0, "c": 3.0, "d": 3.0}
    assert expected_durations(["a"], {}, {}) == {"a": 1.0}


def test_messages_go_highest_rank_first_ties_by_name() -> None:
    nodes = {
        n: JobNode(n, "g", "m.f", (), (), 60, 1, rank=r) for n, r in {"a": 1.0, "b": 5.0, "c": 5.0}.items()
    }
    ordered = by_rank([JobMessage("r", n) for n in ("a", "c", "b")], nodes)
    assert [m.job for m in ordered] == ["b", "c", "a"]


def makespan(expected: dict[str, float] | None) -> float:
    """The chains' run on two environments with no overhead (``make scale``'s model, with the
    real dispatcher and executor): its first tick's fire time to the run's end."""
    jobs = [
        Job(n, f"app.jobs.{n}", "g", ups, expected_s=expected.get(n) if expected else None)
        for n, ups in CHAINS.items()
    ]
    return scale.one_run_s(Catalog.build(jobs, [HOURLY]), TOOK, 2, "hourly")


def test_on_a_graph_where_it_matters_critical_path_order_reaches_the_bound() -> None:
    # the bound: the critical path (long, tail: 6 s) and the work over 2 environments (12 / 2)
    assert makespan(TOOK) == 6.0
    # with nothing known, each job counts a second: the two longer chains' roots go first, long
    # (queued beside them) a second later, and the 5-second tail starts at 2 s
    assert makespan(None) == 7.0


def test_without_declared_durations_the_last_run_s_decide() -> None:
    order: list[str] = []
    holder: list[InProcess] = []

    def function(spec: str) -> Any:
        name = spec.rsplit(".", 1)[1]

        def run(ctx: Any) -> None:
            order.append(name)
            world = holder[0]
            world.clock.advance_to(world.clock.now() + TOOK[name])

        return run

    jobs = [Job(n, f"app.jobs.{n}", "g", ups) for n, ups in CHAINS.items()]
    w = InProcess(Catalog.build(jobs, [HOURLY]), scale.DAY_START, import_function=function)
    holder.append(w)
    first = scale.DAY_START + 1800
    w.tick("hourly", first)
    w.drain()
    # nothing known yet: the three-job chains' roots first (by name), long last
    assert order[:3] == ["x", "y", "long"]
    order.clear()
    w.tick("hourly", first + 3600)
    w.drain()
    # the first run measured the tail at 5 s: long's path ahead is now the longest
    assert order[0] == "long"
    runs = w.store.runs_of_schedule("hourly")
    assert [r.status for r in runs] == [RunStatus.SUCCEEDED, RunStatus.SUCCEEDED]
    graph = w.store.load_run_graph(runs[0].run_id)
    assert graph is not None and graph.nodes["long"].rank == 6.0 and graph.nodes["x"].rank == 3.0


def wide_world(jobs: int) -> InProcess:
    catalog = Catalog.build([Job(f"j{i:03d}", f"app.jobs.j{i:03d}", "g", ()) for i in range(jobs)], [HOURLY])
    return InProcess(catalog, scale.DAY_START, import_function=lambda spec: lambda ctx: None)


def test_a_last_run_of_more_than_200_jobs_is_not_read_for_durations() -> None:
    for jobs, read_expected in ((200, True), (201, False)):
        w = wide_world(jobs)
        w.tick("hourly", scale.DAY_START + 1800)
        w.drain()
        read: list[str] = []
        written = w.store.written_job_runs

        def counting(run_id: str, written: Any = written, read: list[str] = read) -> Any:
            read.append(run_id)
            return written(run_id)

        w.store.written_job_runs = counting  # type: ignore[method-assign]
        w.tick("hourly", scale.DAY_START + 5400)
        assert bool(read) is read_expected, (jobs, read)


def test_a_failed_read_of_the_last_run_does_not_fail_the_tick() -> None:
    from cronlane.errors import StoreError

    w = wide_world(3)
    w.tick("hourly", scale.DAY_START + 1800)
    w.drain()

    def failing(run_id: str) -> Any:
        raise StoreError("throttled")

    w.store.written_job_runs = failing  # type: ignore[method-assign]
    answer = w.tick("hourly", scale.DAY_START + 5400)  # the ranks are a hint: the run goes ahead
    assert answer["created"] is True, answer
    w.store.written_job_runs = type(w.store).written_job_runs.__get__(w.store)  # type: ignore[method-assign]
    w.drain()
    runs = w.store.runs_of_schedule("hourly")
    assert [r.status for r in runs] == [RunStatus.SUCCEEDED, RunStatus.SUCCEEDED]
