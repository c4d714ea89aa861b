"""A run's width (``Schedule(max_parallel=N)``, ``cronlane.places``): at most N of its jobs sent
and not ended at once, and whenever one ends the waiting job with the longest path ahead goes
next, whenever it became ready. Crashes around the places' write lose nothing."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks import scale
from cronlane import Catalog, Job, Schedule, Selection, faults
from cronlane.errors import CatalogError
from cronlane.inprocess import InProcess
from cronlane.model import JobMessage, JobNode, JobStatus, PlacesRecord, RunStatus, Waiting
from cronlane.places import MAX_JOBS, admit

START = 1_800_000_000.0 - 8 * 3600 + 2 * 3600  # 2027-01-15T02:00:00Z: a fire time


def nodes(ranks: dict[str, float]) -> dict[str, JobNode]:
    return {n: JobNode(n, "g", "m.f", (), (), 60, 1, rank=r) for n, r in ranks.items()}


def test_admit_frees_the_ended_and_gives_free_places_to_the_highest_ranked() -> None:
    graph = nodes({"a": 1.0, "b": 9.0, "c": 5.0, "d": 5.0, "e": 7.0})
    record = PlacesRecord({"a": 0, "b": 0}, {"c": Waiting(), "d": Waiting()}, 3)
    # a ends and releases e: two places were taken of 2, now one is free: e outranks c and d
    after, sent = admit(record, "r", 2, graph, {"a"}, [JobMessage("r", "e", current=True)], 10.0)
    assert [(m.job, m.current, m.queued_at) for m in sent] == [("e", True, 10.0)]
    assert after == PlacesRecord({"b": 0, "e": 0}, {"c": Waiting(), "d": Waiting()}, 3)
    # b ends with nothing released: c and d tie on rank, the name decides
    after, sent = admit(after, "r", 2, graph, {"b"}, [], 11.0)
    assert [m.job for m in sent] == ["c"]
    assert set(after.placed) == {"e", "c"} and set(after.waiting) == {"d"}


def test_admit_sends_again_a_placed_job_and_counts_it_once() -> None:
    graph = nodes({"a": 1.0, "b": 2.0})
    record = PlacesRecord({"a": 0}, {"b": Waiting()}, 1)
    # a run's check resends a's lost message: a holds its place already, b still waits
    after, sent = admit(record, "r", 1, graph, (), [JobMessage("r", "a"), JobMessage("r", "b")], 5.0)
    assert [m.job for m in sent] == ["a"]
    assert after == record
    # a job that ended without running (skipped) leaves the waiting list
    after, sent = admit(record, "r", 1, graph, {"b"}, [], 5.0)
    assert sent == [] and after.waiting == {}
    # a rerun's later generation replaces the waiting one
    after, _ = admit(record, "r", 1, graph, (), [JobMessage("r", "b", 2)], 5.0)
    assert after.waiting == {"b": Waiting(2)}


def held_back(max_parallel: int | None) -> float:
    """a (1 s) -> d (10 s), and the sinks b, c, e (2 s each), on two environments with no
    overhead (``make scale``'s model, through the real dispatcher and executor): the run's
    makespan from its fire time."""
    took = {"a": 1.0, "d": 10.0, "b": 2.0, "c": 2.0, "e": 2.0}
    ups = {"d": ("a",)}
    jobs = [Job(n, f"app.jobs.{n}", "g", ups.get(n, ()), expected_s=took[n]) for n in took]
    schedule = Schedule("hourly", "cron(30 * * * ? *)", Selection.everything(), max_parallel=max_parallel)
    return scale.one_run_s(Catalog.build(jobs, [schedule]), took, 2, "hourly")


def test_on_a_graph_where_it_matters_held_back_jobs_reach_the_bound() -> None:
    # sent at once, longest path first: a and b start, c and e are queued before a releases d,
    # so d waits behind them and starts at 3 s
    assert held_back(None) == 13.0
    # held back to the two environments: c and e wait in the run, d takes a's place at 1 s,
    # and the run ends on its critical path (a, d: 11 s; the work over 2 is 8.5 s)
    assert held_back(2) == 11.0


def world(graph: dict[str, tuple[str, ...]], max_parallel: int, max_receive_count: int = 10) -> InProcess:
    ran: list[str] = []

    def function(spec: str) -> Any:
        name = spec.rsplit(".", 1)[1]
        return lambda ctx: ran.append(name)

    jobs = [Job(n, f"app.jobs.{n}", "g", ups, max_attempts=1) for n, ups in graph.items()]
    schedule = Schedule("nightly", "cron(0 2 * * ? *)", Selection.everything(), max_parallel=max_parallel)
    w = InProcess(
        Catalog.build(jobs, [schedule]), START, import_function=function, max_receive_count=max_receive_count
    )
    w.ran = ran  # type: ignore[attr-defined]
    return w


WIDE = {**{f"r{i}": () for i in range(8)}, **{f"d{i}": (f"r{i}",) for i in range(8)}, "end": ("d0", "d7")}


def test_a_run_never_has_more_of_its_jobs_out_than_its_width() -> None:
    w = world(WIDE, max_parallel=3)
    sent: list[str] = []
    send = w.queue.send

    def recording(messages: list[JobMessage]) -> None:
        sent.extend(m.job for m in messages)
        send(messages)

    w.queue.send = recording  # type: ignore[method-assign]
    run_id = str(w.tick("nightly", START)["run_id"])
    widest = 0
    while w.step():
        ended = {v.job for v in w.store.written_job_runs(run_id) if v.status.terminal}
        widest = max(widest, len(set(sent) - ended))
    run = w.store.get_run(run_id)
    assert run is not None and run.status is RunStatus.SUCCEEDED and run.succeeded == 17
    assert widest == 3
    assert sorted(w.ran) == sorted(WIDE)  # type: ignore[attr-defined]
    assert w.store.places(run_id).placed == {}  # every place given back


def test_a_width_is_checked_where_it_is_declared_and_at_dispatch() -> None:
    for bad in (0, 1001, 2.5, True):
        with pytest.raises(CatalogError, match=r"max_parallel must be a whole number within 1\.\.1000"):
            Catalog.build(
                [Job("a", "m.f", "g")],
                [Schedule("s", "rate(1 hour)", Selection.everything(), max_parallel=bad)],
            )  # type: ignore[arg-type]
    big = {f"j{i}": () for i in range(MAX_JOBS + 1)}
    w = world(big, max_parallel=10)
    answer = w.tick("nightly", START)
    assert "at most 2000 jobs, and this one has 2001" in str(answer)


class Crash(Exception):
    pass


def test_a_crash_after_the_places_write_loses_no_job() -> None:
    """The start's write and a release's write are made, their sends never happen: the run's
    check sends the placed roots again, and the redelivered message of the releasing job sends
    its dependent again."""
    crashes = {"start": 1, "release": 2}

    def hook(name: str, where: dict[str, Any]) -> None:
        if name != "places.after_write":
            return
        kind = "release" if w.store.written_job_runs(where["run_id"]) else "start"
        if crashes[kind]:
            crashes[kind] -= 1
            raise Crash(kind)

    w = world({"a": (), "b": (), "c": ("a",), "d": ("c",)}, max_parallel=1)
    faults.install(hook)
    try:
        with pytest.raises(Crash):
            w.tick("nightly", START)
        for _ in range(20):
            try:
                w.drain(until=START + 6 * 3600)  # the run's checks fire too
                break
            except Crash:
                continue  # the message stays in flight: it comes back after its visibility timeout
    finally:
        faults.install(None)
    assert crashes == {"start": 0, "release": 0}
    (run,) = w.store.runs_of_schedule("nightly")
    assert run.status is RunStatus.SUCCEEDED and run.succeeded == 4
    assert sorted(w.ran) == ["a", "b", "c", "d"]  # type: ignore[attr-defined]


def test_a_place_kept_by_an_end_that_never_released_is_given_back_by_the_run_s_check() -> None:
    """a's executor dies after its success is written, and the redrive policy moves its message
    to the dead-letter queue: no release ever frees a's place. The run's check does, and the
    waiting jobs run."""
    w = world({"a": (), "b": (), "c": ()}, max_parallel=1, max_receive_count=1)
    died: list[str] = []

    def hook(name: str, where: dict[str, Any]) -> None:
        if name == "executor.after_state_write" and not died:
            died.append(where["job"])
            raise Crash(where["job"])

    faults.install(hook)
    try:
        run_id = str(w.tick("nightly", START)["run_id"])
        with pytest.raises(Crash):
            w.drain()
    finally:
        faults.install(None)
    assert died == ["a"] and w.store.places(run_id).placed == {"a": 0}
    w.drain(until=START + 6 * 3600)  # the run's checks fire too
    run = w.store.get_run(run_id)
    assert run is not None and run.status is RunStatus.SUCCEEDED
    assert sorted(w.ran) == ["a", "b", "c"]  # type: ignore[attr-defined]
    assert any("sent again" in " ".join(a["found"]) for a in w.check_answers)
    assert {v.job: v.status for v in w.store.written_job_runs(run_id)} == dict.fromkeys(
        "abc", JobStatus.SUCCEEDED
    )


def test_a_width_costs_one_read_and_one_write_unit_per_end_and_one_for_the_start() -> None:
    """Billed as DynamoDB would (``make scale``'s metered store): the start's admit and each of
    the 17 ends' read the places' item (under 4 KB: one unit) and write it (under 1 KB: one)."""

    def units(max_parallel: int | None) -> tuple[float, float]:
        jobs = [Job(n, f"app.jobs.{n}", "g", ups) for n, ups in WIDE.items()]
        schedule = Schedule("hourly", "cron(30 * * * ? *)", Selection.everything(), max_parallel=max_parallel)
        world = scale.World(
            Catalog.build(jobs, [schedule]), dict.fromkeys(WIDE, 1.0), concurrency=3, overhead_s=0.0
        )
        fire = scale.DAY_START + 1800
        world.run([(fire, "hourly")], end=fire + 3600)
        (run,) = world.store.runs_of_schedule("hourly")
        assert run.status is RunStatus.SUCCEEDED and run.succeeded == 17
        return world.capacity.rru, world.capacity.wru

    (reads, writes), (held_reads, held_writes) = units(None), units(3)
    assert (held_reads - reads, held_writes - writes) == (18.0, 18.0)
