"""The metric series a stack creates do not grow with its jobs: the functions' own EMF output on
the local runtime, for two graphs of different sizes (what ``make bench`` counts as
``metric_series``), with one document per job; a job declared with ``metrics=True`` adds its own
series and no other job's."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks import cost
from benchmarks.billing import MEMORY_GB
from benchmarks.synthetic import environment
from cronlane.telemetry import SERIES_BOUND

pytestmark = [pytest.mark.stack, pytest.mark.xdist_group("metric_series")]


def measured(jobs: int, opted_in: str = "") -> dict[str, Any]:
    return cost.measure({**environment("layered", jobs), "BENCH_METRICS": opted_in}, f"{jobs} jobs")


def test_series_stay_bounded_and_each_job_writes_one_document() -> None:
    small, large = measured(30), measured(150)
    assert small["metric_series"] == large["metric_series"], "five times the jobs, the same series"
    assert large["metric_series"] <= SERIES_BOUND <= 50
    for figures in (small, large):
        # one document per job, and one for the run's own figures when it ends
        assert figures["jobs"] <= figures["emf_documents"] <= figures["jobs"] + 2, figures
        # the log bill's inputs: what each function wrote, and Lambda's lines for each of
        # cronlane's invocations (about 250 bytes each, and INIT_START once per environment)
        invoked = sum(n for f, n in figures["lambda_invocations"].items() if f in MEMORY_GB)
        assert (
            200 * invoked
            < figures["platform_log_bytes"]
            < 300 * invoked + 300 * sum(figures["environments"].values())
        )
        assert set(figures["log_bytes_by_function"]) >= {"DispatcherFunction", "ExecutorFunction"}
        assert sum(figures["level_sizes"]) == figures["jobs"]
        # what the table keeps per job: its job-run, its result and its share of the run's items
        assert 200 < figures["stored_bytes_per_job"] < 4000, figures["stored_bytes_per_job"]
    # the executor's own lines grow with the jobs (a few hundred bytes each), not with anything else
    per_job = [f["log_bytes_by_function"]["ExecutorFunction"] / f["jobs"] for f in (small, large)]
    assert 0.8 < per_job[1] / per_job[0] < 1.25, per_job
    detailed = measured(30, opted_in=f"job00003,{cost.SCHEDULE}")
    # the five figures of the job's success and the two of its schedule's run get series of their own
    assert detailed["metric_series"] - small["metric_series"] == 5 + 2
