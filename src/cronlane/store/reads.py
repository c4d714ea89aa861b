"""Reads every run store shares: a job-run with no record yet is described from its run's graph
snapshot (``model.waiting_view``), so a store only has to keep what was written."""

from __future__ import annotations

from cronlane.model import JobRunView, RunGraph, waiting_view


class WaitingJobRuns:
    """``job_runs`` and ``get_job_run`` on top of a store's ``written_job_runs``,
    ``written_job_run`` and ``load_run_graph``."""

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
