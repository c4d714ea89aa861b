"""Data access: every DynamoDB and SQS call cronlane makes lives in this module.

Key design (one table, ``TABLE_NAME``):

| item      | pk               | sk             | GSI keys                                              |
|-----------|------------------|----------------|-------------------------------------------------------|
| run       | ``RUN#<run id>`` | ``RUN``        | by-schedule: ``SCHEDULE#<name>`` / ``<time>#<run id>`` |
| graph     | ``RUN#<run id>`` | ``GRAPH#<n>``  | -                                                     |
| job-run   | ``RUN#<run id>`` | ``JOB#<job>``  | -                                                     |
| sinks     | ``RUN#<run id>`` | ``SINKS#<n>``  | -                                                     |

Access patterns: the runs of a schedule, newest first (query by-schedule descending); the jobs
of a run (query pk, sk begins_with ``JOB#``); a job's past runs (the runs of a schedule, then
their jobs: only ``cronlane plan`` asks, so no index is paid for on every job-run write).
by-schedule projects only the run's identity and status, not its counters, so the counter
updates do not write to the index.
Everything expires through the TTL attribute ``expires_at``.

SDK errors become ``StoreError`` / ``QueueError`` (``raise ... from exc``); a failed condition,
which is how idempotency shows itself, becomes a return value, not an exception.
"""

from __future__ import annotations

import contextlib
import json
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pynamodb.attributes import (
    BinaryAttribute,
    ListAttribute,
    NumberAttribute,
    NumberSetAttribute,
    UnicodeAttribute,
)
from pynamodb.connection import Connection
from pynamodb.exceptions import PutError, PynamoDBException, TransactWriteError, UpdateError
from pynamodb.expressions.update import Action
from pynamodb.indexes import GlobalSecondaryIndex, IncludeProjection
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from cronlane.clock import iso
from cronlane.errors import QueueError, StoreError
from cronlane.model import (
    DEFAULT_MAX_CONTINUATIONS,
    SINKS_PER_SHARD,
    DeadLetter,
    JobMessage,
    JobNode,
    JobRunView,
    JobState,
    JobStatus,
    RunCounts,
    RunGraph,
    RunStatus,
    RunView,
    SinkSlot,
    sink_slots,
)

GRAPH_CHUNK = 350_000  # bytes of compressed snapshot per item (DynamoDB items are at most 400 KB)
SQS_BATCH = 10  # SendMessageBatch / DeleteMessageBatch take at most 10 entries
CONDITION_FAILED = "ConditionalCheckFailedException"
# A job-run's attributes that its life changes (the key, and what a new item starts them at):
# everything else on it is set once, from the run's graph snapshot.
_CHANGING = frozenset({"pk", "sk", "status", "attempts", "generation", "enqueued_at"})


def _run_pk(run_id: str) -> str:
    return f"RUN#{run_id}"


def _time_key(scheduled_iso: str, run_id: str) -> str:
    return f"{scheduled_iso}#{run_id}"


# ---------------------------------------------------------------------------------------------
# PynamoDB models. The table name is only known at run time (it comes from the stack), so the
# concrete classes are made per table by ``_models``.
# ---------------------------------------------------------------------------------------------


class _BySchedule(GlobalSecondaryIndex["_RunItem"]):
    class Meta:
        index_name = "by-schedule"
        projection = IncludeProjection(
            ["run_id", "schedule", "scheduled_time", "trigger", "status", "job_count", "created_at"]
        )

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class _RunItem(Model):
    by_schedule: _BySchedule  # set per table by _models
    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    run_id = UnicodeAttribute()
    schedule = UnicodeAttribute()
    scheduled_time = NumberAttribute()
    trigger = UnicodeAttribute()
    status = UnicodeAttribute()
    job_count = NumberAttribute()
    succeeded = NumberAttribute(default=0)
    failed = NumberAttribute(default=0)
    skipped = NumberAttribute(default=0)
    cancelled = NumberAttribute(default=0)
    sink_count = NumberAttribute(default=0)  # jobs that nothing in the run depends on
    touched = NumberAttribute(null=True)  # 1 once an operator reopened it (a rerun, a mark, a replay)
    created_at = NumberAttribute()
    started_at = NumberAttribute(null=True)
    finished_at = NumberAttribute(null=True)
    parameters = UnicodeAttribute(default="{}")
    request_hash = UnicodeAttribute(null=True)
    deadline_at = NumberAttribute(null=True)
    deadline_reported = NumberAttribute(null=True)
    cancel_requested_at = NumberAttribute(null=True)
    reason = UnicodeAttribute(null=True)
    max_active = NumberAttribute(null=True)
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    expires_at = NumberAttribute()


class _GraphItem(Model):
    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    data = BinaryAttribute(legacy_encoding=False)
    schedule = UnicodeAttribute(null=True)
    scheduled_time = NumberAttribute(null=True)
    expires_at = NumberAttribute()


class _JobRunItem(Model):
    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    run_id = UnicodeAttribute()
    job = UnicodeAttribute()
    group = UnicodeAttribute()
    schedule = UnicodeAttribute()
    scheduled_time = NumberAttribute()
    status = UnicodeAttribute()
    function = UnicodeAttribute()
    depends_on = ListAttribute(of=UnicodeAttribute, default=list)
    dependents = ListAttribute(of=UnicodeAttribute, default=list)
    dependent_fan_in = ListAttribute(of=NumberAttribute, default=list)
    timeout_s = NumberAttribute()
    max_attempts = NumberAttribute()
    params = UnicodeAttribute(default="{}")
    attempts = NumberAttribute(default=0)
    generation = NumberAttribute(default=0)
    enqueued_at = NumberAttribute(null=True)
    started_at = NumberAttribute(null=True)
    attempt_started_at = NumberAttribute(null=True)
    finished_at = NumberAttribute(null=True)
    duration_s = NumberAttribute(null=True)
    lease_expires_at = NumberAttribute(null=True)
    error = UnicodeAttribute(null=True)
    reason = UnicodeAttribute(null=True)
    history = ListAttribute(of=UnicodeAttribute, null=True)
    # A job that continues across invocations: its cursor (JSON), one entry per invocation that
    # ended in a checkpoint, and 1 while the next claim is a continuation (not a new attempt).
    checkpoint = UnicodeAttribute(null=True)
    continuations = ListAttribute(of=UnicodeAttribute, null=True)
    continuing = NumberAttribute(null=True)
    max_continuations = NumberAttribute(null=True)  # absent: the default
    expires_at = NumberAttribute()


