"""The embedded default, part 3: what the local runtime runs outside Lambda.

- ECS tasks. A RunTask on the twin (``moto_patches.patch_ecs_tasks``) starts one local process per
  container of the task definition: the command its ``Metadata: cronlane: local-command`` names
  (``stack``). StopTask stops them (SIGTERM to each process group, SIGKILL two real seconds
  later). Once they are gone, EventBridge's "ECS Task State Change" event (lastStatus STOPPED),
  in AWS's shape, goes to the target of every rule of the template whose pattern matches it,
  asynchronously, as EventBridge invokes a function. moto keeps its record of the task (its ARN is
  the task's ARN everywhere), updated as the processes start and end (``record_ecs_task``).
- Callback workers. A queue with ``Metadata: cronlane: local-worker`` gets that process, started
  again after a backoff whenever it exits.
- Their clock. ``CRONLANE_CLOCK`` tells a process the runtime's clock (``cronlane.worker`` reads
  it): a scaled clock is a formula; the virtual clock is served here, on loopback
  (``ClockServer``). A process counts as working, which keeps virtual time where it is, unless
  it is asleep in ``cronlane.worker.sleep``; then its wake-up is one of the runtime's timers.

A command line is split as a shell splits it (``shlex``; no shell runs it) and runs in the
template's folder. A leading ``python`` is the runtime's own interpreter, so the app's
environment is the process's; ``node`` is the node that Node.js functions run on
(``cronlane.local.node``). A process's environment: the runtime's, then (a task's container) its
definition's ``Environment`` and RunTask's container overrides, or (a worker)
``CRONLANE_QUEUE_URL`` and ``CRONLANE_STACK``; then the twin's endpoint and credentials, the app's
source on ``PYTHONPATH``, and the clock (``CRONLANE_CLOCK``, ``CRONLANE_TIME_SCALE``,
``CRONLANE_WORKER_CLOCK_JS``). Its output goes to ``task-<family>-<id>.log`` or
``worker-<queue>.log`` in the runtime's log folder.
"""

from __future__ import annotations

import atexit
import contextlib
import operator
import os
import queue
import re
import shlex
import signal
import socketserver
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from cronlane.clock import iso
from cronlane.local.clock import RuntimeClock
from cronlane.local.moto_patches import ACCOUNT, REGION, EcsTask, record_ecs_task
from cronlane.local.node import node_binary
from cronlane.local.stack import StackInfo, TaskDefinitionInfo, WorkerQueueInfo, client_env

WORKER_CLOCK_JS = Path(__file__).with_name("worker_clock.js")
STOP_GRACE_S = 2.0  # real seconds between SIGTERM and SIGKILL, for a task and at close
WORKER_BACKOFF_S = (1.0, 30.0)  # a restarted worker's first and longest wait
WORKER_STABLE_S = 60.0  # a worker that ran this long before it exited starts the backoff over
PYTHONS = ("python", "python3")


class StartFailed(Exception):
    """A process could not be started; the message says why (a task's stoppedReason)."""


# ---------------------------------------------------------------------------------------------
# Command lines
# ---------------------------------------------------------------------------------------------


def command_argv(command: str) -> list[str]:
    """The argument vector of a local command line: split as a shell would, ``python`` the
    runtime's interpreter, ``node`` the Node.js functions' node."""
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise StartFailed(f"cannot split the command line {command!r}: {exc}") from None
    if not argv:
        raise StartFailed("the command line is empty")
    if argv[0] in PYTHONS:
        argv[0] = sys.executable
    elif argv[0] == "node":
        node = node_binary()
        if node is None:
            raise StartFailed("node is not on PATH (nor in CRONLANE_NODE)")
        argv[0] = node
    return argv


def exit_code(returncode: int) -> int:
    """A process's exit code as a shell, and ECS, reports it: 128 + the signal that ended it."""
    return 128 - returncode if returncode < 0 else returncode


def override_environment(overrides: Mapping[str, Any], container: str) -> dict[str, str]:
    """The environment RunTask's ``containerOverrides`` give ``container``."""
    environment: dict[str, str] = {}
    for entry in overrides.get("containerOverrides") or []:
        if entry.get("name") == container:
            environment |= {str(p["name"]): str(p.get("value", "")) for p in entry.get("environment") or []}
    return environment


