"""Hypothesis-generated malformed events for the dispatcher and the executor.

The contract (issue: "no exception escapes except the designed batch-item failures, and the good
records in the same batch still succeed"):

- the dispatcher answers every malformed event, tick or request, with ``{"error": ...}`` naming
  the problem, and creates, enqueues and pauses nothing for it;
- the executor's handler dead-letters every poison record of an SQS batch (with an ``error``
  message attribute naming the problem) instead of reporting it failed, and the good record in
  the same batch runs to SUCCEEDED.

Each example is handled in this process (a Lambda environment per invocation would make 1,000
examples take minutes), against the stack of ``template.yaml`` on the moto server, with the
functions' own environment variables, and with the event source mapping off so that nothing
else consumes the queues.
"""

from __future__ import annotations

import contextlib
import importlib
import itertools
import json
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from cronlane import clock as clock_module
from cronlane.dispatch import Dispatcher
from cronlane.events import ACTIONS
from cronlane.inprocess import VirtualClock
from cronlane.local.session import store_of
from cronlane.local.stack import REGION, client_env
from cronlane.model import JobMessage, JobStatus, RunStatus
from cronlane.settings import Settings, load_catalog
from cronlane.wiring import build_dispatcher
from tests.conftest import START

pytestmark = pytest.mark.stack

EXAMPLES = 1_000
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # the same examples on every run: a failure can be re-run and quoted
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)

CATALOG = load_catalog("fixture_jobs.catalog")
SCHEDULES = sorted(CATALOG.schedules)
JOBS = sorted(CATALOG.jobs)
ROOT_JOBS = sorted(name for name, job in CATALOG.jobs.items() if not job.depends_on)
NON_ROOT_JOBS = sorted(set(JOBS) - set(ROOT_JOBS))
RULE_ARN = "arn:aws:events:us-east-1:123456789012:rule/"


# ---------------------------------------------------------------------------------------------
# In-process Lambda plumbing
# ---------------------------------------------------------------------------------------------


class FakeLambdaContext:
    """What Lambda passes as ``context``; the remaining time follows the virtual clock."""

    def __init__(self, function_name: str, clock: VirtualClock, timeout_s: int) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:{function_name}"
        self.memory_limit_in_mb = 512
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "fuzz"
        self._clock = clock
        self._deadline = clock.now() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - self._clock.now()) * 1000))


@dataclass
class InProcess:
    """The stack, and the functions' environment set in this process."""

    runtime: Any
    clock: VirtualClock
    log: Any  # the file the handlers' stdout (JSON logs, EMF metrics) goes to
    sqs: Any = field(repr=False)
    dynamodb: Any = field(repr=False)

    def function_env(self, logical_id: str) -> dict[str, str]:
        info = self.runtime.stack.functions[logical_id]
        return {
            **{key: str(value) for key, value in info.environment.items()},
            **client_env(self.runtime.stack.endpoint),
            "AWS_LAMBDA_FUNCTION_NAME": info.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(info.memory_mb),
            "_HANDLER": info.handler,
            "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon here
        }

    def dispatcher(self, monkeypatch: pytest.MonkeyPatch) -> Dispatcher:
        env = self.function_env("DispatcherFunction")
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        return build_dispatcher(Settings.from_env(env), self.clock)

    def count_runs(self) -> int:
        """Every run item in the table (a malformed event must not make one)."""
        count = 0
        pages = self.dynamodb.get_paginator("scan").paginate(
            TableName=self.runtime.stack.outputs["TableName"],
            FilterExpression="sk = :run",
            ExpressionAttributeValues={":run": {"S": "RUN"}},
            Select="COUNT",
        )
        for page in pages:
            count += page["Count"]
        return count

    def delete_run(self, run_id: str) -> None:
        """Forget a finished run, so that the table stays the size of a few runs however many
        examples run (moto's requests get slower as it grows)."""
        table = self.runtime.stack.outputs["TableName"]
        items = self.dynamodb.query(
            TableName=table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"RUN#{run_id}"}},
            ProjectionExpression="pk, sk",
        )["Items"]
        for start in range(0, len(items), 25):
            self.dynamodb.batch_write_item(
                RequestItems={table: [{"DeleteRequest": {"Key": item}} for item in items[start : start + 25]]}
            )

    def drain(self, output: str) -> None:
        """Delete what a queue hands out now: the job messages the pool's runs sent, which nothing
        reads here (moto's FIFO deduplication scans the queue, so a growing one slows sends)."""
        url = self.runtime.stack.outputs[output]
        messages = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
            "Messages", []
        )
        if messages:
            self.sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
            )

    def queue_depth(self, output: str) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.runtime.stack.outputs[output],
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )


