"""How ``previous_version_run.json`` was made: a run left in flight by the previous version of
cronlane (the commit it names), dumped as the table's raw items and the job queue's messages.
``tests/contract/test_upgrade.py`` finishes that run with the current code.

Run it in a checkout of that version, with that checkout's ``src`` and root first on the path:
``PYTHONPATH=src:. python make_previous_version_run.py > previous_version_run.json``."""

import json
from typing import Any

import boto3
from moto import mock_aws

from cronlane import Catalog, Job, Schedule, Selection
from cronlane.execute import RetryLater
from cronlane.inprocess import QUEUE_ARN, RecordingLog, VirtualClock
from cronlane.queue.memory import MemoryJobQueue
from cronlane.store.dynamodb import DynamoRunStore
from cronlane.wiring import dispatcher_of, executor_of
from tests.contract.conftest import create_runs_table

START = 1_800_000_000.0 - 8 * 3600 + 2 * 3600


def function(spec: str) -> Any:
    name = spec.rsplit(".", 1)[1]

    def run(ctx: Any) -> Any:
        ctx.sleep(60)
        if name == "flaky" and ctx.attempt == 1:
            raise RuntimeError("flaky: the first attempt fails")
        return {"job": name, "rows": 10}

    return run


CATALOG = Catalog.build(
    [
        Job("extract", "app.jobs.extract", "g"),
        Job("transform", "app.jobs.transform", "g", ("extract",)),
        Job("load", "app.jobs.load", "g", ("transform",)),
        Job("flaky", "app.jobs.flaky", "g", max_attempts=3),
    ],
    [Schedule("nightly", "cron(0 2 * * ? *)", Selection.everything())],
)

with mock_aws():
    client = boto3.client("dynamodb", region_name="us-east-1")
    create_runs_table(client, "runs")
    store = DynamoRunStore("runs", "us-east-1")
    store.connect()
    clock = VirtualClock(START)
    queue = MemoryJobQueue(clock)
    dispatcher = dispatcher_of(CATALOG, store, queue, clock, rule_prefix="prev-")
    executor = executor_of(store, queue, clock, RecordingLog(), import_function=function)
    run = dispatcher.handle({"action": "trigger", "schedule": "nightly", "idempotency_key": "upgrade"})
    # extract runs and succeeds (its result stored, transform released); flaky fails its first
    # attempt and waits for its retry: then the stack is upgraded
    for _ in range(2):
        (m,) = queue.receive(1)
        try:
            executor.handle_message(
                body=m.body,
                receipt_handle=m.receipt_handle,
                queue_arn=QUEUE_ARN,
                remaining_s=lambda: 900.0,
                message_id=m.message_id,
                receive_count=m.receive_count,
            )
            queue.delete(m.receipt_handle)
        except RetryLater:
            pass
    items = []
    for page in client.get_paginator("scan").paginate(TableName="runs"):
        items.extend(page["Items"])
    messages = [
        {"body": m.body, "group": m.group, "visible_in_s": round(m.visible_at - clock.now(), 3)}
        for m in queue.jobs.messages
    ]
    print(
        json.dumps(
            {
                "version": "previous (cronlane 0.2.0 at commit c471c88)",
                "run_id": run["run_id"],
                "now": clock.now(),
                "items": items,
                "messages": messages,
            },
            indent=1,
            sort_keys=True,
            default=lambda o: {"__base64__": __import__("base64").b64encode(o).decode()},
        )
    )
