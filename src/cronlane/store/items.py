"""The table's items as PynamoDB models, and their binding to a table. The key design is in
docs/state.md:

| item      | pk               | sk             | GSI keys                                              |
|-----------|------------------|----------------|-------------------------------------------------------|
| run       | ``RUN#<run id>`` | ``RUN``        | by-schedule: ``SCHEDULE#<name>`` / ``<time>#<run id>`` |
|           |                  |                | active-by-schedule (only while active): the same keys |
| graph     | ``RUN#<run id>`` | ``GRAPH#<n>``  | -                                                     |
| job-run   | ``RUN#<run id>``(*)| ``JOB#<job>``  | -                                                     |
| sinks     | ``RUN#<run id>``(*)| ``SINKS#<n>``  | -                                                     |
| places    | ``RUN#<run id>`` | ``PLACES``     | -                                                     |
| join      | ``RUN#<run id>``(*)| ``JOIN#<job>#<n>``, ``JOIN#<job>`` | -                                  |
| result    | ``RUN#<run id>``(*)| ``RESULT#<job>#<life>.<attempt>`` | -                                  |
| schedule  | ``SCHEDULE#<n>`` | ``STATE``      | -                                                     |
| watch     | ``SCHEDULE#<n>`` | ``WATCH``      | -                                                     |
| waiting   | ``SCHEDULE#<n>`` | ``BUFFERED``   | -                                                     |
| slots     | ``SCHEDULE#<n>`` | ``BACKFILL``   | -                                                     |
| counter   | ``CRONLANE``     | ``LANES``      | -                                                     |
| audit     | ``AUDIT``        | ``<time>#<id>``| -                                                     |

(*) or, in a run of more than 200 jobs, one of ``RUN#<run id>#<k>`` (``store.keys``: the spread).

This is also the only module that touches PynamoDB's private parts, in two places (``share_client``
and ``update_without_reading``); ``check_pynamodb`` says whether they are still there, and a test
runs it so that an upgrade that moves them fails loudly rather than at run time.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pynamodb.attributes import (
    BinaryAttribute,
    ListAttribute,
    NumberAttribute,
    NumberSetAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
)
from pynamodb.connection import Connection
from pynamodb.exceptions import PynamoDBException, TransactWriteError
from pynamodb.expressions.operand import Path
from pynamodb.indexes import GlobalSecondaryIndex, IncludeProjection
from pynamodb.models import Model

from cronlane.store.keys import run_pk  # noqa: F401  (the stores' modules import it from here)

TARGET = "6.1.0"  # the PynamoDB version the private access below was written against
CONDITION_FAILED = "ConditionalCheckFailedException"


def time_key(scheduled_time: float, run_id: str) -> str:
    """A run's place among its schedule's runs: its fire time to the millisecond, fixed width
    (``2026-11-28T02:00:00.000Z``: a time with a fraction sorts after the whole second), then its
    id. Runs written before this had no fraction when there was none; they sort as before."""
    whole = datetime.fromtimestamp(scheduled_time, tz=UTC)
    return f"{whole:%Y-%m-%dT%H:%M:%S}.{whole.microsecond // 1000:03d}Z#{run_id}"


INDEXED = ["run_id", "schedule", "scheduled_time", "trigger", "status", "job_count", "created_at"]


class _BySchedule(GlobalSecondaryIndex["RunItem"]):
    class Meta:
        index_name = "by-schedule"
        projection = IncludeProjection(INDEXED)

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class _ActiveBySchedule(GlobalSecondaryIndex["RunItem"]):
    """A sparse index: a run is in it only while it is CREATING, RUNNING or BUFFERED (its
    ``active_pk`` is set then, and removed when it ends), so a tick finds the active runs of its
    schedule however many ended runs came after them."""

    class Meta:
        index_name = "active-by-schedule"
        projection = IncludeProjection(INDEXED)

    active_pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class RunItem(Model):
    by_schedule: _BySchedule  # set per table by ``bind``
    active_by_schedule: _ActiveBySchedule
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
    reopened = NumberAttribute(null=True)  # how many times (absent: never)
    restart = UnicodeAttribute(null=True)  # an operator's restart under way (model.Restart, JSON)
    restart_id = UnicodeAttribute(null=True)  # its id, for the condition that ends it
    overrides = ListAttribute(of=UnicodeAttribute, null=True)  # reruns with new parameters (JSON each)
    slot = NumberAttribute(null=True)  # 1 while a backfill run holds one of its backfill's slots
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
    active_pk = UnicodeAttribute(null=True)  # SCHEDULE#<name> while the run is active, else absent
    spread = NumberAttribute(null=True)  # the keys its job-runs spread over (store.keys; absent: 1)
    expires_at = NumberAttribute()


class GraphItem(Model):
    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    data = BinaryAttribute(legacy_encoding=False)
    schedule = UnicodeAttribute(null=True)
    scheduled_time = NumberAttribute(null=True)
    spread = NumberAttribute(null=True)  # as the run's
    max_parallel = NumberAttribute(null=True)  # the run's width (cronlane.places; absent: none)
    expires_at = NumberAttribute()


class PlacesItem(Model):
    """A run's places (cronlane.places), in a run with a width: JSON of who holds one and who
    waits, and the version its conditional writes go by."""

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    data = UnicodeAttribute()
    version = NumberAttribute()
    expires_at = NumberAttribute()


class JobRunItem(Model):
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
    # A handed-off attempt (cronlane.targets.HandOff, as JSON) and the completions that came late.
    hand_off = UnicodeAttribute(null=True)
    late_completions = ListAttribute(of=UnicodeAttribute, null=True)
    result_key = UnicodeAttribute(null=True)  # the life and attempt whose RESULT# item counts
    result = UnicodeAttribute(null=True)  # a small result, kept here (results.inline): no RESULT# item
    # Its lane and its dependents' (cronlane.lanes); absent: 0 and none.
    lane = NumberAttribute(null=True)
    chain = UnicodeAttribute(null=True)  # JobRunView.chain
    dependent_lanes = ListAttribute(of=NumberAttribute, null=True)
    # 1: a wide job (model.lists_kept): the four lists above are in the graph snapshot only
    in_graph = NumberAttribute(null=True)
    expires_at = NumberAttribute()


class ResultItem(Model):
    """A job's result larger than ``results.INLINE_CHARS`` (cronlane.results): an item of its
    own, so the job-run item, which the releases read, stays small."""

    pk = UnicodeAttribute(hash_key=True)  # RUN#<run id>
    sk = UnicodeAttribute(range_key=True)  # RESULT#<job>#<result_key>
    key = UnicodeAttribute()  # result_key: the life and attempt that wrote it
    data = UnicodeAttribute()  # the result, as JSON
    expires_at = NumberAttribute()


class SinkShardItem(Model):
    """Which sinks of a run have ended (their numbers, ``model.sink_slots``): a set, so counting
    one again changes nothing, and at most ``SINKS_PER_SHARD`` of them, so each write is one
    unit however large the run."""

    pk = UnicodeAttribute(hash_key=True)  # RUN#<run id>
    sk = UnicodeAttribute(range_key=True)  # SINKS#<shard>
    done = NumberSetAttribute(null=True)
    size = NumberAttribute()
    expires_at = NumberAttribute()


class ScheduleItem(Model):
    pk = UnicodeAttribute(hash_key=True)  # SCHEDULE#<name>
    sk = UnicodeAttribute(range_key=True)  # STATE
    paused = NumberAttribute(default=0)
    reason = UnicodeAttribute(null=True)
    updated_at = NumberAttribute()


class WatchItem(Model):
    """What the dispatcher knows of a schedule's fire times: its definition (expression and
    zone), since when, and up to when its fire times were checked for missing runs."""

    pk = UnicodeAttribute(hash_key=True)  # SCHEDULE#<name>
    sk = UnicodeAttribute(range_key=True)  # WATCH
    definition = UnicodeAttribute()
    since = NumberAttribute()
    checked_until = NumberAttribute()


class WaitingItem(Model):
    """A schedule's BUFFERED runs, read strongly consistently (the by-schedule indexes may not
    show a run written a moment ago): ``waiting`` holds the ``time_key`` of each, added in the
    transaction that creates the run, so it never misses one; an entry whose run has started
    since is removed as it is found. Two per schedule: ``BUFFERED`` (buffered ticks, caught-up
    runs) and ``BACKFILL``, which also counts the backfill runs that are active (``active``): a
    run takes a slot as it starts, conditionally (at most its ``max_active``), and gives it back
    as it closes."""

    pk = UnicodeAttribute(hash_key=True)  # SCHEDULE#<name>
    sk = UnicodeAttribute(range_key=True)  # BUFFERED | BACKFILL
    waiting = UnicodeSetAttribute(null=True)
    active = NumberAttribute(default=0)


COUNTER_PK = "CRONLANE"
LANES_SK = "LANES"  # the runs' lane numbers (cronlane.lanes)


class CounterItem(Model):
    """Counters for the whole table: ``LANES`` holds one per job with more than one lane (an
    attribute ``lane <job>`` each, not declared here: ``count_up``), that numbers the runs of it
    (cronlane.lanes)."""

    pk = UnicodeAttribute(hash_key=True)  # CRONLANE
    sk = UnicodeAttribute(range_key=True)  # LANES


AUDIT_PK = "AUDIT"
AUDIT_SK_PREFIX = "AUDIT#"  # an action on a run, in the run's partition too


class AuditItem(Model):
    """An operator's action (cronlane.audit): one partition for all (actions are rare), sorted
    by time; an action on a run has a copy in the run's partition."""

    pk = UnicodeAttribute(hash_key=True)  # AUDIT, or RUN#<run id>
    sk = UnicodeAttribute(range_key=True)  # [AUDIT#]<ISO time to the millisecond>#<random id>
    at = NumberAttribute()
    action = UnicodeAttribute()
    actor = UnicodeAttribute()
    reason = UnicodeAttribute(null=True)
    run_id = UnicodeAttribute(null=True)
    schedule = UnicodeAttribute(null=True)
    detail = UnicodeAttribute(default="{}")  # JSON
    request_id = UnicodeAttribute(null=True)
    expires_at = NumberAttribute()


