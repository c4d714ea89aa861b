"""Every change the local runtime makes to moto's internals, in one place.

moto is a faithful emulation of the AWS APIs cronlane uses, but a few of its internals have to be
bent for the embedded default to behave as AWS does, or to be fast enough (docs/aws-facts.md,
"moto"). Each patch below says what it changes, why, and the moto version it was written
against (``TARGET``). Nothing else in cronlane replaces a moto attribute.

Before anything is patched, ``self_check`` looks at every target (the functions and methods the
patches replace, with their parameters, and the attributes of moto's objects that the runtime
and the patches read) and the runtime refuses to start with ``unsupported moto X.Y.Z: <what is
missing>`` when one of them is not as expected, instead of running on a patch that no longer
attaches.

The runtime hands the patches what they need through ``Hooks`` (its clock, its wake-up signal,
its Lambda Invoke, its ECS tasks, the transient errors and the request observer of a test or
benchmark).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import inspect
import io
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import import_module
from typing import TYPE_CHECKING, Any

from cronlane.errors import CronlaneError

if TYPE_CHECKING:
    from cronlane.local.clock import RuntimeClock
    from cronlane.local.faults import TransientErrors

TARGET = "5.2.5"  # the moto version these patches were written against (pyproject.toml pins it)
ACCOUNT = "123456789012"  # moto's default account: the stack lives there
REGION = "us-east-1"


class UnsupportedMoto(CronlaneError):
    """The installed moto does not have what a patch or the runtime relies on."""


class Hooks:
    """What the patches call back into (set by the running ``LocalRuntime``, None otherwise)."""

    clock: RuntimeClock | None = None
    wake: Callable[[], None] | None = None
    # Lambda Invoke (function, body, the caller's User-Agent) -> the runtime
    invoke: Callable[[str, str, str], tuple[str, bool]] | None = None
    # ECS RunTask -> the runtime, with each task it made (patch_ecs_tasks); set: tasks are placed
    # without container instances, and their records keep the status the runtime gives them.
    run_task: Callable[[EcsTask], None] | None = None
    # ECS StopTask -> the runtime, with the task's ARN and the reason given: the lastStatus its
    # record keeps until its processes are gone, or None for a task the runtime does not run.
    stop_task: Callable[[str, str | None], str | None] | None = None
    transient_errors: TransientErrors | None = None
    # When set: called with every DynamoDB and SQS request served (``LocalRuntime.observe_requests``).
    observer: Callable[[dict[str, Any]], None] | None = None
    observe_sizes = True  # the observer is told the stored size of each item a request names
    # When set: global secondary indexes show each item as it was this long ago (patch_index_lag).
    index_lag: IndexLag | None = None
    # EventBridge PutEvents -> the runtime, with the entries (moto keeps no record of an event
    # that no rule of its own matches): answered here, each entry accepted.
    put_events: Callable[[list[dict[str, Any]]], None] | None = None
    # Held while moto serves a request: the server's, and the event source mapping's own calls.
    lock = threading.Lock()
    installed = False

    @classmethod
    def reset(cls) -> None:
        cls.clock = cls.wake = cls.invoke = cls.transient_errors = cls.observer = cls.index_lag = None
        cls.run_task = cls.stop_task = cls.put_events = None
        cls.observe_sizes = True


@dataclass(frozen=True)
class EcsContainer:
    """A container of a task RunTask made: its definition's name, image, essential flag and
    environment (as moto's CloudFormation resolved it), and its ARN."""

    name: str
    arn: str
    image: str | None = None
    essential: bool = True
    environment: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class EcsTask:
    """A task RunTask made on the twin, as the runtime sees it (``Hooks.run_task``)."""

    arn: str
    cluster_arn: str
    task_definition_arn: str
    family: str
    group: str
    launch_type: str
    started_by: str
    overrides: dict[str, Any] = field(default_factory=dict)
    containers: tuple[EcsContainer, ...] = ()


# -------------------------------------------------------------------------------------------------
# The self-check
# -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PatchTarget:
    """A function or method a patch replaces or the runtime calls: where it is, and its parameters."""

    path: str  # "module:attribute.attribute"
    parameters: tuple[str, ...] = ()  # the leading parameter names the patch or the runtime passes

    def problem(self) -> str | None:
        try:
            target = _resolve(self.path)
        except (ImportError, AttributeError) as exc:
            return f"{self.path} is missing ({exc})"
        if not callable(target):
            return f"{self.path} is not callable"
        if self.parameters:
            try:
                names = tuple(inspect.signature(target).parameters)
            except (TypeError, ValueError):
                return f"{self.path}: its signature cannot be read"
            if names[: len(self.parameters)] != self.parameters:
                return f"{self.path} takes ({', '.join(names)}), not ({', '.join(self.parameters)}, ...)"
        return None


def _resolve(path: str) -> Any:
    module, _, attributes = path.partition(":")
    target: Any = import_module(module)
    for name in attributes.split(".") if attributes else ():
        target = getattr(target, name)
    return target


ECS_BACKEND = "moto.ecs.models:EC2ContainerServiceBackend"
WAKE_ON = ("send_message", "send_message_batch", "change_message_visibility")  # patch_wake_on_send
CALLABLES = (
    # the SQS clock (patch_sqs_clock)
    PatchTarget("moto.sqs.models:unix_time"),
    PatchTarget("moto.sqs.models:unix_time_millis"),
    # one request at a time, transient errors, the observer (patch_request_serving)
    PatchTarget(
        "moto.moto_server.werkzeug_app:DomainDispatcherApplication.__call__",
        ("self", "environ", "start_response"),
    ),
    # the package listing (patch_module_listing)
    PatchTarget("moto.backends:list_of_moto_modules"),
    # scalar attribute values as they are (patch_attribute_values)
    PatchTarget(
        "moto.core.serialize:BaseJSONSerializer._serialize_type_structure",
        ("self", "serialized", "value", "shape", "key"),
    ),
    # Lambda Invoke answered by the runtime (patch_lambda_invoke)
    PatchTarget(
        "moto.awslambda.models:LambdaBackend.invoke",
        ("self", "function_name", "qualifier", "body", "headers", "response_headers"),
    ),
    # cheap rollback of a cancelled transaction (patch_transactions)
    PatchTarget("moto.dynamodb.models:DynamoDBBackend.transact_write_items", ("self", "transact_items")),
    PatchTarget("moto.dynamodb.models.table:Table.get_item", ("self", "hash_key", "range_key")),
    # deduplication as SQS does it (patch_fifo_dedup)
    PatchTarget("moto.sqs.models:Queue.add_message", ("self", "message")),
    # indexes that lag behind the table (patch_index_lag)
    PatchTarget(
        "moto.dynamodb.models.table:Table.query",
        (
            "self",
            "hash_key",
            "range_comparison",
            "range_objs",
            "limit",
            "exclusive_start_key",
            "scan_index_forward",
            "projection_expressions",
            "index_name",
        ),
    ),
    PatchTarget("moto.dynamodb.models.table:Table.all_items", ("self",)),
    # the wake-up signal when a message may have become receivable (patch_wake_on_send)
    *(PatchTarget(f"moto.sqs.models:SQSBackend.{name}", ("self",)) for name in WAKE_ON),
    # what the event source mapping calls (cronlane.local.event_source); receive_message is also
    # what answers a long poll at once (patch_short_polls)
    PatchTarget("moto.sqs.models:SQSBackend.get_queue", ("self", "queue_name")),
    PatchTarget(
        "moto.sqs.models:SQSBackend.receive_message",
        (
            "self",
            "queue_name",
            "count",
            "wait_seconds_timeout",
            "visibility_timeout",
            "message_attribute_names",
        ),
    ),
    PatchTarget("moto.sqs.models:SQSBackend.delete_message_batch", ("self", "queue_name", "receipts")),
    PatchTarget("moto.server:ThreadedMotoServer", ("ip_address", "port", "verbose")),
    # ECS tasks run by the runtime (patch_ecs_tasks), and what CloudFormation creates them from
    PatchTarget(
        f"{ECS_BACKEND}.run_task",
        (
            "self",
            "cluster_str",
            "task_definition_str",
            "count",
            "overrides",
            "started_by",
            "tags",
            "launch_type",
            "networking_configuration",
            "group",
            "platform_version",
            "capacity_provider_strategy",
        ),
    ),
    PatchTarget(f"{ECS_BACKEND}.stop_task", ("self", "cluster_str", "task_str", "reason")),
    PatchTarget(f"{ECS_BACKEND}.describe_task_definition", ("self", "task_definition_str")),
    PatchTarget(f"{ECS_BACKEND}._calculate_task_resource_requirements", ("task_definition",)),
    PatchTarget("moto.ecs.models:Container", ("task_def",)),
    *(
        PatchTarget(
            f"moto.ecs.models:{model}.create_from_cloudformation_json",
            ("resource_name", "cloudformation_json", "account_id", "region_name"),
        )
        for model in ("Cluster", "TaskDefinition")
    ),
)


def _object_problems() -> list[str]:
    """Attributes of moto's objects that the runtime and the patches read, looked for on real
    instances (a renamed attribute would otherwise fail only when a message is received)."""
    problems: list[str] = []
    try:
        from moto.dynamodb.models.dynamo_type import DynamoType
        from moto.dynamodb.models.table import Table
        from moto.sqs.models import Message, Queue

        message = Message("id", "body")
        for name in (
            "id", "body", "receipt_handle", "sender_id", "sent_timestamp", "approximate_receive_count",
            "approximate_first_receive_timestamp", "deduplication_id", "group_id", "sequence_number",
            "visible_at", "delayed_until", "system_attributes", "message_attributes", "body_md5",
            "attribute_md5",
        ):  # fmt: skip
            if not hasattr(message, name):
                problems.append(f"moto.sqs.models.Message has no attribute {name!r}")
        queue = Queue("selfcheck.fifo", REGION, ACCOUNT, FifoQueue="true")  # type: ignore[abstract]
        for name in ("_messages", "visibility_timeout", "deduplication_scope"):
            if not hasattr(queue, name):
                problems.append(f"moto.sqs.models.Queue has no attribute {name!r}")
        schema = [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}]
        attributes = [
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ]
        table = Table("selfcheck", ACCOUNT, REGION, schema=schema, attr=attributes)  # type: ignore[abstract]
        for name in ("items", "hash_key_attr", "range_key_attr", "has_range_key"):
            if not hasattr(table, name):
                problems.append(f"moto.dynamodb.models.table.Table has no attribute {name!r}")
        if not callable(getattr(DynamoType({"S": "x"}), "size", None)):
            problems.append("moto.dynamodb.models.dynamo_type.DynamoType has no size()")
        models = import_module("moto.dynamodb.models")
        if getattr(models, "copy", None) is not copy:
            problems.append("moto.dynamodb.models no longer imports the copy module (patch_transactions)")
        sqs_models = import_module("moto.sqs.models")
        for name in ("sqs_backends",):
            if not hasattr(sqs_models, name):
                problems.append(f"moto.sqs.models has no {name}")
        if not hasattr(import_module("moto.dynamodb.models"), "dynamodb_backends"):
            problems.append("moto.dynamodb.models has no dynamodb_backends")
        problems += _scheduler_problems()
        problems += _ecs_problems()
    except Exception as exc:  # building moto's objects the way 5.2 does failed: that is the finding
        problems.append(f"moto's objects cannot be built as in moto {TARGET}: {type(exc).__name__}: {exc}")
    return problems


