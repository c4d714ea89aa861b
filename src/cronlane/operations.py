"""What an operator can do to a run or a schedule: cancel, rerun, mark a job succeeded, pause and
resume. The dispatcher function performs these (``{"action": ...}`` events), so they run with its
role, on AWS and on the local twin alike."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cronlane.clock import Clock
from cronlane.errors import Conflict, InvalidRequest
from cronlane.faults import crashpoint
from cronlane.graphs import RunGraphs
from cronlane.model import JobMessage, JobRunView, JobStatus, RunGraph, RunStatus, RunView
from cronlane.ports import JobQueue, RunStore
from cronlane.release import Releaser
from cronlane.rules import RESTARTABLE, blocker, runnable, skipped_below, starts_at_once
from cronlane.runs import close_if_complete
from cronlane.telemetry import Telemetry


class Operator:
    def __init__(
        self,
        store: RunStore,
        queue: JobQueue,
        clock: Clock,
        telemetry: Telemetry,
        graphs: RunGraphs,
        releaser: Releaser,
        on_run_closed: Callable[[RunView], None] | None = None,
    ) -> None:
        self.on_run_closed = on_run_closed
        self.store = store
        self.queue = queue
        self.clock = clock
        self.telemetry = telemetry
        self.graphs = graphs
        self.releaser = releaser

    def _run(self, run_id: str) -> RunView:
        run = self.store.get_run(run_id)
        if run is None:
            raise InvalidRequest(f"no run {run_id}")
        return run

    # -- cancel -------------------------------------------------------------------------------

    def cancel(self, run_id: str) -> dict[str, Any]:
        """Queued and pending jobs do not start; running ones finish; the run ends CANCELLED."""
        run = self._run(run_id)
        if run.status.terminal:
            return {"run_id": run_id, "status": run.status.value, "cancelled": 0}
        now = self.clock.now()
        self.store.request_cancel(run_id, now)
        graph = self.graphs.get(run_id)
        cancelled = [
            j.job
            for j in self.store.job_runs(run_id)
            if graph is not None
            and j.status in (JobStatus.PENDING, JobStatus.QUEUED)
            and self.store.cancel_job(graph, j.job, now)
        ]
        status = (
            close_if_complete(self.store, run_id, self.clock.now(), self.telemetry, self.on_run_closed)
            or run.status
        )
        return {"run_id": run_id, "status": status.value, "cancelled": len(cancelled)}

    # -- rerun --------------------------------------------------------------------------------

    def rerun(self, run_id: str, failed_only: bool) -> dict[str, Any]:
        """A new attempt, in the same run, of the jobs that did not succeed: failed, skipped and
        cancelled ones; with ``failed_only``, the failed ones and the jobs skipped because of
        them (cancelled ones stay cancelled). Succeeded jobs are not run again. The jobs get a new
        generation, so their new messages are not taken for duplicates of the old ones."""
        run = self._run(run_id)
        if not run.status.terminal or run.status is RunStatus.SKIPPED:
            raise InvalidRequest(f"run {run_id} is {run.status.value}; only a finished run can be rerun")
        jobs = {j.job: j for j in self.store.job_runs(run_id)}
        if failed_only:
            failed = {n for n, j in jobs.items() if j.status is JobStatus.FAILED}
            chosen = failed | {
                d for n in failed for d in skipped_below(jobs, n) if jobs[d].status is JobStatus.SKIPPED
            }
        else:
            chosen = {n for n, j in jobs.items() if j.status in RESTARTABLE}
        chosen, stuck = self.can_run(run_id, jobs, chosen, set())
        if not chosen:
            return {"run_id": run_id, "status": run.status.value, "rerun": [], "not_rerun": stuck}
        return self.restart(run, jobs, chosen, {}, stuck)

    # -- mark ---------------------------------------------------------------------------------

    def mark_succeeded(self, run_id: str, job: str) -> dict[str, Any]:
        """An operator vouches for a job: it counts as SUCCEEDED and its dependents proceed
        (those skipped because of it get a new chance)."""
        run = self._run(run_id)
        # a root of a going run has its message on the queue, item or not: it is QUEUED
        sent = run.status is RunStatus.RUNNING
        jobs = {j.job: j for j in self.store.job_runs(run_id, roots_sent=sent)}
        if job not in jobs:
            raise InvalidRequest(f"run {run_id} has no job '{job}'")
        view = jobs[job]
        if view.status is JobStatus.SUCCEEDED:
            return {"run_id": run_id, "status": run.status.value, "rerun": [], "marked": [], "not_rerun": {}}
        if view.status in (JobStatus.RUNNING, JobStatus.QUEUED):
            raise InvalidRequest(f"job '{job}' is {view.status.value}; wait for it or cancel the run")
        below, stuck = self.can_run(run_id, jobs, skipped_below(jobs, job), {job})
        return self.restart(run, jobs, below, {job: view}, stuck)

    # -- shared -------------------------------------------------------------------------------

    def can_run(
        self, run_id: str, jobs: dict[str, JobRunView], chosen: set[str], vouched: set[str]
    ) -> tuple[set[str], dict[str, str]]:
        """The chosen jobs that can run again, and why each other one cannot (``rules.runnable``)."""
        return runnable(self.graphs.nodes(run_id), jobs, chosen, vouched)

    def restart(
        self,
        run: RunView,
        jobs: dict[str, JobRunView],
        chosen: set[str],
        vouched: dict[str, JobRunView],
        not_rerun: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        now = self.clock.now()
        ready: list[JobMessage] = []
        graph = self.graphs.get(run.run_id)
        for job, view in vouched.items():
            if not self.store.reset_job(view, JobStatus.SUCCEEDED, now=now, graph=graph):
                raise Conflict(f"job '{job}' changed while being marked; try again")
            # dependents still waiting (not skipped) start if this was their last upstream
            waiting = [d for d in view.dependents if d not in chosen and jobs[d].status is JobStatus.PENDING]
            needs = self.graphs.needs_of(run.run_id, waiting)
            ready += self.releaser.ready(run.run_id, job, JobStatus.SUCCEEDED, needs, now).messages
        nodes = graph.nodes if graph is not None else {}
        plan = [
            (name in nodes and starts_at_once(nodes[name], jobs, chosen, set(vouched)), name)
            for name in sorted(chosen)
        ]
        # The jobs that wait (PENDING) are reset first and the ones that start (QUEUED) last, then
        # the run reopens, then the messages go. Whatever point this dies at, what is left is
        # either untouched (a FAILED job still FAILED: the request can be repeated) or a QUEUED
        # job of a newer generation (a DLQ replay repeats the reopen and the send).
        for queued, name in sorted(plan):
            view = jobs[name]
            status = JobStatus.QUEUED if queued else JobStatus.PENDING
            if not self.store.reset_job(view, status, now=now, graph=graph):
                raise Conflict(f"job '{name}' changed while being restarted; try again")
            crashpoint("operator.after_reset", run_id=run.run_id, job=name)
            if status is JobStatus.QUEUED:
                ready.append(JobMessage(run.run_id, name, view.generation + 1))
        # An upstream that was still running when ``jobs`` was read may have finished since, and
        # its release read the job before this reset it: read again now (after the writes), as
        # a release does, so that one of the two sends it.
        waiting = [name for queued, name in plan if not queued]
        if waiting and graph is not None:
            waiting = self._skip_blocked(run.run_id, graph, waiting, now)
        if waiting:
            needs = self.graphs.needs_of(run.run_id, waiting)
            ready += self.releaser.ready(run.run_id, None, JobStatus.SUCCEEDED, needs, now).messages
        self.store.reopen_run(run.run_id, now)
        crashpoint("operator.after_reopen", run_id=run.run_id)
        if ready:
            self.queue.send(ready)
        # Marking the last unfinished job may complete the run.
        closed = close_if_complete(
            self.store, run.run_id, self.clock.now(), self.telemetry, self.on_run_closed
        )
        return {
            "run_id": run.run_id,
            "status": (closed or RunStatus.RUNNING).value,
            "rerun": sorted(chosen),
            "marked": sorted(vouched),
            "not_rerun": not_rerun or {},
        }

    def _skip_blocked(self, run_id: str, graph: RunGraph, waiting: list[str], now: float) -> list[str]:
        """Skip the jobs just reset to wait whose upstream (default rule) has ended without
        succeeding since the jobs were read: one that was running when an operator marked a job,
        and failed. Its executor skips what waits below it, but it may have looked while these
        were still SKIPPED; this reads after the resets, so one of the two sees the other.
        Returns the jobs that still wait."""
        nodes = graph.nodes
        to_read = set(waiting) | {u for name in waiting for u in nodes[name].depends_on}
        status = {name: state.status for name, state in self.store.states(run_id, to_read).items()}

        def blocked_by(name: str) -> str | None:
            upstreams = {u: status.get(u, JobStatus.PENDING) for u in nodes[name].depends_on}
            return blocker(nodes[name].trigger_rule, upstreams)

        left = list(waiting)
        while blocked := [(name, u) for name in left if (u := blocked_by(name)) is not None]:
            for name, upstream in blocked:
                if self.store.skip(graph, name, f"upstream {upstream} is {status[upstream].value}", now):
                    self.telemetry.emit("JobsSkipped", 1, job=name)
                status[name] = JobStatus.SKIPPED
                left.remove(name)
        return left

    # -- schedules ----------------------------------------------------------------------------

    def pause(self, schedule: str, reason: str | None) -> dict[str, Any]:
        self.store.set_paused(schedule, True, reason or "paused by an operator", self.clock.now())
        return {"schedule": schedule, "paused": True, "reason": reason or "paused by an operator"}

    def resume(self, schedule: str) -> dict[str, Any]:
        self.store.set_paused(schedule, False, None, self.clock.now())
        return {"schedule": schedule, "paused": False}
