"""The embedded default, part 2: the local runtime that does what AWS would do around the code.

- a moto server on loopback holds the stack (``stack.create_stack``), with the patches of
  ``moto_patches`` (checked against the installed moto before anything starts);
- a clock, real (optionally scaled) or virtual (``clock``), that also drives moto's SQS clock;
- the rules: ticks are fired through the dispatcher handler, asynchronously and with retries, as
  EventBridge invokes a Lambda target;
- the event source mapping (``event_source``): up to the batch size is received, real SQS
  records are built, the executor handler is invoked, and only the successes are deleted;
- several Lambda environments per function, each its own process with its own log file
  (``environment``), killed if it uses more memory than its function's ``MemorySize``, and the
  faults a test injects (``faults``);
- the processes outside Lambda (``tasks``): an ECS RunTask on the twin runs the task's
  containers as local processes, whose end is EventBridge's "ECS Task State Change" event to
  the rules that match it, and each queue with a local worker gets its process.

Virtual time is a conservative discrete-event simulation: it advances only when no environment
and no outside process is executing code, to the earliest of the next sleeping job's wake-up,
the next tick, the next message becoming visible, a retry, or an invocation deadline. No real
sleeping happens.
"""

from __future__ import annotations

import contextlib
import functools
import heapq
import itertools
import json
import math
import multiprocessing
import os
import queue
import re
import signal
import socket
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

from cronlane.clock import iso
from cronlane.errors import CronlaneError
from cronlane.local import checks, event_source
from cronlane.local.clock import RuntimeClock
from cronlane.local.environment import EnvSpec, serve
from cronlane.local.faults import Fault, TransientErrors
from cronlane.local.memory import MemoryWatch, Watched, killed_line
from cronlane.local.moto_patches import ACCOUNT, Hooks, IndexLag, moto_endpoint, reset_moto
from cronlane.local.stack import REGION, StackInfo, client_env
from cronlane.local.tasks import OutsideProcesses, TaskRun, WorkerRun, pattern_matches

__all__ = ["LocalRuntime", "RuntimeClock", "moto_endpoint", "reset_moto"]
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


class NoRule(CronlaneError):
    """A schedule of the catalog has no rule (or Scheduler schedule) in the template."""