def _scheduler_problems() -> list[str]:
    """What ``cronlane.local.checks`` reads of moto's Scheduler (it fires one-time schedules)."""
    from moto.scheduler import models as scheduler_models

    problems = []
    if not hasattr(scheduler_models, "scheduler_backends"):
        problems.append("moto.scheduler.models has no scheduler_backends")
    group = scheduler_models.ScheduleGroup(REGION, ACCOUNT, "selfcheck")
    if not isinstance(getattr(group, "schedules", None), dict):
        problems.append("moto.scheduler.models.ScheduleGroup has no dict 'schedules'")
    schedule = scheduler_models.Schedule(
        REGION, ACCOUNT, "selfcheck", "selfcheck", None, "at(2026-01-01T00:00:00)", "UTC",
        {"Mode": "OFF"}, {"Arn": "arn", "RoleArn": "role"}, None, None, None, None, "DELETE",
    )  # fmt: skip
    for name in ("name", "schedule_expression", "schedule_expression_timezone", "target", "state"):
        if not hasattr(schedule, name):
            problems.append(f"moto.scheduler.models.Schedule has no attribute {name!r}")
    if getattr(schedule, "action_after_completion", None) != "DELETE":
        problems.append("moto.scheduler.models.Schedule does not keep ActionAfterCompletion")
    return problems


