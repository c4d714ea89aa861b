"""Starting a run: enqueue its roots, mark it RUNNING.

Used by the dispatcher (a new run, or a CREATING run a dispatcher died in) and, through
``on_run_closed``, by whoever closes a run: the end of a run starts its schedule's BUFFERED run
(overlap policy ``buffer_one``)."""

from __future__ import annotations

from cronlane.clock import Clock
from cronlane.errors import Conflict
from cronlane.faults import crashpoint
from cronlane.model import JobMessage, JobStatus, NewRun, RunStatus, RunView, Trigger
from cronlane.ports import JobQueue, RunStore
from cronlane.runs import close_run
from cronlane.telemetry import Telemetry


class RunStarter:
    def __init__(
        self, store: RunStore, queue: JobQueue, clock: Clock, telemetry: Telemetry, history_ttl_s: int
    ) -> None:
        self.store = store
        self.queue = queue
        self.clock = clock
        self.telemetry = telemetry
        self.history_ttl_s = history_ttl_s

    def write_and_enqueue(self, run: NewRun, resume: bool) -> int:
        """Send the messages of the roots. No job-run is written here: each gets its item when
        it starts (its first claim puts it whole), is skipped or is cancelled, and until then the
        graph snapshot describes it (a write per root saved, and nothing a late or duplicate
        dispatcher could overwrite). A resumed dispatch sends again the roots that have no item
        yet (a message that may never have gone; a repeat is a duplicate the claim refuses) or
        that wait QUEUED, and leaves alone those that started."""
        now = self.clock.now()
        roots = [n for n, node in run.nodes.items() if not node.depends_on]
        if resume:
            existing = {v.job: v for v in self.store.written_job_runs(run.run_id)}
            to_send = [n for n in roots if n not in existing or existing[n].status is JobStatus.QUEUED]
        else:
            to_send = roots
        # Before the first send. (Named when the roots' job-runs were written here; the chaos
        # soak's figures use the name.)
        crashpoint("dispatcher.after_job_runs", run_id=run.run_id)
        messages = [JobMessage(run.run_id, n, queued_at=now) for n in to_send]
        for start in range(0, len(messages), 10):
            self.queue.send(messages[start : start + 10])
            crashpoint("dispatcher.after_enqueue_batch", run_id=run.run_id, sent=start + 10)
        return len(messages)

    def start(self, run_id: str) -> RunStatus:
        self.store.set_run_status(run_id, RunStatus.CREATING, RunStatus.RUNNING, self.clock.now())
        run = self.store.get_run(run_id)
        if run is None:
            raise Conflict(f"run {run_id} vanished while being dispatched")
        if not run.status.terminal:
            # Every job may have finished while the run was CREATING (a resumed dispatch).
            return close_run(self.store, run, self.clock.now(), self.telemetry, self.on_run_closed)
        return run.status

    def complete_creating(self, existing: RunView) -> tuple[int, int, RunStatus]:
        """Finish a CREATING run from *its* stored snapshot (not today's catalog: a deploy in
        between must not change the run). Returns (jobs, enqueued, status)."""
        graph = self.store.load_run_graph(existing.run_id)
        run = NewRun(
            run_id=existing.run_id,
            schedule=existing.schedule,
            scheduled_time=existing.scheduled_time,
            trigger=existing.trigger,
            created_at=existing.created_at or self.clock.now(),
            expires_at=int(self.clock.now() + self.history_ttl_s),
            parameters=existing.parameters,
            nodes=graph.nodes if graph is not None else {},
            fingerprint=existing.request_hash,
            deadline_at=existing.deadline_at,
        )
        enqueued = self.write_and_enqueue(run, resume=True)
        return len(run.nodes), enqueued, self.start(run.run_id)

    def on_run_closed(self, run: RunView) -> None:
        """A run ended: start what waited for it. A backfill run frees a slot of its backfill;
        any other run starts its schedule's oldest BUFFERED tick (overlap ``buffer_one``)."""
        if run.trigger is Trigger.BACKFILL:
            self.start_backfill(run.schedule)
            return
        self.start_oldest_buffered(run.schedule)

    def start_oldest_buffered(self, schedule: str) -> None:
        """Start the schedule's oldest BUFFERED run (a buffered tick, or a catch-up run),
        however many runs came after it."""
        active = self.store.active_runs(schedule)
        waiting = [r for r in active if r.status is RunStatus.BUFFERED and r.trigger is not Trigger.BACKFILL]
        for buffered in waiting:
            if self._start_buffered(buffered):
                return

    def start_backfill(self, schedule: str) -> list[str]:
        """Start the oldest waiting backfill runs of ``schedule`` while fewer than their
        ``max_active`` are active. Returns the runs started."""
        backfill = [r for r in self.store.active_runs(schedule) if r.trigger is Trigger.BACKFILL]
        active = [r for r in backfill if r.status is not RunStatus.BUFFERED]
        waiting = [r for r in backfill if r.status is RunStatus.BUFFERED]
        started: list[str] = []
        for run in waiting:
            if len(active) + len(started) >= (run.max_active or 1):
                break
            if self._start_buffered(run):
                started.append(run.run_id)
        return started

    def _start_buffered(self, buffered: RunView) -> bool:
        if not self.store.set_run_status(
            buffered.run_id, RunStatus.BUFFERED, RunStatus.CREATING, self.clock.now()
        ):
            return False  # another closing run started it
        started = self.store.get_run(buffered.run_id)
        if started is not None:
            self.complete_creating(started)
        return True
