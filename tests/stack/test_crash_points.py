"""Every place an executor can die: the run still completes, each job succeeds once, and nothing
was invoked on a timer for nothing (every executor invocation had a message to handle)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from cronlane.clock import iso
from cronlane.local.session import wait_for_run
from cronlane.model import JobStatus, RunStatus
from tests.conftest import START, log_records

pytestmark = pytest.mark.stack
JOBS = ["extract", "score", "check", "merge"]


@pytest.mark.parametrize(
    ("point", "attempts", "ran"),
    [
        ("executor.before_claim", 1, 1),  # nothing recorded yet: the redelivery claims afresh
        ("executor.after_claim", 2, 1),  # died before the job began; the lease expires: attempt 2
        ("executor.after_job", 2, 2),  # the work was done but not recorded: it runs again
        ("executor.after_state_write", 1, 1),  # recorded: the redelivery only releases
        ("executor.after_release", 1, 1),  # one dependent released: the redelivery does the rest
        ("executor.after_send", 1, 1),  # released and sent: the redelivery changes nothing
    ],
)
def test_a_run_completes_whatever_point_the_executor_dies_at(
    runtime: Any, point: str, attempts: int, ran: int
) -> None:
    # GIVEN extract's executor dies once at this point
    runtime.inject(point, job="extract")
    runtime.invoke(
        "DispatcherFunction",
        {"action": "trigger", "jobs": JOBS, "idempotency_key": "crash", "scheduled_time": iso(START)},
    )
    report = wait_for_run(runtime, "manual@crash")
    runtime.drain()
    # THEN the run completed, every job succeeded, and only the crashed job ran twice (if at all;
    # a job whose effect must not repeat keys it by ctx.idempotency_key)
    assert [f.point for f in runtime.fired_faults] == [point]
    assert report.run.status is RunStatus.SUCCEEDED
    jobs = {j.job: j for j in report.jobs}
    assert all(j.status is JobStatus.SUCCEEDED for j in jobs.values())
    assert jobs["extract"].attempts == attempts
    assert all(jobs[name].attempts == 1 for name in JOBS[1:])
    started = Counter(r["job"] for r in log_records(runtime.log_dir) if r.get("message") == "job started")
    assert started == Counter(dict.fromkeys(JOBS[1:], 1) | {"extract": ran})
    # no executor invocation without a message: the runtime invokes only for received batches
    executor_calls = [i for i in runtime.invocations if i.function == "ExecutorFunction"]
    assert all(i.event["Records"] for i in executor_calls)
    assert len(executor_calls) <= len(JOBS) + 3  # the jobs, the redelivery, at most two duplicate sends