TASK_ATTRIBUTES = (
    "id", "task_arn", "cluster_arn", "task_definition_arn", "group", "launch_type", "started_by",
    "overrides", "containers", "last_status", "desired_status", "stopped_reason",
)  # fmt: skip


def _ecs_problems() -> list[str]:
    """What ``patch_ecs_tasks`` reads and writes of moto's ECS backend, tasks and containers."""
    from moto.ecs import models as ecs_models

    problems = []
    if not hasattr(ecs_models, "ecs_backends"):
        problems.append("moto.ecs.models has no ecs_backends")
    backend = ecs_models.EC2ContainerServiceBackend(REGION, ACCOUNT)
    for name in ("tasks", "container_instances"):
        if not isinstance(getattr(backend, name, None), dict):
            problems.append(f"moto.ecs.models.EC2ContainerServiceBackend has no dict {name!r}")
    cluster = ecs_models.Cluster("selfcheck", ACCOUNT, REGION)  # type: ignore[abstract]
    containers = [{"name": "main", "image": "x"}]
    definition = ecs_models.TaskDefinition("selfcheck", 1, containers, ACCOUNT, REGION)  # type: ignore[abstract]
    for name in ("family", "arn", "container_definitions"):
        if not hasattr(definition, name):
            problems.append(f"moto.ecs.models.TaskDefinition has no attribute {name!r}")
    task = ecs_models.Task(cluster, definition, None, {}, backend, "family:selfcheck")
    for name in TASK_ATTRIBUTES:
        if not hasattr(task, name):
            problems.append(f"moto.ecs.models.Task has no attribute {name!r}")
    if not isinstance(getattr(task, "_transitions", None), list):
        problems.append("moto.ecs.models.Task has no list '_transitions' (its managed state)")
    else:
        task._transitions = []
        task.last_status = "RUNNING"
        task.advance()
        if task.last_status != "RUNNING":
            problems.append("moto.ecs.models.Task's status moves without transitions")
    container = ecs_models.Container(definition)  # type: ignore[abstract]
    for name in ("container_arn", "name", "image", "last_status", "exitCode", "environment"):
        if not hasattr(container, name):
            problems.append(f"moto.ecs.models.Container has no attribute {name!r}")
    return problems


def moto_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("moto")
    except PackageNotFoundError:
        return "(not installed)"


def self_check() -> list[str]:
    """What the installed moto lacks of what the patches and the runtime rely on ([] if nothing)."""
    problems = [p for p in (c.problem() for c in CALLABLES) if p is not None]
    return problems + _object_problems()


def ensure_supported() -> None:
    """Refuse to run on a moto the patches no longer fit."""
    problems = self_check()
    if problems:
        raise UnsupportedMoto(f"unsupported moto {moto_version()}: {'; '.join(problems)}")


def install() -> None:
    """Check, then apply every patch (once per process)."""
    if Hooks.installed:
        return
    ensure_supported()
    patch_sqs_clock()
    patch_request_serving()
    patch_module_listing()
    patch_attribute_values()
    patch_lambda_invoke()
    patch_transactions()
    patch_fifo_dedup()
    patch_wake_on_send()
    patch_index_lag()
    patch_short_polls()
    patch_ecs_tasks()
    Hooks.installed = True


# -------------------------------------------------------------------------------------------------
# The patches
# -------------------------------------------------------------------------------------------------


def patch_sqs_clock() -> None:
    """moto 5.2.5: SQS visibility timeouts and message ages follow ``unix_time`` and
    ``unix_time_millis`` as imported into ``moto.sqs.models``; they follow the runtime's clock
    instead, so a scaled or virtual clock scales backoffs and leases too (docs/aws-facts.md)."""
    from moto.core import utils as core_utils
    from moto.sqs import models as sqs_models

    real_time, real_millis = core_utils.unix_time, core_utils.unix_time_millis

    def unix_time(dt: Any = None) -> float:
        if dt is None and Hooks.clock is not None:
            return Hooks.clock.now()
        return real_time(dt)

    reading = [0.0, 0.0]  # the clock's time, and the last reading given out at that time

    def unix_time_millis(dt: Any = None) -> float:
        if dt is None and Hooks.clock is not None:
            # A virtual clock stands still, but moto's SQS makes a message visible only once the
            # time is strictly past its visible_at, so a visibility of 0 (giving a message back)
            # would hide it until time moved: each reading is a microsecond later.
            now = Hooks.clock.now() * 1000.0
            reading[:] = [now, now] if now != reading[0] else [now, reading[1] + 0.001]
            return reading[1]
        return real_millis(dt)

    sqs_models.unix_time = unix_time  # type: ignore[assignment]
    sqs_models.unix_time_millis = unix_time_millis  # type: ignore[assignment]


