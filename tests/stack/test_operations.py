"""Operator actions performed by the dispatcher function: cancel, rerun, mark, pause, resume."""

from __future__ import annotations

from typing import Any

import pytest

from cronlane.clock import iso
from cronlane.local.session import store_of, wait_for_run
from cronlane.model import JobStatus, RunStatus, scheduled_run_id
from tests.conftest import START, act, refusal

pytestmark = pytest.mark.stack


def trigger(runtime: Any, key: str, **fields: Any) -> str:
    act(runtime, action="trigger", idempotency_key=key, scheduled_time=iso(START), **fields)
    return f"manual@{key}"


def failing_compatibility_run(runtime: Any) -> str:
    """A run whose check dies on every one of its 3 attempts (its dependents skip)."""
    runtime.inject("executor.after_claim", times=3, job="check")
    run_id = trigger(runtime, "ops", jobs=["score", "check", "merge"])
    report = wait_for_run(runtime, run_id)
    assert report.run.status is RunStatus.FAILED
    return run_id


def test_cancel_lets_running_jobs_finish_and_starts_nothing_else(runtime: Any) -> None:
    run_id = trigger(runtime, "cancel-1", schedule="nightly")
    store = store_of(runtime)
    runtime.run_until(lambda: store.get_job_run(run_id, "extract").status is JobStatus.RUNNING)
    cancelled_at = runtime.now()
    result = act(runtime, action="cancel", run_id=run_id)
    report = wait_for_run(runtime, run_id)
    runtime.drain()
    assert result["cancelled"] > 0
    assert report.run.status is RunStatus.CANCELLED
    statuses = {j.job: j.status for j in report.jobs}
    assert statuses["extract"] is JobStatus.SUCCEEDED  # it was running: it finished
    assert statuses["score"] is JobStatus.CANCELLED  # it was waiting: it never started
    assert all(j.started_at is None or j.started_at <= cancelled_at for j in report.jobs)
    assert report.run.cancelled == sum(1 for s in statuses.values() if s is JobStatus.CANCELLED)
    # cancelling again changes nothing
    assert act(runtime, action="cancel", run_id=run_id)["cancelled"] == 0


def test_rerun_failed_only_retries_the_failure_and_releases_what_it_skipped(runtime: Any) -> None:
    run_id = failing_compatibility_run(runtime)
    result = act(runtime, action="rerun", run_id=run_id, failed_only=True)
    assert result["rerun"] == ["check", "merge"]
    report = wait_for_run(runtime, run_id)
    jobs = {j.job: j for j in report.jobs}
    assert report.run.status is RunStatus.SUCCEEDED
    assert (report.run.succeeded, report.run.failed, report.run.skipped) == (3, 0, 0)
    assert jobs["check"].attempts == 1 and jobs["check"].generation == 1
    assert jobs["score"].generation == 0  # it had succeeded: not run again


def test_rerun_refuses_a_run_that_is_still_going(runtime: Any) -> None:
    runtime.mappings_enabled = False
    run_id = trigger(runtime, "busy", jobs=["geo"])
    invocation = runtime.invoke("DispatcherFunction", {"action": "rerun", "run_id": run_id})
    assert "only a finished run can be rerun" in refusal(invocation)


def test_mark_succeeded_lets_the_dependents_proceed(runtime: Any) -> None:
    run_id = failing_compatibility_run(runtime)
    result = act(runtime, action="mark", run_id=run_id, job="check")
    assert result["marked"] == ["check"] and result["rerun"] == ["merge"]
    report = wait_for_run(runtime, run_id)
    jobs = {j.job: j for j in report.jobs}
    assert report.run.status is RunStatus.SUCCEEDED
    assert jobs["check"].status is JobStatus.SUCCEEDED
    assert jobs["check"].reason == "marked succeeded by an operator"
    assert jobs["merge"].status is JobStatus.SUCCEEDED and jobs["merge"].attempts == 1


def test_a_paused_schedule_records_skipped_runs_that_are_never_caught_up(runtime: Any) -> None:
    act(runtime, action="pause", schedule="hourly", reason="migrating the feed tables")
    paused_tick = runtime.invoke("DispatcherFunction", runtime.scheduled_event("hourly", START))
    run = store_of(runtime).get_run(scheduled_run_id("hourly", START))
    assert paused_tick.response["status"] == "SKIPPED"
    assert run is not None and run.status is RunStatus.SKIPPED
    assert run.reason == "schedule paused: migrating the feed tables"
    # WHEN it is resumed, the next tick runs, and the skipped one stays skipped
    act(runtime, action="resume", schedule="hourly")
    runtime.fire("hourly", START + 3600)
    assert wait_for_run(runtime, scheduled_run_id("hourly", START + 3600)).run.status is RunStatus.SUCCEEDED
    again = runtime.invoke("DispatcherFunction", runtime.scheduled_event("hourly", START))
    assert again.response["status"] == "SKIPPED" and again.response["created"] is False


@pytest.mark.parametrize(
    ("event", "named"),
    [
        ({"action": "explode"}, "field 'action': 'explode' is not one of"),
        ({"action": "cancel"}, "field 'run_id'"),
        ({"action": "cancel", "run_id": "manual@nothing"}, "no run manual@nothing"),
        ({"action": "mark", "run_id": "x"}, "field 'job'"),
        ({"action": "pause", "schedule": "weekly"}, "unknown schedule 'weekly'"),
    ],
)
def test_bad_operator_actions_are_named(runtime: Any, event: dict[str, Any], named: str) -> None:
    invocation = runtime.invoke("DispatcherFunction", event)
    assert named in refusal(invocation)


def test_rerun_brings_back_cancelled_jobs_but_failed_only_does_not(runtime: Any) -> None:
    run_id = trigger(runtime, "cancel-2", jobs=["extract", "score"])
    store = store_of(runtime)
    runtime.run_until(lambda: store.get_job_run(run_id, "extract").status is JobStatus.RUNNING)
    act(runtime, action="cancel", run_id=run_id)
    assert wait_for_run(runtime, run_id).run.status is RunStatus.CANCELLED
    assert act(runtime, action="rerun", run_id=run_id, failed_only=True)["rerun"] == []
    assert act(runtime, action="rerun", run_id=run_id)["rerun"] == ["score"]
    report = wait_for_run(runtime, run_id)
    assert report.run.status is RunStatus.SUCCEEDED
    assert {j.job: j.attempts for j in report.jobs} == {"extract": 1, "score": 1}