# ---------------------------------------------------------------------------------------------
# EventBridge event patterns
# ---------------------------------------------------------------------------------------------

NUMERIC = {"<": operator.lt, "<=": operator.le, "=": operator.eq, ">": operator.gt, ">=": operator.ge}


def pattern_matches(pattern: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """Whether ``event`` matches an EventBridge event pattern. Every field the pattern names must
    match, the others do not matter: an object matches the event's object one level down (or
    one element of an array of objects), an array matches when one of its matchers does. A
    matcher is a value (exact; an array field matches when one of its elements does), or one of
    ``prefix``, ``suffix``, ``equals-ignore-case``, ``wildcard``, ``anything-but``, ``numeric``,
    ``exists``; ``$or`` takes a list of patterns."""
    for key, wanted in pattern.items():
        if key == "$or":
            if not any(pattern_matches(option, event) for option in wanted):
                return False
            continue
        value = event.get(key)
        if isinstance(wanted, dict):
            inner = value if isinstance(value, list) else [value]
            if not any(isinstance(v, dict) and pattern_matches(wanted, v) for v in inner):
                return False
        elif not (isinstance(wanted, list) and _field_matches(wanted, key in event, value)):
            return False
    return True


def _field_matches(matchers: list[Any], present: bool, value: Any) -> bool:
    values = value if isinstance(value, list) else [value]
    for matcher in matchers:
        if isinstance(matcher, dict) and "exists" in matcher:
            if bool(matcher["exists"]) == present:
                return True
        elif present and any(_matches(matcher, v) for v in values):
            return True
    return False


def _matches(matcher: Any, value: Any) -> bool:
    """One matcher of a pattern's array against one value of the event."""
    if not isinstance(matcher, dict):
        return _same(matcher, value)
    ((kind, operand),) = matcher.items()
    if kind in ("prefix", "suffix"):
        test = str.startswith if kind == "prefix" else str.endswith
        if isinstance(operand, dict):  # {"prefix": {"equals-ignore-case": "..."}}
            text = str(operand["equals-ignore-case"]).lower()
            return isinstance(value, str) and test(value.lower(), text)
        return isinstance(value, str) and test(value, str(operand))
    if kind == "equals-ignore-case":
        return isinstance(value, str) and value.lower() == str(operand).lower()
    if kind == "wildcard":
        expression = ".*".join(re.escape(part) for part in str(operand).split("*"))
        return isinstance(value, str) and re.fullmatch(expression, value, re.DOTALL) is not None
    if kind == "anything-but":
        if isinstance(operand, dict):
            return value is not None and not _matches(operand, value)
        excluded = operand if isinstance(operand, list) else [operand]
        return not any(_same(e, value) for e in excluded)
    if kind == "numeric":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        return all(NUMERIC[op](value, bound) for op, bound in zip(operand[::2], operand[1::2], strict=True))
    raise ValueError(f"the local runtime does not match EventBridge's {kind!r} (in {matcher})")


def _same(wanted: Any, value: Any) -> bool:
    """Exact matching as EventBridge does it: numbers by value, true and false only themselves."""
    if isinstance(wanted, bool) or isinstance(value, bool):
        return isinstance(wanted, bool) and isinstance(value, bool) and wanted == value
    if isinstance(wanted, int | float) and isinstance(value, int | float):
        return float(wanted) == float(value)
    return bool(wanted == value)


# ---------------------------------------------------------------------------------------------
# A task's life, and its end as EventBridge sends it
# ---------------------------------------------------------------------------------------------


@dataclass(eq=False)
class Started:
    """A process the runtime started: a task's container or a worker."""

    label: str
    unit: str  # its CRONLANE_CLOCK_ID: what the clock server knows it by
    popen: subprocess.Popen[bytes]
    log_path: Path
    started_at: float  # on the runtime's clock
    killer: threading.Timer | None = None  # the SIGKILL after a SIGTERM


@dataclass(eq=False)
class TaskRun:
    """An ECS task on this machine: its processes while they run, and what ECS records of it."""

    task: EcsTask
    created_at: float
    log_path: Path | None = None
    started_at: float | None = None
    stopping_at: float | None = None
    stopped_at: float | None = None
    stop_code: str | None = None
    stopped_reason: str | None = None
    processes: dict[str, Started] = field(default_factory=dict)  # container -> its running process
    exits: dict[str, int] = field(default_factory=dict)  # container -> its exit code
    reasons: dict[str, str] = field(default_factory=dict)  # container -> why it did not run

    @property
    def last_status(self) -> str:
        if self.stopped_at is not None:
            return "STOPPED"
        return "RUNNING" if self.started_at is not None else "PENDING"


def state_change_event(run: TaskRun, event_id: str | None = None) -> dict[str, Any]:
    """EventBridge's "ECS Task State Change" event for a stopped task, in AWS's shape."""
    task = run.task
    containers = []
    for container in task.containers:
        entry: dict[str, Any] = {
            "containerArn": container.arn,
            "lastStatus": "STOPPED",
            "name": container.name,
            "taskArn": task.arn,
        }
        if container.image:
            entry["image"] = container.image
        if container.name in run.exits:
            entry["exitCode"] = run.exits[container.name]
        if container.name in run.reasons:
            entry["reason"] = run.reasons[container.name]
        containers.append(entry)
    times = {
        "createdAt": run.created_at,
        "startedAt": run.started_at,
        "stoppingAt": run.stopping_at,
        "stoppedAt": run.stopped_at,
    }
    detail: dict[str, Any] = {
        "clusterArn": task.cluster_arn,
        "taskArn": task.arn,
        "taskDefinitionArn": task.task_definition_arn,
        "group": task.group,
        "lastStatus": "STOPPED",
        "desiredStatus": "STOPPED",
        "stopCode": run.stop_code,
        "stoppedReason": run.stopped_reason,
        "containers": containers,
        "overrides": {"containerOverrides": [], **task.overrides},
        **{name: iso(at) for name, at in times.items() if at is not None},
    }
    if task.launch_type:
        detail["launchType"] = task.launch_type
    if task.started_by:
        detail["startedBy"] = task.started_by
    stopped_at = run.stopped_at if run.stopped_at is not None else run.created_at
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": "ECS Task State Change",
        "source": "aws.ecs",
        "account": ACCOUNT,
        "time": iso(int(stopped_at)),
        "region": REGION,
        "resources": [task.arn],
        "detail": detail,
    }


