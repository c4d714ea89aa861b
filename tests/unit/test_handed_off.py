"""Handed-off targets (``ecs`` and ``callback``) on the in-process pipeline: the executor starts
the work and returns, the job-run stays RUNNING with its handle, and the completion (a worker's
token, an ECS task's end) records the outcome as the executor records its own. What a user would
notice: the run's outcome, the attempts and their errors, what was dead-lettered, what was
stopped, and that a late or duplicate completion changes nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from cronlane import CallbackTarget, Catalog, EcsTarget, Job, Schedule, Selection
from cronlane.completion import Report
from cronlane.errors import CatalogError, InvalidRequest
from cronlane.inprocess import InProcess
from cronlane.model import JobStatus, RunStatus
from cronlane.targets import (
    Started,
    TargetFailed,
    TokenClaims,
    exit_outcome,
    new_token,
    task_attempt,
    token_claims,
    token_id,
)

START = 1_800_000_000.0 - 8 * 3600 + 2 * 3600  # 2027-01-15T02:00:00Z
TASK_ARN = "arn:aws:ecs:us-east-1:123456789012:task/jobs/{n}"


@dataclass
class Work:
    spec: str
    run_id: str
    job: str
    generation: int
    attempt: int
    handle: str
    token: str | None = None
    environment: dict[str, str] = field(default_factory=dict)


class FakeTargets:
    """Where the work would run: it records each start (the token a worker would get, the
    environment a task would get) and each stop."""

    def __init__(self) -> None:
        self.started: list[Work] = []
        self.stopped: list[tuple[str, str]] = []
        self.refuse: str | None = None

    def start(self, spec: str, ctx: Any, generation: int, prepared: Started) -> Started:
        from cronlane.targets import kind_of, task_environment

        if self.refuse:
            raise TargetFailed(self.refuse)
        n = len(self.started) + 1
        if kind_of(spec) == "callback":
            assert prepared.token  # minted, and its hash recorded, before the work is sent
            token = prepared.token
            self.started.append(
                Work(spec, ctx.run_id, ctx.job, generation, ctx.attempt, token_id(token), token)
            )
            return prepared
        arn = TASK_ARN.format(n=n)
        env = task_environment(ctx, generation)
        self.started.append(Work(spec, ctx.run_id, ctx.job, generation, ctx.attempt, arn, environment=env))
        return Started(arn)

    def stop(self, spec: str, handle: str, reason: str, attempt: TokenClaims) -> None:
        if handle:
            self.stopped.append((handle, reason))
            return
        # an attempt whose task ARN was never recorded: found by what its environment names
        for work in self.started:
            if work.environment and task_attempt(stopped(work, 0)) == attempt:
                self.stopped.append((work.handle, reason))

    def running(self) -> list[str]:
        """The tasks started and not stopped."""
        gone = {handle for handle, _ in self.stopped}
        return [w.handle for w in self.started if w.environment and w.handle not in gone]


def catalog(heartbeat_s: int | None = 120, train_timeout_s: int = 3600) -> Catalog:
    return Catalog.build(
        [
            Job(
                "trainJob",
                EcsTarget("jobs", "model", "model"),
                "ml",
                timeout_s=train_timeout_s,
                max_attempts=2,
            ),
            Job(
                "scoreJob",
                CallbackTarget("score-work", heartbeat_s=heartbeat_s),
                "ml",
                ("trainJob",),
                timeout_s=1200,
            ),
        ],
        [Schedule("nightly", "cron(0 2 * * ? *)", Selection.everything())],
    )


def pipeline(heartbeat_s: int | None = 120) -> tuple[InProcess, FakeTargets, str]:
    targets = FakeTargets()
    world = InProcess(catalog(heartbeat_s), START, targets=targets)
    run_id = world.tick("nightly", START)["run_id"]
    world.drain(until=START + 1)
    return world, targets, run_id


def stopped(work: Work, code: int, **detail: Any) -> dict[str, Any]:
    """An "ECS Task State Change" event's detail, as AWS sends it when the task stopped."""
    env = [{"name": k, "value": v} for k, v in work.environment.items()]
    return {
        "taskArn": work.handle,
        "lastStatus": "STOPPED",
        "stopCode": detail.get("stopCode", "EssentialContainerExited"),
        "stoppedReason": detail.get("stoppedReason", "Essential container in task exited"),
        "containers": [{"name": "model", "exitCode": code, "lastStatus": "STOPPED"}],
        "overrides": {"containerOverrides": [{"name": "model", "environment": env}]},
    }


