"""Which ready job goes first: the one with the longest path still ahead of it (critical-path
order). Pure functions, no I/O.

A job's *rank* is its expected duration plus the longest rank among its dependents in the run:
how long the run still takes from the moment the job starts, with every environment free. The
dispatcher computes the ranks when it takes a run's graph snapshot and stores them in it, so
every process that later sends a run's messages orders them the same way, from the snapshot it
already holds.

A job's expected duration is its declared ``expected_s``; else what it took in the schedule's
last run that ran it; else the median of the durations known for the run (1 s when none is):
with nothing known, a job with more levels below it goes first.

Messages sent together (a run's roots, the dependents one success makes ready, what an operator's
restart sends) go in rank order, highest first. SQS FIFO has no priority across message groups,
but it delivers in the order sent, so this orders jobs that become ready at the same moment. It
does not reorder a job that became ready later than others already queued: that would take
holding back the jobs that exceed the free concurrency, which cronlane does not do
(docs/performance.md says what that would cost).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping

from cronlane.model import JobMessage, JobNode

DEFAULT_S = 1.0  # a job's expected duration when nothing at all is known


def expected_durations(
    names: Iterable[str], declared: Mapping[str, float | None], measured: Mapping[str, float]
) -> dict[str, float]:
    """Each job's expected duration: declared, else measured, else the median of the others."""
    chosen = list(names)
    known = {n: float(d) for n in chosen if (d := declared.get(n)) is not None}
    known.update({n: measured[n] for n in chosen if n not in known and n in measured})
    fallback = statistics.median(known.values()) if known else DEFAULT_S
    return {n: known.get(n, fallback) for n in chosen}


def ranks(
    order: Iterable[str], dependents: Mapping[str, Iterable[str]], durations: Mapping[str, float]
) -> dict[str, float]:
    """Each job's rank: its duration plus the highest rank of its dependents (``order`` is
    topological: upstreams first)."""
    rank: dict[str, float] = {}
    for name in reversed(list(order)):
        below = max((rank[d] for d in dependents.get(name, ())), default=0.0)
        rank[name] = round(durations.get(name, DEFAULT_S) + below, 3)
    return rank


def by_rank(messages: Iterable[JobMessage], nodes: Mapping[str, JobNode]) -> list[JobMessage]:
    """``messages`` in the order to send them: the highest rank first (ties by name)."""

    def key(message: JobMessage) -> tuple[float, str]:
        node = nodes.get(message.job)
        return (-(node.rank if node is not None else 0.0), message.job)

    return sorted(messages, key=key)
