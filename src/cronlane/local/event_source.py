"""The imitation of Lambda's SQS event source mapping: receive up to the batch size, build the
event Lambda builds, and after the invocation delete only what succeeded (a failed record, or a
whole failed invocation, is left to the visibility timeout and the redrive policy)."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cronlane.local.moto_patches import ACCOUNT, REGION, Hooks
from cronlane.local.stack import MappingInfo

DELETE_BATCH = 10  # DeleteMessageBatch takes at most 10 entries


@dataclass
class Batch:
    """What one poll received for one invocation: the event Lambda builds, and per message its
    receipt handle and job (for fault matching)."""

    mapping: MappingInfo
    event: dict[str, Any]
    receipts: dict[str, str] = field(default_factory=dict)  # messageId -> receipt handle
    jobs: dict[str, str] = field(default_factory=dict)  # messageId -> job


def poll(mapping: MappingInfo) -> Batch | None:
    """One receive of up to the mapping's batch size (None: nothing visible)."""
    messages = _receive(mapping)
    if not messages:
        return None
    batch = Batch(mapping, sqs_event(mapping, messages))
    for message in messages:
        batch.receipts[message["MessageId"]] = message["ReceiptHandle"]
        batch.jobs[message["MessageId"]] = _job_of(message["Body"])
    return batch


def settle(
    batch: Batch, response: Any, error: Any, keep: Callable[[str | None], bool] = lambda job: False
) -> int:
    """After the invocation: delete what succeeded, as Lambda does, and return how many. A
    function error fails the whole batch; with ``ReportBatchItemFailures`` the records it names
    failed (an identifier that names no record fails the batch). ``keep(job)``: a fault that
    leaves a handled message on the queue (a duplicate delivery)."""
    if error is not None:
        return 0
    failed: set[str] = set()
    if batch.mapping.report_batch_item_failures and isinstance(response, dict):
        failed = {f.get("itemIdentifier") for f in response.get("batchItemFailures") or []}
        if not failed <= set(batch.receipts):
            return 0
    entries: list[dict[str, str]] = []
    for message_id, receipt in batch.receipts.items():
        if message_id in failed or keep(batch.jobs.get(message_id)):
            continue
        entries.append({"Id": str(len(entries)), "ReceiptHandle": receipt})
    for start in range(0, len(entries), DELETE_BATCH):
        _delete(batch.mapping, entries[start : start + DELETE_BATCH])
    return len(entries)


# -- the event source mapping's own SQS calls --------------------------------------------------
#
# On AWS the mapping is Lambda's poller, inside AWS: its ReceiveMessage and DeleteMessageBatch do
# not go through an SDK on the function's side. Here they are served by moto's SQS backend in
# this process (under the server's lock, so one request at a time as before), which saves the
# hand-off an HTTP round trip. They are still SQS requests: the observer sees each one, as
# ``runtime``, with the JSON a served request would have had (the cost benchmark bills them).


def _receive(mapping: MappingInfo) -> list[dict[str, Any]]:
    """ReceiveMessage(MaxNumberOfMessages=batch size, WaitTimeSeconds=0, all attributes)."""
    from moto.sqs.models import sqs_backends

    request = {
        "QueueUrl": mapping.queue_url,
        "MaxNumberOfMessages": mapping.batch_size,
        "WaitTimeSeconds": 0,
        "AttributeNames": ["All"],
        "MessageAttributeNames": ["All"],
    }
    with Hooks.lock:
        began = time.time()
        backend = sqs_backends[ACCOUNT][REGION]
        name = mapping.queue_arn.rsplit(":", 1)[-1]
        found: Any = backend.get_queue(name)  # moto sets visibility_timeout from its attributes
        visibility = int(found.visibility_timeout)
        received = backend.receive_message(name, mapping.batch_size, 0, visibility, ["All"])
        messages = [_received(m) for m in received]
        _observe_mapping("ReceiveMessage", request, {"Messages": messages} if messages else {}, began)
    return messages


def _delete(mapping: MappingInfo, entries: list[dict[str, str]]) -> None:
    """DeleteMessageBatch of what the invocation handled."""
    from moto.sqs.models import sqs_backends

    with Hooks.lock:
        began = time.time()
        backend = sqs_backends[ACCOUNT][REGION]
        deleted, failed = backend.delete_message_batch(mapping.queue_arn.rsplit(":", 1)[-1], entries)
        response = {"Successful": [{"Id": i} for i in deleted], "Failed": failed}
        request = {"QueueUrl": mapping.queue_url, "Entries": entries}
        _observe_mapping("DeleteMessageBatch", request, response, began)


def _received(message: Any) -> dict[str, Any]:
    """A received moto message as ReceiveMessage answers it, with every system attribute."""
    attributes = {
        "SenderId": message.sender_id,
        "SentTimestamp": str(message.sent_timestamp),
        "ApproximateReceiveCount": str(message.approximate_receive_count),
        "ApproximateFirstReceiveTimestamp": str(message.approximate_first_receive_timestamp),
    }
    if message.deduplication_id is not None:
        attributes["MessageDeduplicationId"] = message.deduplication_id
    if message.group_id is not None:
        attributes["MessageGroupId"] = message.group_id
    if message.sequence_number is not None:
        attributes["SequenceNumber"] = message.sequence_number
    trace = (message.system_attributes or {}).get("AWSTraceHeader")
    if trace and trace.get("StringValue"):
        attributes["AWSTraceHeader"] = trace["StringValue"]
    answer: dict[str, Any] = {
        "MessageId": message.id,
        "ReceiptHandle": message.receipt_handle,
        "MD5OfBody": message.body_md5,
        "Body": message.body,
        "Attributes": attributes,
    }
    if message.message_attributes:
        answer["MessageAttributes"] = message.message_attributes
        answer["MD5OfMessageAttributes"] = message.attribute_md5
    return answer


def _observe_mapping(operation: str, request: dict[str, Any], response: dict[str, Any], began: float) -> None:
    """Tell the observer, as the server does for a request it served (under the same lock)."""
    observer = Hooks.observer
    if observer is None:
        return
    raw = json.dumps(request).encode()
    observer(
        {
            "who": "runtime",
            "service": "sqs",
            "operation": operation,
            "request": request,
            "request_bytes": len(raw),
            "response": json.dumps(response, default=_base64).encode(),
            "status": 200,
            "began": began,
            "ended": time.time(),
            "items": [],
        }
    )


def _base64(value: Any) -> str:
    """A binary message attribute, as the JSON protocol carries it (base64)."""
    if isinstance(value, str):
        return value  # already base64
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _job_of(body: str) -> str:
    try:
        return str(json.loads(body).get("job", ""))
    except (ValueError, AttributeError):
        return ""


def sqs_event(mapping: MappingInfo, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The event Lambda builds from received SQS messages."""
    records = []
    for message in messages:
        attributes = message.get("MessageAttributes") or {}
        records.append(
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": dict(message.get("Attributes") or {}),
                "messageAttributes": {
                    name: {
                        "stringValue": value.get("StringValue"),
                        "binaryValue": (
                            _base64(value["BinaryValue"]) if value.get("BinaryValue") is not None else None
                        ),
                        "stringListValues": [],
                        "binaryListValues": [],
                        "dataType": value.get("DataType"),
                    }
                    for name, value in attributes.items()
                },
                "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message["Body"].encode()).hexdigest(),
                "eventSource": "aws:sqs",
                "eventSourceARN": mapping.queue_arn,
                "awsRegion": REGION,
            }
        )
    return {"Records": records}
