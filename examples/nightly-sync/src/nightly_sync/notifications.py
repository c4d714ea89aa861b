"""Notification jobs."""

from __future__ import annotations

from typing import Any

from cronlane import JobContext
from cronlane.simulated import simulate
from nightly_sync import counts


def daily_digest(ctx: JobContext) -> dict[str, Any]:
    """Queue the daily digest e-mail: new mutual matches and top feed picks."""
    return simulate(
        ctx,
        channel="email",
        digests=counts.share(ctx, "mutualMatchJob", "mutual_matches", 1.0, counts.USERS // 4),
    )


def push_token_cleanup(ctx: JobContext) -> dict[str, Any]:
    """Delete push tokens the platforms reported invalid."""
    return simulate(ctx, channel="push", tokens_deleted=counts.USERS // 100)


def match_notification(ctx: JobContext) -> dict[str, Any]:
    """Push a notification for each new mutual match."""
    return simulate(
        ctx, channel="push", notifications=counts.share(ctx, "mutualMatchJob", "mutual_matches", 2.0, 0)
    )


def email_bounce_sync(ctx: JobContext) -> dict[str, Any]:
    """Import bounces and complaints from the e-mail provider."""
    return simulate(ctx, channel="email", bounces=counts.USERS // 250)


def inactive_user_nudge(ctx: JobContext) -> dict[str, Any]:
    """Nudge users inactive for 7 days whose traits predict good matches."""
    return simulate(ctx, channel="push", nudged=counts.users(ctx) // 20)
