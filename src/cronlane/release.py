"""Releasing dependents: which of a finished job's dependents may start now.

A release writes nothing. The finished job's own state write comes first; then the release
reads, strongly consistently, the status of the dependents' other upstreams, and then of the
dependents whose upstreams are all done, and sends the message of each of those still waiting.
When two upstreams of one job finish at once, each writes before it reads the other, so at least
one of them sees both done (both may: the second message carries the same deduplication id, and
the claim keeps the job to one execution whatever arrives). A release repeated after a crash
reads and sends again, which is as harmless.

Reading instead of counting costs a read unit per job read (a write unit costs five times as
much; a job-run with no item yet costs the unit too) and no failed conditional writes. Two
things keep the reads down:

- a dependent is read only once its upstreams are all done (the last of them to finish reads
  it; the others stop at the upstream that is not done yet);
- SUCCEEDED is final (no operator action takes a succeeded job-run back: a rerun restarts only
  failed, skipped and cancelled ones), so a process remembers, per run, the upstreams it saw
  succeed, and does not read them again.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cronlane.dal import JobQueue, RunStore
from cronlane.faults import crashpoint
from cronlane.model import ALL_DONE, JobMessage, JobNode, JobRunView, JobState, JobStatus, RunGraph

GRAPHS_KEPT = 8  # graph snapshots kept per process (a warm executor serves few runs at once)
WAITING = (JobStatus.PENDING, JobStatus.QUEUED)  # QUEUED: restarted, or a message maybe never sent
NOT_WRITTEN = JobState(JobStatus.PENDING, 0)  # a job-run with no item yet is waiting, generation 0
SEEN_SUCCEEDED = JobState(JobStatus.SUCCEEDED, 0)  # an upstream remembered as succeeded


@dataclass(frozen=True)
class Needs:
    """What a dependent waits for: its upstreams and its trigger rule."""

    upstreams: tuple[str, ...]
    trigger_rule: str


@dataclass(frozen=True)
class Decision:
    ready: tuple[tuple[str, int], ...]  # (job, generation) to send
    ended: bool  # a dependent had already ended (skipped or cancelled): the run may be closing


def decide(
    finished: str | None, outcome: JobStatus, needs: Mapping[str, Needs], states: Mapping[str, JobState]
) -> Decision:
    """Which dependents in ``needs`` are ready now that ``finished`` ended in ``outcome`` (no
    ``finished``: a fresh look, every upstream as read).

    A dependent is ready when it still waits and every upstream is done: succeeded (the
    default rule) or terminal in any way (``all_done``). ``states`` holds what was read (or is
    known) of the dependents and their other upstreams (a job-run with no item is waiting: it
    is written when it starts); ``finished`` itself is taken as ``outcome``."""
    ready: list[tuple[str, int]] = []
    ended = False
    for name in sorted(needs):
        state = states.get(name, NOT_WRITTEN)
        if state.status.terminal:
            ended = True
            continue
        if state.status not in WAITING:
            continue  # already running
        if _upstreams_done(needs[name], finished, outcome, states):
            ready.append((name, state.generation))
    return Decision(tuple(ready), ended)


def _upstream_statuses(
    need: Needs, finished: str | None, outcome: JobStatus, states: Mapping[str, JobState]
) -> list[JobStatus]:
    return [outcome if u == finished else states.get(u, NOT_WRITTEN).status for u in need.upstreams]


def _upstreams_done(
    need: Needs, finished: str | None, outcome: JobStatus, states: Mapping[str, JobState]
) -> bool:
    """Succeeded (the default rule) or ended in any way (``all_done``), every one."""
    statuses = _upstream_statuses(need, finished, outcome, states)
    if need.trigger_rule == ALL_DONE:
        return all(s.terminal for s in statuses)
    return all(s is JobStatus.SUCCEEDED for s in statuses)


@dataclass(frozen=True)
class Ready:
    messages: tuple[JobMessage, ...]
    ended: bool


def waiting_on(
    finished: str | None, outcome: JobStatus, needs: Mapping[str, Needs], upstreams: Mapping[str, JobState]
) -> tuple[dict[str, Needs], bool]:
    """Before reading the dependents: those whose upstreams are all done (``upstreams`` holds
    what was read of the others; ``finished`` ended in ``outcome``), and whether one of them can
    never start (an upstream it needs to succeed ended otherwise: it is skipped, or about to be,
    and the run may be closing)."""
    done: dict[str, Needs] = {}
    ended = False
    for name, need in needs.items():
        if _upstreams_done(need, finished, outcome, upstreams):
            done[name] = need
        elif need.trigger_rule != ALL_DONE and any(
            s.terminal and s is not JobStatus.SUCCEEDED
            for s in _upstream_statuses(need, finished, outcome, upstreams)
        ):
            ended = True
    return done, ended


class Releaser:
    """Reads what a release decides on and sends the ready dependents' messages."""

    def __init__(self, store: RunStore, queue: JobQueue) -> None:
        self.store = store
        self.queue = queue
        self._graphs: OrderedDict[str, RunGraph] = OrderedDict()
        self._succeeded: OrderedDict[str, set[str]] = OrderedDict()  # run -> jobs seen SUCCEEDED

    def _seen_succeeded(self, run_id: str) -> set[str]:
        seen = self._succeeded.get(run_id)
        if seen is None:
            seen = self._succeeded[run_id] = set()
            while len(self._succeeded) > GRAPHS_KEPT:
                self._succeeded.popitem(last=False)
        else:
            self._succeeded.move_to_end(run_id)
        return seen

    def run_graph(self, run_id: str) -> RunGraph | None:
        """The run's graph snapshot, which never changes: read once per process and run (None:
        no such run, which is not remembered)."""
        graph = self._graphs.get(run_id)
        if graph is None:
            graph = self.store.load_run_graph(run_id)
            if graph is None:
                return None
            self._graphs[run_id] = graph
            while len(self._graphs) > GRAPHS_KEPT:
                self._graphs.popitem(last=False)
        else:
            self._graphs.move_to_end(run_id)
        return graph

    def graph(self, run_id: str) -> dict[str, JobNode]:
        graph = self.run_graph(run_id)
        return graph.nodes if graph is not None else {}

    def needs_of(self, run_id: str, names: Iterable[str]) -> dict[str, Needs]:
        """What each of ``names`` waits for, from the run's graph snapshot."""
        graph = self.graph(run_id)
        return {n: Needs(graph[n].depends_on, graph[n].trigger_rule) for n in names if n in graph}

    def release(self, view: JobRunView, now: float) -> bool:
        """Send the messages of the dependents that the success of ``view`` made ready; True if
        one of them had already ended."""
        names, fan_in = view.dependents, view.dependent_fan_in
        if len(fan_in) == len(names) and all(count == 1 for count in fan_in):
            # ``view`` is each one's only upstream: no graph needed
            needs = {name: Needs((view.job,), "") for name in names}
        else:
            needs = self.needs_of(view.run_id, names)
        return self.send(self.ready(view.run_id, view.job, JobStatus.SUCCEEDED, needs, now))

    def ready(
        self, run_id: str, finished: str | None, outcome: JobStatus, needs: Mapping[str, Needs], now: float
    ) -> Ready:
        """Read the upstreams of the jobs in ``needs`` but ``finished`` (which ended in
        ``outcome``), then the jobs whose upstreams are all done, and decide."""
        if not needs:
            return Ready((), False)
        seen = self._seen_succeeded(run_id)
        if finished is not None and outcome is JobStatus.SUCCEEDED:
            seen.add(finished)
        upstreams = {u for n in needs.values() for u in n.upstreams if u != finished}
        states = self.store.states(run_id, upstreams - seen) if upstreams - seen else {}
        seen.update(u for u, state in states.items() if state.status is JobStatus.SUCCEEDED)
        states.update(dict.fromkeys(upstreams & seen, SEEN_SUCCEEDED))
        done, ended = waiting_on(finished, outcome, needs, states)
        if not done:
            crashpoint("executor.after_release", job=finished, run_id=run_id)
            return Ready((), ended)
        decision = decide(finished, outcome, done, {**states, **self.store.states(run_id, done)})
        crashpoint("executor.after_release", job=finished, run_id=run_id)
        messages = tuple(JobMessage(run_id, job, gen, queued_at=now) for job, gen in decision.ready)
        return Ready(messages, ended or decision.ended)

    def send(self, ready: Ready) -> bool:
        if ready.messages:
            self.queue.send(list(ready.messages))
        return ready.ended
