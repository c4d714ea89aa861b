"""Run events (cronlane.run_events): every run's and job-run's end, and a run passing its deadline,
published once as an EventBridge event (``source: cronlane``) with the documented detail, on the
in-process pipeline; and the EventBridge adapter's batching and best effort."""

from __future__ import annotations

from typing import Any

import pytest

from cronlane import Catalog, Job, Param, Schedule, Selection
from cronlane.inprocess import InProcess
from cronlane.publish import EventBridgeRunEvents
from cronlane.run_events import DEADLINE_MISSED, DETAIL_TYPES, JOB_RUN_ENDED, RUN_ENDED, RunEvent
from tests.unit.test_handed_off import Crash, crash_once_at, no_crash_hook  # noqa: F401 (a fixture)

START = 1_800_000_000.0 - 8 * 3600 + 2 * 3600  # 2027-01-15T02:00:00Z: a fire time
RUN_FIELDS = {"stack", "run_id", "schedule", "scheduled_time"}
RUN_DETAIL = RUN_FIELDS | {
    "status", "trigger", "reason", "counts", "created_at", "finished_at", "duration_s", "deadline_at"
}  # fmt: skip
JOB_DETAIL = RUN_FIELDS | {
    "job", "status", "attempts", "error", "reason", "target", "handle", "started_at", "finished_at",
    "duration_s",
}  # fmt: skip


def world(deadline_s: int | None = None, expression: str = "cron(0 2 * * ? *)") -> InProcess:
    def function(spec: str) -> Any:
        name = spec.rsplit(".", 1)[1]

        def run(ctx: Any) -> dict[str, Any]:
            ctx.sleep(ctx.params.get("seconds", 60))
            if ctx.params.get("fail"):
                raise RuntimeError(f"{name} broke")
            return {"done": name}

        return run

    catalog = Catalog.build(
        [
            Job("load", "app.jobs.load", "g", max_attempts=2, params={"fail": Param("bool", False)}),
            Job("index", "app.jobs.index", "g", ("load",), params={"seconds": Param("int", 60)}),
        ],
        [Schedule("nightly", expression, Selection.everything(), deadline_s=deadline_s)],
    )
    return InProcess(catalog, START, import_function=function)


def published(w: InProcess, kind: str | None = None) -> list[dict[str, Any]]:
    return [e.to_json() for e in w.events.published if kind is None or e.detail_type == kind]


def test_a_run_that_succeeds_publishes_each_jobs_end_then_the_runs_with_the_documented_detail() -> None:
    w = world()
    run_id = w.tick("nightly", START)["run_id"]
    w.drain()
    events = published(w)
    assert [(e["detail-type"], e["detail"].get("job"), e["detail"]["status"]) for e in events] == [
        (JOB_RUN_ENDED, "load", "SUCCEEDED"),
        (JOB_RUN_ENDED, "index", "SUCCEEDED"),
        (RUN_ENDED, None, "SUCCEEDED"),
    ]
    for event in events:
        assert event["source"] == "cronlane" and event["detail-type"] in DETAIL_TYPES
        expected = RUN_DETAIL if event["detail-type"] == RUN_ENDED else JOB_DETAIL
        assert set(event["detail"]) == expected
        assert event["detail"]["run_id"] == run_id and event["detail"]["schedule"] == "nightly"
        assert event["detail"]["scheduled_time"] == "2027-01-15T02:00:00Z"
        assert event["detail"]["stack"] == "inprocess"
    run = events[-1]["detail"]
    assert run["counts"] == {"jobs": 2, "succeeded": 2, "failed": 0, "skipped": 0, "cancelled": 0}
    assert run["trigger"] == "schedule" and run["duration_s"] == pytest.approx(120, abs=5)
    load = events[0]["detail"]
    assert (load["attempts"], load["target"], load["error"], load["duration_s"]) == (1, "python", None, 60.0)


def test_a_failure_publishes_the_error_the_skip_it_caused_and_a_failed_run_once() -> None:
    w = world()
    w.act(action="trigger", schedule="nightly", idempotency_key="k", parameters={"load": {"fail": True}})
    w.drain()
    jobs = {e["detail"]["job"]: e["detail"] for e in published(w, JOB_RUN_ENDED)}
    assert (jobs["load"]["status"], jobs["load"]["attempts"]) == ("FAILED", 2)
    assert jobs["load"]["error"] == "RuntimeError: load broke"
    assert (jobs["index"]["status"], jobs["index"]["reason"]) == ("SKIPPED", "upstream load failed")
    (run,) = published(w, RUN_ENDED)  # once, though the failure's message was delivered twice
    assert run["detail"]["status"] == "FAILED" and run["detail"]["trigger"] == "manual"
    assert run["detail"]["counts"]["failed"] == 1 and run["detail"]["counts"]["skipped"] == 1
    assert len(published(w, JOB_RUN_ENDED)) == 2


def test_a_cancel_publishes_the_cancelled_jobs_and_the_cancelled_run() -> None:
    w = world()
    run_id = w.tick("nightly", START)["run_id"]
    w.drain(until=START + 30)  # load is running
    w.act(action="cancel", run_id=run_id)
    w.drain()
    jobs = {e["detail"]["job"]: e["detail"]["status"] for e in published(w, JOB_RUN_ENDED)}
    assert jobs == {"index": "CANCELLED", "load": "SUCCEEDED"}  # a running job finishes
    assert [e["detail"]["status"] for e in published(w, RUN_ENDED)] == ["CANCELLED"]