@pytest.fixture
def in_process(runtime: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[InProcess]:
    runtime.mappings_enabled = False  # nothing but the test consumes the job queue
    clock = VirtualClock(START)
    monkeypatch.setattr(clock_module, "_default", clock)  # what the handlers' wiring picks up
    endpoint = runtime.stack.endpoint
    with (tmp_path / "handlers.log").open("w") as log:
        yield InProcess(
            runtime=runtime,
            clock=clock,
            log=log,
            sqs=boto3.client("sqs", endpoint_url=endpoint, region_name=REGION),
            dynamodb=boto3.client("dynamodb", endpoint_url=endpoint, region_name=REGION),
        )


@contextlib.contextmanager
def executor_handler(
    env: InProcess, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[dict[str, Any], Any], Any]]:
    """``functions/executor/app.py`` imported fresh with the executor's environment (its cold
    start), its logger bound to the log file; forgotten again afterwards."""
    import logging

    for key, value in env.function_env("ExecutorFunction").items():
        monkeypatch.setenv(key, value)
    name = "cronlane.handlers.executor"
    sys.modules.pop(name, None)
    with contextlib.redirect_stdout(env.log):
        module = importlib.import_module(name)
    try:
        yield module.lambda_handler
    finally:
        sys.modules.pop(name, None)
        # Powertools configures the service's logger once per process: undo it, so that a later
        # import does not write to this test's (closed) log file.
        std = logging.getLogger("cronlane-executor")
        for handler in list(std.handlers):
            std.removeHandler(handler)
        for attr in ("init", "powertools_handler"):
            if hasattr(std, attr):
                delattr(std, attr)


# ---------------------------------------------------------------------------------------------
# Strategies: building blocks
# ---------------------------------------------------------------------------------------------

# What an SQS message body can hold (#x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD |
# #x10000-#x10FFFF): a record never carries anything else.
SQS_CHARS = st.characters(
    exclude_categories=("Cs", "Cc"),
    include_characters="\t\n\r" + "".join(chr(c) for c in range(0x7F, 0xA0)),
    exclude_characters="\ufffe\uffff",
)
TEXT = st.text(SQS_CHARS, max_size=40)
NAME = st.text(SQS_CHARS, min_size=1, max_size=40)
JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT
JSON = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)
NOT_STR = JSON.filter(lambda v: not isinstance(v, str))
NOT_LIST = JSON.filter(lambda v: not isinstance(v, list))
NOT_DICT = JSON.filter(lambda v: not isinstance(v, dict))

_DATETIME = TypeAdapter(datetime)


def nested(depth: int) -> Any:
    """A value ``depth`` lists deep."""
    value: Any = 1.0
    for _ in range(depth):
        value = [value]
    return value


def not_in(names: Collection[str]) -> Callable[[str], bool]:
    return lambda name: name not in names


def not_a_datetime(value: Any) -> bool:
    try:
        _DATETIME.validate_python(value)
    except ValidationError:
        return True
    return False


