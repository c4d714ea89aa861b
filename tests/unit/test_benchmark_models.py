"""The benchmarks' models, checked against hand-worked answers: the bill of recorded AWS requests
(``benchmarks.billing``, AWS's on-demand rules) and the makespan model (``benchmarks.makespan``:
critical path, greedy list scheduling, the overhead budget). No local runtime: the request
records are built by hand in the shape the local runtime's observer hands over."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from benchmarks import layered
from benchmarks.billing import Bill, esm_polling_per_month
from benchmarks.makespan import (
    CRITICAL_PATH,
    RANKED_SENDS,
    critical_path_s,
    list_schedule_s,
    overhead_budget_s,
)
from cronlane.local.moto_patches import item_keys as _item_keys

KB = 1024
TABLE = "cronlane-runs"
QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/cronlane-jobs.fifo"
CONDITION_FAILED = (
    b'{"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",'
    b'"message":"The conditional request failed"}'
)
TRANSACTION_CANCELED = (
    b'{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException",'
    b'"message":"Transaction cancelled, please refer cancellation reasons for specific reasons '
    b'[ConditionalCheckFailed, None]"}'
)


# ---------------------------------------------------------------------------------------------
# Records, in the shape of the local runtime's _observed / _observe_mapping
# ---------------------------------------------------------------------------------------------


def record(
    operation: str,
    *,
    service: str = "dynamodb",
    who: str = "ExecutorFunction",
    request: dict[str, Any] | None = None,
    request_bytes: int | None = None,
    response: bytes = b"{}",
    status: int = 200,
    items: tuple[tuple[int | None, int | None], ...] = (),
) -> dict[str, Any]:
    """One served request, as the local runtime's observer hands it over; ``items`` are the
    (before, after) sizes of the items a write names (the whole item of each put is read off the
    request the way the runtime does)."""
    request = request or {}
    named = _item_keys(f"DynamoDB_20120810.{operation}", request) if service == "dynamodb" else []
    puts = [put for _, _, put in named] + [None] * len(items)
    return {
        "who": who,
        "service": service,
        "operation": operation,
        "request": request,
        "request_bytes": len(json.dumps(request).encode()) if request_bytes is None else request_bytes,
        "response": response,
        "status": status,
        "began": 1795831200.0,
        "ended": 1795831200.004,
        "items": [
            {"table": TABLE, "before": before, "after": after, "put": put}
            for (before, after), put in zip(items, puts, strict=False)
        ],
    }


def bill_of(*records: dict[str, Any]) -> Bill:
    bill = Bill()
    for r in records:
        bill.observe(r)
    return bill


def key(sk: str = "JOB#extract") -> dict[str, Any]:
    return {"pk": {"S": "RUN#nightly#2026-11-28T02:00:00Z"}, "sk": {"S": sk}}


def item_of(size: int) -> dict[str, Any]:
    """An item of exactly ``size`` bytes by DynamoDB's rule (attribute name lengths plus value
    sizes; a string's size is its UTF-8 length): "pk" + "p" is 3 bytes, "data" is 4."""
    return {"pk": {"S": "p"}, "data": {"S": "x" * (size - 7)}}


def put(*, run: bool = False) -> dict[str, Any]:
    """A PutItem request of a job-run, or of a run (which carries the by-schedule index's key)."""
    item = {**key("RUN" if run else "JOB#extract"), "status": {"S": "PENDING"}}
    if run:
        item["gsi1pk"] = {"S": "SCHEDULE#nightly"}
        item["gsi1sk"] = {"S": "2026-11-28T02:00:00Z#r1"}
    return {"TableName": TABLE, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}


def update(sk: str = "JOB#extract", attribute: str = "status") -> dict[str, Any]:
    return {
        "TableName": TABLE,
        "Key": key(sk),
        "UpdateExpression": "SET #a = :v",
        "ExpressionAttributeNames": {"#a": attribute},
        "ExpressionAttributeValues": {":v": {"S": "RUNNING"}},
    }


