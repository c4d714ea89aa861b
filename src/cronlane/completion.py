"""Completions of handed-off attempts (``ecs`` and ``callback`` targets, cronlane.targets): a
callback worker's report (succeeded, failed, or a heartbeat) and an ECS task's end.

A completion is accepted only for the attempt that holds the job-run now: RUNNING, the same
generation and attempt, and the same handle (the task's ARN, or none yet: a crash kept it from
being recorded; for a worker, a token whose hash is the one the attempt stored). A success that
comes after the attempt's timeout (and the moment its timer gives it up) is a timeout failure.
It is then recorded as the executor records the jobs it runs (``Executor.record``: success and
release, retry after the backoff, or failure for good), and the attempt's timer (its queue
message, in flight since the hand-off) is deleted, or hidden for the retry's backoff. A
completion of an attempt that was given up (timed out, lost its heartbeat, cancelled, superseded
by a retry, a rerun or a replay), or one that comes twice, is *late*: recorded on the job-run
(``late_completions``) and ignored, never counted. Anything else (a token cronlane did not
issue, or one edited to name another run, job, generation or attempt) is refused.

Order of effects and crashes: the outcome's write comes first (one conditional write: a second
completion of the attempt loses it and is late), then the releases, then the timer's delete. A
crash before the delete leaves the timer; it comes back, finds the job-run ended, and repeats
the releases (as a redelivered message does) before it is deleted.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, replace
from typing import Any

from cronlane.clock import Clock, iso
from cronlane.errors import InvalidRequest, QueueError
from cronlane.execute import Executor, Outcome, truncate
from cronlane.faults import crashpoint
from cronlane.model import JobRunView, JobStatus
from cronlane.ports import JobQueue, RunStore
from cronlane.results import BadResult, as_json
from cronlane.targets import (
    CALLBACK,
    ECS,
    TIMER_SLACK_S,
    BadToken,
    HandOff,
    ecs_target,
    exit_outcome,
    same_hash,
    task_attempt,
    token_claims,
    token_hash,
    token_id,
)
from cronlane.telemetry import NoTelemetry, Telemetry

REPORTS = ("succeeded", "failed", "heartbeat")


@dataclass(frozen=True)
class Report:
    """A callback worker's report: the token it was given, and what it says."""

    token: str
    status: str  # succeeded, failed or heartbeat
    result: Any = None
    error: str | None = None

    @classmethod
    def parse(cls, event: Any) -> Report:
        """The CompletionFunction's event: ``{"token", "status", "result"?, "error"?}``; it
        accepts nothing else (no operator action reaches the dispatcher through it)."""
        if not isinstance(event, dict):
            raise InvalidRequest("a completion must be a JSON object with 'token' and 'status'")
        unknown = sorted(set(event) - {"token", "status", "result", "error"})
        if unknown:
            raise InvalidRequest(
                f"a completion takes only token, status, result and error, not {', '.join(unknown)}"
            )
        token, status = event.get("token"), event.get("status")
        if not isinstance(token, str) or not token:
            raise InvalidRequest("a completion's 'token' must be the task token the worker was given")
        if status not in REPORTS:
            raise InvalidRequest(f"a completion's 'status' must be one of {', '.join(REPORTS)}")
        error = event.get("error")
        if status == "failed" and (not isinstance(error, str) or not error.strip()):
            raise InvalidRequest("a failed completion needs an 'error' that says what went wrong")
        if error is not None and not isinstance(error, str):
            raise InvalidRequest("a completion's 'error' must be text")
        result = event.get("result")
        try:
            as_json(result)  # refused here, so the worker is told
        except BadResult as exc:
            raise InvalidRequest(f"a completion's 'result' cannot be kept: it is {exc}") from None
        return cls(token, status, result, error)


