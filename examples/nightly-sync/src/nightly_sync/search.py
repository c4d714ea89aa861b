"""Search jobs."""

from __future__ import annotations

from typing import Any

from cronlane import JobContext
from cronlane.simulated import simulate


def profile_search_index(ctx: JobContext) -> dict[str, Any]:
    """Rebuild the profile search index from the fresh traits."""
    return simulate(ctx, index="profiles")


def search_synonyms(ctx: JobContext) -> dict[str, Any]:
    """Refresh the synonym list from recent queries."""
    return simulate(ctx, index="synonyms")


def search_index_optimize(ctx: JobContext) -> dict[str, Any]:
    """Merge index segments and apply the synonyms."""
    return simulate(ctx, index="profiles")


def geo_index(ctx: JobContext) -> dict[str, Any]:
    """Rebuild the geo index of user locations."""
    return simulate(ctx, index="geo")


def search_suggestions(ctx: JobContext) -> dict[str, Any]:
    """Precompute query suggestions from the optimised index."""
    return simulate(ctx, index="suggestions")
