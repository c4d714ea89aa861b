"""Runs in flight across an upgrade: a run the previous version of cronlane started (its table
items and queue messages exactly as that version wrote them: ``tests/data/previous_version_run.json``,
made by ``tests/data/make_previous_version_run.py``) is finished by the current code. Its
succeeded job stays succeeded with its result, the job it released runs, its failed attempt is
retried, and the run closes SUCCEEDED, as it would have without the upgrade."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import boto3

from cronlane.execute import RetryLater
from cronlane.inprocess import QUEUE_ARN, RecordingLog, VirtualClock
from cronlane.model import JobStatus, RunStatus
from cronlane.queue.memory import MemoryJobQueue
from cronlane.run_events import JOB_RUN_ENDED, RUN_ENDED, Announcer, MemoryRunEvents
from cronlane.store.dynamodb import DynamoRunStore
from cronlane.wiring import executor_of
from tests.contract.conftest import REGION, create_runs_table, fresh_name

PREVIOUS = Path(__file__).resolve().parents[1] / "data" / "previous_version_run.json"


def _raw(value: Any) -> Any:
    """An item as the JSON holds it, with its binary attributes back to bytes."""
    if isinstance(value, dict):
        if set(value) == {"__base64__"}:
            return base64.b64decode(value["__base64__"])
        return {k: _raw(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_raw(v) for v in value]
    return value


def function(spec: str) -> Any:
    name = spec.rsplit(".", 1)[1]

    def run(ctx: Any) -> Any:
        ctx.sleep(60)
        if name == "flaky" and ctx.attempt == 1:
            raise RuntimeError("flaky: the first attempt fails")
        seen = dict(ctx.upstream_results)
        return {"job": name, "rows": 10, "upstreams": seen}

    return run


def test_a_run_the_previous_version_started_finishes_with_the_current_code(aws: boto3.Session) -> None:
    previous = json.loads(PREVIOUS.read_text())
    client = aws.client("dynamodb")
    table = fresh_name("upgrade-runs")
    create_runs_table(client, table)
    for item in previous["items"]:
        client.put_item(TableName=table, Item=_raw(item))
    store = DynamoRunStore(table, REGION)
    store.connect()
    clock = VirtualClock(previous["now"])
    queue = MemoryJobQueue(clock)
    for n, message in enumerate(previous["messages"]):
        queue.jobs.send(message["body"], message["group"], f"previous-{n}")
        queue.jobs.messages[-1].visible_at = clock.now() + max(message["visible_in_s"], 0.0)
    events = MemoryRunEvents()
    executor = executor_of(
        store, queue, clock, RecordingLog(), import_function=function, announcer=Announcer(events, "upgrade")
    )
    run_id = previous["run_id"]
    for _ in range(50):  # what the event source mapping does, until the queue is empty
        received = queue.receive(1)
        if not received:
            due = queue.next_visible()
            if due is None:
                break
            clock.advance_to(due)
            continue
        m = received[0]
        try:
            executor.handle_message(
                body=m.body,
                receipt_handle=m.receipt_handle,
                queue_arn=QUEUE_ARN,
                remaining_s=lambda: 900.0,
                message_id=m.message_id,
                receive_count=m.receive_count,
            )
        except RetryLater:
            continue
        queue.delete(m.receipt_handle)
    run = store.get_run(run_id)
    assert run is not None and run.status is RunStatus.SUCCEEDED
    jobs = {j.job: j for j in store.job_runs(run_id)}
    assert {name: j.status for name, j in jobs.items()} == dict.fromkeys(
        ("extract", "transform", "load", "flaky"), JobStatus.SUCCEEDED
    )
    assert jobs["extract"].attempts == 1  # done before the upgrade: not run again
    assert jobs["flaky"].attempts == 2 and "first attempt fails" in str(jobs["flaky"].history[0]["error"])
    results = store.results(run_id, list(jobs.values()))
    # the result the previous version stored is read by its dependent, which ran after the upgrade
    assert results["extract"] == {"job": "extract", "rows": 10}
    assert results["transform"]["upstreams"] == {"extract": {"job": "extract", "rows": 10}}
    assert [e.detail_type for e in events.published][-1] == RUN_ENDED
    ended = {e.detail["job"] for e in events.published if e.detail_type == JOB_RUN_ENDED}
    assert ended == {"transform", "load", "flaky"}  # the ends after the upgrade