def not_a_float(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return True
    try:
        float(value)
    except ValueError:
        return True
    return False


@dataclass(frozen=True)
class Bad:
    """A malformed dispatcher event and the words its refusal must contain (any of them)."""

    kind: str
    event: Any
    named: tuple[str, ...]


# ---------------------------------------------------------------------------------------------
# Strategies: dispatcher events
# ---------------------------------------------------------------------------------------------


def non_dicts() -> st.SearchStrategy[Bad]:
    return NOT_DICT.map(lambda v: Bad("not an object", v, ("event must be a JSON object",)))


def random_dicts() -> st.SearchStrategy[Bad]:
    keys = TEXT.filter(lambda k: k not in ("action", "detail-type", "source"))
    return st.dictionaries(keys, JSON, max_size=6).map(
        lambda d: Bad("random object", d, ("neither an EventBridge Scheduled Event",))
    )


@st.composite
def tick_lookalikes(draw: st.DrawFn, good_tick: dict[str, Any], rule_prefix: str) -> Bad:
    """A Scheduled Event of this stack with one to three things wrong."""
    event = dict(good_tick)
    named: list[str] = []
    mutations = draw(
        st.lists(
            st.sampled_from(
                [
                    "detail-type",
                    "source",
                    "time",
                    "no time",
                    "no detail-type",
                    "resources",
                    "no resources",
                    "other stack",
                    "unknown schedule",
                ]
            ),
            min_size=1,
            max_size=3,
            unique=True,
        )
    )
    for mutation in mutations:
        if mutation == "detail-type":
            event["detail-type"] = draw(JSON.filter(lambda v: v != "Scheduled Event"))
            named.append("detail-type")
        elif mutation == "no detail-type":
            event.pop("detail-type", None)
            named.append("detail-type")
        elif mutation == "source":
            event["source"] = draw(JSON.filter(lambda v: v != "aws.events"))
            named.append("source")
        elif mutation == "time":
            event["time"] = draw(JSON.filter(not_a_datetime))
            named.append("time")
        elif mutation == "no time":
            event.pop("time", None)
            named.append("time")
        elif mutation == "resources":
            event["resources"] = draw(st.just([]) | NOT_LIST | st.lists(NOT_STR, min_size=1, max_size=3))
            named.append("resources")
        elif mutation == "no resources":
            event.pop("resources", None)
            named.append("resources")
        elif mutation == "other stack":
            rule = draw(NAME.filter(lambda n: not n.startswith(rule_prefix) and "/" not in n))
            event["resources"] = [RULE_ARN + rule]
            named.append("does not belong")
        else:
            schedule = draw(NAME.filter(lambda n: n not in SCHEDULES and "/" not in n))
            event["resources"] = [RULE_ARN + rule_prefix + schedule]
            named.append("unknown schedule")
    return Bad("tick look-alike", event, tuple(named))


@st.composite
def bad_manual_triggers(draw: st.DrawFn) -> Bad:
    """A manual trigger with one to three things wrong."""
    event: dict[str, Any] = {"action": "trigger"}
    if draw(st.booleans()):
        event["schedule"] = draw(st.sampled_from(SCHEDULES))
    else:
        event["jobs"] = draw(st.lists(st.sampled_from(JOBS), min_size=1, max_size=3, unique=True))
    if draw(st.booleans()):  # a well-formed key: a malformed trigger must not claim it
        event["idempotency_key"] = "fuzz-bad-" + draw(st.from_regex(r"[A-Za-z0-9._-]{1,20}", fullmatch=True))
    named: list[str] = []
    mutations = draw(
        st.lists(
            st.sampled_from(
                [
                    "unknown job",
                    "unknown schedule",
                    "schedule type",
                    "jobs type",
                    "empty jobs",
                    "nothing named",
                    "parameters type",
                    "unknown parameter",
                    "parameter value",
                    "parameters of a job outside the run",
                    "deep parameter",
                    "key",
                    "naive time",
                    "bad time",
                    "extra field",
                ]
            ),
            min_size=1,
            max_size=3,
            unique=True,
        )
    )
    for mutation in mutations:
        if mutation == "unknown job":
            unknown = draw(NAME.filter(lambda n: n not in CATALOG.jobs))
            event["jobs"] = (
                [*event.get("jobs", []), unknown] if isinstance(event.get("jobs"), list) else [unknown]
            )
            named.append("unknown job")
        elif mutation == "unknown schedule":
            event["schedule"] = draw(NAME.filter(lambda n: n not in SCHEDULES))
            named.append("unknown schedule")
        elif mutation == "schedule type":
            event["schedule"] = draw(NOT_STR.filter(lambda v: v is not None))
            named.append("schedule")
        elif mutation == "jobs type":
            event["jobs"] = draw(
                NOT_LIST.filter(lambda v: v is not None) | st.lists(NOT_STR, min_size=1, max_size=3)
            )
            named.append("jobs")
        elif mutation == "empty jobs":
            event["jobs"] = []
            named.append("jobs")
        elif mutation == "nothing named":
            event.pop("schedule", None)
            event.pop("jobs", None)
            named.append("names a 'schedule' or a list of 'jobs'")
        elif mutation == "parameters type":
            event["parameters"] = draw(
                NOT_DICT.filter(lambda v: v is not None)
                | st.dictionaries(NAME, NOT_DICT, min_size=1, max_size=2)
            )
            named.append("parameters")
        elif mutation == "unknown parameter":
            job = draw(st.sampled_from(JOBS))
            param = draw(NAME.filter(not_in(CATALOG.jobs[job].params)))
            event["parameters"] = {job: {param: draw(JSON)}}
            named.extend(("has no parameter", "not in this run"))
        elif mutation == "parameter value":
            job = draw(st.sampled_from(JOBS))
            event["parameters"] = {job: {"duration_s": draw(JSON.filter(not_a_float))}}
            named.extend(("must be float", "not in this run"))
        elif mutation == "parameters of a job outside the run":
            outsider = draw(NAME.filter(lambda n: n not in CATALOG.jobs))
            event["parameters"] = {outsider: {}}
            named.append("not in this run")
        elif mutation == "deep parameter":  # pydantic cannot serialise it (255+ levels)
            job = draw(st.sampled_from(JOBS))
            event["parameters"] = {job: {"duration_s": nested(draw(st.integers(300, 2_000)))}}
            named.append("parameters")
        elif mutation == "key":
            event["idempotency_key"] = draw(
                st.one_of(
                    st.just(""),
                    st.from_regex(r"[A-Za-z0-9._-]{1,20}", fullmatch=True).map(lambda k: k + "\n"),
                    st.text(SQS_CHARS, min_size=81, max_size=120),
                    st.text(SQS_CHARS, min_size=1, max_size=30).filter(
                        lambda k: any(not (c.isascii() and (c.isalnum() or c in "._-")) for c in k)
                    ),
                    NOT_STR.filter(lambda v: v is not None),
                )
            )
            named.append("idempotency_key")
        elif mutation == "naive time":
            naive = draw(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)))
            event["scheduled_time"] = naive.isoformat()
            named.append("time zone")
        elif mutation == "bad time":
            event["scheduled_time"] = draw(JSON.filter(lambda v: v is not None and not_a_datetime(v)))
            named.append("scheduled_time")
        else:
            extra = draw(
                NAME.filter(
                    lambda n: (
                        n
                        not in (
                            "action",
                            "schedule",
                            "jobs",
                            "parameters",
                            "idempotency_key",
                            "scheduled_time",
                        )
                    )
                )
            )
            event[extra] = draw(JSON)
            named.append(extra)
    return Bad("manual trigger", event, tuple(named))


