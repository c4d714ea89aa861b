"""A run's timeline, as data: one row per job, each a list of segments (queued, an attempt, a
backoff, a continuation and the wait before the next, the attempt still running), a time axis
with ticks, and the dependency arrows. ``cronlane.ui.render`` draws it (the Gantt of ``cronlane
run --gantt``, of ``cronlane ui`` and of the dashboard's widget); nothing here draws or reads.

Where each segment comes from (a job-run's item, ``JobRunView``): ``enqueued_at`` to the first
start is queued; each ``history`` entry is an attempt (``error`` set: a failed one), each of
``continuations`` an invocation that ended at a checkpoint; between a failed attempt and the next
is its backoff, between a continuation and the next invocation the wait to continue; a RUNNING
job's current attempt runs from ``attempt_started_at`` to now. A job that never started (skipped,
cancelled, waiting) has a row of its own with no segment, and its status and reason.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cronlane.clock import parse_iso
from cronlane.model import JobRunView, JobStatus, RunView

# what a segment is; the legend lists them in this order
QUEUED, ATTEMPT, FAILED_ATTEMPT, RUNNING, BACKOFF, CONTINUATION, WAITING = (
    "queued",
    "attempt",
    "failed attempt",
    "running",
    "backoff",
    "continuation",
    "waiting to continue",
)
GAP_AFTER = {FAILED_ATTEMPT: BACKOFF, CONTINUATION: WAITING}  # what a gap after each is
KINDS = (QUEUED, ATTEMPT, FAILED_ATTEMPT, RUNNING, BACKOFF, CONTINUATION, WAITING)
# tick spacings to choose from, in seconds: 1 s to 1 day
STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
TICKS = 8  # about this many ticks across the axis


@dataclass(frozen=True)
class Segment:
    kind: str
    start: float
    end: float
    attempt: int | None = None
    error: str | None = None
    detail: str = ""  # e.g. "continuation 2, 40% done"

    @property
    def seconds(self) -> float:
        return max(self.end - self.start, 0.0)


@dataclass(frozen=True)
class Row:
    job: str
    status: str
    reason: str | None
    error: str | None
    attempts: int
    target: str
    segments: tuple[Segment, ...]
    depends_on: tuple[str, ...]
    ended_at: float | None  # for a job that never started: when it was skipped or cancelled

    @property
    def first(self) -> float | None:
        return self.segments[0].start if self.segments else None

    @property
    def last(self) -> float | None:
        return self.segments[-1].end if self.segments else None


@dataclass(frozen=True)
class Arrow:
    upstream: str
    dependent: str
    start: float  # the upstream's end
    end: float  # the dependent's first segment (its queueing, usually)


@dataclass(frozen=True)
class Tick:
    at: float
    label: str


@dataclass
class Timeline:
    run_id: str
    status: str
    start: float
    end: float
    rows: list[Row]
    arrows: list[Arrow]
    ticks: list[Tick] = field(default_factory=list)

    @property
    def span(self) -> float:
        return max(self.end - self.start, 1.0)

    def kinds(self) -> list[str]:
        """The kinds of segment it has, in the legend's order."""
        seen = {s.kind for r in self.rows for s in r.segments}
        return [k for k in KINDS if k in seen]


def _time(value: Any) -> float | None:
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and value:
        try:
            return parse_iso(value)
        except ValueError:
            return None
    return None


def _invocations(job: JobRunView, now: float) -> list[Segment]:
    """The job's invocations in time order: attempts (history), continuations, the running one."""
    found: list[Segment] = []
    for entry in job.continuations:
        start, end = _time(entry.get("started_at")), _time(entry.get("finished_at"))
        if start is None or end is None:
            continue
        progress = entry.get("progress")
        done = f", {progress * 100:.0f}% done" if isinstance(progress, int | float) else ""
        found.append(
            Segment(
                CONTINUATION,
                start,
                end,
                entry.get("attempt"),
                detail=f"continuation {entry.get('continuation')}{done}",
            )
        )
    for entry in job.history:
        start, end = _time(entry.get("started_at")), _time(entry.get("finished_at"))
        if start is None or end is None:
            continue
        error = entry.get("error") or None
        found.append(Segment(FAILED_ATTEMPT if error else ATTEMPT, start, end, entry.get("attempt"), error))
    if job.status is JobStatus.RUNNING and job.attempt_started_at is not None:
        found.append(Segment(RUNNING, job.attempt_started_at, max(now, job.attempt_started_at), job.attempts))
    return sorted(found, key=lambda s: (s.start, s.end))


