"""The in-memory store, billed as the DynamoDB store would be (``capacity``): each method charges
the requests its DynamoDB twin makes (``store.dynamodb``), on the partition key they go to, by
the size of the items they touch. A model, not a measurement: a test holds it to the stack's
bill (``tests/stack/test_width.py``).

What each method costs is one entry of ``COSTS``; a method a store calls inside another (a
``job_runs`` reads the written job-runs, then the graph) is charged as each of them, as the
DynamoDB store makes each request. Left out or approximated: an item's size before a write (the
size after it is billed), the sink shard written in the same transaction as a failure, a skip or
a reset, a first claim that finds the item there and updates it (billed as one write), the
indexes' writes, the run record read when a process does not know a run's spread yet, and the
graph snapshot read for a wide job-run's lists.
"""

from __future__ import annotations

import functools
import inspect
import json
import math
import zlib
from collections.abc import Callable
from dataclasses import fields, replace
from typing import Any

from cronlane.model import JobRunView, JobStatus, lists_kept
from cronlane.results import inline
from cronlane.store import keys
from cronlane.store.capacity import Capacity, item_size
from cronlane.store.keys import run_pk as _run
from cronlane.store.memory import MemoryRunStore

AUDIT, LANES = "AUDIT", "CRONLANE"
SMALL = 100  # bytes: a schedule's state, a sink or join shard, a lane counter


def _schedule(name: str) -> str:
    return f"SCHEDULE#{name}"


Cost = Callable[["MeteredStore", dict[str, Any], Any], None]

# What the DynamoDB item keeps as JSON text (``store.items.JobRunItem``): one string, or a list of
# strings, one per entry.
JSON_TEXT = frozenset({"params", "checkpoint", "hand_off"})
JSON_LIST = frozenset({"history", "continuations", "late_completions"})
_JOB_FIELDS = tuple(f.name for f in fields(JobRunView))


def _json(value: Any) -> int:
    return len(json.dumps(value, default=str))


def job_item_size(view: JobRunView) -> int:
    """A job-run item's size as the DynamoDB store writes it (its JSON attributes as text)."""
    size = 0
    for name in _JOB_FIELDS:
        value = getattr(view, name)
        if value is None or value is False or (isinstance(value, str | tuple | list | dict) and not value):
            continue
        if name in JSON_TEXT:
            size += len(name) + _json(value)
        elif name in JSON_LIST:
            size += len(name) + 3 + sum(1 + _json(entry) for entry in value)
        else:
            size += len(name) + item_size(value)
    return size


class MeteredStore(MemoryRunStore):
    def __init__(self, capacity: Capacity | None = None) -> None:
        super().__init__()
        self.capacity = capacity or Capacity()
        self._graph_bytes: dict[str, int] = {}
        # each item's size as its last write left it (items change only in the metered writes)
        self._sizes: dict[tuple[str, str], int] = {}
        self._run_sizes: dict[str, int] = {}
        # False: whoever drives the store bills the graph snapshot's reads itself (make scale
        # bills one per execution environment, not one per this process's cache)
        self.bill_graph_reads = True

    # -- item sizes -----------------------------------------------------------------------------

    def job_size(self, run_id: str, job: str) -> int:
        with self._lock:
            view = self._jobs.get(run_id, {}).get(job)
        if view is None:
            return 0
        if not lists_kept(view.depends_on, view.dependents):  # left to the graph snapshot
            view = replace(view, depends_on=(), dependents=(), dependent_fan_in=(), dependent_lanes=())
        return job_item_size(view)

    def run_size(self, run_id: str, written: bool = True) -> int:
        """The run item's size: measured again after a write, else as the last write left it."""
        if not written and run_id in self._run_sizes:
            return self._run_sizes[run_id]
        with self._lock:
            found = self._runs.get(run_id)
            size = self._run_sizes[run_id] = item_size(found.view) if found is not None else 0
            return size

    def graph_size(self, run_id: str) -> int:
        """The compressed snapshot's bytes, as the DynamoDB store keeps it (in 350 KB items)."""
        if run_id not in self._graph_bytes:
            graph = self._graphs.get(run_id)
            nodes = graph.nodes if graph is not None else {}
            blob = zlib.compress(json.dumps({n: node.to_dict() for n, node in nodes.items()}).encode())
            self._graph_bytes[run_id] = len(blob)
        return self._graph_bytes[run_id]

    # -- where: the partition keys (store.keys) ----------------------------------------------------

    def spread(self, run_id: str) -> int:
        graph = self._graphs.get(run_id)
        return graph.spread if graph is not None else 1

    def job_key(self, run_id: str, job: str) -> str:
        return keys.job_pk(run_id, job, self.spread(run_id))

    # -- charges ----------------------------------------------------------------------------------

    def read_job(self, run_id: str, job: str) -> None:
        size = self._sizes.get((run_id, job))
        self.capacity.read(self.job_key(run_id, job), self.job_size(run_id, job) if size is None else size)

    def write_job(self, run_id: str, job: str, with_run: bool = False) -> None:
        size = self._sizes[(run_id, job)] = self.job_size(run_id, job)
        if with_run:  # a transaction with the run's counters
            self.capacity.write(self.job_key(run_id, job), size, transaction=True)
            self.capacity.write(_run(run_id), self.run_size(run_id), transaction=True)
        else:
            self.capacity.write(self.job_key(run_id, job), size)

    def forget(self, run_id: str) -> None:
        """Drop what is kept of a run that is over but its record (a long simulation's memory)."""
        with self._lock:
            for job in self._jobs.pop(run_id, {}):
                self._sizes.pop((run_id, job), None)
            self._graphs.pop(run_id, None)
            self._graph_bytes.pop(run_id, None)

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
    store.capacity.read(_run(a["run_id"]), store.run_size(a["run_id"], written=False))