def test_a_run_past_its_deadline_publishes_it_once() -> None:
    w = world(deadline_s=90)
    run_id = w.tick("nightly", START)["run_id"]
    w.drain()
    (late,) = published(w, DEADLINE_MISSED)
    assert late["detail"]["run_id"] == run_id and late["detail"]["deadline_at"] == "2027-01-15T02:01:30Z"
    assert set(late["detail"]) == RUN_FIELDS | {"status", "deadline_at", "noticed_at"}


def test_a_skipped_tick_publishes_a_skipped_run() -> None:
    w = world(expression="cron(0/1 * * * ? *)")  # every minute; a run takes two
    w.tick("nightly", START)
    w.drain(until=START + 30)
    w.tick("nightly", START + 60)  # while the first run goes: the overlap policy skips it
    (skipped,) = [e["detail"] for e in published(w, RUN_ENDED)]
    assert (skipped["status"], skipped["scheduled_time"]) == ("SKIPPED", "2027-01-15T02:01:00Z")
    assert skipped["reason"] and skipped["counts"]["jobs"] == 0


def test_a_failed_job_marked_succeeded_publishes_its_marked_end_without_its_error() -> None:
    w = world()
    failing = {"load": {"fail": True}}
    run_id = w.act(action="trigger", schedule="nightly", idempotency_key="k", parameters=failing)["run_id"]
    w.drain()
    assert [e["detail"]["status"] for e in published(w, RUN_ENDED)] == ["FAILED"]
    w.act(action="mark", run_id=run_id, job="load")
    w.drain()
    marked, index = [e["detail"] for e in published(w, JOB_RUN_ENDED)][-2:]
    assert (marked["job"], marked["status"], marked["error"]) == ("load", "SUCCEEDED", None)
    assert marked["reason"] == "marked succeeded by an operator" and marked["attempts"] == 2
    assert (index["job"], index["status"]) == ("index", "SUCCEEDED")  # the dependent ran after it
    assert [e["detail"]["status"] for e in published(w, RUN_ENDED)] == ["FAILED", "SUCCEEDED"]


def test_a_cancelled_retry_publishes_its_end_with_the_attempt_it_had() -> None:
    w = world()
    failing = {"load": {"fail": True}}
    run_id = w.act(action="trigger", schedule="nightly", idempotency_key="k", parameters=failing)["run_id"]
    w.drain(until=START + 61)  # load's first attempt failed; its retry waits out the backoff
    assert w.store.get_job_run(run_id, "load").attempts == 1  # type: ignore[union-attr]
    w.act(action="cancel", run_id=run_id)
    w.drain()
    jobs = {e["detail"]["job"]: e["detail"] for e in published(w, JOB_RUN_ENDED)}
    # the queued retry is cancelled as it was: its first attempt and error kept
    load = jobs["load"]
    assert (load["status"], load["reason"], load["attempts"]) == ("CANCELLED", "run cancelled", 1)
    assert load["error"] == "RuntimeError: load broke" and load["started_at"] == "2027-01-15T02:00:00Z"
    assert (jobs["index"]["status"], jobs["index"]["attempts"]) == ("CANCELLED", 0)
    assert [e["detail"]["status"] for e in published(w, RUN_ENDED)] == ["CANCELLED"]


@pytest.mark.usefixtures("no_crash_hook")
def test_a_job_taken_over_in_a_cancelled_run_publishes_its_cancelled_end() -> None:
    w = world()
    run_id = w.tick("nightly", START)["run_id"]
    crash_once_at("executor.after_claim", "load")  # the executor dies as load starts
    with pytest.raises(Crash):
        w.drain(until=START + 1)
    w.act(action="cancel", run_id=run_id)  # load is RUNNING (its lease held): it is left to end
    w.drain()  # its message comes back once the lease is over; the take-over does not start it
    jobs = {e["detail"]["job"]: e["detail"] for e in published(w, JOB_RUN_ENDED)}
    assert (jobs["load"]["status"], jobs["load"]["error"]) == ("CANCELLED", "run cancelled")
    assert [e["detail"]["status"] for e in published(w, RUN_ENDED)] == ["CANCELLED"]


class FakeEventBridge:
    def __init__(self, refuse_first: int = 0, fail: bool = False) -> None:
        self.calls: list[list[dict[str, Any]]] = []
        self.refuse_first = refuse_first
        self.fail = fail

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls.append(Entries)
        if self.fail:
            raise ConnectionError("EventBridge is unreachable")
        answers = [{"EventId": "e"} for _ in Entries]
        if len(self.calls) == 1:
            for answer in answers[: self.refuse_first]:
                answer.update(ErrorCode="ThrottlingException", ErrorMessage="slow down")
        return {"FailedEntryCount": min(self.refuse_first, len(Entries)), "Entries": answers}


def test_the_adapter_sends_ten_a_request_and_retries_what_was_refused_once() -> None:
    client = FakeEventBridge(refuse_first=2)
    events = [RunEvent(JOB_RUN_ENDED, {"job": f"j{n}"}) for n in range(12)]
    EventBridgeRunEvents(client, "default").publish(events)
    assert [len(c) for c in client.calls] == [10, 2, 2]  # the first batch, its two refused, the rest
    entry = client.calls[0][0]
    assert (entry["Source"], entry["DetailType"], entry["EventBusName"]) == (
        "cronlane",
        JOB_RUN_ENDED,
        "default",
    )
    assert entry["Detail"] == '{"job": "j0"}'


def test_the_adapter_never_fails_what_was_written() -> None:
    client = FakeEventBridge(fail=True)
    EventBridgeRunEvents(client, "default").publish([RunEvent(RUN_ENDED, {"run_id": "r"})])
    assert len(client.calls) == 2  # tried twice, then logged
