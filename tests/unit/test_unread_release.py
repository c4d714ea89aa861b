"""The release right after a success sends its ``all_success`` dependents without reading them
(``cronlane.release``): the claim's condition checks that they still wait. These are the cases
where the read used to decide something: a dependent in a later generation (a rerun), one
cancelled meanwhile, one already running, and a repeated release, which still reads."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cronlane import Catalog, Job, Schedule, Selection
from cronlane.errors import StoreError
from cronlane.inprocess import InProcess
from cronlane.model import JobMessage, JobState, JobStatus, RunStatus
from tests.unit.worlds import START, run_once


class Recorder:
    """Which job-runs the releases read, through the store's ``states``."""

    def __init__(self, w: InProcess) -> None:
        self.keys: list[str] = []
        states = w.store.states

        def recording(run_id: str, jobs: Iterable[str]) -> dict[str, JobState]:
            wanted = list(jobs)
            self.keys.extend(wanted)
            return states(run_id, wanted)

        w.store.states = recording  # type: ignore[method-assign]


def world(
    graph: dict[str, tuple[str, ...]],
    behaviour: dict[str, Any] | None = None,
    rules: dict[str, str] | None = None,
    max_receive_count: int = 10,
) -> InProcess:
    """The graph's jobs on one schedule; ``behaviour[name](ctx)`` runs as the job (else nothing);
    ``rules``: trigger rules other than ``all_success``."""
    ran: list[str] = []

    def function(spec: str) -> Any:
        name = spec.rsplit(".", 1)[1]

        def run(ctx: Any) -> None:
            ran.append(name)
            if behaviour and name in behaviour:
                behaviour[name](ctx)

        return run

    rule = rules or {}
    jobs = [
        Job(n, f"app.jobs.{n}", "g", ups, max_attempts=1, trigger_rule=rule.get(n, "all_success"))
        for n, ups in graph.items()
    ]
    catalog = Catalog.build(jobs, [Schedule("nightly", "cron(0 2 * * ? *)", Selection.everything())])
    w = InProcess(catalog, START, import_function=function, max_receive_count=max_receive_count)
    w.ran = ran  # type: ignore[attr-defined]
    return w


def test_a_chain_hands_off_without_reading_a_dependent() -> None:
    w = world({"a": (), "b": ("a",), "c": ("b",), "d": ("c",)})
    reads = Recorder(w)
    run_id = run_once(w)
    run = w.store.get_run(run_id)
    assert run is not None and run.status is RunStatus.SUCCEEDED
    assert w.ran == ["a", "b", "c", "d"]  # type: ignore[attr-defined]
    # each job's only upstream is the one that just finished: nothing is read to release it
    assert reads.keys == []


def test_a_fan_in_reads_the_other_upstreams_but_not_the_dependent() -> None:
    w = world({"a": (), "b": (), "join": ("a", "b")})
    reads = Recorder(w)
    run_once(w)
    assert w.ran.count("join") == 1  # type: ignore[attr-defined]
    assert "join" not in reads.keys and set(reads.keys) <= {"a", "b"}


def test_a_rerun_dependent_in_a_later_generation_is_started_by_the_unread_release() -> None:
    down = {"a": True}

    def a(ctx: Any) -> None:
        if down["a"]:
            raise RuntimeError("a is down")

    w = world({"a": (), "b": ("a",)}, {"a": a})
    run_id = run_once(w)
    run = w.store.get_run(run_id)
    assert run is not None and run.status is RunStatus.FAILED
    down["a"] = False
    w.act(action="rerun", run_id=run_id)  # a and b come back in generation 1
    w.drain()
    run = w.store.get_run(run_id)
    assert run is not None and run.status is RunStatus.SUCCEEDED
    b = w.store.get_job_run(run_id, "b")
    assert b is not None and b.status is JobStatus.SUCCEEDED and b.generation == 1
    assert w.ran == ["a", "a", "b"]  # type: ignore[attr-defined]


def test_a_run_cancelled_while_its_last_job_runs_closes_when_that_job_succeeds() -> None:
    worlds: list[InProcess] = []

    def a(ctx: Any) -> None:
        worlds[0].act(action="cancel", run_id=ctx.run_id)  # b, waiting, is cancelled; a finishes

    w = world({"a": (), "b": ("a",)}, {"a": a})
    worlds.append(w)
    run_id = run_once(w)
    run = w.store.get_run(run_id)
    assert run is not None and run.status is RunStatus.CANCELLED
    b = w.store.get_job_run(run_id, "b")
    assert b is not None and b.status is JobStatus.CANCELLED
    assert w.ran == ["a"]  # type: ignore[attr-defined]


def test_an_unread_message_for_a_job_that_already_ran_runs_nothing_and_sends_nothing_again() -> None:
    w = world({"a": (), "b": ("a",), "c": ("b",)})
    run_id = run_once(w)
    # a late duplicate of b's unread release (past SQS's 5-minute dedup window)
    w.clock.advance_to(w.clock.now() + 600)
    w.queue.send([JobMessage(run_id, "b", 0, queued_at=w.clock.now(), current=True)])
    reads = Recorder(w)
    w.drain()
    assert w.handled == 4
    assert w.ran == ["a", "b", "c"]  # type: ignore[attr-defined]
    # b's release is repeated, reading c (succeeded): c is not sent again
    assert reads.keys == ["c"]
    assert w.queue.next_visible() is None


