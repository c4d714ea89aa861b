"""A run's width (``Schedule(max_parallel=N)``, ``cronlane.places``): at most N of its jobs sent
and not ended at once, and whenever one ends the waiting job with the longest path ahead goes
next, whenever it became ready. Crashes around the places' write lose nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from benchmarks import scale
from cronlane import Catalog, Job, Schedule, Selection, faults
from cronlane.errors import CatalogError
from cronlane.inprocess import InProcess
from cronlane.local.session import RunReport
from cronlane.model import JobMessage, JobNode, JobStatus, PlaceEntry, PlacesRecord, RunStatus
from cronlane.places import MAX_JOBS, admit
from tests.unit.worlds import START, Crash, crashing


def nodes(ranks: dict[str, float]) -> dict[str, JobNode]:
    return {n: JobNode(n, "g", "m.f", (), (), 60, 1, rank=r) for n, r in ranks.items()}


W0 = PlaceEntry()  # generation 0, not current


def test_admit_frees_the_ended_and_gives_free_places_to_the_highest_ranked() -> None:
    graph = nodes({"a": 1.0, "b": 9.0, "c": 5.0, "d": 5.0, "e": 7.0})
    record = PlacesRecord({"a": W0, "b": W0}, {"c": W0, "d": W0}, 3)
    # a ends and releases e: two places were taken of 2, now one is free: e outranks c and d
    after, sent = admit(record, "r", 2, graph, {"a": 0}, [JobMessage("r", "e", current=True)], 10.0)
    assert [(m.job, m.current, m.queued_at) for m in sent] == [("e", True, 10.0)]
    assert after == PlacesRecord({"b": W0, "e": PlaceEntry(0, True)}, {"c": W0, "d": W0}, 3, frozenset({"e"}))
    # b ends with nothing released: c and d tie on rank, the name decides; e, which the last
    # write placed, is sent again (its sender may have died before sending it)
    after, sent = admit(after, "r", 2, graph, {"b": 0}, [], 11.0)
    assert [m.job for m in sent] == ["e", "c"]
    assert set(after.placed) == {"e", "c"} and set(after.waiting) == {"d"} and after.fresh == {"c"}


def test_admit_sends_again_a_placed_job_and_counts_it_once() -> None:
    graph = nodes({"a": 1.0, "b": 2.0})
    record = PlacesRecord({"a": W0}, {"b": W0}, 1)
    # a run's check resends a's lost message: a holds its place already, b still waits
    after, sent = admit(record, "r", 1, graph, {}, [JobMessage("r", "a"), JobMessage("r", "b")], 5.0)
    assert [m.job for m in sent] == ["a"]
    assert after == record
    # a job that ended without running (skipped) leaves the waiting list
    after, sent = admit(record, "r", 1, graph, {"b": None}, [], 5.0)
    assert sent == [] and after.waiting == {}
    # a rerun's later generation replaces the waiting one
    after, _ = admit(record, "r", 1, graph, {}, [JobMessage("r", "b", 2)], 5.0)
    assert after.waiting == {"b": PlaceEntry(2)}


def test_an_end_frees_only_its_own_generation_or_an_earlier_one() -> None:
    graph = nodes({"a": 1.0, "b": 2.0})
    # a rerun placed a's generation 2; a run's check read a as FAILED in generation 1 before
    record = PlacesRecord({"a": PlaceEntry(2)}, {"b": PlaceEntry(1)}, 4)
    after, sent = admit(record, "r", 1, graph, {"a": 1, "b": 0}, [], 5.0)
    assert after.placed == {"a": PlaceEntry(2)} and after.waiting == {"b": PlaceEntry(1)} and sent == []
    # generation 2's own end frees it; a current message's place goes whichever generation ends
    after, sent = admit(record, "r", 1, graph, {"a": 2}, [], 5.0)
    assert [(m.job, m.generation) for m in sent] == [("b", 1)]
    after, _ = admit(PlacesRecord({"a": PlaceEntry(0, True)}), "r", 1, graph, {"a": 3}, [], 5.0)
    assert after.placed == {}


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


def world(
    graph: dict[str, tuple[str, ...]],
    max_parallel: int,
    max_receive_count: int = 10,
    expected: dict[str, float] | None = None,
) -> InProcess:
    ran: list[str] = []

    def function(spec: str) -> Any:
        name = spec.rsplit(".", 1)[1]
        return lambda ctx: ran.append(name)

    jobs = [
        Job(n, f"app.jobs.{n}", "g", ups, max_attempts=1, expected_s=(expected or {}).get(n))
        for n, ups in graph.items()
    ]
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


def crash_once(
    w: InProcess, point: str, where_: Callable[[dict[str, Any]], bool] = lambda where: True
) -> tuple[str, dict[str, Any]]:
    """Tick the run and run it until the first time ``point`` is reached where ``where_`` holds,
    where the process dies; the run's id and where it died."""
    with crashing(point, where_) as died:
        run_id = str(w.tick("nightly", START)["run_id"])
        with pytest.raises(Crash):
            w.drain()
    return run_id, died[0]


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
    run_id, died = crash_once(w, "executor.after_state_write")
    assert died == {"job": "a", "run_id": run_id} and w.store.places(run_id).placed == {"a": PlaceEntry()}
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


