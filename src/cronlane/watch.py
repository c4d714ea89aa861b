"""What a run's check does when it fires (``{"action": "watchdog", "run_id": ...}``, sent by the
run's one-time schedule, ``cronlane.watchdog``): find what keeps the run from ending, repair what
is safe to repair, report the rest, and check again later if the run is still not over.

- an operator's restart or cancel left half done: carried out (``operations``);
- a run left CREATING (its dispatcher, or the start of a buffered run, died): finished from its
  snapshot;
- a BUFFERED run with nothing active ahead of it (the start was lost): started;
- a going run past its deadline: reported (``RunsOverDeadline``: the alarm fires while it runs);
- a going run's job that waits with all its upstreams done (its message was lost, or never
  sent): its message is sent again (a duplicate is refused by the claim, so this is always safe);
  in a run with a width, the places of its ended jobs are given back, and the waiting jobs take
  them (``cronlane.places``);
- a run whose jobs have all ended: closed (a sink whose end was never counted is counted first).

A check that finds the run over, or nothing to do, is an idle wake-up (``WatchdogIdle``): a run
that closes in time disarms its check, so none fires.
"""

from __future__ import annotations

from typing import Any

from cronlane import watchdog
from cronlane.clock import Clock
from cronlane.graphs import RunGraphs
from cronlane.model import JobMessage, JobRunView, JobStatus, RunStatus, RunView, Trigger
from cronlane.operations import Operator
from cronlane.ports import JobQueue, RunStore, Watchdog
from cronlane.release import Releaser
from cronlane.rules import WAITING
from cronlane.runs import RunCloser
from cronlane.starting import RunStarter
from cronlane.telemetry import Telemetry

ABANDONED_AFTER_S = 300.0  # the dispatcher's timeout: no creation of a run takes longer
# A job message comes back at most this long after its last claim: the job queue's visibility
# timeout (5,400 s in the templates) and the largest retry backoff.
QUIET_S = 5_400.0 + watchdog.BACKOFF_CAP_S


