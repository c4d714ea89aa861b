"""Matching jobs. Each simulates its work; the docstring says what the real one computes."""

from __future__ import annotations

from typing import Any

from cronlane import JobContext
from cronlane.simulated import simulate
from nightly_sync import counts


def build_user_traits(ctx: JobContext) -> dict[str, Any]:
    """Recompute every user's trait vector from profile answers and recent activity."""
    return simulate(ctx, table="user_traits", users=counts.USERS)


def match_score(ctx: JobContext) -> dict[str, Any]:
    """Score candidate pairs from the fresh trait vectors."""
    return simulate(ctx, table="match_scores", pairs_scored=counts.users(ctx) * 25)


def mutual_match(ctx: JobContext) -> dict[str, Any]:
    """Find pairs that score each other highly and are compatible."""
    # the compatibility service's reports (the callback worker's result) and the scored pairs
    compatible = counts.share(ctx, "compatibilityJob", "reports", 1.0, 0)
    mutual = counts.share(ctx, "matchScoreJob", "pairs_scored", 0.004, 0)
    return simulate(ctx, table="mutual_matches", mutual_matches=mutual, compatibility_reports=compatible)


def match_expiry(ctx: JobContext) -> dict[str, Any]:
    """Expire matches nobody acted on within 14 days."""
    return simulate(ctx, table="matches", expired=counts.users(ctx) // 40)


def match_quality_report(ctx: JobContext) -> dict[str, Any]:
    """Summarise match acceptance rates for the product dashboard; runs even when an upstream
    failed (``trigger_rule="all_done"``), so the report says what is missing."""
    return simulate(ctx, report="match_quality", upstreams_reported=len(ctx.upstream_results))
