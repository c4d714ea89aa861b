"""What a job function receives: ``def my_job(ctx: JobContext) -> dict | None``.

A job longer than one Lambda invocation (15 minutes at most) works in steps and, when
``ctx.has_time_for(step_s)`` says no, returns ``ctx.continue_from(cursor, progress=...)``: the
executor records the cursor as the job-run's checkpoint and queues the same job again, and the
next invocation reads it back as ``ctx.cursor``. A continuation is not an attempt: it keeps the
attempt count, and a retry after a failure resumes from the last checkpoint too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cronlane.clock import Clock
from cronlane.errors import CronlaneError

CHECKPOINT_AT = 0.75  # of an invocation's time: below the near-timeout alarm's 80%


class JobTimeout(CronlaneError):
    """The attempt ran past its job's ``timeout_s`` (or past the Lambda deadline)."""


@dataclass(frozen=True)
class Continuation:
    """What a job returns to continue in a new invocation: ``cursor`` (any JSON value) is where it
    resumes; ``progress`` (0..1, optional) is shown with the job-run's continuations."""

    cursor: Any
    progress: float | None = None


@dataclass
class JobContext:
    run_id: str
    job: str
    schedule: str
    scheduled_time: datetime  # the tick's scheduled fire time (UTC), not the time it ran
    params: dict[str, Any]
    attempt: int
    idempotency_key: str  # the same for every attempt of this job in this run
    clock: Clock
    deadline: float  # epoch seconds on ``clock``
    log: Any = field(default=None, repr=False)
    cursor: Any = None  # the last checkpoint of this job-run (None: start from the beginning)
    continuation: int = 0  # how many continuations came before this invocation
    started_at: float = 0.0  # when this invocation of the job started, on ``clock``
    handle: str | None = None  # where a job run elsewhere ran: a lambda target's request id
    # the upstreams' results by name (cronlane.results: who has one); read when first looked at
    upstream_results: Mapping[str, Any] = field(default_factory=dict, repr=False)

    def has_time_for(self, step_s: float) -> bool:
        """Whether one more step of ``step_s`` seconds still ends within 75% of this
        invocation's time; when not, checkpoint (``continue_from``). Stopping there keeps a
        continuing job clear of its timeout and of the near-timeout alarm (80%)."""
        budget = self.deadline - self.started_at
        return self.clock.now() + step_s <= self.started_at + CHECKPOINT_AT * budget

    def continue_from(self, cursor: Any, progress: float | None = None) -> Continuation:
        """Return this from the job to be invoked again with ``ctx.cursor == cursor``."""
        return Continuation(cursor, progress)

    def remaining_time(self) -> float:
        """Seconds left before this attempt's deadline."""
        return self.deadline - self.clock.now()

    def sleep(self, seconds: float) -> None:
        """Let time pass (simulated work uses this, so the local runtime can scale or virtualise
        it). Raises ``JobTimeout`` if the deadline comes first."""
        left = self.remaining_time()
        if seconds > left:
            self.clock.sleep(max(left, 0.0))
            raise JobTimeout(
                f"job '{self.job}' ran past its deadline ({seconds:.1f}s of work, {left:.1f}s left)"
            )
        self.clock.sleep(seconds)


def idempotency_key(run_id: str, job: str, params: dict[str, Any], dispatched: dict[str, Any] | None) -> str:
    """``<run id>/<job>``: the same for every attempt, retry, rerun and replay of the job in the
    run, so a job that writes with it never does the same work twice. A rerun with new parameters
    (``params`` differ from those the run was ``dispatched`` with) asks for different work: its
    key ends with ``/p`` and 8 hex digits of its parameters."""
    key = f"{run_id}/{job}"
    if dispatched is None or params == dispatched:
        return key
    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:8]
    return f"{key}/p{digest}"


def make_context(
    *,
    run_id: str,
    job: str,
    schedule: str,
    scheduled_time: float,
    params: dict[str, Any],
    attempt: int,
    clock: Clock,
    deadline: float,
    log: Any = None,
    cursor: Any = None,
    continuation: int = 0,
    upstream_results: Mapping[str, Any] | None = None,
    dispatched_params: dict[str, Any] | None = None,
) -> JobContext:
    return JobContext(
        run_id=run_id,
        job=job,
        schedule=schedule,
        scheduled_time=datetime.fromtimestamp(scheduled_time, tz=UTC),
        params=params,
        attempt=attempt,
        idempotency_key=idempotency_key(run_id, job, params, dispatched_params),
        clock=clock,
        deadline=deadline,
        log=log,
        cursor=cursor,
        continuation=continuation,
        started_at=clock.now(),
        upstream_results=upstream_results if upstream_results is not None else {},
    )