def test_the_message_says_current_and_reads_back_the_same() -> None:
    message = JobMessage("r", "b", 0, queued_at=5.0, current=True)
    assert JobMessage.parse(message.body()) == message
    assert '"current": true' in message.body()
    assert "current" not in JobMessage("r", "b", 2).body()


def test_a_dependent_marked_succeeded_while_its_upstream_ran_lets_the_run_close() -> None:
    worlds: list[InProcess] = []

    def a(ctx: Any) -> None:
        # cancelled while a runs, then b vouched for: b is SUCCEEDED in generation 1
        worlds[0].act(action="cancel", run_id=ctx.run_id)
        worlds[0].act(action="mark", run_id=ctx.run_id, job="b")

    w = world({"a": (), "b": ("a",)}, {"a": a})
    worlds.append(w)
    run_id = run_once(w)
    run = w.store.get_run(run_id)
    assert run is not None and run.status is RunStatus.SUCCEEDED
    b = w.store.get_job_run(run_id, "b")
    assert b is not None and b.status is JobStatus.SUCCEEDED and b.generation == 1
    assert w.ran == ["a"]  # type: ignore[attr-defined]


def test_an_all_done_job_that_ran_after_a_failure_is_read_so_the_marked_run_closes() -> None:
    down = {"check": True}

    def check(ctx: Any) -> None:
        if down["check"]:
            raise RuntimeError("check is down")

    # summary runs whatever merge's outcome: it runs after check failed and merge was skipped
    graph: dict[str, tuple[str, ...]] = {"check": (), "merge": ("check",), "summary": ("merge",)}
    w = world(graph, {"check": check}, rules={"summary": "all_done"})
    run_id = run_once(w)
    run = w.store.get_run(run_id)
    assert run is not None and run.status is RunStatus.FAILED
    # an operator vouches for check (within SQS's dedup window of summary's first message):
    # merge runs; its release must see summary ended, or nothing closes the run
    w.act(action="mark", run_id=run_id, job="check")
    w.drain()
    run = w.store.get_run(run_id)
    assert run is not None and run.status is RunStatus.SUCCEEDED, run
    assert w.ran == ["check", "summary", "merge"]  # type: ignore[attr-defined]


def test_a_dead_lettered_unread_message_of_a_rerun_job_is_replayed_not_dropped() -> None:
    state = {"down": True, "outage": False}

    def a(ctx: Any) -> None:
        if state["down"]:
            raise RuntimeError("a is down")

    w = world({"a": (), "b": ("a",)}, {"a": a}, max_receive_count=2)
    claim = w.store.claim

    def flaky(run_id: str, job: str, *args: Any, **kwargs: Any) -> Any:
        if job == "b" and state["outage"]:
            raise StoreError("throttled")
        return claim(run_id, job, *args, **kwargs)

    w.store.claim = flaky  # type: ignore[method-assign]
    run_id = run_once(w)
    state["down"], state["outage"] = False, True
    w.act(action="rerun", run_id=run_id)  # a and b in generation 1: a QUEUED, b PENDING
    t0 = w.clock.now()
    # a succeeds and sends b unread (generation 0, current); b's claims fail until its message
    # is dead-lettered
    w.drain(until=t0 + 200)
    b = w.store.get_job_run(run_id, "b")
    assert b is not None and b.status is JobStatus.PENDING and b.generation == 1
    letters = [JobMessage.parse(letter.body) for letter in w.queue.peek_dead_letters(10, 0)]
    assert any(m.job == "b" and m.current for m in letters), letters
    state["outage"] = False
    w.checks.disarm(run_id)  # the replay's own doing, not the run's check
    w.clock.advance_to(w.clock.now() + 400)  # past SQS's 5-minute dedup window
    answer = w.act(action="dlq-replay", run_id=run_id)
    w.drain(until=w.clock.now() + 200)  # before any check the replay arms could fire
    b = w.store.get_job_run(run_id, "b")
    assert b is not None and b.status is JobStatus.SUCCEEDED and b.generation == 1, answer
    run = w.store.get_run(run_id)
    assert run is not None and run.status is RunStatus.SUCCEEDED


def test_a_cancelled_run_whose_jobs_still_run_is_checked_again_within_five_minutes() -> None:
    # the last job's release does not read the job it sends, whose message may wait behind
    # another run's execution of that job: the run's check comes back soon, not at its bound
    worlds: list[InProcess] = []
    seen: dict[str, float] = {}

    def a(ctx: Any) -> None:
        w = worlds[0]
        w.act(action="cancel", run_id=ctx.run_id)
        w.clock.advance_to(w.clock.now() + 400)  # the cancel's own check falls due, a still runs
        assert w.fire_due_checks() == 1
        seen["now"], seen["due"] = w.clock.now(), w.checks.armed[ctx.run_id]

    w = world({"a": (), "b": ("a",)}, {"a": a})
    worlds.append(w)
    run_id = run_once(w)
    assert seen["due"] - seen["now"] <= 300.0, seen
    run = w.store.get_run(run_id)
    assert run is not None and run.status is RunStatus.CANCELLED