class _SinkShardItem(Model):
    """Which sinks of a run have ended (their numbers, ``model.sink_slots``): a set, so counting
    one again changes nothing, and at most ``SINKS_PER_SHARD`` of them, so each write is one
    unit however large the run."""

    pk = UnicodeAttribute(hash_key=True)  # RUN#<run id>
    sk = UnicodeAttribute(range_key=True)  # SINKS#<shard>
    done = NumberSetAttribute(null=True)
    size = NumberAttribute()
    expires_at = NumberAttribute()


class _ScheduleItem(Model):
    pk = UnicodeAttribute(hash_key=True)  # SCHEDULE#<name>
    sk = UnicodeAttribute(range_key=True)  # STATE
    paused = NumberAttribute(default=0)
    reason = UnicodeAttribute(null=True)
    updated_at = NumberAttribute()


class _WatchItem(Model):
    """What the dispatcher knows of a schedule's fire times: its definition (expression and
    zone), since when, and up to when its fire times were checked for missing runs."""

    pk = UnicodeAttribute(hash_key=True)  # SCHEDULE#<name>
    sk = UnicodeAttribute(range_key=True)  # WATCH
    definition = UnicodeAttribute()
    since = NumberAttribute()
    checked_until = NumberAttribute()


def _models(table: str, region: str | None) -> tuple[type[_RunItem], type[_GraphItem], type[_JobRunItem]]:
    def meta() -> type:
        return type("Meta", (), {"table_name": table, "region": region})

    run = type("RunItem", (_RunItem,), {"Meta": meta(), "by_schedule": _BySchedule()})
    graph = type("GraphItem", (_GraphItem,), {"Meta": meta()})
    job = type("JobRunItem", (_JobRunItem,), {"Meta": meta()})
    return run, graph, job


def _schedule_model(table: str, region: str | None) -> type[_ScheduleItem]:
    meta = type("Meta", (), {"table_name": table, "region": region})
    return type("ScheduleItem", (_ScheduleItem,), {"Meta": meta})


def _condition_failed(exc: PynamoDBException) -> bool:
    if exc.cause_response_code == CONDITION_FAILED:
        return True
    if isinstance(exc, TransactWriteError):
        return any(r is not None and r.code == "ConditionalCheckFailed" for r in exc.cancellation_reasons)
    return False


@dataclass(frozen=True)
class NewRun:
    run_id: str
    schedule: str
    scheduled_time: float
    scheduled_iso: str
    trigger: str
    created_at: float
    expires_at: int
    parameters: dict[str, Any]
    nodes: dict[str, JobNode]
    fingerprint: str = ""
    deadline_at: float | None = None
    max_active: int | None = None


