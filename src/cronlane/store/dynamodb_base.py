"""What the DynamoDB store's two halves share: the table's item classes, bound to it, and one SDK
client for all of them; the sink shards; and the reading of an item into a view."""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

from pynamodb.expressions.update import Action

from cronlane.model import (
    DEFAULT_MAX_CONTINUATIONS,
    JobRunView,
    JobStatus,
    Restart,
    RunStatus,
    RunView,
    SinkSlot,
    Trigger,
)
from cronlane.sdk_errors import dynamodb
from cronlane.store import keys
from cronlane.store.items import Items, SinkShardItem, bind, run_pk, share_client

SPREADS_KEPT = 256  # runs whose spread a process remembers


class DynamoTable:
    """The table, its item classes and the client they share."""

    def __init__(self, table: str, region: str | None = None) -> None:
        self.table = table
        self.items: Items = bind(table, region)
        self.Run = self.items.Run
        self.JobRun = self.items.JobRun
        self._spreads: OrderedDict[str, int] = OrderedDict()  # run -> its spread (store.keys)

    # -- where a run's items are: its spread, known once per process ----------------------------

    def note_spread(self, run_id: str, spread: int) -> None:
        self._spreads[run_id] = spread
        self._spreads.move_to_end(run_id)
        while len(self._spreads) > SPREADS_KEPT:
            self._spreads.popitem(last=False)

    def spread(self, run_id: str) -> int:
        """The run's spread: as created or loaded in this process, else read off its record."""
        known = self._spreads.get(run_id)
        if known is None:
            item = dynamodb(
                f"reading run {run_id}",
                lambda: self.Run.get(
                    run_pk(run_id), "RUN", consistent_read=True, attributes_to_get=["spread", "job_count"]
                ),
                None,
            )
            known = int(item.spread or 1) if item is not None else 1
            if item is not None and item.job_count:  # a skipped run of no jobs may yet be replaced
                self.note_spread(run_id, known)
        return known

    def job_pk(self, run_id: str, job: str) -> str:
        return keys.job_pk(run_id, job, self.spread(run_id))

    def connect(self) -> None:
        """Create the SDK client now, in a Lambda's init phase rather than in the first claim: one
        client, which every item class shares."""
        dynamodb("connecting to DynamoDB", lambda: share_client(self.items))

    def client(self, service: str) -> Any:
        """A client of another AWS service from this store's SDK session (one session: its
        endpoint rules and partition data are loaded once)."""
        connection = self.items.connection
        return connection.session.create_client(service, region_name=connection.region)

    # -- sink shards: where a sink's end is counted ---------------------------------------------

    def _shard(self, run_id: str, slot: SinkSlot) -> SinkShardItem:
        pk = keys.sink_pk(run_id, slot.shard, self.spread(run_id))
        return self.items.Shard(pk, f"SINKS#{slot.shard:04d}")

    def _sink_actions(self, slot: SinkSlot, expires_at: int, ended: bool) -> list[Action]:
        S = self.items.Shard
        numbers = {slot.number}
        return [
            S.done.add(numbers) if ended else S.done.delete(numbers),
            S.size.set(slot.size),
            S.expires_at.set(expires_at),
        ]


def num(value: Any) -> float | None:
    return None if value is None else float(value)


def run_view(item: Any) -> RunView:  # Any: PynamoDB attributes read as their values
    return RunView(
        run_id=item.run_id,
        schedule=item.schedule,
        scheduled_time=float(item.scheduled_time),
        trigger=Trigger(item.trigger),
        status=RunStatus(item.status),
        job_count=int(item.job_count),
        succeeded=int(item.succeeded or 0),
        failed=int(item.failed or 0),
        skipped=int(item.skipped or 0),
        cancelled=int(item.cancelled or 0),
        created_at=num(item.created_at),
        started_at=num(item.started_at),
        finished_at=num(item.finished_at),
        parameters=json.loads(item.parameters or "{}"),
        request_hash=item.request_hash or "",
        deadline_at=num(item.deadline_at),
        cancel_requested_at=num(item.cancel_requested_at),
        reason=item.reason,
        max_active=int(item.max_active) if item.max_active is not None else None,
        sink_count=int(item.sink_count or 0),
        touched=bool(item.touched),
        reopened=int(item.reopened or 0),
        restart=Restart.from_json(item.restart) if item.restart else None,
        holds_slot=bool(item.slot),
        overrides=[json.loads(o) for o in (item.overrides or [])],
    )


def job_view(item: Any) -> JobRunView:
    from cronlane.targets import HandOff

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
        enqueued_at=num(item.enqueued_at),
        started_at=num(item.started_at),
        attempt_started_at=num(item.attempt_started_at),
        finished_at=num(item.finished_at),
        duration_s=num(item.duration_s),
        lease_expires_at=num(item.lease_expires_at),
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
        hand_off=HandOff.from_json(item.hand_off),
        late_completions=[json.loads(c) for c in (item.late_completions or [])],
        result_key=item.result_key,
        result=item.result,
        lane=int(item.lane or 0),
        dependent_lanes=tuple(int(n) for n in (item.dependent_lanes or ())),
        chain=item.chain,
    )
