"""The run store in a process's memory: the same contract as ``dynamodb`` (the contract tests in
``tests/contract`` run against both), for unit tests of the use cases with no moto, and for
simulations that put many runs through the real use-case code.

Each method is atomic (one lock), as each DynamoDB write or transaction is; every read sees the
last write (DynamoDB's strongly consistent reads); what a method returns is a copy, so nothing
a caller does to it changes the store. The conditions of each write are DynamoDB's, as
``dynamodb`` states them: where the two could differ, the DynamoDB one is the rule.
"""

from __future__ import annotations

import bisect
import json
import threading
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from cronlane.audit import AuditEntry
from cronlane.model import (
    SINKS_PER_SHARD,
    JobNode,
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
    Trigger,
    sink_slots,
    waiting_view,
)
from cronlane.results import inline, result_key
from cronlane.store.base import MAX_LATE_COMPLETIONS, StoreBase, lost_entry
from cronlane.store.items import time_key
from cronlane.store.keys import spread_of

REOPENABLE = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.RUNNING)


@dataclass
class _Run:
    view: RunView
    expires_at: int
    deadline_reported: float | None = None


@dataclass
class _Shard:
    size: int
    done: set[int] = field(default_factory=set)


def _copy(view: JobRunView) -> JobRunView:
    return replace(
        view,
        params=json.loads(json.dumps(view.params)),
        history=[dict(h) for h in view.history],
        continuations=[dict(c) for c in view.continuations],
        checkpoint=json.loads(json.dumps(view.checkpoint)),
        late_completions=[dict(c) for c in view.late_completions],
    )


