"""One-time EventBridge Scheduler schedules (``at(...)``) as the local runtime fires them.

moto stores the schedules a function creates (the runs' watchdog checks, ``cronlane.watchdog``)
but never fires them. The runtime asks here when the next one falls due (so a virtual clock can
jump to it) and takes the ones that are due: each is an asynchronous invocation of its target
with its ``Input``, and a schedule with ``ActionAfterCompletion: DELETE`` is deleted once it fired,
as EventBridge Scheduler does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from cronlane.local.moto_patches import ACCOUNT, REGION, Hooks

_AT = re.compile(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")


@dataclass(frozen=True)
class Due:
    at: float
    group: str
    name: str
    target_arn: str
    input: str


def at_time(expression: str, timezone: str | None) -> float | None:
    """The time of a one-time schedule's ``at(yyyy-mm-ddThh:mm:ss)`` in its zone (None: not one)."""
    match = _AT.match(expression.strip())
    if match is None:
        return None
    local = datetime.fromisoformat(match.group(1)).replace(tzinfo=ZoneInfo(timezone or "UTC"))
    return local.timestamp()


def one_time_schedules(groups: tuple[str, ...]) -> list[Due]:
    """Every enabled one-time schedule in ``groups``, soonest first."""
    from moto.scheduler.models import scheduler_backends

    backend = scheduler_backends[ACCOUNT][REGION]
    found = []
    with Hooks.lock:  # the moto server's thread may be changing them
        for group_name in groups:
            group = backend.schedule_groups.get(group_name)
            for schedule in list(group.schedules.values()) if group is not None else []:
                at = at_time(schedule.schedule_expression, schedule.schedule_expression_timezone)
                if at is None or schedule.state != "ENABLED":
                    continue
                target = schedule.target
                found.append(Due(at, group_name, schedule.name, target["Arn"], target.get("Input") or "{}"))
    return sorted(found, key=lambda d: (d.at, d.name))


def next_due(groups: tuple[str, ...]) -> float | None:
    schedules = one_time_schedules(groups)
    return schedules[0].at if schedules else None


def take_due(groups: tuple[str, ...], now: float) -> list[Due]:
    """The one-time schedules due by ``now``; each that deletes itself after completion is gone."""
    from moto.scheduler.models import scheduler_backends

    due = [d for d in one_time_schedules(groups) if d.at <= now]
    backend = scheduler_backends[ACCOUNT][REGION]
    with Hooks.lock:
        for fired in due:
            group = backend.schedule_groups.get(fired.group)
            schedule = group.schedules.get(fired.name) if group is not None else None
            if schedule is not None and schedule.action_after_completion == "DELETE":
                del group.schedules[fired.name]  # type: ignore[union-attr]
    return due
