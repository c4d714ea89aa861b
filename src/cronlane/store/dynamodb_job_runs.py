"""The DynamoDB store, its job-runs' half: a job-run's life, claimed, finished, checkpointed,
skipped, cancelled or reset, each a conditional write, and the reads a release decides on
(``ports.JobRunRecords``). A job-run's item is written by its first claim, skip or cancel, whole,
from the run's graph snapshot."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from pynamodb.expressions.condition import size
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from cronlane.model import (
    DEFAULT_MAX_CONTINUATIONS,
    JobRunView,
    JobState,
    JobStatus,
    RunGraph,
    lists_kept,
)
from cronlane.results import inline, result_key
from cronlane.sdk_errors import conditional, dynamodb
from cronlane.store import keys
from cronlane.store.base import MAX_LATE_COMPLETIONS, lost_entry
from cronlane.store.dynamodb_base import DynamoTable, job_view
from cronlane.store.items import JobRunItem, run_pk, update_without_reading

# A job-run's attributes that its life changes (the key, and what a new item starts them at):
# everything else on it is set once, from the run's graph snapshot.
_CHANGING = frozenset({"pk", "sk", "status", "attempts", "generation", "enqueued_at"})
COUNTERS = {
    JobStatus.SUCCEEDED: "succeeded",
    JobStatus.FAILED: "failed",
    JobStatus.SKIPPED: "skipped",
    JobStatus.CANCELLED: "cancelled",
}


class JobRunRecordsOnDynamo(DynamoTable):
    # -- job-runs: reads ----------------------------------------------------------------------

    def written_job_runs(self, run_id: str) -> list[JobRunView]:
        JR = self.JobRun
        items = dynamodb(
            f"reading jobs of run {run_id}",
            lambda: [
                item
                for pk in keys.spread_pks(run_id, self.spread(run_id))
                for item in JR.query(pk, JR.sk.startswith("JOB#"), consistent_read=True)
            ],
        )
        graph = self.load_run_graph(run_id) if any(i.in_graph for i in items) else None
        return [self._view(i, graph) for i in items]

    def written_job_run(self, run_id: str, job: str) -> JobRunView | None:
        item = dynamodb(
            f"reading job {job} of run {run_id}",
            lambda: self.JobRun.get(self.job_pk(run_id, job), f"JOB#{job}", consistent_read=True),
            None,
        )
        return None if item is None else self._view(item)

    def states(self, run_id: str, jobs: Iterable[str]) -> dict[str, JobState]:
        """Strongly consistent reads of just the status, generation and lease, 100 keys per
        ``BatchGetItem`` (one key: a ``GetItem``, lighter: a chain's hand-off)."""
        wanted_keys = [(self.job_pk(run_id, job), f"JOB#{job}") for job in sorted(set(jobs))]
        if not wanted_keys:
            return {}
        JR = self.JobRun
        wanted = ["job", "status", "generation", "lease_expires_at", "chain"]
        doing = f"reading the state of jobs of run {run_id}"
        if len(wanted_keys) == 1:
            one = dynamodb(
                doing, lambda: JR.get(*wanted_keys[0], consistent_read=True, attributes_to_get=wanted), None
            )
            items = [] if one is None else [one]
        else:
            items = dynamodb(
                doing,
                lambda: list(JR.batch_get(wanted_keys, consistent_read=True, attributes_to_get=wanted)),
            )
        return {
            i.job: JobState(
                JobStatus(i.status),
                int(i.generation or 0),
                None if i.lease_expires_at is None else float(i.lease_expires_at),
                i.chain,
            )
            for i in items
        }

    def join(
        self, run_id: str, job: str, shard: int | None, numbers: set[int], size: int, expires_at: int
    ) -> bool:
        S = self.items.Shard
        pk = keys.join_pk(run_id, job, shard, self.spread(run_id))
        item = S(pk, f"JOIN#{job}" if shard is None else f"JOIN#{job}#{shard:04d}")
        actions: list[Action] = [S.done.add(numbers), S.size.set(size), S.expires_at.set(expires_at)]
        dynamodb(f"counting upstreams of {job} in run {run_id} done", lambda: item.update(actions=actions))
        return len(item.done or ()) >= size

    def load_run_graph(self, run_id: str) -> RunGraph | None:  # the runs' half reads it
        raise NotImplementedError

    def _view(self, item: JobRunItem, graph: RunGraph | None = None) -> JobRunView:
        """The job-run an item holds; a wide job's lists come from the graph snapshot (``graph``
        if it is the run's, else read)."""
        view = job_view(item)
        if not item.in_graph:
            return view
        if graph is None or graph.run_id != view.run_id:
            graph = self.load_run_graph(view.run_id)
        node = graph.nodes.get(view.job) if graph is not None else None
        if node is None:
            return view
        return replace(
            view,
            depends_on=node.depends_on,
            dependents=node.dependents,
            dependent_fan_in=node.dependent_fan_in,
            dependent_lanes=node.dependent_lanes,
        )

    # -- job-runs: writes ---------------------------------------------------------------------

    def _item(self, run_id: str, job: str) -> JobRunItem:
        return self.JobRun(self.job_pk(run_id, job), f"JOB#{job}")

    def _new_job_run(self, run: RunGraph, name: str, status: JobStatus) -> JobRunItem:
        """A whole job-run item, from the run's graph snapshot: RUNNING for a first claim, or the
        unchanging attributes a skip, a cancel or a mark sets (``_written``)."""
        node = run.nodes[name]
        kept = lists_kept(node.depends_on, node.dependents)  # else: in the graph snapshot only
        return self.JobRun(
            keys.job_pk(run.run_id, name, run.spread),
            f"JOB#{name}",
            run_id=run.run_id,
            job=name,
            group=node.group,
            schedule=run.schedule,
            scheduled_time=run.scheduled_time,
            status=status.value,
            function=node.function,
            depends_on=list(node.depends_on) if kept else [],
            dependents=list(node.dependents) if kept else [],
            dependent_fan_in=list(node.dependent_fan_in) if kept else [],
            timeout_s=node.timeout_s,
            max_attempts=node.max_attempts,
            max_continuations=(
                node.max_continuations if node.max_continuations != DEFAULT_MAX_CONTINUATIONS else None
            ),
            params=json.dumps(node.params, sort_keys=True),
            lane=node.lane or None,
            dependent_lanes=list(node.dependent_lanes) if kept and any(node.dependent_lanes) else None,
            in_graph=None if kept else 1,
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
        chain: str | None = None,
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
            return self._view(item, graph)
        node = graph.nodes.get(job) if graph is not None else None
        if graph is not None and node is not None and generation == 0 and not continuation:
            # A job-run's first claim: it has no item yet, so it is put whole (one write, as the
            # update below would be, and much lighter to apply).
            new = self._new_job_run(graph, job, JobStatus.RUNNING)
            new.attempts, new.started_at, new.attempt_started_at = 1, now, now
            new.lease_expires_at, new.enqueued_at, new.chain = now + lease_s, queued_at, chain
            if conditional(
                f"claiming {job} of run {run_id}", lambda: new.save(condition=JR.pk.does_not_exist())
            ):
                return self._view(new, graph)
            # It exists (a retry, a continuation, a duplicate): the update below decides.
        claim_actions: list[Action] = [
            JR.status.set(JobStatus.RUNNING.value),
            JR.attempts.add(1),
            JR.started_at.set(JR.started_at | now),
            JR.attempt_started_at.set(now),
            JR.lease_expires_at.set(now + lease_s),
            JR.chain.set(chain) if chain is not None else JR.chain.remove(),
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
            return self._view(item, graph)
        held = self.written_job_run(run_id, job)
        if held is not None and held.continuing and held.generation == generation:
            if not continuation and self._update(item, resume, waiting, continuing):
                return self._view(item, graph)
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
        lost = lost_entry(held, now)
        takeover = (
            (JR.generation == generation)
            & (JR.attempts == held.attempts)
            & (JR.status == JobStatus.RUNNING.value)
            & (JR.lease_expires_at < now)
        )
        actions = [*claim_actions, JR.history.set((JR.history | []).append([json.dumps(lost)]))]
        if self._update(item, actions, takeover, f"re-claiming {job} of run {run_id}"):
            return self._view(item, graph)
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
        result: str | None = None,
    ) -> bool:
        """A success is one conditional write: nothing on the run counts it (the dependents'
        releases read it; a sink's end is counted next, in its shard: ``mark_sink``); a small
        result is set in the same write, a larger one put first, in its own item. Any other
        outcome is counted on the run, and a sink's in its shard, in the same transaction."""
        JR = self.JobRun
        actions: list[Action] = [
            JR.status.set(status.value),
            JR.finished_at.set(now),
            JR.duration_s.set(round(duration_s, 3)),
            JR.lease_expires_at.remove(),
        ]
        if status is JobStatus.SUCCEEDED:
            key = result_key(view.generation, view.attempts)
            if result is not None and not inline(result):
                self._put_result(view, key, result, graph)
            actions.append(JR.result_key.set(key) if result is not None else JR.result_key.remove())
            small = result if result is not None and inline(result) else None
            actions.append(JR.result.set(small) if small is not None else JR.result.remove())
        if error is not None:
            actions.append(JR.error.set(error))
        if history_entry is not None:
            actions.append(JR.history.set(_history(view, history_entry)))
        held = self._held_now(view)
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

    def _put_result(self, view: JobRunView, key: str, result: str, graph: RunGraph | None) -> None:
        expires = graph.expires_at if graph is not None else int(view.scheduled_time) + 90 * 86_400
        # one item per life and attempt: an attempt that lost its lease (its success write will
        # fail) cannot overwrite the result of the one that holds the job-run
        pk = self.job_pk(view.run_id, view.job)
        item = self.items.Result(pk, f"RESULT#{view.job}#{key}", key=key, data=result)
        item.expires_at = expires
        dynamodb(f"storing the result of {view.job} of run {view.run_id}", item.save)

    def results(self, run_id: str, jobs: Sequence[JobRunView]) -> dict[str, Any]:
        done = [j for j in jobs if j.status is JobStatus.SUCCEEDED and j.result_key]
        kept = {j.job: json.loads(j.result) for j in done if j.result is not None}  # on the item
        wanted = {j.job: j.result_key for j in done if j.result is None}
        if not wanted:
            return kept
        R = self.items.Result
        sort_keys = {f"RESULT#{job}#{key}": job for job, key in wanted.items()}
        wanted_keys = [(self.job_pk(run_id, sort_keys[sk]), sk) for sk in sorted(sort_keys)]
        found = dynamodb(
            f"reading the results of run {run_id}",
            lambda: list(R.batch_get(wanted_keys, consistent_read=True)),
        )
        return kept | {sort_keys[i.sk]: json.loads(i.data) for i in found if i.sk in sort_keys}

    def upstream_results(self, run_id: str, jobs: Sequence[str]) -> dict[str, Any]:
        views = [v for v in (self.written_job_run(run_id, j) for j in jobs) if v is not None]
        return self.results(run_id, views)

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
        held = self._held_now(view)
        item = self._item(view.run_id, view.job)
        return self._update(item, actions, held, f"recording the failure of {view.job}")

    def _held_now(self, view: JobRunView) -> Any:
        JR = self.JobRun
        return (
            (JR.status == JobStatus.RUNNING.value)
            & (JR.attempts == view.attempts)
            & (JR.generation == view.generation)
        )

    def hand_off(self, view: JobRunView, hand_off: Any) -> bool:
        JR = self.JobRun
        actions: list[Action] = [
            JR.hand_off.set(hand_off.to_json()),
            JR.lease_expires_at.set(hand_off.lease_until(hand_off.started_at)),
        ]
        item = self._item(view.run_id, view.job)
        return self._update(
            item, actions, self._held_now(view), f"handing off {view.job} of run {view.run_id}"
        )

    def extend_lease(self, view: JobRunView, until: float) -> bool:
        JR = self.JobRun
        item = self._item(view.run_id, view.job)
        held = self._held_now(view) & JR.hand_off.exists()
        return self._update(
            item,
            [JR.lease_expires_at.set(until)],
            held,
            f"extending the lease of {view.job} of run {view.run_id}",
        )

    def record_late(self, run_id: str, job: str, entry: dict[str, Any]) -> bool:
        JR = self.JobRun
        item = self._item(run_id, job)
        keeps = JR.pk.exists() & (
            JR.late_completions.does_not_exist() | (size(JR.late_completions) < MAX_LATE_COMPLETIONS)
        )
        late = (JR.late_completions | []).append([json.dumps(entry, sort_keys=True)])
        return self._update(
            item, [JR.late_completions.set(late)], keeps, f"recording a late completion of {job}"
        )

    def end_unstarted(
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
        run's counters can never miss or double it. A job the run does not have is not one."""
        if job not in graph.nodes:
            return False
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
        params: dict[str, Any] | None = None,
    ) -> bool:
        """A waiting job-run with no item yet (marked by an operator) gets its item from ``graph``."""
        if graph is not None and view.job not in graph.nodes:
            return False  # not a job of the run
        JR = self.JobRun
        condition = (JR.status == view.status.value) & (JR.generation == view.generation)
        waiting = view.status is JobStatus.PENDING and view.generation == 0 and graph is not None
        actions: list[Action] = [
            *(self._written(graph, view.job, generation=False) if waiting else []),
            JR.status.set(status.value),
            JR.generation.add(1),
            JR.error.remove(),
            JR.lease_expires_at.remove(),
            # a new life starts from the beginning, not from the last one's checkpoint, and a
            # marked success has no result
            JR.checkpoint.remove(),
            JR.continuations.remove(),
            JR.continuing.remove(),
            JR.result_key.remove(),
            JR.result.remove(),
        ]
        if params is not None:
            actions.append(JR.params.set(json.dumps(params, sort_keys=True)))
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


def _history(view: JobRunView, entry: dict[str, Any]) -> Any:  # Any: PynamoDB types list values
    """The attempt history with ``entry`` added, written whole: every write that adds to it is
    conditional on the attempt ``view`` holds, so nothing else changed it (and a whole value is
    cheaper to apply than a list_append)."""
    return [json.dumps(h) for h in view.history] + [json.dumps(entry)]