def job(world: InProcess, run_id: str, name: str) -> Any:
    found = world.store.get_job_run(run_id, name)
    assert found is not None
    return found


def test_an_ecs_job_runs_on_its_task_and_its_end_event_records_it_and_releases_the_next() -> None:
    world, targets, run_id = pipeline()
    train = job(world, run_id, "trainJob")
    # the executor started the task and returned: the job-run holds, with the task's ARN
    assert train.status is JobStatus.RUNNING and train.handle == TASK_ARN.format(n=1)
    assert targets.started[0].environment["CRONLANE_RUN_ID"] == run_id
    world.clock.advance_to(START + 2400)  # a 40-minute task: no executor waited for it
    answer = world.completions.task_stopped(stopped(targets.started[0], 0))
    assert answer["status"] == "SUCCEEDED" and answer["accepted"]
    train = job(world, run_id, "trainJob")
    assert train.status is JobStatus.SUCCEEDED and train.duration_s == pytest.approx(2399, abs=2)
    assert train.history[-1]["target"] == "ecs" and train.history[-1]["handle"] == TASK_ARN.format(n=1)
    world.drain(until=START + 2401)
    assert job(world, run_id, "scoreJob").status is JobStatus.RUNNING  # released, handed to its worker
    assert [(w.job, w.attempt) for w in targets.started] == [("trainJob", 1), ("scoreJob", 1)]


def test_a_worker_reports_with_its_token_heartbeats_hold_the_job_and_success_ends_the_run() -> None:
    world, targets, run_id = pipeline()
    world.completions.task_stopped(stopped(targets.started[0], 0))
    world.drain(until=START + 10)
    work = targets.started[1]
    assert work.job == "scoreJob" and work.handle.startswith("tok-") and work.token
    for minute in range(1, 6):  # five heartbeats, 100 s apart: past the 120 s heartbeat timeout
        world.clock.advance_to(START + 10 + minute * 100)
        assert world.completions.report(Report(work.token, "heartbeat"))["status"] == "RUNNING"
        world.drain(until=world.clock.now() + 1)
    assert job(world, run_id, "scoreJob").attempts == 1  # held all along
    answer = world.completions.report(Report(work.token, "succeeded", {"scored": 12}))
    assert answer["status"] == "SUCCEEDED"
    world.drain()
    assert world.store.get_run(run_id).status is RunStatus.SUCCEEDED  # type: ignore[union-attr]
    # the token is never stored: only its hash, and its public id as the handle
    score = job(world, run_id, "scoreJob")
    assert work.token not in repr(score) and score.handle == work.handle


def test_a_failed_task_is_retried_after_its_backoff_and_its_last_failure_is_dead_lettered() -> None:
    world, targets, run_id = pipeline()
    answer = world.completions.task_stopped(
        stopped(targets.started[0], 137, stoppedReason="OutOfMemoryError")
    )
    assert answer["status"] == "RETRYING" and answer["retry_in_s"] >= 15
    world.drain(until=START + 200)
    assert len(targets.started) == 2 and targets.started[1].attempt == 2  # a new task
    world.completions.task_stopped(stopped(targets.started[1], 2))
    world.drain()
    train = job(world, run_id, "trainJob")
    assert train.status is JobStatus.FAILED
    assert "exit code 2" in (train.error or "") and "exit code 137" in train.history[0]["error"]
    assert job(world, run_id, "scoreJob").status is JobStatus.SKIPPED
    letters = world.queue.peek_dead_letters(10, 30)
    assert [json_of(letter.body)["job"] for letter in letters] == ["trainJob"]
    assert world.store.get_run(run_id).status is RunStatus.FAILED  # type: ignore[union-attr]


def json_of(text: str) -> dict[str, Any]:
    import json

    return dict(json.loads(text))


