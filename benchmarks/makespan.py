"""Makespan: how close cronlane runs a job graph to the best any scheduler could do.

The graph is ``benchmarks.layered`` (200 jobs, 10 levels, 1 to 3 upstreams each, 50 to 500 ms
of simulated work each, a fixed seed). The local runtime runs it on a real clock with
``environments`` executor environments, started beforehand (like provisioned concurrency), and
one tick of ``daily-full-sync`` runs every job.

Figures (times in seconds unless the name says ms):

- ``makespan_s``: the first job's start to the last job's finish (job-runs' ``started_at`` and
  ``finished_at``); ``makespan_from_dispatch_s``: from the tick's firing to the last finish, so it
  also counts the dispatcher's invocation.
- ``critical_path_s``: the longest chain of declared durations; ``total_work_s``: their sum;
  ``lower_bound_s = max(critical_path_s, total_work_s / environments)``; no schedule on that many
  environments, with zero overhead, can be shorter. ``makespan_ratio = makespan_s / lower_bound_s``
  (target: at most 1.10).
- ``overhead_per_job_ms`` = ``(makespan_s - lower_bound_s) * environments / jobs``: the
  environment-time the run used beyond the bound, shared out over the jobs (an upper bound on
  what cronlane costs a job, as the bound itself is not always reachable).
- ``handoff_gap_ms``: per job, its start minus the latest finish of its upstreams (for a job
  without upstreams, minus the first job's start): the time between a job being ready and
  running, whether spent in cronlane or waiting for a free environment (mean, p50, p95, max).
- ``in_job_overhead_ms``: per job, ``finished_at - started_at`` minus its declared duration.
- ``executor_invocation_overhead_ms``: per executor invocation, its length minus the declared
  duration of the job it ran: all cronlane's work inside the Lambda (claim, record, release).
- ``env_time_per_job_ms``: ``makespan_s * environments`` shared out over the jobs, split into the
  declared work, cronlane's work inside the executor invocations, and environments idle (the
  event source mapping's turnaround between invocations, or no job ready);
  ``executor_aws_requests_per_job``: the DynamoDB and SQS requests the executor made, per job.
- ``zero_overhead_ratio``: the ratio that greedy list scheduling (a free environment takes the
  job that became ready first) reaches on this graph with no overhead at all, and
  ``overhead_budget_ms_at_target``: the environment time per job beyond its work at which that
  model reaches 1.10. They say how much of the target is left for cronlane's own work.
  ``zero_overhead_ratio_ranked_sends``: the same model with the jobs that become ready at one
  moment taken longest path to the graph's end first (cronlane sends them in that order:
  ``cronlane.priority``); ``zero_overhead_ratio_critical_path``: when a free environment always
  takes the ready job with the longest path (what a run whose width is the concurrency,
  ``Schedule(max_parallel=...)``, reaches with no overhead: ``cronlane.places``). ``make bench``
  runs the graph twice: as declared, and with that width (``benchmarks.layered_held``:
  ``makespan_ratio_held``).
- ``inline_s = total_work_s``: the same jobs one after another in one process (the analysis's
  inline daemon, with no overhead); ``speedup_vs_inline = inline_s / makespan_s``.

Benchmarks print figures; they assert nothing about time.
"""

from __future__ import annotations

import heapq
import json
import statistics
import time
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from benchmarks import EXAMPLE_TEMPLATE, layered

if TYPE_CHECKING:
    from cronlane.local.runtime import LocalRuntime

SCHEDULE = "daily-full-sync"


def critical_path_s(durations: dict[str, float], upstreams: dict[str, tuple[str, ...]]) -> float:
    """The longest chain of durations through the graph (the jobs are in a topological order)."""
    finish: dict[str, float] = {}
    for name, duration in durations.items():
        finish[name] = duration + max((finish[u] for u in upstreams[name]), default=0.0)
    return max(finish.values(), default=0.0)


FIFO, RANKED_SENDS, CRITICAL_PATH = "fifo", "ranked_sends", "critical_path"  # list_schedule_s's orders


