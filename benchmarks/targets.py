"""Each target kind, measured the same way: a chain of jobs that do (almost) nothing, all on one
kind (``python``, ``lambda``, ``ecs``, ``callback``; ``benchmarks.synthetic``), on the local
runtime's real clock, with the example app's own Node.js function, ECS task definition and
callback worker. Per kind:

- ``handoff_median_ms``: an upstream's finish (its SUCCEEDED write) to its dependent's claim;
- ``overhead_median_ms``: a job's claim to its finish, for a job with no work of its own: for a
  ``lambda`` target the invocation; for ``ecs`` the RunTask, the task's process, its end event and
  the TaskEventsFunction; for ``callback`` the message, the worker's pick-up (its idle poll, set
  to 0.2 s here) and its report through the CompletionFunction;
- ``cost_per_million_jobs``: every request and invocation cronlane makes for the chain, billed as
  AWS bills it (``benchmarks.billing``; the Fargate task's and the worker's own compute are the
  job's, not cronlane's, and are left out; ECS API calls and aws.ecs events cost nothing).

On this machine a local process start (the ECS task) and the Node.js function's cold start are
most of the ``ecs`` and ``lambda`` figures; on AWS, Fargate takes 30-60 s to start a task, so an
``ecs`` target suits jobs of minutes, not seconds."""

from __future__ import annotations

import itertools
import os
import statistics
from collections import Counter
from typing import Any

from benchmarks import EXAMPLE_TEMPLATE
from benchmarks.billing import Bill
from benchmarks.handoff import run_chain
from cronlane.local.session import local_runtime, store_of

KINDS = ("python", "lambda", "ecs", "callback")
LINKS = 8


def run(links: int = LINKS) -> dict[str, Any]:
    from benchmarks.synthetic import environment

    os.environ["COMPATIBILITY_WORKER_IDLE_S"] = "0.2"  # the worker looks for work 5 times a second
    results: dict[str, Any] = {}
    for kind in KINDS:
        bill = Bill()
        with local_runtime(
            EXAMPLE_TEMPLATE,
            clock="real",
            executor_environments=2,
            env_overrides=environment(f"chain-{kind}", links),
        ) as runtime:
            runtime.warm("ExecutorFunction", 2)
            runtime.warm("DispatcherFunction", 1)
            before = len(runtime.invocations)
            runtime.observe_requests(bill.observe)
            run_id, report = run_chain(runtime, kind, limit_s=900)
            runtime.observe_requests(None)
            invocations = Counter(i.function for i in runtime.invocations[before:])
            jobs = sorted(store_of(runtime).job_runs(run_id), key=lambda j: j.job)
        assert report.run.status.value == "SUCCEEDED", (kind, report.run.status)
        gaps = [
            (b.started_at - a.finished_at) * 1000.0
            for a, b in itertools.pairwise(jobs)
            if a.finished_at is not None and b.started_at is not None
        ]
        overheads = [
            (j.finished_at - j.started_at) * 1000.0
            for j in jobs[1:]  # the first job's includes the cold start of its target
            if j.finished_at is not None and j.started_at is not None
        ]
        dollars = bill.dollars(invocations)
        results[kind] = {
            "jobs": len(jobs),
            "handoff_median_ms": round(statistics.median(gaps), 1),
            "overhead_median_ms": round(statistics.median(overheads), 1),
            "requests_per_job": round(sum(bill.requests.values()) / len(jobs), 2),
            "lambda_invocations_per_job": {
                f: round(n / len(jobs), 2) for f, n in sorted(invocations.items())
            },
            "cost_per_million_jobs": round(sum(dollars.values()) / len(jobs) * 1e6, 2),
        }
    return results


def main() -> None:
    import json

    print(json.dumps(run(), indent=2))


if __name__ == "__main__":
    main()
