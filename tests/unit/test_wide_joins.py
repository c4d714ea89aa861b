"""Width: a job with thousands of upstreams, or of dependents, costs a bounded number of read and
write units per job (``cronlane.joins``, ``model.LISTS_KEPT``), measured on the in-memory store
billed as DynamoDB would bill it (``cronlane.store.metered``; moto is too slow for 5,000), and a
wide join still ends right when an upstream fails, is rerun, or its executor dies."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from cronlane import Catalog, Job, Schedule, Selection, faults
from cronlane.inprocess import InProcess
from cronlane.model import JobStatus, RunStatus
from cronlane.store.capacity import Capacity, item_size
from cronlane.store.metered import MeteredStore

START = 1_800_000_000.0 - 8 * 3600 + 2 * 3600  # 2027-01-15T02:00:00Z: a fire time


def fan_in(width: int) -> dict[str, tuple[str, ...]]:
    names = tuple(f"up{i:05d}" for i in range(width))
    return {**dict.fromkeys(names, ()), "join": names}


def fan_out(width: int) -> dict[str, tuple[str, ...]]:
    return {"hub": (), **{f"down{i:05d}": ("hub",) for i in range(width)}}


def world(graph: dict[str, tuple[str, ...]], failing: set[str] | None = None) -> InProcess:
    """The graph's jobs, each doing nothing (those in ``failing`` raise while it holds them),
    on one schedule, on the metered in-memory store."""
    ran: list[str] = []

    def function(spec: str) -> Any:
        name = spec.rsplit(".", 1)[1]

        def run(ctx: Any) -> None:
            ran.append(name)
            if failing is not None and name in failing:
                raise RuntimeError(f"{name} is down")

        return run

    jobs = [Job(n, f"app.jobs.{n}", "g", ups, max_attempts=1) for n, ups in graph.items()]
    catalog = Catalog.build(jobs, [Schedule("nightly", "cron(0 2 * * ? *)", Selection.everything())])
    w = InProcess(
        catalog, START, import_function=function, store=lambda clock: MeteredStore(Capacity(clock.now))
    )
    w.ran = ran  # type: ignore[attr-defined]
    return w


def run_once(w: InProcess) -> str:
    run_id = str(w.tick("nightly", START)["run_id"])
    w.drain(limit=1_000_000)
    return run_id


def per_job(w: InProcess, jobs: int) -> tuple[float, float]:
    capacity = w.store.capacity  # type: ignore[attr-defined]
    return capacity.rru / jobs, capacity.wru / jobs


def largest_job_item(w: InProcess, run_id: str) -> int:
    store: MeteredStore = w.store  # type: ignore[assignment]
    return max(store.job_size(run_id, view.job) for view in store.written_job_runs(run_id))


def test_a_fan_in_of_5000_costs_at_most_5_read_units_and_a_bounded_number_of_writes_per_job() -> None:
    w = world(fan_in(5000))
    run_id = run_once(w)
    run = w.store.get_run(run_id)
    assert run is not None and run.status is RunStatus.SUCCEEDED and run.succeeded == 5001
    assert w.ran.count("join") == 1 and w.ran[-1] == "join"  # type: ignore[attr-defined]
    reads, writes = per_job(w, 5001)
    assert reads <= 5, reads
    assert writes <= 5, writes  # the claim, the finish (two units), one join write, a little more


def test_the_cost_per_job_of_a_fan_in_does_not_grow_with_its_width() -> None:
    narrow, wide = world(fan_in(500)), world(fan_in(5000))
    run_once(narrow), run_once(wide)
    (r500, w500), (r5000, w5000) = per_job(narrow, 501), per_job(wide, 5001)
    assert r5000 <= r500 * 1.1 and w5000 <= w500 * 1.1


def test_a_fan_out_of_5000_has_no_item_that_grows_with_its_dependents() -> None:
    small, wide = world(fan_out(100)), world(fan_out(5000))
    small_run, wide_run = run_once(small), run_once(wide)
    for w, run_id, jobs in ((small, small_run, 101), (wide, wide_run, 5001)):
        run = w.store.get_run(run_id)
        assert run is not None and run.status is RunStatus.SUCCEEDED and run.succeeded == jobs
    assert largest_job_item(wide, wide_run) == largest_job_item(small, small_run) < 1024
    # the hub's lists are still there for whoever reads it: from the graph snapshot
    hub = wide.store.get_job_run(wide_run, "hub")
    assert hub is not None and len(hub.dependents) == 5000
    reads, writes = per_job(wide, 5001)
    assert reads <= 5 and writes <= 5, (reads, writes)


def test_a_graph_of_10000_jobs_is_dispatched_and_run() -> None:
    graph = {f"j{i:05d}": ((f"j{i - 100:05d}", f"j{i - 99:05d}") if i >= 100 else ()) for i in range(10_000)}
    w = world(graph)
    run = w.store.get_run(run_once(w))
    assert run is not None and run.status is RunStatus.SUCCEEDED and run.succeeded == 10_000


def test_a_failed_upstream_of_a_wide_join_skips_it_and_the_run_closes_failed() -> None:
    graph = fan_in(250)
    w = world(graph, failing={"up00007"})
    run_id = run_once(w)
    run = w.store.get_run(run_id)
    assert run is not None and run.status is RunStatus.FAILED  # closed by the upstreams that came after
    join = w.store.get_job_run(run_id, "join")
    assert join is not None and join.status is JobStatus.SKIPPED
    assert "join" not in w.ran  # type: ignore[attr-defined]


def test_a_rerun_of_the_failed_upstream_runs_the_wide_join_once() -> None:
    failing = {"up00123"}
    w = world(fan_in(250), failing=failing)
    run_id = run_once(w)
    failing.clear()  # the outage is over
    w.act(action="rerun", run_id=run_id)
    w.drain(limit=1_000_000)
    run = w.store.get_run(run_id)
    assert run is not None and run.status is RunStatus.SUCCEEDED and run.succeeded == 251
    assert w.ran.count("join") == 1  # type: ignore[attr-defined]


class Crash(Exception):
    pass


@pytest.mark.parametrize("point", ["executor.after_state_write", "executor.after_release"])
def test_an_executor_that_dies_around_a_join_leaves_the_wide_join_to_the_redelivery(point: str) -> None:
    """Upstreams die after their state write (before they join) or after their release (the
    join written, the messages not deleted): the redelivered messages join again, and the join
    runs once, after every upstream."""
    w = world(fan_in(250))
    # 250 upstreams dealt out to 3 shards in turn: the last three to finish fill them (and the
    # last one the top set); and the first, whose add fills nothing
    dying = {"up00247", "up00248", "up00249", "up00000"}

    def hook(name: str, where: dict[str, Any]) -> None:
        if name == point and where.get("job") in dying:
            dying.discard(where["job"])
            raise Crash(where["job"])

    faults.install(hook)
    try:
        run_id = str(w.tick("nightly", START)["run_id"])
        for _ in range(10):
            try:
                w.drain(limit=1_000_000)
                break
            except Crash:
                continue  # the message stays in flight: it comes back after its visibility timeout
    finally:
        faults.install(None)
    assert not dying
    run = w.store.get_run(run_id)
    assert run is not None and run.status is RunStatus.SUCCEEDED and run.succeeded == 251
    assert w.ran.count("join") == 1 and w.ran[-1] == "join"  # type: ignore[attr-defined]


def test_item_size_follows_dynamodb_rules() -> None:
    assert item_size({"pk": "RUN#a", "n": 12345, "flag": True, "none": None}) == 2 + 5 + 1 + 4 + 4 + 1
    assert item_size({"l": ["ab", "c"]}) == 1 + 3 + (1 + 2) + (1 + 1)
    assert item_size({"empty": []}) == 0  # an empty attribute is not stored


def test_a_fresh_look_that_fills_the_join_sets_reads_the_upstreams_again() -> None:
    """A fresh look (here an operator's mark of a failed upstream, which releases with a read of
    every upstream first) adds after it read: an upstream that succeeded in between stopped at
    the sets it found short, so the look that fills them must read again, or the join waits for
    the run's check."""
    failing = {"up00000"}
    w = world(fan_in(20), failing=failing)
    run_id = str(w.tick("nightly", START)["run_id"])
    # every upstream but the failed one and the last has run; the last is held back
    while (
        w.store.get_job_run(run_id, "up00018") is None
        or not w.store.get_job_run(run_id, "up00018").status.terminal
    ):  # type: ignore[union-attr]
        assert w.step()
    releaser = w.dispatcher.operator.releaser  # type: ignore[attr-defined]
    real_states = releaser.store.states
    raced = []

    def states_then_last_succeeds(run: str, jobs: Any) -> Any:
        jobs = set(jobs)
        read = real_states(run, jobs)
        # the release's own read of the upstreams (not the operator's check for blocked jobs)
        if not raced and "up00019" in jobs and sys._getframe(1).f_code.co_name == "ready":
            raced.append(True)
            w.drain(limit=1_000)  # up00019 runs and releases between this read and the add
        return read

    releaser.store.states = states_then_last_succeeds
    try:
        answer = w.act(action="mark", run_id=run_id, job="up00000")
        assert "error" not in answer, answer
    finally:
        releaser.store.states = real_states
    w.drain(limit=1_000)
    assert raced
    join = w.store.get_job_run(run_id, "join")
    assert join is not None and join.status is JobStatus.SUCCEEDED