def unknown_actions() -> st.SearchStrategy[Bad]:
    actions = JSON.filter(lambda a: not isinstance(a, str) or a not in ACTIONS)
    return st.builds(
        lambda action, rest: Bad("unknown action", {**rest, "action": action}, ("field 'action'",)),
        actions,
        st.dictionaries(TEXT, JSON, max_size=3),
    )


@st.composite
def bad_run_actions(draw: st.DrawFn, existing_run: str) -> Bad:
    action = draw(st.sampled_from(["cancel", "rerun", "mark"]))
    case = draw(
        st.sampled_from(
            ["unknown run", "empty run id", "run id type", "extra field", "failed_only", "job type"]
        )
        if action != "mark"
        else st.sampled_from(
            ["unknown run", "empty run id", "run id type", "extra field", "no job", "unknown job"]
        )
    )
    event: dict[str, Any] = {"action": action, "run_id": existing_run}
    if action == "mark":
        event["job"] = ROOT_JOBS[0]
    named: tuple[str, ...]
    if case == "unknown run":
        run_id = draw(NAME.filter(lambda n: n != existing_run))
        event["run_id"] = run_id
        named = (f"no run {run_id}",)
    elif case == "empty run id":
        event["run_id"] = ""
        named = ("run_id",)
    elif case == "run id type":
        event["run_id"] = draw(NOT_STR)
        named = ("run_id",)
    elif case == "extra field":
        extra = draw(NAME.filter(lambda n: n not in ("action", "run_id", "failed_only", "job")))
        event[extra] = draw(JSON)
        named = (extra,)
    elif case == "failed_only":
        event["failed_only"] = draw(st.lists(JSON, max_size=2) | st.dictionaries(TEXT, JSON, max_size=2))
        named = ("failed_only",)
    elif case == "job type":  # cancel/rerun with a job that is not a string
        event["job"] = draw(NOT_STR.filter(lambda v: v is not None))
        named = ("job",)
    elif case == "no job":
        event.pop("job")
        named = ("field 'job'",)
    else:
        job = draw(NAME.filter(lambda n: n not in ROOT_JOBS))
        event["job"] = job
        named = ("has no job",)
    return Bad(f"{action} action", event, named)


@st.composite
def bad_schedule_actions(draw: st.DrawFn) -> Bad:
    action = draw(st.sampled_from(["pause", "resume"]))
    case = draw(
        st.sampled_from(["unknown schedule", "empty schedule", "schedule type", "long reason", "extra"])
    )
    event: dict[str, Any] = {"action": action, "schedule": draw(st.sampled_from(SCHEDULES))}
    named: tuple[str, ...]
    if case == "unknown schedule":
        event["schedule"] = draw(NAME.filter(lambda n: n not in SCHEDULES))
        named = ("unknown schedule",)
    elif case == "empty schedule":
        event["schedule"] = ""
        named = ("schedule",)
    elif case == "schedule type":
        event["schedule"] = draw(NOT_STR)
        named = ("schedule",)
    elif case == "long reason":
        event["reason"] = draw(st.text(SQS_CHARS, min_size=501, max_size=600))
        named = ("reason",)
    else:
        extra = draw(NAME.filter(lambda n: n not in ("action", "schedule", "reason")))
        event[extra] = draw(JSON)
        named = (extra,)
    return Bad(f"{action} action", event, named)


@st.composite
def bad_dlq_actions(draw: st.DrawFn) -> Bad:
    action = draw(st.sampled_from(["dlq-list", "dlq-replay"]))
    event: dict[str, Any] = {"action": action}
    if draw(st.booleans()):
        event["limit"] = draw(st.integers(max_value=0) | st.integers(min_value=1001))
        named: tuple[str, ...] = ("limit",)
    else:
        extra = draw(NAME.filter(lambda n: n not in ("action", "run_id", "job", "all", "dry_run", "limit")))
        event[extra] = draw(JSON)
        named = (extra,)
    return Bad(f"{action} action", event, named)