@dataclass(frozen=True)
class Items:
    """The item classes bound to one table (its name is known only at run time, from the stack)."""

    Run: type[RunItem]
    Graph: type[GraphItem]
    JobRun: type[JobRunItem]
    Shard: type[SinkShardItem]
    Schedule: type[ScheduleItem]
    Watch: type[WatchItem]
    Waiting: type[WaitingItem]
    Result: type[ResultItem]
    Counter: type[CounterItem]
    Audit: type[AuditItem]
    Places: type[PlacesItem]
    connection: Connection

    @property
    def models(self) -> tuple[type[Model], ...]:
        return (
            self.Run,
            self.Graph,
            self.JobRun,
            self.Shard,
            self.Schedule,
            self.Watch,
            self.Waiting,
            self.Result,
            self.Counter,
            self.Audit,
            self.Places,
        )


def bind(table: str, region: str | None) -> Items:
    def bound(base: type[Model], **extra: Any) -> Any:
        meta = type("Meta", (), {"table_name": table, "region": region})
        return type(base.__name__, (base,), {"Meta": meta, **extra})

    return Items(
        Run=bound(RunItem, by_schedule=_BySchedule(), active_by_schedule=_ActiveBySchedule()),
        Graph=bound(GraphItem),
        JobRun=bound(JobRunItem),
        Shard=bound(SinkShardItem),
        Schedule=bound(ScheduleItem),
        Watch=bound(WatchItem),
        Waiting=bound(WaitingItem),
        Result=bound(ResultItem),
        Counter=bound(CounterItem),
        Audit=bound(AuditItem),
        Places=bound(PlacesItem),
        connection=Connection(region=region),
    )


