"""What every run store has in common, written once: a job-run with no record yet is described
from its run's graph snapshot (``model.waiting_view``), so a store keeps only what was written;
and what a skip and a cancel are (the statuses they end a job-run from, the reason a cancel
gives), so a store implements only the write that ends a job-run that never started."""

from __future__ import annotations

from typing import Any

from cronlane.clock import iso
from cronlane.model import RUN_CANCELLED, JobRunView, JobStatus, PlacesRecord, RunGraph, waiting_view
from cronlane.places import shown

LOST_ATTEMPT = (
    "the executor stopped before recording an outcome (a crash, or the Lambda timeout); its lease expired"
)
MAX_LATE_COMPLETIONS = 20  # late completions kept on a job-run (more are counted, not kept)


def lost_entry(held: JobRunView, now: float) -> dict[str, Any]:
    """The history entry of an attempt whose lease ran out (it is taken over by a new one): an
    executor that died, or a handed-off attempt that sent no completion or heartbeat in time."""
    entry: dict[str, Any] = {
        "attempt": held.attempts,
        "started_at": iso(held.attempt_started_at) if held.attempt_started_at else None,
        "finished_at": None,
        "duration_s": None,
        "error": LOST_ATTEMPT,
    }
    hand_off = held.hand_off
    if hand_off is not None and hand_off.attempt == held.attempts:
        entry.update(error=hand_off.lost_error(now), target=hand_off.target, handle=hand_off.handle)
    return entry


class StoreBase:
    """``job_runs``, ``get_job_run``, ``skip`` and ``cancel_job`` on top of a store's
    ``written_job_runs``, ``written_job_run``, ``load_run_graph`` and ``end_unstarted``."""

    def end_unstarted(
        self,
        graph: RunGraph,
        job: str,
        status: JobStatus,
        reason: str,
        expected: tuple[JobStatus, ...],
        now: float,
    ) -> bool:
        """A job-run that never started (or has no record: it was waiting) and is in one of
        ``expected`` ends in ``status`` with ``reason``, counted on the run in the same write;
        False if it had moved on, or the run has no such job."""
        raise NotImplementedError

    def skip(self, graph: RunGraph, job: str, reason: str, now: float) -> bool:
        return self.end_unstarted(graph, job, JobStatus.SKIPPED, reason, (JobStatus.PENDING,), now)

    def cancel_job(self, graph: RunGraph, job: str, now: float) -> bool:
        waiting = (JobStatus.PENDING, JobStatus.QUEUED)
        return self.end_unstarted(graph, job, JobStatus.CANCELLED, RUN_CANCELLED, waiting, now)

    def written_job_runs(self, run_id: str) -> list[JobRunView]:
        raise NotImplementedError

    def written_job_run(self, run_id: str, job: str) -> JobRunView | None:
        raise NotImplementedError

    def load_run_graph(self, run_id: str) -> RunGraph | None:
        raise NotImplementedError

    def places(self, run_id: str) -> PlacesRecord:
        raise NotImplementedError

    def job_runs(
        self, run_id: str, include_waiting: bool = True, roots_sent: bool = False, places: bool = False
    ) -> list[JobRunView]:
        """The run's job-runs. One that has not started, been skipped or been cancelled has no
        record yet; ``include_waiting`` adds those as PENDING from the graph snapshot, or as
        QUEUED for a root when ``roots_sent`` (the run is RUNNING: its dispatch sent every
        root's message). With ``places``, a run with a width reads its places too, so a job
        waiting for one says so (``cronlane.places.shown``: what the operator's views show)."""
        views = self.written_job_runs(run_id)
        if not include_waiting:
            return views
        graph = self.load_run_graph(run_id)
        if graph is None:
            return views
        written = {v.job for v in views}
        jobs = views + [
            waiting_view(graph, name, queued=roots_sent and not graph.nodes[name].depends_on)
            for name in graph.nodes
            if name not in written
        ]
        if places and graph.max_parallel is not None:
            return shown(jobs, self.places(run_id), graph.max_parallel)
        return jobs

    def get_job_run(self, run_id: str, job: str, include_waiting: bool = True) -> JobRunView | None:
        """One job-run; None if the run has no such job. With ``include_waiting``, one with no
        record yet is described, PENDING, from the graph snapshot."""
        view = self.written_job_run(run_id, job)
        if view is not None or not include_waiting:
            return view
        graph = self.load_run_graph(run_id)
        return waiting_view(graph, job) if graph is not None and job in graph.nodes else None
