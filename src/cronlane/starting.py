"""Starting a run: enqueue its roots, mark it RUNNING; and starting what waited for a run.

Used by the dispatcher (a new run, or a CREATING run a dispatcher died in), by the watchdog, and,
through ``on_run_closed``, by whoever closes a run: the end of a run starts what waited for it
(its schedule's buffered tick, the next caught-up run, the next backfill runs while slots are
free).

Order of effects of a start, and what a crash at each point leaves: BUFFERED -> CREATING (a
backfill run takes a slot in the same write) - a crash after it leaves a CREATING run, which its
check (armed when it was buffered), the schedule's next tick or the repeated close finishes; its
check moves to when the run could be over; the roots' messages are sent (each may be sent again:
the claim keeps a job to one execution); CREATING -> RUNNING.

A buffered run is on its schedule's waiting list from the write that creates it; a closer reads
that list, strongly consistently, after closing its run, and the dispatcher that buffered a tick
reads the runs it waits for again after creating it. Each writes before it reads the other, so
one of the two starts it (the by-schedule index, which may not show a run written a moment ago, is
not what either relies on).
"""

from __future__ import annotations

from cronlane import priority, watchdog
from cronlane.clock import Clock
from cronlane.errors import Conflict
from cronlane.faults import crashpoint
from cronlane.model import JobMessage, JobStatus, NewRun, RunStatus, RunView, Trigger
from cronlane.places import Places
from cronlane.ports import JobQueue, RunStore, Watchdog
from cronlane.runs import RunCloser
from cronlane.telemetry import Telemetry

BATCH = 10  # buffered runs read at a time


class RunStarter:
    def __init__(
        self,
        store: RunStore,
        queue: JobQueue,
        clock: Clock,
        telemetry: Telemetry,
        history_ttl_s: int,
        closer: RunCloser,
        checks: Watchdog,
        places: Places,
    ) -> None:
        self.store = store
        self.queue = queue
        self.clock = clock
        self.telemetry = telemetry
        self.history_ttl_s = history_ttl_s
        self.closer = closer
        self.checks = checks
        self.places = places

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
        # the root with the longest path ahead first (cronlane.priority)
        messages = priority.by_rank(
            [JobMessage(run.run_id, n, queued_at=now, lane=run.nodes[n].lane) for n in to_send], run.nodes
        )
        if run.max_parallel:  # a run with a width: as many as it has places (cronlane.places)
            messages = self.places.admit(
                run.run_id, run.max_parallel, run.nodes, run.expires_at, {}, messages
            )
        for start in range(0, len(messages), 10):
            self.queue.send(messages[start : start + 10])
            crashpoint("dispatcher.after_enqueue_batch", run_id=run.run_id, sent=start + 10)
        return len(messages)

    def start(self, run_id: str) -> RunStatus:
        self.store.set_run_status(run_id, RunStatus.CREATING, RunStatus.RUNNING, self.clock.now())
        run = self.store.get_run(run_id)
        if run is None:
            raise Conflict(f"run {run_id} vanished while being dispatched")
        # Every job may have finished while the run was CREATING (a resumed dispatch).
        return self.closer.close(run)

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
            max_parallel=graph.max_parallel if graph is not None else None,
        )
        enqueued = self.write_and_enqueue(run, resume=True)
        return len(run.nodes), enqueued, self.start(run.run_id)

    def on_run_closed(self, run: RunView) -> None:
        """A run ended: start what waited for it. A backfill run frees a slot of its backfill;
        any other run starts its schedule's oldest BUFFERED run (overlap ``buffer_one``, or a
        catch-up)."""
        if run.trigger is Trigger.BACKFILL:
            self.start_backfill(run.schedule)
            return
        self.start_oldest_buffered(run.schedule)

    def start_oldest_buffered(self, schedule: str) -> None:
        """Start the schedule's oldest BUFFERED run (a buffered tick, or a catch-up run),
        however many runs came after it (its waiting list is read strongly consistently: a run
        buffered a moment ago is on it)."""
        for buffered in self.store.buffered_runs(schedule, backfill=False, limit=BATCH):
            if self._start_buffered(buffered):
                return

    def start_backfill(self, schedule: str) -> list[str]:
        """Start the oldest waiting backfill runs of ``schedule`` while a slot is free (each run
        takes one as it starts, at most its ``max_active``: two closers cannot start more).
        Returns the runs started."""
        started: list[str] = []
        while True:
            waiting = self.store.buffered_runs(schedule, backfill=True, limit=BATCH)
            for run in waiting:
                if self._start_buffered(run):
                    started.append(run.run_id)
                    continue
                current = self.store.get_run(run.run_id)
                if current is not None and current.status is RunStatus.BUFFERED:
                    return started  # still waiting: no slot is free
            if len(waiting) < BATCH:
                return started

    def _start_buffered(self, buffered: RunView) -> bool:
        now = self.clock.now()
        if not self.store.start_buffered(buffered, now):
            return False  # another closer started it, or (backfill) no slot is free
        crashpoint("starter.after_start", run_id=buffered.run_id)
        # Its check, armed when it was buffered, moves to when the run itself could be over.
        graph = self.store.load_run_graph(buffered.run_id)
        nodes = graph.nodes if graph is not None else {}
        self.checks.arm(buffered.run_id, watchdog.due(RunStatus.CREATING, now, nodes, buffered.deadline_at))
        started = self.store.get_run(buffered.run_id)
        if started is not None:
            self.complete_creating(started)
        return True
