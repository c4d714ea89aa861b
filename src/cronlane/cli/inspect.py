"""Commands that look and change nothing: the application itself (``validate``, ``next``,
``plan``) and the runs of a stack or the twin (``runs``, ``run``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from cronlane.cli.common import (
    DEFAULT_PORT,
    CatalogOption,
    JsonOption,
    LocalOption,
    PortOption,
    StackOption,
    TemplateOption,
    app_catalog,
    app_of,
    emit,
    fail,
    target_of,
)


def validate_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print the problems as JSON.")] = False,
    template: TemplateOption = None,
    catalog: CatalogOption = None,
) -> None:
    """Check the app's template.yaml, samconfig.toml, catalog and job functions together: what a
    deploy (or the first run) would hit, one line each with the fix."""
    from cronlane.errors import CatalogNotFound
    from cronlane.project import AppError
    from cronlane.template.checks import check_app

    app = app_of(template, catalog)
    try:
        problems, declared = check_app(app)
    except (AppError, CatalogNotFound) as exc:  # nothing to check: bad input, as for any command
        fail(str(exc))

    def human() -> None:
        for problem in problems:
            typer.echo(f"problem: {problem}")
        jobs = len(declared.jobs) if declared else 0
        schedules = len(declared.schedules) if declared else 0
        typer.echo(f"{len(problems)} problem(s); {jobs} jobs, {schedules} schedules checked")

    emit({"problems": problems, "ok": not problems}, as_json, human)
    if problems:
        raise typer.Exit(1)


def next_command(
    count: Annotated[int, typer.Option(min=1, max=1000, help="How many fire times.")] = 5,
    expression: Annotated[
        str | None, typer.Option(help='Any "cron(...)" or "rate(...)" instead of the schedules.')
    ] = None,
    after: Annotated[str | None, typer.Option(help="Fire times strictly after this ISO time.")] = None,
    timezone: Annotated[
        str | None,
        typer.Option("--timezone", help="With --expression: evaluate it in this IANA zone (default UTC)."),
    ] = None,
    as_json: JsonOption = False,
    template: TemplateOption = None,
    catalog: CatalogOption = None,
) -> None:
    """The next fire times of every schedule (in its zone and in UTC), or of one expression."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from cronlane.clock import iso, parse_iso
    from cronlane.cron import CronError, check_timezone, parse_expression

    try:
        start = parse_iso(after) if after else time.time()
    except ValueError:
        fail(f"--after {after!r} is not an ISO-8601 time")
    if timezone is not None and expression is None:
        fail("--timezone goes with --expression (a schedule declares its own zone)")

    def row(ts: float, zone: str | None) -> dict[str, str]:
        name = zone or "UTC"
        local = datetime.fromtimestamp(ts, tz=ZoneInfo(name)).isoformat()
        return {"utc": iso(ts), "local": local, "timezone": name}

    try:
        if expression is not None:
            zone = check_timezone(timezone) if timezone else None
            rows: list[dict[str, str]] = [
                row(t, zone) for t in parse_expression(expression).fire_times(start, count, zone)
            ]
        else:
            rows = [
                {"schedule": s.name, **row(t, s.timezone)}
                for s in app_catalog(template, catalog).schedules.values()
                for t in parse_expression(s.expression).fire_times(start, count, s.timezone)
            ]
    except CronError as exc:
        fail(str(exc))
    if not rows:
        fail(f"{expression or 'no schedule'} never fires after {iso(start)}", code=1)

    def human() -> None:
        width = max((len(r.get("schedule", "")) for r in rows), default=0)
        for r in rows:
            prefix = f"{r['schedule']:<{width}}  " if "schedule" in r else ""
            typer.echo(f"{prefix}{r['local']} {r['timezone']}  ({r['utc']})")

    emit(rows, as_json, human)


