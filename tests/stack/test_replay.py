"""DLQ replay: a dead-lettered job goes back into its run, the jobs it skipped run after it, and the
dead letter is deleted only after the re-send, so a crash mid-replay loses nothing."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import boto3
import pytest

from cronlane.clock import iso
from cronlane.local.session import store_of, wait_for_run
from cronlane.model import JobStatus, RunStatus
from tests.conftest import START, act, load_event, log_records, refusal

pytestmark = pytest.mark.stack
JOBS = ["score", "check", "merge"]
OUTAGE_ENDS = START + 3600  # check fails every attempt that starts before this


def failed_run(runtime: Any, key: str = "outage") -> str:
    """A run whose check fails all 3 attempts during an outage; merge skips."""
    act(
        runtime,
        action="trigger",
        jobs=JOBS,
        idempotency_key=key,
        scheduled_time=iso(START),
        parameters={"check": {"fail_until": OUTAGE_ENDS}},
    )
    report = wait_for_run(runtime, f"manual@{key}")
    assert report.run.status is RunStatus.FAILED
    return f"manual@{key}"


def after_the_outage(runtime: Any) -> None:
    runtime.drain()
    runtime.clock.advance_to(OUTAGE_ENDS + 60)


def dlq_depth(runtime: Any) -> int:
    sqs = boto3.client("sqs", endpoint_url=runtime.stack.endpoint, region_name="us-east-1")
    attributes = sqs.get_queue_attributes(
        QueueUrl=runtime.stack.outputs["DeadLetterQueueUrl"],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def test_dlq_list_shows_each_dead_letter_with_its_run_job_attempts_and_error(runtime: Any) -> None:
    run_id = failed_run(runtime)
    listing = act(runtime, action="dlq-list")
    assert listing["more"] is False
    [letter] = listing["messages"]
    assert (letter["run_id"], letter["job"], letter["status"]) == (run_id, "check", "FAILED")
    assert (letter["attempts"], letter["max_attempts"]) == (3, 3)
    assert "simulated outage on attempt 3" in letter["error"]
    # listing gives the messages back: a second listing sees the same one
    assert [m["message_id"] for m in act(runtime, action="dlq-list")["messages"]] == [letter["message_id"]]


def test_replay_reruns_the_job_and_what_it_skipped_and_the_run_succeeds(runtime: Any) -> None:
    # GIVEN a failed run, and the outage is over
    run_id = failed_run(runtime)
    store = store_of(runtime)
    assert store.get_job_run(run_id, "merge").status is JobStatus.SKIPPED
    after_the_outage(runtime)
    # WHEN a dry run, then the replay of that job
    dry = act(runtime, action="dlq-replay", job="check", dry_run=True)
    assert (dry["replayed"], dry["messages"][0]["outcome"]) == (1, "would replay")
    assert store.get_run(run_id).status is RunStatus.FAILED and dlq_depth(runtime) == 1
    replay = act(runtime, action="dlq-replay", job="check")
    assert replay["replayed"] == 1 and replay["messages"][0]["outcome"] == "replayed"
    # THEN the run reopened and finished: the job ran again (new generation, attempts from 1),
    # the skipped dependent ran after it, nothing else ran twice, and the DLQ is empty
    report = wait_for_run(runtime, run_id)
    runtime.drain()
    jobs = {j.job: j for j in report.jobs}
    assert report.run.status is RunStatus.SUCCEEDED
    assert (report.run.succeeded, report.run.failed, report.run.skipped) == (3, 0, 0)
    assert (jobs["check"].generation, jobs["check"].attempts) == (1, 1)
    assert jobs["score"].generation == 0
    started = Counter(r["job"] for r in log_records(runtime.log_dir) if r.get("message") == "job started")
    assert started == Counter({"check": 4, "score": 1, "merge": 1})
    assert dlq_depth(runtime) == 0
    # a late copy of the old (generation 0) message is ignored: it neither runs nor fails anything
    runtime.mappings_enabled = False
    record = load_event("executor-sqs-batch.json")["Records"][0]
    stale = {**record, "body": json.dumps({"run_id": run_id, "job": "check", "generation": 0})}
    assert runtime.invoke("ExecutorFunction", {"Records": [stale]}).response == {"batchItemFailures": []}
    assert store.get_job_run(run_id, "check").status is JobStatus.SUCCEEDED
    assert dlq_depth(runtime) == 0


def test_replay_picks_by_run_and_leaves_the_other_dead_letters(runtime: Any) -> None:
    first, second = failed_run(runtime, "one"), failed_run(runtime, "two")
    after_the_outage(runtime)
    replay = act(runtime, action="dlq-replay", run_id=second)
    assert [m["run_id"] for m in replay["messages"]] == [second]
    wait_for_run(runtime, second)
    runtime.drain()
    assert store_of(runtime).get_run(second).status is RunStatus.SUCCEEDED
    assert store_of(runtime).get_run(first).status is RunStatus.FAILED
    assert [m["run_id"] for m in act(runtime, action="dlq-list")["messages"]] == [first]


@pytest.mark.parametrize(
    ("point", "match"),
    [
        ("operator.after_intent", {}),  # the restart written on the run, no job reset
        ("operator.after_reset", {"job": "merge"}),  # the dependent reset only
        ("operator.after_reset", {"job": "check"}),  # both reset, the message not sent
        ("operator.after_send", {}),  # the restart not removed from the run
        ("dlq.after_send", {}),  # the dead letter not deleted
    ],
)
def test_a_replay_that_dies_half_way_loses_nothing_and_runs_the_job_once(
    runtime: Any, point: str, match: dict[str, str]
) -> None:
    # GIVEN a replay whose dispatcher dies at each step between reading the dead letter and
    # deleting it
    run_id = failed_run(runtime)
    after_the_outage(runtime)
    runtime.inject(point, **match)
    crashed = runtime.invoke("DispatcherFunction", {"action": "dlq-replay", "all": True})
    assert crashed.error is not None and [f.point for f in runtime.fired_faults] == [point]
    runtime.drain()
    runtime.clock.advance_to(runtime.now() + 301)  # the dead letter is visible again
    # WHEN the operator replays again
    again = act(runtime, action="dlq-replay", all=True)
    # THEN the second replay finishes what the first left (the restart the first wrote on the
    # run, so its letter is out of date), the job runs exactly once more, the run succeeds and
    # the DLQ ends empty
    assert again["messages"][0]["outcome"].startswith("out of date")
    report = wait_for_run(runtime, run_id)
    runtime.drain()
    assert report.run.status is RunStatus.SUCCEEDED
    assert (report.run.succeeded, report.run.failed, report.run.skipped) == (3, 0, 0)
    started = Counter(r["job"] for r in log_records(runtime.log_dir) if r.get("message") == "job started")
    assert started["check"] == 4 and started["merge"] == 1
    assert dlq_depth(runtime) == 0


def test_a_dependent_waiting_on_another_failed_job_comes_back_with_the_last_of_them(runtime: Any) -> None:
    # GIVEN both upstreams of merge failed: check during the outage,
    # score because its executor died on each of its 3 attempts
    runtime.inject("executor.after_claim", times=3, job="score")
    run_id = failed_run(runtime, "both")
    assert wait_for_run(runtime, run_id).run.status is RunStatus.FAILED
    after_the_outage(runtime)
    store = store_of(runtime)
    # WHEN only one of them is replayed, the dependent stays skipped and the run ends FAILED again
    act(runtime, action="dlq-replay", job="check")
    report = wait_for_run(runtime, run_id)
    runtime.drain()
    assert report.run.status is RunStatus.FAILED
    assert store.get_job_run(run_id, "merge").status is JobStatus.SKIPPED
    # THEN replaying the other brings the dependent back and the run succeeds
    act(runtime, action="dlq-replay", job="score")
    report = wait_for_run(runtime, run_id)
    assert report.run.status is RunStatus.SUCCEEDED
    assert (report.run.succeeded, report.run.failed, report.run.skipped) == (3, 0, 0)


def test_the_dead_letters_of_a_cancelled_run_stay_on_the_queue(runtime: Any) -> None:
    # GIVEN check failed for good while score was still running, and the
    # operator then cancelled the run
    act(
        runtime,
        action="trigger",
        jobs=JOBS,
        idempotency_key="cancelled",
        scheduled_time=iso(START),
        parameters={"check": {"fail_until": OUTAGE_ENDS}, "score": {"duration_s": 550}},
    )
    run_id = "manual@cancelled"
    store = store_of(runtime)
    runtime.run_until(lambda: store.get_job_run(run_id, "check").status is JobStatus.FAILED)
    act(runtime, action="cancel", run_id=run_id)
    assert wait_for_run(runtime, run_id).run.status is RunStatus.CANCELLED
    after_the_outage(runtime)
    # WHEN the DLQ is replayed THEN the cancelled run's letter stays, saying why
    replay = act(runtime, action="dlq-replay", all=True)
    assert replay["replayed"] == 0
    assert "the run was cancelled" in replay["messages"][0]["outcome"]
    assert store.get_run(run_id).status is RunStatus.CANCELLED and dlq_depth(runtime) == 1


def test_poison_messages_stay_on_the_dlq_with_their_problem(runtime: Any) -> None:
    runtime.mappings_enabled = False
    good = load_event("executor-sqs-batch.json")["Records"][0]
    poison = {**good, "messageId": "poison-1", "body": "{not json"}
    runtime.invoke("ExecutorFunction", {"Records": [poison]})
    replay = act(runtime, action="dlq-replay", all=True)
    assert replay["replayed"] == 0
    assert replay["messages"][0]["outcome"].startswith(
        "left on the queue: malformed: message body is not JSON"
    )
    assert dlq_depth(runtime) == 1


@pytest.mark.parametrize(
    ("event", "named"),
    [
        ({"action": "dlq-replay"}, "say what to replay"),
        ({"action": "dlq-replay", "all": True, "limit": 0}, "field 'limit'"),
        ({"action": "dlq-list", "colour": "red"}, "field 'colour'"),
    ],
)
def test_bad_dlq_requests_are_named(runtime: Any, event: dict[str, Any], named: str) -> None:
    assert named in refusal(runtime.invoke("DispatcherFunction", event))


def test_the_replay_event_file_replays_everything(runtime: Any) -> None:
    run_id = failed_run(runtime)
    after_the_outage(runtime)
    result = act(runtime, **load_event("replay-dlq.json"))
    assert result["replayed"] == 1
    assert wait_for_run(runtime, run_id).run.status is RunStatus.SUCCEEDED
