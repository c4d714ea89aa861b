"""Feed jobs."""

from __future__ import annotations

from typing import Any

from cronlane import JobContext
from cronlane.simulated import simulate
from nightly_sync import counts


def feed_ranking(ctx: JobContext) -> dict[str, Any]:
    """Rank the pre-sorted feed with the match scores."""
    # the presorted feeds, as the JavaScript function counted them (its result)
    presorted = counts.share(ctx, "feedPresortJob", "items_sorted", 1.0, 0)
    return simulate(ctx, table="feed_rank", feeds_ranked=counts.users(ctx), items_ranked=presorted)


def feed_cache_warm(ctx: JobContext) -> dict[str, Any]:
    """Load the first feed page of active users into the cache."""
    return simulate(ctx, cache="feed", pages_cached=counts.users(ctx) // 3)


def feed_freshness(ctx: JobContext) -> dict[str, Any]:
    """Drop stale profiles from feeds."""
    return simulate(ctx, table="feed_items", stale_dropped=counts.users(ctx) // 12)


def trending_content(ctx: JobContext) -> dict[str, Any]:
    """Compute trending prompts and photos of the last 24 hours."""
    return simulate(ctx, table="trending", items=250)


def feed_dedup(ctx: JobContext) -> dict[str, Any]:
    """Remove profiles a user has already seen from the ranked feed."""
    return simulate(ctx, table="feed_rank", duplicates_removed=counts.users(ctx) // 5)
