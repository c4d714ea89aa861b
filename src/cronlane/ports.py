"""The interfaces the use cases (dispatch, start, execute, release, operations, replay) depend on:
the run store and the job queue. Each method is named for what it does to a run, not for the
items it touches, and says what it guarantees; every implementation passes the same contract
tests (``tests/contract``): ``cronlane.store.dynamodb`` and ``cronlane.queue.sqs`` on AWS (and on
the local runtime's moto), ``cronlane.store.memory`` and ``cronlane.queue.memory`` in a process.

Conventions of every store and queue:

- a failed condition (someone else got there first) is a return value (``False`` or ``None``),
  never an exception: it is how idempotency shows itself;
- an infrastructure failure raises ``StoreError`` / ``QueueError`` (``cronlane.errors``), so the
  invocation fails and is retried;
- every read is strongly consistent (what a write returned is what the next read sees);
- a write that changes a job-run and its run's counters does both or neither.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Any, Protocol

from cronlane.audit import AuditEntry
from cronlane.model import (
    DeadLetter,
    JobMessage,
    JobRunView,
    JobState,
    JobStatus,
    NewRun,
    PlacesRecord,
    Restart,
    RunCounts,
    RunGraph,
    RunStatus,
    RunView,
)


class RunRecords(Protocol):
    """A run: its record, its graph snapshot (never changed once written) and its sink tally."""

    def create_run(
        self,
        run: NewRun,
        status: RunStatus = RunStatus.CREATING,
        reason: str | None = None,
        replace_skipped: bool = False,
    ) -> bool:
        """Claim the run id and store the graph snapshot, both or neither. False if the run
        exists (the one guarantee that one tick makes one run). ``replace_skipped``: the id may
        instead hold a SKIPPED run of no jobs (a missed or skipped tick), which this replaces."""
        ...

    def get_run(self, run_id: str) -> RunView | None: ...

    def load_run_graph(self, run_id: str) -> RunGraph | None:
        """The run's graph snapshot; None if there is no such run."""
        ...

    def set_run_status(
        self, run_id: str, expected: RunStatus, new: RunStatus, now: float, counts: RunCounts | None = None
    ) -> bool:
        """``expected`` -> ``new`` (False if it was not ``expected``); RUNNING sets ``started_at``,
        a terminal status ``finished_at``; a closing run gets its exact ``counts``."""
        ...

    def close_run(
        self,
        run: RunView,
        final: RunStatus,
        now: float,
        counts: RunCounts,
        clean: bool,
    ) -> bool:
        """Close a run that was ``run.status`` as ``final`` with its exact ``counts``, on the
        premises the close was decided on: no operator's restart is under way and none reopened
        the run since it was read (``reopened`` is as read), and, for a close
        decided without reading the job-runs (``clean``), nothing has failed, been skipped or
        cancelled and no operator reopened it since. A backfill run gives its slot back in the
        same write. False if any premise no longer holds (read the run again and decide again)."""
        ...

    def start_buffered(self, run: RunView, now: float) -> bool:
        """A BUFFERED run is started: -> CREATING, and off its schedule's waiting list. A backfill
        run takes one of its schedule's backfill slots (at most its ``max_active`` taken) in the
        same write. False if the run is not BUFFERED any more, or no slot is free."""
        ...

    def request_cancel(self, run_id: str, now: float) -> bool:
        """Note that an operator cancelled the run (CREATING or RUNNING only; the first time counts)."""
        ...

    def reopen_run(self, run_id: str, now: float) -> bool:
        """A run goes (back) to RUNNING for an operator's rerun, mark or replay, marked touched."""
        ...

    def begin_restart(self, run_id: str, restart: Restart, now: float) -> bool:
        """Record ``restart`` on the run and reopen it (RUNNING, touched), in one write; False if
        the run cannot be reopened or another restart is still there."""
        ...

    def end_restart(self, run_id: str, restart_id: str) -> bool:
        """Remove the restart ``restart_id`` from the run (False if it is not there)."""
        ...

    def mark_deadline_reported(self, run_id: str, now: float) -> bool:
        """Note that the run's missed deadline was reported; False if it already was."""
        ...

    def take_lane_numbers(self, jobs: Collection[str]) -> dict[str, int]:
        """The next number of each job's counter (cronlane.lanes: 1, 2, 3... per job), all in one
        write."""
        ...

    def places(self, run_id: str) -> PlacesRecord:
        """The places of a run with a width (cronlane.places), read strongly consistently; an
        empty record at version 0 when none is stored."""
        ...

    def put_places(self, run_id: str, record: PlacesRecord, expires_at: int) -> bool:
        """Store ``record`` at the next version if the stored one is still at ``record.version``
        (none stored: 0); False if another writer came first."""
        ...

    def mark_sink(self, graph: RunGraph, job: str) -> bool:
        """Count the end of the sink ``job`` (again is harmless); True if that filled its shard."""
        ...

    def sinks_finished(self, run_id: str, sink_count: int) -> bool:
        """Has every sink of the run ended?"""
        ...

    def runs_of_schedule(self, schedule: str, limit: int = 20) -> list[RunView]:
        """The schedule's runs, newest fire time first."""
        ...

    def active_runs(self, schedule: str) -> list[RunView]:
        """The schedule's runs that are not over (CREATING, RUNNING or BUFFERED), backfill runs
        left out, oldest fire time first, however many ended runs came after them. The BUFFERED
        ones are all there (the waiting list is read strongly consistently); a CREATING or
        RUNNING run written in the last moment may not be yet (DynamoDB reads those from an
        eventually consistent index: a decision must not depend on a run created a moment
        before it unless it knows that run itself)."""
        ...

    def buffered_runs(self, schedule: str, backfill: bool, limit: int) -> list[RunView]:
        """Up to ``limit`` of the schedule's BUFFERED runs, oldest fire time first: its backfill
        runs, or (``backfill`` False) its buffered ticks and caught-up runs. Strongly consistent:
        a run created BUFFERED is listed as soon as its creation returned."""
        ...