class RunStore:
    """Runs and job-runs in DynamoDB."""

    def __init__(self, table: str, region: str | None = None) -> None:
        self.table = table
        self.Run, self.Graph, self.JobRun = _models(table, region)
        self.Schedule = _schedule_model(table, region)
        self.Shard: type[_SinkShardItem] = type(
            "SinkShardItem",
            (_SinkShardItem,),
            {"Meta": type("Meta", (), {"table_name": table, "region": region})},
        )
        self.Watch: type[_WatchItem] = type(
            "WatchItem", (_WatchItem,), {"Meta": type("Meta", (), {"table_name": table, "region": region})}
        )
        self._connection = Connection(region=region)

    def connect(self) -> None:
        """Create the SDK client now, in a Lambda's init phase rather than in the first claim:
        one client, which every model shares (PynamoDB would make one per model, and each
        costs tens of milliseconds of a cold start)."""
        try:
            client = self._connection.client
            for model in (self.Run, self.Graph, self.JobRun, self.Schedule, self.Watch, self.Shard):
                model._get_connection().connection._client = client
        except PynamoDBException as exc:
            raise StoreError(f"connecting to DynamoDB: {exc}") from exc

    def client(self, service: str) -> Any:
        """A client of another AWS service from this store's SDK session (one session: its
        endpoint rules and partition data are loaded once)."""
        return self._connection.session.create_client(service, region_name=self._connection.region)

    # -- runs ---------------------------------------------------------------------------------

    def create_run(
        self,
        run: NewRun,
        status: RunStatus = RunStatus.CREATING,
        reason: str | None = None,
        replace_skipped: bool = False,
    ) -> bool:
        """Claim the run id and store the graph snapshot, atomically. False if the run exists.

        The conditional write is the guarantee that one tick makes one run (aws-facts: SQS
        dedup lasts 5 minutes and is never the idempotency guarantee). ``replace_skipped``
        (backfill): the run id may instead hold a SKIPPED run of no jobs (a tick that was
        missed or skipped), which this run replaces, under the same guarantee.
        """
        item = self.Run(
            _run_pk(run.run_id),
            "RUN",
            run_id=run.run_id,
            schedule=run.schedule,
            scheduled_time=run.scheduled_time,
            trigger=run.trigger,
            status=status.value,
            job_count=len(run.nodes),
            sink_count=sum(1 for node in run.nodes.values() if not node.dependents),
            created_at=run.created_at,
            finished_at=run.created_at if status.terminal else None,
            reason=reason,
            parameters=json.dumps(run.parameters, sort_keys=True),
            request_hash=run.fingerprint or None,
            deadline_at=run.deadline_at,
            max_active=run.max_active,
            gsi1pk=f"SCHEDULE#{run.schedule}",
            gsi1sk=_time_key(run.scheduled_iso, run.run_id),
            expires_at=run.expires_at,
        )
        blob = zlib.compress(json.dumps({n: node.to_dict() for n, node in run.nodes.items()}).encode())
        chunks = [blob[i : i + GRAPH_CHUNK] for i in range(0, len(blob), GRAPH_CHUNK)] or [b""]
        claim = self.Run.pk.does_not_exist()
        if replace_skipped:
            claim = (self.Run.status == RunStatus.SKIPPED.value) & (self.Run.job_count == 0)
        try:
            with TransactWrite(connection=self._connection) as tx:
                tx.save(item, condition=claim)
                for n, chunk in enumerate(chunks):
                    graph = self.Graph(
                        _run_pk(run.run_id),
                        f"GRAPH#{n:03d}",
                        data=chunk,
                        schedule=run.schedule,
                        scheduled_time=run.scheduled_time,
                        expires_at=run.expires_at,
                    )
                    # a replaced run's (empty) graph is overwritten; the run's claim guards both
                    tx.save(graph, condition=None if replace_skipped else self.Graph.pk.does_not_exist())
        except TransactWriteError as exc:
            if _condition_failed(exc):
                return False
            raise StoreError(f"creating run {run.run_id}: {exc}") from exc
        return True

    def load_graph(self, run_id: str) -> dict[str, JobNode]:
        graph = self.load_run_graph(run_id)
        return graph.nodes if graph is not None else {}

    def load_run_graph(self, run_id: str) -> RunGraph | None:
        """The run's graph snapshot; None if there is no such run."""
        try:
            items = list(
                self.Graph.query(_run_pk(run_id), self.Graph.sk.startswith("GRAPH#"), consistent_read=True)
            )
        except PynamoDBException as exc:
            raise StoreError(f"loading the graph of run {run_id}: {exc}") from exc
        if not items:
            return None
        items.sort(key=lambda i: i.sk)
        blob = b"".join(i.data for i in items)
        data = json.loads(zlib.decompress(blob)) if blob else {}
        first = items[0]
        nodes = {name: JobNode.from_dict(name, d) for name, d in data.items()}
        return RunGraph(
            run_id=run_id,
            nodes=nodes,
            schedule=first.schedule or "",
            scheduled_time=float(first.scheduled_time or 0.0),
            expires_at=int(first.expires_at),
            slots=sink_slots(nodes),
        )

    # -- sinks --------------------------------------------------------------------------------

    def _shard(self, run_id: str, slot: SinkSlot) -> _SinkShardItem:
        return self.Shard(_run_pk(run_id), f"SINKS#{slot.shard:04d}")

    def _sink_actions(self, slot: SinkSlot, expires_at: int, ended: bool) -> list[Action]:
        S = self.Shard
        numbers = {slot.number}
        return [
            S.done.add(numbers) if ended else S.done.delete(numbers),
            S.size.set(slot.size),
            S.expires_at.set(expires_at),
        ]

    def mark_sink(self, graph: RunGraph, job: str) -> bool:
        """Count the end of the sink ``job`` (again is harmless); True if that filled its shard,
        so that every sink may have ended."""
        slot = graph.slots.get(job)
        if slot is None:
            return False
        item = self._shard(graph.run_id, slot)
        try:
            item.update(actions=self._sink_actions(slot, graph.expires_at, ended=True))
        except PynamoDBException as exc:
            raise StoreError(f"counting the end of {job} in run {graph.run_id}: {exc}") from exc
        return len(item.done or ()) >= slot.size

    def sinks_finished(self, run_id: str, sink_count: int) -> bool:
        """Has every sink of the run ended? Reads the run's sink shards (strongly consistent)."""
        shards = -(-sink_count // SINKS_PER_SHARD)
        if shards == 0:
            return True
        keys = [(_run_pk(run_id), f"SINKS#{k:04d}") for k in range(shards)]
        try:
            items = list(self.Shard.batch_get(keys, consistent_read=True))
        except PynamoDBException as exc:
            raise StoreError(f"reading the sinks of run {run_id}: {exc}") from exc
        full = sum(1 for i in items if len(i.done or ()) >= int(i.size))
        return full == shards

    def get_run(self, run_id: str) -> RunView | None:
        try:
            item = self.Run.get(_run_pk(run_id), "RUN", consistent_read=True)
        except self.Run.DoesNotExist:
            return None
        except PynamoDBException as exc:
            raise StoreError(f"reading run {run_id}: {exc}") from exc
        return _run_view(item)

    def set_run_status(
        self, run_id: str, expected: RunStatus, new: RunStatus, now: float, counts: RunCounts | None = None
    ) -> bool:
        """Move a run from ``expected`` to ``new``; False if it was not in ``expected``. A run
        that closes gets its exact ``counts`` (while it ran, only sinks counted successes)."""
        Run = self.Run
        item = Run(_run_pk(run_id), "RUN")
        actions: list[Action] = [Run.status.set(new.value)]
        if counts is not None:
            actions += [
                Run.succeeded.set(counts.succeeded),
                Run.failed.set(counts.failed),
                Run.skipped.set(counts.skipped),
                Run.cancelled.set(counts.cancelled),
            ]
        if new is RunStatus.RUNNING:
            actions.append(self.Run.started_at.set(now))
        if new.terminal:
            actions.append(self.Run.finished_at.set(now))
        try:
            item.update(actions=actions, condition=self.Run.status == expected.value)
        except UpdateError as exc:
            if _condition_failed(exc):
                return False
            raise StoreError(f"updating run {run_id}: {exc}") from exc
        return True

    # -- operator actions ---------------------------------------------------------------------

    def set_paused(self, schedule: str, paused: bool, reason: str | None, now: float) -> None:
        """Pause or resume a schedule. Stored in the table, so a redeploy does not undo it."""
        try:
            self.Schedule(
                f"SCHEDULE#{schedule}", "STATE", paused=int(paused), reason=reason, updated_at=now
            ).save()
        except PynamoDBException as exc:
            raise StoreError(f"pausing {schedule}: {exc}") from exc

    def advance_watch(self, schedule: str, definition: str, tick: float, until: float) -> float | None:
        """Claim the fire times of ``schedule`` in (the last check, ``until``] for a missed-run
        check: returns where the last check ended, or None when there is nothing to check (the
        schedule is new or its definition changed, which starts the watch afresh at ``tick``,
        the first fire time seen; or another tick got there first)."""
        W = self.Watch
        key = f"SCHEDULE#{schedule}"
        try:
            try:
                item = W.get(key, "WATCH", consistent_read=True)
            except W.DoesNotExist:
                item = None
            if item is None or item.definition != definition:
                W(key, "WATCH", definition=definition, since=tick, checked_until=tick).save()
                return None
            last = float(item.checked_until)
            if until <= last:
                return None
            item.update(actions=[W.checked_until.set(until)], condition=W.checked_until == last)
            return last
        except UpdateError as exc:
            if _condition_failed(exc):
                return None
            raise StoreError(f"checking the fire times of {schedule}: {exc}") from exc
        except PynamoDBException as exc:
            raise StoreError(f"checking the fire times of {schedule}: {exc}") from exc

    def paused_reason(self, schedule: str) -> str | None:
        """The pause reason if the schedule is paused, else None."""
        try:
            item = self.Schedule.get(f"SCHEDULE#{schedule}", "STATE", consistent_read=True)
        except self.Schedule.DoesNotExist:
            return None
        except PynamoDBException as exc:
            raise StoreError(f"reading the state of {schedule}: {exc}") from exc
        return (item.reason or "paused") if item.paused else None

    def request_cancel(self, run_id: str, now: float) -> bool:
        Run = self.Run
        try:
            Run(_run_pk(run_id), "RUN").update(
                actions=[Run.cancel_requested_at.set(Run.cancel_requested_at | now)],
                condition=Run.status.is_in(RunStatus.CREATING.value, RunStatus.RUNNING.value),
            )
        except UpdateError as exc:
            if _condition_failed(exc):
                return False
            raise StoreError(f"cancelling run {run_id}: {exc}") from exc
        return True

    def cancel_job(self, graph: RunGraph, job: str, now: float) -> bool:
        """PENDING or QUEUED -> CANCELLED, counted on the run; False if it had started."""
        return self._end_unstarted(
            graph,
            job,
            JobStatus.CANCELLED,
            "run cancelled",
            (JobStatus.PENDING, JobStatus.QUEUED),
            now,
        )

    def reset_job(
        self,
        view: JobRunView,
        status: JobStatus,
        reason: str | None = None,
        now: float | None = None,
        graph: RunGraph | None = None,
    ) -> bool:
        """Give a terminal job-run a new life in the same run: a new generation, no attempts,
        ``status`` (PENDING, QUEUED, or SUCCEEDED when an operator vouches for it), and the
        run's counters moved from its old status, all in one transaction. A waiting job-run
        with no item yet (marked by an operator) gets its item from ``graph``."""
        JR, Run = self.JobRun, self.Run
        condition = (JR.status == view.status.value) & (JR.generation == view.generation)
        waiting = view.status is JobStatus.PENDING and view.generation == 0 and graph is not None
        actions: list[Action] = [
            *(self._written(graph, view.job, generation=False) if waiting else []),
            JR.status.set(status.value),
            JR.generation.add(1),
            JR.error.remove(),
            JR.lease_expires_at.remove(),
            # a new life starts from the beginning, not from the last one's checkpoint
            JR.checkpoint.remove(),
            JR.continuations.remove(),
            JR.continuing.remove(),
        ]
        if status is JobStatus.SUCCEEDED:
            actions += [
                JR.reason.set(reason or "marked succeeded by an operator"),
                JR.finished_at.set(now or 0),
            ]
        else:
            actions += [
                JR.attempts.set(0),
                JR.reason.remove(),
                JR.finished_at.remove(),
                JR.duration_s.remove(),
                JR.started_at.remove(),
            ]
            actions.append(
                JR.enqueued_at.set(now or 0) if status is JobStatus.QUEUED else JR.enqueued_at.remove()
            )
        run_actions = self._counted(status, old=view.status)
        slot = graph.slots.get(view.job) if graph is not None else None
        sink: list[Action] = []
        if slot is not None and graph is not None and view.status.terminal != status.terminal:
            sink = self._sink_actions(slot, graph.expires_at, ended=status.terminal)
        try:
            with TransactWrite(connection=self._connection) as tx:
                tx.update(
                    JR(_run_pk(view.run_id), f"JOB#{view.job}"),
                    actions=actions,
                    condition=(JR.pk.does_not_exist() | condition) if waiting else condition,
                )
                if run_actions:
                    tx.update(Run(_run_pk(view.run_id), "RUN"), actions=run_actions)
                if sink and slot is not None:
                    tx.update(self._shard(view.run_id, slot), actions=sink)
        except TransactWriteError as exc:
            if _condition_failed(exc):
                return False
            raise StoreError(f"resetting {view.job} of run {view.run_id}: {exc}") from exc
        return True

    def reopen_run(self, run_id: str, now: float) -> bool:
        """A terminal run goes back to RUNNING (a rerun, or an operator's mark)."""
        Run = self.Run
        try:
            Run(_run_pk(run_id), "RUN").update(
                actions=[
                    Run.status.set(RunStatus.RUNNING.value),
                    Run.finished_at.remove(),
                    Run.cancel_requested_at.remove(),
                    Run.touched.set(1),
                ],
                condition=Run.status.is_in(
                    RunStatus.SUCCEEDED.value,
                    RunStatus.FAILED.value,
                    RunStatus.CANCELLED.value,
                    RunStatus.RUNNING.value,
                ),
            )
        except UpdateError as exc:
            if _condition_failed(exc):
                return False
            raise StoreError(f"reopening run {run_id}: {exc}") from exc
        return True

    def mark_deadline_reported(self, run_id: str, now: float) -> bool:
        """Record that the run's missed deadline was reported; False if it already was."""
        item = self.Run(_run_pk(run_id), "RUN")
        try:
            item.update(
                actions=[self.Run.deadline_reported.set(now)],
                condition=self.Run.deadline_reported.does_not_exist() & self.Run.pk.exists(),
            )
        except UpdateError as exc:
            if _condition_failed(exc):
                return False
            raise StoreError(f"updating run {run_id}: {exc}") from exc
        return True

    def runs_of_schedule(self, schedule: str, limit: int = 20) -> list[RunView]:
        """The runs of a schedule, newest first."""
        try:
            keys = [
                i.run_id
                for i in self.Run.by_schedule.query(
                    f"SCHEDULE#{schedule}", scan_index_forward=False, limit=limit
                )
            ]
        except PynamoDBException as exc:
            raise StoreError(f"listing runs of {schedule}: {exc}") from exc
        runs = [self.get_run(k) for k in keys]
        return [r for r in runs if r is not None]

    def runs_in_states(
        self,
        schedule: str,
        statuses: tuple[RunStatus, ...],
        trigger: str | None = None,
        not_trigger: str | None = None,
    ) -> list[RunView]:
        """The schedule's runs in one of ``statuses`` (of ``trigger``, or of any trigger but
        ``not_trigger``), oldest fire time first (the by-schedule index projects both: the
        query filters on them, and only the matches are read in full)."""
        wanted = {s.value for s in statuses}
        try:
            keys = [
                i.run_id
                for i in self.Run.by_schedule.query(
                    f"SCHEDULE#{schedule}",
                    scan_index_forward=True,
                    filter_condition=self.Run.status.is_in(*wanted),
                )
                if i.status in wanted
                and (trigger is None or i.trigger == trigger)
                and (not_trigger is None or i.trigger != not_trigger)
            ]
        except PynamoDBException as exc:
            raise StoreError(f"listing runs of {schedule}: {exc}") from exc
        runs = [self.get_run(k) for k in keys]
        return [r for r in runs if r is not None and r.status.value in wanted]

    # -- job-runs -----------------------------------------------------------------------------

    def job_names(self, run_id: str) -> set[str]:
        try:
            return {
                i.job
                for i in self.JobRun.query(
                    _run_pk(run_id),
                    self.JobRun.sk.startswith("JOB#"),
                    consistent_read=True,
                    attributes_to_get=["job"],
                )
            }
        except PynamoDBException as exc:
            raise StoreError(f"listing jobs of run {run_id}: {exc}") from exc

    def _new_job_run(self, run: RunGraph, name: str, status: JobStatus, now: float) -> _JobRunItem:
        """A whole job-run item, from the run's graph snapshot: RUNNING for a first claim (the
        job had no item while it waited), or the unchanging attributes a skip, a cancel or a mark
        sets (``_written``)."""
        node = run.nodes[name]
        return self.JobRun(
            _run_pk(run.run_id),
            f"JOB#{name}",
            run_id=run.run_id,
            job=name,
            group=node.group,
            schedule=run.schedule,
            scheduled_time=run.scheduled_time,
            status=status.value,
            function=node.function,
            depends_on=list(node.depends_on),
            dependents=list(node.dependents),
            dependent_fan_in=list(node.dependent_fan_in),
            timeout_s=node.timeout_s,
            max_attempts=node.max_attempts,
            max_continuations=(
                node.max_continuations if node.max_continuations != DEFAULT_MAX_CONTINUATIONS else None
            ),
            params=json.dumps(node.params, sort_keys=True),
            expires_at=run.expires_at,
        )

    def job_runs(
        self, run_id: str, include_waiting: bool = True, roots_sent: bool = False
    ) -> list[JobRunView]:
        """The run's job-runs. A job that has not started, been skipped or been cancelled has no
        item yet (it is written then, which saves a write per job); ``include_waiting`` adds
        those as PENDING, from the run's graph snapshot, or as QUEUED for a root when
        ``roots_sent`` (the run is RUNNING: its dispatch sent every root's message)."""
        try:
            items = self.JobRun.query(
                _run_pk(run_id), self.JobRun.sk.startswith("JOB#"), consistent_read=True
            )
            views = [_job_view(i) for i in items]
        except PynamoDBException as exc:
            raise StoreError(f"reading jobs of run {run_id}: {exc}") from exc
        if not include_waiting:
            return views
        graph = self.load_run_graph(run_id)
        written = {v.job for v in views}
        if graph is not None:
            views += [
                _waiting_view(graph, name, queued=roots_sent and not graph.nodes[name].depends_on)
                for name in graph.nodes
                if name not in written
            ]
        return views

    def get_job_run(self, run_id: str, job: str, include_waiting: bool = True) -> JobRunView | None:
        """One job-run; None if the run has no such job. A job with no item yet is waiting: with
        ``include_waiting`` it is described, PENDING, from the run's graph snapshot."""
        try:
            return _job_view(self.JobRun.get(_run_pk(run_id), f"JOB#{job}", consistent_read=True))
        except self.JobRun.DoesNotExist:
            pass
        except PynamoDBException as exc:
            raise StoreError(f"reading job {job} of run {run_id}: {exc}") from exc
        graph = self.load_run_graph(run_id) if include_waiting else None
        return _waiting_view(graph, job) if graph is not None and job in graph.nodes else None

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
    ) -> JobRunView | None:
        """Claim a job-run for one attempt; None if someone else holds or finished it.

        Claimable: a job-run with no item yet (a root, whose message the dispatcher sent, or a
        dependent, whose message is sent once its upstreams are done: neither writes it), QUEUED
        (a retry, a restarted job), PENDING (reset to wait by an operator), or RUNNING with an
        expired lease (its executor was killed), and with attempts left. The generation must
        match, so a message from before a replay cannot claim the new one. Taking over an expired
        lease records the lost attempt in the history. A job-run QUEUED by its own checkpoint is
        claimed as a continuation of the same attempt (by whichever message of its generation
        comes first), without counting an attempt. A first claim writes the item (from ``graph``):
        it had none while it waited. ``continuation``: the message is the job's own,
        sent at its checkpoint, so that is tried first (no failed writes on the way).
        """
        JR = self.JobRun
        item = JR(_run_pk(run_id), f"JOB#{job}")
        resume: list[Action] = [
            JR.status.set(JobStatus.RUNNING.value),
            JR.continuing.remove(),
            JR.attempt_started_at.set(now),
            JR.lease_expires_at.set(now + lease_s),
        ]
        waiting = (
            (JR.generation == generation) & (JR.status == JobStatus.QUEUED.value) & JR.continuing.exists()
        )
        if continuation and self._update_if(item, resume, waiting, f"continuing {job} of run {run_id}"):
            return _job_view(item)
        node = graph.nodes.get(job) if graph is not None else None
        if graph is not None and node is not None and generation == 0 and not continuation:
            # A job-run's first claim: its item does not exist yet (the dispatcher writes none),
            # so it is put whole (one write, as the update below would be, and much lighter to
            # apply).
            new = self._new_job_run(graph, job, JobStatus.RUNNING, now)
            new.attempts, new.started_at, new.attempt_started_at = 1, now, now
            new.lease_expires_at, new.enqueued_at = now + lease_s, queued_at
            try:
                new.save(condition=JR.pk.does_not_exist())
                return _job_view(new)
            except PutError as exc:
                if not _condition_failed(exc):
                    raise StoreError(f"claiming {job} of run {run_id}: {exc}") from exc
            # It exists (a retry, a continuation, a duplicate): the update below decides.
        claim_actions: list[Action] = [
            JR.status.set(JobStatus.RUNNING.value),
            JR.attempts.add(1),
            JR.started_at.set(JR.started_at | now),
            JR.attempt_started_at.set(now),
            JR.lease_expires_at.set(now + lease_s),
        ]
        if queued_at is not None:
            claim_actions.append(JR.enqueued_at.set(JR.enqueued_at | queued_at))
        queued = (
            (JR.generation == generation)
            & (JR.attempts < JR.max_attempts)
            & JR.status.is_in(JobStatus.QUEUED.value, JobStatus.PENDING.value)
            & JR.continuing.does_not_exist()
        )
        if self._update_if(item, claim_actions, queued, f"claiming {job} of run {run_id}"):
            return _job_view(item)
        held = self.get_job_run(run_id, job, include_waiting=False)
        if held is not None and held.continuing and held.generation == generation:
            if not continuation and self._update_if(
                item, resume, waiting, f"continuing {job} of run {run_id}"
            ):
                return _job_view(item)
            return None
        # Not QUEUED: an attempt whose executor died (RUNNING, lease expired) may be taken over.
        if (
            held is None
            or held.generation != generation
            or held.status is not JobStatus.RUNNING
            or held.lease_expires_at is None
            or held.lease_expires_at >= now
            or held.attempts >= held.max_attempts
        ):
            return None
        lost = {
            "attempt": held.attempts,
            "started_at": iso(held.attempt_started_at) if held.attempt_started_at else None,
            "finished_at": None,
            "duration_s": None,
            "error": "the executor stopped before recording an outcome (a crash, or the Lambda "
            "timeout); its lease expired",
        }
        takeover = (
            (JR.generation == generation)
            & (JR.attempts == held.attempts)
            & (JR.status == JobStatus.RUNNING.value)
            & (JR.lease_expires_at < now)
        )
        actions = [*claim_actions, JR.history.set((JR.history | []).append([json.dumps(lost)]))]
        if self._update_if(item, actions, takeover, f"re-claiming {job} of run {run_id}"):
            return _job_view(item)
        return None

    def _written(self, graph: RunGraph | None, job: str, generation: bool = True) -> list[Action]:
        """The job-run's unchanging attributes (those of ``_new_job_run``), from the run's graph
        snapshot: set by a write that may create the item (a skip, a cancel, an operator's
        mark). Setting them again on an existing item changes nothing."""
        if graph is None or job not in graph.nodes:
            return []
        JR = self.JobRun
        whole = self._new_job_run(graph, job, JobStatus.PENDING, 0.0)
        actions: list[Action] = [
            getattr(JR, name).set(value)
            for name, value in whole.attribute_values.items()
            if name not in _CHANGING and value is not None
        ]
        if generation:  # (a reset adds to it instead: one action per attribute)
            actions.append(JR.generation.set(JR.generation | 0))
        return actions

    def _update_if(
        self, item: Any, actions: Sequence[Action], condition: Any, doing: str, read_back: bool = True
    ) -> bool:
        """A conditional update; False if the condition failed. ``read_back``: ``item`` gets the
        item as written (otherwise nothing comes back, which is lighter on both ends)."""
        try:
            if read_back:
                item.update(actions=list(actions), condition=condition)
            else:
                item._get_connection().update_item(
                    item.pk,
                    item.sk,
                    actions=list(actions),
                    condition=condition,
                    return_values="NONE",
                )
        except UpdateError as exc:
            if _condition_failed(exc):
                return False
            raise StoreError(f"{doing}: {exc}") from exc
        return True

    def finish(
        self,
        view: JobRunView,
        status: JobStatus,
        now: float,
        duration_s: float,
        error: str | None = None,
        history_entry: dict[str, Any] | None = None,
        graph: RunGraph | None = None,
    ) -> bool:
        """Record a terminal status for the attempt ``view`` holds. False if the attempt no
        longer holds the job-run (its lease expired and another attempt took over).

        A success is one conditional write: nothing on the run counts it (the dependents'
        releases read it; a sink's end is counted next, in its shard: ``mark_sink``). Any other
        outcome is counted on the run, and a sink's in its shard, in the same transaction, so
        the counts can never miss or double a job."""
        JR, Run = self.JobRun, self.Run
        actions: list[Action] = [
            JR.status.set(status.value),
            JR.finished_at.set(now),
            JR.duration_s.set(round(duration_s, 3)),
            JR.lease_expires_at.remove(),
        ]
        if error is not None:
            actions.append(JR.error.set(error))
        if history_entry is not None:
            actions.append(JR.history.set(_history(view, history_entry)))
        held = (JR.status == JobStatus.RUNNING.value) & (JR.attempts == view.attempts)
        item = JR(_run_pk(view.run_id), f"JOB#{view.job}")
        if status is JobStatus.SUCCEEDED:
            # nothing is read back: the caller knows what it wrote
            return self._update_if(
                item, actions, held, f"finishing {view.job} of run {view.run_id}", read_back=False
            )
        slot = graph.slots.get(view.job) if graph is not None else None
        try:
            with TransactWrite(connection=self._connection) as tx:
                tx.update(item, actions=actions, condition=held)
                tx.update(Run(_run_pk(view.run_id), "RUN"), actions=self._counted(status))
                if slot is not None and graph is not None:
                    sink = self._sink_actions(slot, graph.expires_at, ended=True)
                    tx.update(self._shard(view.run_id, slot), actions=sink)
        except TransactWriteError as exc:
            if _condition_failed(exc):
                return False
            raise StoreError(f"finishing {view.job} of run {view.run_id}: {exc}") from exc
        return True

    def _counted(self, status: JobStatus, old: JobStatus | None = None) -> list[Action]:
        """The run's counter updates for a job-run going from ``old`` to ``status``."""
        Run = self.Run
        counters = {
            JobStatus.SUCCEEDED: "succeeded",
            JobStatus.FAILED: "failed",
            JobStatus.SKIPPED: "skipped",
            JobStatus.CANCELLED: "cancelled",
        }
        # keyed by name: PynamoDB attributes compare into conditions, not booleans
        steps: dict[str, int] = {}
        for state, step in ((old, -1), (status, 1)):
            if state is not None and state.terminal:
                steps[counters[state]] = steps.get(counters[state], 0) + step
        return [getattr(Run, name).add(step) for name, step in steps.items() if step]

    def checkpoint(self, view: JobRunView, cursor: str, entry: dict[str, Any], now: float) -> bool:
        """The attempt ``view`` holds ends its invocation at a checkpoint: the job-run is QUEUED
        again to continue from ``cursor`` (JSON), with the invocation listed in its
        continuations. False if the attempt no longer holds the job-run."""
        JR = self.JobRun
        item = JR(_run_pk(view.run_id), f"JOB#{view.job}")
        actions: list[Action] = [
            JR.status.set(JobStatus.QUEUED.value),
            JR.checkpoint.set(cursor),
            JR.continuing.set(1),
            JR.continuations.set((JR.continuations | []).append([json.dumps(entry)])),
            JR.lease_expires_at.remove(),
            JR.enqueued_at.set(now),
        ]
        held = (
            (JR.status == JobStatus.RUNNING.value)
            & (JR.attempts == view.attempts)
            & (JR.generation == view.generation)
        )
        return self._update_if(item, actions, held, f"checkpointing {view.job} of run {view.run_id}")

    def retry_later(self, view: JobRunView, error: str, history_entry: dict[str, Any]) -> bool:
        """Give a failed attempt back: the job-run is QUEUED again, with its error recorded."""
        JR = self.JobRun
        item = JR(_run_pk(view.run_id), f"JOB#{view.job}")
        try:
            item.update(
                actions=[
                    JR.status.set(JobStatus.QUEUED.value),
                    JR.error.set(error),
                    JR.lease_expires_at.remove(),
                    JR.history.set(_history(view, history_entry)),
                ],
                condition=(JR.status == JobStatus.RUNNING.value) & (JR.attempts == view.attempts),
            )
        except UpdateError as exc:
            if _condition_failed(exc):
                return False
            raise StoreError(f"recording the failure of {view.job}: {exc}") from exc
        return True

    def skip(self, graph: RunGraph, job: str, reason: str, now: float) -> bool:
        """PENDING -> SKIPPED with its reason, counted on the run; False if it was not PENDING."""
        return self._end_unstarted(graph, job, JobStatus.SKIPPED, reason, (JobStatus.PENDING,), now)

    def _end_unstarted(
        self,
        graph: RunGraph,
        job: str,
        status: JobStatus,
        reason: str,
        expected: tuple[JobStatus, ...],
        now: float,
    ) -> bool:
        """A job-run that never started ends in ``status`` with its reason (its item is written
        if it had none: it was waiting), and is counted on the run in the same transaction, so
        the run's counters can never miss or double it."""
        JR, Run = self.JobRun, self.Run
        run_id = graph.run_id
        slot = graph.slots.get(job)
        try:
            with TransactWrite(connection=self._connection) as tx:
                tx.update(
                    JR(_run_pk(run_id), f"JOB#{job}"),
                    actions=[
                        *self._written(graph, job),
                        JR.status.set(status.value),
                        JR.reason.set(reason),
                        JR.finished_at.set(now),
                    ],
                    condition=JR.pk.does_not_exist() | JR.status.is_in(*(e.value for e in expected)),
                )
                tx.update(Run(_run_pk(run_id), "RUN"), actions=self._counted(status))
                if slot is not None:
                    sink = self._sink_actions(slot, graph.expires_at, ended=True)
                    tx.update(self._shard(run_id, slot), actions=sink)
        except TransactWriteError as exc:
            if _condition_failed(exc):
                return False
            raise StoreError(f"ending {job} of run {run_id} as {status.value}: {exc}") from exc
        return True

    def states(self, run_id: str, jobs: Iterable[str]) -> dict[str, JobState]:
        """The status and generation of each named job-run of the run (one that does not exist
        is left out): strongly consistent reads of just those two attributes, 100 keys per
        ``BatchGetItem`` (one key: a ``GetItem``). A release reads what it decides on instead
        of writing to count."""
        keys = [(_run_pk(run_id), f"JOB#{job}") for job in sorted(set(jobs))]
        if not keys:
            return {}
        JR = self.JobRun
        wanted = ["job", "status", "generation"]
        try:
            if len(keys) == 1:  # a chain's hand-off: the one dependent (a GetItem, lighter)
                try:
                    items = [JR.get(*keys[0], consistent_read=True, attributes_to_get=wanted)]
                except JR.DoesNotExist:
                    return {}
            else:
                items = list(JR.batch_get(keys, consistent_read=True, attributes_to_get=wanted))
            return {i.job: JobState(JobStatus(i.status), int(i.generation or 0)) for i in items}
        except PynamoDBException as exc:
            raise StoreError(f"reading the state of jobs of run {run_id}: {exc}") from exc