def segments_of(job: JobRunView, now: float) -> list[Segment]:
    """Every segment of one job's row, in time order."""
    invocations = _invocations(job, now)
    segments: list[Segment] = []
    first = invocations[0].start if invocations else None
    if job.enqueued_at is not None and (first is None or job.enqueued_at < first):
        # queued until its first start, or, still waiting, until now
        waiting = job.status in (JobStatus.QUEUED, JobStatus.PENDING) and first is None
        until = first if first is not None else (now if waiting else job.enqueued_at)
        if until > job.enqueued_at:
            segments.append(Segment(QUEUED, job.enqueued_at, until))
    for before, after in itertools.pairwise(invocations):
        segments.append(before)
        if after.start > before.end:
            kind = GAP_AFTER.get(before.kind, QUEUED)
            segments.append(Segment(kind, before.end, after.start, before.attempt))
    if invocations:
        segments.append(invocations[-1])
    return segments


def _order(rows: list[Row]) -> list[Row]:
    """Started rows by their first segment, then the others (skipped, cancelled, waiting) by when
    they ended, each by name."""
    return sorted(rows, key=lambda r: (r.first is None, r.first or r.ended_at or 0.0, r.job))


def ticks(start: float, end: float) -> list[Tick]:
    """About ``TICKS`` ticks at a round spacing, labelled with the time of day (UTC; seconds
    shown when the spacing is under a minute, the date when the axis spans days)."""
    span = max(end - start, 1.0)
    step = next((s for s in STEPS if span / s <= TICKS), STEPS[-1])
    first = (int(start) // step + (1 if int(start) % step else 0)) * step
    form = "%H:%M:%S" if step < 60 else "%m-%d %H:%M" if span > 86400 else "%H:%M"
    found = []
    at = float(first)
    while at <= end + 1e-6:
        found.append(Tick(at, datetime.fromtimestamp(at, tz=UTC).strftime(form)))
        at += step
    return found


def build(run: RunView, jobs: list[JobRunView], now: float) -> Timeline:
    """The timeline of ``run`` from its job-runs, as of ``now`` (a running attempt ends there; the
    reader's clock may be behind the run's, as a twin's scaled clock is: never before the last
    time the run recorded)."""
    recorded = [
        t
        for job in jobs
        for t in (job.enqueued_at, job.started_at, job.attempt_started_at, job.finished_at)
        if t is not None
    ]
    now = max([now, *recorded])
    rows = []
    for job in jobs:
        segments = tuple(segments_of(job, now))
        rows.append(
            Row(
                job=job.job,
                status=job.status.value,
                reason=job.reason,
                error=job.error,
                attempts=job.attempts,
                target=job.target,
                segments=segments,
                depends_on=job.depends_on,
                ended_at=job.finished_at if not segments else None,
            )
        )
    rows = _order(rows)
    by_name = {r.job: r for r in rows}
    arrows = []
    for row in rows:
        for upstream in row.depends_on:
            up = by_name.get(upstream)
            if up is not None and up.last is not None and row.first is not None:
                arrows.append(Arrow(upstream, row.job, up.last, row.first))
    times = [t for r in rows for s in r.segments for t in (s.start, s.end)]
    times += [r.ended_at for r in rows if r.ended_at is not None]
    start = min(times, default=run.created_at or run.scheduled_time)
    end = max(times, default=start + 60.0)
    if end - start < 1.0:
        end = start + 1.0
    return Timeline(run.run_id, run.status.value, start, end, rows, arrows, ticks(start, end))


def duration_text(seconds: float) -> str:
    """``45s``, ``12m 05s``, ``2h 03m``."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"


def tally(jobs: list[JobRunView], job_count: int) -> str:
    """The outcomes counted from the job-runs themselves: while a run goes on, its record counts
    only the successes of its sinks (the run's counters are exact once it is closed)."""
    n = Counter(j.status.value for j in jobs)
    return (
        f"{n['SUCCEEDED']} succeeded, {n['FAILED']} failed, {n['SKIPPED']} skipped, "
        f"{n['CANCELLED']} cancelled of {job_count}"
    )
