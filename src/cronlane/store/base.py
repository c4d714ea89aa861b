"""What every run store has in common, written once: a job-run with no record yet is described
from its run's graph snapshot (``model.waiting_view``), so a store keeps only what was written;
and what a skip and a cancel are (the statuses they end a job-run from, the reason a cancel
gives), so a store implements only the write that ends a job-run that never started."""

from __future__ import annotations

from cronlane.model import JobRunView, JobStatus, RunGraph, waiting_view


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
        return self.end_unstarted(graph, job, JobStatus.CANCELLED, "run cancelled", waiting, now)

    def written_job_runs(self, run_id: str) -> list[JobRunView]:
        raise NotImplementedError

    def written_job_run(self, run_id: str, job: str) -> JobRunView | None:
        raise NotImplementedError

    def load_run_graph(self, run_id: str) -> RunGraph | None:
        raise NotImplementedError

    def job_runs(
        self, run_id: str, include_waiting: bool = True, roots_sent: bool = False
    ) -> list[JobRunView]:
        """The run's job-runs. One that has not started, been skipped or been cancelled has no
        record yet; ``include_waiting`` adds those as PENDING from the graph snapshot, or as
        QUEUED for a root when ``roots_sent`` (the run is RUNNING: its dispatch sent every
        root's message)."""
        views = self.written_job_runs(run_id)
        if not include_waiting:
            return views
        graph = self.load_run_graph(run_id)
        if graph is None:
            return views
        written = {v.job for v in views}
        return views + [
            waiting_view(graph, name, queued=roots_sent and not graph.nodes[name].depends_on)
            for name in graph.nodes
            if name not in written
        ]

    def get_job_run(self, run_id: str, job: str, include_waiting: bool = True) -> JobRunView | None:
        """One job-run; None if the run has no such job. With ``include_waiting``, one with no
        record yet is described, PENDING, from the graph snapshot."""
        view = self.written_job_run(run_id, job)
        if view is not None or not include_waiting:
            return view
        graph = self.load_run_graph(run_id)
        return waiting_view(graph, job) if graph is not None and job in graph.nodes else None
