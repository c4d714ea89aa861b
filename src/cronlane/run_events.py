"""Run events: what cronlane tells other systems when a run or a job-run ends, or a run passes its
deadline, as EventBridge events on the account's default bus, so that a team routes them (to
Slack, a pager, a ticket) with a rule of its own. The schema is in docs/events.md; this module is
the one place it is built (no AWS here: ``publish`` has the adapters).

Every event has ``source: cronlane`` and one of the ``DETAIL_TYPES``; its detail always names the
stack, the run, its schedule and its fire time. An event is published once its state is
written, by whoever wrote it (one publisher per end: the conditional write decides who), so a
repeated delivery publishes nothing again; a crash between the write and the publish loses that
one event (the state is safe in the table, and ``cronlane run`` shows it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from cronlane.clock import iso
from cronlane.model import JobRunView, RunView

SOURCE = "cronlane"
RUN_ENDED = "Run Ended"
JOB_RUN_ENDED = "Job Run Ended"
DEADLINE_MISSED = "Run Deadline Missed"
DETAIL_TYPES = (RUN_ENDED, JOB_RUN_ENDED, DEADLINE_MISSED)


@dataclass(frozen=True)
class RunEvent:
    detail_type: str
    detail: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """As EventBridge delivers it to a rule's target (the fields a pattern matches on)."""
        return {"source": SOURCE, "detail-type": self.detail_type, "detail": self.detail}


class RunEvents(Protocol):
    """Where run events go (``publish``: EventBridge, memory, nowhere)."""

    def publish(self, events: list[RunEvent]) -> None:
        """Send the events, best effort: a failure is logged, never raised (the state they
        report is written already)."""
        ...


def _time(value: float | None) -> str | None:
    return iso(value) if value is not None else None


def _run_fields(stack: str, run_id: str, schedule: str, scheduled_time: float) -> dict[str, Any]:
    return {"stack": stack, "run_id": run_id, "schedule": schedule, "scheduled_time": iso(scheduled_time)}


def run_ended(stack: str, run: RunView) -> RunEvent:
    """A run reached its terminal status (SUCCEEDED, FAILED, CANCELLED, or SKIPPED: a tick that
    did not run)."""
    duration = (
        round(run.finished_at - run.created_at, 3)
        if run.finished_at is not None and run.created_at is not None
        else None
    )
    return RunEvent(
        RUN_ENDED,
        {
            **_run_fields(stack, run.run_id, run.schedule, run.scheduled_time),
            "status": run.status.value,
            "trigger": run.trigger.value,
            "reason": run.reason,
            "counts": {
                "jobs": run.job_count,
                "succeeded": run.succeeded,
                "failed": run.failed,
                "skipped": run.skipped,
                "cancelled": run.cancelled,
            },
            "created_at": _time(run.created_at),
            "finished_at": _time(run.finished_at),
            "duration_s": duration,
            "deadline_at": _time(run.deadline_at),
        },
    )


def job_run_ended(stack: str, view: JobRunView) -> RunEvent:
    """A job-run reached a terminal status (SUCCEEDED, FAILED, SKIPPED or CANCELLED)."""
    return RunEvent(
        JOB_RUN_ENDED,
        {
            **_run_fields(stack, view.run_id, view.schedule, view.scheduled_time),
            "job": view.job,
            "status": view.status.value,
            "attempts": view.attempts,
            "error": view.error,
            "reason": view.reason,
            "target": view.target,
            "handle": view.handle,
            "started_at": _time(view.started_at),
            "finished_at": _time(view.finished_at),
            "duration_s": view.duration_s,
        },
    )


def deadline_missed(stack: str, run: RunView, now: float) -> RunEvent:
    """A run still going (or just ended) past its schedule's deadline; once per run."""
    return RunEvent(
        DEADLINE_MISSED,
        {
            **_run_fields(stack, run.run_id, run.schedule, run.scheduled_time),
            "status": run.status.value,
            "deadline_at": _time(run.deadline_at),
            "noticed_at": iso(now),
        },
    )


class NoRunEvents:
    """Publishes nothing (a stack with ``EVENT_BUS_NAME`` empty, tools, most tests)."""

    def publish(self, events: list[RunEvent]) -> None:
        return None


class MemoryRunEvents:
    """Keeps what was published, in order (the in-process pipeline, tests)."""

    def __init__(self) -> None:
        self.published: list[RunEvent] = []

    def publish(self, events: list[RunEvent]) -> None:
        self.published.extend(events)


class Announcer:
    """What the use cases call when they have written an end: builds the events of this stack
    and hands them to its ``RunEvents``. Built once in the composition root."""

    def __init__(self, events: RunEvents | None = None, stack: str = "") -> None:
        self.events: RunEvents = events or NoRunEvents()
        self.stack = stack

    @property
    def enabled(self) -> bool:
        """Whether anything is published (an event that needs a read is built only then)."""
        return not isinstance(self.events, NoRunEvents)

    def run_ended(self, run: RunView) -> None:
        self.events.publish([run_ended(self.stack, run)])

    def jobs_ended(self, views: list[JobRunView]) -> None:
        if views:
            self.events.publish([job_run_ended(self.stack, v) for v in views])

    def deadline_missed(self, run: RunView, now: float) -> None:
        self.events.publish([deadline_missed(self.stack, run, now)])