class JobQueue:
    """The FIFO job queue and its dead-letter queue."""

    def __init__(self, queue_url: str, dlq_url: str | None = None, client: Any = None) -> None:
        if client is None:
            import boto3

            client = boto3.client("sqs")
        self.client = client
        self.queue_url = queue_url
        self.dlq_url = dlq_url

    def send(self, messages: Sequence[JobMessage]) -> None:
        """Enqueue with ``SendMessageBatch``. ``MessageGroupId`` is the job name: one lane per
        job, so a job never runs twice at once while different jobs run in parallel."""
        for start in range(0, len(messages), SQS_BATCH):
            chunk = messages[start : start + SQS_BATCH]
            entries = [
                {
                    "Id": str(i),
                    "MessageBody": m.body(),
                    "MessageGroupId": m.job,
                    "MessageDeduplicationId": m.dedup_id(),
                }
                for i, m in enumerate(chunk)
            ]
            try:
                result = self.client.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            except Exception as exc:  # botocore's ClientError / EndpointConnectionError
                raise QueueError(f"sending {len(entries)} job messages: {exc}") from exc
            failed = result.get("Failed") or []
            if failed:
                names = ", ".join(f"{chunk[int(f['Id'])].job} ({f.get('Code')})" for f in failed)
                raise QueueError(f"SQS refused job messages for {names}")

    def dead_letter(self, body: str, dedup_id: str, error: str) -> None:
        """Put a message on the DLQ with the error that put it there.

        Each dead letter is a message group of its own (its dedup id): a FIFO queue hands out
        nothing more of a group while one of its messages is in flight, and the DLQ is browsed
        and replayed in any order, so one group per job would hide all but the first few.
        """
        try:
            self.client.send_message(
                QueueUrl=self._dlq(),
                MessageBody=body,
                MessageGroupId=dedup_id,
                MessageDeduplicationId=dedup_id,
                MessageAttributes={"error": {"DataType": "String", "StringValue": error[:1024] or "-"}},
            )
        except Exception as exc:
            raise QueueError(f"sending to the dead-letter queue: {exc}") from exc

    def _dlq(self) -> str:
        if not self.dlq_url:
            raise QueueError("no dead-letter queue configured (DLQ_URL)")
        return self.dlq_url

    def peek_dead_letters(self, limit: int, hide_s: int) -> list[DeadLetter]:
        """Receive up to ``limit`` dead letters, hiding each for ``hide_s`` seconds so that one
        pass sees each message once. Give back what is not deleted with ``unhide``."""
        seen: dict[str, DeadLetter] = {}
        while len(seen) < limit:
            try:
                messages = self.client.receive_message(
                    QueueUrl=self._dlq(),
                    MaxNumberOfMessages=min(SQS_BATCH, limit - len(seen)),
                    VisibilityTimeout=hide_s,
                    WaitTimeSeconds=0,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                ).get("Messages", [])
            except Exception as exc:
                raise QueueError(f"reading the dead-letter queue: {exc}") from exc
            fresh = [m for m in messages if m["MessageId"] not in seen]
            if not fresh:
                break
            for m in fresh:
                attributes = m.get("Attributes", {})
                sent = attributes.get("SentTimestamp")
                seen[m["MessageId"]] = DeadLetter(
                    message_id=m["MessageId"],
                    receipt_handle=m["ReceiptHandle"],
                    body=m.get("Body", ""),
                    error=m.get("MessageAttributes", {}).get("error", {}).get("StringValue", ""),
                    dead_lettered_at=int(sent) / 1000 if sent else None,
                    receive_count=int(attributes.get("ApproximateReceiveCount", 0)),
                )
        return list(seen.values())

    def unhide(self, letters: Sequence[DeadLetter]) -> None:
        """Make received dead letters visible again at once."""
        for start in range(0, len(letters), SQS_BATCH):
            entries = [
                {"Id": str(i), "ReceiptHandle": m.receipt_handle, "VisibilityTimeout": 0}
                for i, m in enumerate(letters[start : start + SQS_BATCH])
            ]
            # Best effort: a letter that cannot be given back (an SQS refusal, or moto, which
            # counts the 12-hour visibility limit from the send rather than the receive) simply
            # shows again when its hiding time is over.
            with contextlib.suppress(Exception):
                self.client.change_message_visibility_batch(QueueUrl=self._dlq(), Entries=entries)

    def delete_dead_letter(self, letter: DeadLetter) -> None:
        try:
            self.client.delete_message(QueueUrl=self._dlq(), ReceiptHandle=letter.receipt_handle)
        except Exception as exc:
            raise QueueError(f"deleting dead letter {letter.message_id}: {exc}") from exc

    def delay(self, queue_arn: str, receipt_handle: str, seconds: int) -> None:
        """Hide a received message for ``seconds``: FIFO queues reject per-message delays, so a
        retry's backoff is its visibility (aws-facts: SQS FIFO)."""
        try:
            self.client.change_message_visibility(
                QueueUrl=self._url_of(queue_arn),
                ReceiptHandle=receipt_handle,
                VisibilityTimeout=max(0, min(int(seconds), 43_200)),
            )
        except Exception as exc:
            raise QueueError(f"changing a message's visibility: {exc}") from exc

    def _url_of(self, queue_arn: str) -> str:
        name = queue_arn.rsplit(":", 1)[-1]
        if self.queue_url.endswith("/" + name):
            return self.queue_url
        raise QueueError(f"a message from queue {name}, which is not this stack's job queue")