class MemoryRunStore(StoreBase):
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._runs: dict[str, _Run] = {}
        self._graphs: dict[str, RunGraph] = {}
        self._jobs: dict[str, dict[str, JobRunView]] = {}
        self._results: dict[tuple[str, str], tuple[str, str]] = {}  # (run, job) -> (result_key, JSON)
        self._shards: dict[tuple[str, int], _Shard] = {}
        self._joins: dict[tuple[str, str, int | None], set[int]] = {}  # (run, job, shard) -> numbers
        self._by_schedule: dict[str, list[tuple[str, str]]] = {}  # schedule -> sorted (time key, run id)
        self._paused: dict[str, tuple[bool, str | None]] = {}
        self._watches: dict[str, tuple[str, float, float]] = {}  # definition, since, checked until
        self._backfill_slots: dict[str, int] = {}  # schedule -> its active backfill runs
        self._lane_numbers: dict[str, int] = {}
        self._audit: list[AuditEntry] = []
        self._places: dict[str, PlacesRecord] = {}  # run -> its places (cronlane.places)

    # -- runs ---------------------------------------------------------------------------------

    def create_run(
        self,
        run: NewRun,
        status: RunStatus = RunStatus.CREATING,
        reason: str | None = None,
        replace_skipped: bool = False,
    ) -> bool:
        with self._lock:
            existing = self._runs.get(run.run_id)
            if replace_skipped:
                skipped = existing is not None and existing.view.status is RunStatus.SKIPPED
                if not (skipped and existing is not None and existing.view.job_count == 0):
                    return False
            elif existing is not None:
                return False
            view = RunView(
                run_id=run.run_id,
                schedule=run.schedule,
                scheduled_time=run.scheduled_time,
                trigger=run.trigger,
                status=status,
                job_count=len(run.nodes),
                created_at=run.created_at,
                finished_at=run.created_at if status.terminal else None,
                parameters=json.loads(json.dumps(run.parameters, sort_keys=True)),
                request_hash=run.fingerprint,
                deadline_at=run.deadline_at,
                reason=reason,
                max_active=run.max_active,
                sink_count=run.sink_count,
            )
            self._runs[run.run_id] = _Run(view, run.expires_at)
            # as stored: the snapshot goes through the JSON a DynamoDB item holds
            nodes = {
                n: JobNode.from_dict(n, json.loads(json.dumps(node.to_dict())))
                for n, node in run.nodes.items()
            }
            self._graphs[run.run_id] = RunGraph(
                run.run_id,
                nodes,
                run.schedule,
                run.scheduled_time,
                run.expires_at,
                sink_slots(nodes, interleaved=spread_of(len(nodes)) > 1),
                spread_of(len(nodes)),
                run.max_parallel,
            )
            if existing is None:
                key = (time_key(run.scheduled_time, run.run_id), run.run_id)
                bisect.insort(self._by_schedule.setdefault(run.schedule, []), key)
            return True

    def load_run_graph(self, run_id: str) -> RunGraph | None:
        with self._lock:
            return self._graphs.get(run_id)  # frozen: shared as it is

    def get_run(self, run_id: str) -> RunView | None:
        with self._lock:
            found = self._runs.get(run_id)
            return None if found is None else replace(found.view, parameters=dict(found.view.parameters))

    def set_run_status(
        self, run_id: str, expected: RunStatus, new: RunStatus, now: float, counts: RunCounts | None = None
    ) -> bool:
        with self._lock:
            found = self._runs.get(run_id)
            if found is None or found.view.status is not expected:
                return False
            view = found.view
            view.status = new
            if counts is not None:
                view.succeeded, view.failed = counts.succeeded, counts.failed
                view.skipped, view.cancelled = counts.skipped, counts.cancelled
            if new is RunStatus.RUNNING:
                view.started_at = now
            if new.terminal:
                view.finished_at = now
            return True

    def close_run(
        self,
        run: RunView,
        final: RunStatus,
        now: float,
        counts: RunCounts,
        clean: bool,
    ) -> bool:
        with self._lock:
            found = self._runs.get(run.run_id)
            if found is None or found.view.status is not run.status or found.view.restart is not None:
                return False
            view = found.view
            if view.reopened != run.reopened:
                return False  # an operator reopened it since it was read
            if clean and (view.failed or view.skipped or view.cancelled or view.touched):
                return False
            view.status, view.finished_at = final, now
            view.succeeded, view.failed = counts.succeeded, counts.failed
            view.skipped, view.cancelled = counts.skipped, counts.cancelled
            if view.holds_slot:
                view.holds_slot = False
                self._backfill_slots[view.schedule] = self._backfill_slots.get(view.schedule, 0) - 1
            return True

    def start_buffered(self, run: RunView, now: float) -> bool:
        with self._lock:
            found = self._runs.get(run.run_id)
            if found is None or found.view.status is not RunStatus.BUFFERED:
                return False
            view = found.view
            if view.trigger is Trigger.BACKFILL:
                taken = self._backfill_slots.get(view.schedule, 0)
                if taken >= (view.max_active or 1):
                    return False
                self._backfill_slots[view.schedule] = taken + 1
                view.holds_slot = True
            view.status = RunStatus.CREATING
            return True

    def request_cancel(self, run_id: str, now: float) -> bool:
        with self._lock:
            found = self._runs.get(run_id)
            if found is None or found.view.status not in (RunStatus.CREATING, RunStatus.RUNNING):
                return False
            if found.view.cancel_requested_at is None:
                found.view.cancel_requested_at = now
            return True

    def reopen_run(self, run_id: str, now: float) -> bool:
        with self._lock:
            found = self._runs.get(run_id)
            if found is None or found.view.status not in REOPENABLE:
                return False
            view = found.view
            view.status, view.finished_at, view.cancel_requested_at, view.touched = (
                RunStatus.RUNNING,
                None,
                None,
                True,
            )
            view.reopened += 1
            return True

    def begin_restart(self, run_id: str, restart: Restart, now: float) -> bool:
        with self._lock:
            found = self._runs.get(run_id)
            if found is None or found.view.status not in REOPENABLE or found.view.restart is not None:
                return False
            view = found.view
            view.status, view.finished_at, view.cancel_requested_at = RunStatus.RUNNING, None, None
            view.touched, view.restart = True, restart
            view.reopened += 1
            if restart.params:  # a rerun with new parameters: kept on the run for good
                view.overrides.append(
                    json.loads(
                        json.dumps({"at": restart.at, "action": restart.action, "params": restart.params})
                    )
                )
            return True

    def end_restart(self, run_id: str, restart_id: str) -> bool:
        with self._lock:
            found = self._runs.get(run_id)
            if found is None or found.view.restart is None or found.view.restart.id != restart_id:
                return False
            found.view.restart = None
            return True

    def places(self, run_id: str) -> PlacesRecord:
        with self._lock:
            return self._places.get(run_id) or PlacesRecord()

    def put_places(self, run_id: str, record: PlacesRecord, expires_at: int) -> bool:
        with self._lock:
            stored = self._places.get(run_id)
            if (stored.version if stored is not None else 0) != record.version:
                return False
            # as stored: through the JSON the DynamoDB item holds
            self._places[run_id] = PlacesRecord.from_json(record.to_json(), record.version + 1)
            return True

    def mark_deadline_reported(self, run_id: str, now: float) -> bool:
        with self._lock:
            found = self._runs.get(run_id)
            if found is None or found.deadline_reported is not None:
                return False
            found.deadline_reported = now
            return True

    def record_audit(self, entry: AuditEntry, expires_at: int) -> None:
        with self._lock:
            self._audit.append(entry)
            self._audit.sort(key=lambda e: e.at)

    def audit_entries(
        self, since: float, run_id: str | None = None, schedule: str | None = None, limit: int = 1000
    ) -> list[AuditEntry]:
        with self._lock:
            found = [
                e
                for e in self._audit
                if e.at >= since
                and (run_id is None or e.run_id == run_id)
                and (schedule is None or e.schedule == schedule)
            ]
        return found[-limit:]

    def take_lane_numbers(self, jobs: Collection[str]) -> dict[str, int]:
        with self._lock:
            for name in set(jobs):
                self._lane_numbers[name] = self._lane_numbers.get(name, 0) + 1
            return {name: self._lane_numbers[name] for name in set(jobs)}

    def runs_of_schedule(self, schedule: str, limit: int = 20) -> list[RunView]:
        with self._lock:
            keys = self._by_schedule.get(schedule, [])[::-1][:limit]
            return [r for r in (self.get_run(run_id) for _, run_id in keys) if r is not None]

    def active_runs(self, schedule: str) -> list[RunView]:
        with self._lock:
            return [
                replace(view, parameters=dict(view.parameters))
                for _, run_id in self._by_schedule.get(schedule, [])
                if (view := self._runs[run_id].view).status.active and view.trigger is not Trigger.BACKFILL
            ]

    def buffered_runs(self, schedule: str, backfill: bool, limit: int) -> list[RunView]:
        with self._lock:
            return [
                replace(view, parameters=dict(view.parameters))
                for _, run_id in self._by_schedule.get(schedule, [])
                if (view := self._runs[run_id].view).status is RunStatus.BUFFERED
                and (view.trigger is Trigger.BACKFILL) == backfill
            ][:limit]

    # -- sinks --------------------------------------------------------------------------------

    def mark_sink(self, graph: RunGraph, job: str) -> bool:
        slot = graph.slots.get(job)
        if slot is None:
            return False
        with self._lock:
            shard = self._shards.setdefault((graph.run_id, slot.shard), _Shard(slot.size))
            shard.done.add(slot.number)
            shard.size = slot.size
            return len(shard.done) >= slot.size

    def sinks_finished(self, run_id: str, sink_count: int) -> bool:
        shards = -(-sink_count // SINKS_PER_SHARD)
        with self._lock:
            full = sum(
                1
                for k in range(shards)
                if (shard := self._shards.get((run_id, k))) is not None and len(shard.done) >= shard.size
            )
        return full == shards

    # -- schedules ----------------------------------------------------------------------------

    def set_paused(self, schedule: str, paused: bool, reason: str | None, now: float) -> None:
        with self._lock:
            self._paused[schedule] = (paused, reason)

    def paused_reason(self, schedule: str) -> str | None:
        with self._lock:
            paused, reason = self._paused.get(schedule, (False, None))
        return (reason or "paused") if paused else None

    def checked_until(self, schedule: str, definition: str, tick: float) -> float | None:
        with self._lock:
            found = self._watches.get(schedule)
            if found is None or found[0] != definition:
                self._watches[schedule] = (definition, tick, tick)
                return None
            return found[2]

    def advance_watch(self, schedule: str, definition: str, tick: float, until: float) -> float | None:
        with self._lock:
            found = self._watches.get(schedule)
            if found is None or found[0] != definition:
                self._watches[schedule] = (definition, tick, tick)
                return None
            last = found[2]
            if until <= last:
                return None
            self._watches[schedule] = (definition, found[1], until)
            return last

    # -- job-runs: reads ----------------------------------------------------------------------

    def written_job_runs(self, run_id: str) -> list[JobRunView]:
        with self._lock:
            jobs = self._jobs.get(run_id, {})
            return [_copy(jobs[name]) for name in sorted(jobs)]

    def written_job_run(self, run_id: str, job: str) -> JobRunView | None:
        with self._lock:
            view = self._jobs.get(run_id, {}).get(job)
            return None if view is None else _copy(view)

    def states(self, run_id: str, jobs: Iterable[str]) -> dict[str, JobState]:
        with self._lock:
            written = self._jobs.get(run_id, {})
            return {
                name: JobState(
                    written[name].status,
                    written[name].generation,
                    written[name].lease_expires_at,
                    written[name].chain,
                )
                for name in set(jobs)
                if name in written
            }

    def join(
        self, run_id: str, job: str, shard: int | None, numbers: set[int], size: int, expires_at: int
    ) -> bool:
        with self._lock:
            joined = self._joins.setdefault((run_id, job, shard), set())
            joined.update(numbers)
            return len(joined) >= size

    # -- job-runs: writes ---------------------------------------------------------------------

    def _new(self, graph: RunGraph, job: str, status: JobStatus) -> JobRunView:
        """A job-run's first record, from the run's graph snapshot (as it is described while it waits)."""
        view = waiting_view(graph, job)
        view.status, view.params = status, json.loads(json.dumps(view.params, sort_keys=True))
        return view

    def _put(self, view: JobRunView) -> JobRunView:
        self._jobs.setdefault(view.run_id, {})[view.job] = view
        return _copy(view)

    def _count(self, run_id: str, status: JobStatus, step: int) -> None:
        found = self._runs.get(run_id)
        if found is not None and status.terminal:
            name = status.value.lower()
            setattr(found.view, name, getattr(found.view, name) + step)

    def _sink(self, graph: RunGraph | None, job: str, ended: bool) -> None:
        slot = graph.slots.get(job) if graph is not None else None
        if slot is None or graph is None:
            return
        shard = self._shards.setdefault((graph.run_id, slot.shard), _Shard(slot.size))
        shard.size = slot.size
        if ended:
            shard.done.add(slot.number)
        else:
            shard.done.discard(slot.number)

    @staticmethod
    def _run_attempt(view: JobRunView, now: float, lease_s: float, queued_at: float | None) -> None:
        view.status = JobStatus.RUNNING
        view.attempts += 1
        view.started_at = view.started_at if view.started_at is not None else now
        view.attempt_started_at = now
        view.lease_expires_at = now + lease_s
        if queued_at is not None and view.enqueued_at is None:
            view.enqueued_at = queued_at

    @staticmethod
    def _resume(view: JobRunView, now: float, lease_s: float) -> None:
        view.status, view.continuing = JobStatus.RUNNING, False
        view.attempt_started_at, view.lease_expires_at = now, now + lease_s

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
        with self._lock:
            view = self._jobs.get(run_id, {}).get(job)

            def waiting_to_continue() -> bool:
                return (
                    view is not None
                    and view.generation == generation
                    and view.status is JobStatus.QUEUED
                    and view.continuing
                )

            if continuation and waiting_to_continue():
                assert view is not None
                self._resume(view, now, lease_s)
                return _copy(view)
            if (
                graph is not None
                and job in graph.nodes
                and generation == 0
                and not continuation
                and view is None
            ):
                new = self._new(graph, job, JobStatus.RUNNING)
                new.enqueued_at, new.chain = queued_at, chain
                self._run_attempt(new, now, lease_s, None)
                return self._put(new)
            if view is None or view.generation != generation:
                return None
            if (
                view.attempts < view.max_attempts
                and view.status in (JobStatus.QUEUED, JobStatus.PENDING)
                and not view.continuing
            ):
                view.chain = chain
                self._run_attempt(view, now, lease_s, queued_at)
                return _copy(view)
            if view.continuing:
                if not continuation and waiting_to_continue():
                    self._resume(view, now, lease_s)
                    return _copy(view)
                return None
            expired = view.lease_expires_at is not None and view.lease_expires_at < now
            if view.status is not JobStatus.RUNNING or not expired or view.attempts >= view.max_attempts:
                return None
            view.history.append(lost_entry(view, now))
            view.chain = chain
            self._run_attempt(view, now, lease_s, queued_at)
            return _copy(view)

    def _held(self, view: JobRunView) -> JobRunView | None:
        current = self._jobs.get(view.run_id, {}).get(view.job)
        if (
            current is None
            or current.status is not JobStatus.RUNNING
            or current.attempts != view.attempts
            or current.generation != view.generation
        ):
            return None
        return current

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
        with self._lock:
            current = self._held(view)
            if current is None:
                return False
            if status is JobStatus.SUCCEEDED:
                key = result_key(view.generation, view.attempts)
                if result is not None:
                    self._results[(view.run_id, view.job)] = (key, result)
                current.result_key = key if result is not None else None
                current.result = result if result is not None and inline(result) else None
            current.status, current.finished_at = status, now
            current.duration_s, current.lease_expires_at = round(duration_s, 3), None
            if error is not None:
                current.error = error
            if history_entry is not None:
                current.history = [dict(h) for h in view.history] + [dict(history_entry)]
            if status is not JobStatus.SUCCEEDED:
                self._count(view.run_id, status, 1)
                self._sink(graph, view.job, ended=True)
            return True

    def results(self, run_id: str, jobs: Sequence[JobRunView]) -> dict[str, Any]:
        with self._lock:
            found = {}
            for job in jobs:
                kept = self._results.get((run_id, job.job))
                recorded = job.status is JobStatus.SUCCEEDED and job.result_key is not None
                if recorded and kept is not None and kept[0] == job.result_key:
                    found[job.job] = json.loads(kept[1])
            return found

    def upstream_results(self, run_id: str, jobs: Sequence[str]) -> dict[str, Any]:
        with self._lock:
            views = [v for v in (self._jobs.get(run_id, {}).get(j) for j in jobs) if v is not None]
            return self.results(run_id, views)

    def checkpoint(self, view: JobRunView, cursor: str, entry: dict[str, Any], now: float) -> bool:
        with self._lock:
            current = self._held(view)
            if current is None or current.generation != view.generation:
                return False
            current.status, current.checkpoint, current.continuing = (
                JobStatus.QUEUED,
                json.loads(cursor),
                True,
            )
            current.continuations.append(dict(entry))
            current.lease_expires_at, current.enqueued_at = None, now
            return True

    def hand_off(self, view: JobRunView, hand_off: Any) -> bool:
        with self._lock:
            current = self._held(view)
            if current is None or current.generation != view.generation:
                return False
            current.hand_off = hand_off
            current.lease_expires_at = hand_off.lease_until(hand_off.started_at)
            return True

    def extend_lease(self, view: JobRunView, until: float) -> bool:
        with self._lock:
            current = self._held(view)
            if current is None or current.generation != view.generation or current.hand_off is None:
                return False
            current.lease_expires_at = until
            return True

    def record_late(self, run_id: str, job: str, entry: dict[str, Any]) -> bool:
        with self._lock:
            current = self._jobs.get(run_id, {}).get(job)
            if current is None or len(current.late_completions) >= MAX_LATE_COMPLETIONS:
                return False
            current.late_completions.append(json.loads(json.dumps(entry, sort_keys=True)))
            return True

    def retry_later(self, view: JobRunView, error: str, history_entry: dict[str, Any]) -> bool:
        with self._lock:
            current = self._held(view)
            if current is None:
                return False
            current.status, current.error, current.lease_expires_at = JobStatus.QUEUED, error, None
            current.history = [dict(h) for h in view.history] + [dict(history_entry)]
            return True

    def end_unstarted(
        self,
        graph: RunGraph,
        job: str,
        status: JobStatus,
        reason: str,
        expected: tuple[JobStatus, ...],
        now: float,
    ) -> bool:
        with self._lock:
            current = self._jobs.get(graph.run_id, {}).get(job)
            if job not in graph.nodes:
                return False  # not a job of the run
            if current is None:
                current = self._new(graph, job, status)
                self._put(current)
            elif current.status not in expected:
                return False
            current.status, current.reason, current.finished_at = status, reason, now
            self._count(graph.run_id, status, 1)
            self._sink(graph, job, ended=True)
            return True

    def reset_job(
        self,
        view: JobRunView,
        status: JobStatus,
        reason: str | None = None,
        now: float | None = None,
        graph: RunGraph | None = None,
        params: dict[str, Any] | None = None,
    ) -> bool:
        if graph is not None and view.job not in graph.nodes:
            return False  # not a job of the run
        with self._lock:
            current = self._jobs.get(view.run_id, {}).get(view.job)
            waiting = view.status is JobStatus.PENDING and view.generation == 0 and graph is not None
            if current is None:
                if not waiting or graph is None or view.job not in graph.nodes:
                    return False
                current = self._new(graph, view.job, JobStatus.PENDING)
                self._put(current)
            elif current.status is not view.status or current.generation != view.generation:
                return False
            old = current.status
            current.status, current.generation = status, current.generation + 1
            current.error = current.lease_expires_at = current.checkpoint = current.result_key = None
            current.result = None
            current.continuations, current.continuing = [], False
            if params is not None:
                current.params = json.loads(json.dumps(params))
            if status is JobStatus.SUCCEEDED:
                current.reason, current.finished_at = reason or "marked succeeded by an operator", now or 0
            else:
                current.attempts = 0
                current.reason = current.finished_at = current.duration_s = current.started_at = None
                current.enqueued_at = (now or 0) if status is JobStatus.QUEUED else None
            self._count(view.run_id, old, -1)
            self._count(view.run_id, status, 1)
            if old.terminal != status.terminal:
                self._sink(graph, view.job, ended=status.terminal)
            return True
