"""What an operator can do to a run or a schedule: cancel, rerun, mark a job succeeded, pause and
resume. The dispatcher function performs these (``{"action": ...}`` events), so they run with its
role, on AWS and on the local twin alike.

Every action reaches its end from any crash point or SDK error part way, by being repeated or by
the run's watchdog, with no operator:

- a **restart** (``rerun``, ``mark``, and the DLQ replay) is first written on the run as a
  ``Restart``, in the same write that reopens it (RUNNING, touched): which jobs, from what status
  and generation, to what. Then its steps, each one idempotent: the resets (a job already in the
  next generation is not reset again), the messages of the jobs that start at once (a message
  sent twice is a duplicate the claim refuses), the skips of what is blocked and the release of
  what is ready. Last, the restart is removed from the run. While it is there, the run is not
  closed (``runs.RunCloser``), and whoever finds it carries it out again: the request repeated
  (every action carries out a restart it finds first), or the run's watchdog. The invariant: a
  run with a job-run that an operator's restart reset (or is about to reset) is open, and it
  names that restart until every job the restart named is in its new life and every message of
  it was sent.
- a **cancel** is written first (``cancel_requested_at``); then each job that has not started
  is cancelled; then the run is closed. Repeated, or found by the watchdog, it does the rest.

Crash points stand between every two writes: ``operator.after_intent``, ``operator.after_reset``
(after each reset), ``operator.after_send``, ``operator.after_restart``; ``operator.after_cancel``,
``operator.after_cancel_job`` (after each job).
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import replace
from typing import Any

from cronlane import watchdog
from cronlane.clock import Clock, iso
from cronlane.errors import Conflict, InvalidRequest, QueueError
from cronlane.faults import crashpoint
from cronlane.graphs import RunGraphs
from cronlane.model import (
    CANCELLED_WHILE_RUNNING,
    RUN_CANCELLED,
    JobMessage,
    JobRunView,
    JobStatus,
    Restart,
    RestartStep,
    RunGraph,
    RunStatus,
    RunView,
    ended_view,
)
from cronlane.ports import JobQueue, RunStore, Targets, Watchdog
from cronlane.release import Releaser
from cronlane.rules import RESTARTABLE, blocker, runnable, skipped_below, starts_at_once
from cronlane.runs import RunCloser
from cronlane.telemetry import Telemetry

# The order a restart's steps are taken in: the vouched-for jobs first (their dependents read
# them), then the jobs that wait, then the ones that start (a crash leaves the others untouched).
STEP_ORDER = {JobStatus.SUCCEEDED: 0, JobStatus.PENDING: 1, JobStatus.QUEUED: 2}


def handed_off(job: JobRunView) -> bool:
    """RUNNING on its target (an ``ecs`` task, a ``callback`` worker), not in an executor."""
    hand_off = job.hand_off
    return job.status is JobStatus.RUNNING and hand_off is not None and hand_off.attempt == job.attempts


class Operator:
    def __init__(
        self,
        store: RunStore,
        queue: JobQueue,
        clock: Clock,
        telemetry: Telemetry,
        graphs: RunGraphs,
        releaser: Releaser,
        closer: RunCloser,
        checks: Watchdog,
        targets: Targets | None = None,
    ) -> None:
        from cronlane.execute import NoTargets

        self.targets: Targets = targets or NoTargets()
        self.store = store
        self.queue = queue
        self.clock = clock
        self.telemetry = telemetry
        self.graphs = graphs
        self.releaser = releaser
        self.closer = closer
        self.checks = checks

    def settled_run(self, run_id: str) -> RunView:
        """The run, once any restart left on it has been carried out."""
        run = self.store.get_run(run_id)
        if run is None:
            raise InvalidRequest(f"no run {run_id}")
        if run.restart is not None:
            self.carry_out(run.run_id, run.restart)
            run = self.store.get_run(run_id) or run
        elif run.status is RunStatus.RUNNING:
            # a request that died after its last job-run write, before it closed the run: the
            # repeat closes it (nothing is written while a job still runs)
            self.closer.close(run)
            run = self.store.get_run(run_id) or run
        return run

    # -- cancel -------------------------------------------------------------------------------

    def cancel(self, run_id: str) -> dict[str, Any]:
        """Queued and pending jobs do not start; running ones finish, but a handed-off one (an
        ``ecs`` task, a ``callback`` worker's job) is cancelled at once, its task stopped (its
        completion, if one still comes, is late and ignored); the run ends CANCELLED. Repeated
        (or by the watchdog) it finishes what a cancel that died left."""
        run = self.settled_run(run_id)
        if run.status.terminal:
            return {"run_id": run_id, "status": run.status.value, "cancelled": 0}
        now = self.clock.now()
        # checked once this request can no longer be running: a cancel that died part way is
        # finished then (the check moves on to a healthy run's bound after that)
        self.checks.arm(run_id, now + watchdog.RESTART_CHECK_S)
        self.store.request_cancel(run_id, now)
        crashpoint("operator.after_cancel", run_id=run_id)
        graph = self.graphs.get(run_id)
        cancelled = []
        for job in self.store.job_runs(run_id):
            if graph is not None and job.status in (JobStatus.PENDING, JobStatus.QUEUED):
                # the events say what the writes left: a queued retry keeps its attempts
                if self.store.cancel_job(graph, job.job, now):
                    cancelled.append(
                        replace(job, status=JobStatus.CANCELLED, finished_at=now, reason=RUN_CANCELLED)
                    )
                crashpoint("operator.after_cancel_job", run_id=run_id, job=job.job)
            elif handed_off(job) and self._cancel_handed_off(job, graph, now):
                ended = replace(
                    job, status=JobStatus.CANCELLED, finished_at=now, error=CANCELLED_WHILE_RUNNING
                )
                cancelled.append(ended)
        self.closer.announcer.jobs_ended(cancelled)
        # in a run with a width, the cancelled jobs give back their places and leave the waiting
        # list (cronlane.places), so that none of them is sent for its claim to refuse
        self.releaser.send_messages(run_id, (), {j.job: j.generation for j in cancelled})
        status = self.closer.close_if_complete(run_id) or run.status
        return {"run_id": run_id, "status": status.value, "cancelled": len(cancelled)}

    def _cancel_handed_off(self, job: JobRunView, graph: RunGraph | None, now: float) -> bool:
        """End a handed-off attempt as CANCELLED (one conditional write, counted on the run),
        then stop its task and delete its timer (best effort: a timer left comes back and finds
        the job-run ended)."""
        hand_off = job.hand_off
        began = hand_off.started_at
        entry = {
            "attempt": job.attempts,
            "started_at": iso(began),
            "finished_at": iso(now),
            "duration_s": round(now - began, 3),
            "error": CANCELLED_WHILE_RUNNING,
            "target": hand_off.target,
            "handle": hand_off.handle,
        }
        ended = self.store.finish(
            job, JobStatus.CANCELLED, now, now - began, error=entry["error"], history_entry=entry, graph=graph
        )
        if ended:
            key = hand_off.key(job.run_id, job.job, job.generation)
            self.targets.stop(job.function, hand_off.handle, "cronlane: the run was cancelled", key)
            with contextlib.suppress(QueueError):
                self.queue.delete_message(hand_off.queue_arn, hand_off.receipt)
        return ended

    # -- rerun --------------------------------------------------------------------------------

    def rerun(
        self,
        run_id: str,
        failed_only: bool,
        overrides: dict[str, dict[str, Any]] | None = None,
        named: set[str] | None = None,
    ) -> dict[str, Any]:
        """A new attempt, in the same run, of the jobs that did not succeed: failed, skipped and
        cancelled ones; with ``failed_only``, the failed ones and the jobs skipped because of
        them (cancelled ones stay cancelled). Succeeded jobs are not run again. The jobs get a new
        generation, so their new messages are not taken for duplicates of the old ones.
        ``overrides`` (converted values by job) replace the run's values of the jobs it reruns;
        a job ``named`` there that it does not rerun is an error."""
        pending = self._pending(run_id)
        run = self.settled_run(run_id)
        if pending is not None and pending.action == "rerun":
            return self._answer(run, pending)  # the repeat of a rerun that died: now done
        if run.status is RunStatus.RUNNING and run.reopened > 0:
            # going again after an operator's restart: the repeat of a rerun that ended it (or a
            # second rerun while the first goes) has nothing to do, and says so
            return {"run_id": run_id, "status": run.status.value, "rerun": [], "not_rerun": {}}
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
        left_out = sorted((named or set()) - chosen)
        if left_out:
            said = ", ".join(
                f"'{n}' ({jobs[n].status.value})" if n in jobs else f"'{n}' (not in the run)"
                for n in left_out
            )
            raise InvalidRequest(f"parameters name jobs this rerun does not run: {said}")
        if not chosen:
            return {"run_id": run_id, "status": run.status.value, "rerun": [], "not_rerun": stuck}
        params = {n: {**jobs[n].params, **v} for n, v in (overrides or {}).items() if n in chosen and v}
        return self.restart("rerun", run, jobs, chosen, {}, stuck, params=params)

    # -- mark ---------------------------------------------------------------------------------

    def mark_succeeded(self, run_id: str, job: str) -> dict[str, Any]:
        """An operator vouches for a job: it counts as SUCCEEDED and its dependents proceed
        (those skipped because of it get a new chance)."""
        pending = self._pending(run_id)
        run = self.settled_run(run_id)
        if pending is not None and pending.action == "mark" and job in pending.steps:
            return self._answer(run, pending)  # the repeat of a mark that died: now done
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
        return self.restart("mark", run, jobs, below, {job: view}, stuck)

    def reopen_and_send(self, run_id: str, messages: list[JobMessage]) -> None:
        """Send the messages of jobs that wait in ``run_id`` (a replay of letters whose jobs
        never started, or whose restart left them unsent), reopening the run if it had ended.
        The run's check is armed first, so a request that dies before the send leaves them to
        it (or to its repeat, which finds the same letters)."""
        now = self.clock.now()
        self.checks.arm(run_id, now + watchdog.RESTART_CHECK_S)
        self.store.reopen_run(run_id, now)
        crashpoint("dlq.after_reopen", run_id=run_id)
        self.releaser.send_messages(run_id, messages)

    # -- restarts -----------------------------------------------------------------------------

    def can_run(
        self, run_id: str, jobs: dict[str, JobRunView], chosen: set[str], vouched: set[str]
    ) -> tuple[set[str], dict[str, str]]:
        """The chosen jobs that can run again, and why each other one cannot (``rules.runnable``)."""
        return runnable(self.graphs.nodes(run_id), jobs, chosen, vouched)

    def restart(
        self,
        action: str,
        run: RunView,
        jobs: dict[str, JobRunView],
        chosen: set[str],
        vouched: dict[str, JobRunView],
        not_rerun: dict[str, str] | None = None,
        params: dict[str, dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Restart ``chosen`` (and vouch for ``vouched``) in ``run``: the restart is written on the
        run, reopening it, then carried out (see the module's docstring)."""
        nodes = self.graphs.nodes(run.run_id)
        steps = {
            name: RestartStep(view.status, view.generation, JobStatus.SUCCEEDED)
            for name, view in vouched.items()
        }
        for name in chosen:
            starts = name in nodes and starts_at_once(nodes[name], jobs, chosen, set(vouched))
            to = JobStatus.QUEUED if starts else JobStatus.PENDING
            steps[name] = RestartStep(jobs[name].status, jobs[name].generation, to)
        now = self.clock.now()
        restart = Restart(uuid.uuid4().hex, action, now, steps, params or {})
        # Checked once the request can no longer be running, in case it dies part way.
        self.checks.arm(run.run_id, now + watchdog.RESTART_CHECK_S)
        if not self.store.begin_restart(run.run_id, restart, now):
            raise Conflict(f"run {run.run_id} changed while being restarted; try again")
        # armed again now the run is reopened: a closer that closed it a moment before may have
        # deleted the check armed above as it finished
        self.checks.arm(run.run_id, now + watchdog.RESTART_CHECK_S)
        crashpoint("operator.after_intent", run_id=run.run_id)
        self.carry_out(run.run_id, restart)
        answer = self._answer(self.store.get_run(run.run_id) or run, restart)
        return {**answer, "not_rerun": not_rerun or {}}

    def _pending(self, run_id: str) -> Restart | None:
        run = self.store.get_run(run_id)
        return run.restart if run is not None else None

    def _answer(self, run: RunView, restart: Restart) -> dict[str, Any]:
        vouched = sorted(n for n, s in restart.steps.items() if s.to is JobStatus.SUCCEEDED)
        return {
            "run_id": run.run_id,
            "status": run.status.value,
            "rerun": sorted(n for n, s in restart.steps.items() if s.to is not JobStatus.SUCCEEDED),
            "marked": vouched,
            "not_rerun": {},
        }

    def carry_out(self, run_id: str, restart: Restart) -> RunStatus | None:
        """Take every step of ``restart`` that is not taken yet, then remove it from the run and
        close the run if that was all it had to do. Safe to repeat, and to run twice at once."""
        now = self.clock.now()
        graph = self.graphs.get(run_id)
        jobs = {j.job: j for j in self.store.job_runs(run_id)}
        ready: list[JobMessage] = []
        for name, step in sorted(restart.steps.items(), key=lambda item: (STEP_ORDER[item[1].to], item[0])):
            view = jobs.get(name)
            if view is None:
                continue
            if view.status is step.from_status and view.generation == step.generation:
                if not self.store.reset_job(
                    view, step.to, now=now, graph=graph, params=restart.params.get(name)
                ):
                    raise Conflict(f"job '{name}' changed while being restarted; try again")
                crashpoint("operator.after_reset", run_id=run_id, job=name)
                view = replace(view, status=step.to, generation=step.generation + 1)
                if step.to is JobStatus.SUCCEEDED:  # an operator vouched for it: an end too
                    # as the reset left the item: its error gone, its attempts kept
                    marked = replace(
                        view, finished_at=now, error=None, reason="marked succeeded by an operator"
                    )
                    self.closer.announcer.jobs_ended([marked])
            if view.generation != step.generation + 1:
                continue  # moved on another way since the restart read it: nothing to do for it
            if step.to is JobStatus.QUEUED and view.status is JobStatus.QUEUED:
                ready.append(JobMessage(run_id, name, view.generation, lane=view.lane))
        vouched = [n for n, s in restart.steps.items() if s.to is JobStatus.SUCCEEDED]
        for name in vouched:
            # dependents still waiting (not restarted) start if this was their last upstream
            waiting = [d for d in (jobs[name].dependents if name in jobs else ()) if d not in restart.steps]
            needs = self.graphs.needs_of(run_id, waiting)
            ready += self.releaser.ready(run_id, name, JobStatus.SUCCEEDED, needs, now).messages
        # An upstream that was still running when the jobs were read may have finished since,
        # and its release read the job before this reset it: read again now (after the writes),
        # as a release does, so that one of the two sends it.
        waiting = [n for n, s in restart.steps.items() if s.to is JobStatus.PENDING]
        if waiting and graph is not None:
            waiting = self._skip_blocked(run_id, graph, waiting, now)
        if waiting:
            needs = self.graphs.needs_of(run_id, waiting)
            ready += self.releaser.ready(run_id, None, JobStatus.SUCCEEDED, needs, now).messages
        # a vouched job's place is free (cronlane.places)
        self.releaser.send_messages(
            run_id, ready, ended={n: restart.steps[n].generation + 1 for n in vouched}
        )
        crashpoint("operator.after_send", run_id=run_id)
        self.store.end_restart(run_id, restart.id)
        crashpoint("operator.after_restart", run_id=run_id)
        # Marking the last unfinished job may complete the run.
        return self.closer.close_if_complete(run_id)

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
            if status.get(name, JobStatus.PENDING) is not JobStatus.PENDING:
                return None  # started, or ended, since: not this one's to skip
            upstreams = {u: status.get(u, JobStatus.PENDING) for u in nodes[name].depends_on}
            return blocker(nodes[name].trigger_rule, upstreams)

        left = list(waiting)
        while blocked := [(name, u) for name in left if (u := blocked_by(name)) is not None]:
            for name, upstream in blocked:
                reason = f"upstream {upstream} is {status[upstream].value}"
                if self.store.skip(graph, name, reason, now):
                    self.telemetry.emit("JobsSkipped", 1, job=name)
                    self.closer.announcer.jobs_ended(
                        [ended_view(graph, name, JobStatus.SKIPPED, now, reason=reason)]
                    )
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
