"""A schedule's policies as decisions, pure: whether a tick is one its schedule could have sent
now (``tick_problem``), what a tick does while earlier runs are active (``Overlap``), and what
becomes of fire times that passed without a run (``CatchUp``). The dispatcher reads the runs and
writes the outcome; these say what it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cronlane.clock import iso
from cronlane.cron import Expression, RateExpression
from cronlane.model import CatchUp, Overlap, RunStatus, RunView, Trigger

ACTIVE = (RunStatus.CREATING, RunStatus.RUNNING, RunStatus.BUFFERED)
FUTURE_TICK_S = 300.0  # a tick's time may be ahead of this function's clock by this much


def tick_problem(
    expression: Expression,
    timezone: str | None,
    scheduled_time: float,
    now: float,
    oldest_s: float,
) -> str | None:
    """Why a tick dated ``scheduled_time`` (a Scheduled Event's ``time``, a Scheduler schedule's
    scheduled time) arriving at ``now`` cannot have come from its schedule, or None.

    It must be a fire time of the expression (a ``rate()`` rule's phase is the moment it was
    created, not known here, so any time passes), no more than 5 minutes ahead of the clock, and
    no older than ``oldest_s`` (the schedule's catch-up window, or the hour EventBridge retries a
    tick, whichever is longer): a forged, mistyped or stale event is refused before anything
    is written (a 1970 tick, say, would otherwise move the missed-run watermark back)."""
    when = iso(scheduled_time)
    if scheduled_time > now + FUTURE_TICK_S:
        return f"tick for {when} lies more than {FUTURE_TICK_S / 60:.0f} minutes in the future"
    if scheduled_time < now - oldest_s:
        return f"tick for {when} is older than its schedule's catch-up window ({oldest_s:.0f} s)"
    if isinstance(expression, RateExpression):
        return None
    following = expression.fire_times(scheduled_time - 1, 1, timezone)
    if not following or following[0] != scheduled_time:
        return f"tick for {when} is not a fire time of its schedule"
    return None


@dataclass(frozen=True)
class TickPlan:
    """What a tick's run does: start now (CREATING), wait behind the active run (BUFFERED, for
    ``waits_for``), or nothing, recorded as a SKIPPED run with ``skipped`` as its reason."""

    status: RunStatus
    waits_for: str | None = None
    skipped: str | None = None


def on_tick(overlap: Overlap, active: Sequence[RunView], run_id: str) -> TickPlan:
    """The tick ``run_id`` of a schedule whose active runs are ``active`` (ended runs in it are
    left out).

    Backfill runs have slots of their own (``max_active``): they never hold a tick off. Caught-up
    runs are late by design: a tick behind only those waits behind them, whatever the policy,
    rather than being skipped. Otherwise: ``skip`` records the tick as skipped while a run is
    active; ``buffer_one`` makes it wait (BUFFERED), unless a tick already waits, and then it is
    skipped; ``allow`` starts it beside the active one."""
    active = [
        r for r in active if r.status in ACTIVE and r.run_id != run_id and r.trigger is not Trigger.BACKFILL
    ]
    running = [r for r in active if r.status is not RunStatus.BUFFERED]
    live = [r for r in running if r.trigger is not Trigger.CATCH_UP]
    if not running or overlap is Overlap.ALLOW:
        return TickPlan(RunStatus.CREATING)
    if overlap is Overlap.SKIP:
        if live:
            return TickPlan(RunStatus.SKIPPED, skipped=f"previous run {live[0].run_id} still active")
        return TickPlan(RunStatus.BUFFERED, waits_for=running[0].run_id)
    if any(r.status is RunStatus.BUFFERED and r.trigger is not Trigger.CATCH_UP for r in active):
        return TickPlan(RunStatus.SKIPPED, skipped="a run of this schedule is already waiting")
    return TickPlan(RunStatus.BUFFERED, waits_for=running[0].run_id)


def catch_up(policy: CatchUp, missed: Sequence[float], window_start: float) -> dict[float, str | None]:
    """Each missed fire time (oldest first): None if it runs now as a catch-up run, else the
    reason its SKIPPED record gives. ``all`` runs every one at or after ``window_start``,
    ``latest`` only the latest of those, ``none`` none."""
    in_window = [t for t in missed if t >= window_start]
    caught = {CatchUp.ALL: in_window, CatchUp.LATEST: in_window[-1:], CatchUp.NONE: []}[policy]
    plan: dict[float, str | None] = {}
    for when in missed:
        if when in caught:
            plan[when] = None
        elif policy is not CatchUp.NONE and when < window_start:
            plan[when] = "missed: no tick came (outside the catch-up window)"
        elif policy is CatchUp.LATEST:
            plan[when] = "missed: no tick came (only the latest is caught up)"
        else:
            plan[when] = "missed: no tick came (catch_up is none)"
    return plan
