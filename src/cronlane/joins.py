"""Wide joins: how a job with many upstreams learns that they are all done, in writes that do
not grow with the width (the rule is here; ``release`` applies it, the stores keep the sets).

A release reads the status of a dependent's other upstreams. For a job with a handful of
upstreams that is the cheapest way (a read unit costs a fifth of a write unit), but a job with
n upstreams would cost about n²/2 reads in all. So a job with more than ``JOIN_FAN_IN``
upstreams, under ``all_success``, is *joined*: each upstream that succeeds adds its number (its
place in the job's ``depends_on``) to one of the job's join shards, a set of at most
``JOIN_SHARD`` numbers (well under 1 KB: one write unit); the write returns the set, and the
upstream whose number fills the shard adds the shard's number to the job's top set (jobs of at
most ``JOIN_SHARD`` upstreams have one shard and no top set). Only the upstream whose write
fills the last of them reads the upstreams' states, once, and decides as every release does.

The sets are a hint, never the decision: a member means "this upstream succeeded at least
once" (a rerun does not take it out), so a full set may come early (the read then finds an
upstream running again, and its own success fills the set again later), but never late: each
upstream adds itself after its state write and before its read, so the write that fills a set
comes after every member's state write, and the read after it sees them all. A release that
looks afresh (a replay, a run check, an operator's action) reads every upstream anyway, and adds
those it saw succeed, so an upstream whose own release never ran is counted all the same.

``all_done`` jobs are not joined: their upstreams end in any way, along paths (skips, cancels)
that do not release; they keep the reading release.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from cronlane.model import TriggerRule
from cronlane.rules import Needs

JOIN_FAN_IN = 8  # more upstreams than this: joined (below it, reading them costs less than a write)
JOIN_SHARD = 100  # numbers per join shard: at most about 400 bytes, one write unit


def joined(need: Needs) -> bool:
    return len(need.upstreams) > JOIN_FAN_IN and need.trigger_rule is TriggerRule.ALL_SUCCESS


@dataclass(frozen=True)
class JoinShard:
    """One shard of a joined job: its number, how many upstreams it holds, and how many shards
    the job has (more than one: a top set counts the full ones)."""

    job: str
    number: int
    size: int
    shards: int


def shard_of(job: str, width: int, position: int) -> JoinShard:
    """The shard that counts the upstream at ``position`` of the ``width`` upstreams of ``job``:
    dealt out in turn, so that upstreams that finish one after another (in their order, as a
    queue hands them out) write to different shards, on different partition keys of a large run
    (cronlane.store.keys)."""
    shards = -(-width // JOIN_SHARD)
    number = position % shards
    return JoinShard(job, number, len(range(number, width, shards)), shards)


def members_by_shard(job: str, need: Needs, upstreams: set[str]) -> dict[JoinShard, set[int]]:
    """The numbers of ``upstreams`` (all of them upstreams of ``job``), grouped by their shard."""
    grouped: dict[JoinShard, set[int]] = {}
    width = len(need.upstreams)
    places = _positions(need.upstreams)
    for name in upstreams:
        position = places[name]
        grouped.setdefault(shard_of(job, width, position), set()).add(position)
    return grouped


@functools.lru_cache(maxsize=64)
def _positions(upstreams: tuple[str, ...]) -> dict[str, int]:
    return {name: position for position, name in enumerate(upstreams)}