# ---------------------------------------------------------------------------------------------
# DynamoDB writes: 1 KB units of the larger of the item before and after, at least 1
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operation", "before", "after", "units"),
    [
        ("PutItem", None, 100, 1),  # a tiny new item: the 1-unit minimum
        ("PutItem", None, 1 * KB, 1),  # exactly 1 KB
        ("PutItem", None, 1 * KB + 1, 2),  # one byte over: a second unit
        ("PutItem", None, 3 * KB // 2, 2),  # 1.5 KB
        ("DeleteItem", 3000, None, 3),  # a delete is billed on the item it removed
        ("UpdateItem", 5 * KB // 2, KB // 2, 3),  # shrinking 2.5 KB to 0.5 KB: the larger, 2.5 KB
        ("UpdateItem", KB // 2, 5 * KB // 2, 3),  # growing 0.5 KB to 2.5 KB: the same
        ("UpdateItem", 2 * KB, 2 * KB + 10, 3),  # a small change to a 2 KB item crosses into 3
    ],
)
def test_a_write_is_billed_in_1_kb_units_of_the_larger_of_the_item_before_and_after(
    operation: str, before: int | None, after: int | None, units: int
) -> None:
    request = {"PutItem": put(), "UpdateItem": update(), "DeleteItem": {"TableName": TABLE, "Key": key()}}
    bill = bill_of(record(operation, request=request[operation], items=((before, after),)))
    assert bill.wru == units
    assert bill.rru == 0
    assert bill.requests == Counter({f"ExecutorFunction dynamodb:{operation}": 1})


def test_a_batch_write_rounds_each_item_up_on_its_own() -> None:
    # 0.5 KB, 1.5 KB and 3 KB: 1 + 2 + 3 units, not the 5 units of their 5 KB sum
    items = ((None, KB // 2), (None, 3 * KB // 2), (None, 3 * KB))
    request = {"RequestItems": {TABLE: [{"PutRequest": {"Item": key(f"JOB#j{i}")}} for i in range(3)]}}
    bill = bill_of(record("BatchWriteItem", request=request, items=items))
    assert bill.wru == 6


@pytest.mark.parametrize(
    ("request_body", "before", "units"),
    [
        (put(run=True), 2 * KB, 2),  # an existing 2 KB run; the new run would be smaller
        (update(), None, 1),  # a condition on an item that is not there: the minimum
    ],
)
def test_a_failed_conditional_write_is_still_billed_and_counted(
    request_body: dict[str, Any], before: int | None, units: int
) -> None:
    # GIVEN a write whose condition failed: nothing was written, the item is as it was
    operation = "PutItem" if "Item" in request_body else "UpdateItem"
    failed = record(
        operation, request=request_body, status=400, response=CONDITION_FAILED, items=((before, before),)
    )
    bill = bill_of(failed)
    # THEN it costs the write units of the item it looked at, and no index write (none was made)
    assert bill.wru == units
    assert bill.failed_conditions == 1
    assert bill.requests[f"ExecutorFunction dynamodb:{operation}"] == 1


def test_a_put_whose_condition_failed_is_billed_on_the_larger_of_the_item_there_and_its_own() -> None:
    # GIVEN a 2.5 KB put refused by its condition over a 0.5 KB item (which stays as it was)
    request = {**put(), "Item": item_of(5 * KB // 2)}
    failed = record(
        "PutItem", request=request, status=400, response=CONDITION_FAILED, items=((KB // 2, KB // 2),)
    )
    # THEN it costs the 3 units of the item it would have written
    assert bill_of(failed).wru == 3


def test_a_write_refused_for_another_reason_than_its_condition_costs_nothing() -> None:
    throttled = b'{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"}'
    invalid = b'{"__type":"com.amazon.coral.validate#ValidationException","message":"bad"}'
    for response in (throttled, invalid):
        refused = record("UpdateItem", request=update(), status=400, response=response, items=((KB, KB),))
        bill = bill_of(refused)
        assert bill.wru == 0
        assert bill.failed_conditions == 0
        assert bill.requests["ExecutorFunction dynamodb:UpdateItem"] == 1  # still a request made


def test_a_transaction_cancelled_for_a_conflict_is_not_billed_as_a_failed_condition() -> None:
    conflict = (
        b'{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException",'
        b'"message":"Transaction cancelled, please refer cancellation reasons for specific reasons '
        b'[TransactionConflict, None]"}'
    )
    entries = [{"Put": put()}, {"Put": {**put(), "Item": key("JOB#load")}}]
    cancelled = record(
        "TransactWriteItems",
        request={"TransactItems": entries},
        status=400,
        response=conflict,
        items=((None, None), (None, None)),
    )
    bill = bill_of(cancelled)
    assert bill.wru == 0
    assert bill.failed_conditions == 0


def test_a_transaction_of_two_items_under_1_kb_is_4_units() -> None:
    entries = [{"Put": put()}, {"Put": {**put(), "Item": key("JOB#load")}}]
    bill = bill_of(
        record("TransactWriteItems", request={"TransactItems": entries}, items=((None, 400), (None, 900)))
    )
    assert bill.wru == 4


def test_a_transaction_doubles_each_item_s_own_units() -> None:
    # a 1.5 KB item (2 units) and a 0.5 KB update of a 0.4 KB item (1 unit), each counted twice
    entries = [{"Put": put()}, {"Update": update("JOB#load")}]
    items = ((None, 3 * KB // 2), (400, KB // 2))
    bill = bill_of(record("TransactWriteItems", request={"TransactItems": entries}, items=items))
    assert bill.wru == 6


def test_a_transaction_cancelled_by_its_condition_is_still_billed_double() -> None:
    entries = [{"Put": put()}, {"Update": update("JOB#load")}]
    cancelled = record(
        "TransactWriteItems",
        request={"TransactItems": entries},
        status=400,
        response=TRANSACTION_CANCELED,
        items=((500, 500), (500, 500)),
    )
    bill = bill_of(cancelled)
    assert bill.wru == 4
    assert bill.failed_conditions == 1


def test_a_write_that_changes_the_by_schedule_index_adds_one_unit_for_the_index() -> None:
    # a new 300-byte run carries the index's key: its own unit and the index entry's
    assert bill_of(record("PutItem", request=put(run=True), items=((None, 300),))).wru == 2
    # a run's status is projected into the index: the run's unit and the entry's
    assert bill_of(record("UpdateItem", request=update("RUN"), items=((600, 620),))).wru == 2
    # a job-run is not in the index, and a run's attribute the index does not hold changes nothing there
    assert bill_of(record("UpdateItem", request=update("JOB#extract"), items=((600, 620),))).wru == 1
    assert bill_of(record("UpdateItem", request=update("RUN", "max_active"), items=((600, 620),))).wru == 1


# ---------------------------------------------------------------------------------------------
# DynamoDB reads: 4 KB units of what was read; eventually consistent reads are half
# ---------------------------------------------------------------------------------------------


def get_item(size: int | None, *, consistent: bool) -> dict[str, Any]:
    request: dict[str, Any] = {"TableName": TABLE, "Key": key()}
    if consistent:
        request["ConsistentRead"] = True
    body = {} if size is None else {"Item": item_of(size)}
    return record("GetItem", request=request, response=json.dumps(body).encode())


@pytest.mark.parametrize(
    ("size", "consistent", "units"),
    [
        (5 * KB, True, 2.0),  # 5 KB is two 4 KB units
        (5 * KB, False, 1.0),  # half, eventually consistent
        (4 * KB, True, 1.0),  # exactly 4 KB
        (4 * KB + 1, True, 2.0),  # one byte over
        (100, False, 0.5),  # a small item: half the 1-unit minimum
        (None, True, 1.0),  # no such item: still the minimum
    ],
)
def test_a_get_is_billed_in_4_kb_units_halved_when_eventually_consistent(
    size: int | None, consistent: bool, units: float
) -> None:
    bill = bill_of(get_item(size, consistent=consistent))
    assert bill.rru == units
    assert bill.wru == 0


def test_a_query_is_billed_on_the_total_it_returns_not_item_by_item() -> None:
    # three 1.5 KB items: 4.5 KB together, two 4 KB units, halved: 1 unit (not 3 x 0.5)
    body = {"Items": [item_of(3 * KB // 2)] * 3, "Count": 3, "ScannedCount": 3}
    query = record("Query", request={"TableName": TABLE}, response=json.dumps(body).encode())
    assert bill_of(query).rru == 1.0
    consistent = record(
        "Query", request={"TableName": TABLE, "ConsistentRead": True}, response=json.dumps(body).encode()
    )
    assert bill_of(consistent).rru == 2.0


def test_an_empty_query_costs_the_minimum() -> None:
    body = {"Items": [], "Count": 0, "ScannedCount": 0}
    query = record("Query", request={"TableName": TABLE}, response=json.dumps(body).encode())
    assert bill_of(query).rru == 0.5


def test_a_batch_get_rounds_each_item_up_on_its_own() -> None:
    # AWS's own example: 1.5 KB and 6.5 KB read as 4 KB + 8 KB, three units, halved: 1.5
    body = {"Responses": {TABLE: [item_of(3 * KB // 2), item_of(13 * KB // 2)]}, "UnprocessedKeys": {}}
    request = {"RequestItems": {TABLE: {"Keys": [key("JOB#a"), key("JOB#b")]}}}
    assert bill_of(record("BatchGetItem", request=request, response=json.dumps(body).encode())).rru == 1.5


def test_a_batch_get_asking_for_consistent_reads_of_a_table_pays_the_full_unit() -> None:
    # BatchGetItem says ConsistentRead per table: 1.5 KB and 6.5 KB read strongly are 3 units
    body = {"Responses": {TABLE: [item_of(3 * KB // 2), item_of(13 * KB // 2)]}, "UnprocessedKeys": {}}
    request = {"RequestItems": {TABLE: {"Keys": [key("JOB#a"), key("JOB#b")], "ConsistentRead": True}}}
    assert bill_of(record("BatchGetItem", request=request, response=json.dumps(body).encode())).rru == 3.0


def test_a_batch_get_pays_the_minimum_for_each_key_that_has_no_item() -> None:
    # three keys asked for strongly: one 1.5 KB item (1 unit), two with no item (1 unit each);
    # a fourth key left unprocessed was not read
    body = {
        "Responses": {TABLE: [item_of(3 * KB // 2)]},
        "UnprocessedKeys": {TABLE: {"Keys": [key("JOB#d")]}},
    }
    keys = [key(f"JOB#{name}") for name in "abcd"]
    request = {"RequestItems": {TABLE: {"Keys": keys, "ConsistentRead": True}}}
    assert bill_of(record("BatchGetItem", request=request, response=json.dumps(body).encode())).rru == 3.0


def test_the_benchmark_s_own_reads_of_the_table_are_not_billed_to_cronlane() -> None:
    own = get_item(5 * KB, consistent=True) | {"who": "runtime"}
    bill = bill_of(own)
    assert bill.rru == 0
    assert not bill.requests


# ---------------------------------------------------------------------------------------------
# SQS: one request per 64 KB chunk; empty polls are not billed per job
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "requests"),
    [
        (1_000, 1),
        (64 * KB, 1),  # exactly one 64 KB chunk
        (64 * KB + 1, 2),
        (70 * KB, 2),
        (256 * KB, 4),  # the largest request SQS takes: 4 chunks
    ],
)
def test_an_sqs_request_is_billed_per_64_kb_chunk(size: int, requests: int) -> None:
    send = record("SendMessageBatch", service="sqs", request={"QueueUrl": QUEUE}, request_bytes=size)
    bill = bill_of(send)
    assert bill.sqs_requests == requests
    assert bill.requests == Counter({"ExecutorFunction sqs:SendMessageBatch": 1})


def test_a_70_kb_send_message_batch_is_2_requests() -> None:
    entries = [
        {
            "Id": str(i),
            "MessageBody": "x" * (7 * KB),
            "MessageGroupId": "r1",
            "MessageDeduplicationId": str(i),
        }
        for i in range(10)
    ]
    send = record("SendMessageBatch", service="sqs", request={"QueueUrl": QUEUE, "Entries": entries})
    assert bill_of(send).sqs_requests == 2


def test_a_receive_is_billed_per_64_kb_of_what_it_returned() -> None:
    def receive(bodies: list[str]) -> dict[str, Any]:
        messages = [{"MessageId": str(i), "ReceiptHandle": "h", "Body": b} for i, b in enumerate(bodies)]
        return record(
            "ReceiveMessage",
            service="sqs",
            who="runtime",
            request={"QueueUrl": QUEUE, "MaxNumberOfMessages": 10},
            response=json.dumps({"Messages": messages}).encode(),
        )

    # 10 messages of 13 KB: 130 KB, three 64 KB chunks, though the request itself was small
    assert bill_of(receive(["x" * (13 * KB)] * 10)).sqs_requests == 3
    assert bill_of(receive(['{"job": "extract"}'])).sqs_requests == 1


def test_an_empty_poll_is_not_billed_per_job_but_as_the_mapping_s_fixed_monthly_cost() -> None:
    request = {"QueueUrl": QUEUE, "MaxNumberOfMessages": 10, "WaitTimeSeconds": 0}
    empty = record("ReceiveMessage", service="sqs", who="runtime", request=request, response=b"{}")
    bill = bill_of(empty, empty, empty)
    assert bill.sqs_requests == 0
    assert not bill.requests
    # 5 pollers, each a 20 s long poll: 15 receives a minute, 648,000 in 30 days, at $0.50 a million
    assert esm_polling_per_month() == pytest.approx(0.324)


def test_the_mapping_s_deletes_are_billed_to_cronlane() -> None:
    entries = [{"Id": "0", "ReceiptHandle": "h"}]
    delete = record(
        "DeleteMessageBatch", service="sqs", who="runtime", request={"QueueUrl": QUEUE, "Entries": entries}
    )
    bill = bill_of(delete)
    assert bill.sqs_requests == 1
    assert bill.requests == Counter({"runtime sqs:DeleteMessageBatch": 1})


# ---------------------------------------------------------------------------------------------
# Dollars (us-east-1 on-demand prices)
# ---------------------------------------------------------------------------------------------


def test_a_million_of_each_unit_costs_aws_s_price() -> None:
    bill = Bill(wru=1e6, rru=1e6, sqs_requests=1_000_000)
    dollars = bill.dollars(Counter({"ExecutorFunction": 1_000_000}))
    assert dollars["dynamodb_writes"] == pytest.approx(0.625)
    assert dollars["dynamodb_reads"] == pytest.approx(0.125)
    assert dollars["sqs"] == pytest.approx(0.50)
    assert dollars["lambda_requests"] == pytest.approx(0.20)
    # 10 ms a bare invocation at 1 GB: 10,000 GB-s at arm64's $0.0000133334
    assert dollars["lambda_compute_estimate"] == pytest.approx(0.133334)


def test_an_executor_invocation_pays_for_the_time_it_waits_on_its_requests() -> None:
    bill = bill_of(
        record("PutItem", request=put(), items=((None, 300),)),
        record("SendMessage", service="sqs", request={"QueueUrl": QUEUE, "MessageBody": "{}"}),
        record("DeleteMessageBatch", service="sqs", who="runtime", request={"QueueUrl": QUEUE}),
    )
    dollars = bill.dollars(Counter({"ExecutorFunction": 1}))
    # 10 ms of its own, 8 ms for its DynamoDB request and 15 ms for its SQS one, at 1 GB; the
    # mapping's delete is not the function's time
    assert dollars["lambda_compute_estimate"] == pytest.approx(0.033 * 1.0 * 0.0000133334)
    assert dollars["dynamodb_writes"] == pytest.approx(0.625e-6)
    assert dollars["sqs"] == pytest.approx(2 * 0.50e-6)
    assert dollars["lambda_requests"] == pytest.approx(0.20e-6)


# ---------------------------------------------------------------------------------------------
# Makespan model
# ---------------------------------------------------------------------------------------------

Graph = tuple[dict[str, float], dict[str, tuple[str, ...]]]
ROOT: tuple[str, ...] = ()  # no upstreams


def independent(durations: dict[str, float]) -> Graph:
    return durations, dict.fromkeys(durations, ROOT)


CHAIN: Graph = ({"a": 1.0, "b": 2.0, "c": 3.0}, {"a": ROOT, "b": ("a",), "c": ("b",)})
FOUR_ONE_SECOND = independent(dict.fromkeys("abcd", 1.0))


@pytest.mark.parametrize("environments", [1, 2, 8])
def test_a_chain_takes_the_sum_of_its_durations_whatever_the_environments(environments: int) -> None:
    durations, upstreams = CHAIN
    assert critical_path_s(durations, upstreams) == 6.0
    assert list_schedule_s(durations, upstreams, environments) == 6.0


def test_the_critical_path_is_the_longest_chain() -> None:
    # a (1) -> b (2) or c (5) -> d (1): through c, 7 s; e (3) stands alone
    durations = {"a": 1.0, "b": 2.0, "c": 5.0, "d": 1.0, "e": 3.0}
    upstreams = {"a": (), "b": ("a",), "c": ("a",), "d": ("b", "c"), "e": ()}
    assert critical_path_s(durations, upstreams) == 7.0
    assert critical_path_s({}, {}) == 0.0


@pytest.mark.parametrize(("environments", "makespan"), [(1, 4.0), (2, 2.0), (4, 1.0), (8, 1.0)])
def test_independent_jobs_share_the_environments(environments: int, makespan: float) -> None:
    assert list_schedule_s(*FOUR_ONE_SECOND, environments) == makespan


def test_an_overhead_per_job_adds_to_each_job_s_environment_time() -> None:
    # two rounds of two jobs, each holding its environment 1.1 s
    assert list_schedule_s(*FOUR_ONE_SECOND, 2, overhead_s=0.1) == pytest.approx(2.2)
    # a chain waits for each job's overhead before the next can start
    assert list_schedule_s(*CHAIN, 2, overhead_s=0.1) == pytest.approx(6.3)


def test_a_free_environment_takes_the_job_that_became_ready_first() -> None:
    # Two environments. At 0, a (1 s) and b (3 s) start; c (1 s, ready at 0) waits. At 1, a ends
    # and x (4 s, after a, declared before c) becomes ready: the free environment takes c, ready
    # since 0, and x waits for c to end at 2: x runs 2 to 6. (Taken in declaration order, x would
    # run 1 to 5 and c 3 to 4: 5 s.)
    durations = {"a": 1.0, "b": 3.0, "x": 4.0, "c": 1.0}
    upstreams: dict[str, tuple[str, ...]] = {"a": (), "b": (), "x": ("a",), "c": ()}
    assert list_schedule_s(durations, upstreams, 2) == 6.0


def test_jobs_ready_at_the_same_time_are_taken_in_declaration_order() -> None:
    # p (2 s) and q (1 s) start at 0, r (3 s) when q ends at 1: 4 s (r first would give 3 s)
    assert list_schedule_s(*independent({"p": 2.0, "q": 1.0, "r": 3.0}), 2) == 4.0


def test_ranked_sends_order_only_the_jobs_ready_at_one_moment() -> None:
    # a (1 s) -> b (1 s) -> c (1 s); long (1 s) -> tail (4 s); x (1 s): two environments
    durations = {"a": 1.0, "b": 1.0, "c": 1.0, "x": 1.0, "long": 1.0, "tail": 4.0}
    upstreams: dict[str, tuple[str, ...]] = {
        "a": (),
        "b": ("a",),
        "c": ("b",),
        "x": (),
        "long": (),
        "tail": ("long",),
    }
    # declared order: a and x at 0, b and long at 1, c and tail at 2: the end at 6
    assert list_schedule_s(durations, upstreams, 2) == 6.0
    # ranked at 0: long (5 s ahead) and a (3 s), x (1 s) waits; at 1 x (queued since 0) and
    # tail (4 s ahead, before b, ready with it); b and c after x: the end at 5, as when the
    # ready job with the longest way to the end always goes first
    assert list_schedule_s(durations, upstreams, 2, order_by=RANKED_SENDS) == 5.0
    assert list_schedule_s(durations, upstreams, 2, order_by=CRITICAL_PATH) == 5.0


def test_critical_path_first_takes_the_ready_job_with_the_longest_way_to_the_end() -> None:
    # two environments, four jobs ready or not: long and other (6 s each), head (1 s) -> tail (6 s)
    durations = {"long": 6.0, "other": 6.0, "head": 1.0, "tail": 6.0}
    upstreams: dict[str, tuple[str, ...]] = {"long": (), "other": (), "head": (), "tail": ("head",)}
    # in the order they were declared: long and other at 0, head at 6, tail at 7, the end at 13
    assert list_schedule_s(durations, upstreams, 2) == 13.0
    # head first (7 s to the end) with long; other when head ends, tail when long does: 12
    assert list_schedule_s(durations, upstreams, 2, order_by=CRITICAL_PATH) == 12.0
    # all three are ready at 0: sent in rank order, head goes first too
    assert list_schedule_s(durations, upstreams, 2, order_by=RANKED_SENDS) == 12.0
    # the critical path (head, tail: 7 s) and the work (19 s over 2) bound it at 9.5 either way
    assert critical_path_s(durations, upstreams) == 7.0


def test_jobs_that_end_together_release_their_dependents_before_any_is_taken() -> None:
    # a and b (1 s) end together at 1: x1, x2 (1 s each) and y1 (5 s) are all ready then, and
    # are taken in declaration order: x1 and x2 from 1 to 2, y1 from 2 to 7
    durations = {"a": 1.0, "b": 1.0, "x1": 1.0, "x2": 1.0, "y1": 5.0}
    upstreams = {"a": ROOT, "b": ROOT, "x1": ("b",), "x2": ("b",), "y1": ("a",)}
    assert list_schedule_s(durations, upstreams, 2) == 7.0


def test_no_overhead_budget_when_even_no_overhead_misses_the_target() -> None:
    # three 1 s jobs on two environments: the bound is 1.5 s, list scheduling needs 2 s (1.33)
    durations, upstreams = independent(dict.fromkeys("abc", 1.0))
    assert list_schedule_s(durations, upstreams, 2) / 1.5 > 1.10
    assert overhead_budget_s(durations, upstreams, 2, 1.10) == 0.0


@pytest.mark.parametrize(
    ("durations", "upstreams", "environments", "ratio", "expected"),
    [
        # 2 + 2o <= 1.10 x 2: o <= 0.1
        (*FOUR_ONE_SECOND, 2, 1.10, 0.1),
        # 6 + 3o <= 1.10 x 6: o <= 0.2
        (*CHAIN, 1, 1.10, 0.2),
        # a, b (1 s) then c (2 s) on two environments: 3 + 2o against a bound of 2, within 1.6: o <= 0.1
        (*independent({"a": 1.0, "b": 1.0, "c": 2.0}), 2, 1.6, 0.1),
        # the makespan benchmark's own graph, on its 8 environments (no hand-worked figure)
        (layered.DURATIONS, layered.UPSTREAMS, 8, 1.10, None),
    ],
)
def test_the_overhead_budget_is_the_most_a_job_can_cost_within_the_ratio(
    durations: dict[str, float],
    upstreams: dict[str, tuple[str, ...]],
    environments: int,
    ratio: float,
    expected: float | None,
) -> None:
    bound = max(critical_path_s(durations, upstreams), sum(durations.values()) / environments)
    budget = overhead_budget_s(durations, upstreams, environments, ratio)
    assert budget > 0.0
    if expected is not None:
        assert budget == pytest.approx(expected, abs=0.0001)
    # within the ratio at the budget, and not with 1 ms more per job
    assert list_schedule_s(durations, upstreams, environments, budget) / bound <= ratio
    assert list_schedule_s(durations, upstreams, environments, budget + 0.001) / bound > ratio


def test_an_overhead_budget_longer_than_a_second_is_found() -> None:
    # four 100 s jobs on two environments: 200 + 2o <= 1.10 x 200, o <= 10 s
    durations, upstreams = independent(dict.fromkeys("abcd", 100.0))
    assert overhead_budget_s(durations, upstreams, 2, 1.10) == pytest.approx(10.0, abs=0.001)


def test_a_read_is_billed_on_the_stored_item_not_on_what_its_projection_returned() -> None:
    # a 100-byte projection of a 9 KB item, read strongly: three 4 KB units, as DynamoDB bills it
    projected = get_item(100, consistent=True) | {"read": [(TABLE, 9 * KB)]}
    assert bill_of(projected).rru == 3.0
    body = {"Responses": {TABLE: [item_of(100), item_of(100)]}, "UnprocessedKeys": {}}
    request = {"RequestItems": {TABLE: {"Keys": [key("JOB#a"), key("JOB#b")]}}}
    batch = record("BatchGetItem", request=request, response=json.dumps(body).encode())
    batch["read"] = [(TABLE, 5 * KB), (TABLE, 100)]
    assert bill_of(batch).rru == 1.5  # 8 KB and 4 KB, eventually consistent
    # a query's projection of three items returns little; the stored items add up to 9 KB
    body = {"Items": [item_of(50)] * 3, "Count": 3, "ScannedCount": 3}
    query = record(
        "Query", request={"TableName": TABLE, "ConsistentRead": True}, response=json.dumps(body).encode()
    )
    query["read"] = [(TABLE, 3 * KB)] * 3
    assert bill_of(query).rru == 3.0  # 9 KB in all: three 4 KB units, strongly consistent


# ---------------------------------------------------------------------------------------------
# The hand-off projected onto AWS
# ---------------------------------------------------------------------------------------------


def test_the_aws_hand_off_is_its_requests_at_in_region_latencies_and_lambda_s_delivery() -> None:
    from benchmarks.handoff import aws_projection_ms

    path = {
        "dynamodb:GetItem": 1.0,
        "sqs:SendMessageBatch": 1.0,
        "sqs:ReceiveMessage": 1.0,  # the mapping's: its delivery is the 28 ms
        "dynamodb:PutItem": 1.0,
        "dynamodb:Query": 0.5,
    }
    # the 28 ms are measured from before the message's send: the send is inside them
    assert aws_projection_ms(path) == pytest.approx(28 + 8 + 8 + 4)
    assert aws_projection_ms(path, send_added=True) == pytest.approx(28 + 8 + 15 + 8 + 4)
    # a request less on the path is its latency less
    assert aws_projection_ms({**path, "dynamodb:GetItem": 0.0}) == pytest.approx(28 + 8 + 4)
    # a second send on the path is not the delivered message's: it is counted
    assert aws_projection_ms({**path, "sqs:SendMessageBatch": 2.0}) == pytest.approx(28 + 8 + 15 + 8 + 4)
    # no delivery (the dependent ran in its upstream's invocation): every request is counted
    chained = {"events:PutEvents": 1.0, "sqs:SendMessage": 1.0, "dynamodb:PutItem": 1.0}
    assert aws_projection_ms(chained) == pytest.approx(20 + 15 + 8)