def list_schedule_s(
    durations: dict[str, float],
    upstreams: dict[str, tuple[str, ...]],
    environments: int,
    overhead_s: float = 0.0,
    order_by: str = FIFO,
) -> float:
    """The makespan of greedy list scheduling, the way a queue feeds environments: whenever an
    environment is free it takes the job that became ready first (``FIFO``: ties in declaration
    order; ``RANKED_SENDS``: ties by the longest path from the job's start to the graph's end,
    which is what cronlane does, sending the jobs ready at one moment in that order), or
    (``CRITICAL_PATH``) the ready job with the longest such path whenever it became ready (what
    holding back the jobs beyond the free concurrency would reach); each job holds its
    environment for its duration plus ``overhead_s``, after which its dependents may be ready.
    With no overhead, this is what a scheduler that costs nothing per job would reach."""
    order = {name: i for i, name in enumerate(durations)}
    dependents: dict[str, list[str]] = {name: [] for name in durations}
    waiting = {name: len(upstreams[name]) for name in durations}
    for name in durations:
        for upstream in upstreams[name]:
            dependents[upstream].append(name)
    remaining = remaining_path_s(durations, dependents)

    def key(at: float, name: str) -> tuple[float, float, int, str]:
        if order_by == CRITICAL_PATH:
            return (-remaining[name], 0.0, order[name], name)
        return (at, -remaining[name] if order_by == RANKED_SENDS else 0.0, order[name], name)

    ready = [key(0.0, n) for n in durations if not upstreams[n]]
    heapq.heapify(ready)
    running: list[tuple[float, int, str]] = []
    free, now = environments, 0.0
    while ready or running:
        while free and ready:
            name = heapq.heappop(ready)[-1]
            free -= 1
            heapq.heappush(running, (now + durations[name] + overhead_s, order[name], name))
        now = running[0][0]
        while running and running[0][0] == now:  # every job that ends now, before any starts
            _, _, name = heapq.heappop(running)
            free += 1
            for dependent in dependents[name]:
                waiting[dependent] -= 1
                if not waiting[dependent]:
                    heapq.heappush(ready, key(now, dependent))
    return now


def remaining_path_s(durations: dict[str, float], dependents: dict[str, list[str]]) -> dict[str, float]:
    """Each job's longest path to the graph's end, its own duration included."""
    remaining: dict[str, float] = {}

    def walk(name: str) -> float:
        if name not in remaining:
            remaining[name] = durations[name] + max((walk(d) for d in dependents[name]), default=0.0)
        return remaining[name]

    for name in durations:
        walk(name)
    return remaining


def overhead_budget_s(
    durations: dict[str, float],
    upstreams: dict[str, tuple[str, ...]],
    environments: int,
    ratio: float,
) -> float:
    """The overhead per job (to 0.1 ms) up to which list scheduling stays within ``ratio`` of the
    lower bound (0 if even no overhead does not). The search doubles, then halves, the overhead,
    taking the makespan to grow with it; a greedy schedule can, now and then, get shorter with a
    little more overhead, so a larger overhead may also fit."""
    bound = max(critical_path_s(durations, upstreams), sum(durations.values()) / environments)
    if list_schedule_s(durations, upstreams, environments) / bound > ratio:
        return 0.0
    low, high = 0.0, 0.001
    while list_schedule_s(durations, upstreams, environments, high) / bound <= ratio:
        low, high = high, high * 2
    while high - low > 0.0001:
        middle = (low + high) / 2
        if list_schedule_s(durations, upstreams, environments, middle) / bound <= ratio:
            low = middle
        else:
            high = middle
    return low


def _summary_ms(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))]

    return {
        "mean": round(statistics.fmean(ordered) * 1000, 1),
        "p50": round(pct(0.5) * 1000, 1),
        "p95": round(pct(0.95) * 1000, 1),
        "max": round(ordered[-1] * 1000, 1),
    }


def _count_requests(runtime: LocalRuntime) -> Callable[[], list[tuple[str, str]]]:
    """From now on, note each AWS API operation the functions call, with repeats."""
    seen: list[tuple[str, str]] = []
    runtime.observe_requests(lambda record: seen.append((record["who"], record["operation"])), sizes=False)
    return lambda: list(seen)


