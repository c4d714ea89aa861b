"""Helpers for an application's own tests (``cronlane init`` writes tests that use them):

- ``load_app``: the app's catalog, with its sources importable;
- ``job_context``: a ``JobContext`` for calling a job's function directly;
- ``validate``: what ``cronlane validate`` reports for an app folder;
- ``run_once``: one tick of a schedule on the embedded default, run to its end.

``validate`` and ``run_once`` need the ``local`` extra.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cronlane.clock import SystemClock
from cronlane.context import JobContext, make_context
from cronlane.declarations import Catalog

if TYPE_CHECKING:
    from cronlane.local.session import RunReport


def load_app(folder: Path) -> Catalog:
    """The catalog of the app in ``folder``; its source folder is put on ``sys.path`` so its
    job functions import as the executor imports them."""
    from cronlane.project import find_app

    return find_app(start=folder).load_catalog()


def job_context(
    catalog: Catalog,
    job: str,
    *,
    params: dict[str, Any] | None = None,
    run_id: str = "test@1",
    schedule: str = "test",
    scheduled_time: float | None = None,
    attempt: int = 1,
) -> JobContext:
    """The context the executor would give ``job``: its declared parameters (defaults, overlaid
    with ``params`` and checked as a trigger's are), on the real clock, with its timeout."""
    declared = catalog.job(job)
    clock = SystemClock()
    now = clock.now()
    return make_context(
        run_id=run_id,
        job=job,
        schedule=schedule,
        scheduled_time=now if scheduled_time is None else scheduled_time,
        params=declared.resolve_params(params or {}),
        attempt=attempt,
        clock=clock,
        deadline=now + declared.timeout_s,
    )


def validate(folder: Path) -> list[str]:
    """The problems ``cronlane validate`` reports for the app in ``folder`` (empty: none)."""
    from cronlane.project import find_app
    from cronlane.template.checks import check_app

    return check_app(find_app(start=folder))[0]


def run_once(folder: Path, schedule: str, scheduled_time: float | None = None) -> RunReport:
    """One tick of ``schedule`` of the app in ``folder`` (default: its latest fire time) on the
    embedded default, with the virtual clock, until its run ends."""
    from cronlane.local.session import latest_fire_time, local_runtime, run_schedule_once
    from cronlane.project import find_app

    app = find_app(start=folder)
    declared = app.load_catalog().schedule(schedule)
    tick = scheduled_time or latest_fire_time(declared.expression, time.time(), declared.timezone)
    with local_runtime(app, clock="virtual", start=tick) as runtime:
        return run_schedule_once(runtime, schedule, tick)