def missing_command(
    task: EcsTask, definition: TaskDefinitionInfo | None, container: str, template: str
) -> str:
    """Why a task without a local command for ``container`` cannot start locally."""
    if definition is None:
        return (
            f"CannotStartContainerError: task definition {task.task_definition_arn} is not one of "
            f"{template}'s: the local runtime runs those with Metadata cronlane local-command"
        )
    return (
        f"CannotStartContainerError: container {container!r} has no local command: give "
        f"{definition.logical_id} in {template} Metadata cronlane local-command {container}: <command line>"
    )


@dataclass(eq=False)
class WorkerRun:
    """A callback target's worker: its process while it runs, and its restarts."""

    queue: WorkerQueueInfo
    process: Started | None = None
    starts: int = 0
    failures: int = 0  # exits in a row soon after a start (the backoff doubles with each)
    restart_at: float | None = None  # on the runtime's clock
    exit_codes: list[int] = field(default_factory=list)

    @property
    def restarts(self) -> int:
        return max(self.starts - 1, 0)

    @property
    def log_path(self) -> str:
        return f"worker-{self.queue.logical_id}.log"


# ---------------------------------------------------------------------------------------------
# The virtual clock, served to outside processes
# ---------------------------------------------------------------------------------------------


@dataclass(eq=False)
class _Connection:
    unit: str | None = None  # the CRONLANE_CLOCK_ID it said hello with
    wake_at: float | None = None  # while it sleeps
    answer: float = 0.0
    woken: threading.Event = field(default_factory=threading.Event)


