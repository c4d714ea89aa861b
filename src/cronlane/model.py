"""The domain's nouns: statuses, run identity, queue messages and read views. Pure, no AWS."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from cronlane.clock import iso
from cronlane.errors import InvalidRequest


class RunStatus(StrEnum):
    CREATING = "CREATING"  # the dispatcher has claimed the run id but not finished writing/enqueuing
    BUFFERED = "BUFFERED"  # overlap policy buffer_one: starts when the schedule's active run ends
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"  # an operator cancelled it: queued jobs did not start
    SKIPPED = "SKIPPED"  # a schedule policy (a paused schedule) skipped the tick; carries the reason

    @property
    def terminal(self) -> bool:
        return self in (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.SKIPPED)

    @property
    def active(self) -> bool:
        """Not over: being created, going, or waiting to start (the run holds its schedule)."""
        return not self.terminal


class JobStatus(StrEnum):
    PENDING = "PENDING"  # waiting (a job-run with no item yet: its upstreams, or its root's lane)
    QUEUED = "QUEUED"  # waiting for its message: a retry, a restarted job, a checkpoint
    RUNNING = "RUNNING"  # claimed by an executor, under a lease
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"  # an upstream failed; carries the reason
    CANCELLED = "CANCELLED"  # its run was cancelled before it started

    @property
    def terminal(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.SKIPPED, JobStatus.CANCELLED)


class Trigger(StrEnum):
    SCHEDULE = "schedule"
    MANUAL = "manual"
    BACKFILL = "backfill"  # a past fire time, created by ``cronlane backfill``
    CATCH_UP = "catch-up"  # a missed fire time, run by the schedule's catch-up policy


class TriggerRule(StrEnum):
    """When a job with upstreams may start (Airflow's rules of the same names)."""

    ALL_SUCCESS = "all_success"  # every upstream succeeded (the default); a failed one skips it
    ALL_DONE = "all_done"  # every upstream is done, whatever the outcome


class Overlap(StrEnum):
    """What a schedule's tick does while the schedule's previous run is still active."""

    SKIP = "skip"  # recorded as a SKIPPED run with the reason
    ALLOW = "allow"  # both run
    BUFFER_ONE = "buffer_one"  # it waits BUFFERED and starts when the active run ends; one at most


class CatchUp(StrEnum):
    """What a schedule does with fire times that passed without a run (a tick never delivered)."""

    NONE = "none"  # each is recorded as a SKIPPED run
    LATEST = "latest"  # the latest of them runs
    ALL = "all"  # every one within the schedule's catch_up_window_s runs


DEFAULT_MAX_CONTINUATIONS = 20  # 20 invocations of up to 15 minutes: 5 hours of work at most

MANUAL_SCHEDULE = "manual"  # the schedule of a manual trigger that names only jobs
KEY_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,80}")  # the whole key (fullmatch: no trailing newline)


def scheduled_run_id(schedule: str, scheduled_time: float) -> str:
    """A scheduled run is identified by its schedule and the tick's scheduled time, so a second
    delivery of the same tick names the same run."""
    return f"{schedule}@{iso(int(scheduled_time))}"


def manual_run_id(key: str) -> str:
    if not KEY_PATTERN.fullmatch(key):
        raise InvalidRequest(
            f"idempotency_key {key!r} must be 1-80 characters of letters, digits, '.', '_' or '-'"
        )
    return f"manual@{key}"


