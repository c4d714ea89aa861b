"""Per-job concurrency on the local runtime (``Job.max_concurrent``): in an app made by
``cronlane init``, two runs triggered a minute apart of a two-job chain. With the default (one
lane per job) the second run's jobs wait for the first's, so it takes about half as long again;
with ``max_concurrent=2`` both runs finish in the time of one, and each job-run still executes
once; with ``max_concurrent=None`` (no lane) likewise, and each run's second job runs in its
first job's invocation. Times are the runs' own, on the virtual clock."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cronlane.scaffold import create_app
from tests.conftest import act

pytestmark = [pytest.mark.stack, pytest.mark.xdist_group("lanes")]

WHEELS = os.environ.get("CRONLANE_WHEELS")
START = 1_800_000_000.0 - 8 * 3600 + 2 * 3600
WORK_S = 600.0
JOBS = """
from cronlane.simulated import sim_params

JOBS += [
    Job(f"{kind}{step}Job", "cronlane.simulated.simulate", kind, after, timeout_s=900,
        params=sim_params(600), max_concurrent=lanes)
    for kind, lanes in (("wide", 2), ("narrow", 1))
    for step, after in (("A", ()), ("B", (f"{kind}AJob",)))
]
# no lane; 200 s each, so that B's timeout (250 s) fits in what A leaves of the invocation's 900 s
JOBS += [
    Job(f"free{step}Job", "cronlane.simulated.simulate", "free", after, timeout_s=250,
        params=sim_params(200), max_concurrent=None)
    for step, after in (("A", ()), ("B", ("freeAJob",)))
]
"""
FREE_WORK_S = 200.0


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("lanes") / "my-jobs"
    create_app(root, package="lane_jobs", find_links=Path(WHEELS) if WHEELS else None)
    catalog = root / "src" / "lane_jobs" / "catalog.py"
    catalog.write_text(
        catalog.read_text().replace("\nCATALOG = Catalog.build", JOBS + "\nCATALOG = Catalog.build")
    )
    return root


def overlapping(app: Path, kind: str, invocations: list[int] | None = None) -> list[tuple[float, int]]:
    """Two runs of ``kind``'s chain, the second triggered a minute after the first: each run's
    trigger-to-end time in seconds and its executions (``invocations``: gets the executor's
    invocation count)."""
    from cronlane.local.session import local_runtime, wait_for_run

    jobs = [f"{kind}AJob", f"{kind}BJob"]
    with local_runtime(
        app / "template.yaml", clock="virtual", start=START, executor_environments=4
    ) as runtime:
        first = act(runtime, action="trigger", jobs=jobs, idempotency_key=f"{kind}-1")["run_id"]
        runtime.run_to(START + 60)
        second = act(runtime, action="trigger", jobs=jobs, idempotency_key=f"{kind}-2")["run_id"]
        reports = [wait_for_run(runtime, run_id) for run_id in (first, second)]
        if invocations is not None:
            invocations.append(sum(1 for i in runtime.invocations if i.function == "ExecutorFunction"))
    out = []
    for report in reports:
        assert report.run.status.value == "SUCCEEDED", report.to_json()
        end = max(j.finished_at or 0 for j in report.jobs)
        out.append((end - report.run.created_at, sum(j.attempts for j in report.jobs)))
    return out


def test_two_overlapping_runs_of_jobs_with_two_lanes_each_finish_in_the_time_of_one(app: Path) -> None:
    (first, first_runs), (second, second_runs) = overlapping(app, "wide")
    alone = 2 * WORK_S
    assert alone <= first < alone * 1.1 and alone <= second < alone * 1.1
    assert first_runs == second_runs == 2  # each job-run executed once


def test_with_one_lane_the_second_run_waits_for_the_first_runs_jobs(app: Path) -> None:
    (first, _), (second, _) = overlapping(app, "narrow")
    alone = 2 * WORK_S
    assert first < alone * 1.1
    assert second > alone * 1.4  # its first job waited for the first run's, its second likewise


def test_jobs_without_a_lane_run_side_by_side_and_a_dependent_in_its_upstream_s_invocation(app: Path) -> None:
    invocations: list[int] = []
    (first, first_runs), (second, second_runs) = overlapping(app, "free", invocations)
    alone = 2 * FREE_WORK_S
    assert alone <= first < alone * 1.1 and alone <= second < alone * 1.1
    assert first_runs == second_runs == 2  # each job-run executed once
    assert invocations == [2]  # one per run: B ran in A's invocation, with no message of its own
