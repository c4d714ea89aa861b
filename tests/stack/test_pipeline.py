"""nightly end to end: the real template.yaml created on the local runtime (moto), the
real handlers in their own Lambda environments, on a virtual clock."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from cronlane.local.session import RunReport, run_schedule_once, store_of, wait_for_run
from cronlane.model import JobStatus, RunStatus, scheduled_run_id
from fixture_jobs.catalog import CATALOG
from tests.conftest import START, log_records

pytestmark = pytest.mark.stack
RUN_ID = scheduled_run_id("nightly", START)


def started_count(runtime: Any) -> Counter[str]:
    return Counter(r["job"] for r in log_records(runtime.log_dir) if r.get("message") == "job started")


def assert_complete_once(runtime: Any, report: RunReport) -> None:
    """The run succeeded, every job ran exactly once."""
    assert report.run.status is RunStatus.SUCCEEDED
    assert {j.job: j.status for j in report.jobs} == dict.fromkeys(CATALOG.jobs, JobStatus.SUCCEEDED)
    assert all(j.attempts == 1 for j in report.jobs)
    assert started_count(runtime) == Counter(dict.fromkeys(CATALOG.jobs, 1))
    assert len(store_of(runtime).runs_of_schedule("nightly")) == 1


def test_nightly_runs_every_job_to_success(runtime: Any) -> None:
    # WHEN the nightly tick fires
    report = run_schedule_once(runtime, "nightly", START)
    # THEN the run and every one of its jobs succeeded, once, with the counts on the run
    assert report.run.run_id == RUN_ID
    assert_complete_once(runtime, report)
    assert (report.run.succeeded, report.run.failed, report.run.skipped) == (len(CATALOG.jobs), 0, 0)
    assert report.run.finished_at is not None


def test_each_job_starts_only_after_all_its_upstreams_finished(runtime: Any) -> None:
    report = run_schedule_once(runtime, "nightly", START)
    by_name = {j.job: j for j in report.jobs}
    for job in report.jobs:
        for upstream in job.depends_on:
            assert by_name[upstream].finished_at is not None and job.started_at is not None
            assert job.started_at >= by_name[upstream].finished_at, f"{job.job} started before {upstream}"


def test_independent_jobs_overlap_in_time(runtime: Any) -> None:
    report = run_schedule_once(runtime, "nightly", START)
    by_name = {j.job: j for j in report.jobs}

    def overlap(a: str, b: str) -> bool:
        x, y = by_name[a], by_name[b]
        assert x.started_at and x.finished_at and y.started_at and y.finished_at
        return x.started_at < y.finished_at and y.started_at < x.finished_at

    assert overlap("extract", "geo")
    assert overlap("score", "index")
    work = sum(j.duration_s or 0 for j in report.jobs)
    # the critical path (extract, then the 40-minute train) is 56% of the work back to back:
    # the run takes it, plus hand-offs, not the sum
    assert report.makespan_s < 0.6 * work, "the run took as long as running the jobs one by one"


def test_a_duplicated_tick_makes_one_run(runtime: Any) -> None:
    # GIVEN EventBridge delivers the same tick twice (it is at-least-once)
    first = runtime.fire("nightly", START)
    second = runtime.fire("nightly", START)
    report = wait_for_run(runtime, RUN_ID)
    runtime.drain()
    # THEN both invocations succeeded, only one created the run, and each job ran once
    assert first.error is None and second.error is None
    assert sorted([first.response["created"], second.response["created"]]) == [False, True]
    assert_complete_once(runtime, report)


@pytest.mark.parametrize(
    "crash_point",
    ["dispatcher.after_create", "dispatcher.after_job_runs", "dispatcher.after_enqueue_batch"],
)
def test_a_dispatcher_killed_half_way_is_completed_by_the_next_delivery(
    runtime: Any, crash_point: str
) -> None:
    # GIVEN the dispatcher's environment dies at a point of its work
    runtime.inject(crash_point)
    first = runtime.fire("nightly", START)
    # WHEN Lambda retries the asynchronous invocation
    report = wait_for_run(runtime, RUN_ID)
    runtime.drain()
    # THEN the same run was finished, not a second one, and every job ran once
    assert first.crashed
    assert [f.point for f in runtime.fired_faults] == [crash_point]
    retries = [i for i in runtime.invocations if i.function == "DispatcherFunction" and i.attempt > 0]
    assert retries and retries[0].response["run_id"] == RUN_ID
    assert_complete_once(runtime, report)


def test_a_duplicated_sqs_delivery_runs_the_job_once(runtime: Any) -> None:
    # GIVEN the event source mapping fails to delete extract's message once, so SQS
    # delivers it again after the visibility timeout
    runtime.inject("esm.skip_delete", job="extract")
    report = run_schedule_once(runtime, "nightly", START)
    runtime.drain()
    # THEN the second delivery was recognised, and the job did not run again
    duplicates = [
        r
        for r in log_records(runtime.log_dir)
        if r.get("message") == "duplicate delivery ignored" and r.get("job") == "extract"
    ]
    assert len(duplicates) == 1
    assert_complete_once(runtime, report)


def test_an_executor_killed_after_its_state_write_is_repaired_by_the_runs_check(runtime: Any) -> None:
    # GIVEN the executor dies after recording extract SUCCEEDED, before releasing
    # any of its dependents
    runtime.inject("executor.after_state_write", job="extract")
    report = run_schedule_once(runtime, "nightly", START)
    # THEN they were released without running the job again: by the run's check, due at the
    # schedule's one-hour deadline, before the message's visibility timeout (5400 s) brought it
    # back
    assert [f.point for f in runtime.fired_faults] == ["executor.after_state_write"]
    assert_complete_once(runtime, report)
    by_name = {j.job: j for j in report.jobs}
    received_at = by_name["extract"].started_at
    assert received_at is not None
    assert runtime.check_fires
    assert START + 3600 <= by_name["score"].started_at < received_at + 5400
