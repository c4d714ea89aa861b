"""The local runtime itself: what it reads from the stack, its clocks, its environments."""

from __future__ import annotations

import time
from typing import Any

import boto3
import pytest

from cronlane.clock import ScaledClock
from cronlane.local.clock import RuntimeClock
from cronlane.local.session import run_schedule_once
from tests.conftest import START, log_records

pytestmark = pytest.mark.stack


def test_rules_and_mapping_are_read_from_the_created_stack_and_motos_mapping_is_off(runtime: Any) -> None:
    stack = runtime.stack
    assert {r.name: (r.kind, r.expression, r.timezone) for r in stack.rules} == {
        "local-nightly": ("rule", "cron(0 2 * * ? *)", None),
        "local-hourly": ("rule", "cron(0 * * * ? *)", None),
        # moto does not create AWS::Scheduler::Schedule: read from the expanded template
        "local-morning": ("scheduler", "cron(0 8 * * ? *)", "Europe/Berlin"),
    }
    assert all(r.target_function == "DispatcherFunction" for r in stack.rules)
    assert all(r.target_input is None for r in stack.rules if r.kind == "rule")
    (mapping,) = stack.mappings
    assert mapping.function == "ExecutorFunction"
    assert mapping.queue_arn.endswith(":local-jobs.fifo")
    assert (mapping.batch_size, mapping.max_concurrency, mapping.report_batch_item_failures) == (1, 10, True)
    lam = boto3.client("lambda", endpoint_url=stack.endpoint, region_name="us-east-1")
    # moto would otherwise try to run the function itself on every SendMessage (docs/aws-facts.md)
    assert lam.get_event_source_mapping(UUID=mapping.uuid)["State"] == "Disabled"


def test_the_virtual_clock_drives_motos_visibility_timeout(runtime: Any) -> None:
    sqs = boto3.client("sqs", endpoint_url=runtime.stack.endpoint, region_name="us-east-1")
    url = runtime.stack.outputs["DeadLetterQueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g", MessageDeduplicationId="d")
    assert len(sqs.receive_message(QueueUrl=url, VisibilityTimeout=600).get("Messages", [])) == 1
    assert sqs.receive_message(QueueUrl=url).get("Messages", []) == []
    runtime.clock.advance_to(runtime.now() + 601)  # ten virtual minutes, no real waiting
    assert len(sqs.receive_message(QueueUrl=url).get("Messages", [])) == 1


def test_the_scaled_clock_scales_every_duration_together() -> None:
    clock = ScaledClock(origin=START, scale=0.01)
    began = time.perf_counter()
    clock.sleep(20.0)  # twenty clock seconds
    assert time.perf_counter() - began < 1.0
    assert 19.0 <= clock.now() - START < 100.0
    assert RuntimeClock("real", START, 0.01).real_seconds(900) == pytest.approx(9.0)


def test_each_environment_logs_to_its_own_stream(runtime: Any) -> None:
    run_schedule_once(runtime, "nightly", START)
    records = [r for r in log_records(runtime.log_dir) if r.get("function_request_id")]
    files_of_request: dict[str, set[str]] = {}
    for record in records:
        files_of_request.setdefault(record["function_request_id"], set()).add(record["_file"])
    executor_files = {r["_file"] for r in records if r["_file"].startswith("ExecutorFunction")}
    # several environments ran jobs, and no invocation's lines ended up in another's file
    assert len(executor_files) >= 4
    assert all(len(files) == 1 for files in files_of_request.values())
    for record in records:
        if record.get("message") in ("job started", "job succeeded"):
            assert {"run_id", "schedule", "job", "attempt"} <= set(record)