def test_a_lost_completion_is_repaired_by_the_timeout_and_the_old_task_is_stopped() -> None:
    world, targets, run_id = pipeline()
    world.drain(until=START + 3700)  # no event ever comes: the task's 3600 s timeout passes
    train = job(world, run_id, "trainJob")
    assert train.attempts == 2 and train.status is JobStatus.RUNNING
    assert "did not complete within its 3600s timeout" in train.history[0]["error"]
    assert targets.stopped[0][0] == TASK_ARN.format(n=1)  # never two tasks of one job-run at once
    # the first task's event comes after all: late, recorded, ignored
    late = world.completions.task_stopped(stopped(targets.started[0], 0))
    assert late["status"] == "ignored" and "attempt 1 was given up" in late["reason"]
    train = job(world, run_id, "trainJob")
    assert train.status is JobStatus.RUNNING and train.late_completions[0]["handle"] == TASK_ARN.format(n=1)


def test_a_worker_that_dies_is_given_up_at_its_heartbeat_timeout_and_retried() -> None:
    world, targets, run_id = pipeline(heartbeat_s=120)
    world.completions.task_stopped(stopped(targets.started[0], 0))
    world.drain(until=START + 10)
    world.drain(until=START + 200)  # no heartbeat: lost after 120 s, retried after that
    score = job(world, run_id, "scoreJob")
    assert score.attempts == 2 and "sent no heartbeat or completion for 120s" in score.history[0]["error"]
    # the dead worker's token, reported later, is refused as late, and counts for nothing
    late = world.completions.report(Report(targets.started[1].token or "", "succeeded"))
    assert late["status"] == "ignored" and job(world, run_id, "scoreJob").status is JobStatus.RUNNING


def test_a_duplicate_completion_is_counted_once() -> None:
    world, targets, run_id = pipeline()
    first = world.completions.task_stopped(stopped(targets.started[0], 0))
    again = world.completions.task_stopped(stopped(targets.started[0], 0))  # EventBridge delivers twice
    assert first["status"] == "SUCCEEDED" and again["status"] == "ignored"
    assert "already ended" in again["reason"]
    train = job(world, run_id, "trainJob")
    assert len(train.history) == 1 and len(train.late_completions) == 1
    run = world.store.get_run(run_id)
    assert run is not None and run.failed == 0


def test_a_token_edited_to_name_another_job_run_or_attempt_is_refused() -> None:
    world, targets, run_id = pipeline()
    world.completions.task_stopped(stopped(targets.started[0], 0))
    world.drain(until=START + 10)
    token = targets.started[1].token or ""
    secret = token.rsplit(".", 1)[1]
    for claims in (
        TokenClaims("nightly@other", "scoreJob", 0, 1),
        TokenClaims(run_id, "trainJob", 0, 1),
        TokenClaims(run_id, "scoreJob", 1, 1),
        TokenClaims(run_id, "scoreJob", 0, 2),
    ):
        forged = new_token(claims).rsplit(".", 1)[0] + "." + secret
        assert token_claims(forged) == claims
        with pytest.raises(InvalidRequest, match="refused"):
            world.completions.report(Report(forged, "succeeded"))
    with pytest.raises(InvalidRequest, match="not a cronlane task token"):
        world.completions.report(Report("guess", "succeeded"))
    assert job(world, run_id, "scoreJob").status is JobStatus.RUNNING


def test_the_completion_endpoint_takes_reports_and_nothing_else() -> None:
    with pytest.raises(InvalidRequest, match="only token, status, result and error"):
        Report.parse({"token": "x", "status": "succeeded", "action": "cancel"})
    with pytest.raises(InvalidRequest, match="one of succeeded, failed, heartbeat"):
        Report.parse({"token": "x", "status": "rerun"})
    with pytest.raises(InvalidRequest, match="needs an 'error'"):
        Report.parse({"token": "x", "status": "failed"})
    assert Report.parse({"token": "x", "status": "succeeded", "result": {"n": 1}}).result == {"n": 1}


