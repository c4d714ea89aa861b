"""Search jobs."""

from __future__ import annotations

from typing import Any

from cronlane import JobContext
from cronlane.simulated import simulate
from nightly_sync import counts


def profile_search_index(ctx: JobContext) -> dict[str, Any]:
    """Rebuild the profile search index from the fresh traits."""
    return simulate(ctx, index="profiles", profiles_indexed=counts.users(ctx))


def search_synonyms(ctx: JobContext) -> dict[str, Any]:
    """Refresh the synonym list from recent queries."""
    return simulate(ctx, index="synonyms", synonyms=1_800)


def search_index_optimize(ctx: JobContext) -> dict[str, Any]:
    """Merge index segments and apply the synonyms."""
    return simulate(ctx, index="profiles", segments_merged=12)


def geo_index(ctx: JobContext) -> dict[str, Any]:
    """Rebuild the geo index of user locations."""
    return simulate(ctx, index="geo", locations=counts.users(ctx))


def search_suggestions(ctx: JobContext) -> dict[str, Any]:
    """Precompute query suggestions from the optimised index."""
    return simulate(ctx, index="suggestions", suggestions=5_000)