@dataclass(frozen=True)
class JobMessage:
    """The body of a queue message: which job of which run, and which generation of it.

    The generation goes into the deduplication id so that a deliberate re-send (a replay, a
    continuation) is not swallowed by SQS's 5-minute dedup window as a duplicate.
    """

    run_id: str
    job: str
    generation: int = 0
    continuation: int = 0  # > 0: the job checkpointed and continues (the n-th continuation)
    # When the job became ready (epoch seconds): the claim records it as the job-run's
    # ``enqueued_at`` when nothing did before (a dependent is released without a write).
    queued_at: float | None = field(default=None, compare=False)
    # Which of the job's lanes (message groups) carries it: 0 unless the job declares
    # ``max_concurrent`` above 1, or None (``lanes.FREE``: its job-run's own group).
    lane: int = 0
    # Sent by a release that did not read the job (cronlane.release): its upstreams had all
    # succeeded, which is final, so whichever generation the job-run is in, if it waits it may
    # start. ``generation`` is then 0; a claim that finds a later one waiting takes that one.
    current: bool = False
    # A retry of an attempt that ran in its upstream's invocation (cronlane.execute: a chained
    # job has no message of its own to hide for the backoff): not claimed before this time.
    not_before: float | None = field(default=None, compare=False)

    @property
    def group(self) -> str:
        """The message group: one lane of the job (cronlane.lanes)."""
        from cronlane.lanes import group_of

        return group_of(self.job, self.lane, self.run_id)

    def body(self) -> str:
        data: dict[str, Any] = {"run_id": self.run_id, "job": self.job, "generation": self.generation}
        if self.continuation:
            data["continuation"] = self.continuation
        if self.lane > 0:  # a job-run's own group (``lanes.FREE``) is the sender's: its receiver
            data["lane"] = self.lane  # reads the lane from the run's graph (and older ones parse it)
        if self.queued_at is not None:
            data["queued_at"] = round(self.queued_at, 3)
        if self.current:
            data["current"] = True
        if self.not_before is not None:
            data["not_before"] = round(self.not_before, 3)
        return json.dumps(data)

    def dedup_id(self) -> str:
        text = f"{self.run_id}|{self.job}|{self.generation}"
        if self.continuation:
            text += f"|continuation {self.continuation}"
        return hashlib.sha256(text.encode()).hexdigest()

    @classmethod
    def parse(cls, body: str) -> JobMessage:
        try:
            data = json.loads(body)
        except (TypeError, ValueError) as exc:
            raise InvalidRequest(f"message body is not JSON: {exc}") from None
        except RecursionError:
            raise InvalidRequest("message body is not JSON cronlane can read: nested too deep") from None
        if not isinstance(data, dict):
            raise InvalidRequest("message body must be a JSON object")
        run_id, job, generation = data.get("run_id"), data.get("job"), data.get("generation", 0)
        continuation = data.get("continuation", 0)
        if not isinstance(run_id, str) or not run_id:
            raise InvalidRequest("message body: 'run_id' must be a non-empty string")
        if not isinstance(job, str) or not job:
            raise InvalidRequest("message body: 'job' must be a non-empty string")
        if not isinstance(generation, int) or isinstance(generation, bool) or generation < 0:
            raise InvalidRequest("message body: 'generation' must be a non-negative integer")
        if not isinstance(continuation, int) or isinstance(continuation, bool) or continuation < 0:
            raise InvalidRequest("message body: 'continuation' must be a non-negative integer")
        queued_at, not_before = data.get("queued_at"), data.get("not_before")
        for name, value in (("queued_at", queued_at), ("not_before", not_before)):
            if value is not None and (
                not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value < 1e12
            ):
                raise InvalidRequest(f"message body: '{name}' must be a time in seconds since the epoch")
        lane = data.get("lane", 0)
        if not isinstance(lane, int) or isinstance(lane, bool) or lane < -1:
            # -1 (``lanes.FREE``): written by the first version of jobs without a lane
            raise InvalidRequest("message body: 'lane' must be an integer of -1 (no lane) or more")
        current = data.get("current", False)
        if not isinstance(current, bool):
            raise InvalidRequest("message body: 'current' must be true or false")
        at = float(queued_at) if queued_at is not None else None
        after = float(not_before) if not_before is not None else None
        return cls(run_id, job, generation, continuation, at, lane, current, after)


