"""``make scale``: one simulated day of a million jobs on one deployment, with the real
dispatcher, executor, release, closer and run checks (``cronlane.wiring``) on the in-memory
store billed as DynamoDB would bill it (``cronlane.store.metered``), and AWS's published quotas
checked second by second. It prints

    scale: jobs=<n> throttles=<n> peak_partition_wcu=<n> peak_partition_rcu=<n>
    peak_concurrency=<n> sqs_rps=<n> wall_s=<n>

and exits 1 if a quota would throttle (each one is named). ``benchmarks/scale.json`` keeps the
figures.

The day (``DAY``): the example app's three schedules, scaled up (``TENANTS`` copies of its 23
jobs, each copy's ``daily-full-sync`` every hour, ``hourly-feed`` every 5 minutes and
``morning-notifications`` every 30 minutes, the example's declared durations divided by
``SPEED``), a 10,000-job layered graph every two hours, and a fan-in and a fan-out of 5,000
one-second jobs every three hours each.

The model (``World``):

- Lambda: the executor's event source mapping runs at most ``CONCURRENCY`` invocations at once
  (the template's ``ExecutorMaxConcurrency`` at its largest, the account's default quota), at
  most one per message group (SQS FIFO hands out a group's next message only once the last one
  is deleted). An invocation takes its job's declared duration plus ``OVERHEAD_S`` and is run
  whole at its end: the store sees it claim, finish and release in the second it finishes in
  (so a claim's write is counted then, not when it started).
- SQS FIFO: a send is a ``SendMessageBatch`` per 10 messages; the mapping receives one message
  per ``ReceiveMessage`` (batch size 1) and deletes each with a ``DeleteMessage``; empty polls
  are not counted. Quotas: ``SQS_API_TPS`` requests per second per API action (high-throughput
  mode, the lowest of the regional quotas) and ``SQS_GROUP_TPS`` per message group (a group
  lives on one partition).
- DynamoDB: each request's units on its partition key, per second
  (``cronlane.store.capacity``); quotas ``PARTITION_WCU`` and ``PARTITION_RCU`` per key (one
  key is served by one partition, adaptive capacity or not) and the on-demand table's default
  ``TABLE_UNITS`` per second each way.
- The day runs in two processes, half the schedules each (their runs, schedules and partition
  keys do not meet); their per-second series add up, and each has half the concurrency.

The telemetry is a counting sink, the log a counter. Each environment reads a run's graph
snapshot the first time it serves the run (it keeps ``GRAPHS_KEPT``); the mapping starts at
``ESM_START`` invocations and adds ``ESM_STEP_PER_S`` a second while messages wait. What is left
out, or only approximated: each process has half the concurrency and its own ramp (so a burst in
one half cannot borrow the other's, and the ramp is twice as fast in all), Lambda's
per-function scaling rate beside the mapping's, cold starts, failures, skips and retries (the
chaos soak has those; their writes on the run's own record are not measured here), operators'
actions and replays, a new on-demand table's starting throughput (4,000 write and 12,000 read
units a second until it has seen more), the dispatcher's own concurrency beyond one second, and
what ``cronlane.store.metered`` approximates (docs in that module).
"""

from __future__ import annotations

import heapq
import itertools
import json
import multiprocessing
import random
import sys
import time
from collections import Counter, OrderedDict, defaultdict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cronlane import Catalog, Job, Schedule, Selection
from cronlane.graphs import GRAPHS_KEPT
from cronlane.inprocess import RecordingLog, VirtualClock, deliver, scheduled_event
from cronlane.model import CatchUp, DeadLetter, JobMessage, Overlap, RunStatus
from cronlane.store.capacity import TABLE, Capacity
from cronlane.store.metered import MeteredStore

HERE = Path(__file__).resolve().parent
DAY_START = 1_800_000_000.0 - 8 * 3600  # 2027-01-15T00:00:00Z
DAY_S = 86_400

CONCURRENCY = 1_000
ESM_START = 5  # the event source mapping's first concurrent invocations
ESM_STEP_PER_S = 300 / 60  # and how fast it adds more while messages wait
OVERHEAD_S = 0.15  # an invocation's own time beyond its job (the twin's measured overhead)
SQS_API_TPS = 2_400
SQS_GROUP_TPS = 300
PARTITION_WCU = 1_000
PARTITION_RCU = 3_000
TABLE_UNITS = 40_000

