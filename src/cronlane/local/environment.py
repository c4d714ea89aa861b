"""A simulated Lambda execution environment: one process, one function, one invocation at a time.

Like Lambda, an environment imports the handler once (its cold start) and then serves
invocations until it is stopped or killed. Each has its own process, so Powertools' class-level
metrics buffer and shared logger keys cannot mix between environments (docs/aws-facts.md: Powertools),
and its own log file, like a CloudWatch log stream.

Protocol on the pipe (parent -> child): ("invoke", request_id, event, clock, deadline, faults),
("wake", now), ("stop",). Child -> parent: ("ready", init_seconds), ("sleep", until),
("crash", fault_id), ("result", request_id, response, error, max_memory_used_mb).

The runtime kills an environment that uses more memory than its function's ``MemorySize``, as
Lambda does (``cronlane.local.memory``).
"""

from __future__ import annotations

import importlib
import logging
import math
import os
import resource
import secrets
import sys
import time
import traceback
from dataclasses import dataclass
from typing import Any

from cronlane.local.node import NodeFailed, NodeHandler, is_node


@dataclass(frozen=True)
class EnvSpec:
    function: str  # logical id
    function_name: str
    handler: str
    code_dir: str
    layer_dirs: tuple[str, ...]
    environment: dict[str, str]
    timeout_s: int
    memory_mb: int
    log_path: str
    clock: tuple[Any, ...]  # ("scaled", origin, scale, real_origin) or ("virtual", now)
    runtime: str = "python3.13"  # a Python one runs in this process; nodejs in a node process


class _ProxyClock:
    """The virtual clock inside an environment: time moves only when the runtime says so.

    ``sleep`` hands control back to the runtime, which advances virtual time once every
    environment is asleep or idle, and wakes this one when its time comes.
    """

    def __init__(self, conn: Any, now: float) -> None:
        self.conn = conn
        self._now = now

    def now(self) -> float:
        return self._now

    def set(self, now: float) -> None:
        self._now = now

    def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        self.conn.send(("sleep", self._now + seconds))
        message = self.conn.recv()
        if message[0] != "wake":
            raise RuntimeError(f"virtual clock expected a wake-up, got {message[0]!r}")
        self._now = message[1]


def _follow_invokes(clock: _ProxyClock) -> None:
    """A Lambda Invoke this environment waits for (a lambda target's) lets virtual time move
    (the function it invoked may sleep): the twin's answer says the time (``x-cronlane-clock``,
    ``moto_patches.patch_lambda_invoke``), and this environment's clock moves to it."""
    import boto3

    def caught_up(http_response: Any = None, **_: Any) -> None:
        said = getattr(http_response, "headers", {}).get("x-cronlane-clock")
        if said:
            clock.set(max(clock.now(), float(said)))

    boto3.setup_default_session()
    assert boto3.DEFAULT_SESSION is not None
    boto3.DEFAULT_SESSION.events.register("after-call.lambda.Invoke", caught_up)


class LambdaContext:
    """What Lambda passes as ``context``; the remaining time follows the runtime's clock."""

    def __init__(self, spec: EnvSpec, request_id: str, deadline: float, clock: Any) -> None:
        self.function_name = spec.function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{spec.function_name}"
        self.memory_limit_in_mb = spec.memory_mb
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{spec.function_name}"
        self.log_stream_name = os.path.basename(spec.log_path)
        self._deadline = deadline
        self._clock = clock

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - self._clock.now()) * 1000))


class UnsupportedRuntime(RuntimeError):
    """A function in a runtime the local runtime does not run."""