@dataclass(frozen=True)
class JobNode:
    """One job as a run sees it: the graph snapshot taken when the run was created."""

    name: str
    group: str
    function: str
    depends_on: tuple[str, ...]
    dependents: tuple[str, ...]
    timeout_s: int
    max_attempts: int
    params: dict[str, Any] = field(default_factory=dict)
    dependent_fan_in: tuple[int, ...] = ()  # how many upstreams each dependent waits for
    trigger_rule: TriggerRule = TriggerRule.ALL_SUCCESS
    max_continuations: int = DEFAULT_MAX_CONTINUATIONS
    # The job's lane in this run, and each dependent's (cronlane.lanes): 0 and () unless a job
    # declares ``max_concurrent`` above 1.
    lane: int = 0
    dependent_lanes: tuple[int, ...] = ()
    # The longest path still ahead of the job, in seconds (cronlane.priority): ready jobs sent
    # together go highest first. 0 in a snapshot taken before ranks were.
    rank: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        data = {
            "group": self.group,
            "function": self.function,
            "depends_on": list(self.depends_on),
            "dependents": list(self.dependents),
            "timeout_s": self.timeout_s,
            "max_attempts": self.max_attempts,
            "params": self.params,
            "dependent_fan_in": list(self.dependent_fan_in),
            "trigger_rule": self.trigger_rule.value,
        }
        if self.max_continuations != DEFAULT_MAX_CONTINUATIONS:
            data["max_continuations"] = self.max_continuations
        if self.lane:
            data["lane"] = self.lane
        if any(self.dependent_lanes):
            data["dependent_lanes"] = list(self.dependent_lanes)
        if self.rank:
            data["rank"] = self.rank
        return data

    @classmethod
    def from_dict(cls, name: str, data: dict[str, Any]) -> JobNode:
        return cls(
            name=name,
            group=data["group"],
            function=data["function"],
            depends_on=tuple(data["depends_on"]),
            dependents=tuple(data["dependents"]),
            timeout_s=int(data["timeout_s"]),
            max_attempts=int(data["max_attempts"]),
            params=dict(data.get("params") or {}),
            dependent_fan_in=tuple(data.get("dependent_fan_in") or ()),
            trigger_rule=TriggerRule(data.get("trigger_rule") or TriggerRule.ALL_SUCCESS),
            max_continuations=int(data.get("max_continuations", DEFAULT_MAX_CONTINUATIONS)),
            lane=int(data.get("lane", 0)),
            dependent_lanes=tuple(int(n) for n in data.get("dependent_lanes") or ()),
            rank=float(data.get("rank", 0.0)),
        )


# A job-run's item carries the names of its upstreams and dependents (and their fan-in and
# lanes) up to this many of each; a wider job's item leaves them to the run's graph snapshot,
# so that no item grows with the width of the graph (DynamoDB bills a write per KB of the item,
# and refuses one over 400 KB).
LISTS_KEPT = 50


def lists_kept(depends_on: tuple[str, ...], dependents: tuple[str, ...]) -> bool:
    return len(depends_on) <= LISTS_KEPT and len(dependents) <= LISTS_KEPT


SINKS_PER_SHARD = 100  # a sink-shard item holds at most this many sink numbers (well under 1 KB)


@dataclass(frozen=True)
class SinkSlot:
    """Where a sink (a job nothing in the run depends on) is counted when it ends: its number in
    the run's sorted sinks, in one of the run's sink-shard items, which holds ``size`` of them."""

    shard: int
    number: int
    size: int