def test_cancel_stops_the_task_and_its_late_end_is_ignored() -> None:
    world, targets, run_id = pipeline()
    answer = world.act(action="cancel", run_id=run_id)
    assert answer["cancelled"] >= 1 and answer["status"] == "CANCELLED"
    assert targets.stopped == [(TASK_ARN.format(n=1), "cronlane: the run was cancelled")]
    train = job(world, run_id, "trainJob")
    assert train.status is JobStatus.CANCELLED and train.history[-1]["handle"] == TASK_ARN.format(n=1)
    late = world.completions.task_stopped(stopped(targets.started[0], 143, stopCode="UserInitiated"))
    assert late["status"] == "ignored"
    assert world.store.get_run(run_id).status is RunStatus.CANCELLED  # type: ignore[union-attr]


def test_a_target_that_will_not_start_is_a_failed_attempt_with_its_reason() -> None:
    targets = FakeTargets()
    targets.refuse = "ECS RunTask started no task: RESOURCE:MEMORY"
    world = InProcess(catalog(), START, targets=targets)
    run_id = world.tick("nightly", START)["run_id"]
    world.drain()
    train = job(world, run_id, "trainJob")
    assert train.status is JobStatus.FAILED and train.attempts == 2
    assert train.error == "ECS RunTask started no task: RESOURCE:MEMORY"


def test_an_ecs_event_says_why_the_task_failed() -> None:
    ok, error = exit_outcome(
        {"stopCode": "TaskFailedToStart", "stoppedReason": "CannotPullContainerError", "containers": []},
        "model",
    )
    assert (
        not ok
        and error == "ECS task TaskFailedToStart: container 'model' no exit code (CannotPullContainerError)"
    )
    assert exit_outcome({"containers": [{"name": "model", "exitCode": 0}]}, "model") == (True, None)


def test_handed_off_jobs_may_run_longer_than_lambda_and_a_heartbeat_is_at_least_10s() -> None:
    Catalog.build([Job("long", EcsTarget("c", "t", "x"), "g", timeout_s=43_000)], [])
    with pytest.raises(CatalogError) as raised:
        Catalog.build(
            [
                Job("longer", EcsTarget("c", "t", "x"), "g", timeout_s=50_000),
                Job("python", "pkg.mod.fn", "g", timeout_s=1000),
                Job("beat", CallbackTarget("q", heartbeat_s=2), "g"),
                Job("ecs", EcsTarget("c", "t", "x", launch_type="SPOT"), "g"),
            ],
            [],
        )
    assert raised.value.problems == [
        "job 'longer': timeout_s 50000 is outside 1..43000 (a hand-off's limit)",
        "job 'python': timeout_s 1000 is outside 1..900 (Lambda's limit)",
        "job 'beat': callback target's heartbeat_s must be a whole number of seconds, at least 10",
        "job 'ecs': ecs target's launch_type 'SPOT' is not FARGATE, EC2, EXTERNAL",
    ]


class Crash(BaseException):
    """The executor's process dies here (a Lambda timeout, an out-of-memory kill)."""


def crash_once_at(point: str, job: str) -> Any:
    from cronlane import faults

    fired: list[str] = []

    def hook(name: str, where: dict[str, Any]) -> None:
        if name == point and where.get("job") == job and not fired:
            fired.append(name)
            raise Crash(name)

    faults.install(hook)
    return fired


@pytest.fixture
def no_crash_hook() -> Any:
    from cronlane import faults

    yield
    faults.install(None)


def crashed_pipeline(point: str, job: str, train_timeout_s: int = 3600) -> tuple[InProcess, FakeTargets, str]:
    targets = FakeTargets()
    world = InProcess(catalog(train_timeout_s=train_timeout_s), START, targets=targets)
    run_id = world.tick("nightly", START)["run_id"]
    fired = crash_once_at(point, job)
    with pytest.raises(Crash):
        world.drain(until=START + 1)
    assert fired == [point]
    return world, targets, run_id


