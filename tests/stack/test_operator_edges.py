"""Operator actions against the way runs end: a dependent's job-run is written only when it
starts, a success is counted only for sinks, and a run is closed when its sinks have ended. An
operator's rerun, mark or replay must not let a run close over a job that is still to run, and
must reach jobs that have no item yet."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from cronlane.clock import iso
from cronlane.local.session import store_of, wait_for_run
from cronlane.model import JobStatus, RunStatus
from cronlane.queue.sqs import SqsJobQueue
from cronlane.wiring import dispatcher_of
from fixture_jobs.catalog import CATALOG
from tests.conftest import START, act, refusal

pytestmark = pytest.mark.stack


def trigger(runtime: Any, key: str, jobs: list[str]) -> str:
    act(runtime, action="trigger", idempotency_key=key, scheduled_time=iso(START), jobs=jobs)
    return f"manual@{key}"


def trigger_mutual_match(runtime: Any, key: str, compatibility: dict[str, Any]) -> str:
    """A run of merge and its two upstreams, check given ``compatibility`` as
    its parameters (how it fails)."""
    act(
        runtime,
        action="trigger",
        idempotency_key=key,
        scheduled_time=iso(START),
        jobs=["score", "check", "merge"],
        parameters={"check": compatibility},
    )
    return f"manual@{key}"


def test_marking_a_waiting_job_that_has_no_item_yet_succeeds(runtime: Any) -> None:
    # GIVEN a run whose dependent has not started (so it has no item in the table)
    runtime.mappings_enabled = False
    run_id = trigger(runtime, "mark-waiting", ["extract", "score"])
    store = store_of(runtime)
    assert store.get_job_run(run_id, "score").status is JobStatus.PENDING
    # WHEN an operator vouches for it
    act(runtime, action="mark", run_id=run_id, job="score")
    # THEN it is SUCCEEDED, and the run goes on (its upstream has not run)
    assert store.get_job_run(run_id, "score").status is JobStatus.SUCCEEDED
    assert store.get_run(run_id).status is RunStatus.RUNNING
    runtime.mappings_enabled = True
    report = wait_for_run(runtime, run_id)
    assert report.run.status is RunStatus.SUCCEEDED
    assert {j.job: j.status for j in report.jobs} == {
        "extract": JobStatus.SUCCEEDED,
        "score": JobStatus.SUCCEEDED,
    }


def test_a_rerun_does_not_close_the_run_before_the_rerun_job_ends(runtime: Any) -> None:
    # GIVEN a failed run whose sink ran anyway (trigger_rule all_done) and succeeded
    runtime.inject("executor.after_claim", times=3, job="merge")
    run_id = trigger(runtime, "rerun-all-done", ["merge", "summary"])
    first = wait_for_run(runtime, run_id)
    assert first.run.status is RunStatus.FAILED
    assert {j.job: j.status for j in first.jobs}["summary"] is JobStatus.SUCCEEDED
    # WHEN the failed job is rerun, and fails again
    runtime.inject("executor.after_claim", times=3, job="merge")
    response = act(runtime, action="rerun", run_id=run_id)
    # THEN the run is going until the rerun job has ended, and then it is FAILED again
    assert response["status"] == RunStatus.RUNNING.value
    store = store_of(runtime)
    assert store.get_run(run_id).status is RunStatus.RUNNING
    runtime.drain()
    run = store.get_run(run_id)
    assert run.status is RunStatus.FAILED
    assert (run.succeeded, run.failed, run.skipped) == (1, 1, 0)


def test_marking_after_a_cancel_does_not_close_the_run_over_a_running_job(runtime: Any) -> None:
    # GIVEN a run whose root is running and whose dependent was cancelled
    run_id = trigger(runtime, "cancel-mark", ["extract", "score"])
    store = store_of(runtime)
    runtime.run_until(lambda: store.get_job_run(run_id, "extract").status is JobStatus.RUNNING)
    act(runtime, action="cancel", run_id=run_id)
    assert store.get_job_run(run_id, "score").status is JobStatus.CANCELLED
    # WHEN an operator marks the cancelled job succeeded
    response = act(runtime, action="mark", run_id=run_id, job="score")
    # THEN the run is not over while its root runs; it ends when the root does
    assert response["status"] == RunStatus.RUNNING.value
    assert store.get_run(run_id).status is RunStatus.RUNNING
    runtime.drain()
    run = store.get_run(run_id)
    assert run.status is RunStatus.SUCCEEDED
    assert all(j.status is JobStatus.SUCCEEDED for j in store.job_runs(run_id))


def test_a_released_job_whose_message_was_dead_lettered_before_any_claim_is_sent_again(runtime: Any) -> None:
    # GIVEN a dependent released by its upstream, whose message never got to a claim before the
    # queue's redrive policy moved it to the dead-letter queue (so it has no item at all)
    runtime.inject("executor.before_claim", times=12, job="score")
    run_id = trigger(runtime, "redriven", ["extract", "score"])
    runtime.run_until(lambda: act(runtime, action="dlq-list")["messages"] != [], limit_s=86_400)
    store = store_of(runtime)
    assert store.get_job_run(run_id, "score").status is JobStatus.PENDING
    # WHEN nobody does anything
    report = wait_for_run(runtime, run_id, limit_s=86_400)
    # THEN the run's check found it waiting with its upstream done and sent it again: the run
    # ended with it, and the operator's replay of the letter, now out of date, only deletes it
    assert report.run.status is RunStatus.SUCCEEDED and runtime.check_fires
    runtime.drain()
    runtime.clock.advance_to(runtime.now() + 400)
    replayed = act(runtime, action="dlq-replay", all=True)
    assert [m["outcome"][: len("out of date")] for m in replayed["messages"]] == ["out of date"]
    assert act(runtime, action="dlq-list")["messages"] == []
    assert store.get_run(run_id).status is RunStatus.SUCCEEDED


def test_a_failed_only_rerun_leaves_a_job_whose_other_upstream_was_cancelled(runtime: Any) -> None:
    # GIVEN a cancelled run: check failed (every attempt before fail_until), so
    # merge was skipped, and its other upstream score was cancelled while its
    # message was held back (a crash before the claim hides it for the visibility timeout)
    runtime.inject("executor.before_claim", job="score")
    run_id = trigger_mutual_match(runtime, "rerun-cancelled-upstream", {"fail_until": START + 3600})
    store = store_of(runtime)
    runtime.run_until(lambda: store.get_job_run(run_id, "check").status is JobStatus.FAILED)
    assert store.get_job_run(run_id, "merge").status is JobStatus.SKIPPED
    act(runtime, action="cancel", run_id=run_id)
    assert store.get_job_run(run_id, "score").status is JobStatus.CANCELLED
    runtime.drain()
    assert store.get_run(run_id).status.terminal
    runtime.run_to(START + 7200)  # the outage is over
    # WHEN only the failed job is rerun
    response = act(runtime, action="rerun", run_id=run_id, failed_only=True)
    # THEN the skipped job that also waits for the cancelled one stays skipped, and says why;
    # the failed job runs again and the run ends (it does not wait for ever)
    assert response["rerun"] == ["check"]
    assert response["not_rerun"] == {"merge": "upstream score is CANCELLED"}
    runtime.drain()
    statuses = {j.job: j.status for j in store.job_runs(run_id)}
    assert statuses == {
        "score": JobStatus.CANCELLED,
        "check": JobStatus.SUCCEEDED,
        "merge": JobStatus.SKIPPED,
    }
    assert store.get_run(run_id).status.terminal


def test_marking_one_failed_upstream_leaves_a_dependent_whose_other_upstream_failed(runtime: Any) -> None:
    # GIVEN a failed run: both upstreams of merge failed, so it was skipped
    runtime.inject("executor.after_claim", times=3, job="score")
    run_id = trigger_mutual_match(runtime, "mark-one-of-two", {"fail_attempts": 3})
    first = wait_for_run(runtime, run_id)
    assert first.run.status is RunStatus.FAILED
    assert {j.job: j.status for j in first.jobs}["merge"] is JobStatus.SKIPPED
    # WHEN an operator vouches for one of the two failed upstreams
    response = act(runtime, action="mark", run_id=run_id, job="check")
    # THEN the dependent stays skipped (its other upstream is still FAILED), the response says
    # so, and the run is FAILED again at once instead of waiting for ever
    assert response["rerun"] == []
    assert response["not_rerun"] == {"merge": "upstream score is FAILED"}
    assert response["status"] == RunStatus.FAILED.value
    store = store_of(runtime)
    run = store.get_run(run_id)
    assert run.status is RunStatus.FAILED
    assert (run.succeeded, run.failed, run.skipped) == (1, 1, 1)


def test_a_mark_while_another_upstream_fails_skips_the_dependent_instead_of_leaving_it_waiting(
    runtime: Any,
) -> None:
    # GIVEN a run where check failed, so merge was skipped, while its other
    # upstream score has not ended yet (its executor died; it is to be retried)
    runtime.inject("executor.after_claim", times=3, job="score")
    run_id = trigger_mutual_match(runtime, "mark-during-failure", {"fail_attempts": 3})
    store = store_of(runtime)
    runtime.run_until(lambda: store.get_job_run(run_id, "check").status is JobStatus.FAILED)
    # ... and an operator marking check reads the run's jobs now
    jobs = {j.job: j for j in store.job_runs(run_id)}
    assert not jobs["score"].status.terminal
    assert jobs["merge"].status is JobStatus.SKIPPED
    # WHEN score fails before the operator's writes (its executor skips what waits below
    # it, and merge is still SKIPPED then), and then the mark goes ahead on what it read
    runtime.run_until(lambda: store.get_job_run(run_id, "score").status is JobStatus.FAILED)
    queue = SqsJobQueue(
        runtime.stack.outputs["JobQueueUrl"],
        runtime.stack.outputs["DeadLetterQueueUrl"],
        client=boto3.client("sqs", endpoint_url=runtime.stack.endpoint, region_name="us-east-1"),
    )
    operator = dispatcher_of(CATALOG, store, queue, runtime).operator
    operator.restart("mark", store.get_run(run_id), jobs, {"merge"}, {"check": jobs["check"]})
    # THEN merge is skipped again, naming the failed upstream, and the run ends FAILED
    # (it does not wait for ever for a job that cannot start)
    runtime.drain()
    dependent = store.get_job_run(run_id, "merge")
    assert dependent.status is JobStatus.SKIPPED
    assert dependent.reason == "upstream score is FAILED"
    run = store.get_run(run_id)
    assert run.status is RunStatus.FAILED
    assert (run.succeeded, run.failed, run.skipped) == (1, 1, 1)


def test_marking_a_root_whose_message_is_on_the_queue_is_refused(runtime: Any) -> None:
    # GIVEN a going run whose root has not started: its message waits on the queue (no item yet)
    runtime.mappings_enabled = False
    run_id = trigger(runtime, "mark-queued-root", ["extract", "score"])
    # WHEN an operator marks the root succeeded
    invocation = runtime.invoke("DispatcherFunction", {"action": "mark", "run_id": run_id, "job": "extract"})
    # THEN it is refused as for any queued job, and the root then runs as usual
    assert "is QUEUED; wait for it or cancel the run" in refusal(invocation)
    runtime.mappings_enabled = True
    report = wait_for_run(runtime, run_id)
    assert report.run.status is RunStatus.SUCCEEDED
    assert {j.job: j.attempts for j in report.jobs} == {"extract": 1, "score": 1}