def port_is_free(port: int) -> str | None:
    """None if the twin can listen on 127.0.0.1:``port``, else why not (it is taken). Bound as
    the server binds (SO_REUSEADDR): connections of a twin that just stopped, left in TIME-WAIT,
    do not keep the port; another server listening on it does."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            return exc.strerror or str(exc)
    return None


# ---------------------------------------------------------------------------------------------
# Invocations and environments
# ---------------------------------------------------------------------------------------------


@dataclass
class Invocation:
    function: str
    event: dict[str, Any]
    kind: str  # "esm", "async" or "sync"
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    batch: event_source.Batch | None = None  # an event source mapping's (kind "esm")
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
    state: str = "starting"  # starting | idle | running | sleeping | held | dead
    wake_at: float | None = None
    invocation: Invocation | None = None
    pending: Invocation | None = None
    init_s: float | None = None
    held_by: int | None = None  # the hold fault it waits at
    # Lambda invocations it waits for (a lambda target invoked synchronously): while it waits it
    # executes nothing, so a virtual clock may move (the function it waits for may sleep)
    invoking: int = 0
    memory_mb: int = 128  # its function's MemorySize
    out_of_memory: float | None = None  # the memory it used when it was killed for using too much
    peak_mb: float = 0.0  # the most the memory watch saw it use, its child processes included


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
        source_dirs: tuple[Path, ...] = (),
        workers: bool = True,
    ) -> None:
        """``workers``: start the stack's local workers (``start_workers``) the first time the
        runtime is driven (``run_until`` and what calls it), after whatever set its clock."""
        self.stack = stack
        self.source_dirs = source_dirs  # the app's source: on every environment's sys.path
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
        # per function: the most memory an environment of it used (Lambda's Max Memory Used),
        # and how many of its environments were killed for using more than its MemorySize
        self.max_memory_used_mb: dict[str, int] = {}
        self.out_of_memory: Counter[str] = Counter()
        self._memory = MemoryWatch(self._running_environments)
        self._skip_deletes: list[dict[str, Any]] = []
        self._dirty = True  # the queue may have visible messages
        self.mappings_enabled = True  # False: like disabling the event source mapping
        # sync invocations from outside the loop (a Lambda Invoke on the twin), with what answers them
        self._external: queue.Queue[tuple[Invocation, Callable[[Invocation], None]]] = queue.Queue()
        self._next_ticks: dict[str, float] = {}  # rule name -> next fire time (when ticking)
        self._alarms: list[float] = []  # times run_to waits for
        self.fires: list[tuple[str, float]] = []
        # The runs' one-time checks (cronlane.watchdog) fire when due; False: they never do.
        self.checks_enabled = True
        self.check_fires: list[tuple[str, float]] = []  # (schedule name, due) of each that fired
        self._signal_r, self._signal_w = _ctx.Pipe(duplex=False)
        self._signal_lock = threading.Lock()
        self._signalled = False
        self.outside = OutsideProcesses(
            stack, self.clock, log_dir, self._wake, self.send_event, source_dirs=source_dirs
        )
        self._auto_workers = workers
        Hooks.clock = self.clock
        Hooks.wake = self._wake
        Hooks.run_task = self.outside.on_run_task
        Hooks.stop_task = self.outside.on_stop_task
        # the run events the functions published (cronlane.run_events), as EventBridge delivers
        # each to a rule's target, in order
        self.run_events: list[dict[str, Any]] = []
        self._events_lock = threading.Lock()
        Hooks.put_events = self._put_events

    def _put_events(self, entries: list[dict[str, Any]]) -> None:
        now = self.clock.now()
        events = []
        for entry in entries:
            try:
                detail = json.loads(entry.get("Detail") or "{}")
            except ValueError:
                detail = {}
            events.append(
                {
                    "version": "0",
                    "id": uuid.uuid4().hex,
                    "detail-type": entry.get("DetailType", ""),
                    "source": entry.get("Source", ""),
                    "account": ACCOUNT,
                    "time": iso(int(now)),
                    "region": REGION,
                    "resources": list(entry.get("Resources") or []),
                    "detail": detail,
                }
            )
        with self._events_lock:
            self.run_events.extend(events)

    def events_of(self, run_id: str) -> list[dict[str, Any]]:
        """The run events published so far about ``run_id``."""
        with self._events_lock:
            return [e for e in self.run_events if e["detail"].get("run_id") == run_id]

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

        def invoke(function_name: str, body: str, caller: str = "") -> tuple[str, bool]:
            logical = by_name.get(function_name.rsplit(":", 1)[-1])
            if logical is None:
                return json.dumps({"errorMessage": f"no function {function_name}"}), True
            invocation = Invocation(logical, json.loads(body), "sync")
            done: Future[Invocation] = Future()
            waiting = self._caller_env(caller)
            if waiting is not None:
                waiting.invoking += 1  # back to 0 in the runtime's loop, as the answer is given

                def answered(result: Invocation, env: Env = waiting) -> None:
                    env.invoking -= 1
                    done.set_result(result)

                self._external.put((invocation, answered))
            else:
                self._external.put((invocation, done.set_result))
            self._wake()
            finished = done.result(timeout=3600)
            if finished.error is not None:
                return json.dumps(finished.error), True
            return json.dumps(finished.response), False

        Hooks.invoke = invoke

    def _caller_env(self, user_agent: str) -> Env | None:
        """The environment a request came from (its SDK's app id is ``cronlane-env-<id>``)."""
        found = re.search(r"cronlane-env-(\d+)", user_agent)
        if found is None:
            return None
        return next((e for e in self.envs if e.id == int(found.group(1))), None)

    def start_workers(self) -> None:
        """Start the worker of every queue with ``Metadata: cronlane: local-worker`` (once; an
        exited worker is started again after a backoff, until ``close``)."""
        self.outside.start_workers()

    @property
    def workers(self) -> dict[str, WorkerRun]:
        """The local workers, by their queue's logical id."""
        return self.outside.workers

    @property
    def tasks(self) -> dict[str, TaskRun]:
        """The ECS tasks RunTask started on this runtime, by task ARN."""
        return self.outside.tasks

    def send_event(self, event: dict[str, Any]) -> list[Invocation]:
        """Put ``event`` on the default event bus: each rule of the stack whose pattern matches it
        invokes its target asynchronously with it (or with the target's constant Input)."""
        sent = []
        for rule in self.stack.event_rules:
            if pattern_matches(rule.pattern, event):
                body = dict(json.loads(rule.target_input)) if rule.target_input is not None else event
                sent.append(Invocation(rule.target_function, body, "async"))
        self._waiting.extend(sent)
        self._dirty = True
        return sent

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

    def hold(self, point: str, **match: Any) -> Fault:
        """Stop the next environment that reaches crash point ``point`` (with matching keys) there,
        until ``release``: the rest of the runtime goes on meanwhile (a virtual clock moves), so a
        test can make two invocations interleave in the order it wants."""
        fault = Fault(next(self._fault_ids), point, match, 1, kind="hold")
        self._faults.append(fault)
        return fault

    def is_held(self, fault: Fault) -> bool:
        return any(e.held_by == fault.id for e in self.envs)

    def release(self, fault: Fault) -> None:
        """Let the environment held at ``fault`` go on from there."""
        for env in self.envs:
            if env.held_by == fault.id and env.state == "held":
                env.state, env.held_by = "running", None
                env.conn.send(("release",))

    def observe_requests(self, observer: Callable[[dict[str, Any]], None] | None, sizes: bool = True) -> None:
        """Call ``observer`` with every DynamoDB and SQS request served from now on (None: stop),
        with ``who`` the function (``DispatcherFunction``...) or ``runtime`` (the event source
        mapping and the runtime's own reads); ``sizes`` False: without the stored sizes of the
        items (``items`` and ``read`` empty), which take the server time to look up."""
        Hooks.observe_sizes = sizes
        if observer is None:
            Hooks.observer = None
            return
        names = self.env_functions

        def named(record: dict[str, Any]) -> None:
            record["who"] = names.get(record["who"], record["who"])
            observer(record)

        Hooks.observer = named

    def record_requests(self) -> Callable[[], set[tuple[str, str]]]:
        """From now on, note each AWS API operation the functions call; the returned function
        gives the (function, operation) pairs seen so far (what their IAM roles must allow)."""
        seen: set[tuple[str, str]] = set()

        def note(record: dict[str, Any]) -> None:
            if record["who"] != "runtime":  # the functions', not the runtime's own requests
                seen.add((record["who"], record["operation"]))

        self.observe_requests(note)
        return lambda: set(seen)

    def transient_errors(
        self,
        rate: float,
        seed: int = 0,
        burst_every: int = 10,
        services: tuple[str, ...] = ("dynamodb", "sqs", "scheduler"),
    ) -> TransientErrors:
        """From now on, answer a share of the functions' DynamoDB, SQS and Scheduler requests with
        throttling or 5xx errors (``rate`` 0 stops it; 1 fails every one: an outage)."""
        errors = TransientErrors(rate, seed, burst_every, services=services) if rate > 0 else None
        Hooks.transient_errors = errors
        return errors or TransientErrors(0.0, seed)

    def delay_index_visibility(self, seconds: float) -> None:
        """From now on, global secondary index queries see each item as it was ``seconds`` ago on
        this clock, as DynamoDB's eventually consistent indexes may (0: at once, as moto does)."""
        Hooks.index_lag = IndexLag(seconds) if seconds > 0 else None

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
        raise NoRule(
            f"schedule '{schedule}' has no rule in {self.stack.template_name}: add one named "
            f"${{AWS::StackName}}-{schedule} (the stack has: {known or 'none'})"
        )

    def fire(self, schedule: str, scheduled_time: float) -> Invocation:
        """Fire the rule of ``schedule`` once, at ``scheduled_time`` (the clock is driven there
        first if it is ahead, as EventBridge sends a tick at its time): an asynchronous invocation
        of its target."""
        if scheduled_time > self.now():
            self.run_to(scheduled_time)
        rule = self.rule_for(schedule)
        return self.invoke_async(rule.target_function, self.scheduled_event(schedule, scheduled_time))

    def invoke_async(self, function: str, event: dict[str, Any]) -> Invocation:
        invocation = Invocation(function, event, "async")
        self._waiting.append(invocation)
        return invocation

    def begin_invoke(self, function: str, event: dict[str, Any]) -> Invocation:
        """A synchronous invocation (no retries), started but not waited for: a client calling
        Invoke on a thread of its own while the test drives the rest (see ``hold``)."""
        invocation = Invocation(function, event, "sync")
        self._waiting.append(invocation)
        return invocation

    def invoke(self, function: str, event: dict[str, Any], limit_s: float = 3600.0) -> Invocation:
        """Invoke synchronously (like ``sam local invoke``) while the rest of the runtime runs."""
        invocation = Invocation(function, event, "sync")
        self._waiting.append(invocation)
        self.run_until(lambda: invocation.done, limit_s=limit_s)
        return invocation

    def run_until(self, condition: Callable[[], bool], limit_s: float = 86_400.0) -> None:
        """Drive everything until ``condition()`` holds; ``limit_s`` is in clock seconds. On a
        virtual clock, a process outside Lambda that computes (an ECS task's, a worker's) holds
        the clock, without a deadline: the condition is still looked at meanwhile."""
        if self._auto_workers and not self.outside.workers_started:
            self.start_workers()
        end = self.now() + limit_s
        while True:
            progressed = self.outside.tend() | self._start_waiting() | self._poll_mappings()
            if self._environments_running():
                self._collect(block=True)
                continue
            if progressed:
                continue
            if condition():
                return
            if self._running():  # outside processes compute: time stays until they sleep or end
                self._collect(block=True)
                continue
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

    def queued_bodies(self, queue_url: str) -> list[str]:
        """The body of every message on a queue, visible or not, read without receiving it (a
        receive would hide it, and count against its redrive policy): for checks that must
        not change what they check."""
        from moto.sqs.models import sqs_backends

        queue = sqs_backends[ACCOUNT][REGION].queues.get(queue_url.rstrip("/").rsplit("/", 1)[-1])
        with Hooks.lock:
            return [m.body for m in list(queue._messages)] if queue is not None else []

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

    def _running_environments(self) -> list[Watched]:
        """For the memory watch (its own thread): the environments running an invocation."""
        return [
            (env.process.pid, env.memory_mb, functools.partial(self._memory_read, env, inv.request_id))
            for env in list(self.envs)
            if env.state == "running" and (inv := env.invocation) is not None and env.process.pid
        ]

    def _memory_read(self, env: Env, request_id: str, used: float, killed: bool) -> None:
        env.peak_mb = max(env.peak_mb, used)
        if killed:
            env.out_of_memory = used
            with contextlib.suppress(OSError), open(env.log_path, "a") as log:
                log.write(killed_line(used, env.memory_mb, request_id))

    def _used_at_most(self, env: Env, mb: float) -> None:
        """A function's Max Memory Used so far: the most any of its environments used."""
        used = max(self.max_memory_used_mb.get(env.function, 0), math.ceil(max(mb, env.peak_mb)))
        self.max_memory_used_mb[env.function] = used

    def close(self) -> None:
        self._memory.stop()
        self.outside.close()
        for env in self.envs:
            if env.state != "dead":
                with contextlib.suppress(BrokenPipeError, OSError):
                    env.conn.send(("stop",))
        for env in self.envs:
            env.process.join(timeout=5)
            if env.process.is_alive():
                env.process.kill()
        Hooks.reset()

    def __enter__(self) -> LocalRuntime:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- the loop -----------------------------------------------------------------------------

    def _environments_running(self) -> bool:
        """Environments executing code now (in virtual time, time cannot move until they stop)."""
        if self.clock.virtual:
            return any(e.state in ("running", "starting") and not e.invoking for e in self.envs)
        return False  # on the real clock, _idle waits for results with a timeout instead

    def invoking(self) -> bool:
        """Some environment has an invocation in hand (starting it, running it or sleeping in it)."""
        return any(
            (e.invocation is not None or e.pending is not None) and e.state != "dead" for e in self.envs
        )

    def _running(self) -> bool:
        """Environments or outside processes executing code now (in virtual time, time cannot
        move until they stop)."""
        return self._environments_running() or (self.clock.virtual and self.outside.busy())

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
        if self.checks_enabled:
            timers.append(checks.next_due(self.stack.schedule_groups))
        timers += self.outside.timers()
        return timers

    def _on_time(self) -> None:
        now = self.now()
        self.outside.on_time(now)
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
        if self.checks_enabled:
            for due in checks.take_due(self.stack.schedule_groups, now):
                self._fire_check(due)
        while self._retries and self._retries[0][0] <= now:
            _, _, invocation = heapq.heappop(self._retries)
            self._waiting.append(invocation)
        self._dirty = True

    def _fire_check(self, due: checks.Due) -> None:
        """A one-time schedule fell due: EventBridge Scheduler invokes its target asynchronously."""
        by_name = {info.name: logical for logical, info in self.stack.functions.items()}
        logical = by_name.get(due.target_arn.rsplit(":", 1)[-1])
        if logical is None:
            return  # a target outside the stack: nothing here to invoke
        self.check_fires.append((due.name, due.at))
        self._waiting.append(Invocation(logical, dict(json.loads(due.input)), "async"))

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
            layer_dirs=tuple(str(p) for p in (*info.layer_dirs, *self.source_dirs)),
            environment=environment,
            timeout_s=info.timeout_s,
            memory_mb=info.memory_mb,
            log_path=str(log_path),
            clock=self.clock.spec(),
            runtime=info.runtime,
        )
        parent, child = _ctx.Pipe()
        process = _ctx.Process(target=serve, args=(child, spec), daemon=True, name=f"{function}-{env_id}")
        process.start()
        child.close()
        env = Env(env_id, function, process, parent, log_path, memory_mb=info.memory_mb)
        self.envs.append(env)
        self._memory.start()
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
        env.state = "running"  # from here its memory is watched (cronlane.local.memory)
        faults = [
            {"id": f.id, "point": f.point, "match": f.match, "kind": f.kind}
            for f in self._faults
            if f.times > 0
        ]
        message = (
            "invoke",
            invocation.request_id,
            invocation.event,
            self.clock.spec(),
            invocation.deadline,
            faults,
        )
        with contextlib.suppress(BrokenPipeError, OSError):  # killed already: its end is collected
            env.conn.send(message)
        self.invocations.append(invocation)

    def _start_waiting(self) -> bool:
        while not self._external.empty():
            invocation, answer = self._external.get()
            invocation.on_done = answer
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
                env.process.join(timeout=5)
                if env.out_of_memory is not None or env.process.exitcode == -signal.SIGKILL:
                    # above its MemorySize (cronlane.local.memory), or the kernel's own OOM killer
                    self.out_of_memory[env.function] += 1
                    self._used_at_most(env, env.out_of_memory or 0.0)
                    self._kill(env, "Runtime exited with error: signal: killed", "Runtime.OutOfMemory")
                else:
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
        elif kind in ("crash", "held"):
            for fault in self._faults:
                if fault.id == message[1]:
                    fault.times -= 1
                    self.fired_faults.append(fault)
            if kind == "held":
                env.state, env.held_by = "held", message[1]
        elif kind == "result":
            self._used_at_most(env, int(message[4]))  # the environment's own peak (getrusage)
            finished = env.invocation
            env.invocation, env.state = None, "idle"
            if finished is not None:
                self._finish(finished, response=message[2], error=message[3])

    def _kill(self, env: Env, reason: str, error_type: str = "Runtime.ExitError") -> None:
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
            self._finish(invocation, response=None, error={"errorType": error_type, "errorMessage": reason})
        self._dirty = True

    def _finish(self, invocation: Invocation, response: Any, error: dict[str, Any] | None) -> None:
        invocation.finished_at = self.now()
        invocation.response, invocation.error = response, error
        invocation.done = True
        if invocation.on_done is not None:
            invocation.on_done(invocation)
        if invocation.batch is not None:
            event_source.settle(invocation.batch, response, error, keep=self._skip_delete)
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
                batch = event_source.poll(mapping)
                if batch is None:
                    break
                env = self._available(mapping.function)
                assert env is not None
                self._start(env, Invocation(mapping.function, batch.event, "esm", batch=batch))
                started = True
        return started

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