def sink_slots(nodes: dict[str, JobNode], interleaved: bool = False) -> dict[str, SinkSlot]:
    """Each sink's shard: the run's sorted sinks in blocks of ``SINKS_PER_SHARD``, or with
    ``interleaved`` (a spread run: cronlane.store.keys) dealt out in turn, so that sinks that end
    one after another count on different shards, and so on different partition keys."""
    sinks = sorted(name for name, node in nodes.items() if not node.dependents)
    total = len(sinks)
    if interleaved and total > SINKS_PER_SHARD:
        shards = -(-total // SINKS_PER_SHARD)
        return {
            name: SinkSlot(i % shards, i, len(range(i % shards, total, shards)))
            for i, name in enumerate(sinks)
        }
    return {
        name: SinkSlot(
            i // SINKS_PER_SHARD, i, min(SINKS_PER_SHARD, total - (i // SINKS_PER_SHARD) * SINKS_PER_SHARD)
        )
        for i, name in enumerate(sinks)
    }


@dataclass(frozen=True)
class RunGraph:
    """A run's graph snapshot with what every job-run of the run carries: a job-run's item is
    written when the job starts, is skipped or is cancelled, from this."""

    run_id: str
    nodes: dict[str, JobNode]
    schedule: str
    scheduled_time: float
    expires_at: int
    slots: dict[str, SinkSlot] = field(default_factory=dict)  # the sinks, where each is counted
    spread: int = 1  # the partition keys its job-runs are spread over (cronlane.store.keys)
    max_parallel: int | None = None  # its width: jobs sent and not ended at once (cronlane.places)


@dataclass(frozen=True)
class PlaceEntry:
    """A job of a run with a width that holds a place or waits for one (cronlane.places): the
    generation and ``current`` its message carries."""

    generation: int = 0
    current: bool = False


@dataclass(frozen=True)
class PlacesRecord:
    """A run's places as stored: who holds one (with the generation and ``current`` sent), who
    waits, which of the placed its last write placed (their send may have died with its sender),
    and the version."""

    placed: Mapping[str, PlaceEntry] = field(default_factory=dict)
    waiting: Mapping[str, PlaceEntry] = field(default_factory=dict)
    version: int = 0
    fresh: frozenset[str] = frozenset()

    def to_json(self) -> str:
        """Compact (the item is read and written at every end): a job as its name, ``@<n>`` after
        it for a generation above 0, ``!`` for ``current`` (a job name has neither character)."""
        return json.dumps(
            {"p": _tokens(self.placed), "w": _tokens(self.waiting), "f": sorted(self.fresh)},
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str, version: int) -> PlacesRecord:
        data = json.loads(text)
        return cls(
            _untokens(data.get("p", [])), _untokens(data.get("w", [])), version, frozenset(data.get("f", []))
        )


def _tokens(entries: Mapping[str, PlaceEntry]) -> list[str]:
    return [
        job + (f"@{w.generation}" if w.generation else "") + "!" * w.current
        for job, w in sorted(entries.items())
    ]


def _untokens(tokens: list[str]) -> dict[str, PlaceEntry]:
    entries = {}
    for token in tokens:
        job, _, generation = token.rstrip("!").partition("@")
        entries[job] = PlaceEntry(int(generation or 0), token.endswith("!"))
    return entries


@dataclass(frozen=True)
class NewRun:
    """A run about to be created: its identity, what it was asked for, and its graph snapshot."""

    run_id: str
    schedule: str
    scheduled_time: float
    trigger: Trigger
    created_at: float
    expires_at: int
    parameters: dict[str, Any]
    nodes: dict[str, JobNode]
    fingerprint: str = ""
    deadline_at: float | None = None
    max_active: int | None = None
    max_parallel: int | None = None  # its schedule's width (cronlane.places)

    @property
    def sink_count(self) -> int:
        return sum(1 for node in self.nodes.values() if not node.dependents)


@dataclass(frozen=True)
class JobState:
    """What a release decides on: a job-run's status and generation, a running one's lease, and
    which invocation's chain ran it."""

    status: JobStatus
    generation: int = 0
    lease_expires_at: float | None = None
    chain: str | None = None  # JobRunView.chain


@dataclass(frozen=True)
class RunCounts:
    succeeded: int = 0
    failed: int = 0
    skipped: int = 0
    cancelled: int = 0


@dataclass(frozen=True)
class RestartStep:
    """One job of a restart: from the status and generation it had when the operator's request
    read it, to ``to`` in the next generation."""

    from_status: JobStatus
    generation: int
    to: JobStatus


@dataclass(frozen=True)
class Restart:
    """An operator's restart of jobs in a run (a rerun, a mark, a DLQ replay), written on the run
    before its first reset and removed after its last send: every step it names is idempotent, so
    whoever finds it there (the request repeated, the run's watchdog) can carry it out again."""

    id: str
    action: str
    at: float
    steps: dict[str, RestartStep]
    # a rerun's new parameters: each named job's values in its new life (the run's, overridden)
    params: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_json(self) -> str:
        steps = {
            name: {"from": s.from_status.value, "generation": s.generation, "to": s.to.value}
            for name, s in sorted(self.steps.items())
        }
        data: dict[str, Any] = {"id": self.id, "action": self.action, "at": self.at, "steps": steps}
        if self.params:
            data["params"] = self.params
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Restart:
        data = json.loads(text)
        steps = {
            name: RestartStep(JobStatus(s["from"]), int(s["generation"]), JobStatus(s["to"]))
            for name, s in data["steps"].items()
        }
        return cls(str(data["id"]), str(data["action"]), float(data["at"]), steps, data.get("params") or {})


@dataclass
class RunView:
    run_id: str
    schedule: str
    scheduled_time: float
    trigger: Trigger
    status: RunStatus
    job_count: int
    succeeded: int = 0
    failed: int = 0
    skipped: int = 0
    cancelled: int = 0
    created_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    request_hash: str = ""
    deadline_at: float | None = None
    cancel_requested_at: float | None = None
    reason: str | None = None
    max_active: int | None = None  # a backfill run: at most this many of its backfill at once
    # The jobs nothing in the run depends on. A job's success is not counted on the run (a
    # write per job saved): a sink's end is counted in the run's sink shards, and the other
    # outcomes (failed, skipped, cancelled) are counted here for every job. ``succeeded`` is
    # exact once the run is closed; while it runs it counts only the successes an operator marked.
    sink_count: int = 0
    # An operator reopened it (a rerun, a mark, a replay): its sinks may have ended before jobs
    # above them were reset, so only reading every job-run can tell that it is over.
    touched: bool = False
    # How many times an operator reopened it (each restart, each reopen): a close decided on a
    # read is written only if none came in between (``RunStore.close_run``).
    reopened: int = 0
    # An operator's restart that has begun and not ended (``Restart``): the run is not closed while
    # it is there, and whoever finds it carries it out (the repeated request, the watchdog).
    restart: Restart | None = None
    # A backfill run that holds one of its backfill's slots (taken as it started, given back as
    # it closes; a run an operator reopens runs without one, so the count stays exact).
    holds_slot: bool = False
    # Parameters an operator changed since: one entry per rerun with new values ({"at", "params"}).
    overrides: list[dict[str, Any]] = field(default_factory=list)

    @property
    def terminal_count(self) -> int:
        return self.succeeded + self.failed + self.skipped + self.cancelled

    @property
    def clean(self) -> bool:
        """No job failed, was skipped or cancelled (so far), and no operator reopened it."""
        return self.failed + self.skipped + self.cancelled == 0 and not self.touched and self.restart is None


@dataclass
class JobRunView:
    run_id: str
    job: str
    status: JobStatus
    depends_on: tuple[str, ...]
    dependents: tuple[str, ...]
    attempts: int
    max_attempts: int
    timeout_s: int
    function: str
    group: str
    generation: int
    params: dict[str, Any]
    dependent_fan_in: tuple[int, ...] = ()
    enqueued_at: float | None = None
    started_at: float | None = None
    attempt_started_at: float | None = None
    finished_at: float | None = None
    duration_s: float | None = None
    lease_expires_at: float | None = None
    error: str | None = None
    reason: str | None = None
    schedule: str = ""
    scheduled_time: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)
    # A job longer than one invocation: its last checkpoint (the cursor it continues from, JSON),
    # each invocation that ended in a checkpoint, and whether the next claim continues it.
    checkpoint: Any = None
    continuations: list[dict[str, Any]] = field(default_factory=list)
    continuing: bool = False
    max_continuations: int = DEFAULT_MAX_CONTINUATIONS
    # A handed-off attempt (an ``ecs`` or ``callback`` target): a ``cronlane.targets.HandOff``.
    hand_off: Any = None
    # Completions that came for an attempt already given up, or twice: recorded, never counted.
    late_completions: list[dict[str, Any]] = field(default_factory=list)
    # Which life and attempt's success left a result (cronlane.results), if one did, and the
    # result itself (JSON) when it is small enough to be kept on the item (``results.inline``).
    result_key: str | None = None
    result: str | None = None
    # Its lane and its dependents' (JobNode.lane, cronlane.lanes).
    lane: int = 0
    dependent_lanes: tuple[int, ...] = ()
    # The job whose message's invocation ran this attempt (it had no message of its own:
    # cronlane.execute's chains); None when its own message did.
    chain: str | None = None

    def lane_of(self, dependent: str) -> int:
        """The lane of one of its dependents in this run."""
        if not any(self.dependent_lanes):
            return 0
        return dict(zip(self.dependents, self.dependent_lanes, strict=False)).get(dependent, 0)

    @property
    def target(self) -> str:
        """Where the job runs: ``python``, ``lambda``, ``ecs`` or ``callback`` (cronlane.targets)."""
        from cronlane.targets import kind_of

        return kind_of(self.function)

    @property
    def handle(self) -> str | None:
        """Its last attempt's handle where it ran (a lambda target's request id, a task ARN, a
        token's id), if any: the running attempt's, else the last recorded one's."""
        if self.hand_off is not None and self.hand_off.attempt == self.attempts:
            return str(self.hand_off.handle)
        return next((h["handle"] for h in reversed(self.history) if h.get("handle")), None)