def condition_failed(exc: PynamoDBException) -> bool:
    """Whether a write failed on its condition (how idempotency shows itself), not otherwise."""
    if exc.cause_response_code == CONDITION_FAILED:
        return True
    if isinstance(exc, TransactWriteError):
        return any(r is not None and r.code == "ConditionalCheckFailed" for r in exc.cancellation_reasons)
    return False


# -- PynamoDB's private parts: only here --------------------------------------------------------


def share_client(items: Items) -> None:
    """Make every model use the one SDK client of ``items.connection``: PynamoDB would make one
    per model, and each costs tens of milliseconds of a cold start. (``Model._get_connection()``
    returns a ``TableConnection`` whose ``connection`` holds the client in ``_client``.)"""
    client = items.connection.client
    for model in items.models:
        model._get_connection().connection._client = client


def update_without_reading(item: Model, actions: list[Any], condition: Any) -> None:
    """A conditional ``UpdateItem`` that asks for nothing back (``ReturnValues=NONE``), lighter on
    both ends than ``Model.update``, which reads the whole item back. (``TableConnection.update_item``
    takes the keys, actions, condition and return_values.)"""
    item._get_connection().update_item(
        item.pk,  # type: ignore[attr-defined]
        item.sk,  # type: ignore[attr-defined]
        actions=actions,
        condition=condition,
        return_values="NONE",
    )


def count_up(item: Model, attributes: list[str]) -> dict[str, int]:
    """Add one to each of the item's number ``attributes`` (named at run time, so not declared on
    its model), in one ``UpdateItem`` that asks back only what it changed: their new values."""
    answer = item._get_connection().update_item(
        item.pk,  # type: ignore[attr-defined]
        item.sk,  # type: ignore[attr-defined]
        actions=[Path([name]).add(1) for name in attributes],
        return_values="UPDATED_NEW",
    )
    changed = answer.get("Attributes", {})
    return {name: int(changed[name]["N"]) for name in attributes}


def check_pynamodb() -> list[str]:
    """What the private access above relies on and the installed PynamoDB lacks ([]: nothing)."""
    from pynamodb.connection.table import TableConnection

    problems: list[str] = []
    if not callable(getattr(Model, "_get_connection", None)):
        problems.append("pynamodb.models.Model has no _get_connection()")
    table = TableConnection("check", region="us-east-1")
    if not hasattr(table, "connection") or not hasattr(table.connection, "_client"):
        problems.append("pynamodb's TableConnection has no connection._client to share a client through")
    try:
        names = set(inspect.signature(TableConnection.update_item).parameters)
    except (TypeError, ValueError):
        names = set()
    missing = {"hash_key", "range_key", "actions", "condition", "return_values"} - names
    if missing:
        problems.append(f"pynamodb's TableConnection.update_item takes no {', '.join(sorted(missing))}")
    return problems
