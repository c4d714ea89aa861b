"""A dependent run in its upstream's invocation (``cronlane.execute``: ``chainable``): a job with
no lane (``max_concurrent=None``) that one success made ready runs next in the same invocation,
with no message of its own, and still has its claim, lease, state and history; a laned job, a
handed-off one, or one whose timeout does not fit in what is left of the invocation is sent as
before. A crash or a failed attempt in the chain loses nothing."""

from __future__ import annotations

from typing import Any

import pytest

from cronlane import Catalog, EcsTarget, Job, Schedule, Selection
from cronlane.clock import parse_iso
from cronlane.errors import CatalogError, InvalidRequest, QueueError
from cronlane.inprocess import QUEUE_ARN, InProcess
from cronlane.lanes import FREE
from cronlane.model import JobMessage, JobStatus, RunStatus
from tests.unit.worlds import START, Crash, crashing, run_once


def world(
    graph: dict[str, tuple[str, ...]],
    free: set[str] | None = None,
    fail_first: set[str] = frozenset(),  # type: ignore[assignment]
    timeouts: dict[str, int] | None = None,
    attempts: int = 1,
) -> InProcess:
    """Jobs of ``graph`` (name -> upstreams), those in ``free`` (all by default) with no lane;
    each job records its name when it runs, those in ``fail_first`` fail their first attempt."""
    free = set(graph) if free is None else free
    ran: list[str] = []

    def function(spec: str) -> Any:
        name = spec.rsplit(".", 1)[1]

        def run(ctx: Any) -> None:
            ran.append(name)
            if name in fail_first and ran.count(name) == 1:
                raise RuntimeError(f"{name} failed its first attempt")

        return run

    jobs = [
        Job(
            n,
            f"app.jobs.{n}",
            "g",
            ups,
            max_attempts=attempts,
            timeout_s=(timeouts or {}).get(n, 60),
            max_concurrent=None if n in free else 1,
        )
        for n, ups in graph.items()
    ]
    schedule = Schedule("nightly", "cron(0 2 * * ? *)", Selection.everything())
    w = InProcess(Catalog.build(jobs, [schedule]), START, import_function=function)
    w.ran = ran  # type: ignore[attr-defined]
    sent: list[JobMessage] = []
    send = w.queue.send

    def recording(messages: list[JobMessage]) -> None:
        sent.extend(messages)
        send(messages)

    w.queue.send = recording  # type: ignore[method-assign]
    w.sent = sent  # type: ignore[attr-defined]
    return w


def states(w: InProcess, run_id: str) -> dict[str, JobStatus]:
    return {v.job: v.status for v in w.store.written_job_runs(run_id)}


CHAIN = {"a": (), "b": ("a",), "c": ("b",)}


def test_a_chain_of_jobs_without_lanes_runs_in_one_invocation() -> None:
    w = world(CHAIN)
    run_id = run_once(w)
    run = w.store.get_run(run_id)
    assert run is not None and run.status is RunStatus.SUCCEEDED and run.succeeded == 3
    assert w.ran == ["a", "b", "c"]  # type: ignore[attr-defined]
    assert w.handled == 1  # one message, a's: b and c ran after it in its invocation
    assert [m.job for m in w.sent] == ["a"]  # type: ignore[attr-defined]
    for view in w.store.written_job_runs(run_id):  # each one claimed, with a lease, and its history
        assert view.attempts == 1 and len(view.history) == 1 and view.history[0]["error"] is None
        assert view.lane == FREE and view.started_at is not None and view.enqueued_at is not None
    # each chained job's hand-off is logged as one (its queue wait is its upstream's release)
    assert [r[2]["job"] for r in w.log.records if r[1] == "job runs in its upstream's invocation"] == [
        "b",
        "c",
    ]


def test_jobs_with_a_lane_are_sent_as_before() -> None:
    w = world(CHAIN, free=set())
    run_id = run_once(w)
    assert states(w, run_id) == dict.fromkeys("abc", JobStatus.SUCCEEDED)
    assert w.handled == 3 and [m.job for m in w.sent] == ["a", "b", "c"]  # type: ignore[attr-defined]


def test_an_upstream_with_a_lane_does_not_hold_it_through_a_chain() -> None:
    # a's message holds a's lane while its invocation goes on: so a laned a chains nothing
    w = world(CHAIN, free={"b", "c"})
    run_once(w)
    assert w.handled == 2  # a's message, then b's, which chains c


def test_of_several_ready_dependents_the_one_with_the_longest_path_ahead_stays() -> None:
    graph = {"a": (), "b": ("a",), "c": ("a",), "d": ("a",), "e": ("c",)}
    w = world(graph)
    run_id = run_once(w)
    assert states(w, run_id) == dict.fromkeys("abcde", JobStatus.SUCCEEDED)
    # a releases b, c, d: c (with e below it) runs in a's invocation, then e in it too
    assert w.ran[:3] == ["a", "c", "e"]  # type: ignore[attr-defined]
    assert sorted(m.job for m in w.sent) == ["a", "b", "d"]  # type: ignore[attr-defined]


