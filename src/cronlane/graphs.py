"""The run-graph cache: each run's graph snapshot, read once per process and run.

A snapshot never changes once the run is created, so a warm executor reads it once for all the
jobs of the run it serves. One cache is built in the composition root (``wiring``) and shared by
everything in the process that needs a run's graph.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

from cronlane.model import JobNode, RunGraph
from cronlane.ports import RunRecords
from cronlane.rules import Needs

GRAPHS_KEPT = 8  # snapshots kept per process (a warm executor serves few runs at once)


class RunGraphs:
    def __init__(self, store: RunRecords, kept: int = GRAPHS_KEPT) -> None:
        self.store = store
        self.kept = kept
        self._graphs: OrderedDict[str, RunGraph] = OrderedDict()

    def get(self, run_id: str) -> RunGraph | None:
        """The run's graph snapshot (None: no such run, which is not remembered)."""
        graph = self._graphs.get(run_id)
        if graph is None:
            graph = self.store.load_run_graph(run_id)
            if graph is None:
                return None
            self._graphs[run_id] = graph
            while len(self._graphs) > self.kept:
                self._graphs.popitem(last=False)
        else:
            self._graphs.move_to_end(run_id)
        return graph

    def nodes(self, run_id: str) -> dict[str, JobNode]:
        graph = self.get(run_id)
        return graph.nodes if graph is not None else {}

    def needs_of(self, run_id: str, names: Iterable[str]) -> dict[str, Needs]:
        """What each of ``names`` waits for, from the run's graph snapshot."""
        nodes = self.nodes(run_id)
        return {n: Needs.of(nodes[n]) for n in names if n in nodes}