# ---------------------------------------------------------------------------------------------
# The dispatcher
# ---------------------------------------------------------------------------------------------


def test_malformed_dispatcher_events_are_answered_with_an_error_and_change_nothing(
    in_process: InProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = in_process
    dispatcher = env.dispatcher(monkeypatch)
    store = store_of(env.runtime)
    good_keys = itertools.count(1)
    enqueued = 0

    def good_trigger() -> str:
        """A valid request between the malformed ones: it still makes its run."""
        nonlocal enqueued
        key = f"fuzz-good-{next(good_keys)}"
        with contextlib.redirect_stdout(env.log):
            result = dispatcher.handle({"action": "trigger", "jobs": ["freshness"], "idempotency_key": key})
        assert result == {
            "run_id": f"manual@{key}",
            "status": "RUNNING",
            "created": True,
            "job_count": 1,
            "enqueued": 1,
        }, result
        enqueued += 1
        return str(result["run_id"])

    existing_run = good_trigger()
    good_tick = env.runtime.scheduled_event("nightly", START)
    prefix = env.function_env("DispatcherFunction")["RULE_PREFIX"]
    runs_before = env.count_runs()
    depth_before = env.queue_depth("JobQueueUrl")
    good_runs = 0
    kinds: Counter[str] = Counter()
    rejected = 0

    events = st.one_of(
        non_dicts(),
        random_dicts(),
        tick_lookalikes(good_tick, prefix),
        tick_lookalikes(good_tick, prefix),  # ticks are the ones that used to raise: twice the weight
        bad_manual_triggers(),
        bad_manual_triggers(),
        unknown_actions(),
        bad_run_actions(existing_run),
        bad_schedule_actions(),
        bad_dlq_actions(),
    )

    @FUZZ_SETTINGS
    @given(bad=events)
    def fuzz(bad: Bad) -> None:
        nonlocal rejected, good_runs
        kinds[bad.kind] += 1
        with contextlib.redirect_stdout(env.log):
            result = dispatcher.handle(bad.event)  # must not raise
        assert isinstance(result, dict) and set(result) == {"error"}, (bad, result)
        error = result["error"]
        assert isinstance(error, str) and error.strip(), (bad, result)
        assert any(word in error for word in bad.named), (bad.named, error, bad.event)
        rejected += 1
        if sum(kinds.values()) % 100 == 0:
            good_trigger()
            good_runs += 1

    started = time.perf_counter()
    fuzz()
    elapsed = time.perf_counter() - started
    examples = sum(kinds.values())

    # the malformed events made no run, enqueued nothing, paused nothing
    assert env.count_runs() == runs_before + good_runs
    assert env.queue_depth("JobQueueUrl") == depth_before + good_runs
    assert all(store.paused_reason(s) is None for s in SCHEDULES)
    assert enqueued == good_runs + 1
    # and a good tick after all that still makes its run
    tick = env.runtime.scheduled_event("hourly", START)
    with contextlib.redirect_stdout(env.log):
        result = dispatcher.handle(tick)
    assert result["created"] is True and result["status"] == "RUNNING", result
    run = store.get_run("hourly@2026-11-28T02:00:00Z")
    assert run is not None and run.status is RunStatus.RUNNING and run.job_count == 6

    print(
        f"\nfuzz: dispatcher events={examples} rejected={rejected} good runs in between={good_runs} "
        f"({elapsed:.1f}s) by kind: {dict(sorted(kinds.items()))}"
    )
    assert examples >= EXAMPLES and rejected == examples


# ---------------------------------------------------------------------------------------------
# Strategies: executor records
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Poison:
    """A poison message body, and how its dead letter's ``error`` attribute must begin."""

    kind: str
    body: str
    error: str


def _well_formed_fields() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"run_id": NAME, "job": NAME}, optional={"generation": st.integers(min_value=0, max_value=10)}
    )


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def not_json() -> st.SearchStrategy[Poison]:
    texts = st.text(SQS_CHARS, max_size=200) | st.sampled_from(
        ["", "{", "{not json", '{"run_id": "x", "job": ', "[1, 2", "None", "undefined", "'x'"]
    )
    return texts.filter(lambda t: not _is_json(t)).map(
        lambda t: Poison("not JSON", t, "malformed: message body is not JSON")
    )


def not_an_object() -> st.SearchStrategy[Poison]:
    values = NOT_DICT | st.sampled_from([float("nan"), float("inf"), -float("inf")])
    return values.map(
        lambda v: Poison(
            "JSON, not an object", json.dumps(v), "malformed: message body must be a JSON object"
        )
    )