RULE_PREFIX = "scale-"


# -- the day -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Day:
    """What one simulated day runs: ``tenants`` copies of the example app's jobs and schedules,
    its durations divided by ``speed``; ``graph_jobs`` (a layered graph, every ``graph_every_s``)
    and ``fan_width`` (a fan-in and a fan-out, every ``fan_every_s``); ``hours`` of it."""

    tenants: int = 320
    speed: float = 4.0
    graph_jobs: int = 10_000
    graph_every_s: int = 7_200
    fan_width: int = 5_000
    fan_every_s: int = 10_800
    hours: float = 24.0
    concurrency: int = CONCURRENCY
    overhead_s: float = OVERHEAD_S


@dataclass(frozen=True)
class Quotas:
    """AWS's published quotas the day is checked against (``QUOTAS``: their defaults)."""

    partition_wcu: float = PARTITION_WCU
    partition_rcu: float = PARTITION_RCU
    table_units: float = TABLE_UNITS
    sqs_api_tps: float = SQS_API_TPS
    sqs_group_tps: float = SQS_GROUP_TPS
    concurrency: float = CONCURRENCY


QUOTAS = Quotas()


DAY = Day()

# the example app's schedules, scaled up: (name, its selection of the example's groups, every)
EXAMPLE_SCHEDULES = (
    ("daily-full-sync", None, 3_600),
    ("hourly-feed", "feed", 300),
    ("notifications", "notifications", 1_800),
)


def example_jobs() -> list[Job]:
    from benchmarks import EXAMPLE_TEMPLATE
    from cronlane.project import find_app

    return list(find_app(EXAMPLE_TEMPLATE).load_catalog().jobs.values())


def duration_of(job: Job) -> float:
    declared = job.params.get("duration_s")
    return float(declared.default) if declared is not None else 60.0


def catalog_of(day: Day, part: int, parts: int) -> tuple[Catalog, dict[str, float], list[tuple[float, str]]]:
    """The catalog of ``part`` of ``parts`` of the day, each job's duration, and its ticks
    (time, schedule) in order."""
    jobs: list[Job] = []
    durations: dict[str, float] = {}
    schedules: list[Schedule] = []
    ticks: list[tuple[float, str]] = []
    end = DAY_START + day.hours * 3600
    example = example_jobs()

    def add(name: str, every: int, offset: int, selection: Selection, overlap: Overlap) -> None:
        offset %= every
        if every < 3600:
            expression = f"cron({offset // 60}/{every // 60} * * * ? *)"
        else:
            expression = f"cron({offset % 3600 // 60} {offset // 3600}/{every // 3600} * * ? *)"
        schedules.append(Schedule(name, expression, selection, overlap=overlap, catch_up=CatchUp.NONE))
        ticks.extend((t, name) for t in _times(DAY_START + offset, every, end))

    for tenant in range(part, day.tenants, parts):
        prefix = f"t{tenant:04d}_"
        for job in example:
            name = prefix + job.name
            jobs.append(
                replace(
                    job,
                    name=name,
                    function="scale.noop",
                    group=prefix + job.group,
                    depends_on=tuple(prefix + d for d in job.depends_on),
                    params={},
                    timeout_s=min(900, max(job.timeout_s, 60)),
                )
            )
            durations[name] = duration_of(job) / day.speed
        for schedule, group, every in EXAMPLE_SCHEDULES:
            groups = sorted({prefix + j.group for j in example}) if group is None else [prefix + group]
            selection = Selection(groups=tuple(groups))
            add(prefix + schedule, every, (tenant * 60) % every, selection, Overlap.BUFFER_ONE)
    if part == 0 and day.graph_jobs:
        rng = random.Random(11)
        from benchmarks.synthetic import layered

        for name, upstreams in layered(day.graph_jobs).items():
            jobs.append(
                Job("g-" + name, "scale.noop", "graph", tuple("g-" + u for u in upstreams), timeout_s=300)
            )
            durations["g-" + name] = rng.uniform(5, 60)
        add("big-graph", day.graph_every_s, 0, Selection(groups=("graph",)), Overlap.ALLOW)
    if part == parts - 1 and day.fan_width:
        width = day.fan_width
        ups = tuple(f"fi-{i:05d}" for i in range(width))
        jobs += [Job(n, "scale.noop", "fanin", (), timeout_s=60) for n in ups]
        jobs.append(Job("fi-join", "scale.noop", "fanin", ups, timeout_s=60))
        jobs.append(Job("fo-hub", "scale.noop", "fanout", (), timeout_s=60))
        jobs += [Job(f"fo-{i:05d}", "scale.noop", "fanout", ("fo-hub",), timeout_s=60) for i in range(width)]
        durations.update({j.name: 1.0 for j in jobs if j.group in ("fanin", "fanout")})
        add("wide-fan-in", day.fan_every_s, 1800, Selection(groups=("fanin",)), Overlap.ALLOW)
        add("wide-fan-out", day.fan_every_s, 3600, Selection(groups=("fanout",)), Overlap.ALLOW)
    ticks.sort()
    return Catalog.build(jobs, schedules), durations, ticks