def max_memory_used_mb() -> int:
    """This process's peak resident memory so far: what Lambda's REPORT line calls Max Memory Used
    (``getrusage`` counts in kilobytes on Linux)."""
    return math.ceil(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def _load_handler(spec: EnvSpec, log: Any) -> Any:
    """The function's handler, loaded once (its cold start): Python's in this process, a Node.js
    function's in a node process (``cronlane.local.node``)."""
    if is_node(spec.runtime):
        return NodeHandler(spec.handler, spec.code_dir, spec.environment, log)
    if not spec.runtime.startswith("python"):
        raise UnsupportedRuntime(
            f"{spec.function} has Runtime {spec.runtime}: the local runtime runs python3.x and nodejs "
            "functions only"
        )
    module_name, _, attr = spec.handler.rpartition(".")
    return getattr(importlib.import_module(module_name), attr)


def _stamp_records_with(clock: Any) -> None:
    """Time every log record by the runtime's clock, as on AWS a record is timed by the one clock
    there is: a twin with a scaled clock then writes the run's times into its logs, and
    ``cronlane logs`` shows them beside the run's."""
    make = logging.getLogRecordFactory()

    def stamped(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        now = clock.now()
        record.created, record.msecs = now, (now % 1) * 1000
        return record

    logging.setLogRecordFactory(stamped)


def trace_header() -> str:
    """The X-Ray header Lambda gives each invocation (``_X_AMZN_TRACE_ID``), here never sampled:
    as Lambda's with PassThrough tracing and no sampled header from the caller."""
    root = f"1-{int(time.time()):08x}-{secrets.token_hex(12)}"
    return f"Root={root};Parent={secrets.token_hex(8)};Sampled=0"


def serve(conn: Any, spec: EnvSpec) -> None:
    """The body of an environment process."""
    log = open(spec.log_path, "a", buffering=1)  # noqa: SIM115 - lives as long as the process
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    sys.stdout = log
    sys.stderr = log
    os.environ.update({k: str(v) for k, v in spec.environment.items()})
    for path in (*spec.layer_dirs, spec.code_dir):
        sys.path.insert(0, path)

    from cronlane import clock as clock_module
    from cronlane import faults

    clock: Any
    if spec.clock[0] == "virtual":
        clock = _ProxyClock(conn, spec.clock[1])
        _follow_invokes(clock)
    else:
        clock = clock_module.ScaledClock(spec.clock[1], spec.clock[2], spec.clock[3])
    clock_module.install_default_clock(clock)
    _stamp_records_with(clock)

    active_faults: list[dict[str, Any]] = []

    def crash_if_planned(point: str, where: dict[str, Any]) -> None:
        for fault in list(active_faults):
            if fault["point"] != point or not all(where.get(k) == v for k, v in fault["match"].items()):
                continue
            if fault["kind"] == "hold":  # wait here until the runtime says go on
                active_faults.remove(fault)
                print(f"[local runtime] environment held at crash point {point} {where}", flush=True)
                conn.send(("held", fault["id"]))
                message = conn.recv()
                if message[0] != "release":
                    raise RuntimeError(f"a held environment expected a release, got {message[0]!r}")
                continue
            print(f"[local runtime] environment killed at crash point {point} {where}", flush=True)
            conn.send(("crash", fault["id"]))
            log.flush()
            os._exit(137)

    faults.install(crash_if_planned)

    started = time.perf_counter()
    handler = _load_handler(spec, log)
    conn.send(("ready", time.perf_counter() - started))

    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message[0] == "stop":
            log.flush()
            os._exit(0)  # like Lambda reclaiming an environment: no interpreter shutdown
        _, request_id, event, clock_spec, deadline, planned = message
        active_faults[:] = planned
        if isinstance(clock, _ProxyClock):
            clock.set(clock_spec[1])
        else:  # the runtime may restart its scaled clock (after warming environments up)
            clock.origin, clock.scale, clock.real_origin = clock_spec[1:]
        context = LambdaContext(spec, request_id, deadline, clock)
        os.environ["_X_AMZN_TRACE_ID"] = trace_header()  # Lambda sets one for every invocation
        try:
            response = handler(event, context)
            error = None
        except NodeFailed as exc:  # the Node.js runtime's own report of the function's error
            response, error = None, exc.error
        except Exception as exc:  # reported like Lambda's function error
            response = None
            error = {
                "errorType": type(exc).__name__,
                "errorMessage": str(exc),
                "stackTrace": traceback.format_exc().splitlines()[-8:],
            }
            print(traceback.format_exc(), flush=True)
        log.flush()
        conn.send(("result", request_id, response, error, max_memory_used_mb()))
