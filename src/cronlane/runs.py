"""Closing a run and reporting it: shared by the executor (after a job's last state write) and
the dispatcher (a resumed dispatch whose jobs all finished while the run was CREATING, and each
tick, which looks for earlier runs of its schedule that are past their deadline)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import replace

from cronlane.model import JobStatus, RunCounts, RunStatus, RunView
from cronlane.ports import RunStore
from cronlane.telemetry import Telemetry


def final_status(run: RunView, counts: RunCounts) -> RunStatus:
    if run.cancel_requested_at is not None or counts.cancelled > 0:
        return RunStatus.CANCELLED  # some of its jobs never ran
    return RunStatus.SUCCEEDED if counts.failed == 0 and counts.skipped == 0 else RunStatus.FAILED


def final_counts(store: RunStore, run: RunView) -> RunCounts | None:
    """The counts of a run whose sinks have all ended, or None if a job is still going.

    A clean run (nothing failed, skipped or cancelled, never reopened by an operator) succeeded
    whole: every job is a sink or above one, and a sink starts only after its upstreams
    succeeded. Otherwise a job may still run beside a sink that was skipped, or have been reset
    above a sink that had ended, so the job-runs are read (only such runs pay for it)."""
    if run.clean:
        return RunCounts(succeeded=run.job_count)
    jobs = store.job_runs(run.run_id)
    if not all(j.status.terminal for j in jobs):
        return None
    tally = Counter(j.status for j in jobs)
    return RunCounts(
        tally[JobStatus.SUCCEEDED],
        tally[JobStatus.FAILED],
        tally[JobStatus.SKIPPED],
        tally[JobStatus.CANCELLED],
    )


def close_run(
    store: RunStore,
    run: RunView,
    now: float,
    telemetry: Telemetry,
    on_closed: Callable[[RunView], None] | None = None,
) -> RunStatus:
    """Close ``run`` if every job is terminal. Safe to call twice or concurrently: the status
    change is conditional, only the call that made it reports the run's metrics, and whoever
    loses reads the winner's result."""
    if run.status.terminal or not store.sinks_finished(run.run_id, run.sink_count):
        return run.status
    counts = final_counts(store, run)
    if counts is None:
        return run.status
    final = final_status(run, counts)
    for expected in (RunStatus.RUNNING, RunStatus.CREATING):
        if store.set_run_status(run.run_id, expected, final, now, counts):
            closed = replace(
                run,
                status=final,
                finished_at=now,
                succeeded=counts.succeeded,
                failed=counts.failed,
                skipped=counts.skipped,
                cancelled=counts.cancelled,
            )
            report_closed(store, closed, now, telemetry)
            if on_closed is not None:
                on_closed(closed)
            return final
    current = store.get_run(run.run_id)
    return current.status if current else final


def close_if_complete(
    store: RunStore,
    run_id: str,
    now: float,
    telemetry: Telemetry,
    on_closed: Callable[[RunView], None] | None = None,
) -> RunStatus | None:
    run = store.get_run(run_id)
    return None if run is None else close_run(store, run, now, telemetry, on_closed)


def report_closed(store: RunStore, run: RunView, now: float, telemetry: Telemetry) -> None:
    if run.status is RunStatus.SUCCEEDED:
        telemetry.emit("RunsSucceeded", 1, schedule=run.schedule)
    elif run.status is RunStatus.FAILED:
        telemetry.emit("RunsFailed", 1, schedule=run.schedule)
    telemetry.emit("RunDuration", now - (run.created_at or now), schedule=run.schedule)
    report_if_late(store, run, now, telemetry)


def report_if_late(store: RunStore, run: RunView, now: float, telemetry: Telemetry) -> bool:
    """Count a run that passed its schedule's deadline, once per run."""
    late = run.deadline_at is not None and now > run.deadline_at
    if late and store.mark_deadline_reported(run.run_id, now):
        telemetry.emit("RunsOverDeadline", 1, schedule=run.schedule)
        return True
    return False