def _graph_read(store: MeteredStore, a: dict[str, Any], _: Any) -> None:
    if store.bill_graph_reads:
        store.capacity.read(_run(a["run_id"]), store.graph_size(a["run_id"]))


def _job_read(store: MeteredStore, a: dict[str, Any], _: Any) -> None:
    store.read_job(a["run_id"], a["job"])


def _jobs_query(store: MeteredStore, a: dict[str, Any], views: Any) -> None:
    run_id = a["run_id"]
    by_key: dict[str, list[int]] = {pk: [] for pk in keys.spread_pks(run_id, store.spread(run_id))}
    for view in views:  # one query a key
        by_key.setdefault(store.job_key(run_id, view.job), []).append(store.job_size(run_id, view.job))
    for pk, sizes in by_key.items():
        store.query(pk, sizes)


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
    if a.get("result") is not None and not inline(a["result"]):  # put first, in its own item
        store.capacity.write(store.job_key(view.run_id, view.job), len(a["result"].encode()) + SMALL)
    counted = a["status"] is not JobStatus.SUCCEEDED  # any other outcome is counted on the run
    store.write_job(view.run_id, view.job, with_run=counted)


def _end_unstarted(store: MeteredStore, a: dict[str, Any], _: Any) -> None:
    store.write_job(a["graph"].run_id, a["job"], with_run=True)


def _reset(store: MeteredStore, a: dict[str, Any], _: Any) -> None:
    view = a["view"]
    store.write_job(view.run_id, view.job, with_run=True)


def _results(store: MeteredStore, a: dict[str, Any], found: Any) -> None:
    on_items = {view.job for view in a["jobs"] if view.result is not None}  # read with their job-runs
    for job, value in (found or {}).items():
        if job not in on_items:
            store.capacity.read(store.job_key(a["run_id"], job), len(json.dumps(value).encode()) + SMALL)


def _upstream_results(store: MeteredStore, a: dict[str, Any], _: Any) -> None:
    for job in a["jobs"]:  # each upstream's job-run, then (billed by ``results``) its result item
        store.read_job(a["run_id"], job)


def _small(key: Callable[[dict[str, Any]], str], write: bool) -> Cost:
    def charge(store: MeteredStore, a: dict[str, Any], _: Any) -> None:
        (store.capacity.write if write else store.capacity.read)(key(a), SMALL)

    return charge


def _sinks_finished(store: MeteredStore, a: dict[str, Any], _: Any) -> None:
    run_id = a["run_id"]
    for shard in range(-(-a["sink_count"] // 100)):
        store.capacity.read(keys.sink_pk(run_id, shard, store.spread(run_id)), SMALL)


def _mark_sink(store: MeteredStore, a: dict[str, Any], _: Any) -> None:
    graph, job = a["graph"], a["job"]
    slot = graph.slots.get(job)
    if slot is not None:
        store.capacity.write(keys.sink_pk(graph.run_id, slot.shard, store.spread(graph.run_id)), SMALL)


def _join(store: MeteredStore, a: dict[str, Any], _: Any) -> None:
    run_id = a["run_id"]
    store.capacity.write(keys.join_pk(run_id, a["job"], a["shard"], store.spread(run_id)), SMALL)


def _places_read(store: MeteredStore, a: dict[str, Any], record: Any) -> None:
    # a missing item costs the unit too
    store.capacity.read(_run(a["run_id"]), len(record.to_json()) + SMALL if record.version else 0)


def _places_write(store: MeteredStore, a: dict[str, Any], _: Any) -> None:
    store.capacity.write(_run(a["run_id"]), len(a["record"].to_json()) + SMALL)


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
    "mark_sink": _mark_sink,
    "sinks_finished": _sinks_finished,
    "join": _join,
    "places": _places_read,
    "put_places": _places_write,
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
    "upstream_results": _upstream_results,
}


def _metered(name: str, cost: Cost) -> Callable[..., Any]:
    method = getattr(MemoryRunStore, name)
    parameters = list(inspect.signature(method).parameters.values())[1:]
    names = [p.name for p in parameters]
    defaults = {p.name: p.default for p in parameters if p.default is not inspect.Parameter.empty}

    @functools.wraps(method)
    def metered(self: MeteredStore, *args: Any, **kwargs: Any) -> Any:
        result = method(self, *args, **kwargs)
        arguments = {**defaults, **dict(zip(names, args, strict=False)), **kwargs}
        cost(self, arguments, result)
        return result

    return metered


for _name, _cost in COSTS.items():
    setattr(MeteredStore, _name, _metered(_name, _cost))