def _times(first: float, every: int, end: float) -> list[float]:
    return [float(t) for t in range(int(first), int(end), every)]


# -- the model -----------------------------------------------------------------------------------


class CountingLog(RecordingLog):
    """The executor's log, counted by level and not kept (a day's lines would not fit)."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: Counter[str] = Counter()

    def _log(self, level: str, message: str, extra: dict[str, Any] | None = None) -> None:
        self.lines[level] += 1


class CountingTelemetry:
    def __init__(self) -> None:
        self.emitted: Counter[str] = Counter()

    def emit(self, name: str, value: float, *, job: str = "", schedule: str = "", target: str = "") -> None:
        self.emitted[name] += 1

    def flush(self) -> None: ...


@dataclass
class _Message:
    id: str
    body: str
    group: str
    receipt: str = ""


@dataclass
class Requests:
    """SQS requests per second: by API action, and the busiest message group's."""

    by_api: defaultdict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    group_peak: float = 0.0
    _group: dict[str, tuple[int, int]] = field(default_factory=dict)

    def count(self, api: str, second: int, group: str | None = None) -> None:
        self.by_api[api][second] += 1
        if group is not None:
            self.in_group(group, second)

    def in_group(self, group: str, second: int) -> None:
        """A request that touches ``group``'s partition (a batch touches each of its groups)."""
        at, so_far = self._group.get(group, (second, 0))
        so_far = so_far + 1 if at == second else 1
        self._group[group] = (second, so_far)
        self.group_peak = max(self.group_peak, so_far)