class JobRunRecords(Protocol):
    """A job-run's life: claimed for an attempt, finished, checkpointed, skipped, cancelled, reset.

    A job-run has no record until it starts, is skipped or is cancelled: until then its run's
    graph snapshot describes it (``job_runs`` and ``get_job_run`` describe it so)."""

    def claim(
        self,
        run_id: str,
        job: str,
        generation: int,
        now: float,
        lease_s: float,
        queued_at: float | None = None,
        graph: RunGraph | None = None,
        continuation: bool = False,
        chain: str | None = None,
    ) -> JobRunView | None:
        """Claim the job-run for one attempt under a lease of ``lease_s``; None if someone holds
        or finished it. Claimable: no record yet (its first claim writes it whole, from
        ``graph``), QUEUED or PENDING with attempts left, or RUNNING under an expired lease
        (taken over as a new attempt, the lost one recorded in the history). The generation must
        match. A job-run QUEUED by its own checkpoint is claimed as a continuation of the same
        attempt; ``continuation``: the message is the job's own, so that is tried first.
        ``chain``: the job whose message's invocation runs this attempt, kept as
        ``JobRunView.chain`` (None: its own message; a new attempt by a message clears it)."""
        ...

    def finish(
        self,
        view: JobRunView,
        status: JobStatus,
        now: float,
        duration_s: float,
        error: str | None = None,
        history_entry: dict[str, Any] | None = None,
        graph: RunGraph | None = None,
        result: str | None = None,
    ) -> bool:
        """Record a terminal status for the attempt ``view`` holds; False if it no longer holds the
        job-run. Anything but a success is counted on the run (and a sink in its shard) in the
        same write. A success's ``result`` (JSON text, ``cronlane.results``) is put in its own
        item first (``graph`` gives its expiry), and the success records which attempt wrote it."""
        ...

    def results(self, run_id: str, jobs: Sequence[JobRunView]) -> dict[str, Any]:
        """The results of those of ``jobs`` (job-runs of the run) that succeeded with one, by name:
        only a result their success recorded (``cronlane.results``)."""
        ...

    def upstream_results(self, run_id: str, jobs: Sequence[str]) -> dict[str, Any]:
        """The results of the run's job-runs ``jobs`` (a job's upstreams), as ``results``."""
        ...

    def checkpoint(self, view: JobRunView, cursor: str, entry: dict[str, Any], now: float) -> bool:
        """The attempt ends its invocation at a checkpoint: QUEUED to continue from ``cursor``."""
        ...

    def hand_off(self, view: JobRunView, hand_off: Any) -> bool:
        """The held attempt ``view`` runs elsewhere now: record its ``cronlane.targets.HandOff``
        and hold the job-run until ``hand_off.lease_until(hand_off.started_at)``. False if the
        attempt is not held any more."""
        ...

    def extend_lease(self, view: JobRunView, until: float) -> bool:
        """A heartbeat of the handed-off attempt ``view``: it holds the job-run until ``until``.
        False if the attempt is not held any more."""
        ...

    def record_late(self, run_id: str, job: str, entry: dict[str, Any]) -> bool:
        """Keep a completion that came for an attempt already given up (or came twice) on the
        job-run, never counted: False if there is no such job-run, or it keeps enough of them."""
        ...

    def retry_later(self, view: JobRunView, error: str, history_entry: dict[str, Any]) -> bool:
        """Give a failed attempt back: QUEUED again, its error recorded."""
        ...

    def skip(self, graph: RunGraph, job: str, reason: str, now: float) -> bool:
        """PENDING (or not written) -> SKIPPED with its reason, counted on the run."""
        ...

    def cancel_job(self, graph: RunGraph, job: str, now: float) -> bool:
        """PENDING or QUEUED (or not written) -> CANCELLED, counted on the run."""
        ...

    def reset_job(
        self,
        view: JobRunView,
        status: JobStatus,
        reason: str | None = None,
        now: float | None = None,
        graph: RunGraph | None = None,
        params: dict[str, Any] | None = None,
    ) -> bool:
        """A new life in the same run: a new generation, no attempts, ``status`` (PENDING, QUEUED,
        or SUCCEEDED when an operator vouches for it), the run's counters moved, all in one write;
        False if the job-run is no longer as ``view`` saw it. ``params``: the new life's values
        (a rerun with new parameters)."""
        ...

    def states(self, run_id: str, jobs: Iterable[str]) -> dict[str, JobState]:
        """The status and generation of each named job-run that has a record."""
        ...

    def join(
        self, run_id: str, job: str, shard: int | None, numbers: set[int], size: int, expires_at: int
    ) -> bool:
        """Add ``numbers`` to one of ``job``'s join sets (``cronlane.joins``): its shard
        ``shard``, or its top set (None), which holds ``size`` numbers when full; again is
        harmless. True if the set is full now. Kept until ``expires_at``, as the run is."""
        ...

    def written_job_runs(self, run_id: str) -> list[JobRunView]:
        """The run's job-runs that have a record."""
        ...

    def written_job_run(self, run_id: str, job: str) -> JobRunView | None:
        """One job-run's record; None if it has none (yet)."""
        ...

    def job_runs(
        self, run_id: str, include_waiting: bool = True, roots_sent: bool = False, places: bool = False
    ) -> list[JobRunView]:
        """The run's job-runs, those still waiting included, and with ``places`` those waiting for
        a place named (``store.base.StoreBase``)."""
        ...

    def get_job_run(self, run_id: str, job: str, include_waiting: bool = True) -> JobRunView | None: ...


