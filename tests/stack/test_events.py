"""The handlers invoked with exactly the files in events/ (what `sam local invoke -e` sends),
and bad input: each gets a clear error that names the problem and loses nothing else."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from cronlane.clock import iso, parse_iso
from cronlane.local.session import store_of, wait_for_run
from cronlane.model import JobStatus, RunStatus
from tests.conftest import FEED_JOBS, START, load_event, log_records, refusal

pytestmark = pytest.mark.stack


@pytest.mark.parametrize(
    ("event_file", "run_id", "jobs"),
    [
        ("nightly.json", "nightly@2026-11-28T02:00:00Z", 19),
        ("hourly.json", "hourly@2026-11-28T03:00:00Z", 6),
        # EventBridge Scheduler's Input (08:00 in Berlin), as a ScheduleV2 sends it
        ("morning.json", "morning@2026-11-28T07:00:00Z", 3),
    ],
)
def test_a_scheduled_event_file_dispatches_its_schedule(
    runtime: Any, event_file: str, run_id: str, jobs: int
) -> None:
    runtime.mappings_enabled = False
    runtime.run_to(parse_iso(run_id.split("@", 1)[1]))  # the file's tick, sent at its time
    invocation = runtime.invoke("DispatcherFunction", load_event(event_file))
    assert invocation.error is None
    assert invocation.response == {
        "run_id": run_id,
        "status": "RUNNING",
        "created": True,
        "job_count": jobs,
        "enqueued": len([j for j in store_of(runtime).job_runs(run_id) if not j.depends_on]),
    }
    # every root's message is on the queue (the mapping is off), and no job has started
    sqs = boto3.client("sqs", endpoint_url=runtime.stack.endpoint, region_name="us-east-1")
    depth = sqs.get_queue_attributes(
        QueueUrl=runtime.stack.outputs["JobQueueUrl"], AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]["ApproximateNumberOfMessages"]
    assert int(depth) == invocation.response["enqueued"]
    store = store_of(runtime)
    assert all(j.status is JobStatus.PENDING for j in store.job_runs(run_id))  # no item written
    # as `cronlane run` shows a RUNNING run: the roots queued, the others waiting
    shown = {j.job: j.status for j in store.job_runs(run_id, roots_sent=True)}
    roots = {j.job for j in store.job_runs(run_id) if not j.depends_on}
    assert {job for job, status in shown.items() if status is JobStatus.QUEUED} == roots
    assert all(status is JobStatus.PENDING for job, status in shown.items() if job not in roots)


@pytest.mark.parametrize(
    ("time", "named"),
    [
        (START + 17 * 60, "not a fire time"),  # 02:17 of a 02:00 schedule
        (START + 10 * 86_400, "more than 5 minutes in the future"),  # +10 days
        (0.0, "older than its schedule's catch-up window"),  # 1970: `sam local generate-event`'s
    ],
    ids=["not-a-fire-time", "ten-days-ahead", "1970"],
)
def test_a_tick_its_schedule_could_not_have_sent_is_refused_and_writes_nothing(
    runtime: Any, time: float, named: str
) -> None:
    # GIVEN nightly ran its 02:00 tick
    runtime.mappings_enabled = False
    assert "error" not in runtime.invoke("DispatcherFunction", load_event("nightly.json")).response
    # WHEN a Scheduled Event for the same rule comes with a time its schedule never fires at
    # (at that time, if it is within the hour: only its time is wrong)
    runtime.run_to(time if time < START + 3600 else START)
    refused = runtime.invoke("DispatcherFunction", {**load_event("nightly.json"), "time": iso(time)})
    # THEN it is answered with an error naming the problem, counted as a rejected tick, and
    # nothing is written: no run, and the missed-run watermark did not move (the next day's
    # real tick notices nothing missed)
    assert named in refusal(refused) and refused.error is None
    assert len([r for r in log_records(runtime.log_dir) if "TicksRejected" in r]) == 1
    store = store_of(runtime)
    assert [r.run_id for r in store.runs_of_schedule("nightly", limit=50)] == ["nightly@2026-11-28T02:00:00Z"]
    runtime.run_to(START + 86_400)
    tomorrow = {**load_event("nightly.json"), "time": iso(START + 86_400)}
    next_day = runtime.invoke("DispatcherFunction", tomorrow)
    assert next_day.response["created"] is True
    assert not [r for r in log_records(runtime.log_dir) if "MissedRuns" in r]
    assert len(store.runs_of_schedule("nightly", limit=50)) == 2


def test_the_manual_trigger_file_makes_one_run_per_key_with_its_parameters(runtime: Any) -> None:
    runtime.mappings_enabled = False
    first = runtime.invoke("DispatcherFunction", load_event("manual-trigger.json"))
    again = runtime.invoke("DispatcherFunction", load_event("manual-trigger.json"))
    assert first.response["created"] is True and again.response["created"] is False
    assert first.response["run_id"] == again.response["run_id"] == "manual@fixture-1"
    ranking = store_of(runtime).get_job_run("manual@fixture-1", "rank")
    assert ranking is not None and ranking.params == {"duration_s": 30.0}


def test_the_executor_batch_file_runs_its_job(runtime: Any) -> None:
    # GIVEN the run the manual trigger file creates (the mapping is off, so nothing else runs)
    runtime.mappings_enabled = False
    runtime.invoke("DispatcherFunction", load_event("manual-trigger.json"))
    # WHEN the executor gets the SQS batch file
    invocation = runtime.invoke("ExecutorFunction", load_event("executor-sqs-batch.json"))
    # THEN the job ran and its record is not reported as failed
    assert invocation.error is None
    assert invocation.response == {"batchItemFailures": []}
    job = store_of(runtime).get_job_run("manual@fixture-1", "freshness")
    assert job is not None and job.status is JobStatus.SUCCEEDED and job.attempts == 1


def test_the_manual_trigger_runs_to_the_end(runtime: Any) -> None:
    runtime.invoke("DispatcherFunction", load_event("manual-trigger.json"))
    report = wait_for_run(runtime, "manual@fixture-1")
    assert report.run.status is RunStatus.SUCCEEDED
    assert {j.job for j in report.jobs} == FEED_JOBS


@pytest.mark.parametrize(
    ("event", "named"),
    [
        ({"hello": "world"}, "neither an EventBridge Scheduled Event"),
        ({"detail-type": "Scheduled Event", "source": "aws.events", "resources": []}, "field 'time'"),
        ({**load_event("nightly.json"), "time": "yesterday"}, "field 'time'"),
        ({**load_event("nightly.json"), "time": 1795831200}, "field 'time'"),
        ({**load_event("nightly.json"), "time": "2026-11-28T02:00:00"}, "timezone"),
        (
            {
                "action": "trigger",
                "schedule": "hourly",
                "parameters": {"rank": {"duration_s": "inf"}},
            },
            "must be a finite number",
        ),
        (
            {
                **load_event("nightly.json"),
                "resources": ["arn:aws:events:us-east-1:123456789012:rule/local-weekly"],
            },
            "unknown schedule 'weekly'",
        ),
        (
            {
                **load_event("nightly.json"),
                "resources": ["arn:aws:events:us-east-1:123456789012:rule/other-stack-daily"],
            },
            "does not belong",
        ),
        ({"action": "trigger"}, "names a 'schedule' or a list of 'jobs'"),
        ({"action": "trigger", "jobs": ["nopeJob"]}, "unknown job 'nopeJob'"),
        (
            {"action": "trigger", "schedule": "hourly", "parameters": {"rank": {"speed": 1}}},
            "job 'rank' has no parameter 'speed'",
        ),
        (
            {
                "action": "trigger",
                "schedule": "hourly",
                "parameters": {"rank": {"duration_s": "x"}},
            },
            "parameter 'duration_s' must be float",
        ),
        (
            {
                "action": "trigger",
                "schedule": "hourly",
                "parameters": {"geo": {"duration_s": 1}},
            },
            "not in this run: 'geo'",
        ),
        ({"action": "trigger", "jobs": ["geo"], "idempotency_key": "bad key"}, "idempotency_key"),
        ({"action": "trigger", "jobs": ["geo"], "colour": "red"}, "field 'colour'"),
    ],
)
def test_a_bad_dispatcher_event_is_refused_with_a_message_naming_the_problem(
    runtime: Any, event: dict[str, Any], named: str
) -> None:
    invocation = runtime.invoke("DispatcherFunction", event)
    assert named in refusal(invocation)
    # bad input is an answer, not a function error: retrying it cannot help; a rejected tick
    # (not a person's request) is counted for its alarm
    assert invocation.error is None
    rejected = [r for r in log_records(runtime.log_dir) if "TicksRejected" in r]
    assert len(rejected) == (0 if "action" in event else 1)
    assert store_of(runtime).runs_of_schedule("nightly") == []


def test_a_malformed_message_goes_to_the_dlq_and_the_rest_of_the_batch_runs(runtime: Any) -> None:
    # GIVEN a batch with a poison message and a good one (different message groups)
    runtime.mappings_enabled = False
    runtime.invoke("DispatcherFunction", load_event("manual-trigger.json"))
    good = load_event("executor-sqs-batch.json")["Records"][0]
    poison = {
        **good,
        "messageId": "poison-1",
        "body": "{not json",
        "attributes": {**good["attributes"], "MessageGroupId": "somethingElse"},
    }
    ghost = {
        **good,
        "messageId": "ghost-1",
        "body": json.dumps({"run_id": "manual@never-made", "job": "freshness"}),
        "attributes": {**good["attributes"], "MessageGroupId": "ghost"},
    }
    invocation = runtime.invoke("ExecutorFunction", {"Records": [poison, ghost, good]})
    # THEN nothing is reported failed (the bad ones were dead-lettered), the good job ran
    assert invocation.response == {"batchItemFailures": []}
    job = store_of(runtime).get_job_run("manual@fixture-1", "freshness")
    assert job is not None and job.status is JobStatus.SUCCEEDED
    sqs = boto3.client("sqs", endpoint_url=runtime.stack.endpoint, region_name="us-east-1")
    received = sqs.receive_message(
        QueueUrl=runtime.stack.outputs["DeadLetterQueueUrl"],
        MaxNumberOfMessages=10,
        MessageAttributeNames=["All"],
    )["Messages"]
    errors = sorted(m["MessageAttributes"]["error"]["StringValue"] for m in received)
    assert errors[0].startswith("malformed: message body is not JSON")
    assert errors[1] == "unknown run: no run manual@never-made"


def test_an_executor_event_that_is_not_an_sqs_batch_is_refused_naming_the_field(runtime: Any) -> None:
    # Powertools Parser's SqsModel checks the batch before any record is handled
    invocation = runtime.invoke("ExecutorFunction", {"Records": [{"body": "{}"}]})
    assert invocation.error is not None
    message = invocation.error["errorMessage"]
    assert message.startswith("invalid SQS event: field 'Records.0.messageId': Field required")
    assert invocation.error["errorType"] == "InvalidRequest"


def test_a_refused_event_is_logged_by_its_shape_not_its_values(runtime: Any) -> None:
    secret = "tok-9f8e7d6c5b4a"
    event = {"action": "trigger", "jobs": ["noSuchJob"], "parameters": {"noSuchJob": {"api_token": secret}}}
    assert "noSuchJob" in refusal(runtime.invoke("DispatcherFunction", event))
    records = log_records(runtime.log_dir)
    refused = [r for r in records if r.get("message") == "event refused"]
    assert refused and refused[-1]["event"] == {"keys": ["action", "jobs", "parameters"], "action": "trigger"}
    # a value of the wrong type is described, never repeated, in the error (which is logged)
    wrong = {
        "action": "trigger",
        "jobs": ["geo"],
        "parameters": {"geo": {"duration_s": secret}},
    }
    problem = refusal(runtime.invoke("DispatcherFunction", wrong))
    assert "parameter 'duration_s' must be float, got a string of 16 character(s)" in problem
    # dead letters' bodies and errors are answered to the operator but not logged
    act = {"action": "trigger", "jobs": ["check"], "idempotency_key": "log-dlq"}
    act["parameters"] = {"check": {"fail_attempts": 3}}
    runtime.invoke("DispatcherFunction", act)
    runtime.drain()
    listing = runtime.invoke("DispatcherFunction", {"action": "dlq-list"}).response
    assert listing["messages"] and "simulated failure" in listing["messages"][0]["error"]
    records = log_records(runtime.log_dir)
    assert not [r for r in records if secret in json.dumps(r)]
    dispatched = [
        r for r in records if r.get("message") == "dispatched" and "messages" in r.get("dispatch", {})
    ]
    assert dispatched and dispatched[-1]["dispatch"]["messages"] == "1 item(s)"
