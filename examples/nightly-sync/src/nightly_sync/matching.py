"""Matching jobs. Each simulates its work; the docstring says what the real one computes."""

from __future__ import annotations

from typing import Any

from cronlane import JobContext
from cronlane.simulated import simulate


def build_user_traits(ctx: JobContext) -> dict[str, Any]:
    """Recompute every user's trait vector from profile answers and recent activity."""
    return simulate(ctx, table="user_traits")


def match_score(ctx: JobContext) -> dict[str, Any]:
    """Score candidate pairs from the fresh trait vectors."""
    return simulate(ctx, table="match_scores")


def mutual_match(ctx: JobContext) -> dict[str, Any]:
    """Find pairs that score each other highly and are compatible."""
    return simulate(ctx, table="mutual_matches")


def match_expiry(ctx: JobContext) -> dict[str, Any]:
    """Expire matches nobody acted on within 14 days."""
    return simulate(ctx, table="matches")


def match_quality_report(ctx: JobContext) -> dict[str, Any]:
    """Summarise match acceptance rates for the product dashboard; runs even when an upstream
    failed (``trigger_rule="all_done"``), so the report says what is missing."""
    return simulate(ctx, report="match_quality")