class FifoQueue:
    """SQS FIFO as the model needs it, in O(log n) a message: a group's messages in order, one of
    them out at a time, deduplication ids kept 5 minutes; requests counted per second."""

    def __init__(self, clock: VirtualClock, requests: Requests) -> None:
        self.clock = clock
        self.requests = requests
        self.groups: dict[str, deque[_Message]] = {}
        self.ready: list[tuple[int, str]] = []  # (sequence of the group's head, group)
        self.out: dict[str, _Message] = {}  # receipt -> message received and not deleted
        self.hidden: list[tuple[float, int, str]] = []  # a delayed head: (visible at, seq, group)
        self.seq = itertools.count()
        self.dedup: dict[tuple[str, str], float] = {}
        self.dead: list[str] = []

    def send(self, messages: Sequence[JobMessage]) -> None:
        now = self.clock.now()
        for _ in range(0, len(messages), 10):
            self.requests.count("SendMessageBatch", int(now))
        for m in messages:
            key = (m.group, m.dedup_id())
            if now - self.dedup.get(key, -1e9) < 300:
                continue
            self.dedup[key] = now
            queue = self.groups.setdefault(m.group, deque())
            queue.append(_Message(f"m{next(self.seq)}", m.body(), m.group))
            self.requests.in_group(m.group, int(now))
            if len(queue) == 1:
                heapq.heappush(self.ready, (next(self.seq), m.group))
        if len(self.dedup) > 200_000:
            self.dedup = {k: at for k, at in self.dedup.items() if now - at < 300}

    def receive(self) -> _Message | None:
        now = self.clock.now()
        while self.hidden and self.hidden[0][0] <= now:
            _, seq, group = heapq.heappop(self.hidden)
            heapq.heappush(self.ready, (seq, group))
        if not self.ready:
            return None
        _, group = heapq.heappop(self.ready)
        message = self.groups[group][0]
        message.receipt = f"{message.id}/{next(self.seq)}"
        self.out[message.receipt] = message
        self.requests.count("ReceiveMessage", int(now), group)
        return message

    def delete(self, receipt: str) -> None:
        message = self.out.pop(receipt, None)
        if message is None:
            return
        self.requests.count("DeleteMessage", int(self.clock.now()), message.group)
        queue = self.groups[message.group]
        queue.popleft()
        if queue:
            heapq.heappush(self.ready, (next(self.seq), message.group))
        else:
            del self.groups[message.group]

    def next_visible(self) -> float | None:
        return self.hidden[0][0] if self.hidden else None

    def has_ready(self) -> bool:
        return bool(self.ready) or bool(self.hidden and self.hidden[0][0] <= self.clock.now())

    # -- the rest of ports.JobQueue ------------------------------------------------------------

    def delay(self, queue_arn: str, receipt_handle: str, seconds: int) -> None:
        message = self.out.pop(receipt_handle, None)
        if message is not None:
            self.requests.count("ChangeMessageVisibility", int(self.clock.now()), message.group)
            heapq.heappush(self.hidden, (self.clock.now() + seconds, next(self.seq), message.group))

    def delete_message(self, queue_arn: str, receipt_handle: str) -> None:
        self.delete(receipt_handle)

    def dead_letter(self, body: str, dedup_id: str, error: str) -> None:
        self.dead.append(body)

    def peek_dead_letters(self, limit: int, hide_s: int) -> list[DeadLetter]:
        return []

    def unhide(self, letters: Sequence[DeadLetter]) -> None: ...

    def delete_dead_letter(self, letter: DeadLetter) -> None: ...


