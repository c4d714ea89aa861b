"""What the example's jobs say they did, in numbers: their results (``cronlane.results``), made up
but consistent within a run, since each job counts from what its upstreams returned
(``ctx.upstream_results``)."""

from __future__ import annotations

from cronlane import JobContext

USERS = 48_000  # the active users a nightly works on


def users(ctx: JobContext) -> int:
    """The users buildUserTraitsJob rebuilt (all of them when it is not upstream of this job)."""
    traits = ctx.upstream_results.get("buildUserTraitsJob") or {}
    return int(traits.get("users", USERS))


def share(ctx: JobContext, upstream: str, key: str, fraction: float, default: int) -> int:
    """A fraction of what an upstream counted, or of ``default`` when it is not upstream."""
    found = (ctx.upstream_results.get(upstream) or {}).get(key, default)
    return int(found * fraction)