def plan_command(
    schedule: Annotated[str, typer.Argument(help="The schedule to plan.")],
    as_json: JsonOption = False,
    stack: Annotated[
        str | None,
        typer.Option(envvar="CRONLANE_STACK", help="Estimate from this deployed stack's history."),
    ] = None,
    local: Annotated[bool, typer.Option("--local", help="Estimate from the local twin's history.")] = False,
    port: PortOption = DEFAULT_PORT,
    template: TemplateOption = None,
    catalog: CatalogOption = None,
) -> None:
    """The resolved order of SCHEDULE as levels, its critical path, and an estimate from past runs."""
    from cronlane.errors import CronlaneError
    from cronlane.graph import plan_selection

    declared = app_catalog(template, catalog)
    try:
        schedule_of = declared.schedule(schedule)
        plan = plan_selection(declared, schedule_of.selection, schedule_of.include_upstreams)
    except CronlaneError as exc:
        fail(str(exc))
    durations: dict[str, float] = {}
    if stack or local:
        from cronlane.cli.target import past_durations

        target = target_of(stack, local, port)
        try:
            durations = past_durations(target.store(), schedule, plan.order)
        except CronlaneError as exc:
            fail(f"{target.description}: {exc}")
    path, estimate = (
        plan.critical_path(durations) if durations else plan.critical_path(dict.fromkeys(plan.order, 1.0))
    )
    data = {
        "schedule": schedule,
        "levels": plan.levels,
        "critical_path": path,
        "estimated_duration_s": round(estimate, 1) if durations else None,
        "jobs": [{"name": n, "depends_on": list(plan.upstreams[n])} for n in plan.order],
    }

    def human() -> None:
        for i, level in enumerate(plan.levels):
            typer.echo(f"level {i}: {', '.join(level)}")
        typer.echo(f"critical path: {' -> '.join(path)}")
        if durations:
            typer.echo(f"estimated duration from past runs: {estimate / 60:.1f} min")
        else:
            typer.echo("estimated duration: no past runs to estimate from (critical path counted in jobs)")

    emit(data, as_json, human)