def test_a_job_taken_from_the_waiting_list_by_a_sender_that_died_is_sent_by_the_next_admit() -> None:
    """a's release takes b (the waiting root, which outranks a's own dependent c) and dies
    before sending it. The redelivered message's release finds c waiting behind b, and sends b
    again: the record names it as placed by the last write."""
    w = world({"a": (), "c": ("a",), "b": ()}, max_parallel=1, expected={"a": 1.0, "c": 1.0, "b": 1.5})
    # the start's write (no job-run written yet) goes through; a's release dies after its write
    run_id, _ = crash_once(
        w, "places.after_write", lambda where: bool(w.store.written_job_runs(where["run_id"]))
    )
    assert w.store.places(run_id).placed == {"b": PlaceEntry()}
    # a's message comes back (no run's check fires: steps only): its release sends b again
    visible = w.queue.next_visible()
    assert visible is not None
    w.clock.advance_to(visible)
    while w.step():
        pass
    assert w.ran == ["a", "b", "c"]  # type: ignore[attr-defined]
    run = w.store.get_run(run_id)
    assert run is not None and run.status is RunStatus.SUCCEEDED and w.check_answers == []


def test_a_cancelled_run_sends_none_of_its_waiting_jobs() -> None:
    w = world({f"r{i}": () for i in range(6)}, max_parallel=1)
    run_id = str(w.tick("nightly", START)["run_id"])
    w.act(action="cancel", run_id=run_id)
    w.drain(until=START + 6 * 3600)
    run = w.store.get_run(run_id)
    assert run is not None and run.status is RunStatus.CANCELLED
    assert w.handled == 1  # the one placed root's message, which its claim refuses; not six
    assert w.store.places(run_id).placed == {} and w.store.places(run_id).waiting == {}


def test_an_operator_sees_which_jobs_wait_for_a_place_and_which_are_sent() -> None:
    w = world(WIDE, max_parallel=3)
    run_id = str(w.tick("nightly", START)["run_id"])
    run = w.store.get_run(run_id)
    assert run is not None

    def shown() -> dict[str, tuple[str, str | None]]:
        report = RunReport.read(w.store, run, roots_sent=True)
        return {j["name"]: (j["status"], j["reason"]) for j in report.to_json()["jobs"]}

    waiting = ("PENDING", "waiting for a place: 3 of 3 in use (max_parallel)")
    first = shown()
    # the start sent the three highest-ranked roots (r0 and r7 lead to end, then ties by name);
    # the other five wait, and say so, where the graph alone would call every root QUEUED
    assert [n for n, s in first.items() if s == ("QUEUED", None)] == ["r0", "r1", "r7"]
    assert sorted(n for n, s in first.items() if s == waiting) == [f"r{i}" for i in range(2, 7)]
    assert {s for n, s in first.items() if not n.startswith("r")} == {("PENDING", None)}
    assert {j.status for j in w.store.job_runs(run_id, roots_sent=True) if j.job.startswith("r")} == {
        JobStatus.QUEUED
    }
    w.step()  # a root runs and ends: its place goes to the next (its released dependent waits)
    after = shown()
    assert sum(s == ("SUCCEEDED", None) for s in after.values()) == 1
    assert sum(s == ("QUEUED", None) for s in after.values()) == 3
    assert sum(s[1] is not None and s[1].startswith("waiting") for s in after.values()) == 5
    w.drain()
    assert set(shown().values()) == {("SUCCEEDED", None)}
