"""Matching jobs. Each simulates its work; the docstring says what the real one computes."""

from __future__ import annotations

from typing import Any

from cronlane import Continuation, JobContext
from cronlane.simulated import simulate, simulate_in_steps


def build_user_traits(ctx: JobContext) -> dict[str, Any]:
    """Recompute every user's trait vector from profile answers and recent activity."""
    return simulate(ctx, table="user_traits")


def match_score(ctx: JobContext) -> dict[str, Any]:
    """Score candidate pairs from the fresh trait vectors."""
    return simulate(ctx, table="match_scores")


def compatibility(ctx: JobContext) -> dict[str, Any]:
    """Compute compatibility reports from traits (can be made to fail: ``fail_attempts``)."""
    return simulate(ctx, table="compatibility")


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


def train_recommendation_model(ctx: JobContext) -> dict[str, Any] | Continuation:
    """Retrain the recommendation model on the day's interactions: about 40 minutes, longer than
    one Lambda invocation, so it checkpoints (epochs done) and continues in the next one."""
    return simulate_in_steps(ctx, model="recommendations")