class ClockHub:
    """Who of the outside processes is working, and who sleeps until when, on a virtual clock.

    A process (a unit: every process that has its ``CRONLANE_CLOCK_ID``, its children too) is
    working from its start, and again after each wake-up, until each of its connections sleeps.
    Connections of no unit the runtime started are answered too, and never keep time still.
    The runtime's loop reads ``busy`` and ``timers`` and calls ``on_time`` after time moved; the
    server's threads call the rest."""

    def __init__(self, clock: RuntimeClock, wake: Callable[[], None]) -> None:
        self.clock = clock
        self.wake = wake
        self._lock = threading.Lock()
        self._units: dict[str, set[_Connection]] = {}
        self._connections: set[_Connection] = set()
        self._closed = False

    def add(self, unit: str) -> None:
        with self._lock:
            self._units[unit] = set()

    def remove(self, unit: str) -> None:
        with self._lock:
            self._units.pop(unit, None)

    def busy(self) -> bool:
        with self._lock:
            return any(
                not connections or any(c.wake_at is None for c in connections)
                for connections in self._units.values()
            )

    def timers(self) -> list[float]:
        with self._lock:
            return [c.wake_at for c in self._connections if c.wake_at is not None]

    def on_time(self, now: float) -> None:
        """Wake every sleeper whose time has come (it is working again from here)."""
        with self._lock:
            for connection in self._connections:
                if connection.wake_at is not None and connection.wake_at <= now:
                    connection.wake_at, connection.answer = None, now
                    connection.woken.set()

    def connect(self) -> _Connection:
        connection = _Connection()
        with self._lock:
            self._connections.add(connection)
        return connection

    def disconnect(self, connection: _Connection) -> None:
        with self._lock:
            self._connections.discard(connection)
            if connection.unit in self._units:
                self._units[connection.unit].discard(connection)
        self.wake()

    def answer(self, connection: _Connection, request: str) -> str:
        """The answer to one request line: ``hello <unit>``, ``now``, ``sleep <seconds>``."""
        verb, _, argument = request.partition(" ")
        if verb == "hello":
            with self._lock:
                connection.unit = argument
                if argument in self._units:
                    self._units[argument].add(connection)
            return "ok"
        if verb == "now":
            return repr(self.clock.now())
        if verb != "sleep":
            return f"error: unknown request {verb!r}"
        try:
            seconds = float(argument)
        except ValueError:
            return f"error: not a number of seconds: {argument!r}"
        with self._lock:
            if seconds <= 0 or self._closed:
                return repr(self.clock.now())
            connection.woken.clear()
            connection.wake_at = self.clock.now() + seconds
        self.wake()
        connection.woken.wait()
        return repr(connection.answer)

    def close(self) -> None:
        """Answer every sleeper (the runtime is going; so are its processes)."""
        with self._lock:
            self._closed = True
            for connection in self._connections:
                connection.wake_at, connection.answer = None, self.clock.now()
                connection.woken.set()