class World:
    """One process's share of the day: its catalog's schedules fire, its messages run on its
    share of the concurrency, second by second."""

    def __init__(
        self, catalog: Catalog, durations: dict[str, float], concurrency: int, overhead_s: float = OVERHEAD_S
    ) -> None:
        from cronlane.watchdog.memory import MemoryWatchdog
        from cronlane.wiring import dispatcher_of, executor_of

        self.clock = VirtualClock(DAY_START)
        self.capacity = Capacity(self.clock.now)
        self.store = MeteredStore(self.capacity)
        # each environment's first read of a run's snapshot is billed by ``_environment``; the one
        # in-process graph cache the real executor code shares stands for all of them
        self.store.bill_graph_reads = False
        self.requests = Requests()
        self.queue = FifoQueue(self.clock, self.requests)
        self.checks = MemoryWatchdog()
        self.telemetry = CountingTelemetry()
        self.log = CountingLog()
        self.durations = durations
        self.concurrency = concurrency
        self.overhead_s = overhead_s
        nothing: Callable[[str], Callable[..., Any]] = lambda spec: _noop  # noqa: E731
        self.dispatcher = dispatcher_of(
            catalog,
            self.store,
            self.queue,
            self.clock,
            telemetry=self.telemetry,
            rule_prefix=RULE_PREFIX,
            checks=self.checks,
        )
        self.executor = executor_of(
            self.store,
            self.queue,
            self.clock,
            self.log,
            telemetry=self.telemetry,
            import_function=nothing,
            checks=self.checks,
        )
        self.running: list[tuple[float, int, _Message, int]] = []  # (finishes at, seq, message, env)
        # The mapping's concurrency now: 5 at first, up to 300 more a minute while messages
        # wait, back down to what runs when none do (Lambda's documented scaling for SQS).
        self.allowed = float(min(ESM_START, concurrency))
        self.allowed_at = DAY_START
        self.backlogged = False
        # Execution environments: the warm ones free (most recently used last), and the runs
        # whose graph snapshot each holds (``graphs.GRAPHS_KEPT``, least recently used first).
        self.free_envs: list[int] = []
        self.env_graphs: dict[int, OrderedDict[str, None]] = {}
        self.envs_started = 0
        self.graph_loads = 0
        self.seq = itertools.count()
        self.jobs = 0
        self.ticks = 0
        self.peak_running = 0
        self.running_per_second: Counter[int] = Counter()  # the most invocations at once, per second
        self.ticks_per_second: Counter[int] = Counter()
        self.progress: Callable[[World], None] | None = None  # called every simulated hour

    def tick(self, schedule: str, at: float) -> None:
        self.ticks += 1
        self.ticks_per_second[int(at)] += 1
        self.dispatcher.handle(scheduled_event(schedule, at, RULE_PREFIX))

    def _environment(self, run_id: str) -> int:
        """A warm environment if one is free, else a new one; the run's graph snapshot is read
        into it unless it holds it already."""
        if self.free_envs:
            env = self.free_envs.pop()
        else:
            env = self.envs_started
            self.envs_started += 1
            self.env_graphs[env] = OrderedDict()
        graphs = self.env_graphs[env]
        if run_id in graphs:
            graphs.move_to_end(run_id)
        else:
            self.graph_loads += 1
            self.capacity.read(f"RUN#{run_id}", self.store.graph_size(run_id))
            graphs[run_id] = None
            while len(graphs) > GRAPHS_KEPT:
                graphs.popitem(last=False)
        return env

    def start(self) -> None:
        """Free environments take the messages that are there, as far as the mapping has
        scaled."""
        now = self.clock.now()
        if self.backlogged:  # messages waited since the last look: the mapping scaled up
            self.allowed = min(self.concurrency, self.allowed + ESM_STEP_PER_S * (now - self.allowed_at))
        self.allowed_at = now
        while True:
            if len(self.running) >= int(self.allowed):
                self.backlogged = self.queue.has_ready()
                break
            message = self.queue.receive()
            if message is None:  # nothing waits: the mapping scales back to what runs
                self.backlogged = False
                self.allowed = max(float(min(ESM_START, self.concurrency)), float(len(self.running)))
                break
            body = json.loads(message.body)
            env = self._environment(body["run_id"])
            finish = now + self.durations.get(body["job"], 1.0) + self.overhead_s
            heapq.heappush(self.running, (finish, next(self.seq), message, env))
        if len(self.running) > self.running_per_second[int(now)]:
            self.running_per_second[int(now)] = len(self.running)
            self.peak_running = max(self.peak_running, len(self.running))

    def finish(self) -> None:
        _, _, message, env = heapq.heappop(self.running)
        self.free_envs.append(env)
        if deliver(self.executor, self.clock, message.body, message.receipt, message.id, 1):
            self.jobs += 1
            self.queue.delete(message.receipt)

    def run(self, ticks: list[tuple[float, str]], end: float) -> None:
        pending = deque(ticks)
        last_prune = self.clock.now()
        while True:
            for run_id in self.checks.due(self.clock.now()):
                self.dispatcher.handle({"action": "watchdog", "run_id": run_id})
            self.start()
            times = [
                t
                for t in (
                    pending[0][0] if pending else None,
                    self.running[0][0] if self.running else None,
                    self.queue.next_visible(),
                    self.checks.next_due() if (pending or self.running) else None,
                    # messages wait for the mapping to scale up: it adds more each second
                    self.clock.now() + 1 if self.backlogged and self.allowed < self.concurrency else None,
                )
                if t is not None
            ]
            if not times:
                return
            soonest = min(times)
            if soonest > end + 6 * 3600 and not self.running:
                return  # only checks of runs that will not end are left
            self.clock.advance_to(soonest)
            while pending and pending[0][0] <= self.clock.now():
                self.tick(pending.popleft()[1], self.clock.now())
            while self.running and self.running[0][0] <= self.clock.now():
                self.finish()
            if self.clock.now() - last_prune > 3600:
                self.prune()
                last_prune = self.clock.now()
                if self.progress is not None:
                    self.progress(self)

    def prune(self) -> None:
        """Forget the job-runs of runs that are over (the table keeps them; the model need not)."""
        over = [run_id for run_id, run in self.store._runs.items() if run.view.status.terminal]
        for run_id in over:
            self.store.forget(run_id)


