"""Releasing dependents: which of a finished job's dependents may start now.

A release writes nothing. The finished job's own state write comes first; then the release
reads, strongly consistently, the status of each dependent and of the dependent's other
upstreams, and sends the message of every dependent whose upstreams are all done. When two
upstreams of one job finish at once, each writes before it reads the other, so at least one of
them sees both done (both may: the second message carries the same deduplication id, and the
claim keeps the job to one execution whatever arrives). A release repeated after a crash reads
and sends again, which is as harmless.

Reading instead of counting costs a read unit per job read (a write unit costs five times as
much) and no failed conditional writes.
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
    default rule) or terminal in any way (``all_done``). ``states`` holds what was read: the
    dependents and their other upstreams (a job-run with no item is waiting: it is written when
    it starts); ``finished`` itself is taken as ``outcome``."""
    ready: list[tuple[str, int]] = []
    ended = False
    for name in sorted(needs):
        state = states.get(name, NOT_WRITTEN)
        if state.status.terminal:
            ended = True
            continue
        if state.status not in WAITING:
            continue  # already running
        need = needs[name]
        upstream_states = [outcome if u == finished else _status(states, u) for u in need.upstreams]
        if need.trigger_rule == ALL_DONE:
            done = all(s.terminal for s in upstream_states)
        else:
            done = all(s is JobStatus.SUCCEEDED for s in upstream_states)
        if done:
            ready.append((name, state.generation))
    return Decision(tuple(ready), ended)


def _status(states: Mapping[str, JobState], job: str) -> JobStatus:
    return states.get(job, NOT_WRITTEN).status


@dataclass(frozen=True)
class Ready:
    messages: tuple[JobMessage, ...]
    ended: bool


class Releaser:
    """Reads what a release decides on and sends the ready dependents' messages."""

    def __init__(self, store: RunStore, queue: JobQueue) -> None:
        self.store = store
        self.queue = queue
        self._graphs: OrderedDict[str, RunGraph] = OrderedDict()

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
        """Read the jobs in ``needs`` and their upstreams but ``finished`` (which ended in
        ``outcome``), and decide."""
        if not needs:
            return Ready((), False)
        to_read = set(needs) | {u for n in needs.values() for u in n.upstreams if u != finished}
        decision = decide(finished, outcome, needs, self.store.states(run_id, to_read))
        crashpoint("executor.after_release", job=finished, run_id=run_id)
        messages = tuple(JobMessage(run_id, job, gen, queued_at=now) for job, gen in decision.ready)
        return Ready(messages, decision.ended)

    def send(self, ready: Ready) -> bool:
        if ready.messages:
            self.queue.send(list(ready.messages))
        return ready.ended