def test_a_job_whose_timeout_does_not_fit_in_the_invocation_gets_its_message() -> None:
    # the invocation has 900 s; b's timeout of 880 s and the chain's slack of 30 s do not fit
    w = world(CHAIN, timeouts={"b": 880})
    run_once(w)
    assert [m.job for m in w.sent] == ["a", "b"]  # type: ignore[attr-defined]
    assert w.handled == 2  # b's message, which chains c


def test_a_chained_attempt_that_fails_is_retried_after_its_backoff() -> None:
    w = world(CHAIN, fail_first={"b"}, attempts=2)
    run_id = run_once(w)
    assert states(w, run_id) == dict.fromkeys("abc", JobStatus.SUCCEEDED)
    assert w.ran == ["a", "b", "b", "c"]  # type: ignore[attr-defined]
    (b,) = [v for v in w.store.written_job_runs(run_id) if v.job == "b"]
    assert b.attempts == 2 and "failed its first attempt" in str(b.history[0]["error"])
    # its retry went out as a message that waits for the backoff, and the retry began after it
    retry = next(m for m in w.sent if m.job == "b")  # type: ignore[attr-defined]
    assert retry.not_before is not None
    failed_at = parse_iso(b.history[0]["finished_at"])
    assert retry.not_before - failed_at >= 15  # backoff_seconds: 30 s scaled by 0.5 to 1
    assert parse_iso(b.history[1]["started_at"]) >= retry.not_before


@pytest.mark.parametrize(
    "point", ["executor.after_claim", "executor.after_job", "executor.after_state_write"]
)
def test_a_crash_in_a_chain_loses_no_job(point: str) -> None:
    """The executor dies while b runs in a's invocation: b has no message, but a's comes back
    after its visibility timeout, and its release finds b RUNNING under a lease that has run
    out, and sends it, to be taken over (or, if it had succeeded, released)."""
    w = world(CHAIN, attempts=2)
    with crashing(point, lambda where: where.get("job") == "b") as died:
        run_id = str(w.tick("nightly", START)["run_id"])
        with pytest.raises(Crash):
            w.drain()
        w.drain(until=START + 3 * 3600)
    run = w.store.get_run(run_id)
    assert died == [{"job": "b", "run_id": run_id}]
    assert run is not None and run.status is RunStatus.SUCCEEDED, run
    assert states(w, run_id) == dict.fromkeys("abc", JobStatus.SUCCEEDED)
    (b,) = [v for v in w.store.written_job_runs(run_id) if v.job == "b"]
    if point == "executor.after_state_write":
        assert b.attempts == 1  # it had succeeded: only its release was repeated
    else:
        assert b.attempts == 2 and "stopped before recording" in str(b.history[0]["error"])


def test_no_limit_is_declared_as_none_and_a_bad_limit_is_named() -> None:
    schedule = Schedule("nightly", "cron(0 2 * * ? *)", Selection.everything())
    Catalog.build([Job("a", "app.jobs.a", "g", max_concurrent=None)], [schedule])
    with pytest.raises(CatalogError, match=r"max_concurrent must be a whole number within 1\.\.100, or None"):
        Catalog.build([Job("a", "app.jobs.a", "g", max_concurrent=0)], [schedule])


def deep_chain_crash(point: str, job: str) -> tuple[InProcess, str]:
    """a -> b -> c -> d, all without lanes: a's invocation runs b, c and d, and dies at ``point``
    for ``job``; run on, the runs' checks firing too, for three hours."""
    w = world({**CHAIN, "d": ("c",)}, attempts=2)
    with crashing(point, lambda where: where.get("job") == job):
        run_id = str(w.tick("nightly", START)["run_id"])
        with pytest.raises(Crash):
            w.drain()
        w.drain(until=START + 3 * 3600)
    return w, run_id


@pytest.mark.parametrize(
    ("point", "job"),
    [("executor.after_claim", "c"), ("executor.after_send", "b"), ("executor.after_state_write", "c")],
)
def test_a_crash_deep_in_a_chain_is_repaired_by_the_first_job_s_redelivery(point: str, job: str) -> None:
    """Only a's message comes back (after its visibility timeout). Its release finds b
    succeeded, and b, c and d had no messages: the redelivery repeats the releases of the jobs
    its invocation ran (their job-runs name a's chain), so c is taken over, or sent, then and
    not hours later by the run's check."""
    w, run_id = deep_chain_crash(point, job)
    run = w.store.get_run(run_id)
    assert run is not None and run.status is RunStatus.SUCCEEDED, run
    chained = {v.job: v for v in w.store.written_job_runs(run_id)}
    assert {name: v.status for name, v in chained.items()} == dict.fromkeys("abcd", JobStatus.SUCCEEDED)
    assert chained["b"].chain == "a" and chained["a"].chain is None
    visibility = w.queue.visibility_timeout_s
    assert chained["d"].finished_at is not None and chained["d"].finished_at - START < visibility + 600
    assert not any("sent again" in " ".join(a.get("found", [])) for a in w.check_answers)