def _num(value: Any) -> float | None:
    return None if value is None else float(value)


def _run_view(item: Any) -> RunView:  # Any: PynamoDB attributes read as their values
    return RunView(
        run_id=item.run_id,
        schedule=item.schedule,
        scheduled_time=float(item.scheduled_time),
        trigger=item.trigger,
        status=RunStatus(item.status),
        job_count=int(item.job_count),
        succeeded=int(item.succeeded or 0),
        failed=int(item.failed or 0),
        skipped=int(item.skipped or 0),
        cancelled=int(item.cancelled or 0),
        created_at=_num(item.created_at),
        started_at=_num(item.started_at),
        finished_at=_num(item.finished_at),
        parameters=json.loads(item.parameters or "{}"),
        request_hash=item.request_hash or "",
        deadline_at=_num(item.deadline_at),
        cancel_requested_at=_num(item.cancel_requested_at),
        reason=item.reason,
        max_active=int(item.max_active) if item.max_active is not None else None,
        sink_count=int(item.sink_count or 0),
        touched=bool(item.touched),
    )


def _history(view: JobRunView, entry: dict[str, Any]) -> Any:  # Any: PynamoDB types list values
    """The attempt history with ``entry`` added, written whole: every write that adds to it is
    conditional on the attempt ``view`` holds, so nothing else changed it (and a whole value
    is cheaper to apply than a list_append)."""
    return [json.dumps(h) for h in view.history] + [json.dumps(entry)]


