"""Jobs longer than Lambda's 15 minutes: train (40 minutes of work, timeout 900 s
per invocation) checkpoints and continues, and is one job-run with its continuations listed.
A continuation is not an attempt; a retry resumes from the last checkpoint; a job that neither
finishes nor checkpoints before its timeout fails that attempt with a timeout error."""

from __future__ import annotations

from typing import Any

import pytest

from cronlane.clock import iso
from cronlane.local.session import store_of, wait_for_run
from cronlane.model import JobStatus, RunStatus
from tests.conftest import START, log_records
from tests.stack.runs import emf_values

pytestmark = pytest.mark.stack
LONG = "train"
WORK_S = 2400.0  # its declared duration_s
TIMEOUT_S = 900.0  # its timeout_s, per invocation


def run_long_job(runtime: Any, key: str, **params: Any) -> str:
    event = {
        "action": "trigger",
        "jobs": [LONG],
        "idempotency_key": key,
        "scheduled_time": iso(START),
        "parameters": {LONG: params} if params else {},
    }
    invocation = runtime.invoke("DispatcherFunction", event)
    assert invocation.error is None and "error" not in invocation.response, invocation.response
    return str(invocation.response["run_id"])


def job_of(runtime: Any, run_id: str) -> Any:
    view = store_of(runtime).get_job_run(run_id, LONG)
    assert view is not None
    return view


def executor_invocations_of(runtime: Any, run_id: str) -> int:
    return sum(
        1
        for i in runtime.invocations
        if i.function == "ExecutorFunction"
        and any(run_id in r.get("body", "") for r in i.event.get("Records", []))
    )


def test_a_40_minute_job_is_one_job_run_over_several_invocations(runtime: Any) -> None:
    run_id = run_long_job(runtime, "long")
    report = wait_for_run(runtime, run_id)
    job = job_of(runtime, run_id)
    # one job-run, one attempt, SUCCEEDED after 40 minutes of work in 4 invocations
    assert report.run.status is RunStatus.SUCCEEDED
    assert (job.status, job.attempts, len(job.history)) == (JobStatus.SUCCEEDED, 1, 1)
    assert job.duration_s == pytest.approx(WORK_S)
    assert [c["continuation"] for c in job.continuations] == [1, 2, 3]
    assert executor_invocations_of(runtime, run_id) == 4
    # each continued invocation stopped at 75% of its time at most, and made progress
    progress = [c["progress"] for c in job.continuations]
    assert progress == sorted(progress) and progress[0] > 0 and progress[-1] < 1
    assert all(c["duration_s"] <= 0.75 * TIMEOUT_S for c in job.continuations)
    assert all(c["attempt"] == 1 for c in job.continuations)
    # the near-timeout alarm measures each invocation: it never saw 80% (and JobsContinued is 3)
    records = log_records(runtime.log_dir)
    fractions = emf_values(records, "JobTimeoutFraction", job=LONG)
    assert len(fractions) == 4 and max(fractions) < 0.8
    assert sum(emf_values(records, "JobsContinued", job=LONG)) == 3
    # `cronlane run --json` lists the continuations with the job
    listed = next(j for j in report.to_json()["jobs"] if j["name"] == LONG)
    assert [c["continuation"] for c in listed["continuations"]] == [1, 2, 3]


def test_a_job_that_neither_finishes_nor_checkpoints_in_time_fails_that_attempt(runtime: Any) -> None:
    # one step of 1,000 s cannot fit in a 900 s invocation, so no checkpoint comes in time
    run_id = run_long_job(runtime, "no-checkpoint", step_s=1000)
    report = wait_for_run(runtime, run_id)
    job = job_of(runtime, run_id)
    assert report.run.status is RunStatus.FAILED
    assert job.status is JobStatus.FAILED and job.attempts == job.max_attempts
    assert job.continuations == []
    for entry in job.history:
        assert entry["error"].startswith("JobTimeout: job 'train' ran past its deadline")


def test_a_retry_after_a_crash_resumes_from_the_last_checkpoint(runtime: Any) -> None:
    # GIVEN the job checkpointed once, THEN the executor of a later invocation dies after its work
    run_id = run_long_job(runtime, "crash")
    runtime.run_until(lambda: len(job_of(runtime, run_id).continuations) == 1)
    runtime.inject("executor.after_job", job=LONG)
    report = wait_for_run(runtime, run_id)
    job = job_of(runtime, run_id)
    assert report.run.status is RunStatus.SUCCEEDED
    # the lost invocation is a lost attempt; attempt 2 went on from checkpoint 1, not from zero
    assert job.attempts == 2
    assert "its lease expired" in job.history[0]["error"]
    before = [c for c in job.continuations if c["attempt"] == 1]
    after = [c for c in job.continuations if c["attempt"] == 2]
    assert before and after and job.continuations == before + after
    step = before[0]["progress"]  # each invocation does the same amount of work
    assert after[0]["progress"] == pytest.approx((len(before) + 1) * step)
    # work done from the checkpoint on, plus what was done before it: 40 minutes
    assert job.duration_s == pytest.approx(WORK_S)


def test_a_crash_between_checkpoint_and_send_is_continued_by_the_redelivered_message(runtime: Any) -> None:
    run_id = run_long_job(runtime, "after-checkpoint")
    runtime.inject("executor.after_checkpoint", job=LONG)
    report = wait_for_run(runtime, run_id)
    job = job_of(runtime, run_id)
    # the original message came back after its visibility timeout and continued the job:
    # still one attempt, and each checkpoint listed once
    assert report.run.status is RunStatus.SUCCEEDED
    assert (job.attempts, [c["continuation"] for c in job.continuations]) == (1, [1, 2, 3])


def test_a_job_that_keeps_asking_to_continue_fails_at_its_max_continuations(runtime: Any) -> None:
    # 20 continuations of 11 minutes cannot hold 10 hours of work
    run_id = run_long_job(runtime, "endless", duration_s=36_000)
    report = wait_for_run(runtime, run_id)
    job = job_of(runtime, run_id)
    assert report.run.status is RunStatus.FAILED
    assert len(job.continuations) == job.max_continuations == 20
    assert job.error == ("job 'train' asked for continuation 21, but its max_continuations is 20")


def test_cancelling_a_run_stops_a_long_job_at_its_next_checkpoint(runtime: Any) -> None:
    run_id = run_long_job(runtime, "cancel")
    runtime.run_until(lambda: job_of(runtime, run_id).status is JobStatus.RUNNING)
    cancel = runtime.invoke("DispatcherFunction", {"action": "cancel", "run_id": run_id})
    assert cancel.error is None and "error" not in cancel.response, cancel.response
    report = wait_for_run(runtime, run_id)
    job = job_of(runtime, run_id)
    assert report.run.status is RunStatus.CANCELLED
    assert job.status is JobStatus.CANCELLED and len(job.continuations) == 1
