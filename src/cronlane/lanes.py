"""Lanes: how many executions of one job may run at once, across runs (``Job.max_concurrent``).

A lane is a message group of the FIFO job queue. SQS hands out nothing more of a group while
one of its messages is in flight or hidden, and a job's message stays so for the whole of its
execution wherever it runs: the executor holds it while a Python or lambda job runs, a backoff
hides it until the retry, and a handed-off attempt (``ecs``, ``callback``) keeps it as its timer
until the completion, the timeout, the cancel or the lease's end deletes it or lets it come
back. So a lane is a slot that is given back on every end, and a job with ``max_concurrent=N``
has N lanes: ``<job>`` (lane 0, the only one of a job with the default of 1) and ``<job>#1`` to
``<job>#<N-1>``.

Every message of one job-run goes to the same lane (its first, a retry, a continuation, a
replay, a rerun), so the queue keeps one job-run to one execution at a time as it always did,
and the claim still refuses a second.

Which lane a run's job takes: each job with more than one lane has a counter, and a run takes
the next number of each of its jobs' counters (``RunRecords.take_lane_numbers``: all in one
write per run that has such a job, none otherwise); its job takes lane ``number %
max_concurrent``. So consecutive runs of a job take its lanes in turn whatever other runs do in
between (runs of other jobs take nothing from its counter): with ``max_concurrent=2`` two
overlapping runs' executions of it run side by side. The turn is not the load: a third
overlapping run takes the first's lane and waits for it, even if the second's frees first. A
rerun, a resume or a replay stays in the lanes its run took.

A job declared with ``max_concurrent=None`` has no lane: it may run beside itself in any number
of runs. Each of its job-runs has a message group of its own (``<job>~<hash of the run>``, lane
``FREE``), so its messages (a retry, a continuation) still go one at a time, and nothing of
another run waits behind them. Only such a job may be run in its upstream's invocation
(``cronlane.execute``: a chained job has no message, so it could not hold a lane).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import replace

from cronlane.model import JobNode

MAX_CONCURRENT = 100  # lanes per job; a group id is at most 128 characters, a job name 80
FREE = -1  # the lane of a job with no limit (``max_concurrent=None``): its job-run's own group


def group_of(job: str, lane: int, run_id: str = "") -> str:
    """The message group of ``job``'s lane ``lane`` (``FREE``: of its job-run in ``run_id``)."""
    if lane == FREE:
        return f"{job}~{hashlib.sha256(run_id.encode()).hexdigest()[:16]}"
    return job if lane == 0 else f"{job}#{lane}"


def laned(limits: Mapping[str, int | None]) -> list[str]:
    """The jobs of a run (name -> ``max_concurrent``) that take a lane number: those with more
    than one lane."""
    return sorted(name for name, limit in limits.items() if limit is not None and limit > 1)


def assign(
    nodes: Mapping[str, JobNode], limits: Mapping[str, int | None], numbers: Mapping[str, int]
) -> dict[str, JobNode]:
    """The run's graph snapshot with each job's lane and its dependents', from the lane
    ``numbers`` the run took for its jobs with more than one (the others are in lane 0, or
    ``FREE`` with no limit)."""
    lanes = {
        name: FREE if limits.get(name, 1) is None else numbers.get(name, 0) % max(limits.get(name) or 1, 1)
        for name in nodes
    }
    return {
        name: replace(
            node,
            lane=lanes[name],
            dependent_lanes=tuple(lanes.get(d, 0) for d in node.dependents),
        )
        for name, node in nodes.items()
    }
