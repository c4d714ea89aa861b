"""Dispatcher idempotency details, retries with backoff, and attempts that never finish."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from cronlane.clock import iso
from cronlane.declarations import Catalog
from cronlane.local.session import store_of, wait_for_run
from cronlane.model import JobStatus, NewRun, RunStatus, Trigger
from cronlane.queue.sqs import SqsJobQueue
from cronlane.telemetry import NoTelemetry
from cronlane.wiring import dispatcher_of
from tests.conftest import START, load_event, refusal

pytestmark = pytest.mark.stack


def trigger(key: str, **fields: Any) -> dict[str, Any]:
    return {"action": "trigger", "idempotency_key": key, "scheduled_time": iso(START), **fields}


def test_a_resumed_dispatch_never_resets_or_resends_a_job_that_moved_on(runtime: Any) -> None:
    # GIVEN a run whose jobs already succeeded
    runtime.invoke("DispatcherFunction", trigger("resume-1", jobs=["geo", "synonyms"]))
    report = wait_for_run(runtime, "manual@resume-1")
    store = store_of(runtime)
    graph = store.load_run_graph("manual@resume-1")
    assert graph is not None
    # WHEN a late dispatcher finishes creating the same run again
    run = NewRun(
        "manual@resume-1", "manual", START, Trigger.MANUAL, START, int(START) + 86400, {}, graph.nodes
    )
    sqs = boto3.client("sqs", endpoint_url=runtime.stack.endpoint, region_name="us-east-1")
    queue = SqsJobQueue(runtime.stack.outputs["JobQueueUrl"], client=sqs)
    starter = dispatcher_of(Catalog.build([]), store, queue, runtime, NoTelemetry(), "", 86400).starter
    sent = starter.write_and_enqueue(run, resume=True)
    # THEN it sent nothing and changed nothing
    assert sent == 0
    runtime.drain()
    assert all(j.status is JobStatus.SUCCEEDED and j.attempts == 1 for j in store.job_runs("manual@resume-1"))
    assert report.run.status is RunStatus.SUCCEEDED
    assert store.get_run("manual@resume-1").status is RunStatus.SUCCEEDED


def test_a_reused_key_with_a_different_trigger_is_refused(runtime: Any) -> None:
    runtime.mappings_enabled = False
    first = runtime.invoke("DispatcherFunction", trigger("same-key", jobs=["geo"]))
    again = runtime.invoke("DispatcherFunction", trigger("same-key", jobs=["geo"]))
    other = runtime.invoke("DispatcherFunction", trigger("same-key", jobs=["expire"]))
    assert first.error is None and again.error is None and again.response["created"] is False
    assert other.error is None  # a refusal, not a function error
    assert "was used before for a different trigger" in refusal(other)


def test_a_scheduled_time_without_a_zone_is_refused(runtime: Any) -> None:
    event = {"action": "trigger", "jobs": ["geo"], "scheduled_time": "2026-11-28T02:00:00"}
    invocation = runtime.invoke("DispatcherFunction", event)
    assert "field 'scheduled_time'" in refusal(invocation)


def test_a_failed_attempt_is_recorded_and_retried_after_a_backoff(runtime: Any) -> None:
    runtime.invoke(
        "DispatcherFunction",
        trigger("retry-1", jobs=["check"], parameters={"check": {"fail_attempts": 1}}),
    )
    report = wait_for_run(runtime, "manual@retry-1")
    (job,) = report.jobs
    assert report.run.status is RunStatus.SUCCEEDED
    assert job.status is JobStatus.SUCCEEDED and job.attempts == 2
    first, second = job.history
    assert "simulated failure on attempt 1" in first["error"] and second["error"] is None
    # the first attempt failed half way (90 s), then the message stayed hidden 15 to 30 s
    failed_at = job.started_at + first["duration_s"]
    retried_at = job.finished_at - second["duration_s"]
    assert 15 <= retried_at - failed_at <= 31


def test_a_job_that_keeps_failing_ends_failed_in_the_dlq_with_dependents_skipped(runtime: Any) -> None:
    runtime.invoke(
        "DispatcherFunction",
        trigger(
            "fail-1",
            jobs=["check", "merge", "alert"],
            parameters={"check": {"fail_attempts": 5}},
        ),
    )
    report = wait_for_run(runtime, "manual@fail-1")
    jobs = {j.job: j for j in report.jobs}
    assert report.run.status is RunStatus.FAILED
    assert (report.run.succeeded, report.run.failed, report.run.skipped) == (0, 1, 2)
    assert jobs["check"].status is JobStatus.FAILED and jobs["check"].attempts == 3
    assert jobs["merge"].reason == "upstream check failed"
    assert jobs["alert"].status is JobStatus.SKIPPED
    assert dlq_errors(runtime) == [
        "cronlane.simulated.SimulatedFailure: check: simulated failure on attempt 3"
    ]


def test_an_attempt_whose_executor_keeps_dying_fails_after_max_attempts(runtime: Any) -> None:
    # GIVEN every attempt's environment dies right after claiming the job
    runtime.inject("executor.after_claim", times=10, job="geo")
    runtime.invoke("DispatcherFunction", trigger("zombie-1", jobs=["geo"]))
    report = wait_for_run(runtime, "manual@zombie-1")
    # THEN each redelivery (after the visibility timeout) was a new attempt, and after the
    # third the job failed instead of running a fourth time
    (job,) = report.jobs
    assert len(runtime.fired_faults) == 3
    assert job.status is JobStatus.FAILED and job.attempts == 3
    assert "never finished" in (job.error or "")
    # every attempt is in the history with what became of it, the crashed ones included
    assert [h["attempt"] for h in job.history] == [1, 2, 3]
    assert all("executor stopped" in h["error"] for h in job.history[:2])
    assert "never finished" in job.history[2]["error"]
    assert report.run.status is RunStatus.FAILED
    assert len(dlq_errors(runtime)) == 1


def dlq_errors(runtime: Any) -> list[str]:
    sqs = boto3.client("sqs", endpoint_url=runtime.stack.endpoint, region_name="us-east-1")
    messages = sqs.receive_message(
        QueueUrl=runtime.stack.outputs["DeadLetterQueueUrl"],
        MaxNumberOfMessages=10,
        MessageAttributeNames=["All"],
    ).get("Messages", [])
    return [m["MessageAttributes"]["error"]["StringValue"] for m in messages]


def test_the_events_folder_has_one_scheduled_event_per_schedule() -> None:
    from fixture_jobs.catalog import CATALOG

    for name, schedule in CATALOG.schedules.items():
        event = load_event(f"{name}.json")
        if schedule.timezone is None:  # an EventBridge rule's Scheduled Event
            assert event["resources"][0].endswith(f":rule/local-{name}")
        else:  # an EventBridge Scheduler schedule's Input, filled in
            assert event["schedule_arn"].endswith(f":schedule/default/local-{name}")


def test_an_all_done_job_runs_when_its_upstream_failed(runtime: Any) -> None:
    # GIVEN check fails for good; merge needs it; summary
    # (trigger_rule="all_done") comes after merge
    runtime.invoke(
        "DispatcherFunction",
        trigger(
            "all-done",
            jobs=["check", "merge", "summary", "alert"],
            parameters={"check": {"fail_attempts": 5}},
        ),
    )
    report = wait_for_run(runtime, "manual@all-done")
    jobs = {j.job: j for j in report.jobs}
    # THEN the all_success dependents were skipped at once, the all_done one ran anyway,
    # and the run still ends FAILED with its counts
    assert jobs["merge"].status is JobStatus.SKIPPED
    assert jobs["alert"].status is JobStatus.SKIPPED
    assert jobs["summary"].status is JobStatus.SUCCEEDED
    assert jobs["summary"].started_at >= jobs["check"].finished_at
    assert report.run.status is RunStatus.FAILED
    assert (report.run.succeeded, report.run.failed, report.run.skipped) == (1, 1, 2)


def test_a_run_whose_dispatch_failed_every_retry_is_finished_by_its_watchdog(runtime: Any) -> None:
    # GIVEN the dispatcher dies after creating the 02:00 run, and both retries die too
    runtime.inject("dispatcher.after_create", times=1)
    runtime.inject("dispatcher.after_job_runs", times=2)
    runtime.fire("nightly", START)
    runtime.drain()  # the tick, and Lambda's two asynchronous retries of it
    assert len(runtime.fired_faults) == 3
    store = store_of(runtime)
    first = f"nightly@{iso(START)}"
    assert store.get_run(first).status is RunStatus.CREATING
    # WHEN nobody does anything (the next tick is a day away)
    report = wait_for_run(runtime, first, limit_s=3 * 3600)
    # THEN the run's check, due at its deadline, finished creating it and it ran to the end,
    # each job once, hours before the next tick
    assert report.run.status is RunStatus.SUCCEEDED
    assert all(j.attempts == 1 for j in report.jobs)
    assert runtime.check_fires and report.run.finished_at < START + 3 * 3600