def run(environments: int = 8, catalog: str = "benchmarks.layered") -> dict[str, Any]:
    """The run of ``daily-full-sync`` on ``environments``; ``catalog``: ``benchmarks.layered``,
    or ``benchmarks.layered_held``, where the run has a width of 8 (cronlane.places)."""
    from cronlane.local.session import latest_fire_time, local_runtime, wait_for_run
    from cronlane.model import JobStatus, scheduled_run_id

    durations, upstreams = layered.DURATIONS, layered.UPSTREAMS
    jobs = len(durations)
    critical = critical_path_s(durations, upstreams)
    total = sum(durations.values())
    bound = max(critical, total / environments)

    began = time.perf_counter()
    with local_runtime(
        EXAMPLE_TEMPLATE,
        clock="real",
        time_scale=1.0,
        executor_environments=environments,
        env_overrides={"CRONLANE_CATALOG": catalog},
        parameters={"ExecutorMaxConcurrency": str(environments)},
    ) as runtime:
        setup_s = time.perf_counter() - began
        runtime.warm("ExecutorFunction")
        runtime.warm("DispatcherFunction", 1)
        requests = _count_requests(runtime)
        schedule = layered.CATALOG.schedule(SCHEDULE)
        scheduled_time = latest_fire_time(schedule.expression, runtime.now(), schedule.timezone)
        fired_at = runtime.now()
        runtime.fire(SCHEDULE, scheduled_time)
        report = wait_for_run(runtime, scheduled_run_id(SCHEDULE, scheduled_time), limit_s=600)
        runtime.drain(limit_s=600)  # the last invocation returns after it closed the run
        job_runs = {j.job: j for j in report.jobs}
        executor_spans = [
            (inv, inv.finished_at - inv.started_at)
            for inv in runtime.invocations
            if inv.function == "ExecutorFunction" and inv.started_at is not None and inv.finished_at
        ]
        dispatcher_s = [
            inv.finished_at - inv.started_at
            for inv in runtime.invocations
            if inv.function == "DispatcherFunction" and inv.started_at is not None and inv.finished_at
        ]
        executor_requests = Counter(op for function, op in requests() if function == "ExecutorFunction")
        warm_envs = len([e for e in runtime.envs if e.function == "ExecutorFunction"])

    succeeded = sum(1 for j in job_runs.values() if j.status is JobStatus.SUCCEEDED)
    starts = {n: j.started_at for n, j in job_runs.items() if j.started_at is not None}
    finishes = {n: j.finished_at for n, j in job_runs.items() if j.finished_at is not None}
    first_start = min(starts.values())
    last_finish = max(finishes.values())
    makespan = last_finish - first_start

    gaps: list[float] = []
    queue_waits: list[float] = []
    in_job: list[float] = []
    for name, job in job_runs.items():
        if job.started_at is None or job.finished_at is None:
            continue
        ready = max((finishes[u] for u in upstreams[name] if u in finishes), default=first_start)
        gaps.append(job.started_at - ready)
        if job.enqueued_at is not None:
            queue_waits.append(job.started_at - job.enqueued_at)
        in_job.append(job.finished_at - job.started_at - durations[name])

    busy = sum(span for _, span in executor_spans)
    work = sum(durations[n] for n in finishes if n in durations)
    env_time = makespan * environments
    invocation_overhead = [
        span - durations[job]
        for inv, span in executor_spans
        for job in (inv.batch.jobs.values() if inv.batch else ())
        if job in durations and inv.batch is not None and len(inv.batch.jobs) == 1
    ]

    return {
        "jobs": jobs,
        "levels": layered.LEVELS,
        "environments": environments,
        "seed": layered.SEED,
        "status": report.run.status.value,
        "jobs_succeeded": succeeded,
        "makespan_s": round(makespan, 3),
        "makespan_from_dispatch_s": round(last_finish - fired_at, 3),
        "critical_path_s": round(critical, 3),
        "total_work_s": round(total, 3),
        "lower_bound_s": round(bound, 3),
        "makespan_ratio": round(makespan / bound, 3),
        "target_ratio": 1.10,
        "overhead_per_job_ms": round((makespan - bound) * environments / jobs * 1000, 1),
        # What the bound allows: list scheduling with no overhead at all, and the overhead per job
        # (environment time beyond the job's work) that keeps it within the target.
        "zero_overhead_ratio": round(list_schedule_s(durations, upstreams, environments) / bound, 3),
        # the same with the jobs ready at one moment sent longest remaining path first (what
        # cronlane does), and with the ready job of the longest remaining path always first
        "zero_overhead_ratio_ranked_sends": round(
            list_schedule_s(durations, upstreams, environments, order_by=RANKED_SENDS) / bound, 3
        ),
        "zero_overhead_ratio_critical_path": round(
            list_schedule_s(durations, upstreams, environments, order_by=CRITICAL_PATH) / bound, 3
        ),
        "overhead_budget_ms_at_target": round(
            overhead_budget_s(durations, upstreams, environments, 1.10) * 1000, 1
        ),
        "handoff_gap_ms": _summary_ms(gaps),
        "enqueue_to_start_ms": _summary_ms(queue_waits),
        "in_job_overhead_ms": _summary_ms(in_job),
        "executor_invocation_overhead_ms": _summary_ms(invocation_overhead),
        "executor_invocations": len(executor_spans),
        "executor_busy_fraction": round(busy / env_time, 3),
        # the environments' time over the run, per job: the declared work, cronlane's work in
        # the executor invocations, and environments idle (between invocations, or nothing ready)
        "env_time_per_job_ms": {
            "total": round(env_time / jobs * 1000, 1),
            "work": round(work / jobs * 1000, 1),
            "in_invocation_overhead": round((busy - work) / jobs * 1000, 1),
            "idle": round((env_time - busy) / jobs * 1000, 1),
        },
        "executor_aws_requests_per_job": {
            op: round(n / jobs, 2) for op, n in sorted(executor_requests.items(), key=lambda kv: -kv[1])
        },
        "executor_environments_started": warm_envs,
        "dispatcher_invocation_ms": _summary_ms(dispatcher_s),
        "inline_s": round(total, 3),
        "speedup_vs_inline": round(total / makespan, 2),
        "stack_setup_s": round(setup_s, 1),
    }


def main() -> None:
    print(json.dumps(run(), indent=2))


if __name__ == "__main__":
    main()
