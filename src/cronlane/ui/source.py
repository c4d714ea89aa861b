"""What the pages of ``cronlane ui`` show, read from a stack or the twin the way the CLI reads it:
the table through the run store, the schedules from the app's catalog, the dead-letter queue and
every action through the dispatcher (its role, its audit trail). ``cronlane.ui.web`` is given one
``Source``; the tests give it one on a twin."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from cronlane.clock import iso
from cronlane.cron import parse_expression
from cronlane.graph import plan_selection
from cronlane.model import MANUAL_SCHEDULE, JobRunView, RunStatus, RunView

if TYPE_CHECKING:
    from cronlane.cli.target import Target
    from cronlane.declarations import Catalog
    from cronlane.joblogs import LogLine
    from cronlane.ports import RunStore

RUNS_SHOWN = 12  # runs per schedule on the first page
NEXT_FIRES = 3


def run_href(run_id: str, job: str | None = None) -> str:
    """``/runs/<run id>`` (the id as it is: ``@`` and ``:`` stay), ``#<job>`` for a job."""
    path = "/runs/" + quote(run_id, safe="@:+=,")
    return f"{path}#{quote(job, safe='')}" if job else path


def fire_time(at: float, zone: str | None) -> str:
    """A fire time as the schedule's zone reads it, with UTC beside it (``2026-12-04 08:00 CET
    (07:00Z)``), or in UTC for a schedule with no zone."""
    if zone is None:
        return iso(at)
    local = datetime.fromtimestamp(at, tz=ZoneInfo(zone))
    return f"{local:%Y-%m-%d %H:%M %Z} ({datetime.fromtimestamp(at, tz=UTC):%H:%MZ})"


@dataclass
class GridRun:
    run_id: str
    status: str
    scheduled_time: str
    trigger: str
    href: str
    cells: dict[str, str]  # job -> status


@dataclass
class ScheduleView:
    name: str
    expression: str
    timezone: str
    description: str
    next_fires: list[str]
    paused: str | None
    jobs: list[str]
    runs: list[GridRun] = field(default_factory=list)  # oldest first, as a grid reads

    @property
    def live(self) -> bool:
        return any(r.status == RunStatus.RUNNING.value for r in self.runs)


@dataclass
class RunPage:
    run: RunView
    jobs: list[JobRunView]
    results: dict[str, Any]
    audit: list[dict[str, Any]]


class ActionRefused(Exception):
    """The dispatcher refused or failed an action: one line."""


class Reader:
    """The runs of one table, and the catalog's schedules: what the pages and the dashboard's
    widget show (reads only, through the run store)."""

    def __init__(self, store: RunStore, catalog: Catalog) -> None:
        self.store = store
        self.catalog = catalog

    def _grid(self, runs: list[RunView], jobs: list[str]) -> list[GridRun]:
        grid = []
        for run in sorted(runs, key=lambda r: (r.scheduled_time, r.created_at or 0)):
            views = self.store.job_runs(run.run_id, roots_sent=run.status is RunStatus.RUNNING)
            grid.append(
                GridRun(
                    run.run_id,
                    run.status.value,
                    iso(run.scheduled_time),
                    str(run.trigger),
                    run_href(run.run_id),
                    {v.job: v.status.value for v in views},
                )
            )
            for v in views:  # a manual run of chosen jobs, or jobs since removed from the catalog
                if v.job not in jobs:
                    jobs.append(v.job)
        return grid

    def schedules(self, runs: int = RUNS_SHOWN) -> list[ScheduleView]:
        now = time.time()
        shown = []
        for schedule in self.catalog.schedules.values():
            order = plan_selection(self.catalog, schedule.selection, schedule.include_upstreams).order
            fires = parse_expression(schedule.expression).fire_times(now, NEXT_FIRES, schedule.timezone)
            view = ScheduleView(
                name=schedule.name,
                expression=schedule.expression,
                timezone=schedule.timezone or "UTC",
                description=schedule.description,
                next_fires=[fire_time(t, schedule.timezone) for t in fires],
                paused=self.store.paused_reason(schedule.name),
                jobs=list(order),
            )
            view.runs = self._grid(self.store.runs_of_schedule(schedule.name, limit=runs), view.jobs)
            shown.append(view)
        manual = self.store.runs_of_schedule(MANUAL_SCHEDULE, limit=runs)
        if manual:
            view = ScheduleView(MANUAL_SCHEDULE, "triggered by hand", "", "runs of chosen jobs", [], None, [])
            view.runs = self._grid(manual, view.jobs)
            shown.append(view)
        return shown

    def run(self, run_id: str) -> RunPage | None:
        run = self.store.get_run(run_id)
        if run is None:
            return None
        jobs = self.store.job_runs(run_id, roots_sent=run.status is RunStatus.RUNNING, places=True)
        audit = self.store.audit_entries((run.created_at or run.scheduled_time) - 1, run_id=run_id)
        return RunPage(run, jobs, self.store.results(run_id, jobs), [e.to_json() for e in audit])

    def latest_run(self) -> RunPage | None:
        """The newest run of any schedule (the widget draws its Gantt)."""
        names = [*self.catalog.schedules, MANUAL_SCHEDULE]
        runs = [r for name in names for r in self.store.runs_of_schedule(name, limit=1)]
        if not runs:
            return None
        newest = max(runs, key=lambda r: (r.created_at or r.scheduled_time, r.scheduled_time))
        return self.run(newest.run_id)


class Source(Reader):
    """One stack or twin (``cronlane ui``): the reads, a job's logs, the dead-letter queue and the
    actions, these two through the dispatcher."""

    def __init__(self, target: Target, catalog: Catalog) -> None:
        super().__init__(target.store(), catalog)
        self.target = target

    @property
    def description(self) -> str:
        return self.target.description

    def logs(self, run: RunView, job: str, attempt: int | None) -> list[LogLine]:
        from cronlane.cli.logs import read_job_logs

        return read_job_logs(self.target, run, job, attempt)

    def dead_letters(self) -> dict[str, Any]:
        """The letters on the dead-letter queue (the dispatcher receives them and gives them back
        at once, so a replay still sees them)."""
        return self._dispatch({"action": "dlq-list"})

    # -- actions -------------------------------------------------------------------------------

    def act(self, event: dict[str, Any], reason: str | None) -> dict[str, Any]:
        return self._dispatch(event, reason)

    def _dispatch(self, event: dict[str, Any], reason: str | None = None) -> dict[str, Any]:
        from cronlane.cli.common import DispatcherRefused, request_dispatcher

        try:
            return request_dispatcher(self.target, event, reason)
        except DispatcherRefused as exc:
            raise ActionRefused(str(exc)) from None