@st.composite
def bad_fields(draw: st.DrawFn) -> Poison:
    """An object with exactly one of run_id, job, generation wrong (they are checked in that
    order, so the others are kept well-formed)."""
    data = draw(_well_formed_fields())
    which = draw(st.sampled_from(["run_id", "job", "generation"]))
    if which == "generation":
        data["generation"] = draw(
            st.integers(max_value=-1)
            | st.booleans()
            | st.floats(allow_nan=False)
            | TEXT
            | st.none()
            | st.lists(JSON_SCALARS, max_size=2)
        )
        expected = "malformed: message body: 'generation' must be a non-negative integer"
    else:
        if draw(st.booleans()):
            data.pop(which)
        else:
            data[which] = draw(st.just("") | NOT_STR)
        expected = f"malformed: message body: '{which}' must be a non-empty string"
    if draw(st.booleans()):
        data.update(draw(st.dictionaries(TEXT.filter(lambda k: k not in data), JSON, max_size=2)))
    return Poison(f"bad {which}", json.dumps(data, ensure_ascii=draw(st.booleans())), expected)


@st.composite
def unknown_runs(draw: st.DrawFn) -> Poison:
    run_id = draw(NAME.filter(lambda n: not n.startswith("manual@fuzz-exec-")))
    job = draw(st.sampled_from(JOBS) | NAME)
    data: dict[str, Any] = {"run_id": run_id, "job": job}
    if draw(st.booleans()):
        data["generation"] = draw(st.integers(min_value=0, max_value=2**53))
    return Poison(
        "unknown run", json.dumps(data, ensure_ascii=draw(st.booleans())), f"unknown run: no run {run_id}"
    )


@st.composite
def unknown_jobs(draw: st.DrawFn, existing_run: str) -> Poison:
    job = draw(st.sampled_from(NON_ROOT_JOBS) | NAME.filter(lambda n: n not in ROOT_JOBS))
    body = json.dumps({"run_id": existing_run, "job": job, "generation": draw(st.integers(0, 3))})
    return Poison("unknown job", body, f"unknown job: run {existing_run} has no job '{job}'")


