"""Orchestration cost per job: every AWS request cronlane makes for one run, billed as AWS bills
it (``benchmarks.billing``), for the example app's ``daily-full-sync`` and a 1,000-job
synthetic graph; priced per million jobs and set beside Step Functions Standard running the same
graph (the formula is in benchmarks/README.md)."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks import EXAMPLE_TEMPLATE
from benchmarks.all_in import line_bytes, platform_lines
from benchmarks.billing import INDEXES, MEMORY_GB, PRICE, Bill, esm_polling_per_month, wire_size
from cronlane.local.session import local_runtime, store_of, wait_for_run
from cronlane.model import scheduled_run_id
from cronlane.telemetry import Series, series_of

START = 1795831200.0  # 2026-11-28T02:00:00Z, a fire time of daily-full-sync
SCHEDULE = "daily-full-sync"  # the schedule each measured run is a tick of
ENVIRONMENTS = 8  # the executor's environments, each reading a run's graph snapshot once


def sfn_transitions(jobs: int, levels: int) -> int:
    """State transitions of one Step Functions Standard execution of the graph: one Task state
    per job, a Parallel state per dependency level (entered and left), a start and an end."""
    return jobs + 2 * levels + 2


def measure(overrides: dict[str, str] | None, label: str) -> dict[str, Any]:
    bill = Bill()
    wall = time.perf_counter()
    with local_runtime(
        EXAMPLE_TEMPLATE,
        clock="virtual",
        start=START,
        executor_environments=ENVIRONMENTS,
        env_overrides=overrides,
    ) as runtime:
        before = len(runtime.invocations)
        runtime.observe_requests(bill.observe)
        runtime.fire(SCHEDULE, START)
        report = wait_for_run(runtime, scheduled_run_id(SCHEDULE, START))
        runtime.drain()
        runtime.observe_requests(None)
        invocations = Counter(i.function for i in runtime.invocations[before:])
        jobs = len(report.jobs)
        assert report.run.status.value == "SUCCEEDED", report.run.status
        graph = store_of(runtime).load_run_graph(report.run.run_id)
        depth = _depths(graph.nodes if graph is not None else {})
        levels = max(depth.values())
        emitted = emf_emitted(runtime.log_dir)
        environments = Counter(env.function for env in runtime.envs)
        stored, largest = stored_bytes(runtime)
        platform = platform_log_bytes(runtime, runtime.invocations[before:], environments)
    dollars = bill.dollars(invocations)
    per_run = sum(dollars.values())
    cronlane = per_run / jobs * 1e6
    sfn = sfn_transitions(jobs, levels) * PRICE["sfn_standard_transition"] / jobs * 1e6
    return {
        "graph": label,
        "jobs": jobs,
        "levels": levels,
        "level_sizes": [list(depth.values()).count(n) for n in range(1, levels + 1)],
        "dynamodb_write_units": round(bill.wru, 1),
        "dynamodb_read_units": round(bill.rru, 1),
        "sqs_requests": bill.sqs_requests,
        "run_events": bill.events,
        "lambda_invocations": dict(invocations),
        "failed_conditional_writes": bill.failed_conditions,
        "per_job": {
            "dynamodb_write_units": round(bill.wru / jobs, 2),
            "dynamodb_read_units": round(bill.rru / jobs, 2),
            "sqs_requests": round(bill.sqs_requests / jobs, 2),
        },
        "dollars_per_million_jobs": {k: round(v / jobs * 1e6, 3) for k, v in dollars.items()},
        "cost_per_million_jobs": round(cronlane, 2),
        "sfn_standard_per_million_jobs": round(sfn, 2),
        "sfn_ratio": round(sfn / cronlane, 2),
        "requests": dict(sorted(bill.requests.items())),
        # what the functions logged: the distinct metric series their EMF documents create (each
        # billed per metric-month), the documents, and the bytes of every log line, per job
        "metric_series": len(emitted["series"]),
        "emf_documents": emitted["documents"],
        "emf_documents_per_job": round(emitted["documents"] / jobs, 2),
        "log_bytes_per_job": round(emitted["bytes"] / jobs),
        "log_bytes_by_function": emitted["bytes_by_function"],
        # Lambda's own lines (START, END, REPORT; INIT_START once per environment)
        "platform_log_bytes": platform,
        "environments": dict(environments),  # each one a cold start
        # what the table holds after the run (its items and index entries, 100 bytes each on top)
        "stored_bytes_per_job": round(stored / jobs),
        "largest_item_bytes": largest,  # DynamoDB refuses an item over 400 KB
        "wall_s": round(time.perf_counter() - wall, 1),
    }


def emf_emitted(log_dir: Path) -> dict[str, Any]:
    """The EMF documents in the functions' log files: the distinct series (metric name with one
    set of dimension values) they create, how many documents, and the bytes of all lines."""
    series: set[Series] = set()
    documents = 0
    by_function: Counter[str] = Counter()
    for path in log_dir.glob("*.log"):
        function = path.stem.rsplit("-", 1)[0]  # the runtime's <function>-<environment>.log
        for line in path.read_text(errors="replace").splitlines():
            by_function[function] += len(line.encode()) + 1
            if '"_aws"' not in line[:200]:
                continue
            try:
                document = json.loads(line)
            except ValueError:
                continue
            documents += 1
            series |= series_of(document)
    size = sum(by_function.values())
    return {"series": series, "documents": documents, "bytes": size, "bytes_by_function": dict(by_function)}


def stored_bytes(runtime: Any) -> tuple[int, int]:
    """The bytes DynamoDB bills storage for in the stack's table (each item's size and 100 bytes
    of overhead, and the same for each entry of the by-schedule index: its projected
    attributes), and the size of the largest item."""
    from cronlane.local.stack import local_client

    client = local_client("dynamodb", runtime.stack.endpoint)
    total = largest = 0
    for page in client.get_paginator("scan").paginate(TableName=runtime.stack.outputs["TableName"]):
        for item in page["Items"]:
            size = wire_size(item)
            largest = max(largest, size)
            total += size + 100
            for key, projected in INDEXES.items():
                if key in item:
                    total += wire_size({k: v for k, v in item.items() if k in projected | {"pk", "sk"}}) + 100
    return total, largest


def platform_log_bytes(runtime: Any, invocations: list[Any], environments: Counter[str]) -> int:
    """The bytes of Lambda's own lines for these invocations of cronlane's functions (a lambda
    target's function is the job's), the first of each environment with its init."""
    cold = Counter({f: n for f, n in environments.items() if f in MEMORY_GB})
    size = 0
    for invocation in invocations:
        if invocation.function not in MEMORY_GB:
            continue
        memory = runtime.stack.functions[invocation.function].memory_mb
        took = ((invocation.finished_at or 0.0) - (invocation.started_at or 0.0)) * 1000
        first = cold[invocation.function] > 0
        cold[invocation.function] -= 1
        init_ms = 400.0 if first else None  # only the line's length is counted
        size += line_bytes(platform_lines(invocation.request_id, max(took, 0.0), memory, init_ms))
    return size


def _depths(graph: dict[str, Any]) -> dict[str, int]:
    """Each job's dependency level (1: no upstream in the run)."""
    depth: dict[str, int] = {}

    def level(name: str) -> int:
        if name not in depth:
            ups = [u for u in graph[name].depends_on if u in graph]
            depth[name] = 1 + max((level(u) for u in ups), default=0)
        return depth[name]

    for name in graph:
        level(name)
    return depth


def run() -> dict[str, Any]:
    from benchmarks.synthetic import environment  # not at import: see benchmarks/handoff.py

    example = measure(None, "example daily-full-sync")
    synthetic = measure(
        environment("layered", 1000),
        "synthetic 1,000 jobs",
    )
    free = measure(environment("layered", 1000, lanes=False), "synthetic 1,000 jobs without lanes")
    return {
        "example": example,
        "synthetic_1000": synthetic,
        "synthetic_1000_without_lanes": free,
        "cost_chained_per_million_jobs": free["cost_per_million_jobs"],
        "sfn_ratio_chained": free["sfn_ratio"],
        "esm_polling_per_month": round(esm_polling_per_month(), 2),
        "cost_per_million_jobs": synthetic["cost_per_million_jobs"],
        "metric_series": synthetic["metric_series"],
        "sfn_ratio": synthetic["sfn_ratio"],
    }


def main() -> None:
    print(json.dumps(run(), indent=2))


if __name__ == "__main__":
    main()