def test_concurrent_transactions_do_not_lose_updates(runtime: Any) -> None:
    # DynamoDB serialises writes to an item. moto's TransactWriteItems copies the whole table and
    # restores that copy when a condition fails, wiping out writes made meanwhile by other
    # requests; the local runtime therefore serves one request at a time. Without that, run
    # counters lost increments and runs never closed.
    from concurrent.futures import ThreadPoolExecutor

    from botocore.exceptions import ClientError

    table = runtime.stack.outputs["TableName"]
    endpoint = runtime.stack.endpoint
    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
    for start in range(0, 1500, 25):  # a table big enough for the copy to take a while
        client.batch_write_item(
            RequestItems={
                table: [
                    {
                        "PutRequest": {
                            "Item": {"pk": {"S": f"filler{k}"}, "sk": {"S": "x"}, "d": {"S": "x" * 200}}
                        }
                    }
                    for k in range(start, start + 25)
                ]
            }
        )
    client.put_item(TableName=table, Item={"pk": {"S": "taken"}, "sk": {"S": "x"}})

    def work(worker: int) -> None:
        own = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
        for _ in range(25):
            if worker % 2:
                update = {
                    "TableName": table,
                    "Key": {"pk": {"S": "counter"}, "sk": {"S": "x"}},
                    "UpdateExpression": "ADD n :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}},
                }
                own.transact_write_items(TransactItems=[{"Update": update}])
            else:
                put = {
                    "TableName": table,
                    "Item": {"pk": {"S": "taken"}, "sk": {"S": "x"}},
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
                with pytest.raises(ClientError):
                    own.transact_write_items(TransactItems=[{"Put": put}])

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(work, range(8)))
    item = client.get_item(TableName=table, Key={"pk": {"S": "counter"}, "sk": {"S": "x"}})["Item"]
    assert item["n"]["N"] == "100"


def test_a_cancelled_transaction_undoes_its_own_writes_and_nothing_else(runtime: Any) -> None:
    # The runtime rolls a cancelled TransactWriteItems back item by item (moto copies whole
    # tables, which grows slow with the table): the same outcome as DynamoDB's.
    from botocore.exceptions import ClientError

    table = runtime.stack.outputs["TableName"]
    client = boto3.client("dynamodb", endpoint_url=runtime.stack.endpoint, region_name="us-east-1")

    def key(pk: str) -> dict[str, Any]:
        return {"pk": {"S": pk}, "sk": {"S": "x"}}

    client.put_item(TableName=table, Item={**key("kept"), "n": {"N": "1"}})
    client.put_item(TableName=table, Item={**key("guard"), "n": {"N": "1"}})
    with pytest.raises(ClientError, match="TransactionCanceled"):
        client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": {**key("new"), "n": {"N": "1"}}}},
                {
                    "Update": {
                        "TableName": table,
                        "Key": key("kept"),
                        "UpdateExpression": "ADD n :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}},
                    }
                },
                {
                    "ConditionCheck": {
                        "TableName": table,
                        "Key": key("guard"),
                        "ConditionExpression": "n = :two",
                        "ExpressionAttributeValues": {":two": {"N": "2"}},
                    }
                },
            ]
        )
    assert "Item" not in client.get_item(TableName=table, Key=key("new"))
    assert client.get_item(TableName=table, Key=key("kept"))["Item"]["n"] == {"N": "1"}
    client.transact_write_items(
        TransactItems=[{"Put": {"TableName": table, "Item": {**key("new"), "n": {"N": "5"}}}}]
    )
    assert client.get_item(TableName=table, Key=key("new"))["Item"]["n"] == {"N": "5"}


def test_items_of_every_attribute_type_come_back_as_written(runtime: Any) -> None:
    # The runtime writes scalar AttributeValues straight into moto's responses (a shortcut past
    # its member-by-member serialiser): every type must still read back exactly as written.
    ddb = boto3.client("dynamodb", endpoint_url=runtime.stack.endpoint, region_name="us-east-1")
    table = runtime.stack.outputs["TableName"]
    item = {
        "pk": {"S": "TEST#types"},
        "sk": {"S": "ITEM"},
        "n": {"N": "12.5"},
        "yes": {"BOOL": True},
        "nothing": {"NULL": True},
        "names": {"SS": ["a", "b"]},
        "numbers": {"NS": ["1", "2"]},
        "blob": {"B": b"\x00\x01binary"},
        "blobs": {"BS": [b"\x02", b"\x03"]},
        "map": {"M": {"s": {"S": "x"}, "inner": {"L": [{"N": "1"}, {"B": b"\x04"}]}}},
        "list": {"L": [{"S": "y"}, {"M": {"flag": {"BOOL": False}}}]},
    }
    ddb.put_item(TableName=table, Item=item)
    got = ddb.get_item(TableName=table, Key={"pk": item["pk"], "sk": item["sk"]}, ConsistentRead=True)
    assert {k: v for k, v in got["Item"].items() if k not in ("names", "numbers", "blobs")} == {
        k: v for k, v in item.items() if k not in ("names", "numbers", "blobs")
    }
    assert sorted(got["Item"]["names"]["SS"]) == ["a", "b"]
    assert sorted(got["Item"]["numbers"]["NS"]) == ["1", "2"]
    assert sorted(got["Item"]["blobs"]["BS"]) == [b"\x02", b"\x03"]
