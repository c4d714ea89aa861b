"""Dispatch scale: one dispatch of a 10,000-job graph. The time the dispatcher's pure core spends
resolving the graph (measured in this process on the same catalog), the DynamoDB and SQS calls
the dispatch makes, how many items and jobs each write call carries, and the dispatch's total time
(one invocation of the dispatcher on the local runtime, the jobs not consumed)."""

from __future__ import annotations

import json
import os
import statistics
import time
from collections import Counter
from typing import Any

from benchmarks import EXAMPLE_TEMPLATE

JOBS = 10_000
DISPATCHER_TIMEOUT_S = 300  # template.yaml


def resolution_ms(jobs: int = JOBS, repeats: int = 5) -> float:
    from benchmarks.synthetic import build
    from cronlane.declarations import Selection
    from cronlane.graph import plan_selection

    catalog = build("layered", jobs)
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        plan_selection(catalog, Selection.everything())
        times.append((time.perf_counter() - began) * 1000.0)
    return statistics.median(times)


def run(jobs: int = JOBS) -> dict[str, Any]:
    from benchmarks.synthetic import environment
    from cronlane.local.session import local_runtime

    records: list[dict[str, Any]] = []
    with local_runtime(
        EXAMPLE_TEMPLATE, clock="real", executor_environments=1, env_overrides=environment("layered", jobs)
    ) as runtime:
        runtime.mappings_enabled = False  # the dispatch only: nothing consumes the queue
        runtime.warm("DispatcherFunction", 1)
        runtime.observe_requests(records.append)
        event = {
            "action": "trigger",
            "schedule": "daily-full-sync",
            "idempotency_key": f"scale-{time.time_ns()}",
        }
        began = time.perf_counter()
        invocation = runtime.invoke("DispatcherFunction", event, limit_s=DISPATCHER_TIMEOUT_S)
        total_s = time.perf_counter() - began
        runtime.observe_requests(None)
    assert invocation.error is None, invocation.error
    mine = [r for r in records if r["who"] == "DispatcherFunction"]
    calls = Counter(f"{r['service']}:{r['operation']}" for r in mine)
    written = sum(len(r["items"]) for r in mine if r["items"])
    write_calls = sum(1 for r in mine if r["items"])
    sent = sum(len(r["request"].get("Entries", [])) for r in mine if r["operation"] == "SendMessageBatch")
    return {
        "jobs": jobs,
        "resolution_ms": round(resolution_ms(jobs), 1),
        "dispatch_total_s": round(total_s, 2),
        "dispatch_share_of_timeout": round(total_s / DISPATCHER_TIMEOUT_S, 3),
        "calls": dict(sorted(calls.items())),
        "items_written": written,
        "write_calls": write_calls,
        "items_per_write_call": round(written / max(write_calls, 1), 1),
        # the target: at most one write call per 25 jobs (no job-run is written at dispatch: the
        # calls write the run and its graph snapshot)
        "jobs_per_write_call": round(jobs / max(write_calls, 1), 1),
        "messages_sent": sent,
        "response": invocation.response,
        "cpu_count": os.cpu_count(),
    }


def main() -> None:
    print(json.dumps(run(), indent=2))


if __name__ == "__main__":
    main()