class RunWatch:
    def __init__(
        self,
        store: RunStore,
        queue: JobQueue,
        clock: Clock,
        telemetry: Telemetry,
        graphs: RunGraphs,
        releaser: Releaser,
        closer: RunCloser,
        starter: RunStarter,
        operator: Operator,
        checks: Watchdog,
    ) -> None:
        self.store = store
        self.queue = queue
        self.clock = clock
        self.telemetry = telemetry
        self.graphs = graphs
        self.releaser = releaser
        self.closer = closer
        self.starter = starter
        self.operator = operator
        self.checks = checks

    def check(self, run_id: str) -> dict[str, Any]:
        found: list[str] = []
        run = self.store.get_run(run_id)
        if run is not None and not run.status.terminal:
            # The next check is armed before anything is done: this one has deleted itself, and
            # a repair that fails (throttled, or lost to another writer) must not leave the run
            # with none. The close of the run deletes it.
            nodes = self.graphs.nodes(run_id)
            self.checks.arm(
                run_id, self.clock.now() + max(watchdog.healthy_bound(nodes), watchdog.MIN_CHECK_S)
            )
            if run.restart is not None:
                self.operator.carry_out(run_id, run.restart)
                found.append(f"an operator's {run.restart.action} left part done: carried out")
            elif run.cancel_requested_at is not None:
                self.operator.cancel(run_id)
                found.append("a cancel left part done: finished")
            run = self.store.get_run(run_id) or run
        if run is not None and run.status is RunStatus.CREATING:
            if (run.created_at or 0) < self.clock.now() - ABANDONED_AFTER_S:
                self.starter.complete_creating(run)
                found.append("left CREATING: its dispatch finished")
        elif run is not None and run.status is RunStatus.BUFFERED:
            found += self._buffered(run.run_id, run.schedule, run.trigger)
        elif run is not None and run.status is RunStatus.RUNNING:
            if self.closer.report_if_late(run):
                found.append("past its deadline: reported")
            resent, running, jobs = self._resend_ready(run_id)
            if resent:
                found.append("waiting with its upstreams done, sent again: " + ", ".join(resent))
            if self._count_sinks(run, jobs):
                found.append("every job had ended, a sink's end was not counted: counted")
            operated = run.touched or run.cancel_requested_at is not None
            if self.closer.close(run) is RunStatus.RUNNING and running and operated:
                # An operator cancelled or marked jobs of this run while others ran: the release
                # of the last of those does not read the jobs it sends (cronlane.release), so the
                # run's close may wait for that message, behind another run's execution of the
                # same job. Look again soon rather than at the run's healthy bound.
                self.checks.arm(run_id, self.clock.now() + watchdog.MIN_CHECK_S)
        run = self.store.get_run(run_id)
        status = run.status if run is not None else None
        if not found:
            self.telemetry.emit("WatchdogIdle", 1)
        return {"run_id": run_id, "status": status.value if status else None, "found": found}

    def _buffered(self, run_id: str, schedule: str, trigger: Trigger) -> list[str]:
        """A buffered run waits for the schedule's active runs (a backfill run, for a slot)."""
        if trigger is Trigger.BACKFILL:
            started = self.starter.start_backfill(schedule)
            return [f"backfill waiting with a slot free: started {', '.join(started)}"] if started else []
        active = [
            r
            for r in self.store.active_runs(schedule)
            if r.status is not RunStatus.BUFFERED and r.trigger is not Trigger.BACKFILL
        ]
        if active:
            return []  # it still waits for them: their close starts it
        self.starter.start_oldest_buffered(schedule)
        return ["buffered with nothing active ahead of it: the oldest buffered run started"]

    def _count_sinks(self, run: RunView, jobs: list[JobRunView]) -> bool:
        """Every job ended but the sinks' counts say otherwise (a sink's executor died after its
        state write, and its message went to the dead-letter queue before a redelivery counted
        it): count the ended sinks, so that the close sees them. True if it did."""
        if not jobs or not all(j.status.terminal for j in jobs):
            return False  # the usual case: nothing more is read
        graph = self.graphs.get(run.run_id)
        if graph is None or self.store.sinks_finished(run.run_id, run.sink_count):
            return False
        for job in graph.slots:
            self.store.mark_sink(graph, job)
        return True

    def _resend_ready(self, run_id: str) -> tuple[list[str], bool, list[JobRunView]]:
        """Send again the jobs that wait with their upstreams done and whose message must be
        lost: never started, or quiet since their last claim for longer than any message of
        theirs stays hidden (one waiting out a retry's backoff, or continuing from a checkpoint,
        has its message on the way); whether a job of the run is running; and the run's jobs as
        read."""
        graph = self.graphs.get(run_id)
        if graph is None:
            return [], False, []
        now = self.clock.now()
        quiet_since = now - QUIET_S
        jobs = self.store.job_runs(run_id)
        waiting = [
            j.job
            for j in jobs
            if j.status in WAITING and (j.attempt_started_at is None or j.attempt_started_at < quiet_since)
        ]
        needs = self.graphs.needs_of(run_id, waiting)
        ready = self.releaser.ready(run_id, None, JobStatus.SUCCEEDED, needs, now)
        # A job left RUNNING whose lease ran out long ago: its executor died and its message is
        # gone too (the redrive policy moved it to the dead-letter queue). Its message, sent
        # again, is claimed as a new attempt (or fails the job, its attempts spent).
        lost = [
            JobMessage(run_id, j.job, j.generation, lane=j.lane)
            for j in jobs
            if j.status is JobStatus.RUNNING and (j.lease_expires_at or now) < quiet_since
        ]
        # In a run with a width, an end whose sender died kept its place: every ended job gives
        # its place back here, and a waiting job takes it (cronlane.places).
        ended: dict[str, int | None] = {j.job: j.generation for j in jobs if j.status.terminal}
        self.releaser.send_messages(run_id, [*ready.messages, *lost], ended)
        running = any(j.status is JobStatus.RUNNING for j in jobs)
        return sorted([m.job for m in ready.messages] + [m.job for m in lost]), running, jobs
