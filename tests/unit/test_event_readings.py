"""The plain readings of cronlane.events against the pydantic models they stand in for.

The dispatcher's common events (a Scheduled Event, a Scheduler tick, a plain manual trigger) and
the executor's SQS batches are read without pydantic, to keep it out of the cold start. The
contract: the outcome is exactly the models' for every event: the same values (and the same
``model_dump`` of a trigger, which fingerprints it), the same refusal text. Each field of each
valid event file is given, in turn, every value of its pool (valid ones and boundary cases), and
Hypothesis combines several such changes.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cronlane import events
from cronlane.errors import InvalidRequest
from tests.conftest import EVENTS, FIXTURE_APP, load_event
from tests.unit.function_env import FUNCTION_ENV

SETTINGS = settings(
    max_examples=1_000,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class Missing:
    """A change that removes the field."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING = Missing()
Pools = dict[str, list[Any]]


@contextmanager
def models_only() -> Iterator[None]:
    """parse_dispatch_event as it was: every event validated by its pydantic model."""
    with mock.patch.dict(events._PLAIN_READERS, clear=True):
        yield


@contextmanager
def no_models() -> Iterator[None]:
    """Any use of the pydantic models fails the test."""

    def refuse() -> None:
        raise AssertionError("the pydantic models were used")

    with mock.patch.object(events, "_models", refuse):
        yield