class ScheduleRecords(Protocol):
    """What the dispatcher remembers of a schedule: whether it is paused, and up to when its
    fire times were checked for missed runs."""

    def set_paused(self, schedule: str, paused: bool, reason: str | None, now: float) -> None: ...

    def paused_reason(self, schedule: str) -> str | None:
        """The reason if the schedule is paused, else None."""
        ...

    def checked_until(self, schedule: str, definition: str, tick: float) -> float | None:
        """Up to when the schedule's fire times were checked for missed runs (strongly
        consistent), or None for a new or changed definition, whose watch starts afresh at
        ``tick`` (written here)."""
        ...

    def advance_watch(self, schedule: str, definition: str, tick: float, until: float) -> float | None:
        """Claim the fire times in (the last check, ``until``] for a missed-run check: where the
        last check ended, or None when there is nothing to check (a new or changed definition
        starts afresh at ``tick``; or another tick got there first)."""
        ...


class AuditRecords(Protocol):
    """The operators' actions (cronlane.audit), kept as long as the runs."""

    def record_audit(self, entry: AuditEntry, expires_at: int) -> None: ...

    def audit_entries(
        self, since: float, run_id: str | None = None, schedule: str | None = None, limit: int = 1000
    ) -> list[AuditEntry]:
        """The latest ``limit`` entries from ``since`` on, oldest first: of one run or one
        schedule if named."""
        ...