@st.composite
def huge_bodies(draw: st.DrawFn) -> Poison:
    size = draw(st.integers(min_value=20_000, max_value=200_000))
    filler = draw(st.sampled_from(["x", "é", "\u4e2d", "\U0001f600", " "]))
    filler_text = filler * (size // len(filler.encode()))
    shape = draw(st.sampled_from(["text", "object", "array", "deep"]))
    if shape == "deep":  # json.loads gives up (RecursionError) from about 10,000 levels
        if draw(st.booleans()):
            depth = draw(st.integers(min_value=10_000, max_value=100_000))
            body = "[" * depth + "]" * depth
        else:  # 11 bytes a level: at most about 220 KB (an SQS message is at most 1 MiB)
            depth = draw(st.integers(min_value=10_000, max_value=20_000))
            body = '{"run_id":' * depth + '"x"' + "}" * depth
        return Poison("huge, nested too deep", body, "malformed: message body is not JSON")
    if shape == "text":
        return Poison("huge, not JSON", "{" + filler_text, "malformed: message body is not JSON")
    if shape == "array":
        return Poison(
            "huge, not an object",
            json.dumps([filler_text], ensure_ascii=False),
            "malformed: message body must be a JSON object",
        )
    run_id = f"fuzz-huge-{draw(st.integers(0, 10**6))}"
    body = json.dumps({"run_id": run_id, "job": "freshness", "padding": filler_text}, ensure_ascii=False)
    return Poison("huge, unknown run", body, f"unknown run: no run {run_id}")


def sqs_record(message_id: str, body: str, group: str, queue_arn: str) -> dict[str, Any]:
    """A record shaped like events/executor-sqs-batch.json."""
    return {
        "messageId": message_id,
        "receiptHandle": f"AQEB-fuzz-{message_id}",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": str(int(START * 1000)),
            "SenderId": "AIDAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": str(int(START * 1000) + 1),
            "SequenceNumber": "18880000000000000001",
            "MessageGroupId": group,
            "MessageDeduplicationId": message_id,
        },
        "messageAttributes": {},
        "md5OfBody": "0d5e4ab2c7b4fbc2e3f0a9b1c2d3e4f5",
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


# ---------------------------------------------------------------------------------------------
# The executor
# ---------------------------------------------------------------------------------------------


def test_poison_records_are_dead_lettered_and_the_good_record_in_the_batch_succeeds(
    in_process: InProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = in_process
    dispatcher = env.dispatcher(monkeypatch)
    store = store_of(env.runtime)
    outputs = env.runtime.stack.outputs
    dlq_url = outputs["DeadLetterQueueUrl"]
    queue_arn = next(m.queue_arn for m in env.runtime.stack.mappings if m.function == "ExecutorFunction")
    timeout_s = env.runtime.stack.functions["ExecutorFunction"].timeout_s
    function_name = env.runtime.stack.functions["ExecutorFunction"].name
    pool: list[tuple[str, str]] = []  # QUEUED job-runs waiting to be a batch's good record
    runs = itertools.count()
    finished: list[str] = []  # the runs made for the pool, newest last
    stats: Counter[str] = Counter()
    message_ids = itertools.count()

    def check_good_records(run_id: str, jobs: Collection[str]) -> None:
        """The good records of a pool run (every job, or those handed out so far) ran once, and
        succeeded. Checked a run at a time: one query instead of a read per batch."""
        views = {view.job: view for view in store.job_runs(run_id)}
        for job in jobs:
            view = views.get(job)
            assert view is not None and view.status is JobStatus.SUCCEEDED and view.attempts == 1, view
        stats["good records succeeded"] += len(jobs)

    def check_complete(run_id: str) -> None:
        """Every job of the run was a batch's good record: the run is complete."""
        check_good_records(run_id, ROOT_JOBS)
        run = store.get_run(run_id)
        assert run is not None and run.status is RunStatus.SUCCEEDED, run
        assert run.succeeded == run.job_count == len(ROOT_JOBS), run
        stats["complete runs"] += 1
        if run_id != finished[0]:  # the first run stays: unknown-job records name it
            env.delete_run(run_id)
        env.drain("JobQueueUrl")

    def queued_job() -> tuple[str, str]:
        """A job-run that is QUEUED now: every root job of a fresh manual run, one at a time."""
        if not pool:
            if finished:
                check_complete(finished[-1])
            key = f"fuzz-exec-{next(runs)}"
            with contextlib.redirect_stdout(env.log):
                result = dispatcher.handle({"action": "trigger", "jobs": ROOT_JOBS, "idempotency_key": key})
            assert result.get("created") is True and result["enqueued"] == len(ROOT_JOBS), result
            pool.extend((str(result["run_id"]), job) for job in reversed(ROOT_JOBS))
            finished.append(str(result["run_id"]))
        return pool.pop()

    first_run, first_job = queued_job()
    pool.append((first_run, first_job))
    assert env.queue_depth("DeadLetterQueueUrl") == 0

    poison = st.one_of(
        not_json(),
        not_an_object(),
        bad_fields(),
        bad_fields(),
        unknown_runs(),
        unknown_jobs(first_run),
        huge_bodies(),
    )
    groups = st.one_of(st.just("poison"), st.sampled_from(JOBS), NAME)  # incl. the good record's group
    batches = st.tuples(
        st.lists(st.tuples(poison, groups, st.booleans()), min_size=1, max_size=3),
        st.integers(min_value=0, max_value=3),
    )
    kinds: Counter[str] = Counter()

    awaited: list[Poison] = []  # dead-lettered, not yet read back

    def check_dead_letters() -> None:
        letters = receive_dead_letters(env.sqs, dlq_url, len(awaited))
        for poisoned in awaited:
            match = next(
                (
                    letter
                    for letter in letters
                    if letter[0] == poisoned.body and letter[1].startswith(poisoned.error[:300])
                ),
                None,
            )
            assert match is not None, (poisoned, [(b[:100], e[:200]) for b, e in letters])
            letters.remove(match)
        assert letters == [], letters  # nothing else was dead-lettered (not a good record)
        stats["dead-lettered"] += len(awaited)
        awaited.clear()

    with executor_handler(env, monkeypatch) as handler:

        @FUZZ_SETTINGS
        @given(batch=batches)
        def fuzz(batch: tuple[list[tuple[Poison, str, bool]], int]) -> None:
            bad, position = batch
            run_id, job = queued_job()
            records = []
            for poisoned, group, same_group in bad:
                group_id = job if same_group else group  # a poison record in the good one's lane
                records.append(sqs_record(f"fuzz-{next(message_ids)}", poisoned.body, group_id, queue_arn))
                kinds[poisoned.kind] += 1
            good = sqs_record(f"fuzz-{next(message_ids)}", JobMessage(run_id, job).body(), job, queue_arn)
            records.insert(min(position, len(records)), good)

            with contextlib.redirect_stdout(env.log):
                response = handler(
                    {"Records": records}, FakeLambdaContext(function_name, env.clock, timeout_s)
                )

            # nothing is reported failed: the poison was dead-lettered, the good record ran (its
            # job-run is checked with the rest of its run: check_good_records)
            assert response == {"batchItemFailures": []}, (response, [p.body[:200] for p, _, _ in bad])
            # each poison message is on the DLQ, with an error attribute naming its problem (read
            # a few batches at a time: one ReceiveMessage takes up to 10)
            awaited.extend(poisoned for poisoned, _, _ in bad)
            if len(awaited) >= 8:
                check_dead_letters()
            stats["batches"] += 1
            stats["poison"] += len(bad)
            stats["good"] += 1

        started = time.perf_counter()
        fuzz()
        check_dead_letters()
        elapsed = time.perf_counter() - started

    assert env.queue_depth("DeadLetterQueueUrl") == 0
    if pool:
        check_good_records(finished[-1], set(ROOT_JOBS) - {job for _, job in pool})
    else:
        check_complete(finished[-1])
    assert stats["complete runs"] == stats["good"] // len(ROOT_JOBS)
    assert stats["good records succeeded"] == stats["good"]
    print(
        f"\nfuzz: executor batches={stats['batches']} poison records={stats['poison']} "
        f"dead-lettered={stats['dead-lettered']} "
        f"good records succeeded={stats['good records succeeded']} ({elapsed:.1f}s) "
        f"by kind: {dict(sorted(kinds.items()))}"
    )
    assert stats["batches"] >= EXAMPLES and stats["poison"] >= EXAMPLES
    assert stats["dead-lettered"] == stats["poison"]


def receive_dead_letters(sqs: Any, dlq_url: str, expected: int) -> list[tuple[str, str]]:
    """Read (and delete) the dead letters of one batch: (body, error attribute) each. A letter
    too many shows up here or in a later batch's reading (or in the final depth check)."""
    letters: list[tuple[str, str]] = []
    for _ in range(expected + 3):
        if len(letters) >= expected:
            break
        messages = sqs.receive_message(
            QueueUrl=dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=0
        ).get("Messages", [])
        if not messages:
            continue
        for message in messages:
            error = message.get("MessageAttributes", {}).get("error", {}).get("StringValue", "")
            letters.append((message["Body"], error))
        sqs.delete_message_batch(
            QueueUrl=dlq_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
        )
    return letters


# ---------------------------------------------------------------------------------------------
# What the fuzzing found (fixed in dba8a3f), one exact case each, as regression tests. The fuzz
# strategies above generate these shapes too ("deep parameter", the key cases, "deep" bodies).
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "named"),
    [
        pytest.param(
            # pydantic's model_dump raised ValueError "Circular reference detected (depth
            # exceeded)" from Dispatcher._manual for a value nested 255 or more deep
            {
                "action": "trigger",
                "schedule": "hourly",
                "parameters": {"rank": {"duration_s": nested(300)}},
            },
            "parameters",
            id="parameter-value-nested-300-deep",
        ),
        pytest.param(
            # KEY_PATTERN ended with '$', which matches before a trailing newline
            {"action": "trigger", "jobs": ["freshness"], "idempotency_key": "fuzz-key\n"},
            "idempotency_key",
            id="key-with-a-trailing-newline",
        ),
        pytest.param(
            # 'idempotency_key or uuid4' took an empty key for no key: a new run every time
            {"action": "trigger", "jobs": ["freshness"], "idempotency_key": ""},
            "idempotency_key",
            id="empty-key",
        ),
    ],
)
def test_the_malformed_requests_the_fuzzing_found_are_refused(
    in_process: InProcess, monkeypatch: pytest.MonkeyPatch, event: dict[str, Any], named: str
) -> None:
    dispatcher = in_process.dispatcher(monkeypatch)
    runs_before = in_process.count_runs()
    with contextlib.redirect_stdout(in_process.log):
        result = dispatcher.handle(event)
    assert set(result) == {"error"} and named in result["error"], result
    assert in_process.count_runs() == runs_before


