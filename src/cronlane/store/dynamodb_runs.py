"""The DynamoDB store, its runs' half: a run's record, its graph snapshot and its sink tally, and
a schedule's pause and missed-run watch (``ports.RunRecords``, ``ports.ScheduleRecords``)."""

from __future__ import annotations

import json
import uuid
import zlib
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from cronlane.audit import AuditEntry
from cronlane.model import (
    SINKS_PER_SHARD,
    JobNode,
    NewRun,
    PlacesRecord,
    Restart,
    RunCounts,
    RunGraph,
    RunStatus,
    RunView,
    Trigger,
    sink_slots,
)
from cronlane.sdk_errors import conditional, dynamodb
from cronlane.store.dynamodb_base import DynamoTable, run_view
from cronlane.store.items import AUDIT_PK, AUDIT_SK_PREFIX, COUNTER_PK, LANES_SK, count_up, run_pk, time_key
from cronlane.store.keys import sink_pk, spread_of

GRAPH_CHUNK = 350_000  # bytes of compressed snapshot per item (DynamoDB items are at most 400 KB)
REOPENABLE = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.RUNNING)


class RunRecordsOnDynamo(DynamoTable):
    # -- runs ---------------------------------------------------------------------------------

    def create_run(
        self,
        run: NewRun,
        status: RunStatus = RunStatus.CREATING,
        reason: str | None = None,
        replace_skipped: bool = False,
    ) -> bool:
        Run, Graph = self.Run, self.items.Graph
        spread = spread_of(len(run.nodes))
        item = Run(
            run_pk(run.run_id),
            "RUN",
            run_id=run.run_id,
            schedule=run.schedule,
            scheduled_time=run.scheduled_time,
            trigger=run.trigger.value,
            status=status.value,
            job_count=len(run.nodes),
            sink_count=run.sink_count,
            created_at=run.created_at,
            finished_at=run.created_at if status.terminal else None,
            reason=reason,
            parameters=json.dumps(run.parameters, sort_keys=True),
            request_hash=run.fingerprint or None,
            deadline_at=run.deadline_at,
            max_active=run.max_active,
            gsi1pk=f"SCHEDULE#{run.schedule}",
            gsi1sk=time_key(run.scheduled_time, run.run_id),
            active_pk=f"SCHEDULE#{run.schedule}" if status.active else None,
            spread=spread if spread > 1 else None,
            expires_at=run.expires_at,
        )
        blob = zlib.compress(json.dumps({n: node.to_dict() for n, node in run.nodes.items()}).encode())
        chunks = [blob[i : i + GRAPH_CHUNK] for i in range(0, len(blob), GRAPH_CHUNK)] or [b""]
        claim = Run.pk.does_not_exist()
        if replace_skipped:
            claim = (Run.status == RunStatus.SKIPPED.value) & (Run.job_count == 0)

        Waiting = self.items.Waiting

        def write() -> None:
            with TransactWrite(connection=self.items.connection) as tx:
                tx.save(item, condition=claim)
                if status is RunStatus.BUFFERED:  # on its schedule's waiting list, in the same write
                    listed = Waiting(f"SCHEDULE#{run.schedule}", _waiting_sk(run.trigger))
                    tx.update(listed, actions=[Waiting.waiting.add({item.gsi1sk})])
                for n, chunk in enumerate(chunks):
                    graph = Graph(
                        run_pk(run.run_id),
                        f"GRAPH#{n:03d}",
                        data=chunk,
                        schedule=run.schedule,
                        scheduled_time=run.scheduled_time,
                        spread=spread if spread > 1 else None,
                        max_parallel=run.max_parallel,
                        expires_at=run.expires_at,
                    )
                    # a replaced run's (empty) graph is overwritten; the run's claim guards both
                    tx.save(graph, condition=None if replace_skipped else Graph.pk.does_not_exist())

        created = conditional(f"creating run {run.run_id}", write)
        if created:
            self.note_spread(run.run_id, spread)
        return created

    def load_run_graph(self, run_id: str) -> RunGraph | None:
        Graph = self.items.Graph
        items = dynamodb(
            f"loading the graph of run {run_id}",
            lambda: list(Graph.query(run_pk(run_id), Graph.sk.startswith("GRAPH#"), consistent_read=True)),
        )
        if not items:
            return None
        items.sort(key=lambda i: i.sk)
        blob = b"".join(i.data for i in items)
        data = json.loads(zlib.decompress(blob)) if blob else {}
        first = items[0]
        nodes = {name: JobNode.from_dict(name, d) for name, d in data.items()}
        spread = int(first.spread or 1)
        self.note_spread(run_id, spread)
        return RunGraph(
            run_id=run_id,
            nodes=nodes,
            schedule=first.schedule or "",
            scheduled_time=float(first.scheduled_time or 0.0),
            expires_at=int(first.expires_at),
            slots=sink_slots(nodes, interleaved=spread > 1),
            spread=spread,
            max_parallel=int(first.max_parallel) if first.max_parallel is not None else None,
        )

    def get_run(self, run_id: str) -> RunView | None:
        item = dynamodb(
            f"reading run {run_id}", lambda: self.Run.get(run_pk(run_id), "RUN", consistent_read=True), None
        )
        return None if item is None else run_view(item)

    def set_run_status(
        self, run_id: str, expected: RunStatus, new: RunStatus, now: float, counts: RunCounts | None = None
    ) -> bool:
        Run = self.Run
        actions: list[Action] = [Run.status.set(new.value)]
        if counts is not None:
            actions += [
                Run.succeeded.set(counts.succeeded),
                Run.failed.set(counts.failed),
                Run.skipped.set(counts.skipped),
                Run.cancelled.set(counts.cancelled),
            ]
        if new is RunStatus.RUNNING:
            actions.append(Run.started_at.set(now))
        if new.terminal:
            actions += [Run.finished_at.set(now), Run.active_pk.remove()]
        else:  # (back) in the active index
            actions.append(Run.active_pk.set(Run.gsi1pk))
        item = Run(run_pk(run_id), "RUN")
        return conditional(
            f"updating run {run_id}",
            lambda: item.update(actions=actions, condition=Run.status == expected.value),
        )

    def close_run(
        self,
        run: RunView,
        final: RunStatus,
        now: float,
        counts: RunCounts,
        clean: bool,
    ) -> bool:
        Run = self.Run
        actions: list[Action] = [
            Run.status.set(final.value),
            Run.succeeded.set(counts.succeeded),
            Run.failed.set(counts.failed),
            Run.skipped.set(counts.skipped),
            Run.cancelled.set(counts.cancelled),
            Run.finished_at.set(now),
            Run.active_pk.remove(),
        ]
        premises = (Run.status == run.status.value) & Run.restart_id.does_not_exist()
        # not reopened since it was read (a restart may have begun and ended in between)
        premises &= (Run.reopened == run.reopened) if run.reopened else Run.reopened.does_not_exist()
        if clean:
            premises &= (
                (Run.failed == 0) & (Run.skipped == 0) & (Run.cancelled == 0) & Run.touched.does_not_exist()
            )

        if run.holds_slot:  # its slot is given back in the same write (once: the flag goes)
            actions.append(Run.slot.remove())
            premises &= Run.slot.exists()

        def write() -> None:
            with TransactWrite(connection=self.items.connection) as tx:
                tx.update(Run(run_pk(run.run_id), "RUN"), actions=actions, condition=premises)
                if run.holds_slot:
                    slots = self.items.Waiting(f"SCHEDULE#{run.schedule}", "BACKFILL")
                    tx.update(slots, actions=[self.items.Waiting.active.add(-1)])

        return conditional(f"closing run {run.run_id}", write)

    def start_buffered(self, run: RunView, now: float) -> bool:
        Run, Waiting = self.Run, self.items.Waiting
        started: list[Action] = [Run.status.set(RunStatus.CREATING.value)]
        entry = time_key(run.scheduled_time, run.run_id)
        listed = Waiting(f"SCHEDULE#{run.schedule}", _waiting_sk(run.trigger))
        off_the_list: list[Action] = [Waiting.waiting.delete({entry})]
        free = None
        if run.trigger is Trigger.BACKFILL:
            started.append(Run.slot.set(1))
            off_the_list.append(Waiting.active.add(1))
            free = Waiting.active.does_not_exist() | (Waiting.active < (run.max_active or 1))

        def write() -> None:
            with TransactWrite(connection=self.items.connection) as tx:
                tx.update(
                    Run(run_pk(run.run_id), "RUN"),
                    actions=started,
                    condition=Run.status == RunStatus.BUFFERED.value,
                )
                tx.update(listed, actions=off_the_list, condition=free)

        return conditional(f"starting run {run.run_id}", write)

    def request_cancel(self, run_id: str, now: float) -> bool:
        Run = self.Run
        return conditional(
            f"cancelling run {run_id}",
            lambda: Run(run_pk(run_id), "RUN").update(
                actions=[Run.cancel_requested_at.set(Run.cancel_requested_at | now)],
                condition=Run.status.is_in(RunStatus.CREATING.value, RunStatus.RUNNING.value),
            ),
        )

    def _reopening(self) -> list[Action]:
        """The actions that reopen a run: RUNNING, touched, its epoch raised, back in the active
        index."""
        Run = self.Run
        return [
            Run.status.set(RunStatus.RUNNING.value),
            Run.finished_at.remove(),
            Run.cancel_requested_at.remove(),
            Run.touched.set(1),
            Run.reopened.add(1),
            Run.active_pk.set(Run.gsi1pk),
        ]

    def reopen_run(self, run_id: str, now: float) -> bool:
        Run = self.Run
        return conditional(
            f"reopening run {run_id}",
            lambda: Run(run_pk(run_id), "RUN").update(
                actions=self._reopening(),
                condition=Run.status.is_in(*(s.value for s in REOPENABLE)),
            ),
        )

    def begin_restart(self, run_id: str, restart: Restart, now: float) -> bool:
        Run = self.Run
        recorded = []
        if restart.params:  # a rerun with new parameters: kept on the run for good
            entry = json.dumps({"at": restart.at, "action": restart.action, "params": restart.params})
            recorded = [Run.overrides.set((Run.overrides | []).append([entry]))]
        return conditional(
            f"reopening run {run_id} for an operator's {restart.action}",
            lambda: Run(run_pk(run_id), "RUN").update(
                actions=[
                    *self._reopening(),
                    Run.restart.set(restart.to_json()),
                    Run.restart_id.set(restart.id),
                    *recorded,
                ],
                condition=Run.status.is_in(*(s.value for s in REOPENABLE)) & Run.restart_id.does_not_exist(),
            ),
        )

    def end_restart(self, run_id: str, restart_id: str) -> bool:
        Run = self.Run
        return conditional(
            f"ending a restart of run {run_id}",
            lambda: Run(run_pk(run_id), "RUN").update(
                actions=[Run.restart.remove(), Run.restart_id.remove()],
                condition=Run.restart_id == restart_id,
            ),
        )

    def places(self, run_id: str) -> PlacesRecord:
        Places = self.items.Places
        item = dynamodb(
            f"reading the places of run {run_id}",
            lambda: Places.get(run_pk(run_id), "PLACES", consistent_read=True),
            None,
        )
        return PlacesRecord() if item is None else PlacesRecord.from_json(item.data, int(item.version))

    def put_places(self, run_id: str, record: PlacesRecord, expires_at: int) -> bool:
        Places = self.items.Places
        item = Places(
            run_pk(run_id), "PLACES", data=record.to_json(), version=record.version + 1, expires_at=expires_at
        )
        condition = Places.pk.does_not_exist() if record.version == 0 else Places.version == record.version
        return conditional(f"writing the places of run {run_id}", lambda: item.save(condition=condition))

    def mark_deadline_reported(self, run_id: str, now: float) -> bool:
        Run = self.Run
        return conditional(
            f"updating run {run_id}",
            lambda: Run(run_pk(run_id), "RUN").update(
                actions=[Run.deadline_reported.set(now)],
                condition=Run.deadline_reported.does_not_exist() & Run.pk.exists(),
            ),
        )

    def record_audit(self, entry: AuditEntry, expires_at: int) -> None:
        key = time_key(entry.at, uuid.uuid4().hex[:12])  # in time order, as a schedule's runs
        fields: dict[str, Any] = {
            "at": entry.at,
            "action": entry.action,
            "actor": entry.actor,
            "reason": entry.reason,
            "run_id": entry.run_id,
            "schedule": entry.schedule,
            "detail": json.dumps(entry.detail, sort_keys=True, default=str),
            "request_id": entry.request_id,
            "expires_at": expires_at,
        }
        A = self.items.Audit
        # one in the trail of all actions, and an action on a run also in the run's partition,
        # so that the run's are read without reading the others (both in one transaction, which
        # the dispatcher's role already grants: actions are rare, their doubled units no matter)
        items = [A(AUDIT_PK, key, **fields)]
        if entry.run_id is not None:
            items.append(A(run_pk(entry.run_id), f"{AUDIT_SK_PREFIX}{key}", **fields))

        def write() -> None:
            if len(items) == 1:
                items[0].save()
                return
            with TransactWrite(connection=self.items.connection) as tx:
                for item in items:
                    tx.save(item)

        dynamodb("recording an operator's action", write)

    def audit_entries(
        self, since: float, run_id: str | None = None, schedule: str | None = None, limit: int = 1000
    ) -> list[AuditEntry]:
        A = self.items.Audit
        start = datetime.fromtimestamp(since, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
        found: list[AuditEntry] = []
        # a run's actions from its partition; the others newest first, from the trail of all
        pk, prefix = (run_pk(run_id), AUDIT_SK_PREFIX) if run_id is not None else (AUDIT_PK, "")

        def read() -> None:
            within = A.sk.between(prefix + start, prefix + "~")  # "~": after every time
            for item in A.query(pk, within, consistent_read=True, scan_index_forward=False):
                if item.at < since:
                    break
                if schedule is not None and item.schedule != schedule:
                    continue
                found.append(
                    AuditEntry(
                        at=float(item.at),
                        action=item.action,
                        actor=item.actor,
                        reason=item.reason,
                        run_id=item.run_id,
                        schedule=item.schedule,
                        detail=json.loads(item.detail or "{}"),
                        request_id=item.request_id,
                    )
                )
                if len(found) >= limit:
                    return

        dynamodb("reading the audit trail", read)
        return found[::-1]

    def take_lane_numbers(self, jobs: Collection[str]) -> dict[str, int]:
        # one UpdateItem of the counters' item, one attribute per job (``lane <job>``), asking
        # back only what it changed
        names = sorted(set(jobs))
        if not names:
            return {}
        item = self.items.Counter(COUNTER_PK, LANES_SK)
        counted = dynamodb("taking lane numbers", lambda: count_up(item, [f"lane {name}" for name in names]))
        return {name: counted[f"lane {name}"] for name in names}

    def runs_of_schedule(self, schedule: str, limit: int = 20) -> list[RunView]:
        ids = dynamodb(
            f"listing runs of {schedule}",
            lambda: [
                i.run_id
                for i in self.Run.by_schedule.query(
                    f"SCHEDULE#{schedule}", scan_index_forward=False, limit=limit
                )
            ],
        )
        return [r for r in (self.get_run(k) for k in ids) if r is not None]

    def active_runs(self, schedule: str) -> list[RunView]:
        """(The active-by-schedule index holds only active runs, and projects their trigger: the
        backfill runs are left out before anything is read. It is eventually consistent, so each
        run is read again, strongly consistently, and kept only if it is still active; the
        BUFFERED runs come from the waiting list, which is read strongly consistently.)"""
        listed = dynamodb(
            f"listing the active runs of {schedule}",
            lambda: [
                (i.gsi1sk, i.run_id)
                for i in self.Run.active_by_schedule.query(f"SCHEDULE#{schedule}", scan_index_forward=True)
                if i.trigger != Trigger.BACKFILL.value
            ],
        )
        keys = dict(listed)
        keys.update((entry, _listed_run(entry)) for entry in self._waiting_list(schedule, "BUFFERED"))
        runs = [self.get_run(keys[k]) for k in sorted(keys)]
        return [r for r in runs if r is not None and r.status.active and r.trigger is not Trigger.BACKFILL]

    def buffered_runs(self, schedule: str, backfill: bool, limit: int) -> list[RunView]:
        sk = _waiting_sk(Trigger.BACKFILL if backfill else Trigger.SCHEDULE)
        found: list[RunView] = []
        gone: set[str] = set()
        for entry in sorted(self._waiting_list(schedule, sk)):
            if len(found) >= limit:
                break
            run = self.get_run(_listed_run(entry))
            if run is not None and run.status is RunStatus.BUFFERED:
                found.append(run)
            else:  # started since (or expired): a run never goes back to BUFFERED
                gone.add(entry)
        if gone:
            Waiting = self.items.Waiting
            listed = Waiting(f"SCHEDULE#{schedule}", sk)
            dynamodb(
                f"tidying the waiting list of {schedule}",
                lambda: listed.update(actions=[Waiting.waiting.delete(gone)]),
            )
        return found

    def _waiting_list(self, schedule: str, sk: str) -> set[str]:
        item = dynamodb(
            f"reading the waiting runs of {schedule}",
            lambda: self.items.Waiting.get(f"SCHEDULE#{schedule}", sk, consistent_read=True),
            None,
        )
        return set(item.waiting or ()) if item is not None else set()

    # -- sinks --------------------------------------------------------------------------------

    def mark_sink(self, graph: RunGraph, job: str) -> bool:
        slot = graph.slots.get(job)
        if slot is None:
            return False
        item = self._shard(graph.run_id, slot)
        dynamodb(
            f"counting the end of {job} in run {graph.run_id}",
            lambda: item.update(actions=self._sink_actions(slot, graph.expires_at, ended=True)),
        )
        return len(item.done or ()) >= slot.size

    def sinks_finished(self, run_id: str, sink_count: int) -> bool:
        shards = -(-sink_count // SINKS_PER_SHARD)
        if shards == 0:
            return True
        spread = self.spread(run_id)
        keys = [(sink_pk(run_id, k, spread), f"SINKS#{k:04d}") for k in range(shards)]
        items = dynamodb(
            f"reading the sinks of run {run_id}",
            lambda: list(self.items.Shard.batch_get(keys, consistent_read=True)),
        )
        return sum(1 for i in items if len(i.done or ()) >= int(i.size)) == shards

    # -- schedules ----------------------------------------------------------------------------

    def set_paused(self, schedule: str, paused: bool, reason: str | None, now: float) -> None:
        item = self.items.Schedule(
            f"SCHEDULE#{schedule}", "STATE", paused=int(paused), reason=reason, updated_at=now
        )
        dynamodb(f"pausing {schedule}", item.save)

    def paused_reason(self, schedule: str) -> str | None:
        item = dynamodb(
            f"reading the state of {schedule}",
            lambda: self.items.Schedule.get(f"SCHEDULE#{schedule}", "STATE", consistent_read=True),
            None,
        )
        return (item.reason or "paused") if item is not None and item.paused else None

    def _watch(self, schedule: str, definition: str, tick: float) -> Any:
        """The schedule's watch item, or None after starting it afresh at ``tick`` (a new or
        changed definition)."""
        W = self.items.Watch
        key = f"SCHEDULE#{schedule}"
        doing = f"checking the fire times of {schedule}"
        item = dynamodb(doing, lambda: W.get(key, "WATCH", consistent_read=True), None)
        if item is None or item.definition != definition:
            dynamodb(doing, W(key, "WATCH", definition=definition, since=tick, checked_until=tick).save)
            return None
        return item

    def checked_until(self, schedule: str, definition: str, tick: float) -> float | None:
        item = self._watch(schedule, definition, tick)
        return None if item is None else float(item.checked_until)

    def advance_watch(self, schedule: str, definition: str, tick: float, until: float) -> float | None:
        W = self.items.Watch
        doing = f"checking the fire times of {schedule}"
        item = self._watch(schedule, definition, tick)
        if item is None:
            return None
        last = float(item.checked_until)
        if until <= last:
            return None
        claimed = conditional(
            doing,
            lambda: item.update(actions=[W.checked_until.set(until)], condition=W.checked_until == last),
        )
        return last if claimed else None


def _waiting_sk(trigger: Trigger) -> str:
    """The waiting list a BUFFERED run is on: its schedule's backfill runs, or the others."""
    return "BACKFILL" if trigger is Trigger.BACKFILL else "BUFFERED"


def _listed_run(entry: str) -> str:
    """The run id of a waiting-list entry (a ``time_key``: ``<time>#<run id>``)."""
    return entry.split("#", 1)[1]