def runs_command(
    schedule: Annotated[str | None, typer.Option(help="Only this schedule's runs.")] = None,
    status: Annotated[str | None, typer.Option(help="Only runs with this status.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="How many runs.")] = 20,
    as_json: JsonOption = False,
    stack: StackOption = None,
    local: LocalOption = False,
    port: PortOption = DEFAULT_PORT,
    template: TemplateOption = None,
    catalog: CatalogOption = None,
) -> None:
    """Recent runs, newest first."""
    from cronlane.errors import CronlaneError
    from cronlane.model import MANUAL_SCHEDULE, RunStatus

    if status is not None and status.upper() not in RunStatus.__members__:
        fail(f"--status {status!r}: one of {', '.join(RunStatus.__members__)}")
    declared = app_catalog(template, catalog)
    if schedule is not None and schedule != MANUAL_SCHEDULE and schedule not in declared.schedules:
        known = ", ".join(sorted(declared.schedules)) or "none"
        fail(f"--schedule {schedule!r}: unknown schedule (known: {known}, or {MANUAL_SCHEDULE})")
    target = target_of(stack, local, port)
    store = target.store()
    schedules = [schedule] if schedule else [*declared.schedules, MANUAL_SCHEDULE]
    try:
        runs = [r for s in schedules for r in store.runs_of_schedule(s, limit=max(limit, 100))]
    except CronlaneError as exc:
        fail(f"{target.description}: {exc}")
    if status is not None:
        runs = [r for r in runs if r.status.value == status.upper()]
    runs = sorted(runs, key=lambda r: (r.scheduled_time, r.created_at or 0), reverse=True)[:limit]
    from cronlane.model import run_summary

    rows = [run_summary(r) for r in runs]

    def human() -> None:
        from cronlane.cli.render import print_runs

        print_runs(rows, target.description)

    emit(rows, as_json, human)


def run_command(
    run_id: Annotated[str, typer.Argument(help="The run, e.g. nightly@2026-11-28T02:00:00Z.")],
    gantt: Annotated[
        Path | None,
        typer.Option(help="Write the run's Gantt to this file: .html, .svg or .png by its extension."),
    ] = None,
    as_json: JsonOption = False,
    stack: StackOption = None,
    local: LocalOption = False,
    port: PortOption = DEFAULT_PORT,
) -> None:
    """One run: its jobs as a tree by dependency level, with status, attempts, durations, errors."""
    from cronlane.errors import CronlaneError
    from cronlane.local.session import RunReport
    from cronlane.model import RunStatus

    if gantt is not None:
        from cronlane.cli.gantt import format_problem

        problem = format_problem(gantt)
        if problem is not None:
            fail(problem)
    target = target_of(stack, local, port)
    store = target.store()
    try:
        run = store.get_run(run_id)
        if run is None:
            fail(f"no run {run_id} in {target.description} (see `cronlane runs`)")
        report = RunReport.read(store, run, roots_sent=run.status is RunStatus.RUNNING)
    except CronlaneError as exc:
        fail(f"{target.description}: {exc}")
    if gantt is not None:
        from cronlane.cli import gantt as pictures

        try:
            pictures.write(gantt, report.run, report.jobs, time.time())
        except OSError as exc:
            fail(f"cannot write the timeline to {gantt}: {exc.strerror or exc}")
    data = report.to_json()
    from cronlane.model import run_summary

    data.update(run_summary(run) | {"jobs": data["jobs"]})
    try:
        actions = store.audit_entries((run.created_at or run.scheduled_time) - 1, run_id=run_id)
    except CronlaneError as exc:
        fail(f"{target.description}: {exc}")
    data["audit"] = [entry.to_json() for entry in actions]

    def human() -> None:
        from cronlane.cli.render import print_run_tree

        print_run_tree(report)
        for entry in data["audit"]:
            typer.echo(audit_line(entry))
        if gantt is not None:
            typer.echo(f"timeline written to {gantt}")

    emit(data, as_json, human)


def audit_line(entry: dict[str, Any]) -> str:
    """One operator's action, as ``cronlane run`` and ``cronlane audit`` show it."""
    on = entry["run_id"] or entry["schedule"] or "-"
    why = f" - {entry['reason']}" if entry["reason"] else ""
    done = ", ".join(f"{k}={v}" for k, v in entry["detail"].items() if v not in (None, [], ""))
    return f"{entry['at']}  {entry['action']:<10} {on}  by {entry['actor']}{why}" + (
        f"  ({done})" if done else ""
    )


def audit_command(
    schedule: Annotated[
        str | None, typer.Option(help="Only the actions on this schedule or its runs.")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(help="From this time on (ISO; UTC unless it names a zone); default: the last 7 days."),
    ] = None,
    limit: Annotated[
        int, typer.Option(min=1, max=10_000, help="At most this many actions: the latest ones.")
    ] = 200,
    as_json: JsonOption = False,
    stack: StackOption = None,
    local: LocalOption = False,
    port: PortOption = DEFAULT_PORT,
) -> None:
    """The audit trail: who triggered, cancelled, reran, marked, paused, resumed, backfilled or
    replayed what, when and why, oldest first. With more than --limit, the latest are shown and
    a note on stderr says so (``truncated`` in --json)."""
    import time as _time

    from cronlane.clock import parse_iso
    from cronlane.errors import CronlaneError

    try:
        start = parse_iso(since) if since else _time.time() - 7 * 86_400
    except ValueError as exc:
        fail(f"--since {since!r} is not an ISO-8601 time with a zone ({exc})")
    target = target_of(stack, local, port)
    store = target.store()
    try:
        entries = store.audit_entries(start, schedule=schedule, limit=limit + 1)
    except CronlaneError as exc:
        fail(f"{target.description}: {exc}")
    truncated = len(entries) > limit
    shown = [e.to_json() for e in entries[-limit:]]

    def human() -> None:
        if not shown:
            typer.echo("no operator actions in that time")
        for entry in shown:
            typer.echo(audit_line(entry))
        if truncated:
            typer.echo(
                f"cronlane: the latest {limit} actions are shown; older ones in that time are not"
                " (--since later, or a larger --limit)",
                err=True,
            )

    emit({"actions": shown, "truncated": truncated}, as_json, human)
