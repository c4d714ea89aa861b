"""Bill the AWS requests the local runtime served the way AWS bills them (prices from the
project's AWS facts, us-east-1). What is counted, per request:

- DynamoDB on demand: a write is billed on the larger of the item before and after, in 1 KB
  units (at least 1), even when its condition fails; a transactional write counts double; a
  write that changes what a global secondary index holds (a new item with the index's key, or a
  change to a projected attribute) adds one unit per index. A read is billed in 4 KB units of
  the stored items it reads, whatever its projection returns (the local runtime looks up each
  item's stored size; a query also counts the items its filter dropped, at 100 bytes each, which
  overstates the by-schedule index's entries), halved when eventually consistent.
- SQS FIFO: every request, one per 64 KB of its payload.
- Lambda: every invocation; and an estimate of the billed duration of cronlane's own code (a
  job's own compute is the job's, not the scheduler's), at the template's memory sizes (512 MB
  dispatcher, 1,024 MB executor): 10 ms per invocation (event parsing, logs, metrics) plus the
  requests the function made, 8 ms per DynamoDB request and 15 ms per SQS request (typical
  in-region latencies with the SDK's own time; Lambda bills the wait).

The event source mapping's empty polls are a fixed monthly cost, priced separately.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

PRICE = {
    "wru": 0.625 / 1e6,
    "rru": 0.125 / 1e6,
    "sqs_fifo_request": 0.50 / 1e6,
    "lambda_request": 0.20 / 1e6,
    "lambda_gb_s_arm64": 0.0000133334,
    "sfn_standard_transition": 25.0 / 1e6,
    "eventbridge_event": 1.00 / 1e6,  # custom events put (PutEvents), per 64 KB entry
    # the all-in bill's (benchmarks.all_in)
    "scheduler_invocation": 1.00 / 1e6,  # EventBridge Scheduler, per invocation (a tick)
    "metric_month": 0.30,  # a custom metric series, per month (the first 10,000 series' tier)
    "alarm_metric_month": 0.10,  # a standard-resolution alarm's metric, per month
    "dashboard_month": 3.00,  # a dashboard, per month
    "dynamodb_storage_gb_month": 0.25,  # a table's items, per GB-month (standard table class)
    "dynamodb_pitr_gb_month": 0.20,  # point-in-time recovery, on the table's size
    "log_ingest_gb": 0.50,  # CloudWatch Logs, standard class, per GB ingested
    "log_storage_gb_month": 0.03,  # and per GB stored a month
    "xray_trace": 5.00 / 1e6,  # a trace recorded
    "sfn_express_request": 1.00 / 1e6,  # an Express execution
    "sfn_express_gb_s": 0.00001667,  # its duration, per GB-second (the first tier)
}
# template.yaml's MemorySize (a lambda target's own function is the job's: not cronlane's cost)
MEMORY_GB = {
    "DispatcherFunction": 0.5,
    "ExecutorFunction": 1.0,
    "CompletionFunction": 0.5,
    "TaskEventsFunction": 0.5,
}
INVOCATION_S = 0.010  # per invocation: parsing the event, logging, flushing metrics
REQUEST_S = {"dynamodb": 0.008, "sqs": 0.015, "other": 0.02}  # per request the function makes, waited for
# The runs table's global secondary indexes: index hash key -> attributes it holds.
INDEXES = {
    "gsi1pk": {"gsi1pk", "gsi1sk", "run_id", "schedule", "scheduled_time", "trigger", "status", "job_count"},
}
# Lambda's SQS pollers: 5 at least, each long-polling 20 s: 15 empty receives a minute.
ESM_POLLS_PER_MONTH = 5 * 3 * 60 * 24 * 30


def wire_size(value: Any) -> int:
    """DynamoDB's size of an item (or attribute value) in its wire form."""
    if isinstance(value, dict) and len(value) == 1 and next(iter(value)) in ("S", "N", "B", "BOOL", "NULL"):
        kind, inner = next(iter(value.items()))
        if kind == "S":
            return len(str(inner).encode())
        if kind == "N":
            return len(str(inner).lstrip("-").replace(".", "")) // 2 + 2
        if kind == "B":
            return len(inner) * 3 // 4
        return 1
    if isinstance(value, dict) and len(value) == 1 and next(iter(value)) in ("SS", "NS", "BS"):
        return sum(wire_size({next(iter(value))[0]: v}) for v in next(iter(value.values())))
    if isinstance(value, dict) and len(value) == 1 and next(iter(value)) == "L":
        return 3 + sum(1 + wire_size(v) for v in value["L"])
    if isinstance(value, dict) and len(value) == 1 and next(iter(value)) == "M":
        return 3 + sum(len(k) + 1 + wire_size(v) for k, v in value["M"].items())
    if isinstance(value, dict):  # an item: attribute name -> value
        return sum(len(k) + wire_size(v) for k, v in value.items())
    return 0