def patch_request_serving() -> None:
    """moto 5.2.5: ``DomainDispatcherApplication.__call__`` serves each HTTP request. Requests are
    served one at a time (moto's backends are not thread-safe: two concurrent UpdateItem ADDs on
    one item can lose an increment, which DynamoDB never does); a share of the functions' requests
    can be answered with transient errors; and an observer can see each one. Lambda Invoke is
    not held under the lock: it waits for a function that makes requests of its own."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    serve = DomainDispatcherApplication.__call__

    def serialised(self: Any, environ: Any, start_response: Any) -> Any:
        path = str(environ.get("PATH_INFO", ""))
        if "/functions/" in path and path.endswith("/invocations"):
            return serve(self, environ, start_response)
        record = Hooks.put_events
        if record is not None and environ.get("HTTP_X_AMZ_TARGET") == "AWSEvents.PutEvents":

            def answer(app: Any, environ: Any, start_response: Any) -> list[bytes]:
                return _put_events(record, environ, start_response)

            if Hooks.observer is not None:
                return _observed(Hooks.observer, answer, self, environ, start_response)
            return answer(self, environ, start_response)
        with Hooks.lock:
            errors = Hooks.transient_errors
            failure = errors.decide(environ) if errors is not None else None
            if failure is not None:
                status, body = failure
                start_response(status, [("Content-Type", "application/x-amz-json-1.0")])
                return [body]
            lag = Hooks.index_lag
            if lag is not None and environ.get("HTTP_X_AMZ_TARGET"):
                lag.before_write(environ)
            if Hooks.observer is not None and operation_of(environ) is not None:
                return _observed(Hooks.observer, serve, self, environ, start_response)
            return serve(self, environ, start_response)

    DomainDispatcherApplication.__call__ = serialised  # type: ignore[method-assign]


def patch_module_listing() -> None:
    """moto 5.2.5: the server lists its package folder (a stat per service) on every request to
    find the backend of a host; the folder does not change while it runs, so it is listed once."""
    from moto import backends as moto_backends

    modules = tuple(moto_backends.list_of_moto_modules())
    moto_backends.list_of_moto_modules = lambda: modules  # type: ignore[assignment]


def patch_attribute_values() -> None:
    """moto 5.2.5: every DynamoDB response is serialised member by member against the service
    model, each ``AttributeValue`` asked for all ten of its possible members: most of the cost of
    a request that returns items. A scalar value (S, N, BOOL, NULL, SS, NS) is already in its
    wire form, so it is written as it is; the others (B, BS, M, L) take moto's path."""
    from moto.core.serialize import BaseJSONSerializer

    plain = frozenset(("S", "N", "BOOL", "NULL", "SS", "NS"))
    generic = BaseJSONSerializer._serialize_type_structure

    def structure(self: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
        if (
            key
            and shape.name == "AttributeValue"
            and isinstance(value, dict)
            and len(value) == 1
            and next(iter(value)) in plain
        ):
            serialized[key] = value
            return
        generic(self, serialized, value, shape, key)

    BaseJSONSerializer._serialize_type_structure = structure  # type: ignore[method-assign]


def patch_lambda_invoke() -> None:
    """moto 5.2.5: ``LambdaBackend.invoke`` runs a function only in Docker. A Lambda Invoke made to
    the twin's endpoint (``cronlane trigger --local``) is answered by running the function in the
    runtime's environments, as Lambda would."""
    from moto.awslambda.models import LambdaBackend

    moto_invoke = LambdaBackend.invoke

    def invoke(
        self: Any, function_name: str, qualifier: Any, body: Any, headers: Any, response_headers: Any
    ) -> Any:
        if Hooks.invoke is None or headers.get("X-Amz-Invocation-Type") == "DryRun":
            return moto_invoke(self, function_name, qualifier, body, headers, response_headers)
        payload, errored = Hooks.invoke(function_name, body or "{}", str(headers.get("User-Agent") or ""))
        if Hooks.clock is not None:  # the caller's virtual clock moves to now (environment.py)
            response_headers["x-cronlane-clock"] = repr(Hooks.clock.now())
        if errored:
            response_headers["x-amz-function-error"] = "Unhandled"
        return payload.encode()

    LambdaBackend.invoke = invoke  # type: ignore[method-assign]


def patch_transactions() -> None:
    """moto 5.2.5: ``TransactWriteItems`` deep-copies every table it touches, once per item, to
    roll back a cancelled transaction: the cost grows with the table (seconds per call at tens of
    thousands of items). Requests are served one at a time, so saving and restoring only the items
    the transaction names is the same rollback at the cost of those items."""
    from moto.dynamodb import models as ddb_models
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    real_copy = ddb_models.copy

    class _NoTableCopy:
        @staticmethod
        def deepcopy(value: Any, memo: Any = None) -> Any:
            return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    original = ddb_models.DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        saved = []
        for entry in transact_items:
            op = next(iter(entry.values()))
            table = self.tables.get(op.get("TableName"))
            if table is None:
                continue
            key = op.get("Key") or op.get("Item") or {}
            if table.hash_key_attr not in key:
                continue
            hash_key = DynamoType(key[table.hash_key_attr])
            range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr in key else None
            item = table.get_item(hash_key, range_key) if (range_key or not table.has_range_key) else None
            saved.append((table, hash_key, range_key, copy.deepcopy(item)))
        ddb_models.copy = _NoTableCopy  # type: ignore[assignment]
        try:
            original(self, transact_items)
        except Exception:
            for table, hash_key, range_key, item in reversed(saved):
                if range_key is None:
                    if item is None:
                        table.items.pop(hash_key, None)
                    else:
                        table.items[hash_key] = item
                elif item is None:
                    table.items.get(hash_key, {}).pop(range_key, None)
                else:
                    table.items[hash_key][range_key] = item
            raise
        finally:
            ddb_models.copy = real_copy

    ddb_models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


DEDUP_WINDOW_MS = 300_000  # SQS FIFO drops a repeat of a deduplication id within 5 minutes


def patch_fifo_dedup() -> None:
    """moto 5.2.5: ``Queue.add_message`` drops a FIFO message only when one with the same
    deduplication id is still on the queue; SQS remembers the id for 5 minutes from its first send,
    deleted or not, per message group when ``DeduplicationScope`` is ``messageGroup``
    (docs/aws-facts.md: SQS FIFO). A repeat within the window is dropped as SQS drops it. (The
    scope is read off the queue's own attribute: ``Queue.attributes`` would count every message
    on the queue to build the others.)"""
    from moto.sqs.models import Queue

    original = Queue.add_message

    def add_message(self: Any, message: Any) -> None:
        if self.fifo_queue and message.deduplication_id and message.sent_timestamp is not None:
            seen: dict[tuple[str | None, str], float] = self.__dict__.setdefault("_cronlane_dedup", {})
            per_group = self.deduplication_scope == "messageGroup"
            key = (message.group_id if per_group else None, message.deduplication_id)
            now = float(message.sent_timestamp)
            first = seen.get(key)
            if first is not None and now - first < DEDUP_WINDOW_MS:
                return
            if len(seen) > 10_000:  # forget what is past the window (a long run sends many)
                for old in [k for k, at in seen.items() if now - at >= DEDUP_WINDOW_MS]:
                    del seen[old]
            seen[key] = now
        original(self, message)

    Queue.add_message = add_message  # type: ignore[method-assign]


class IndexLag:
    """DynamoDB's global secondary indexes are eventually consistent: an item written a moment ago
    may not show in an index query yet, or show as it was (docs/aws-facts.md). moto's show every
    write at once. With a lag, an index query sees each item as it was ``delay_s`` ago on the
    runtime's clock: the image of an item from before its oldest write within the lag (absent if
    it did not exist then). Base-table reads are not affected."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        # (table, key as JSON) -> [(when written, the item before that write, or None)]
        self.writes: dict[tuple[str, str], list[tuple[float, Any]]] = {}

    def _now(self) -> float:
        return Hooks.clock.now() if Hooks.clock is not None else time.time()

    def before_write(self, environ: Any) -> None:
        """Note the image of each item a DynamoDB write names, before the write is served."""
        target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
        if not target.startswith("DynamoDB"):
            return
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(raw)
        try:
            request = json.loads(raw or b"{}")
        except ValueError:
            return
        now = self._now()
        for table_name, key, _ in item_keys(target, request):
            table, item = _stored_item(table_name, key)
            if table is None or not table.global_indexes:
                continue
            entry = (table_name, json.dumps(key, sort_keys=True))
            history = [w for w in self.writes.get(entry, []) if w[0] > now - self.delay_s]
            history.append((now, copy.deepcopy(item)))
            self.writes[entry] = history

    def items_of(self, table: Any) -> list[Any]:
        """The table's items as its indexes see them now."""
        now = self._now()
        lagging: dict[str, Any] = {}
        for (table_name, key), history in list(self.writes.items()):
            recent = [w for w in history if w[0] > now - self.delay_s]
            if not recent:
                del self.writes[(table_name, key)]
            elif table_name == table.name:
                lagging[key] = recent[0][1]
        shown = []
        for item in _TABLE_ALL_ITEMS(table):
            if _key_json(table, item) not in lagging:
                shown.append(item)
        return shown + [before for before in lagging.values() if before is not None]


_TABLE_ALL_ITEMS: Callable[[Any], Any] = lambda table: []  # noqa: E731 (moto's, once patched)


def _stored_item(table_name: str, key: dict[str, Any]) -> tuple[Any, Any]:
    """(the table, the stored item or None) for a key a request names; (None, None) if unknown."""
    from moto.dynamodb.models import dynamodb_backends
    from moto.dynamodb.models.dynamo_type import DynamoType

    try:
        table = dynamodb_backends[ACCOUNT][REGION].get_table(table_name)
        hash_key = DynamoType(key[table.hash_key_attr])
        range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
        return table, table.get_item(hash_key, range_key)
    except Exception:  # a table or key the request got wrong: the request fails on its own
        return None, None


def _key_json(table: Any, item: Any) -> str:
    key = {table.hash_key_attr: item.hash_key.to_json()}
    if table.range_key_attr:
        key[table.range_key_attr] = item.range_key.to_json()
    return json.dumps(key, sort_keys=True)


def patch_index_lag() -> None:
    """moto 5.2.5: ``Table.query`` on an index reads ``self.all_items()``; while a lag is set, that
    call gives the items as the indexes see them (``IndexLag``), so moto's own matching,
    sorting, paging and projection apply to the lagging view."""
    global _TABLE_ALL_ITEMS
    from moto.dynamodb.models.table import Table

    query, _TABLE_ALL_ITEMS = Table.query, Table.all_items

    @functools.wraps(query)  # the self-check, run again, still sees moto's parameters
    def lagging_query(self: Any, *args: Any, **kwargs: Any) -> Any:
        lag = Hooks.index_lag
        index_name = args[7] if len(args) > 7 else kwargs.get("index_name")  # (see its PatchTarget)
        if lag is None or not index_name or not any(i.name == index_name for i in self.global_indexes):
            return query(self, *args, **kwargs)
        self.all_items = lambda: lag.items_of(self)
        try:
            return query(self, *args, **kwargs)
        finally:
            del self.all_items

    Table.query = lagging_query  # type: ignore[method-assign]


def patch_wake_on_send() -> None:
    """moto 5.2.5: the runtime never long-polls (a long poll on a FIFO queue busy-waits in moto,
    docs/aws-facts.md); instead, every ``SQSBackend`` call that can make a message receivable
    signals the runtime's loop to look at the queue."""
    from moto.sqs import models as sqs_models

    backend = sqs_models.SQSBackend
    for name in WAKE_ON:
        setattr(backend, name, _signalling(getattr(backend, name)))


def _signalling(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)  # the self-check, run again, still sees moto's parameters
    def signalled(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        if Hooks.wake is not None:
            Hooks.wake()
        return result

    return signalled


def patch_short_polls() -> None:
    """moto 5.2.5: a long poll (``WaitTimeSeconds`` > 0) waits inside ``SQSBackend.receive_message``
    until a message comes or its time is up, on the runtime's clock (patch_sqs_clock), while every
    other request waits for it (patch_request_serving); on a virtual clock, which does not move
    while a process waits in a request, it would never end. While the runtime runs, a receive is
    answered at once, as a short poll: a worker sleeps with ``cronlane.worker.sleep`` between
    empty receives (``cronlane.worker``)."""
    from moto.sqs import models as sqs_models

    original = sqs_models.SQSBackend.receive_message

    @functools.wraps(original)  # the self-check, run again, still sees moto's parameters
    def receive_message(
        self: Any, queue_name: str, count: int, wait_seconds_timeout: int, *args: Any, **kwargs: Any
    ) -> Any:
        wait = 0 if Hooks.clock is not None else wait_seconds_timeout
        return original(self, queue_name, count, wait, *args, **kwargs)

    sqs_models.SQSBackend.receive_message = receive_message  # type: ignore[method-assign]


MEMORY_KEYS = ("memory", "memoryReservation", "Memory", "MemoryReservation")
PLACED_AS_FARGATE = (None, "", "EC2", "EXTERNAL")  # launch types that need container instances


def patch_ecs_tasks() -> None:
    """moto 5.2.5: ``run_task`` only records a task (its status then moves one step each time it
    is described), needs container instances for anything but Fargate, gives the task one
    container (the first definition's), and counts its resources from each container's
    ``memory``, failing on a container without one (a Fargate task's memory is the task's).

    A container without memory counts none. While the runtime runs (``Hooks.run_task``): a task
    that would need container instances, which the twin has none of, is placed as a Fargate one
    (its launch type stays as asked), its record has one container per container definition and
    keeps the status the runtime gives it (``record_ecs_task``: they are the runtime's
    processes), and the runtime is told of it. StopTask tells the runtime (``Hooks.stop_task``),
    and the task stays RUNNING until its processes are gone, as on ECS."""
    from moto.ecs import models as ecs_models

    backend = ecs_models.EC2ContainerServiceBackend
    requirements = backend._calculate_task_resource_requirements

    def task_requirements(task_definition: Any) -> Any:
        saved = []
        for definition in task_definition.container_definitions:
            if all(definition.get(key) is None for key in MEMORY_KEYS):
                saved.append((definition, "memory" in definition, definition.get("memory")))
                definition["memory"] = 0
        try:
            return requirements(task_definition)
        finally:
            for definition, had, value in saved:
                if had:
                    definition["memory"] = value
                else:
                    del definition["memory"]

    backend._calculate_task_resource_requirements = staticmethod(task_requirements)  # type: ignore[method-assign]
    run, stop = backend.run_task, backend.stop_task
    signature = inspect.signature(run)

    @functools.wraps(run)  # the self-check, run again, still sees moto's parameters
    def run_task(self: Any, *args: Any, **kwargs: Any) -> Any:
        hook = Hooks.run_task
        if hook is None:
            return run(self, *args, **kwargs)
        call = signature.bind(self, *args, **kwargs)
        asked = call.arguments.get("launch_type")
        placed = (
            asked in PLACED_AS_FARGATE
            and not call.arguments.get("capacity_provider_strategy")
            and not any(self.container_instances.values())
        )
        if placed:
            call.arguments["launch_type"] = "FARGATE"
        tasks = run(*call.args, **call.kwargs)
        now = Hooks.clock.now() if Hooks.clock is not None else time.time()
        for task in tasks:
            if placed:
                task.launch_type = asked or ""
            definition = self.describe_task_definition(task.task_definition_arn)
            _take_over(task, definition, now)
            hook(_ecs_task(task, definition))
        return tasks

    @functools.wraps(stop)
    def stop_task(self: Any, cluster_str: str, task_str: str, reason: str | None) -> Any:
        hook = Hooks.stop_task
        found = _find_task(self, task_str) if hook is not None else None
        before = (found.last_status, found.desired_status, found.stopped_reason) if found else None
        task = stop(self, cluster_str, task_str, reason)  # type: ignore[arg-type]
        keep = hook(task.task_arn, reason) if hook is not None else None
        if keep == "STOPPED" and before is not None:  # stopped already: StopTask changes nothing
            task.last_status, task.desired_status, task.stopped_reason = before
        elif keep is not None:
            task.last_status = keep
        return task

    backend.run_task = run_task  # type: ignore[method-assign]
    backend.stop_task = stop_task  # type: ignore[method-assign]


def _find_task(backend: Any, task_str: str) -> Any:
    """The task ``task_str`` (an ARN or an id) names, found as moto's ``stop_task`` finds it."""
    task_id = task_str.rsplit("/", 1)[-1]
    for tasks in backend.tasks.values():
        for arn, task in tasks.items():
            if arn.endswith(task_id):
                return task
    return None


def _take_over(task: Any, definition: Any, now: float) -> None:
    """The runtime's task: a status that moves only when the runtime moves it, and a container
    per container definition (moto makes the first one's only)."""
    from moto.ecs.models import Container

    task._transitions = []  # ManagedState: no transitions, the status stays as set
    task.last_status = "PENDING"
    task.created_at = datetime.fromtimestamp(now, UTC)
    containers = []
    for container_definition in definition.container_definitions:
        container = Container(definition)  # type: ignore[abstract]
        container.task_arn = task.task_arn
        container.name = container_definition.get("name")
        container.image = container_definition.get("image")
        container.cpu = container_definition.get("cpu", 0)
        container.memory = container_definition.get("memory")
        container.environment = container_definition.get("environment")
        container.command = container_definition.get("command")
        container.exitCode = None  # type: ignore[assignment]
        containers.append(container)
    task.containers = containers


def _ecs_task(task: Any, definition: Any) -> EcsTask:
    containers = []
    definitions = definition.container_definitions
    for container, container_definition in zip(task.containers, definitions, strict=True):
        environment = tuple(
            (str(pair.get("name")), str(pair.get("value", "")))
            for pair in container_definition.get("environment") or []
        )
        containers.append(
            EcsContainer(
                name=str(container.name),
                arn=container.container_arn,
                image=container.image,
                essential=bool(container_definition.get("essential", True)),
                environment=environment,
            )
        )
    return EcsTask(
        arn=task.task_arn,
        cluster_arn=task.cluster_arn,
        task_definition_arn=task.task_definition_arn,
        family=definition.family,
        group=task.group,
        launch_type=task.launch_type,
        started_by=task.started_by,
        overrides=copy.deepcopy(task.overrides or {}),
        containers=tuple(containers),
    )


def record_ecs_task(
    task_arn: str,
    last_status: str,
    *,
    times: dict[str, float] | None = None,
    stop_code: str | None = None,
    stopped_reason: str | None = None,
    containers: dict[str, dict[str, Any]] | None = None,
) -> None:
    """Write what the runtime's task is now into moto's record of it (what DescribeTasks shows):
    its lastStatus, times (``created_at``, ``started_at``, ``stopping_at``, ``stopped_at``, on the
    runtime's clock), stop code and reason, and each container's ``last_status``, ``exit_code``
    and ``reason`` by name. A task moto no longer has (a reset) is left alone."""
    from moto.ecs.models import ecs_backends

    with Hooks.lock:
        task = _find_task(ecs_backends[ACCOUNT][REGION], task_arn)
        if task is None:
            return
        task.last_status = last_status
        for name, at in (times or {}).items():
            setattr(task, name, datetime.fromtimestamp(at, UTC))
        if stop_code is not None:
            task.desired_status = "STOPPED"
            task.stop_code = stop_code
        if stopped_reason is not None:
            task.stopped_reason = stopped_reason
        for container in task.containers:
            state = (containers or {}).get(container.name, {})
            container.last_status = state.get("last_status", container.last_status)
            container.exitCode = state.get("exit_code", container.exitCode)
            if state.get("reason") is not None:
                container.reason = state["reason"]


def _put_events(
    record: Callable[[list[dict[str, Any]]], None], environ: Any, start_response: Any
) -> list[bytes]:
    """Answer a PutEvents for the runtime: its entries go to ``record``, each accepted."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    try:
        entries = list(json.loads(raw or b"{}").get("Entries") or [])
    except (ValueError, AttributeError):
        entries = []
    record(entries)
    answer = {"FailedEntryCount": 0, "Entries": [{"EventId": uuid.uuid4().hex} for _ in entries]}
    start_response("200 OK", [("Content-Type", "application/x-amz-json-1.1")])
    return [json.dumps(answer).encode()]


# -------------------------------------------------------------------------------------------------
# Observing a served request (patch_request_serving)
# -------------------------------------------------------------------------------------------------


def _observed(
    observer: Callable[[dict[str, Any]], None], serve: Any, app: Any, environ: Any, start_response: Any
) -> Any:
    """Serve one JSON-protocol request and tell ``observer`` what it was: who made it (a
    function's environment, or the runtime itself), the operation, the request and response
    bodies, the status, and for DynamoDB the size of each item it names before and after (what
    AWS bills a write by; none unless ``Hooks.observe_sizes``), and when it was served."""
    began = time.time()
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(raw)
    target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
    service, operation = operation_of(environ) or ("", "")
    agent = str(environ.get("HTTP_USER_AGENT", ""))
    try:
        request = json.loads(raw or b"{}")
    except ValueError:
        request = {}
    sizes = Hooks.observe_sizes  # looking them up takes the server's time: only when wanted
    keys = item_keys(target, request) if sizes else []
    before = [item_size(table, key) for table, key, _ in keys]
    status: list[str] = []

    def remember(code: str, headers: Any, *rest: Any) -> Any:
        status.append(code)
        return start_response(code, headers, *rest)

    body = b"".join(serve(app, environ, remember))
    read = read_sizes(operation, request, body) if sizes and service == "dynamodb" else []
    who = agent.rpartition("app/")[2].split(" ")[0] if "exec-env/AWS_Lambda" in agent else "runtime"
    observer(
        {
            "who": who,
            "service": service,
            "operation": operation,
            "request": request,
            "request_bytes": len(raw),
            "response": body,
            "status": int((status or ["0"])[0].split()[0]),
            "began": began,  # wall-clock seconds: when the server got it and answered it
            "ended": time.time(),
            "items": [
                {"table": table, "before": size, "after": item_size(table, key), "put": put}
                for (table, key, put), size in zip(keys, before, strict=True)
            ],
            # the stored size of each item a read returned (DynamoDB bills a read on it, whatever
            # its projection returned), or None for a key with no item
            "read": read,
        }
    )
    return [body]


# EventBridge Scheduler's REST operations on one schedule, by HTTP method (restJson1: no target
# header; the path is /schedules/<name>).
SCHEDULE_OPERATIONS = {
    "POST": "CreateSchedule",
    "PUT": "UpdateSchedule",
    "DELETE": "DeleteSchedule",
    "GET": "GetSchedule",
}


def operation_of(environ: Any) -> tuple[str, str] | None:
    """(service, operation) of a DynamoDB, SQS, ECS or EventBridge Scheduler request; None for
    any other."""
    target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
    if target:
        prefix, _, operation = target.rpartition(".")
        service = (
            "dynamodb" if prefix.startswith("DynamoDB") else "events" if prefix == "AWSEvents" else "sqs"
        )
        return ("ecs" if prefix.startswith("AmazonEC2ContainerService") else service), operation
    path = str(environ.get("PATH_INFO", ""))
    if path.startswith("/schedules/"):
        method = str(environ.get("REQUEST_METHOD", "GET"))
        return "scheduler", SCHEDULE_OPERATIONS.get(method, method)
    if path == "/schedules":
        return "scheduler", "ListSchedules"
    return None


def item_keys(target: str, request: dict[str, Any]) -> list[tuple[str, dict[str, Any], Any]]:
    """The (table, key, whole item if it is a put, else None) of each item a DynamoDB write
    names. A put's key is its item (what ``item_size`` looks up by)."""
    operation = target.rpartition(".")[2]
    writes: list[tuple[str, dict[str, Any]]] = []
    if operation in ("PutItem", "UpdateItem", "DeleteItem"):
        writes.append((request.get("TableName", ""), request))
    elif operation == "TransactWriteItems":
        for entry in request.get("TransactItems", []):
            op = next(iter(entry.values()))
            writes.append((op.get("TableName", ""), op))
    elif operation == "BatchWriteItem":
        for table, entries in request.get("RequestItems", {}).items():
            writes += [(table, next(iter(entry.values()))) for entry in entries]
    return [(table, op.get("Key") or op.get("Item") or {}, op.get("Item")) for table, op in writes]


def read_sizes(operation: str, request: dict[str, Any], response: bytes) -> list[tuple[str, int | None]]:
    """(table, stored size) of each item a GetItem or BatchGetItem asked for and of each item a
    Query returned (looked up by its key attributes, when its projection returned them)."""
    if operation == "GetItem":
        return [
            (request.get("TableName", ""), item_size(request.get("TableName", ""), request.get("Key") or {}))
        ]
    if operation == "BatchGetItem":
        return [
            (table, item_size(table, key))
            for table, wanted in (request.get("RequestItems") or {}).items()
            for key in wanted.get("Keys", [])
        ]
    if operation != "Query":
        return []
    try:
        items = json.loads(response or b"{}").get("Items", [])
    except ValueError:
        return []
    table = request.get("TableName", "")
    return [(table, item_size(table, item)) for item in items]


def item_size(table_name: str, key: dict[str, Any]) -> int | None:
    """The stored item's size in bytes as moto computes it (None: no such item)."""
    from moto.dynamodb.models import dynamodb_backends
    from moto.dynamodb.models.dynamo_type import DynamoType

    try:
        table = dynamodb_backends[ACCOUNT][REGION].get_table(table_name)
        hash_key = DynamoType(key[table.hash_key_attr])
        range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
        item = table.get_item(hash_key, range_key)
    except Exception:  # a table or key the request got wrong: the request fails on its own
        return None
    return None if item is None else int(item.size())


# -------------------------------------------------------------------------------------------------
# The server
# -------------------------------------------------------------------------------------------------

_server: Any = None
_more_servers: dict[str, Any] = {}  # address -> a server on the same port (``also_on``)
LOOPBACK = "127.0.0.1"


def moto_endpoint(port: int = 0, also_on: tuple[str, ...] = ()) -> str:
    """Start (once per process) a moto server on loopback, with the patches, and return its URL.

    ``also_on``: more addresses to answer on, with the same port and the same backends (moto's
    backends and the patches are the process's, not a server's), e.g. the Docker bridge's gateway
    that ``sam local invoke``'s containers reach the host at. Only named addresses: a wildcard
    would expose the twin to every network the machine is on."""
    global _server
    for address in also_on:
        if address in ("0.0.0.0", "::", ""):
            raise ValueError(f"moto server: refusing to listen on every address ({address!r})")
    if _server is None:
        import logging

        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        install()
        _server = ThreadedMotoServer(ip_address=LOOPBACK, port=port, verbose=False)
        _server.start()
    host, bound = _server.get_host_and_port()
    for address in also_on:
        if address != host and address not in _more_servers:
            import socket

            from moto.server import ThreadedMotoServer

            # ThreadedMotoServer binds in its thread and would wait forever for a bind that
            # failed there: an address that cannot be bound is an OSError here instead.
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind((address, bound))
            more = ThreadedMotoServer(ip_address=address, port=bound, verbose=False)
            more.start()
            _more_servers[address] = more
    return f"http://{host}:{bound}"


def stop_moto_servers() -> None:
    """Stop every moto server of the process (the next ``moto_endpoint`` starts a new one)."""
    global _server
    for more in _more_servers.values():
        more.stop()
    _more_servers.clear()
    if _server is not None:
        _server.stop()
        _server = None


def reset_moto(endpoint: str) -> None:
    import urllib.request

    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    with contextlib.closing(urllib.request.urlopen(request, timeout=30)) as answer:
        answer.read()