class Completions:
    """The completion side: what the CompletionFunction and the TaskEventsFunction run."""

    def __init__(
        self,
        store: RunStore,
        queue: JobQueue,
        clock: Clock,
        log: Any,
        executor: Executor,
        telemetry: Telemetry | None = None,
    ) -> None:
        self.store = store
        self.queue = queue
        self.clock = clock
        self.log = log
        self.executor = executor
        self.telemetry: Telemetry = telemetry or NoTelemetry()

    # -- a callback worker's report -----------------------------------------------------------

    def report(self, report: Report) -> dict[str, Any]:
        try:
            claims = token_claims(report.token)
        except BadToken as exc:
            raise InvalidRequest(f"refused: {exc}") from None
        handle = token_id(report.token)  # the token itself is never logged or stored
        view = self.store.get_job_run(claims.run_id, claims.job, include_waiting=False)
        if view is None:
            raise InvalidRequest(f"refused: token {handle} names no job-run that started")
        hand_off = view.hand_off
        current = (
            hand_off is not None
            and view.status is JobStatus.RUNNING
            and (view.generation, view.attempts) == (claims.generation, claims.attempt)
            and hand_off.attempt == claims.attempt
            and same_hash(report.token, hand_off.token_hash)
        )
        if current and hand_off is not None:
            if report.status == "heartbeat":
                return self._heartbeat(view, hand_off)
            ok = report.status == "succeeded"
            error = None if ok else truncate(f"worker reported failure: {report.error}")
            return self._complete(view, hand_off, Outcome(ok, error, report.result, handle))
        issued = (hand_off is not None and same_hash(report.token, hand_off.token_hash)) or any(
            entry.get("handle") == handle for entry in view.history
        )
        if not issued:
            raise InvalidRequest(
                f"refused: token {handle} is not one issued for job '{claims.job}' of run {claims.run_id}"
            )
        return self._late(view, CALLBACK, handle, claims.generation, claims.attempt, report.status)

    def _heartbeat(self, view: JobRunView, hand_off: HandOff) -> dict[str, Any]:
        now = self.clock.now()
        until = hand_off.lease_until(now)
        if not self.store.extend_lease(view, until):
            return self._late(view, CALLBACK, hand_off.handle, view.generation, view.attempts, "heartbeat")
        # the timer moves with the lease: hidden until the new end, and a little more
        with contextlib.suppress(QueueError):  # the old end stands; its return sees the new lease
            self.queue.delay(hand_off.queue_arn, hand_off.receipt, math.ceil(until - now) + TIMER_SLACK_S)
        self.telemetry.emit("Heartbeats", 1)
        return {"job": view.job, "status": "RUNNING", "holds_until": iso(until)}

    # -- an ECS task's end --------------------------------------------------------------------

    def task_stopped(self, detail: dict[str, Any]) -> dict[str, Any]:
        """An "ECS Task State Change" event's detail with ``lastStatus`` STOPPED."""
        task_arn = str(detail.get("taskArn") or "")
        ran = task_attempt(detail)
        if not task_arn or ran is None:
            return {"status": "ignored", "reason": "not a task cronlane started (no CRONLANE_* environment)"}
        view = self.store.get_job_run(ran.run_id, ran.job, include_waiting=False)
        if view is None:
            return {"status": "ignored", "reason": f"run {ran.run_id} has no started job '{ran.job}'"}
        hand_off = view.hand_off
        if (
            hand_off is not None
            and view.status is JobStatus.RUNNING
            and (view.generation, view.attempts) == (ran.generation, ran.attempt)
            and hand_off.attempt == ran.attempt
            and hand_off.handle in (task_arn, "")  # "": its RunTask answer was lost to a crash
        ):
            ok, error = exit_outcome(detail, ecs_target(view.function).container)
            hand_off = replace(hand_off, handle=task_arn)
            return self._complete(view, hand_off, Outcome(ok, error, None, task_arn))
        unrecorded = {"", task_arn}
        known = (hand_off is not None and hand_off.handle == task_arn) or any(
            entry.get("handle") in unrecorded and entry.get("attempt") == ran.attempt
            for entry in view.history
        )
        if not known:
            return {"status": "ignored", "reason": f"task {task_arn} is not one of job '{ran.job}'"}
        return self._late(view, ECS, task_arn, ran.generation, ran.attempt, "stopped")

    # -- shared -------------------------------------------------------------------------------

    def _complete(self, view: JobRunView, hand_off: HandOff, outcome: Outcome) -> dict[str, Any]:
        self.executor.log.append_keys(run_id=view.run_id, job=view.job, attempt=view.attempts)
        try:
            return self._record(view, hand_off, outcome)
        finally:
            self.executor.log.remove_keys(["run_id", "job", "attempt"])

    def _record(self, view: JobRunView, hand_off: HandOff, outcome: Outcome) -> dict[str, Any]:
        retrying: list[int] = []

        def retry(delay: int, error: str) -> dict[str, Any]:
            retrying.append(delay)  # the timer comes back after the backoff, as the next attempt
            self.queue.delay(hand_off.queue_arn, hand_off.receipt, delay)
            return {"job": view.job, "status": "RETRYING", "retry_in_s": delay}

        now = self.clock.now()
        if outcome.ok and now > hand_off.deadline + TIMER_SLACK_S:
            # past its timeout (and the moment its timer gives it up): failed, whatever it says
            late_by = round(now - hand_off.deadline)
            error = f"{hand_off.lost_error(now)}: its success came {late_by}s after"
            outcome = Outcome(False, error, None, outcome.handle)
        crashpoint("completion.before_record", job=view.job, run_id=view.run_id)
        answer = self.executor.record(view, outcome, hand_off.started_at, now, retry)
        if answer.get("status") == "superseded":  # another completion was recorded first
            return self._late(view, hand_off.target, hand_off.handle, view.generation, view.attempts, "twice")
        crashpoint("completion.after_record", job=view.job, run_id=view.run_id)
        if not retrying:
            with contextlib.suppress(QueueError):  # it comes back, finds the job ended, and goes
                self.queue.delete_message(hand_off.queue_arn, hand_off.receipt)
        self.telemetry.emit("Completions", 1, target=hand_off.target)
        return {**answer, "accepted": True}

    def _late(
        self, view: JobRunView, target: str, handle: str, generation: int, attempt: int, reported: str
    ) -> dict[str, Any]:
        if generation != view.generation:
            why = f"the job-run was restarted since (generation {view.generation} now)"
        elif attempt != view.attempts:
            why = f"attempt {attempt} was given up (attempt {view.attempts} now)"
        elif view.status is JobStatus.RUNNING:
            why = "its attempt no longer holds the job-run"
        else:
            why = f"the attempt already ended: the job-run is {view.status.value}"
        entry = {
            "at": iso(self.clock.now()),
            "target": target,
            "handle": handle,
            "generation": generation,
            "attempt": attempt,
            "reported": reported,
            "ignored_because": why,
        }
        self.store.record_late(view.run_id, view.job, entry)
        self.telemetry.emit("LateCompletions", 1, target=target)
        self.log.warning(
            "late completion recorded and ignored",
            extra={"run_id": view.run_id, "job": view.job, "handle": handle, "reason": why},
        )
        return {"job": view.job, "status": "ignored", "late": True, "reason": why}


__all__ = ["Completions", "Report", "token_hash"]