@dataclass
class Bill:
    wru: float = 0.0
    rru: float = 0.0
    sqs_requests: int = 0
    events: int = 0  # run events put (PutEvents entries)
    requests: Counter[str] = field(default_factory=Counter)  # "who service:operation" -> count
    failed_conditions: int = 0

    def observe(self, record: dict[str, Any]) -> None:
        if record["who"] == "runtime" and record["service"] == "dynamodb":
            return  # the benchmark reading the table, not cronlane
        if record["operation"] == "ReceiveMessage" and b'"Messages"' not in record["response"]:
            return  # an empty poll: the event source mapping's fixed monthly cost
        self.requests[f"{record['who']} {record['service']}:{record['operation']}"] += 1
        if record["service"] == "sqs":
            self._sqs(record)
        elif record["service"] == "dynamodb":
            self._dynamodb(record)
        elif record["service"] == "events":  # the run events (cronlane.run_events)
            self.events += len(record["request"].get("Entries") or [])
        # other services (Scheduler's one-time checks, ECS RunTask/StopTask) bill no request

    def _sqs(self, record: dict[str, Any]) -> None:
        payload = record["request_bytes"]
        if record["operation"] == "ReceiveMessage":
            payload = max(payload, len(record["response"]))
        self.sqs_requests += max(1, math.ceil(payload / 65_536))

    def _dynamodb(self, record: dict[str, Any]) -> None:
        operation, request = record["operation"], record["request"]
        failed = record["status"] >= 400
        # a transaction cancelled by a condition names ConditionalCheckFailed among its reasons; one
        # cancelled for another reason (a conflict, a validation error) is refused like any write
        condition_failed = failed and b"ConditionalCheckFailed" in record["response"]
        if condition_failed:
            self.failed_conditions += 1
        if record["items"]:  # a write
            if failed and not condition_failed:
                return  # refused (invalid, throttled): nothing was written and nothing is billed
            factor = 2 if operation == "TransactWriteItems" else 1
            for item in record["items"]:
                new = item.get("put")  # the whole item of a put
                # billed on the larger of the item before and after; a put whose condition failed
                # on the larger of the item there and the one it would have written (the
                # developer guide's rule as summarised; where sources differ, the larger bill)
                size = max(item["before"] or 0, item["after"] or 0, wire_size(new) if new else 0)
                self.wru += factor * max(1, math.ceil(size / 1024))
            if not failed:
                self.wru += self._index_writes(operation, request)
            return
        if failed:
            return
        response = json.loads(record["response"] or b"{}")
        consistent = 1.0 if request.get("ConsistentRead") else 0.5
        # a read is billed on the stored item, not on what its projection returned
        stored = [size for _, size in record.get("read") or []]
        if operation == "GetItem":
            size = stored[0] if stored and stored[0] is not None else wire_size(response.get("Item", {}))
            self.rru += consistent * max(1, math.ceil(size / 4096))
        elif operation in ("Query", "Scan"):
            returned = response.get("Items", [])
            sizes = stored if len(stored) == len(returned) else [None] * len(returned)
            read = sum(s if s is not None else wire_size(i) for s, i in zip(sizes, returned, strict=True))
            read += 100 * max(0, int(response.get("ScannedCount", 0)) - int(response.get("Count", 0)))
            self.rru += consistent * max(1, math.ceil(read / 4096))
        elif operation == "BatchGetItem":
            # each key is read as a GetItem would be: an item in 4 KB units, a key with no item at
            # the minimum; ConsistentRead is given per table; unprocessed keys were not read
            returned = response.get("Responses", {})
            unprocessed = response.get("UnprocessedKeys", {})
            sizes_of: dict[str, list[int]] = {}
            for table, found in record.get("read") or []:
                if found is not None:
                    sizes_of.setdefault(table, []).append(int(found))
            for table, wanted in (request.get("RequestItems") or {}).items():
                per_unit = 1.0 if wanted.get("ConsistentRead") else 0.5
                items = returned.get(table, [])
                missing = len(wanted.get("Keys", [])) - len(items)
                missing -= len((unprocessed.get(table) or {}).get("Keys", []))
                batch = sizes_of.get(table, [])
                if len(batch) != len(items):  # no stored sizes (or unprocessed keys): what came back
                    batch = [wire_size(i) for i in items]
                self.rru += sum(per_unit * max(1, math.ceil(b / 4096)) for b in batch)
                self.rru += per_unit * max(0, missing)

    @staticmethod
    def _index_writes(operation: str, request: dict[str, Any]) -> int:
        ops: list[dict[str, Any]] = []
        if operation == "TransactWriteItems":
            ops = [next(iter(e.values())) for e in request.get("TransactItems", [])]
        elif operation in ("PutItem", "UpdateItem"):
            ops = [request]
        writes = 0
        for op in ops:
            if "Item" in op:  # a put: every index whose key it carries
                writes += sum(1 for key in INDEXES if key in op["Item"])
            elif "UpdateExpression" in op:
                names = set((op.get("ExpressionAttributeNames") or {}).values())
                if op.get("Key", {}).get("sk", {}).get("S", "") == "RUN":  # only runs are indexed
                    writes += 1 if names & INDEXES["gsi1pk"] else 0
        return writes

    def dollars(self, lambda_invocations: Counter[str]) -> dict[str, float]:
        seconds = {f: n * INVOCATION_S for f, n in lambda_invocations.items() if f in MEMORY_GB}
        for key, n in self.requests.items():
            who, call = key.split(" ", 1)
            if who in seconds:
                seconds[who] += n * REQUEST_S.get(call.split(":", 1)[0], REQUEST_S["other"])
        compute = sum(s * MEMORY_GB[f] * PRICE["lambda_gb_s_arm64"] for f, s in seconds.items())
        return {
            "dynamodb_writes": self.wru * PRICE["wru"],
            "dynamodb_reads": self.rru * PRICE["rru"],
            "sqs": self.sqs_requests * PRICE["sqs_fifo_request"],
            "lambda_requests": sum(lambda_invocations.values()) * PRICE["lambda_request"],
            "lambda_compute_estimate": compute,
            "eventbridge_events": self.events * PRICE["eventbridge_event"],
        }


def esm_polling_per_month() -> float:
    """The event source mapping's empty long polls, whatever the load: a fixed monthly cost."""
    return ESM_POLLS_PER_MONTH * PRICE["sqs_fifo_request"]
