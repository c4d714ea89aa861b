"""What a job function receives: ``def my_job(ctx: JobContext) -> dict | None``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cronlane.clock import Clock
from cronlane.errors import CronlaneError


class JobTimeout(CronlaneError):
    """The attempt ran past its job's ``timeout_s`` (or past the Lambda deadline)."""


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
) -> JobContext:
    return JobContext(
        run_id=run_id,
        job=job,
        schedule=schedule,
        scheduled_time=datetime.fromtimestamp(scheduled_time, tz=UTC),
        params=params,
        attempt=attempt,
        idempotency_key=f"{run_id}/{job}",
        clock=clock,
        deadline=deadline,
        log=log,
    )
