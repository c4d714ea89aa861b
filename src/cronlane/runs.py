"""Closing a run and reporting it: ``RunCloser``, built once in the composition root and used by
whoever may end a run (the executor after a job's last state write, the operator's actions, the
run starter, the watchdog).

The invariant: a run is closed SUCCEEDED only when every job-run in it is terminal and
succeeded. The close is decided on what was read, and written on those premises
(``RunStore.close_run``): no operator's restart is under way (an operator records its restart on
the run before its first reset, ``Operator.restart``), and a close decided without reading the
job-runs (a *clean* run: nothing failed, skipped or cancelled, never reopened) holds only while
the run is still clean. When a premise no longer holds, the write is refused and the close is
decided again from a fresh read; so no interleaving with an operator's action can close a run
over a job it reset. (Crash points: ``closer.before_close``, ``closer.after_close``; a crash
after the close leaves what waited for the run to the watchdog.)
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable
from dataclasses import replace

from cronlane.clock import Clock
from cronlane.errors import Conflict, StoreError
from cronlane.faults import crashpoint
from cronlane.model import JobStatus, Restart, RunCounts, RunStatus, RunView
from cronlane.ports import RunStore, Watchdog
from cronlane.run_events import Announcer
from cronlane.telemetry import Telemetry

CLOSE_TRIES = 5  # a close that keeps losing to other writers gives up (the next one closes it)


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


class RunCloser:
    def __init__(
        self,
        store: RunStore,
        clock: Clock,
        telemetry: Telemetry,
        watchdog: Watchdog,
        announcer: Announcer | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.telemetry = telemetry
        self.watchdog = watchdog
        # the run events (cronlane.run_events): the closer publishes a run's end and its missed
        # deadline; the executor and the operator publish the job-runs' ends through it too
        self.announcer = announcer or Announcer()
        # what waited for a run to end (its schedule's buffered run): set by the composition root
        self.on_closed: Callable[[RunView], None] | None = None
        # what carries out an operator's restart left on a run (``Operator.carry_out``, which
        # closes the run after it if it can): set by the composition root, so whoever comes to
        # close a run that a request left part restarted finishes that request first
        self.on_restart: Callable[[str, Restart], object] | None = None

    def close(self, run: RunView) -> RunStatus:
        """Close ``run`` if every job is terminal, and return its status. Safe to call twice or
        concurrently: only the call whose conditional write closed it reports the run and starts
        what waited for it; a call that lost reads the run again."""
        for _ in range(CLOSE_TRIES):
            if run.status.terminal:
                return run.status
            if run.restart is not None:
                return self._finish_restart(run)
            if not self.store.sinks_finished(run.run_id, run.sink_count):
                return run.status
            clean = run.clean
            counts = final_counts(self.store, run)
            if counts is None:
                return run.status
            final = final_status(run, counts)
            now = self.clock.now()
            crashpoint("closer.before_close", run_id=run.run_id)
            if self.store.close_run(run, final, now, counts, clean):
                crashpoint("closer.after_close", run_id=run.run_id)
                with contextlib.suppress(StoreError):
                    # left armed, the check fires once, finds the run over and does nothing
                    # (an idle wake-up): not worth failing the invocation that closed the run
                    self.watchdog.disarm(run.run_id)
                closed = replace(
                    run,
                    status=final,
                    finished_at=now,
                    succeeded=counts.succeeded,
                    failed=counts.failed,
                    skipped=counts.skipped,
                    cancelled=counts.cancelled,
                )
                self._report(closed, now)
                if self.on_closed is not None:
                    self.on_closed(closed)
                return final
            current = self.store.get_run(run.run_id)
            if current is None:
                return final
            run = current
        return run.status

    def _finish_restart(self, run: RunView) -> RunStatus:
        """An operator's restart is on the run: it is not closed under it. Carry it out (it may
        be under way still, or its request died; taking its steps twice is safe), which closes
        the run if that was all; a carry-out that fails leaves it to the request's repeat or the
        run's watchdog."""
        if self.on_restart is None or run.restart is None:
            return run.status
        with contextlib.suppress(Conflict, StoreError):
            self.on_restart(run.run_id, run.restart)
        current = self.store.get_run(run.run_id)
        return (current or run).status

    def close_if_complete(self, run_id: str) -> RunStatus | None:
        run = self.store.get_run(run_id)
        return None if run is None else self.close(run)

    def _report(self, run: RunView, now: float) -> None:
        if run.status is RunStatus.SUCCEEDED:
            self.telemetry.emit("RunsSucceeded", 1, schedule=run.schedule)
        elif run.status is RunStatus.FAILED:
            self.telemetry.emit("RunsFailed", 1, schedule=run.schedule)
        self.telemetry.emit("RunDuration", now - (run.created_at or now), schedule=run.schedule)
        self.announcer.run_ended(run)
        self.report_if_late(run)

    def report_if_late(self, run: RunView) -> bool:
        """Count a run that passed its schedule's deadline, once per run."""
        now = self.clock.now()
        late = run.deadline_at is not None and now > run.deadline_at
        if late and self.store.mark_deadline_reported(run.run_id, now):
            self.telemetry.emit("RunsOverDeadline", 1, schedule=run.schedule)
            self.announcer.deadline_missed(run, now)
            return True
        return False
