"""Overlapping runs: the example's ``daily-full-sync`` (23 jobs, 44 minutes) run alone, then
twice at once (two manual triggers a minute apart: a rerun or a backfill during the nightly),
with every job's ``max_concurrent`` at 1 (the default: one lane per job, the second run's jobs
wait for the first's) and at 2 (``benchmarks.lanes``). On the local runtime's virtual clock
with 8 executor environments, so the figures are the runs' own times, not this machine's (the
example's callback worker waits 120 s between empty receives here: ``benchmarks.worker_idle``).

Figures (minutes of the runs' clock): ``alone_min``, the run by itself; for each setting,
``first_min`` and ``second_min``, each run's trigger to its end, and ``second_first_start_min``,
the second run's trigger to its first job's start; ``slowdown`` = the slower of the two over
``alone_min`` (1.0: as if alone)."""

from __future__ import annotations

from typing import Any

from benchmarks import EXAMPLE_TEMPLATE, worker_idle

START = 1795831200.0  # 2026-11-28T02:00:00Z
APART_S = 60.0


def run() -> dict[str, Any]:
    results: dict[str, Any] = {}
    for lanes in (1, 2):
        results[f"max_concurrent_{lanes}"] = _overlapping(lanes)
    results["alone_min"] = results["max_concurrent_1"].pop("alone_min")
    results["max_concurrent_2"].pop("alone_min")
    for lanes in (1, 2):
        figures = results[f"max_concurrent_{lanes}"]
        figures["slowdown"] = round(
            max(figures["first_min"], figures["second_min"]) / results["alone_min"], 2
        )
    return results


def _overlapping(lanes: int) -> dict[str, Any]:
    from cronlane.local.session import local_runtime, wait_for_run

    with (
        worker_idle(120),
        local_runtime(
            EXAMPLE_TEMPLATE,
            clock="virtual",
            start=START,
            executor_environments=8,
            env_overrides=environment(lanes),
        ) as runtime,
    ):
        alone = _trigger(runtime, f"alone-{lanes}")
        alone_report = wait_for_run(runtime, alone)
        began = runtime.clock.now()
        first = _trigger(runtime, f"first-{lanes}")
        runtime.run_to(began + APART_S)
        second = _trigger(runtime, f"second-{lanes}")
        reports = [wait_for_run(runtime, run_id) for run_id in (first, second)]
    for report in (alone_report, *reports):
        assert report.run.status.value == "SUCCEEDED", (report.run.run_id, report.run.status)
    return {
        "alone_min": _minutes(alone_report),
        "first_min": _minutes(reports[0]),
        "second_min": _minutes(reports[1]),
        "second_first_start_min": round(
            (min(j.started_at or 0 for j in reports[1].jobs) - (reports[1].run.created_at or 0)) / 60, 1
        ),
        "jobs_per_run": len(reports[1].jobs),
    }


def environment(lanes: int) -> dict[str, str]:
    """What the local runtime gives the functions so that they load ``benchmarks.lanes``."""
    return {"CRONLANE_CATALOG": "benchmarks.lanes", "BENCH_MAX_CONCURRENT": str(lanes)}


def _trigger(runtime: Any, key: str) -> str:
    event = {"action": "trigger", "schedule": "daily-full-sync", "idempotency_key": key}
    invocation = runtime.invoke("DispatcherFunction", event)
    assert invocation.error is None and "error" not in invocation.response, invocation.response
    return str(invocation.response["run_id"])


def _minutes(report: Any) -> float:
    ends = [j.finished_at for j in report.jobs if j.finished_at is not None]
    return round((max(ends) - (report.run.created_at or 0)) / 60, 1)


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
