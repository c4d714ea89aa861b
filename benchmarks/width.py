"""Width: what one wide join and one wide fork cost per job, billed as AWS bills them: a job
waiting for ``width`` upstreams (fan-in) and a job that ``width`` jobs wait for (fan-out).

Reported per graph: read and write units per job, and the largest job-run item (a DynamoDB item
may not exceed 400 KB). Widths of ``STACK_WIDTHS`` run on the local runtime, billed from the
requests themselves (``benchmarks.cost.measure``); widths of ``MODEL_WIDTHS`` take too long on
moto and run on the in-memory store billed as DynamoDB would bill it (``modelled``,
``cronlane.store.metered``, which ``tests/stack/test_width.py`` holds to the stack's bill).
A wide job is joined (``cronlane.joins``) and keeps its lists in the graph snapshot
(``model.LISTS_KEPT``): the figures should not grow with the width."""

from __future__ import annotations

import json
import time
from typing import Any

from benchmarks import cost

STACK_WIDTHS = (50, 500)
MODEL_WIDTHS = (5000,)


def modelled(kind: str, width: int, environments: int = cost.ENVIRONMENTS) -> dict[str, Any]:
    """The synthetic graph on the metered in-memory store: units per job and the largest job-run
    item, from one run. Its jobs do nothing: the in-process world runs one job at a time, and a
    second of work each would stretch the run past its check (which reads the whole run), as a
    concurrent deployment would not. Its one executor reads the graph snapshot once; each of the
    other ``environments`` the stack runs it in reads it once more, billed here too."""
    from benchmarks.synthetic import build, noop_jobs
    from cronlane.inprocess import InProcess
    from cronlane.store import keys
    from cronlane.store.capacity import Capacity
    from cronlane.store.metered import MeteredStore

    wall = time.perf_counter()
    w = InProcess(
        noop_jobs(build(kind, width)), cost.START, store=lambda clock: MeteredStore(Capacity(clock.now))
    )
    run_id = str(w.tick(cost.SCHEDULE, cost.START)["run_id"])
    w.drain(limit=10 * width + 1000)
    store: MeteredStore = w.store  # type: ignore[assignment]
    for _ in range(environments - 1):
        store.capacity.read(keys.run_pk(run_id), store.graph_size(run_id))
    run = store.get_run(run_id)
    assert run is not None and run.status.value == "SUCCEEDED", run
    jobs = run.job_count
    return {
        "jobs": jobs,
        "reads_per_job": round(store.capacity.rru / jobs, 2),
        "writes_per_job": round(store.capacity.wru / jobs, 2),
        "largest_item_bytes": max(store.job_size(run_id, v.job) for v in store.written_job_runs(run_id)),
        "cost_per_million_jobs": None,  # the model bills DynamoDB only
        "wall_s": round(time.perf_counter() - wall, 1),
        "where": "in-memory model",
    }


def run(
    stack_widths: tuple[int, ...] = STACK_WIDTHS, model_widths: tuple[int, ...] = MODEL_WIDTHS
) -> dict[str, Any]:
    from benchmarks.synthetic import environment  # not at import: see benchmarks/handoff.py

    figures: dict[str, Any] = {}
    for kind in ("fanin", "fanout"):
        for width in stack_widths:
            measured = cost.measure(environment(kind, width), f"{kind} {width}")
            jobs = measured["jobs"]
            figures[f"{kind}_{width}"] = {
                "jobs": jobs,
                "reads_per_job": round(measured["dynamodb_read_units"] / jobs, 2),
                "writes_per_job": round(measured["dynamodb_write_units"] / jobs, 2),
                "largest_item_bytes": measured["largest_item_bytes"],
                "cost_per_million_jobs": measured["cost_per_million_jobs"],
                "wall_s": measured["wall_s"],
                "where": "stack",
            }
        for width in model_widths:
            figures[f"{kind}_{width}"] = modelled(kind, width)
    return figures


def main() -> None:
    print(json.dumps(run(), indent=2))


if __name__ == "__main__":
    main()
