"""The run store on DynamoDB, through PynamoDB (the items are in ``items``; the key design is in
docs/state.md). Every SDK error is turned into a domain error by ``sdk_errors``; a failed
condition, which is how idempotency shows itself, is a return value.

Access patterns: the runs of a schedule, newest first (query by-schedule descending); the jobs
of a run (query pk, sk begins_with ``JOB#``). by-schedule projects only a run's identity and
status, so the counter updates never write to it. Everything expires through ``expires_at``.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Sequence
from typing import Any

from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from cronlane.clock import iso
from cronlane.model import (
    DEFAULT_MAX_CONTINUATIONS,
    SINKS_PER_SHARD,
    JobNode,
    JobRunView,
    JobState,
    JobStatus,
    NewRun,
    RunCounts,
    RunGraph,
    RunStatus,
    RunView,
    SinkSlot,
    Trigger,
    sink_slots,
)
from cronlane.sdk_errors import conditional, dynamodb
from cronlane.store.items import (
    Items,
    JobRunItem,
    SinkShardItem,
    bind,
    run_pk,
    share_client,
    time_key,
    update_without_reading,
)
from cronlane.store.reads import WaitingJobRuns

GRAPH_CHUNK = 350_000  # bytes of compressed snapshot per item (DynamoDB items are at most 400 KB)
# A job-run's attributes that its life changes (the key, and what a new item starts them at):
# everything else on it is set once, from the run's graph snapshot.
_CHANGING = frozenset({"pk", "sk", "status", "attempts", "generation", "enqueued_at"})
COUNTERS = {
    JobStatus.SUCCEEDED: "succeeded",
    JobStatus.FAILED: "failed",
    JobStatus.SKIPPED: "skipped",
    JobStatus.CANCELLED: "cancelled",
}
LOST_ATTEMPT = (
    "the executor stopped before recording an outcome (a crash, or the Lambda timeout); its lease expired"
)


class DynamoRunStore(WaitingJobRuns):
    """Runs, job-runs and schedule state in one DynamoDB table."""

    def __init__(self, table: str, region: str | None = None) -> None:
        self.table = table
        self.items: Items = bind(table, region)
        self.Run = self.items.Run
        self.JobRun = self.items.JobRun

    def connect(self) -> None:
        """Create the SDK client now, in a Lambda's init phase rather than in the first claim: one
        client, which every item class shares."""
        dynamodb("connecting to DynamoDB", lambda: share_client(self.items))

    def client(self, service: str) -> Any:
        """A client of another AWS service from this store's SDK session (one session: its
        endpoint rules and partition data are loaded once)."""
        connection = self.items.connection
        return connection.session.create_client(service, region_name=connection.region)

    # -- runs ---------------------------------------------------------------------------------

    def create_run(
        self,
        run: NewRun,
        status: RunStatus = RunStatus.CREATING,
        reason: str | None = None,
        replace_skipped: bool = False,
    ) -> bool:
        Run, Graph = self.Run, self.items.Graph
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
            gsi1sk=time_key(iso(run.scheduled_time), run.run_id),
            expires_at=run.expires_at,
        )
        blob = zlib.compress(json.dumps({n: node.to_dict() for n, node in run.nodes.items()}).encode())
        chunks = [blob[i : i + GRAPH_CHUNK] for i in range(0, len(blob), GRAPH_CHUNK)] or [b""]
        claim = Run.pk.does_not_exist()
        if replace_skipped:
            claim = (Run.status == RunStatus.SKIPPED.value) & (Run.job_count == 0)

        def write() -> None:
            with TransactWrite(connection=self.items.connection) as tx:
                tx.save(item, condition=claim)
                for n, chunk in enumerate(chunks):
                    graph = Graph(
                        run_pk(run.run_id),
                        f"GRAPH#{n:03d}",
                        data=chunk,
                        schedule=run.schedule,
                        scheduled_time=run.scheduled_time,
                        expires_at=run.expires_at,
                    )
                    # a replaced run's (empty) graph is overwritten; the run's claim guards both
                    tx.save(graph, condition=None if replace_skipped else Graph.pk.does_not_exist())

        return conditional(f"creating run {run.run_id}", write)

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
        return RunGraph(
            run_id=run_id,
            nodes=nodes,
            schedule=first.schedule or "",
            scheduled_time=float(first.scheduled_time or 0.0),
            expires_at=int(first.expires_at),
            slots=sink_slots(nodes),
        )

    def get_run(self, run_id: str) -> RunView | None:
        item = dynamodb(
            f"reading run {run_id}", lambda: self.Run.get(run_pk(run_id), "RUN", consistent_read=True), None
        )
        return None if item is None else _run_view(item)

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
            actions.append(Run.finished_at.set(now))
        item = Run(run_pk(run_id), "RUN")
        return conditional(
            f"updating run {run_id}",
            lambda: item.update(actions=actions, condition=Run.status == expected.value),
        )

    def request_cancel(self, run_id: str, now: float) -> bool:
        Run = self.Run
        return conditional(
            f"cancelling run {run_id}",
            lambda: Run(run_pk(run_id), "RUN").update(
                actions=[Run.cancel_requested_at.set(Run.cancel_requested_at | now)],
                condition=Run.status.is_in(RunStatus.CREATING.value, RunStatus.RUNNING.value),
            ),
        )

    def reopen_run(self, run_id: str, now: float) -> bool:
        Run = self.Run
        reopenable = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.RUNNING)
        return conditional(
            f"reopening run {run_id}",
            lambda: Run(run_pk(run_id), "RUN").update(
                actions=[
                    Run.status.set(RunStatus.RUNNING.value),
                    Run.finished_at.remove(),
                    Run.cancel_requested_at.remove(),
                    Run.touched.set(1),
                ],
                condition=Run.status.is_in(*(s.value for s in reopenable)),
            ),
        )

    def mark_deadline_reported(self, run_id: str, now: float) -> bool:
        Run = self.Run
        return conditional(
            f"updating run {run_id}",
            lambda: Run(run_pk(run_id), "RUN").update(
                actions=[Run.deadline_reported.set(now)],
                condition=Run.deadline_reported.does_not_exist() & Run.pk.exists(),
            ),
        )

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

    def runs_in_states(
        self,
        schedule: str,
        statuses: tuple[RunStatus, ...],
        trigger: Trigger | None = None,
        not_trigger: Trigger | None = None,
    ) -> list[RunView]:
        """(The by-schedule index projects status and trigger: the query filters on them, and
        only the matches are read in full.)"""
        wanted = {s.value for s in statuses}
        ids = dynamodb(
            f"listing runs of {schedule}",
            lambda: [
                i.run_id
                for i in self.Run.by_schedule.query(
                    f"SCHEDULE#{schedule}",
                    scan_index_forward=True,
                    filter_condition=self.Run.status.is_in(*wanted),
                )
                if i.status in wanted
                and (trigger is None or i.trigger == trigger.value)
                and (not_trigger is None or i.trigger != not_trigger.value)
            ],
        )
        runs = [self.get_run(k) for k in ids]
        return [r for r in runs if r is not None and r.status.value in wanted]

    # -- sinks --------------------------------------------------------------------------------

    def _shard(self, run_id: str, slot: SinkSlot) -> SinkShardItem:
        return self.items.Shard(run_pk(run_id), f"SINKS#{slot.shard:04d}")

    def _sink_actions(self, slot: SinkSlot, expires_at: int, ended: bool) -> list[Action]:
        S = self.items.Shard
        numbers = {slot.number}
        return [
            S.done.add(numbers) if ended else S.done.delete(numbers),
            S.size.set(slot.size),
            S.expires_at.set(expires_at),
        ]

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
        keys = [(run_pk(run_id), f"SINKS#{k:04d}") for k in range(shards)]
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

    def advance_watch(self, schedule: str, definition: str, tick: float, until: float) -> float | None:
        W = self.items.Watch
        key = f"SCHEDULE#{schedule}"
        doing = f"checking the fire times of {schedule}"
        item = dynamodb(doing, lambda: W.get(key, "WATCH", consistent_read=True), None)
        if item is None or item.definition != definition:
            dynamodb(doing, W(key, "WATCH", definition=definition, since=tick, checked_until=tick).save)
            return None
        last = float(item.checked_until)
        if until <= last:
            return None
        claimed = conditional(
            doing,
            lambda: item.update(actions=[W.checked_until.set(until)], condition=W.checked_until == last),
        )
        return last if claimed else None

    # -- job-runs: reads ----------------------------------------------------------------------

    def written_job_runs(self, run_id: str) -> list[JobRunView]:
        JR = self.JobRun
        return dynamodb(
            f"reading jobs of run {run_id}",
            lambda: [
                _job_view(i) for i in JR.query(run_pk(run_id), JR.sk.startswith("JOB#"), consistent_read=True)
            ],
        )

    def written_job_run(self, run_id: str, job: str) -> JobRunView | None:
        item = dynamodb(
            f"reading job {job} of run {run_id}",
            lambda: self.JobRun.get(run_pk(run_id), f"JOB#{job}", consistent_read=True),
            None,
        )
        return None if item is None else _job_view(item)

    def states(self, run_id: str, jobs: Iterable[str]) -> dict[str, JobState]:
        """Strongly consistent reads of just the status and generation, 100 keys per
        ``BatchGetItem`` (one key: a ``GetItem``, lighter: a chain's hand-off)."""
        keys = [(run_pk(run_id), f"JOB#{job}") for job in sorted(set(jobs))]
        if not keys:
            return {}
        JR = self.JobRun
        wanted = ["job", "status", "generation"]
        doing = f"reading the state of jobs of run {run_id}"
        if len(keys) == 1:
            one = dynamodb(
                doing, lambda: JR.get(*keys[0], consistent_read=True, attributes_to_get=wanted), None
            )
            items = [] if one is None else [one]
        else:
            items = dynamodb(
                doing, lambda: list(JR.batch_get(keys, consistent_read=True, attributes_to_get=wanted))
            )
        return {i.job: JobState(JobStatus(i.status), int(i.generation or 0)) for i in items}

    # -- job-runs: writes ---------------------------------------------------------------------

    def _item(self, run_id: str, job: str) -> JobRunItem:
        return self.JobRun(run_pk(run_id), f"JOB#{job}")

    def _new_job_run(self, run: RunGraph, name: str, status: JobStatus) -> JobRunItem:
        """A whole job-run item, from the run's graph snapshot: RUNNING for a first claim, or the
        unchanging attributes a skip, a cancel or a mark sets (``_written``)."""
        node = run.nodes[name]
        return self.JobRun(
            run_pk(run.run_id),
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

    def _written(self, graph: RunGraph | None, job: str, generation: bool = True) -> list[Action]:
        """The job-run's unchanging attributes (those of ``_new_job_run``), from the run's graph
        snapshot: set by a write that may create the item (a skip, a cancel, an operator's mark).
        Setting them again on an existing item changes nothing."""
        if graph is None or job not in graph.nodes:
            return []
        JR = self.JobRun
        whole = self._new_job_run(graph, job, JobStatus.PENDING)
        actions: list[Action] = [
            getattr(JR, name).set(value)
            for name, value in whole.attribute_values.items()
            if name not in _CHANGING and value is not None
        ]
        if generation:  # (a reset adds to it instead: one action per attribute)
            actions.append(JR.generation.set(JR.generation | 0))
        return actions

    def _counted(self, status: JobStatus, old: JobStatus | None = None) -> list[Action]:
        """The run's counter updates for a job-run going from ``old`` to ``status``."""
        steps: dict[str, int] = {}  # by name: PynamoDB attributes compare into conditions
        for state, step in ((old, -1), (status, 1)):
            if state is not None and state.terminal:
                steps[COUNTERS[state]] = steps.get(COUNTERS[state], 0) + step
        return [getattr(self.Run, name).add(step) for name, step in steps.items() if step]

    def _update(self, item: Any, actions: Sequence[Action], condition: Any, doing: str) -> bool:
        return conditional(doing, lambda: item.update(actions=list(actions), condition=condition))

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
        JR = self.JobRun
        item = self._item(run_id, job)
        resume: list[Action] = [
            JR.status.set(JobStatus.RUNNING.value),
            JR.continuing.remove(),
            JR.attempt_started_at.set(now),
            JR.lease_expires_at.set(now + lease_s),
        ]
        waiting = (
            (JR.generation == generation) & (JR.status == JobStatus.QUEUED.value) & JR.continuing.exists()
        )
        continuing = f"continuing {job} of run {run_id}"
        if continuation and self._update(item, resume, waiting, continuing):
            return _job_view(item)
        node = graph.nodes.get(job) if graph is not None else None
        if graph is not None and node is not None and generation == 0 and not continuation:
            # A job-run's first claim: it has no item yet, so it is put whole (one write, as the
            # update below would be, and much lighter to apply).
            new = self._new_job_run(graph, job, JobStatus.RUNNING)
            new.attempts, new.started_at, new.attempt_started_at = 1, now, now
            new.lease_expires_at, new.enqueued_at = now + lease_s, queued_at
            if conditional(
                f"claiming {job} of run {run_id}", lambda: new.save(condition=JR.pk.does_not_exist())
            ):
                return _job_view(new)
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
        if self._update(item, claim_actions, queued, f"claiming {job} of run {run_id}"):
            return _job_view(item)
        held = self.written_job_run(run_id, job)
        if held is not None and held.continuing and held.generation == generation:
            if not continuation and self._update(item, resume, waiting, continuing):
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
            "error": LOST_ATTEMPT,
        }
        takeover = (
            (JR.generation == generation)
            & (JR.attempts == held.attempts)
            & (JR.status == JobStatus.RUNNING.value)
            & (JR.lease_expires_at < now)
        )
        actions = [*claim_actions, JR.history.set((JR.history | []).append([json.dumps(lost)]))]
        if self._update(item, actions, takeover, f"re-claiming {job} of run {run_id}"):
            return _job_view(item)
        return None

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
        """A success is one conditional write: nothing on the run counts it (the dependents'
        releases read it; a sink's end is counted next, in its shard: ``mark_sink``). Any other
        outcome is counted on the run, and a sink's in its shard, in the same transaction."""
        JR = self.JobRun
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
        item = self._item(view.run_id, view.job)
        doing = f"finishing {view.job} of run {view.run_id}"
        if status is JobStatus.SUCCEEDED:  # nothing is read back: the caller knows what it wrote
            return conditional(doing, lambda: update_without_reading(item, actions, held))
        slot = graph.slots.get(view.job) if graph is not None else None

        def write() -> None:
            with TransactWrite(connection=self.items.connection) as tx:
                tx.update(item, actions=actions, condition=held)
                tx.update(self.Run(run_pk(view.run_id), "RUN"), actions=self._counted(status))
                if slot is not None and graph is not None:
                    tx.update(
                        self._shard(view.run_id, slot),
                        actions=self._sink_actions(slot, graph.expires_at, True),
                    )

        return conditional(doing, write)

    def checkpoint(self, view: JobRunView, cursor: str, entry: dict[str, Any], now: float) -> bool:
        JR = self.JobRun
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
        item = self._item(view.run_id, view.job)
        return self._update(item, actions, held, f"checkpointing {view.job} of run {view.run_id}")

    def retry_later(self, view: JobRunView, error: str, history_entry: dict[str, Any]) -> bool:
        JR = self.JobRun
        actions: list[Action] = [
            JR.status.set(JobStatus.QUEUED.value),
            JR.error.set(error),
            JR.lease_expires_at.remove(),
            JR.history.set(_history(view, history_entry)),
        ]
        held = (JR.status == JobStatus.RUNNING.value) & (JR.attempts == view.attempts)
        item = self._item(view.run_id, view.job)
        return self._update(item, actions, held, f"recording the failure of {view.job}")

    def skip(self, graph: RunGraph, job: str, reason: str, now: float) -> bool:
        return self._end_unstarted(graph, job, JobStatus.SKIPPED, reason, (JobStatus.PENDING,), now)

    def cancel_job(self, graph: RunGraph, job: str, now: float) -> bool:
        waiting = (JobStatus.PENDING, JobStatus.QUEUED)
        return self._end_unstarted(graph, job, JobStatus.CANCELLED, "run cancelled", waiting, now)

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
        if it had none: it was waiting), counted on the run in the same transaction, so the
        run's counters can never miss or double it."""
        JR = self.JobRun
        run_id = graph.run_id
        slot = graph.slots.get(job)

        def write() -> None:
            with TransactWrite(connection=self.items.connection) as tx:
                tx.update(
                    self._item(run_id, job),
                    actions=[
                        *self._written(graph, job),
                        JR.status.set(status.value),
                        JR.reason.set(reason),
                        JR.finished_at.set(now),
                    ],
                    condition=JR.pk.does_not_exist() | JR.status.is_in(*(e.value for e in expected)),
                )
                tx.update(self.Run(run_pk(run_id), "RUN"), actions=self._counted(status))
                if slot is not None:
                    tx.update(
                        self._shard(run_id, slot), actions=self._sink_actions(slot, graph.expires_at, True)
                    )

        return conditional(f"ending {job} of run {run_id} as {status.value}", write)

    def reset_job(
        self,
        view: JobRunView,
        status: JobStatus,
        reason: str | None = None,
        now: float | None = None,
        graph: RunGraph | None = None,
    ) -> bool:
        """A waiting job-run with no item yet (marked by an operator) gets its item from ``graph``."""
        JR = self.JobRun
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
                JR.enqueued_at.set(now or 0) if status is JobStatus.QUEUED else JR.enqueued_at.remove(),
            ]
        run_actions = self._counted(status, old=view.status)
        slot = graph.slots.get(view.job) if graph is not None else None
        moves_sink = slot is not None and graph is not None and view.status.terminal != status.terminal

        def write() -> None:
            with TransactWrite(connection=self.items.connection) as tx:
                tx.update(
                    self._item(view.run_id, view.job),
                    actions=actions,
                    condition=(JR.pk.does_not_exist() | condition) if waiting else condition,
                )
                if run_actions:
                    tx.update(self.Run(run_pk(view.run_id), "RUN"), actions=run_actions)
                if moves_sink and slot is not None and graph is not None:
                    sink = self._sink_actions(slot, graph.expires_at, ended=status.terminal)
                    tx.update(self._shard(view.run_id, slot), actions=sink)

        return conditional(f"resetting {view.job} of run {view.run_id}", write)


def _num(value: Any) -> float | None:
    return None if value is None else float(value)


def _run_view(item: Any) -> RunView:  # Any: PynamoDB attributes read as their values
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
    conditional on the attempt ``view`` holds, so nothing else changed it (and a whole value is
    cheaper to apply than a list_append)."""
    return [json.dumps(h) for h in view.history] + [json.dumps(entry)]


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
