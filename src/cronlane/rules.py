"""The dependency rules, in one place: when a job's upstreams are done, what a failure skips,
what blocks a job for good, and what an operator may run again. Pure functions over statuses
and the run's graph snapshot, no I/O: the executor, the releaser, the operator's actions and the
DLQ replay all decide with these.

The two trigger rules (``TriggerRule``):

- ``all_success`` (the default): a job may start once every upstream SUCCEEDED; an upstream that
  ended any other way (failed, skipped, cancelled) blocks it for good, and it is skipped;
- ``all_done``: a job may start once every upstream is terminal, whatever the outcome; nothing
  blocks it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cronlane.model import JobNode, JobRunView, JobState, JobStatus, TriggerRule

WAITING = (JobStatus.PENDING, JobStatus.QUEUED)  # QUEUED: restarted, or a message maybe never sent
RESTARTABLE = (JobStatus.FAILED, JobStatus.SKIPPED, JobStatus.CANCELLED)  # what a rerun brings back
NOT_WRITTEN = JobState(JobStatus.PENDING, 0)  # a job-run with no item yet is waiting, generation 0


def upstreams_done(rule: TriggerRule, upstreams: Iterable[JobStatus]) -> bool:
    """Whether a job under ``rule`` may start, its upstreams being in these statuses."""
    if rule is TriggerRule.ALL_DONE:
        return all(status.terminal for status in upstreams)
    return all(status is JobStatus.SUCCEEDED for status in upstreams)


def blocker(rule: TriggerRule, upstreams: Mapping[str, JobStatus]) -> str | None:
    """The upstream that keeps a job under ``rule`` from ever starting: one that ended without
    succeeding (``all_success`` only). None if nothing blocks it (yet)."""
    if rule is TriggerRule.ALL_DONE:
        return None
    return next(
        (name for name, status in upstreams.items() if status.terminal and status is not JobStatus.SUCCEEDED),
        None,
    )


# -- releases --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Needs:
    """What a job waits for: its upstreams and its trigger rule."""

    upstreams: tuple[str, ...]
    trigger_rule: TriggerRule
    lane: int = 0  # the job's lane in the run (cronlane.lanes): where its message goes

    @classmethod
    def of(cls, node: JobNode) -> Needs:
        return cls(node.depends_on, node.trigger_rule, node.lane)


def _statuses(
    need: Needs, finished: str | None, outcome: JobStatus, states: Mapping[str, JobState]
) -> dict[str, JobStatus]:
    """Each upstream's status: ``finished`` as ``outcome``, the others as read (an upstream with
    no item yet is waiting)."""
    return {u: outcome if u == finished else states.get(u, NOT_WRITTEN).status for u in need.upstreams}


@dataclass(frozen=True)
class Decision:
    ready: tuple[tuple[str, int], ...]  # (job, generation) to send
    ended: bool  # a dependent had already ended (skipped or cancelled): the run may be closing


def done_waiting(
    finished: str | None, outcome: JobStatus, needs: Mapping[str, Needs], upstreams: Mapping[str, JobState]
) -> tuple[dict[str, Needs], bool]:
    """Before reading the dependents: those whose upstreams are all done (``upstreams`` holds
    what was read of the others; ``finished`` ended in ``outcome``), and whether one of them can
    never start (blocked: it is skipped, or about to be, and the run may be closing)."""
    done: dict[str, Needs] = {}
    ended = False
    for name, need in needs.items():
        statuses = _statuses(need, finished, outcome, upstreams)
        if upstreams_done(need.trigger_rule, statuses.values()):
            done[name] = need
        elif blocker(need.trigger_rule, statuses) is not None:
            ended = True
    return done, ended


def decide(
    finished: str | None,
    outcome: JobStatus,
    needs: Mapping[str, Needs],
    states: Mapping[str, JobState],
    now: float | None = None,
) -> Decision:
    """Which jobs in ``needs`` are ready now that ``finished`` ended in ``outcome`` (no
    ``finished``: a fresh look, every upstream as read).

    A job is ready when it still waits and its upstreams are done (``upstreams_done``).
    ``states`` holds what was read (or is known) of the jobs and their other upstreams (a
    job-run with no item is waiting: it is written when it starts). A release (``finished``
    and ``now`` given) also sends a job left RUNNING under a lease that has run out: its
    executor died, and it may have had no message of its own (it ran in its upstream's
    invocation, ``cronlane.execute``), so the upstream's redelivered release is what finds it;
    the claim takes it over as a new attempt."""
    ready: list[tuple[str, int]] = []
    ended = False
    for name in sorted(needs):
        state = states.get(name, NOT_WRITTEN)
        if state.status.terminal:
            ended = True
            continue
        if state.status not in WAITING and not lost(state, finished, now):
            continue  # already running
        if upstreams_done(
            needs[name].trigger_rule, _statuses(needs[name], finished, outcome, states).values()
        ):
            ready.append((name, state.generation))
    return Decision(tuple(ready), ended)


# -- failures ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FailureReach:
    """What a failed job does to the jobs below it."""

    skipped: tuple[tuple[str, str], ...]  # (job, the failed job that skips it), transitively
    all_done: tuple[str, ...]  # jobs that run whatever their upstreams' outcome: may be ready


def failure_reach(nodes: Mapping[str, JobNode], failed: str) -> FailureReach:
    """A failed job skips what depends on it, at once and transitively (each with the failed job
    as the cause), except the ``all_done`` jobs, for which the failed or skipped upstream counts
    as done: they stop the skipping there and start once all their upstreams are done."""
    if failed not in nodes:
        return FailureReach((), ())
    todo = list(nodes[failed].dependents)
    skipped: dict[str, str] = {}
    all_done: set[str] = set()
    while todo:
        name = todo.pop()
        if nodes[name].trigger_rule is TriggerRule.ALL_DONE:
            all_done.add(name)
        elif name not in skipped:
            skipped[name] = failed
            todo.extend(nodes[name].dependents)
    return FailureReach(tuple(sorted(skipped.items())), tuple(sorted(all_done)))


# -- operators ---------------------------------------------------------------------------------


def skipped_below(
    jobs: Mapping[str, JobRunView],
    job: str,
    statuses: tuple[JobStatus, ...] = (JobStatus.SKIPPED, JobStatus.CANCELLED),
) -> set[str]:
    """The jobs below ``job`` that did not run (skipped, or cancelled), transitively."""
    found: set[str] = set()
    todo = [job]
    while todo:
        for dependent in jobs[todo.pop()].dependents:
            if dependent not in found and jobs[dependent].status in statuses:
                found.add(dependent)
                todo.append(dependent)
    return found


def runnable(
    nodes: Mapping[str, JobNode], jobs: Mapping[str, JobRunView], chosen: set[str], vouched: set[str]
) -> tuple[set[str], dict[str, str]]:
    """The chosen jobs that can run again, and why each other one cannot. A job that needs its
    upstreams to succeed stays as it is while one of them has ended without succeeding and is
    neither chosen nor vouched for (a failed job a rerun ``--failed-only`` or a DLQ replay
    leaves alone, a cancelled one, or a failed one beside the job being marked): reset, it would
    wait for that upstream for ever and hold the run open. What depends on a job left alone is
    left alone too."""
    left: dict[str, str] = {}
    changed = True
    while changed:
        changed = False
        for name in sorted(chosen - set(left)):
            node = nodes.get(name)
            if node is None:
                continue
            staying = {
                u: jobs[u].status
                for u in node.depends_on
                if u in jobs and u not in vouched and not (u in chosen and u not in left)
            }
            blocked = blocker(node.trigger_rule, {u: s for u, s in staying.items() if s in RESTARTABLE})
            if blocked is not None:
                left[name] = f"upstream {blocked} is {staying[blocked].value}"
                changed = True
    return chosen - set(left), dict(sorted(left.items()))


def starts_at_once(
    node: JobNode, jobs: Mapping[str, JobRunView], restarted: set[str], vouched: set[str]
) -> bool:
    """Whether a job an operator restarts may start at once (QUEUED) rather than wait (PENDING):
    its upstreams as they will be after the restart (restarted ones waiting, vouched-for ones
    SUCCEEDED, the others as they are) are done."""

    def after(upstream: str) -> JobStatus:
        if upstream in vouched:
            return JobStatus.SUCCEEDED
        if upstream in restarted:
            return JobStatus.PENDING
        view = jobs.get(upstream)
        return view.status if view is not None else JobStatus.PENDING

    return upstreams_done(node.trigger_rule, (after(u) for u in node.depends_on))


def lost(state: JobState, finished: str | None, now: float | None) -> bool:
    """A job-run a release finds RUNNING under an expired lease (a fresh look leaves these to
    the run's check, which waits until no message of theirs can still come back)."""
    expired = state.lease_expires_at is not None and now is not None and state.lease_expires_at < now
    return finished is not None and state.status is JobStatus.RUNNING and expired


def abandoned(view: JobRunView, now: float) -> bool:
    """A job-run whose message left the queue without its executor ending it (the redrive policy
    moved it to the DLQ): QUEUED, or RUNNING under an expired lease."""
    if view.status is JobStatus.QUEUED:
        return True
    return view.status is JobStatus.RUNNING and (view.lease_expires_at or 0) < now
