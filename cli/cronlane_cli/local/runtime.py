"""The embedded default, part 2: the local runtime that does what AWS would do around the code.

- a moto server on loopback holds the stack (``stack.create_stack``);
- a clock, real (optionally scaled) or virtual, that also drives moto's SQS visibility clock;
- the rules: ticks are fired through the dispatcher handler, asynchronously and with retries, as
  EventBridge invokes a Lambda target;
- the event source mapping: up to the batch size is received, real SQS records are built, the
  executor handler is invoked, and only the successes are deleted; failures are left to the
  visibility timeout and the redrive policy;
- several Lambda environments per function, each its own process with its own log file.

Virtual time is a conservative discrete-event simulation: it advances only when no environment
is executing code, to the earliest of the next sleeping job's wake-up, the next tick, the next
message becoming visible, a retry, or an invocation deadline. No real sleeping happens.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import heapq
import itertools
import json
import multiprocessing
import os
import queue
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from cronlane.clock import ScaledClock, iso
from cronlane_cli.local.environment import EnvSpec, serve
from cronlane_cli.local.stack import REGION, MappingInfo, StackInfo, client_env

ACCOUNT = "123456789012"
ASYNC_RETRY_DELAYS_S = (60.0, 120.0)  # Lambda's asynchronous invocation retries (two)
# Environments are forked from a fork server that has already imported the heavy libraries:
# each environment still imports its handler (its cold start) but not boto3 from scratch, so a
# test or a demo is not dominated by process start-up on a small machine. The fork server is a
# fresh process of its own, so the moto server's threads here are never forked.
_ctx = multiprocessing.get_context("forkserver")
_ctx.set_forkserver_preload(
    ["boto3", "botocore.session", "pynamodb.models", "pydantic", "aws_lambda_powertools", "croniter"]
)


class EnvironmentFailed(RuntimeError):
    """A Lambda environment died while importing its handler (its INIT failed)."""


class RuntimeStalled(RuntimeError):
    """Nothing can happen any more (no work, no timers) but the awaited condition is not met."""


# ---------------------------------------------------------------------------------------------
# Clocks as the runtime sees them
# ---------------------------------------------------------------------------------------------


class RuntimeClock:
    """The runtime's clock: ``scaled`` follows wall time (times ``1 / scale``), ``virtual`` moves
    only when advanced."""

    def __init__(self, mode: str, start: float, scale: float = 1.0) -> None:
        if mode not in ("real", "virtual"):
            raise ValueError(f"clock must be 'real' or 'virtual', not {mode!r}")
        self.virtual = mode == "virtual"
        self.scale = scale
        self._now = start
        self._scaled = ScaledClock(start, scale)

    def now(self) -> float:
        return self._now if self.virtual else self._scaled.now()

    def restart(self, start: float) -> None:
        """Set the clock to ``start`` now (used after environments were warmed up)."""
        self._now = start
        self._scaled = ScaledClock(start, self.scale)

    def advance_to(self, when: float) -> None:
        if self.virtual and when > self._now:
            self._now = when

    def spec(self) -> tuple[Any, ...]:
        if self.virtual:
            return ("virtual", self._now)
        return ("scaled", self._scaled.origin, self._scaled.scale, self._scaled.real_origin)

    def real_seconds(self, clock_seconds: float) -> float:
        return clock_seconds * self.scale


# ---------------------------------------------------------------------------------------------
# moto: one server per process, its SQS clock patched to the runtime's clock
# ---------------------------------------------------------------------------------------------


class TransientErrors:
    """Throttling and 5xx answers to the requests Lambda environments make, as AWS gives now and
    then: DynamoDB ``ProvisionedThroughputExceededException``, SQS ``ServiceUnavailable``.

    Each request fails with probability ``rate`` (the SDK's own retries absorb most of these);
    one in ``burst_every`` of those starts a burst: the same environment's next ``burst``
    requests to that service fail too, more than the SDK retries, so the error reaches cronlane's
    code. ``counts`` says how many of each were given."""

    def __init__(self, rate: float, seed: int, burst_every: int = 10, burst: int = 6) -> None:
        self.rate = rate
        self.rng = random.Random(seed)
        self.burst_every = burst_every
        self.burst = burst
        self.counts: Counter[str] = Counter()
        self._bursting: dict[tuple[str, str], int] = {}

    def decide(self, environ: Any) -> tuple[str, bytes] | None:
        agent = str(environ.get("HTTP_USER_AGENT", ""))
        target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
        if "exec-env/AWS_Lambda" not in agent or not target:
            return None  # only what functions ask; not the runtime's own event source mapping
        service = "dynamodb" if target.startswith("DynamoDB") else "sqs" if "SQS" in target else ""
        if not service:
            return None
        env = agent.rpartition("app/")[2].split(" ")[0]
        left = self._bursting.get((env, service), 0)
        if left:
            self._bursting[(env, service)] = left - 1
        elif self.rng.random() < self.rate:
            self.counts[f"{service} transient error"] += 1
            if self.burst_every and self.rng.randrange(self.burst_every) == 0:
                self.counts[f"{service} error burst"] += 1
                self._bursting[(env, service)] = self.burst - 1
        else:
            return None
        if service == "dynamodb":
            code, status = "ProvisionedThroughputExceededException", "400 Bad Request"
        else:
            code, status = "ServiceUnavailable", "503 Service Unavailable"
        body = json.dumps({"__type": f"com.amazonaws.{service}#{code}", "message": "injected by the runtime"})
        return status, body.encode()


class _MotoHooks:
    clock: RuntimeClock | None = None
    wake: Callable[[], None] | None = None
    invoke: Callable[[str, str], tuple[str, bool]] | None = None  # Lambda Invoke -> the runtime
    transient_errors: TransientErrors | None = None
    # When set: called with every DynamoDB and SQS request served (see ``observe_requests``).
    observer: Callable[[dict[str, Any]], None] | None = None
    # Held while moto serves a request: the server's, and the event source mapping's own calls.
    lock = threading.Lock()
    installed = False

    @classmethod
    def install(cls) -> None:
        if cls.installed:
            return
        from moto.core import utils as core_utils
        from moto.sqs import models as sqs_models

        real_time, real_millis = core_utils.unix_time, core_utils.unix_time_millis

        def unix_time(dt: Any = None) -> float:
            if dt is None and cls.clock is not None:
                return cls.clock.now()
            return real_time(dt)

        reading = [0.0, 0.0]  # the clock's time, and the last reading given out at that time

        def unix_time_millis(dt: Any = None) -> float:
            if dt is None and cls.clock is not None:
                # A virtual clock stands still, but moto's SQS makes a message visible only once
                # the time is strictly past its visible_at, so a visibility of 0 (giving a message
                # back) would hide it until time moved: each reading is a microsecond later.
                now = cls.clock.now() * 1000.0
                reading[:] = [now, now] if now != reading[0] else [now, reading[1] + 0.001]
                return reading[1]
            return real_millis(dt)

        # One request at a time: moto's backends are not thread-safe, and two concurrent
        # UpdateItem ADDs on one item can lose an increment (DynamoDB serialises them). The
        # runtime never long-polls, so no request holds the lock while it waits.
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication

        serve = DomainDispatcherApplication.__call__
        lock = cls.lock

        def serialised(self: Any, environ: Any, start_response: Any) -> Any:
            path = str(environ.get("PATH_INFO", ""))
            if "/functions/" in path and path.endswith("/invocations"):
                # Lambda Invoke waits for a function that makes requests of its own.
                return serve(self, environ, start_response)
            with lock:
                errors = cls.transient_errors
                failure = errors.decide(environ) if errors is not None else None
                if failure is not None:
                    status, body = failure
                    start_response(status, [("Content-Type", "application/x-amz-json-1.0")])
                    return [body]
                if cls.observer is not None and environ.get("HTTP_X_AMZ_TARGET"):
                    return _observed(cls.observer, serve, self, environ, start_response)
                return serve(self, environ, start_response)

        DomainDispatcherApplication.__call__ = serialised  # type: ignore[method-assign]

        # moto's server lists its package folder (a stat per service) on every request to find
        # the backend of a host; the folder does not change while it runs.
        from moto import backends as moto_backends

        modules = tuple(moto_backends.list_of_moto_modules())
        moto_backends.list_of_moto_modules = lambda: modules  # type: ignore[assignment]

        cls._plain_attribute_values()

        from moto.awslambda.models import LambdaBackend

        moto_invoke = LambdaBackend.invoke

        def invoke(
            self: Any, function_name: str, qualifier: Any, body: Any, headers: Any, response_headers: Any
        ) -> Any:
            if cls.invoke is None or headers.get("X-Amz-Invocation-Type") == "DryRun":
                return moto_invoke(self, function_name, qualifier, body, headers, response_headers)
            payload, errored = cls.invoke(function_name, body or "{}")
            if errored:
                response_headers["x-amz-function-error"] = "Unhandled"
            return payload.encode()

        LambdaBackend.invoke = invoke  # type: ignore[method-assign]

        cls._cheap_transactions()

        sqs_models.unix_time = unix_time  # type: ignore[assignment]
        sqs_models.unix_time_millis = unix_time_millis  # type: ignore[assignment]
        backend = sqs_models.SQSBackend
        for name in ("send_message", "send_message_batch", "change_message_visibility"):
            original = getattr(backend, name)

            def signalled(*args: Any, __original: Any = original, **kwargs: Any) -> Any:
                result = __original(*args, **kwargs)
                if cls.wake is not None:
                    cls.wake()
                return result

            setattr(backend, name, signalled)
        cls.installed = True

    @staticmethod
    def _plain_attribute_values() -> None:
        """moto serialises every DynamoDB response member by member against the service model,
        asking each ``AttributeValue`` for all ten of its possible members: most of the cost of
        a request that returns items. A scalar value (S, N, BOOL, NULL, SS, NS) is already in
        its wire form, so it is written as it is; the others (B, BS, M, L) take moto's path."""
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

    @staticmethod
    def _cheap_transactions() -> None:
        """moto's TransactWriteItems deep-copies every table it touches, once per item, to roll
        back a cancelled transaction: the cost grows with the table (seconds per call at tens of
        thousands of items). Requests are served one at a time, so saving and restoring only the
        items the transaction names is the same rollback at the cost of those items."""
        import copy

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


def _observed(
    observer: Callable[[dict[str, Any]], None], serve: Any, app: Any, environ: Any, start_response: Any
) -> Any:
    """Serve one JSON-protocol request and tell ``observer`` what it was: who made it (a
    function's environment, or the runtime's event source mapping), the operation, the request
    and response bodies, the status, and for DynamoDB the size of each item it names before and
    after (what AWS bills a write by), and when it was served."""
    import io

    began = time.time()
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(raw)
    target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
    agent = str(environ.get("HTTP_USER_AGENT", ""))
    try:
        request = json.loads(raw or b"{}")
    except ValueError:
        request = {}
    keys = _item_keys(target, request)
    before = [_item_size(table, key) for table, key, _ in keys]
    status: list[str] = []

    def remember(code: str, headers: Any, *rest: Any) -> Any:
        status.append(code)
        return start_response(code, headers, *rest)

    body = b"".join(serve(app, environ, remember))
    who = agent.rpartition("app/")[2].split(" ")[0] if "exec-env/AWS_Lambda" in agent else "runtime"
    observer(
        {
            "who": who,
            "service": "dynamodb" if target.startswith("DynamoDB") else "sqs",
            "operation": target.rpartition(".")[2],
            "request": request,
            "request_bytes": len(raw),
            "response": body,
            "status": int((status or ["0"])[0].split()[0]),
            "began": began,  # wall-clock seconds: when the server got it and answered it
            "ended": time.time(),
            "items": [
                {"table": table, "before": size, "after": _item_size(table, key), "put": put}
                for (table, key, put), size in zip(keys, before, strict=True)
            ],
        }
    )
    return [body]


def _item_keys(target: str, request: dict[str, Any]) -> list[tuple[str, dict[str, Any], Any]]:
    """The (table, key, whole item if it is a put, else None) of each item a DynamoDB write
    names. A put's key is its item (what ``_item_size`` looks up by)."""
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


def _item_size(table_name: str, key: dict[str, Any]) -> int | None:
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


_server: Any = None


def moto_endpoint(port: int = 0) -> str:
    """Start (once per process) a moto server on loopback and return its URL."""
    global _server
    if _server is None:
        import logging

        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)

        _MotoHooks.install()
        _server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        _server.start()
    host, bound = _server.get_host_and_port()
    return f"http://{host}:{bound}"


