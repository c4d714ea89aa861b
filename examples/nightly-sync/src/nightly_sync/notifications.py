"""Notification jobs."""

from __future__ import annotations

from typing import Any

from cronlane import JobContext
from cronlane.simulated import simulate


def daily_digest(ctx: JobContext) -> dict[str, Any]:
    """Queue the daily digest e-mail: new mutual matches and top feed picks."""
    return simulate(ctx, channel="email")


def push_token_cleanup(ctx: JobContext) -> dict[str, Any]:
    """Delete push tokens the platforms reported invalid."""
    return simulate(ctx, channel="push")


def match_notification(ctx: JobContext) -> dict[str, Any]:
    """Push a notification for each new mutual match."""
    return simulate(ctx, channel="push")


def email_bounce_sync(ctx: JobContext) -> dict[str, Any]:
    """Import bounces and complaints from the e-mail provider."""
    return simulate(ctx, channel="email")


def inactive_user_nudge(ctx: JobContext) -> dict[str, Any]:
    """Nudge users inactive for 7 days whose traits predict good matches."""
    return simulate(ctx, channel="push")
