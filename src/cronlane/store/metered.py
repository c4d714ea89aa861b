"""The in-memory store, billed as the DynamoDB store would be (``capacity``): each method charges
the requests its DynamoDB twin makes (``store.dynamodb``), on the partition key they go to, by
the size of the items they touch. A model, not a measurement: a test holds it to the stack's
bill (``tests/stack/test_width.py``).

What each method costs is one entry of ``COSTS``; a method a store calls inside another (a
``job_runs`` reads the written job-runs, then the graph) is charged as each of them, as the
DynamoDB store makes each request.
"""

from __future__ import annotations

import functools
import inspect
import json
import math
import zlib
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from cronlane.model import JobStatus, lists_kept
from cronlane.store.capacity import Capacity, item_size
from cronlane.store.memory import MemoryRunStore

AUDIT, LANES = "AUDIT", "CRONLANE"
SMALL = 100  # bytes: a schedule's state, a sink or join shard, a lane counter


def _run(run_id: str) -> str:
    return f"RUN#{run_id}"


def _schedule(name: str) -> str:
    return f"SCHEDULE#{name}"


Cost = Callable[["MeteredStore", dict[str, Any], Any], None]


class MeteredStore(MemoryRunStore):
    def __init__(self, capacity: Capacity | None = None) -> None:
        super().__init__()
        self.capacity = capacity or Capacity()
        self._graph_bytes: dict[str, int] = {}

    # -- item sizes -----------------------------------------------------------------------------

    def job_size(self, run_id: str, job: str) -> int:
        with self._lock:
            view = self._jobs.get(run_id, {}).get(job)
        if view is None:
            return 0
        if not lists_kept(view.depends_on, view.dependents):  # left to the graph snapshot
            view = replace(view, depends_on=(), dependents=(), dependent_fan_in=(), dependent_lanes=())
        return item_size(view)

    def run_size(self, run_id: str) -> int:
        with self._lock:
            found = self._runs.get(run_id)
            return item_size(found.view) if found is not None else 0

    def graph_size(self, run_id: str) -> int:
        """The compressed snapshot's bytes, as the DynamoDB store keeps it (in 350 KB items)."""
        if run_id not in self._graph_bytes:
            graph = self._graphs.get(run_id)
            nodes = graph.nodes if graph is not None else {}
            blob = zlib.compress(json.dumps({n: node.to_dict() for n, node in nodes.items()}).encode())
            self._graph_bytes[run_id] = len(blob)
        return self._graph_bytes[run_id]

    # -- charges ----------------------------------------------------------------------------------

    def read_job(self, run_id: str, job: str) -> None:
        self.capacity.read(_run(run_id), self.job_size(run_id, job))

    def write_job(self, run_id: str, job: str, with_run: bool = False) -> None:
        size = self.job_size(run_id, job)
        if with_run:  # a transaction with the run's counters
            self.capacity.write(_run(run_id), size, transaction=True)
            self.capacity.write(_run(run_id), self.run_size(run_id), transaction=True)
        else:
            self.capacity.write(_run(run_id), size)

    def query(self, key: str, sizes: list[int], consistent: bool = True) -> None:
        self.capacity.read(key, sum(sizes), consistent)


def _create_run(store: MeteredStore, a: dict[str, Any], created: Any) -> None:
    run_id = a["run"].run_id
    key = _run(run_id)
    store.capacity.write(key, store.run_size(run_id), transaction=True)
    chunks = max(1, math.ceil(store.graph_size(run_id) / 350_000))
    for n in range(chunks):
        store.capacity.write(key, min(350_000, store.graph_size(run_id) - n * 350_000) + SMALL, True)


def _run_write(store: MeteredStore, a: dict[str, Any], _: Any) -> None:
    run_id = a["run_id"] if "run_id" in a else a["run"].run_id
    store.capacity.write(_run(run_id), store.run_size(run_id))


def _run_read(store: MeteredStore, a: dict[str, Any], _: Any) -> None:
    store.capacity.read(_run(a["run_id"]), store.run_size(a["run_id"]))


def _graph_read(store: MeteredStore, a: dict[str, Any], _: Any) -> None:
    store.capacity.read(_run(a["run_id"]), store.graph_size(a["run_id"]))


def _job_read(store: MeteredStore, a: dict[str, Any], _: Any) -> None:
    store.read_job(a["run_id"], a["job"])


def _jobs_query(store: MeteredStore, a: dict[str, Any], views: Any) -> None:
    store.query(_run(a["run_id"]), [item_size(v) for v in views])