class RunStore(RunRecords, JobRunRecords, ScheduleRecords, AuditRecords, Protocol):
    """Everything cronlane keeps about runs (one DynamoDB table on AWS)."""


class Watchdog(Protocol):
    """One one-time check per run that is not over (``cronlane.watchdog``)."""

    def arm(self, run_id: str, due: float) -> None:
        """Have the run checked at ``due`` (moving its check if it had one)."""
        ...

    def disarm(self, run_id: str) -> None:
        """The run closed: no check (none armed is fine)."""
        ...


class Targets(Protocol):
    """Where handed-off jobs run (``ecs`` tasks, ``callback`` workers; cronlane.targets)."""

    def start(self, spec: str, ctx: Any, generation: int, prepared: Any) -> Any:
        """Start the job ``ctx`` describes on its target, as ``prepared``
        (``cronlane.targets.prepare``: a callback attempt's token) says; a
        ``cronlane.targets.Started``. The same attempt started twice starts it once (RunTask's
        client token). A target that refuses raises ``cronlane.targets.TargetFailed``."""
        ...

    def stop(self, spec: str, handle: str, reason: str, attempt: Any) -> None:
        """Stop a started attempt, best effort (an ECS task is stopped; a worker cannot be). A
        handle of "" is an ecs attempt whose task ARN was never recorded (a crash after RunTask):
        its task is found by the attempt (``cronlane.targets.TokenClaims``) its environment names."""
        ...


class JobQueue(Protocol):
    """The FIFO job queue and its dead-letter queue."""

    def send(self, messages: Sequence[JobMessage]) -> None:
        """Enqueue, in order. The message group is the job: one lane per job, so a job never runs
        twice at once while different jobs run in parallel; a repeat of a message (the same
        deduplication id) within 5 minutes is dropped."""
        ...

    def dead_letter(self, body: str, dedup_id: str, error: str) -> None:
        """Put a message on the dead-letter queue with the error that put it there."""
        ...

    def peek_dead_letters(self, limit: int, hide_s: int) -> list[DeadLetter]:
        """Receive up to ``limit`` dead letters, hidden for ``hide_s`` so a pass sees each once."""
        ...

    def unhide(self, letters: Sequence[DeadLetter]) -> None:
        """Make received dead letters visible again at once (best effort)."""
        ...

    def delete_dead_letter(self, letter: DeadLetter) -> None: ...

    def delay(self, queue_arn: str, receipt_handle: str, seconds: int) -> None:
        """Hide a received job message for ``seconds`` (a retry's backoff: FIFO queues have no
        per-message delay); it holds its whole message group meanwhile."""
        ...

    def delete_message(self, queue_arn: str, receipt_handle: str) -> None:
        """Delete a received job message (a handed-off attempt's timer, once it completed); one
        already gone is no error."""
        ...
