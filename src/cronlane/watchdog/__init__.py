"""The run watchdog: one one-time check per run that is not over, armed when the run is created
(or starts, or is reopened by an operator) and disarmed when it closes, so that nothing runs
while nothing is going. On AWS each check is an EventBridge Scheduler ``at(...)`` schedule in the
stack's watchdog group (``scheduler``); in a process, ``memory``. What a check does when it fires
is ``cronlane.watch``.

When a check is due (``due``): at the schedule's deadline (``deadline_s``) if it has one, so the
run-over-deadline alarm fires while the run is still going; else at the latest time a healthy run
could still be going (``healthy_bound``: along the longest path of its graph, each job's attempts
times its timeout and the largest backoff). A buffered run's check is due that long after it was
buffered (by then the run it waits for is over); an operator's restart is checked once its
request can no longer be running (the dispatcher's timeout), then as any going run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from cronlane.model import JobNode, RunStatus

BACKOFF_CAP_S = 900.0  # the largest backoff between two attempts (execute.BACKOFF_CAP_S)
RESTART_CHECK_S = 330.0  # a restart request is over by then: the dispatcher's 300 s timeout, and some
MIN_CHECK_S = 300.0  # no check sooner than this after it is armed


def healthy_bound(nodes: Mapping[str, JobNode]) -> float:
    """The longest a run of this graph takes when nothing is wrong: along its longest path, each
    job's attempts x (its timeout + the largest backoff)."""
    finish: dict[str, float] = {}
    todo = list(nodes)
    while todo:  # a graph snapshot is acyclic (the dispatcher resolved it)
        name = todo.pop()
        if name in finish:
            continue
        ups = [u for u in nodes[name].depends_on if u in nodes]
        missing = [u for u in ups if u not in finish]
        if missing:
            todo += [name, *missing]
            continue
        node = nodes[name]
        own = node.max_attempts * (node.timeout_s + BACKOFF_CAP_S)
        finish[name] = own + max((finish[u] for u in ups), default=0.0)
    return max(finish.values(), default=0.0)


def due(status: RunStatus, now: float, nodes: Mapping[str, JobNode], deadline_at: float | None) -> float:
    """When the check of a run in ``status`` (as it is armed now) falls due: its deadline, if it
    has one still ahead and it is not waiting to start; else when a healthy run of its graph
    would be over."""
    if status is not RunStatus.BUFFERED and deadline_at is not None and deadline_at > now + MIN_CHECK_S:
        return deadline_at + 1  # just past it: a run still going then is late
    return now + max(healthy_bound(nodes), MIN_CHECK_S)


def schedule_name(run_id: str) -> str:
    """A run's check's name: Scheduler names are letters, digits, '-', '_' and '.' (64 at most),
    and run ids have '@' and ':' in them."""
    return "run-" + hashlib.sha256(run_id.encode()).hexdigest()[:40]


class NoWatchdog:
    """No checks (a test or a tool that does not want any)."""

    def arm(self, run_id: str, due: float) -> None:
        return None

    def disarm(self, run_id: str) -> None:
        return None
