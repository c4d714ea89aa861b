"""Feed jobs."""

from __future__ import annotations

from typing import Any

from cronlane import JobContext
from cronlane.simulated import simulate


def feed_ranking(ctx: JobContext) -> dict[str, Any]:
    """Rank the pre-sorted feed with the match scores."""
    return simulate(ctx, table="feed_rank")


def feed_cache_warm(ctx: JobContext) -> dict[str, Any]:
    """Load the first feed page of active users into the cache."""
    return simulate(ctx, cache="feed")


def feed_freshness(ctx: JobContext) -> dict[str, Any]:
    """Drop stale profiles from feeds."""
    return simulate(ctx, table="feed_items")


def trending_content(ctx: JobContext) -> dict[str, Any]:
    """Compute trending prompts and photos of the last 24 hours."""
    return simulate(ctx, table="trending")


def feed_dedup(ctx: JobContext) -> dict[str, Any]:
    """Remove profiles a user has already seen from the ranked feed."""
    return simulate(ctx, table="feed_rank")