def test_a_chained_job_whose_message_cannot_be_sent_brings_its_upstream_s_message_back() -> None:
    """b fails its attempt in a's invocation and SQS refuses its retry's message (twice): a's
    message is not deleted but comes back once b's lease is over, and its release sends b."""
    w = world(CHAIN, fail_first={"b"}, attempts=2)
    refusals = [2]
    send = w.queue.send

    def refusing(messages: list[JobMessage]) -> None:
        if refusals[0] and any(m.job == "b" for m in messages):
            refusals[0] -= 1
            raise QueueError("SQS is down")
        send(messages)

    w.queue.send = refusing  # type: ignore[method-assign]
    run_id = str(w.tick("nightly", START)["run_id"])
    w.drain(until=START + 3 * 3600)
    run = w.store.get_run(run_id)
    assert run is not None and run.status is RunStatus.SUCCEEDED, run
    b = w.store.get_job_run(run_id, "b")
    assert b is not None and b.attempts == 2 and b.started_at is not None
    assert parse_iso(b.history[1]["started_at"]) - START < 1200  # after b's lease, not hours later
    assert not any("sent again" in " ".join(a.get("found", [])) for a in w.check_answers)


def test_a_message_that_is_not_its_batch_s_last_chains_nothing() -> None:
    w = world(CHAIN)
    run_id = str(w.tick("nightly", START)["run_id"])
    (message,) = w.queue.receive(1)
    w.executor.handle_message(message.body, message.receipt_handle, QUEUE_ARN, lambda: 900.0, chain=False)
    assert [m.job for m in w.sent] == ["a", "b"]  # type: ignore[attr-defined]
    assert states(w, run_id) == {"a": JobStatus.SUCCEEDED}


def test_a_handed_off_job_without_a_lane_releases_its_dependent_when_its_task_ends() -> None:
    """An ecs job is never chained; its completion, recorded by the same executor object in the
    in-process world, sends its dependent (a message handled before must leave nothing behind)."""
    from tests.unit.test_handed_off import FakeTargets, stopped

    targets = FakeTargets()
    jobs = [
        Job("trainJob", EcsTarget("jobs", "model", "model"), "ml", timeout_s=3600, max_concurrent=None),
        Job("reportJob", "app.jobs.report", "ml", ("trainJob",), timeout_s=60, max_concurrent=None),
    ]
    schedule = Schedule("nightly", "cron(0 2 * * ? *)", Selection.everything())
    ran: list[str] = []
    w = InProcess(
        Catalog.build(jobs, [schedule]),
        START,
        targets=targets,
        import_function=lambda spec: lambda ctx: ran.append(ctx.job),
    )
    run_id = str(w.tick("nightly", START)["run_id"])
    w.drain(until=START + 1)
    w.clock.advance_to(START + 600)
    assert w.completions.task_stopped(stopped(targets.started[0], 0))["status"] == "SUCCEEDED"
    w.drain(until=START + 601)
    assert ran == ["reportJob"]
    run = w.store.get_run(run_id)
    assert run is not None and run.status is RunStatus.SUCCEEDED


def test_a_message_of_a_job_without_a_lane_names_no_lane_and_one_that_does_is_still_read() -> None:
    """Its group is its sender's (the job-run's own); the body says nothing of it, so an executor
    from before jobs without a lane reads it, and a body that says -1 (the first version wrote
    it) is read too, not dead-lettered as malformed."""
    message = JobMessage("nightly@2027-01-15T02:00:00Z", "b", lane=FREE)
    assert "lane" not in message.body() and message.group.startswith("b~")
    assert JobMessage.parse('{"run_id": "r", "job": "b", "lane": -1}').lane == FREE
    with pytest.raises(InvalidRequest, match="'lane' must be an integer of -1"):
        JobMessage.parse('{"run_id": "r", "job": "b", "lane": -2}')


def test_a_failing_read_of_the_run_s_graph_brings_the_message_back_soon() -> None:
    """Whether the message may chain is read from the run's graph: that read failing is an
    infrastructure error like any other, and the message comes back in 20 to 40 s."""
    from cronlane.errors import StoreError
    from cronlane.execute import RetryLater

    w = world(CHAIN)
    str(w.tick("nightly", START)["run_id"])
    (message,) = w.queue.receive(1)
    w.executor.graphs = type(w.executor.graphs)(w.store)  # a new process: nothing cached
    fail = w.store.load_run_graph

    def failing(run_id: str) -> Any:
        raise StoreError("DynamoDB is throttling")

    w.store.load_run_graph = failing  # type: ignore[method-assign]
    delayed: list[float] = []
    w.queue.delay = lambda arn, receipt, seconds: delayed.append(seconds)  # type: ignore[method-assign]
    with pytest.raises(RetryLater, match="infrastructure error"):
        w.executor.handle_message(message.body, message.receipt_handle, QUEUE_ARN, lambda: 900.0)
    assert len(delayed) == 1 and 20 <= delayed[0] <= 40
    w.store.load_run_graph = fail  # type: ignore[method-assign]
