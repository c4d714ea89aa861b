"""A schedule's policies as decisions, pure: what a tick does while earlier runs are active
(``Overlap``), and what becomes of fire times that passed without a run (``CatchUp``). The
dispatcher reads the runs and writes the outcome; these say what it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cronlane.model import CatchUp, Overlap, RunStatus, RunView, Trigger

ACTIVE = (RunStatus.CREATING, RunStatus.RUNNING, RunStatus.BUFFERED)


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