class _ClockRequests(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        hub = cast(ClockServer, self.server).hub
        connection = hub.connect()
        try:
            for raw in self.rfile:
                reply = hub.answer(connection, raw.decode("ascii", "replace").strip())
                self.wfile.write(f"{reply}\n".encode())
        except OSError:
            pass  # the process is gone
        finally:
            hub.disconnect(connection)


class ClockServer(socketserver.ThreadingTCPServer):
    """The virtual clock on loopback, one thread per connection (``cronlane.worker``'s protocol:
    a line per request, a line per answer)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, hub: ClockHub) -> None:
        super().__init__(("127.0.0.1", 0), _ClockRequests)
        self.hub = hub
        threading.Thread(target=self.serve_forever, name="cronlane-clock", daemon=True).start()

    @property
    def spec(self) -> str:
        host, port = self.server_address[:2]
        return f"virtual:{host!s}:{port}"

    def close(self) -> None:
        self.hub.close()
        self.shutdown()
        self.server_close()


# ---------------------------------------------------------------------------------------------
# The processes
# ---------------------------------------------------------------------------------------------


class OutsideProcesses:
    """The ECS tasks' and the workers' processes of one runtime.

    moto's server threads call ``on_run_task`` and ``on_stop_task`` (``Hooks``); everything else
    runs on the runtime's loop: ``tend`` starts and stops what was asked and handles the
    processes that ended, ``busy``, ``timers`` and ``on_time`` take part in moving the clock.
    ``deliver`` gets each task's STOPPED event."""

    def __init__(
        self,
        stack: StackInfo,
        clock: RuntimeClock,
        log_dir: Path,
        wake: Callable[[], None],
        deliver: Callable[[dict[str, Any]], Any],
        source_dirs: tuple[Path, ...] = (),
    ) -> None:
        self.stack = stack
        self.clock = clock
        self.log_dir = log_dir
        self.wake = wake
        self.deliver = deliver
        self.source_dirs = source_dirs
        self.hub = ClockHub(clock, wake) if clock.virtual else None
        self._server: ClockServer | None = None  # started with the first process
        self._requests: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self._exits: queue.Queue[Started] = queue.Queue()
        self._status: dict[str, str] = {}  # task ARN -> lastStatus (the StopTask hook reads it)
        self._status_lock = threading.Lock()
        self._owners: dict[str, tuple[TaskRun | WorkerRun, str]] = {}  # unit -> owner, container
        self.tasks: dict[str, TaskRun] = {}  # by task ARN
        self.workers: dict[str, WorkerRun] = {}  # by the queue's logical id
        self.workers_started = False
        self._closing = False
        atexit.register(self.close)

    # -- called by moto's server threads --------------------------------------------------------

    def on_run_task(self, task: EcsTask) -> None:
        with self._status_lock:
            self._status[task.arn] = "PENDING"
        self._requests.put(("run", task, self.clock.now()))
        self.wake()

    def on_stop_task(self, task_arn: str, reason: str | None) -> str | None:
        with self._status_lock:
            status = self._status.get(task_arn)
        if status is not None and status != "STOPPED":
            self._requests.put(("stop", task_arn, reason))
            self.wake()
        return status

    # -- the runtime's loop ---------------------------------------------------------------------

    def busy(self) -> bool:
        """A process works (virtual clock: time must stay), or a request or an exit waits."""
        working = self.hub is not None and self.hub.busy()
        return working or not self._requests.empty() or not self._exits.empty()

    def timers(self) -> list[float]:
        timers = self.hub.timers() if self.hub is not None else []
        return timers + [w.restart_at for w in self.workers.values() if w.restart_at is not None]

    def on_time(self, now: float) -> None:
        if self.hub is not None:
            self.hub.on_time(now)

    def tend(self) -> bool:
        """Start and stop the tasks asked for, handle the processes that ended, restart the
        workers that are due; True if anything happened."""
        happened = False
        while not self._requests.empty():
            request = self._requests.get()
            happened = True
            if request[0] == "run":
                self._run(request[1], request[2])
            else:
                self._stop(request[1], request[2])
        while not self._exits.empty():
            self._exited(self._exits.get())
            happened = True
        now = self.clock.now()
        for worker in self.workers.values():
            if worker.restart_at is not None and worker.restart_at <= now and not self._closing:
                self._start_worker(worker)
                happened = True
        return happened

    def start_workers(self) -> None:
        """Start the worker of every queue with a local worker (once)."""
        if self.workers_started:
            return
        self.workers_started = True
        for info in self.stack.worker_queues:
            worker = self.workers.setdefault(info.logical_id, WorkerRun(info))
            self._start_worker(worker)

    def close(self) -> None:
        """Stop every process (SIGTERM, SIGKILL after the grace time) and the clock server. Also
        run at the interpreter's exit, for a runtime left unclosed: a process of a session of its
        own would outlive it (a runtime killed outright, SIGKILL or an unhandled SIGTERM, still
        leaves them running)."""
        if self._closing:
            return
        self._closing = True
        atexit.unregister(self.close)
        running = [s for run in self.tasks.values() for s in run.processes.values()]
        running += [w.process for w in self.workers.values() if w.process is not None]
        for started in running:
            self._terminate(started)
        deadline = time.monotonic() + STOP_GRACE_S + 1.0
        for started in running:
            with contextlib.suppress(subprocess.TimeoutExpired):
                started.popen.wait(timeout=max(deadline - time.monotonic(), 0.0))
            if started.popen.poll() is None:
                _signal_group(started, signal.SIGKILL)
                started.popen.wait(timeout=5)
        if self._server is not None:
            self._server.close()
        elif self.hub is not None:
            self.hub.close()

    # -- tasks ----------------------------------------------------------------------------------

    def _run(self, task: EcsTask, created_at: float) -> None:
        run = TaskRun(task, created_at)
        self.tasks[task.arn] = run
        definition = self.stack.task_definitions.get(task.task_definition_arn)
        commands = definition.local_commands if definition is not None else {}
        for container in task.containers:
            if container.name not in commands and container.essential:
                reason = missing_command(task, definition, container.name, self.stack.template_name)
                run.reasons[container.name] = reason
                self._fail_to_start(run, reason)
                return
        log_name = f"task-{task.family}-{task.arn.rsplit('/', 1)[-1][:8]}.log"
        run.log_path = self.log_dir / log_name
        for container in task.containers:
            command = commands.get(container.name)
            if command is None:
                run.reasons[container.name] = (
                    "not run locally: no local command (the container is not essential)"
                )
                continue
            environment = {
                **dict(container.environment),
                **override_environment(task.overrides, container.name),
            }
            try:
                started = self._spawn(
                    f"task {task.family}, container {container.name}", command, environment, log_name
                )
            except StartFailed as exc:
                reason = f"CannotStartContainerError: container {container.name!r}: {exc}"
                run.reasons[container.name] = reason
                for other in run.processes.values():
                    self._owners.pop(other.unit, None)
                    _signal_group(other, signal.SIGKILL)
                run.processes.clear()
                self._fail_to_start(run, reason)
                return
            run.processes[container.name] = started
            self._owners[started.unit] = (run, container.name)
        run.started_at = self.clock.now()
        self._set_status(run)
        record_ecs_task(
            task.arn,
            "RUNNING",
            times={"started_at": run.started_at},
            containers={name: {"last_status": "RUNNING"} for name in run.processes},
        )

    def _fail_to_start(self, run: TaskRun, reason: str) -> None:
        run.stop_code, run.stopped_reason = "TaskFailedToStart", reason
        run.stopping_at = self.clock.now()
        self._finish(run)

    def _stop(self, task_arn: str, reason: str | None) -> None:
        run = self.tasks.get(task_arn)
        if run is None or run.stopped_at is not None:
            return
        if run.stop_code is None:
            run.stop_code, run.stopped_reason = "UserInitiated", reason or "Task stopped by user"
            run.stopping_at = self.clock.now()
        for started in run.processes.values():
            self._terminate(started)
        if not run.processes:
            self._finish(run)

    def _container_exited(self, run: TaskRun, container: str, code: int) -> None:
        run.processes.pop(container, None)
        run.exits[container] = code
        essential = next((c.essential for c in run.task.containers if c.name == container), True)
        if run.stop_code is None and (essential or not run.processes):
            run.stop_code, run.stopped_reason = (
                "EssentialContainerExited",
                "Essential container in task exited",
            )
            run.stopping_at = self.clock.now()
            for started in run.processes.values():
                self._terminate(started)
        if not run.processes:
            self._finish(run)

    def _finish(self, run: TaskRun) -> None:
        run.stopped_at = self.clock.now()
        self._set_status(run)
        times = {"started_at": run.started_at, "stopping_at": run.stopping_at, "stopped_at": run.stopped_at}
        containers = {
            c.name: {
                "last_status": "STOPPED",
                "exit_code": run.exits.get(c.name),
                "reason": run.reasons.get(c.name),
            }
            for c in run.task.containers
        }
        record_ecs_task(
            run.task.arn,
            "STOPPED",
            times={name: at for name, at in times.items() if at is not None},
            stop_code=run.stop_code,
            stopped_reason=run.stopped_reason,
            containers=containers,
        )
        self.deliver(state_change_event(run))

    def _set_status(self, run: TaskRun) -> None:
        with self._status_lock:
            self._status[run.task.arn] = run.last_status

    # -- workers --------------------------------------------------------------------------------

    def _start_worker(self, worker: WorkerRun) -> None:
        worker.restart_at = None
        environment = {"CRONLANE_QUEUE_URL": worker.queue.url, "CRONLANE_STACK": self.stack.name}
        label = f"worker of {worker.queue.logical_id}"
        try:
            started = self._spawn(label, worker.queue.command, environment, worker.log_path)
        except StartFailed as exc:
            self._log(worker.log_path, f"{label} cannot start: {exc}")
            self._back_off(worker, lived_s=0.0, what="could not start")
            return
        worker.process = started
        worker.starts += 1
        self._owners[started.unit] = (worker, "")

    def _worker_exited(self, worker: WorkerRun, started: Started, code: int) -> None:
        worker.process = None
        worker.exit_codes.append(code)
        if not self._closing:
            self._back_off(worker, self.clock.now() - started.started_at, f"exited with code {code}")

    def _back_off(self, worker: WorkerRun, lived_s: float, what: str) -> None:
        """Start the worker again later: 1 s, doubling with each quick exit in a row, up to 30 s
        (real seconds on a real clock, however scaled; clock seconds on the virtual one)."""
        lived = lived_s if self.clock.virtual else self.clock.real_seconds(lived_s)
        worker.failures = 1 if lived >= WORKER_STABLE_S else worker.failures + 1
        delay = min(WORKER_BACKOFF_S[0] * 2 ** (worker.failures - 1), WORKER_BACKOFF_S[1])
        worker.restart_at = self.clock.now() + (delay if self.clock.virtual else delay / self.clock.scale)
        self._log(
            worker.log_path, f"worker of {worker.queue.logical_id} {what}; restarting it in {delay:g} s"
        )

    # -- processes ------------------------------------------------------------------------------

    def _spawn(self, label: str, command: str, environment: dict[str, str], log_name: str) -> Started:
        argv = command_argv(command)
        unit = uuid.uuid4().hex[:12]
        env = self._environment(unit, environment)
        log_path = self.log_dir / log_name
        self._log(log_name, f"{label}: {command}")
        if self.hub is not None:
            self.hub.add(unit)
        try:
            with open(log_path, "ab") as log:
                popen = subprocess.Popen(
                    argv,
                    cwd=self.stack.template_dir,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group: a stop reaches its children
                )
        except OSError as exc:
            if self.hub is not None:
                self.hub.remove(unit)
            raise StartFailed(str(exc)) from None
        started = Started(label, unit, popen, log_path, self.clock.now())
        threading.Thread(
            target=self._await_exit, args=(started,), name=f"cronlane-{unit}", daemon=True
        ).start()
        return started

    def _await_exit(self, started: Started) -> None:
        started.popen.wait()
        _signal_group(started, signal.SIGKILL)  # what it left running in its group goes with it
        self._exits.put(started)
        self.wake()

    def _exited(self, started: Started) -> None:
        if self.hub is not None:
            self.hub.remove(started.unit)
        if started.killer is not None:
            started.killer.cancel()
        owner = self._owners.pop(started.unit, None)
        code = exit_code(started.popen.returncode)
        if owner is None:
            return  # a process already given up on (a task that failed to start)
        if isinstance(owner[0], TaskRun):
            self._container_exited(owner[0], owner[1], code)
        else:
            self._worker_exited(owner[0], started, code)

    def _terminate(self, started: Started) -> None:
        """SIGTERM to the process's group, SIGKILL ``STOP_GRACE_S`` real seconds later."""
        if started.killer is not None or started.popen.poll() is not None:
            return
        _signal_group(started, signal.SIGTERM)
        started.killer = threading.Timer(STOP_GRACE_S, _signal_group, (started, signal.SIGKILL))
        started.killer.daemon = True
        started.killer.start()

    def _environment(self, unit: str, own: dict[str, str]) -> dict[str, str]:
        env = {**os.environ, **own, **client_env(self.stack.endpoint), **self.clock_env(unit)}
        paths = [*(str(p) for p in self.source_dirs), env.get("PYTHONPATH", "")]
        if any(paths):
            env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
        return env

    def clock_env(self, unit: str) -> dict[str, str]:
        """What tells a process the runtime's clock (``cronlane.worker``, ``worker_clock.js``)."""
        env = {"CRONLANE_CLOCK_ID": unit, "CRONLANE_WORKER_CLOCK_JS": str(WORKER_CLOCK_JS)}
        if self.hub is not None:
            if self._server is None:
                self._server = ClockServer(self.hub)
            return env | {
                "CRONLANE_CLOCK": self._server.spec,
                "CRONLANE_CLOCK_START": repr(self.clock.now()),
                "CRONLANE_TIME_SCALE": "0",
            }
        _, origin, scale, real_origin = self.clock.spec()
        return env | {
            "CRONLANE_CLOCK": f"scaled:{origin!r}:{scale!r}:{real_origin!r}",
            "CRONLANE_TIME_SCALE": repr(scale),
        }

    def _log(self, log_name: str, line: str) -> None:
        with open(self.log_dir / log_name, "a") as log:
            log.write(f"[local runtime] {line}\n")


def _signal_group(started: Started, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(started.popen.pid, signum)