def reset_moto(endpoint: str) -> None:
    import urllib.request

    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=30).read()


# ---------------------------------------------------------------------------------------------
# Invocations and environments
# ---------------------------------------------------------------------------------------------


@dataclass
class Invocation:
    function: str
    event: dict[str, Any]
    kind: str  # "esm", "async" or "sync"
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    mapping: MappingInfo | None = None
    receipts: dict[str, str] = field(default_factory=dict)  # messageId -> receipt handle
    jobs: dict[str, str] = field(default_factory=dict)  # messageId -> job (for fault matching)
    attempt: int = 0
    started_at: float | None = None
    deadline: float | None = None
    finished_at: float | None = None
    response: Any = None
    error: dict[str, Any] | None = None
    crashed: bool = False
    done: bool = False
    on_done: Callable[[Invocation], None] | None = None


@dataclass
class Env:
    id: int
    function: str
    process: Any
    conn: Connection
    log_path: Path
    state: str = "starting"  # starting | idle | running | sleeping | dead
    wake_at: float | None = None
    invocation: Invocation | None = None
    pending: Invocation | None = None
    init_s: float | None = None


@dataclass
class Fault:
    id: int
    point: str
    match: dict[str, Any]
    times: int


class LocalRuntime:
    def __init__(
        self,
        stack: StackInfo,
        *,
        clock: str = "virtual",
        time_scale: float = 1.0,
        start: float | None = None,
        executor_environments: int = 4,
        log_dir: Path,
        env_overrides: dict[str, str] | None = None,
    ) -> None:
        self.stack = stack
        self.clock = RuntimeClock(clock, time.time() if start is None else start, time_scale)
        self.log_dir = log_dir
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.env_overrides = env_overrides or {}
        self.envs: list[Env] = []
        self._env_ids = itertools.count(1)
        self.env_functions: dict[str, str] = {}  # app id in the User-Agent -> function
        self._caps = dict.fromkeys(stack.functions, 2)
        for mapping in stack.mappings:
            cap = mapping.max_concurrency or executor_environments
            self._caps[mapping.function] = max(1, min(cap, executor_environments))
        self._waiting: list[Invocation] = []  # invocations waiting for an environment
        self._retries: list[tuple[float, int, Invocation]] = []
        self._seq = itertools.count()
        self._faults: list[Fault] = []
        self._fault_ids = itertools.count(1)
        self.fired_faults: list[Fault] = []
        self.invocations: list[Invocation] = []
        self._skip_deletes: list[dict[str, Any]] = []
        self._dirty = True  # the queue may have visible messages
        self.mappings_enabled = True  # False: like disabling the event source mapping
        self._external: queue.Queue[tuple[Invocation, Future[Invocation]]] = queue.Queue()
        self._next_ticks: dict[str, float] = {}  # rule name -> next fire time (when ticking)
        self._alarms: list[float] = []  # times run_to waits for
        self.fires: list[tuple[str, float]] = []
        self._signal_r, self._signal_w = _ctx.Pipe(duplex=False)
        self._signal_lock = threading.Lock()
        self._signalled = False
        _MotoHooks.clock = self.clock
        _MotoHooks.wake = self._wake

    # -- public API ---------------------------------------------------------------------------

    def now(self) -> float:
        return self.clock.now()

    def start_ticking(self, after: float | None = None) -> None:
        """Fire every rule at its fire times from now on, as EventBridge does."""
        start = self.now() if after is None else after
        for rule in self.stack.rules:
            self.start_ticking_rule(rule, start)

    def start_ticking_rule(self, rule: Any, after: float) -> None:
        from cronlane.cron import parse_expression

        times = parse_expression(rule.expression).fire_times(after, 1, rule.timezone)
        if times:
            self._next_ticks[rule.name] = times[0]
        else:
            self._next_ticks.pop(rule.name, None)

    def stop_ticking(self) -> None:
        """No more rule fires (what is already running goes on)."""
        self._next_ticks.clear()

    def serve_invokes(self) -> None:
        """Answer Lambda Invoke calls made to the moto endpoint (``cronlane trigger`` on the twin)
        by running the function here, as Lambda would."""
        by_name = {info.name: logical for logical, info in self.stack.functions.items()}

        def invoke(function_name: str, body: str) -> tuple[str, bool]:
            logical = by_name.get(function_name.rsplit(":", 1)[-1])
            if logical is None:
                return json.dumps({"errorMessage": f"no function {function_name}"}), True
            invocation = Invocation(logical, json.loads(body), "sync")
            done: Future[Invocation] = Future()
            self._external.put((invocation, done))
            self._wake()
            finished = done.result(timeout=3600)
            if finished.error is not None:
                return json.dumps(finished.error), True
            return json.dumps(finished.response), False

        _MotoHooks.invoke = invoke

    def warm(self, function: str, count: int | None = None) -> None:
        """Start ``count`` environments of ``function`` (default: as many as it may use) and wait
        until each has imported its handler, like provisioned concurrency. Process start-up on a
        small machine would otherwise stretch the first jobs on a scaled clock."""
        wanted = self._caps.get(function, 1) if count is None else count
        while len([e for e in self.envs if e.function == function and e.state != "dead"]) < wanted:
            self._spawn(function)
        while any(e.state == "starting" for e in self.envs):
            self._collect(block=True, timeout=1.0)

    def inject(self, point: str, times: int = 1, **match: Any) -> Fault:
        """Kill the environment that reaches crash point ``point`` (with matching keys), ``times``
        times. Runtime-level points: ``esm.skip_delete`` (the mapping does not delete a
        successfully processed message, so SQS delivers it again after its visibility timeout)."""
        fault = Fault(next(self._fault_ids), point, match, times)
        if point == "esm.skip_delete":
            self._skip_deletes.append({"fault": fault, **match})
        else:
            self._faults.append(fault)
        return fault

    def observe_requests(self, observer: Callable[[dict[str, Any]], None] | None) -> None:
        """Call ``observer`` with every DynamoDB and SQS request served from now on (None: stop),
        with ``who`` the function (``DispatcherFunction``...) or ``runtime`` (the event source
        mapping and the runtime's own reads)."""
        if observer is None:
            _MotoHooks.observer = None
            return
        names = self.env_functions

        def named(record: dict[str, Any]) -> None:
            record["who"] = names.get(record["who"], record["who"])
            observer(record)

        _MotoHooks.observer = named

    def record_requests(self) -> Callable[[], set[tuple[str, str]]]:
        """From now on, note each AWS API operation the functions call; the returned function
        gives the (function, operation) pairs seen so far (what their IAM roles must allow)."""
        seen: set[tuple[str, str]] = set()

        def note(record: dict[str, Any]) -> None:
            if record["who"] != "runtime":  # the functions', not the runtime's own requests
                seen.add((record["who"], record["operation"]))

        self.observe_requests(note)
        return lambda: set(seen)

    def transient_errors(self, rate: float, seed: int = 0, burst_every: int = 10) -> TransientErrors:
        """From now on, answer a share of the functions' DynamoDB and SQS requests with
        throttling or 5xx errors (``rate`` 0 stops it)."""
        errors = TransientErrors(rate, seed, burst_every) if rate > 0 else None
        _MotoHooks.transient_errors = errors
        return errors or TransientErrors(0.0, seed)

    def scheduled_event(self, schedule: str, scheduled_time: float) -> dict[str, Any]:
        """What EventBridge sends the rule's target for a tick: its constant ``Input`` if it has
        one (then without the time), else the Scheduled Event. An EventBridge Scheduler schedule
        sends its Input with the context attributes filled in."""
        rule = self.rule_for(schedule)
        if rule.kind == "scheduler":
            attempt_id = uuid.uuid5(uuid.NAMESPACE_URL, f"{rule.arn}@{scheduled_time}").hex[:16]
            values = {
                "schedule-arn": rule.arn,
                "scheduled-time": iso(int(scheduled_time)),
                "execution-id": attempt_id,
                "attempt-number": "1",
            }
            text = rule.target_input or "{}"
            for key, value in values.items():
                text = text.replace(f"<aws.scheduler.{key}>", value)
            return dict(json.loads(text))
        if rule.target_input is not None:
            return dict(json.loads(rule.target_input))
        return {
            "version": "0",
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{rule.arn}@{scheduled_time}")),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": ACCOUNT,
            "time": iso(int(scheduled_time)),
            "region": REGION,
            "resources": [rule.arn],
            "detail": {},
        }

    def rule_for(self, schedule: str) -> Any:
        name = self.stack.rule_prefix() + schedule
        for rule in self.stack.rules:
            if rule.name == name:
                return rule
        known = ", ".join(r.name for r in self.stack.rules)
        raise KeyError(f"no rule named {name} in the stack (rules: {known})")

    def fire(self, schedule: str, scheduled_time: float) -> Invocation:
        """Fire the rule of ``schedule`` once: an asynchronous invocation of its target."""
        rule = self.rule_for(schedule)
        return self.invoke_async(rule.target_function, self.scheduled_event(schedule, scheduled_time))

    def invoke_async(self, function: str, event: dict[str, Any]) -> Invocation:
        invocation = Invocation(function, event, "async")
        self._waiting.append(invocation)
        return invocation

    def invoke(self, function: str, event: dict[str, Any], limit_s: float = 3600.0) -> Invocation:
        """Invoke synchronously (like ``sam local invoke``) while the rest of the runtime runs."""
        invocation = Invocation(function, event, "sync")
        self._waiting.append(invocation)
        self.run_until(lambda: invocation.done, limit_s=limit_s)
        return invocation

    def run_until(self, condition: Callable[[], bool], limit_s: float = 86_400.0) -> None:
        """Drive everything until ``condition()`` holds; ``limit_s`` is in clock seconds."""
        end = self.now() + limit_s
        while True:
            progressed = self._start_waiting() | self._poll_mappings()
            if self._running():
                self._collect(block=True)
                continue
            if progressed:
                continue
            if condition():
                return
            if self.now() >= end:
                raise TimeoutError(f"condition not met within {limit_s:.0f}s of clock time")
            self._idle(end)

    def run_to(self, when: float) -> None:
        """Drive everything until the clock reaches ``when`` (a virtual clock jumps there once
        nothing else is due before it)."""
        self._alarms.append(when)
        try:
            self.run_until(lambda: self.now() >= when, limit_s=max(when - self.now(), 0.0) + 1.0)
        finally:
            self._alarms.remove(when)

    def queue_empty(self) -> bool:
        """No message left in any mapped queue (visible, delayed or in flight)."""
        from moto.sqs.models import sqs_backends

        backend = sqs_backends[ACCOUNT][REGION]
        for mapping in self.stack.mappings:
            queue = backend.queues.get(mapping.queue_arn.rsplit(":", 1)[-1])
            if queue is not None and queue._messages:
                return False
        return True

    def drain(self, limit_s: float = 7 * 86_400.0) -> None:
        """Run until every mapped queue is empty and no invocation is waiting or running."""
        self.run_until(
            lambda: (
                self.queue_empty()
                and not self._waiting
                and not self._retries
                and all(e.invocation is None for e in self.envs)
            ),
            limit_s=limit_s,
        )

    def close(self) -> None:
        for env in self.envs:
            if env.state != "dead":
                with contextlib.suppress(BrokenPipeError, OSError):
                    env.conn.send(("stop",))
        for env in self.envs:
            env.process.join(timeout=5)
            if env.process.is_alive():
                env.process.kill()
        _MotoHooks.clock = None
        _MotoHooks.wake = None
        _MotoHooks.invoke = None
        _MotoHooks.transient_errors = None
        _MotoHooks.observer = None

    def __enter__(self) -> LocalRuntime:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- the loop -----------------------------------------------------------------------------

    def _running(self) -> bool:
        """Environments executing code now (in virtual time, time cannot move until they stop)."""
        if self.clock.virtual:
            return any(e.state in ("running", "starting") for e in self.envs)
        return False  # on the real clock, _idle waits for results with a timeout instead

    def _idle(self, end: float) -> None:
        """Nothing runs: wait (real clock) or jump (virtual clock) to the next thing that happens."""
        if self.clock.virtual and self._signal_r.poll():
            # A message was sent just before its sender went to sleep: look at the queue before
            # letting time move.
            self._drain_signal()
            return
        timers = [t for t in self._timers() if t is not None]
        if self.clock.virtual:
            if not timers:
                raise RuntimeStalled("no environment is busy, no message is waiting and no timer is set")
            self.clock.advance_to(min(*timers, end))
            self._on_time()
            return
        horizon = min([*timers, end]) - self.now()
        self._collect(block=True, timeout=max(0.0, min(self.clock.real_seconds(horizon), 0.25)))
        self._on_time()

    def _timers(self) -> list[float | None]:
        timers: list[float | None] = [e.wake_at for e in self.envs if e.state == "sleeping"]
        timers += [e.invocation.deadline for e in self.envs if e.invocation and e.state != "dead"]
        if self._retries:
            timers.append(self._retries[0][0])
        timers += list(self._next_ticks.values())
        timers += self._alarms
        timers.append(self._next_visible())
        return timers

    def _on_time(self) -> None:
        now = self.now()
        for env in self.envs:
            if env.state == "sleeping" and env.wake_at is not None and env.wake_at <= now:
                env.state, env.wake_at = "running", None
                env.conn.send(("wake", now))
            inv = env.invocation
            if inv and inv.deadline is not None and now >= inv.deadline and env.state != "dead":
                self._kill(env, reason="timed out")  # Lambda ends an invocation at its timeout
        for name, at in list(self._next_ticks.items()):
            if at <= now:
                rule = next(r for r in self.stack.rules if r.name == name)
                schedule = name.removeprefix(self.stack.rule_prefix())
                self.fires.append((schedule, at))
                self._waiting.append(
                    Invocation(rule.target_function, self.scheduled_event(schedule, at), "async")
                )
                self.start_ticking_rule(rule, at)
        while self._retries and self._retries[0][0] <= now:
            _, _, invocation = heapq.heappop(self._retries)
            self._waiting.append(invocation)
        self._dirty = True

    def _next_visible(self) -> float | None:
        """When the next in-flight or delayed message of a mapped queue becomes visible."""
        from moto.sqs.models import sqs_backends

        backend = sqs_backends[ACCOUNT][REGION]
        soonest = None
        now_ms = self.now() * 1000.0
        for mapping in self.stack.mappings:
            queue = backend.queues.get(mapping.queue_arn.rsplit(":", 1)[-1])
            if queue is None:
                continue
            for message in list(queue._messages):
                for at in (message.visible_at, message.delayed_until):
                    if at and at >= now_ms and (soonest is None or at < soonest):
                        soonest = at
        return None if soonest is None else soonest / 1000.0 + 0.001

    # -- environments -------------------------------------------------------------------------

    def _spawn(self, function: str) -> Env:
        info = self.stack.functions[function]
        env_id = next(self._env_ids)
        self.env_functions[f"cronlane-env-{env_id}"] = function
        log_path = self.log_dir / f"{function}-{env_id}.log"
        environment = {
            **info.environment,
            **client_env(self.stack.endpoint),
            "AWS_LAMBDA_FUNCTION_NAME": info.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(info.memory_mb),
            "AWS_LAMBDA_LOG_STREAM_NAME": log_path.name,
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
            "AWS_SDK_UA_APP_ID": f"cronlane-env-{env_id}",
            "_HANDLER": info.handler,
            "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon here
            "PYTHONDONTWRITEBYTECODE": os.environ.get("PYTHONDONTWRITEBYTECODE", ""),
            **self.env_overrides,
        }
        spec = EnvSpec(
            function=function,
            function_name=info.name,
            handler=info.handler,
            code_dir=str(info.code_dir),
            layer_dirs=tuple(str(p) for p in info.layer_dirs),
            environment=environment,
            timeout_s=info.timeout_s,
            memory_mb=info.memory_mb,
            log_path=str(log_path),
            clock=self.clock.spec(),
        )
        parent, child = _ctx.Pipe()
        process = _ctx.Process(target=serve, args=(child, spec), daemon=True, name=f"{function}-{env_id}")
        process.start()
        child.close()
        env = Env(env_id, function, process, parent, log_path)
        self.envs.append(env)
        return env

    def _available(self, function: str) -> Env | None:
        for env in self.envs:
            if env.function == function and env.state == "idle" and env.pending is None:
                return env
        live = [e for e in self.envs if e.function == function and e.state != "dead"]
        if len(live) < self._caps.get(function, 2):
            return self._spawn(function)
        return None

    def _has_capacity(self, function: str) -> bool:
        live = [e for e in self.envs if e.function == function and e.state != "dead"]
        idle = any(e.state == "idle" and e.pending is None for e in live)
        return idle or len(live) < self._caps.get(function, 2)

    def _start(self, env: Env, invocation: Invocation) -> None:
        if env.state == "starting":
            env.pending = invocation
            return
        info = self.stack.functions[invocation.function]
        now = self.now()
        invocation.started_at = now
        invocation.deadline = now + info.timeout_s
        env.invocation = invocation
        env.state = "running"
        faults = [{"id": f.id, "point": f.point, "match": f.match} for f in self._faults if f.times > 0]
        env.conn.send(
            (
                "invoke",
                invocation.request_id,
                invocation.event,
                self.clock.spec(),
                invocation.deadline,
                faults,
            )
        )
        self.invocations.append(invocation)

    def _start_waiting(self) -> bool:
        while not self._external.empty():
            invocation, done = self._external.get()
            invocation.on_done = done.set_result
            self._waiting.append(invocation)
        started = False
        for invocation in list(self._waiting):
            env = self._available(invocation.function)
            if env is None:
                continue
            self._waiting.remove(invocation)
            self._start(env, invocation)
            started = True
        return started

    def _collect(self, block: bool, timeout: float | None = None) -> None:
        conns: dict[Any, Env] = {e.conn: e for e in self.envs if e.state in ("running", "starting")}
        waitables: list[Any] = [*conns, self._signal_r]
        if not conns and not block:
            return
        ready = wait(waitables, timeout=None if (block and timeout is None) else (timeout or 0))
        for conn in ready:
            if conn is self._signal_r:
                self._drain_signal()
                continue
            env = conns[conn]
            try:
                message = env.conn.recv()
            except (EOFError, OSError):
                self._kill(env, reason="crashed")
                continue
            self._on_message(env, message)

    def _on_message(self, env: Env, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "ready":
            env.init_s = message[1]
            env.state = "idle"
            if env.pending is not None:
                invocation, env.pending = env.pending, None
                self._start(env, invocation)
        elif kind == "sleep":
            env.state, env.wake_at = "sleeping", float(message[1])
        elif kind == "crash":
            for fault in self._faults:
                if fault.id == message[1]:
                    fault.times -= 1
                    self.fired_faults.append(fault)
        elif kind == "result":
            finished = env.invocation
            env.invocation, env.state = None, "idle"
            if finished is not None:
                self._finish(finished, response=message[2], error=message[3])

    def _kill(self, env: Env, reason: str) -> None:
        """The environment is gone (a crash point, or Lambda's timeout): its invocation failed."""
        if env.state == "starting":
            env.process.join(timeout=5)
            env.state = "dead"
            tail = env.log_path.read_text(errors="replace")[-3000:] if env.log_path.exists() else ""
            raise EnvironmentFailed(f"{env.function} failed to initialise (see {env.log_path}):\n{tail}")
        if env.process.is_alive():
            env.process.kill()
        env.process.join(timeout=5)
        env.state = "dead"
        invocation, env.invocation = env.invocation, None
        if env.pending is not None:
            self._waiting.append(env.pending)
            env.pending = None
        if invocation is not None:
            invocation.crashed = True
            self._finish(
                invocation, response=None, error={"errorType": "Runtime.ExitError", "errorMessage": reason}
            )
        self._dirty = True

    def _finish(self, invocation: Invocation, response: Any, error: dict[str, Any] | None) -> None:
        invocation.finished_at = self.now()
        invocation.response, invocation.error = response, error
        invocation.done = True
        if invocation.on_done is not None:
            invocation.on_done(invocation)
        if invocation.kind == "esm":
            self._settle_batch(invocation)
        elif (
            invocation.kind == "async"
            and error is not None
            and invocation.attempt < len(ASYNC_RETRY_DELAYS_S)
        ):
            # Lambda retries a failed asynchronous invocation twice, then drops it (or sends it
            # to an on-failure destination).
            retry = Invocation(invocation.function, invocation.event, "async", attempt=invocation.attempt + 1)
            at = self.now() + ASYNC_RETRY_DELAYS_S[invocation.attempt]
            heapq.heappush(self._retries, (at, next(self._seq), retry))
        self._dirty = True

    # -- the event source mapping -------------------------------------------------------------

    def _poll_mappings(self) -> bool:
        if not self._dirty or not self.mappings_enabled:
            return False
        self._dirty = False
        started = False
        for mapping in self.stack.mappings:
            while self._has_capacity(mapping.function):
                messages = _mapping_receive(mapping)
                if not messages:
                    break
                env = self._available(mapping.function)
                assert env is not None
                invocation = Invocation(
                    mapping.function, _sqs_event(mapping, messages), "esm", mapping=mapping
                )
                for message in messages:
                    invocation.receipts[message["MessageId"]] = message["ReceiptHandle"]
                    invocation.jobs[message["MessageId"]] = _job_of(message["Body"])
                self._start(env, invocation)
                started = True
        return started

    def _settle_batch(self, invocation: Invocation) -> None:
        """Delete what succeeded; leave the rest to the visibility timeout (Lambda's behaviour)."""
        assert invocation.mapping is not None
        if invocation.error is not None:
            return
        failed: set[str] = set()
        if invocation.mapping.report_batch_item_failures and isinstance(invocation.response, dict):
            failed = {f.get("itemIdentifier") for f in invocation.response.get("batchItemFailures") or []}
            if not failed <= set(invocation.receipts):
                return  # an identifier that names no record: Lambda treats the batch as failed
        entries: list[Any] = []
        for message_id, receipt in invocation.receipts.items():
            if message_id in failed or self._skip_delete(invocation.jobs.get(message_id)):
                continue
            entries.append({"Id": str(len(entries)), "ReceiptHandle": receipt})
        for start in range(0, len(entries), 10):
            _mapping_delete(invocation.mapping, entries[start : start + 10])

    def _skip_delete(self, job: str | None) -> bool:
        for plan in self._skip_deletes:
            fault: Fault = plan["fault"]
            if fault.times > 0 and plan.get("job") in (None, job):
                fault.times -= 1
                self.fired_faults.append(fault)
                return True
        return False

    # -- wake-up signal from moto -------------------------------------------------------------

    def _wake(self) -> None:
        with self._signal_lock:
            if not self._signalled:
                self._signalled = True
                self._signal_w.send_bytes(b"!")

    def _drain_signal(self) -> None:
        with self._signal_lock:
            while self._signal_r.poll():
                self._signal_r.recv_bytes()
            self._signalled = False
        self._dirty = True


# -- the event source mapping's own SQS calls --------------------------------------------------
#
# On AWS the mapping is Lambda's poller, inside AWS: its ReceiveMessage and DeleteMessageBatch do
# not go through an SDK on the function's side. Here they are served by moto's SQS backend in
# this process (under the server's lock, so one request at a time as before), which saves the
# hand-off an HTTP round trip. They are still SQS requests: the observer sees each one, as
# ``runtime``, with the JSON a served request would have had (the cost benchmark bills them).


def _mapping_receive(mapping: MappingInfo) -> list[dict[str, Any]]:
    """ReceiveMessage(MaxNumberOfMessages=batch size, WaitTimeSeconds=0, all attributes)."""
    from moto.sqs.models import sqs_backends

    request = {
        "QueueUrl": mapping.queue_url,
        "MaxNumberOfMessages": mapping.batch_size,
        "WaitTimeSeconds": 0,
        "AttributeNames": ["All"],
        "MessageAttributeNames": ["All"],
    }
    with _MotoHooks.lock:
        began = time.time()
        backend = sqs_backends[ACCOUNT][REGION]
        name = mapping.queue_arn.rsplit(":", 1)[-1]
        found: Any = backend.get_queue(name)  # moto sets visibility_timeout from its attributes
        visibility = int(found.visibility_timeout)
        received = backend.receive_message(name, mapping.batch_size, 0, visibility, ["All"])
        messages = [_received(m) for m in received]
        _observe_mapping("ReceiveMessage", request, {"Messages": messages} if messages else {}, began)
    return messages


def _mapping_delete(mapping: MappingInfo, entries: list[dict[str, str]]) -> None:
    """DeleteMessageBatch of what the invocation handled."""
    from moto.sqs.models import sqs_backends

    with _MotoHooks.lock:
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
    observer = _MotoHooks.observer
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


def _sqs_event(mapping: MappingInfo, messages: list[dict[str, Any]]) -> dict[str, Any]:
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
