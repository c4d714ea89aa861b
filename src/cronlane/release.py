"""Releasing dependents: which of a finished job's dependents may start now (the rule is
``rules.decide``; this module reads what it decides on, and sends).

A release writes nothing. The finished job's own state write comes first; then the release
reads, strongly consistently, the status of the dependents' other upstreams, and then of the
dependents whose upstreams are all done, and sends the message of each of those still waiting.
Right after a success's write it does not read the ``all_success`` dependents whose upstreams
all succeeded: SUCCEEDED is final, so such a job may start in whichever generation it waits, and
its claim's condition already checks that it waits (the message says ``current``: a claim that
finds a later generation waiting takes that one; one that finds the job running or ended drops
it, and closes the run if it had been skipped or cancelled). A repeated release (a redelivery,
a fresh look) reads them, so that a late repeat does not send again the jobs below it that
have already run, and theirs below them.
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

A job with many upstreams is joined instead (``cronlane.joins``): each success adds itself to
the job's join sets, one write, and only the one that fills them reads the upstreams. Until then
it reads the joined job's own state (one read unit: a wide job's item leaves its lists to the
graph snapshot), to tell the run it may be closing if that job had ended (skipped by a failure).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from cronlane import joins, priority
from cronlane.faults import crashpoint
from cronlane.graphs import GRAPHS_KEPT, RunGraphs
from cronlane.model import JobMessage, JobNode, JobRunView, JobState, JobStatus, TriggerRule
from cronlane.places import Ended, Places
from cronlane.ports import JobQueue, JobRunRecords
from cronlane.rules import NOT_WRITTEN, Needs, decide, done_waiting

SEEN_SUCCEEDED = JobState(JobStatus.SUCCEEDED, 0)  # an upstream remembered as succeeded
Keep = Callable[[JobMessage, JobNode], bool]  # a ready job the sender runs itself instead


@dataclass(frozen=True)
class Ready:
    messages: tuple[JobMessage, ...]
    ended: bool  # a dependent had ended, or can never start: the run may be closing


class Releaser:
    """Reads what a release decides on and sends the ready dependents' messages."""

    def __init__(self, store: JobRunRecords, queue: JobQueue, graphs: RunGraphs, places: Places) -> None:
        self.store = store
        self.queue = queue
        self.graphs = graphs
        self.places = places
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

    def release(self, view: JobRunView, now: float, unread: bool = False) -> bool:
        """Send the messages of the dependents that the success of ``view`` made ready; True if
        one of them had already ended. ``unread``: the release right after the success's own
        write, which sends its ``all_success`` dependents without reading them."""
        return self.release_keeping(view, now, unread)[0]

    def release_keeping(
        self, view: JobRunView, now: float, unread: bool = False, keep: Keep | None = None
    ) -> tuple[bool, JobMessage | None]:
        """``release``, keeping back unsent the first ready dependent, by rank, that ``keep``
        takes (the executor runs it in this invocation: ``cronlane.execute``); and that one."""
        names, fan_in = view.dependents, view.dependent_fan_in
        if not unread and len(fan_in) == len(names) and all(count == 1 for count in fan_in):
            # ``view`` is each one's only upstream: no graph needed (its rule cannot matter to
            # a release that reads: a success is done under both). An unread release needs the
            # rules from the snapshot, which the executor read for the claim: an ``all_done``
            # job may have run already, after its upstream had failed, and its read says so.
            needs = {name: Needs((view.job,), TriggerRule.ALL_SUCCESS, view.lane_of(name)) for name in names}
        else:
            needs = self.graphs.needs_of(view.run_id, names)
        ready = self.ready(view.run_id, view.job, JobStatus.SUCCEEDED, needs, now, unread)
        kept = self.send_messages(view.run_id, ready.messages, {view.job: view.generation}, keep)
        return ready.ended, kept

    def ready(
        self,
        run_id: str,
        finished: str | None,
        outcome: JobStatus,
        needs: Mapping[str, Needs],
        now: float,
        unread: bool = False,
    ) -> Ready:
        """Read the upstreams of the jobs in ``needs`` but ``finished`` (which ended in
        ``outcome``), then the jobs whose upstreams are all done, and decide. ``unread``: the
        ``all_success`` jobs whose upstreams all succeeded are sent without being read (their
        claim checks that they still wait)."""
        if not needs:
            return Ready((), False)
        joined = {name: need for name, need in needs.items() if joins.joined(need)}
        unfilled: set[str] = set()
        blocked = False
        if finished is not None and outcome is JobStatus.SUCCEEDED:
            unfilled = {
                name
                for name, need in joined.items()
                if finished in need.upstreams and not self._join(run_id, name, need, {finished})
            }
            if unfilled:
                # a joined job that is not ready may have ended (skipped by a failure above it):
                # its own state says (its item is small: its lists are in the graph snapshot)
                blocked = any(s.status.terminal for s in self.store.states(run_id, unfilled).values())
                needs = {name: need for name, need in needs.items() if name not in unfilled}
                if not needs:
                    crashpoint("executor.after_release", job=finished, run_id=run_id)
                    return Ready((), blocked)
        seen = self._seen_succeeded(run_id)
        if finished is not None and outcome is JobStatus.SUCCEEDED:
            seen.add(finished)
        upstreams = {u for n in needs.values() for u in n.upstreams if u != finished}
        states = self.store.states(run_id, upstreams - seen) if upstreams - seen else {}
        seen.update(u for u, state in states.items() if state.status is JobStatus.SUCCEEDED)
        states.update(dict.fromkeys(upstreams & seen, SEEN_SUCCEEDED))
        if finished is None:
            # A fresh look counts in the join sets the successes it saw. Its read came before
            # its add: an upstream that added itself in between saw the sets short and stopped,
            # so if this add fills them, the upstreams are read again, after it.
            filled = {
                name
                for name, need in joined.items()
                if (succeeded := {u for u in need.upstreams if u in seen})
                and self._join(run_id, name, need, succeeded)
            }
            again = {u for name in filled for u in needs[name].upstreams} - seen
            if again:
                states.update(self.store.states(run_id, again))
                seen.update(u for u in again if states.get(u, NOT_WRITTEN).status is JobStatus.SUCCEEDED)
        done, ended = done_waiting(finished, outcome, needs, states)
        ended = ended or blocked
        sent: tuple[JobMessage, ...] = ()
        if unread:
            # Every upstream of these succeeded, and SUCCEEDED is final: whatever generation the
            # job-run is in, if it still waits it may start, and the claim checks that it waits.
            # So it is not read here (one read and one request less on the hand-off); a message
            # that finds it running, ended or gone ahead is dropped by its claim.
            sent = tuple(
                JobMessage(run_id, name, 0, queued_at=now, lane=need.lane, current=True)
                for name, need in sorted(done.items())
                if need.trigger_rule is TriggerRule.ALL_SUCCESS
            )
            done = {
                name: need for name, need in done.items() if need.trigger_rule is not TriggerRule.ALL_SUCCESS
            }
        if not done:
            crashpoint("executor.after_release", job=finished, run_id=run_id)
            return Ready(sent, ended)
        decision = decide(finished, outcome, done, {**states, **self.store.states(run_id, done)}, now)
        crashpoint("executor.after_release", job=finished, run_id=run_id)
        messages = tuple(
            JobMessage(run_id, job, gen, queued_at=now, lane=needs[job].lane) for job, gen in decision.ready
        )
        return Ready(sent + messages, ended or decision.ended)

    def _join(self, run_id: str, job: str, need: Needs, members: set[str]) -> bool:
        """Add ``members`` (upstreams of ``job`` that succeeded) to the job's join sets; True if
        that filled them all (every upstream has succeeded at least once)."""
        graph = self.graphs.get(run_id)
        expires_at = graph.expires_at if graph is not None else 0
        grouped = joins.members_by_shard(job, need, members)
        filled = {
            shard.number
            for shard, numbers in grouped.items()
            if self.store.join(run_id, job, shard.number, numbers, shard.size, expires_at)
        }
        shards = next(iter(grouped)).shards if grouped else 0
        if shards <= 1 or not filled:
            return bool(filled)
        return self.store.join(run_id, job, None, filled, shards, expires_at)

    def send(self, ready: Ready, run_id: str, ended: Ended | None = None) -> bool:
        """Send what ``ready`` holds, ``ended`` (jobs of ``run_id`` that ended, with the
        generation) giving back their places in a run with a width; True if a dependent had
        ended."""
        self.send_messages(run_id, ready.messages, ended)
        return ready.ended

    def ended(self, run_id: str, job: str, generation: int | None) -> None:
        """``job`` ended without a release (skipped or cancelled while it held a place): in a run
        with a width, its place goes to the next waiting job."""
        self.send_messages(run_id, (), {job: generation})

    def send_messages(
        self,
        run_id: str,
        messages: Sequence[JobMessage],
        ended: Ended | None = None,
        keep: Keep | None = None,
    ) -> JobMessage | None:
        """Send messages of one run, the job with the longest path ahead first (cronlane.priority:
        the ranks are in the run's graph snapshot, which whoever sends has already read). In a
        run with a width (``Schedule(max_parallel=...)``), only as many as it has places free
        after ``ended`` gave theirs back, the others waiting for one (cronlane.places). In a run
        without one, the first message ``keep`` takes is not sent but returned."""
        if not messages and not ended:
            return None
        graph = self.graphs.get(run_id)
        nodes = graph.nodes if graph is not None else {}
        kept = None
        if graph is not None and graph.max_parallel:
            messages = self.places.admit(
                run_id, graph.max_parallel, nodes, graph.expires_at, ended or {}, messages
            )
        else:
            if len(messages) > 1:
                messages = priority.by_rank(messages, nodes)
            if keep is not None and graph is not None:
                kept = next((m for m in messages if m.job in nodes and keep(m, nodes[m.job])), None)
                messages = [m for m in messages if m is not kept]
        if messages:
            self.queue.send(list(messages))
        return kept