@pytest.mark.usefixtures("no_crash_hook")
def test_an_executor_that_dies_after_runtask_leaves_a_task_its_retry_finds_and_stops() -> None:
    # a 3-hour task: its timeout is longer than the queue's visibility timeout (90 minutes here)
    world, targets, run_id = crashed_pipeline("executor.after_start", "trainJob", train_timeout_s=10_800)
    # the task runs, but the executor died before recording its ARN; the job-run holds
    assert targets.running() == [TASK_ARN.format(n=1)]
    assert job(world, run_id, "trainJob").handle == ""
    world.drain(until=START + 6000)  # the message came back before the lease ended: kept as the timer
    assert job(world, run_id, "trainJob").attempts == 1 and len(targets.started) == 1
    assert world.queue.next_visible() == pytest.approx(START + 10_805, abs=2)
    world.drain(until=START + 10_900)  # no event: the timeout passed, the retry took over
    train = job(world, run_id, "trainJob")
    assert train.attempts == 2 and train.handle == TASK_ARN.format(n=2)
    assert (TASK_ARN.format(n=1), "superseded by a new attempt") in targets.stopped
    assert targets.running() == [TASK_ARN.format(n=2)]  # never two tasks of one job-run at once


@pytest.mark.usefixtures("no_crash_hook")
def test_the_end_of_a_task_whose_arn_was_never_recorded_completes_its_attempt() -> None:
    world, targets, run_id = crashed_pipeline("executor.after_start", "trainJob")
    world.clock.advance_to(START + 1800)
    answer = world.completions.task_stopped(stopped(targets.started[0], 0))
    assert answer["status"] == "SUCCEEDED" and answer["accepted"]
    train = job(world, run_id, "trainJob")
    assert train.attempts == 1 and train.history[-1]["handle"] == TASK_ARN.format(n=1)
    world.drain(until=START + 1801)
    assert job(world, run_id, "scoreJob").status is JobStatus.RUNNING  # released


def worker_crashed_at(point: str) -> tuple[InProcess, FakeTargets, str]:
    """trainJob's task ends; the executor handing scoreJob to its worker dies at ``point``."""
    targets = FakeTargets()
    world = InProcess(catalog(heartbeat_s=120), START, targets=targets)
    run_id = world.tick("nightly", START)["run_id"]
    world.drain(until=START + 1)
    world.completions.task_stopped(stopped(targets.started[0], 0))
    crash_once_at(point, "scoreJob")
    with pytest.raises(Crash):
        world.drain(until=START + 10)
    return world, targets, run_id


@pytest.mark.usefixtures("no_crash_hook")
def test_a_worker_sent_its_token_by_an_executor_that_then_died_reports_as_usual() -> None:
    world, targets, run_id = worker_crashed_at("executor.after_start")
    work = targets.started[1]
    assert world.completions.report(Report(work.token or "", "heartbeat"))["status"] == "RUNNING"
    assert world.completions.report(Report(work.token or "", "succeeded"))["status"] == "SUCCEEDED"
    world.drain()
    assert world.store.get_run(run_id).status is RunStatus.SUCCEEDED  # type: ignore[union-attr]
    assert job(world, run_id, "scoreJob").attempts == 1


@pytest.mark.usefixtures("no_crash_hook")
def test_a_callback_attempt_recorded_but_never_sent_is_given_up_and_retried() -> None:
    world, targets, run_id = worker_crashed_at("executor.before_start")
    assert [w.job for w in targets.started] == ["trainJob"]  # no worker got the job
    world.drain(until=START + 5500)  # the message comes back after the visibility timeout
    score = job(world, run_id, "scoreJob")
    assert score.attempts == 2 and score.history[0]["error"].startswith("callback attempt 1 (tok-")
    assert targets.started[-1].job == "scoreJob" and targets.started[-1].attempt == 2


def test_a_retry_after_a_failed_task_is_not_counted_as_a_lost_one() -> None:
    world, targets, run_id = pipeline()
    world.completions.task_stopped(stopped(targets.started[0], 1))
    world.drain(until=START + 300)
    assert job(world, run_id, "trainJob").attempts == 2
    assert targets.stopped == []  # the first task ended by itself: nothing to stop


def test_a_success_that_comes_after_the_timeout_is_a_timeout_failure() -> None:
    world, targets, run_id = pipeline()
    world.clock.advance_to(START + 3700)  # past the 3600 s timeout; its timer not handled yet
    answer = world.completions.task_stopped(stopped(targets.started[0], 0))
    assert answer["status"] == "RETRYING"
    train = job(world, run_id, "trainJob")
    assert "did not complete within its 3600s timeout: its success came" in train.history[0]["error"]