def changed(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    event = copy.deepcopy(base)
    for name, value in changes.items():
        if value is MISSING:
            event.pop(name, None)
        else:
            event[name] = copy.deepcopy(value)
    return event


def single_changes(pools: Pools) -> list[tuple[str, Any]]:
    return [(name, value) for name, values in pools.items() for value in values]


def some_changes(pools: Pools) -> st.SearchStrategy[dict[str, Any]]:
    """One to four fields changed, each to a value of its pool."""
    names = st.lists(st.sampled_from(sorted(pools)), min_size=1, max_size=4, unique=True)
    return names.flatmap(lambda chosen: st.fixed_dictionaries({n: st.sampled_from(pools[n]) for n in chosen}))


# ---------------------------------------------------------------------------------------------
# The dispatcher's events
# ---------------------------------------------------------------------------------------------


def outcome(event: Any) -> tuple[str, Any, Any]:
    """(ok|refused, the parsed event or the refusal, the trigger's dump or its error)."""
    try:
        parsed = events.parse_dispatch_event(event)
    except InvalidRequest as exc:
        return "refused", str(exc), None
    dump: Any = None
    if isinstance(parsed, events.ManualTrigger):
        try:
            dump = parsed.model_dump(mode="json", exclude={"idempotency_key"})
        except ValueError as exc:
            dump = f"ValueError: {exc}"
    return "ok", parsed, dump


def assert_read_as_the_model_reads_it(event: Any) -> None:
    plain = outcome(copy.deepcopy(event))
    with models_only():
        modelled = outcome(copy.deepcopy(event))
    assert plain == modelled, event
    if plain[0] == "ok":  # a time: the same instant, in the same offset
        for name, value in vars(plain[1]).items():
            if hasattr(value, "utcoffset"):
                assert value.utcoffset() == getattr(modelled[1], name).utcoffset(), (name, event)


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


TICK = load_event("nightly.json")
SCHEDULER_TICK = load_event("morning.json")
TRIGGER = load_event("manual-trigger.json")

NOT_STRINGS = [None, 0, 1, 1.5, True, False, [], {}, ["hourly"]]
TIMES = [
    "2026-11-28T02:00:00Z",
    "2024-02-29T23:59:59Z",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "2026-02-29T02:00:00Z",  # no such day
    "2026-13-01T02:00:00Z",
    "2026-11-28T24:00:00Z",
    "2026-11-28T23:59:60Z",
    "0000-01-01T00:00:00Z",
    "2026-11-28T02:00:00z",
    "2026-11-28t02:00:00Z",
    "2026-11-28 02:00:00Z",
    "2026-11-28T02:00:00.250Z",
    "2026-11-28T02:00:00+01:00",
    "2026-11-28T02:00:00-00:00",
    "2026-11-28T02:00:00",
    "2026-11-28T02:00Z",
    "2026-11-28",
    "20261128T020000Z",
    "2026-11-28T02:00:00Z\n",
    " 2026-11-28T02:00:00Z",
    "\u0662026-11-28T02:00:00Z",  # an Arabic-Indic digit
    "1795831200",
    "yesterday",
    "",
    "<aws.scheduler.scheduled-time>",
    1795831200,
    1795831200.5,
    *NOT_STRINGS,
    MISSING,
]
ARN = TICK["resources"][0]

TICK_POOLS: Pools = {
    "detail-type": ["Scheduled Event", "scheduled event", "Scheduled Event ", "", *NOT_STRINGS, MISSING],
    "detail_type": ["Scheduled Event", "Other", 1],
    "source": ["aws.events", "aws.event", "", *NOT_STRINGS, MISSING],
    "time": TIMES,
    "resources": [[ARN], [ARN, ARN], [], [""], [1], [ARN, None], (ARN,), ARN, *NOT_STRINGS, MISSING],
    "detail": [{}, None, MISSING],
    "colour": ["red"],
}

SCHEDULE_ARN = SCHEDULER_TICK["schedule_arn"]
SCHEDULER_POOLS: Pools = {
    "source": ["aws.scheduler"],  # another source is another kind of event (TICK_POOLS)
    "schedule_arn": [
        SCHEDULE_ARN,
        SCHEDULE_ARN + "\n",
        "\n" + SCHEDULE_ARN,
        "arn:aws:scheduler:us-east-1:123456789012:schedule/default",
        "arn:aws:scheduler:us-east-1:123456789012:schedule/default/a/b",
        "arn:aws:scheduler:::schedule/g/n",
        "arn::scheduler:us-east-1:1:schedule/g/n",
        "arn:aws:scheduler:us-east-1:1:schedule/g/n\u00e9",
        "<aws.scheduler.schedule-arn>",
        "",
        *NOT_STRINGS,
        MISSING,
    ],
    "scheduled_time": TIMES,
    "execution_id": ["d32c5kddcf5bb8c3", "", "<aws.scheduler.execution-id>", *NOT_STRINGS, MISSING],
    "attempt": [
        "1",
        "2",
        "185",
        "0",
        "-1",
        "01",
        "+1",
        " 1",
        "1 ",
        "1.0",
        "1_0",
        "\u0661",
        "999999999",
        "9999999999",
        "99999999999999999999",
        "",
        "<aws.scheduler.attempt-number>",
        1,
        0,
        -1,
        7,
        2**64,
        True,
        False,
        1.0,
        2.5,
        None,
        [],
        MISSING,
    ],
    "colour": ["red"],
}

PARAMETERS = [
    {},
    {"rank": {}},
    {"rank": {"duration_s": 30}},
    {"rank": {"duration_s": 1.5, "other": "x"}, "geo": {"duration_s": -0.0}},
    {"rank": {"duration_s": True}},
    {"rank": {"duration_s": None}},
    {"rank": {"duration_s": "é\ud800"}},
    {"rank": {"duration_s": 2**80}},
    {"rank": {"duration_s": float("inf")}},
    {"rank": {"duration_s": float("-inf")}},
    {"rank": {"duration_s": float("nan")}},
    {"rank": {"duration_s": [1, {"a": [None, 2.5, "x"]}]}},
    {"rank": {"duration_s": {"a": float("inf")}}},
    {"rank": {"duration_s": (1, 2)}},
    {"rank": {"duration_s": b"x"}},
    {"rank": {"duration_s": {1: 2}}},
    {"rank": {"duration_s": nested(63)}},
    {"rank": {"duration_s": nested(64)}},
    {"rank": {"duration_s": nested(65)}},
    {"rank": {"duration_s": nested(254)}},
    {"rank": {"duration_s": nested(255)}},
    {"rank": {"duration_s": nested(300)}},
    {"rank": {2: 1}},
    {"rank": None},
    {"rank": []},
    {"rank": "x"},
    {1: {}},
    *NOT_STRINGS,
    "x",
    MISSING,
]
NAMES = ["hourly", "rank", "x" * 80, "x" * 81, "é" * 80, "é" * 81, ""]
TRIGGER_POOLS: Pools = {
    "action": ["trigger"],
    "schedule": [*NAMES, *NOT_STRINGS, MISSING],
    "jobs": [
        ["rank"],
        ["rank", "rank"],
        [],
        ["x" * 80],
        ["x" * 81],
        [""],
        [1],
        ["rank", None],
        ("rank",),
        "rank",
        ["rank"] * 10_000,
        ["rank"] * 10_001,
        *NOT_STRINGS,
        MISSING,
    ],
    "parameters": PARAMETERS,
    "idempotency_key": ["manual-example-1", "", "bad key", "x" * 200, *NOT_STRINGS, MISSING],
    "scheduled_time": TIMES,
    "colour": ["red"],
}


def test_the_event_files_are_read_without_the_models() -> None:
    with no_models():
        for name in ("nightly.json", "hourly.json", "morning.json"):
            assert not isinstance(events.parse_dispatch_event(load_event(name)), events.ManualTrigger)
        trigger = events.parse_dispatch_event(load_event("manual-trigger.json"))
        assert isinstance(trigger, events.ManualTrigger)
        assert trigger.model_dump(mode="json", exclude={"idempotency_key"}) == {
            "action": "trigger",
            "schedule": "hourly",
            "jobs": None,
            "parameters": {"rank": {"duration_s": 30}},
            "scheduled_time": None,
        }
        check_sqs_event(load_event("executor-sqs-batch.json"))


def test_the_event_files_read_as_the_models_read_them() -> None:
    for name in (
        "nightly.json",
        "hourly.json",
        "morning.json",
        "manual-trigger.json",
        "replay-dlq.json",
    ):
        assert_read_as_the_model_reads_it(load_event(name))


@pytest.mark.parametrize(
    ("base", "pools"),
    [(TICK, TICK_POOLS), (SCHEDULER_TICK, SCHEDULER_POOLS), (TRIGGER, TRIGGER_POOLS)],
    ids=["scheduled event", "scheduler tick", "manual trigger"],
)
def test_each_single_change_reads_as_the_model_reads_it(base: dict[str, Any], pools: Pools) -> None:
    for name, value in single_changes(pools):
        assert_read_as_the_model_reads_it(changed(base, {name: value}))


@SETTINGS
@given(changes=some_changes(TICK_POOLS))
def test_a_changed_scheduled_event_reads_as_its_model_reads_it(changes: dict[str, Any]) -> None:
    assert_read_as_the_model_reads_it(changed(TICK, changes))


@SETTINGS
@given(changes=some_changes(SCHEDULER_POOLS))
def test_a_changed_scheduler_tick_reads_as_its_model_reads_it(changes: dict[str, Any]) -> None:
    assert_read_as_the_model_reads_it(changed(SCHEDULER_TICK, changes))


@SETTINGS
@given(changes=some_changes(TRIGGER_POOLS))
def test_a_changed_manual_trigger_reads_as_its_model_reads_it(changes: dict[str, Any]) -> None:
    assert_read_as_the_model_reads_it(changed(TRIGGER, changes))


@SETTINGS
@given(
    event=st.fixed_dictionaries(
        {"action": st.sampled_from(["cancel", "rerun", "mark", "pause", "resume", "dlq-list", "backfill"])},
        optional={
            "run_id": st.sampled_from([*NAMES, *NOT_STRINGS]),
            "schedule": st.sampled_from([*NAMES, *NOT_STRINGS]),
            "job": st.sampled_from([*NAMES, *NOT_STRINGS]),
            "failed_only": st.sampled_from([True, "yes", 1, 2, None]),
            "limit": st.sampled_from([1, 1000, 1001, "5", 5.0, None]),
            "from": st.sampled_from(TIMES[:16]),
            "to": st.sampled_from(TIMES[:16]),
        },
    )
)
def test_the_other_actions_read_as_their_models_read_them(event: dict[str, Any]) -> None:
    assert_read_as_the_model_reads_it(event)


# ---------------------------------------------------------------------------------------------
# The executor's SQS batch
# ---------------------------------------------------------------------------------------------


def check_sqs_event(event: Any) -> str | None:
    try:
        events.check_sqs_event(event)
    except InvalidRequest as exc:
        return str(exc)
    return None


def sqs_model_says(event: Any) -> str | None:
    """What Powertools Parser's SqsModel says of the event (None: valid), as the executor used
    to ask it."""
    from aws_lambda_powertools.utilities.parser import ValidationError, parse
    from aws_lambda_powertools.utilities.parser.models import SqsModel

    try:
        parse(event=event, model=SqsModel)
    except ValidationError as exc:
        return events.describe_validation_error("SQS event", exc)
    return None


BATCH = load_event("executor-sqs-batch.json")
RECORD = BATCH["Records"][0]
TEXTS = ["x", "", *NOT_STRINGS, MISSING]
RECORD_POOLS: Pools = {
    **dict.fromkeys(
        ("messageId", "receiptHandle", "body", "md5OfBody", "eventSourceARN", "awsRegion"), TEXTS
    ),
    "eventSource": ["aws:sqs", "aws:sns", "", *NOT_STRINGS, MISSING],
    "md5OfMessageAttributes": ["abc", "", *NOT_STRINGS, MISSING],
    "messageAttributes": [
        {},
        {"a": {"dataType": "String", "stringValue": "x"}},
        {"a": {"dataType": "Binary", "binaryValue": "eA=="}},
        {"a": {"dataType": "String", "stringValue": None, "binaryValue": None}},
        {"a": {"dataType": "String", "stringListValues": ["x"], "binaryListValues": []}},
        {"a": {"dataType": "String"}, "b": {"dataType": "Number", "stringValue": "1"}},
        {"a": {}},
        {"a": {"dataType": 1}},
        {"a": {"dataType": "String", "stringValue": 1}},
        {"a": {"dataType": "String", "stringListValues": None}},
        {"a": {"dataType": "String", "stringListValues": [1]}},
        {"a": {"dataType": "String", "binaryListValues": ("x",)}},
        {"a": "x"},
        {1: {"dataType": "String"}},
        *NOT_STRINGS,
        MISSING,
    ],
    "attributes": [{}, None, [], "x", MISSING],
}
TIMESTAMPS = [
    "1795834800000",
    "0",
    "1",
    "99999999999999",
    "253402300799999",
    "999999999999999",
    "00000000000000000001",
    "",
    "12a",
    " 1",
    "1 ",
    "-1",
    "+1",
    "1.5",
    "\u0661",
    "2026-11-28T02:00:00Z",
    1795834800000,
    1.5,
    *NOT_STRINGS,
    MISSING,
]
ATTRIBUTE_POOLS: Pools = {
    "ApproximateReceiveCount": TEXTS,
    "SenderId": TEXTS,
    "ApproximateFirstReceiveTimestamp": TIMESTAMPS,
    "SentTimestamp": TIMESTAMPS,
    **dict.fromkeys(
        (
            "MessageGroupId",
            "MessageDeduplicationId",
            "SequenceNumber",
            "AWSTraceHeader",
            "DeadLetterQueueSourceArn",
        ),
        TEXTS,
    ),
}


def sqs_record(changes: dict[str, Any], attribute_changes: dict[str, Any]) -> dict[str, Any]:
    record = changed(RECORD, changes)
    if attribute_changes and isinstance(record.get("attributes"), dict):
        record["attributes"] = changed(record["attributes"], attribute_changes)
    return record


def assert_checked_as_the_sqs_model_checks_it(event: Any) -> None:
    assert check_sqs_event(copy.deepcopy(event)) == sqs_model_says(copy.deepcopy(event)), event


def test_each_single_change_of_an_sqs_record_is_checked_as_the_sqs_model_checks_it() -> None:
    for name, value in single_changes(RECORD_POOLS):
        assert_checked_as_the_sqs_model_checks_it({"Records": [sqs_record({name: value}, {})]})
    for name, value in single_changes(ATTRIBUTE_POOLS):
        assert_checked_as_the_sqs_model_checks_it({"Records": [RECORD, sqs_record({}, {name: value})]})
    for event in ({}, {"Records": []}, {"Records": None}, {"Records": "x"}, {"Records": {}}, {"records": []}):
        assert_checked_as_the_sqs_model_checks_it(event)
    for record in (None, "x", [], 1):
        assert_checked_as_the_sqs_model_checks_it({"Records": [RECORD, record]})


@SETTINGS
@given(
    records=st.lists(
        st.tuples(some_changes(RECORD_POOLS) | st.just({}), some_changes(ATTRIBUTE_POOLS) | st.just({})),
        min_size=1,
        max_size=3,
    )
)
def test_a_changed_sqs_batch_is_checked_as_the_sqs_model_checks_it(
    records: list[tuple[dict[str, Any], dict[str, Any]]],
) -> None:
    assert_checked_as_the_sqs_model_checks_it({"Records": [sqs_record(c, a) for c, a in records]})


def test_an_sqs_event_that_is_not_an_object_with_a_list_is_refused() -> None:
    # SqsModel also takes the event as JSON text, and a tuple of records: the executor does not
    assert check_sqs_event({"Records": (RECORD,)}) == (
        "invalid SQS event: field 'Records': the event must be an object with a list"
    )
    assert check_sqs_event(json.dumps(BATCH)) is not None
    refused = check_sqs_event({"Records": [{"body": "{}"}]})
    assert refused is not None
    assert refused.startswith("invalid SQS event: field 'Records.0.messageId': Field required")


# ---------------------------------------------------------------------------------------------
# What a cold start imports
# ---------------------------------------------------------------------------------------------

NOT_IN_A_COLD_START = [
    "pydantic",
    "aws_xray_sdk",
    "boto3",
    "asyncio",
    "aws_lambda_powertools.utilities.parser",
    "aws_lambda_powertools.utilities.batch",
]


@pytest.mark.parametrize(
    ("function", "event_file", "also_not"),
    [
        ("dispatcher", "manual-trigger.json", []),
        ("dispatcher", "nightly.json", []),
        ("dispatcher", "morning.json", []),
        ("executor", "executor-sqs-batch.json", ["cronlane.dispatch"]),
    ],
)
def test_a_cold_start_loads_neither_pydantic_nor_the_xray_sdk(
    function: str, event_file: str, also_not: list[str]
) -> None:
    """The handler module imported as Lambda imports it, with the template's default
    (POWERTOOLS_TRACE_DISABLED=true), and its event read as the handler reads it: none of the
    heavy modules is loaded (nor, in the executor, the dispatcher's side of the layer)."""
    modules = NOT_IN_A_COLD_START + also_not
    code = f"""
import json, sys
sys.path[:0] = [{str(FIXTURE_APP / "src")!r}]
import cronlane.handlers.{function}
imported = sorted(m for m in {modules!r} if m in sys.modules)
from cronlane import events
event = json.loads(open({str(EVENTS / event_file)!r}).read())
if {function!r} == "dispatcher":
    events.parse_dispatch_event(event)
else:
    events.check_sqs_event(event)
read = sorted(m for m in {NOT_IN_A_COLD_START!r} if m in sys.modules)
print(json.dumps([imported, read]))
"""
    env = {**os.environ, **FUNCTION_ENV, "AWS_LAMBDA_FUNCTION_NAME": f"cronlane-{function}"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [[], []]