def test_a_body_nested_too_deep_for_json_is_dead_lettered(
    in_process: InProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    # json.loads raises RecursionError (not ValueError) from about 10,000 levels: the record was
    # reported as a batch item failure (retried, then redriven without an error attribute)
    env = in_process
    dispatcher = env.dispatcher(monkeypatch)
    with contextlib.redirect_stdout(env.log):
        run_id = dispatcher.handle({"action": "trigger", "jobs": ["freshness"]})["run_id"]
    queue_arn = next(m.queue_arn for m in env.runtime.stack.mappings if m.function == "ExecutorFunction")
    info = env.runtime.stack.functions["ExecutorFunction"]
    body = "[" * 100_000 + "]" * 100_000
    records = [
        sqs_record("deep-1", body, "poison", queue_arn),
        sqs_record("good-1", JobMessage(run_id, "freshness").body(), "freshness", queue_arn),
    ]
    with executor_handler(env, monkeypatch) as handler, contextlib.redirect_stdout(env.log):
        response = handler({"Records": records}, FakeLambdaContext(info.name, env.clock, info.timeout_s))
    assert response == {"batchItemFailures": []}
    job = store_of(env.runtime).get_job_run(run_id, "freshness")
    assert job is not None and job.status is JobStatus.SUCCEEDED
    letters = receive_dead_letters(env.sqs, env.runtime.stack.outputs["DeadLetterQueueUrl"], 1)
    assert len(letters) == 1 and letters[0][0] == body, [(b[:50], e) for b, e in letters]
    assert letters[0][1].startswith("malformed: message body is not JSON"), letters[0][1]