def one_run_s(catalog: Catalog, durations: dict[str, float], concurrency: int, schedule: str) -> float:
    """One fire of ``schedule`` through the model with no overhead: its fire time to its run's end
    (the tests of the order of ready jobs use it)."""
    world = World(catalog, durations, concurrency=concurrency, overhead_s=0.0)
    fire = DAY_START + 1800
    world.run([(fire, schedule)], end=fire + 3600)
    (run,) = world.store.runs_of_schedule(schedule)
    if run.status is not RunStatus.SUCCEEDED or run.finished_at is None:
        raise AssertionError(f"the run of {schedule} ended {run.status.value}")
    return run.finished_at - fire


def _noop(ctx: Any) -> None:
    return None


# -- one process's part, and the whole day ---------------------------------------------------------


def part(day: Day, index: int, parts: int, quotas: Quotas = QUOTAS) -> dict[str, Any]:
    began = time.perf_counter()
    catalog, durations, ticks = catalog_of(day, index, parts)
    world = World(catalog, durations, max(1, day.concurrency // parts), day.overhead_s)
    if day.hours >= 6:  # a long day says how far it is, on stderr
        world.progress = lambda w: print(
            f"  part {index + 1}/{parts}: {(w.clock.now() - DAY_START) / 3600:.0f} h simulated, "
            f"{w.jobs} jobs, {time.perf_counter() - began:.0f} s",
            file=sys.stderr,
            flush=True,
        )
    world.run(ticks, DAY_START + day.hours * 3600)
    c = world.capacity
    # each partition key's busiest second, for those that came near a quota (the rest need not
    # travel between processes)
    near = {
        kind: {
            key: units
            for (k, key), units in c.peaks.items()
            if k == kind and key != TABLE and units > limit / 10
        }
        for kind, limit in (("write", quotas.partition_wcu), ("read", quotas.partition_rcu))
    }
    runs = [r.view for r in world.store._runs.values()]
    return {
        "jobs": world.jobs,
        "ticks": world.ticks,
        "runs": len(runs),
        "runs_not_succeeded": Counter(r.status.value for r in runs if r.status.value != "SUCCEEDED"),
        "left_in_queue": sum(len(q) for q in world.queue.groups.values()),
        "dead_letters": len(world.queue.dead),
        "peak_partition_wcu": c.peak("write"),
        "peak_partition_rcu": c.peak("read"),
        "partitions_near": near,
        "table_seconds": {kind: dict(c.table_seconds[kind]) for kind in ("read", "write")},
        "rru": c.rru,
        "wru": c.wru,
        "running_per_second": dict(world.running_per_second),
        "ticks_per_second": dict(world.ticks_per_second),
        "sqs": {api: dict(per) for api, per in world.requests.by_api.items()},
        "sqs_group_peak": world.requests.group_peak,
        "log_lines": dict(world.log.lines),
        "metrics_emitted": sum(world.telemetry.emitted.values()),
        "environments_started": world.envs_started,
        "graph_loads": world.graph_loads,
        "wall_s": round(time.perf_counter() - began, 1),
    }


def _part(args: tuple[Day, int, int, Quotas]) -> dict[str, Any]:
    return part(*args)


def merge(parts: list[dict[str, Any]], wall_s: float, quotas: Quotas = QUOTAS) -> dict[str, Any]:
    """The day's figures from its parts: their per-second series added, their partitions' peaks
    side by side (no key is in two parts), and every quota a figure is over."""

    def added(series: Sequence[Mapping[Any, float]]) -> defaultdict[int, float]:
        total: defaultdict[int, float] = defaultdict(float)
        for s in series:
            for second, n in s.items():
                total[int(second)] += n
        return total

    running = added([p["running_per_second"] for p in parts])
    ticks = added([p["ticks_per_second"] for p in parts])
    concurrency = added([running, ticks])
    apis = sorted({api for p in parts for api in p["sqs"]})
    sqs_api = {api: added([p["sqs"].get(api, {}) for p in parts]) for api in apis}
    sqs_total = added(list(sqs_api.values()))
    table = {kind: added([p["table_seconds"][kind] for p in parts]) for kind in ("read", "write")}
    wcu = max((p["peak_partition_wcu"] for p in parts), key=lambda x: x[0])
    rcu = max((p["peak_partition_rcu"] for p in parts), key=lambda x: x[0])
    throttles: list[str] = []
    for p in parts:
        for kind, near in p["partitions_near"].items():
            limit = quotas.partition_wcu if kind == "write" else quotas.partition_rcu
            throttles += [
                f"partition {key}: {units:g} {kind} units in one second (quota {limit:g})"
                for key, units in sorted(near.items())
                if units > limit
            ]
    for kind, per in table.items():
        if per and max(per.values()) > quotas.table_units:
            throttles.append(
                f"table: {max(per.values()):g} {kind} units in one second (quota {quotas.table_units:g})"
            )
    for api, per in sqs_api.items():
        if per and max(per.values()) > quotas.sqs_api_tps:
            throttles.append(
                f"SQS {api}: {max(per.values())} requests in one second (quota {quotas.sqs_api_tps:g})"
            )
    group_peak = max(p["sqs_group_peak"] for p in parts)
    if group_peak > quotas.sqs_group_tps:
        throttles.append(
            f"SQS message group: {group_peak:g} requests in one second (quota {quotas.sqs_group_tps:g})"
        )
    peak_concurrency = max(concurrency.values(), default=0)
    if peak_concurrency > quotas.concurrency:
        throttles.append(f"Lambda: {peak_concurrency} invocations at once (quota {quotas.concurrency:g})")
    return {
        "jobs": sum(p["jobs"] for p in parts),
        "throttles": len(throttles),
        "peak_partition_wcu": round(wcu[0]),
        "peak_partition_rcu": round(rcu[0]),
        "peak_concurrency": peak_concurrency,
        "sqs_rps": max(sqs_total.values(), default=0),
        "wall_s": round(wall_s),
        "hottest_write_partition": wcu[1],
        "hottest_read_partition": rcu[1],
        "throttled": throttles,
        "peak_table_wcu": max(table["write"].values(), default=0),
        "peak_table_rcu": max(table["read"].values(), default=0),
        "sqs_peak_by_api": {api: max(per.values(), default=0) for api, per in sqs_api.items()},
        "sqs_total_by_api": {api: sum(per.values()) for api, per in sqs_api.items()},
        "sqs_group_peak": group_peak,
        "runs": sum(p["runs"] for p in parts),
        "ticks": sum(p["ticks"] for p in parts),
        "runs_not_succeeded": dict(sum((Counter(p["runs_not_succeeded"]) for p in parts), Counter())),
        "left_in_queue": sum(p["left_in_queue"] for p in parts),
        "dead_letters": sum(p["dead_letters"] for p in parts),
        "read_units_per_job": round(sum(p["rru"] for p in parts) / max(1, sum(p["jobs"] for p in parts)), 2),
        "write_units_per_job": round(sum(p["wru"] for p in parts) / max(1, sum(p["jobs"] for p in parts)), 2),
        "parts_wall_s": [p["wall_s"] for p in parts],
        "environments_started": sum(p["environments_started"] for p in parts),
        "graph_loads": sum(p["graph_loads"] for p in parts),
    }


def simulate(day: Day = DAY, parts: int = 2, quotas: Quotas = QUOTAS) -> dict[str, Any]:
    began = time.perf_counter()
    if parts == 1:
        results = [part(day, 0, 1, quotas)]
    else:
        with multiprocessing.get_context("fork").Pool(parts) as pool:
            results = pool.map(_part, [(day, i, parts, quotas) for i in range(parts)])
    return merge(results, time.perf_counter() - began, quotas)


LINE_KEYS = (
    "jobs",
    "throttles",
    "peak_partition_wcu",
    "peak_partition_rcu",
    "peak_concurrency",
    "sqs_rps",
    "wall_s",
)


def line(figures: dict[str, Any]) -> str:
    return "scale: " + " ".join(f"{k}={int(figures[k])}" for k in LINE_KEYS)


def main() -> int:
    figures = simulate()
    (HERE / "scale.json").write_text(json.dumps(figures, indent=2) + "\n")
    for reason in figures["throttled"]:
        print(f"would throttle: {reason}")
    print(line(figures))
    return 1 if figures["throttles"] else 0


if __name__ == "__main__":
    sys.exit(main())