def _waiting_view(graph: RunGraph, name: str, queued: bool = False) -> JobRunView:
    """A job-run that has no item yet, as its graph snapshot describes it: PENDING, or QUEUED (a
    root whose message was sent)."""
    node = graph.nodes[name]
    return JobRunView(
        run_id=graph.run_id,
        job=name,
        status=JobStatus.QUEUED if queued else JobStatus.PENDING,
        depends_on=node.depends_on,
        dependents=node.dependents,
        attempts=0,
        max_attempts=node.max_attempts,
        timeout_s=node.timeout_s,
        function=node.function,
        group=node.group,
        generation=0,
        params=dict(node.params),
        dependent_fan_in=node.dependent_fan_in,
        schedule=graph.schedule,
        scheduled_time=graph.scheduled_time,
        max_continuations=node.max_continuations,
    )


def _job_view(item: Any) -> JobRunView:
    return JobRunView(
        run_id=item.run_id,
        job=item.job,
        status=JobStatus(item.status),
        depends_on=tuple(item.depends_on or ()),
        dependents=tuple(item.dependents or ()),
        attempts=int(item.attempts or 0),
        max_attempts=int(item.max_attempts),
        timeout_s=int(item.timeout_s),
        function=item.function,
        group=item.group,
        generation=int(item.generation or 0),
        params=json.loads(item.params or "{}"),
        dependent_fan_in=tuple(int(n) for n in (item.dependent_fan_in or ())),
        enqueued_at=_num(item.enqueued_at),
        started_at=_num(item.started_at),
        attempt_started_at=_num(item.attempt_started_at),
        finished_at=_num(item.finished_at),
        duration_s=_num(item.duration_s),
        lease_expires_at=_num(item.lease_expires_at),
        error=item.error,
        reason=item.reason,
        schedule=item.schedule,
        scheduled_time=float(item.scheduled_time),
        history=[json.loads(h) for h in (item.history or [])],
        checkpoint=json.loads(item.checkpoint) if item.checkpoint is not None else None,
        continuations=[json.loads(c) for c in (item.continuations or [])],
        continuing=bool(item.continuing),
        max_continuations=int(
            item.max_continuations if item.max_continuations is not None else DEFAULT_MAX_CONTINUATIONS
        ),
    )