def waiting_view(graph: RunGraph, name: str, queued: bool = False) -> JobRunView:
    """A job-run that has no item yet, as its run's graph snapshot describes it: PENDING, or
    QUEUED (a root of a going run, whose message the dispatch sent). A job-run is written when it
    starts, is skipped or is cancelled; until then this is what it is."""
    node = graph.nodes[name]
    return JobRunView(
        run_id=graph.run_id,
        job=name,
        status=JobStatus.QUEUED if queued else JobStatus.PENDING,
        depends_on=node.depends_on,
        dependents=node.dependents,
        attempts=0,
        max_attempts=node.max_attempts,
        timeout_s=node.timeout_s,
        function=node.function,
        group=node.group,
        generation=0,
        params=dict(node.params),
        dependent_fan_in=node.dependent_fan_in,
        schedule=graph.schedule,
        scheduled_time=graph.scheduled_time,
        max_continuations=node.max_continuations,
        lane=node.lane,
        dependent_lanes=node.dependent_lanes,
    )


RUN_CANCELLED = "run cancelled"  # why a job-run of a cancelled run did not start, or run again
CANCELLED_WHILE_RUNNING = "cancelled: the run was cancelled while it ran"  # a handed-off attempt's


def ended_view(
    graph: RunGraph, name: str, status: JobStatus, now: float, reason: str | None = None
) -> JobRunView:
    """A job-run that ended without running (skipped, cancelled, marked), as its write left it."""
    view = waiting_view(graph, name)
    view.status, view.finished_at, view.reason = status, now, reason
    return view


@dataclass(frozen=True)
class DeadLetter:
    """A message on the dead-letter queue, as received (it stays there until deleted)."""

    message_id: str
    receipt_handle: str
    body: str
    error: str  # what put it there; "" for a message the queue's redrive policy moved
    dead_lettered_at: float | None = None
    receive_count: int = 0


def run_summary(run: RunView) -> dict[str, Any]:
    """A run as `cronlane runs`, `run --json` and the pages of `cronlane ui` show it."""
    return {
        "run_id": run.run_id,
        "schedule": run.schedule,
        "status": run.status.value,
        "trigger": str(run.trigger),
        "scheduled_time": iso(run.scheduled_time),
        "started_at": iso(run.started_at) if run.started_at else None,
        "finished_at": iso(run.finished_at) if run.finished_at else None,
        "job_count": run.job_count,
        # while a run goes on, its record counts only the successes of its sinks
        "succeeded": run.succeeded if run.status.terminal else None,
        "failed": run.failed,
        "skipped": run.skipped,
        "cancelled": run.cancelled,
        "reason": run.reason,
        "parameters": run.parameters,  # the trigger's, by job
        "overrides": run.overrides,  # reruns with new parameters
    }