def _states(store: MeteredStore, a: dict[str, Any], _: Any) -> None:
    for job in set(a["jobs"]):  # each key as a GetItem would be, whatever the projection
        store.read_job(a["run_id"], job)


def _view_write(store: MeteredStore, a: dict[str, Any], _: Any) -> None:
    view = a["view"]
    store.write_job(view.run_id, view.job)


def _claim(store: MeteredStore, a: dict[str, Any], _: Any) -> None:
    store.write_job(a["run_id"], a["job"])


def _finish(store: MeteredStore, a: dict[str, Any], _: Any) -> None:
    view = a["view"]
    if a.get("result") is not None:  # put first, in its own item
        store.capacity.write(_run(view.run_id), len(a["result"].encode()) + SMALL)
    counted = a["status"] is not JobStatus.SUCCEEDED  # any other outcome is counted on the run
    store.write_job(view.run_id, view.job, with_run=counted)


def _end_unstarted(store: MeteredStore, a: dict[str, Any], _: Any) -> None:
    store.write_job(a["graph"].run_id, a["job"], with_run=True)


def _reset(store: MeteredStore, a: dict[str, Any], _: Any) -> None:
    view = a["view"]
    store.write_job(view.run_id, view.job, with_run=True)


def _results(store: MeteredStore, a: dict[str, Any], found: Any) -> None:
    for value in (found or {}).values():
        store.capacity.read(_run(a["run_id"]), len(json.dumps(value).encode()) + SMALL)


def _small(key: Callable[[dict[str, Any]], str], write: bool) -> Cost:
    def charge(store: MeteredStore, a: dict[str, Any], _: Any) -> None:
        (store.capacity.write if write else store.capacity.read)(key(a), SMALL)

    return charge


def _sinks_finished(store: MeteredStore, a: dict[str, Any], _: Any) -> None:
    for _shard in range(-(-a["sink_count"] // 100)):
        store.capacity.read(_run(a["run_id"]), SMALL)


def _index_query(store: MeteredStore, a: dict[str, Any], runs: Any) -> None:
    # an eventually consistent read of the by-schedule indexes
    store.capacity.read(_schedule(a["schedule"]), sum(item_size(r) for r in runs or []), consistent=False)


def _audit_read(store: MeteredStore, a: dict[str, Any], entries: Any) -> None:
    store.query(AUDIT, [item_size(e) for e in entries or []])


COSTS: dict[str, Cost] = {
    # runs
    "create_run": _create_run,
    "get_run": _run_read,
    "load_run_graph": _graph_read,
    "set_run_status": _run_write,
    "close_run": _run_write,
    "start_buffered": _run_write,
    "request_cancel": _run_write,
    "reopen_run": _run_write,
    "begin_restart": _run_write,
    "end_restart": _run_write,
    "mark_deadline_reported": _run_write,
    "mark_sink": _small(lambda a: _run(a["graph"].run_id), write=True),
    "sinks_finished": _sinks_finished,
    "join": _small(lambda a: _run(a["run_id"]), write=True),
    "runs_of_schedule": _index_query,
    "active_runs": _index_query,
    "buffered_runs": _index_query,
    # schedules, lanes, the audit trail
    "set_paused": _small(lambda a: _schedule(a["schedule"]), write=True),
    "paused_reason": _small(lambda a: _schedule(a["schedule"]), write=False),
    "checked_until": _small(lambda a: _schedule(a["schedule"]), write=False),
    "advance_watch": _small(lambda a: _schedule(a["schedule"]), write=True),
    "take_lane_numbers": _small(lambda a: LANES, write=True),
    "record_audit": lambda store, a, _: store.capacity.write(AUDIT, item_size(a["entry"])),
    "audit_entries": _audit_read,
    # job-runs
    "written_job_runs": _jobs_query,
    "written_job_run": _job_read,
    "states": _states,
    "claim": _claim,
    "finish": _finish,
    "checkpoint": _view_write,
    "hand_off": _view_write,
    "extend_lease": _view_write,
    "retry_later": _view_write,
    "record_late": lambda store, a, _: store.write_job(a["run_id"], a["job"]),
    "end_unstarted": _end_unstarted,
    "reset_job": _reset,
    "results": _results,
    "upstream_results": _results,
}


def _metered(name: str, cost: Cost) -> Callable[..., Any]:
    method = getattr(MemoryRunStore, name)
    signature = inspect.signature(method)

    @functools.wraps(method)
    def metered(self: MeteredStore, *args: Any, **kwargs: Any) -> Any:
        result = method(self, *args, **kwargs)
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        cost(self, bound.arguments, result)
        return result

    return metered


for _name, _cost in COSTS.items():
    setattr(MeteredStore, _name, _metered(_name, _cost))
