"""The ``cronlane`` command."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(help="cronlane: scheduled job graphs on AWS, or on this machine.", no_args_is_help=True)
local_app = typer.Typer(
    help="Run cronlane on the embedded default (moto, on this machine).", no_args_is_help=True
)
app.add_typer(local_app, name="local")


def fail(message: str, code: int = 2) -> None:
    typer.echo(f"cronlane: {message}", err=True)
    raise typer.Exit(code)


def parse_params(values: list[str], run_jobs: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """``JOB.KEY=VALUE`` (one job) or ``KEY=VALUE`` (every job of the run that declares KEY)
    options into ``{job: {key: value}}``. Values stay strings: each job's declared parameter
    types decide, in the dispatcher."""
    out: dict[str, dict[str, Any]] = {}
    for value in values:
        target, eq, raw = value.partition("=")
        job, dot, key = target.rpartition(".")
        if not eq or not key or (dot and not job):
            fail(f"--param {value!r}: expected KEY=VALUE or JOB.KEY=VALUE")
        if dot:
            out.setdefault(job, {})[key] = raw
            continue
        declaring = [name for name, declared in (run_jobs or {}).items() if key in declared.params]
        if not declaring:
            fail(f"--param {value!r}: no job of this run declares a parameter '{key}'")
        for name in declaring:
            out.setdefault(name, {})[key] = raw
    return out


def run_jobs_of(schedule: str, jobs: list[str] | None) -> dict[str, Any]:
    """The declared jobs a trigger of SCHEDULE (or of JOBS) would run."""
    from cronlane.declarations import Selection
    from cronlane.errors import CronlaneError
    from cronlane.graph import plan_selection
    from cronlane.settings import load_catalog

    try:
        catalog = load_catalog()
        declared = catalog.schedule(schedule)
        selection = Selection.of_jobs(*jobs) if jobs else declared.selection
        names = plan_selection(catalog, selection, declared.include_upstreams).order
    except CronlaneError as exc:
        fail(str(exc))
    return {name: catalog.jobs[name] for name in names}


@local_app.command("run")
def local_run(
    schedule: Annotated[str, typer.Argument(help="The schedule to run once, e.g. daily-full-sync.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the run as JSON.")] = False,
    clock: Annotated[str, typer.Option(help="'real' (scaled wall time) or 'virtual' (no waiting).")] = "real",
    time_scale: Annotated[
        float, typer.Option(help="Clock seconds per real second, inverted: 0.01 runs 100x faster.")
    ] = 0.01,
    environments: Annotated[int, typer.Option(help="Most executor environments at once.")] = 8,
    at: Annotated[
        str | None, typer.Option(help="Scheduled time of the tick (ISO); default: its latest fire time.")
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(help="JOB.KEY=VALUE; makes the tick a manual trigger of the schedule with these."),
    ] = None,
    template: Annotated[Path | None, typer.Option(help="Path of template.yaml.")] = None,
    logs: Annotated[Path | None, typer.Option(help="Folder for the environments' log files.")] = None,
) -> None:
    """Run one tick of SCHEDULE on the embedded default until its run is terminal."""
    from cronlane.clock import iso, parse_iso
    from cronlane.errors import CronlaneError
    from cronlane.model import manual_run_id, scheduled_run_id
    from cronlane.settings import load_catalog
    from cronlane_cli.local.runtime import RuntimeStalled
    from cronlane_cli.local.session import (
        RunReport,
        find_template,
        latest_fire_time,
        local_runtime,
        wait_for_run,
    )
    from cronlane_cli.render import print_run

    parameters = parse_params(param or [], run_jobs_of(schedule, None))
    try:
        template_path = template or find_template()
        declared = load_catalog().schedule(schedule)
        zone = declared.timezone
        scheduled = parse_iso(at) if at else latest_fire_time(declared.expression, time.time(), zone)
        if at and latest_fire_time(declared.expression, scheduled, zone) != scheduled:
            fail(f"--at {at} is not a fire time of {schedule} ({declared.expression})")
    except (CronlaneError, FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    log_dir = logs or Path(".cronlane") / "logs" / time.strftime("%Y%m%dT%H%M%S")
    wall = time.perf_counter()
    with local_runtime(
        template_path,
        clock=clock,
        time_scale=time_scale,
        start=scheduled,
        executor_environments=environments,
        log_dir=log_dir,
    ) as runtime:
        target = runtime.rule_for(schedule).target_function
        for function in runtime.stack.functions:
            runtime.warm(function)
        runtime.clock.restart(scheduled)
        if parameters:
            key = f"local-{schedule}-{int(scheduled)}"
            event: dict[str, Any] = {
                "action": "trigger",
                "schedule": schedule,
                "parameters": parameters,
                "idempotency_key": key,
                "scheduled_time": iso(scheduled),
            }
            run_id = manual_run_id(key)
        else:
            event = runtime.scheduled_event(schedule, scheduled)
            run_id = scheduled_run_id(schedule, scheduled)
        invocation = runtime.invoke(target, event)
        if invocation.error:
            fail(f"the dispatcher failed: {invocation.error.get('errorMessage')}")
        if isinstance(invocation.response, dict) and "error" in invocation.response:
            fail(f"the dispatcher refused it: {invocation.response['error']}")
        try:
            report: RunReport = wait_for_run(runtime, run_id)
        except (RuntimeStalled, TimeoutError) as exc:
            fail(f"run {run_id} did not finish: {exc} (logs: {log_dir})", code=3)
        report.wall_seconds = time.perf_counter() - wall
        if as_json:
            typer.echo(json.dumps(report.to_json(), indent=2))
        else:
            print_run(report, log_dir=log_dir, clock=clock, time_scale=time_scale)
    if report.run.status.value != "SUCCEEDED":
        raise typer.Exit(1)


@local_app.command("simulate")
def local_simulate(
    days: Annotated[float, typer.Option(min=0.01, max=366, help="How many days of schedules.")] = 7,
    as_json: Annotated[bool, typer.Option("--json", help="Print the counts as JSON.")] = False,
    start: Annotated[
        str | None, typer.Option(help="Start of the simulated time (ISO); default: today 00:00 UTC.")
    ] = None,
    environments: Annotated[int, typer.Option(help="Most executor environments at once.")] = 8,
    template: Annotated[Path | None, typer.Option(help="Path of template.yaml.")] = None,
    logs: Annotated[Path | None, typer.Option(help="Folder for the environments' log files.")] = None,
) -> None:
    """Days of every schedule on the virtual clock (no real waiting): fires, runs, executions."""
    from cronlane.clock import parse_iso
    from cronlane.settings import load_catalog
    from cronlane_cli.local.runtime import RuntimeStalled
    from cronlane_cli.local.session import find_template, local_runtime, simulate

    try:
        template_path = template or find_template()
        begin = parse_iso(start) if start else (time.time() // 86_400) * 86_400
        schedules = sorted(load_catalog().schedules)
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    log_dir = logs or Path(".cronlane") / "simulate" / time.strftime("%Y%m%dT%H%M%S")
    with local_runtime(
        template_path, clock="virtual", start=begin, executor_environments=environments, log_dir=log_dir
    ) as runtime:
        try:
            report = simulate(runtime, days, begin, schedules)
        except (RuntimeStalled, TimeoutError) as exc:
            fail(f"the simulation stalled: {exc} (logs: {log_dir})", code=3)

    def human() -> None:
        data = report.to_json()
        typer.echo(f"{days:g} day(s) from {data['start']} on the virtual clock, in {data['wall_seconds']} s")
        typer.echo("fires:              " + ", ".join(f"{k} {v}" for k, v in data["fires"].items()))
        typer.echo("runs:               " + ", ".join(f"{k} {v}" for k, v in data["runs"].items()))
        typer.echo(f"job executions:     {data['job_executions']}")
        typer.echo(f"retries:            {data['retries']}")
        typer.echo(f"continuations:      {data['continuations']}")
        invocations = data["lambda_invocations"]
        detail = ", ".join(f"{k} {v}" for k, v in invocations.items())
        typer.echo(f"lambda invocations: {sum(invocations.values())} ({detail})")
        typer.echo(f"idle wake-ups:      {data['idle_wakeups']}")

    _emit(report.to_json(), as_json, human)


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())


# ---------------------------------------------------------------------------------------------
# Checking and planning (no AWS needed)
# ---------------------------------------------------------------------------------------------


def _emit(data: Any, as_json: bool, human: Any) -> None:
    if as_json:
        typer.echo(json.dumps(data, indent=2))
    else:
        human()


@app.command("validate")
def validate_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print the problems as JSON.")] = False,
    template: Annotated[Path | None, typer.Option(help="Path of template.yaml.")] = None,
) -> None:
    """Check template.yaml and the job and schedule declarations together."""
    from cronlane.settings import DEFAULT_CATALOG
    from cronlane_cli.checks import load_catalog_fresh, validate
    from cronlane_cli.local.session import find_template
    from cronlane_cli.local.stack import load_template

    try:
        path = template or find_template()
        document = load_template(path)
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    layer = path.parent / "layers" / "cronlane"
    catalog, problems = load_catalog_fresh(DEFAULT_CATALOG, layer)
    problems += validate(document, catalog)

    def human() -> None:
        for problem in problems:
            typer.echo(f"problem: {problem}")
        jobs = len(catalog.jobs) if catalog else 0
        schedules = len(catalog.schedules) if catalog else 0
        typer.echo(f"{len(problems)} problem(s); {jobs} jobs, {schedules} schedules checked")

    _emit({"problems": problems, "ok": not problems}, as_json, human)
    if problems:
        raise typer.Exit(1)


@app.command("next")
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
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The next fire times of every schedule (in its zone and in UTC), or of one expression."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from cronlane.clock import iso, parse_iso
    from cronlane.cron import CronError, check_timezone, parse_expression
    from cronlane.settings import load_catalog

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
                for s in load_catalog().schedules.values()
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

    _emit(rows, as_json, human)


@app.command("plan")
def plan_command(
    schedule: Annotated[str, typer.Argument(help="The schedule to plan.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    stack: Annotated[str | None, typer.Option(help="Estimate from this deployed stack's history.")] = None,
    local: Annotated[bool, typer.Option("--local", help="Estimate from the local twin's history.")] = False,
    port: Annotated[int, typer.Option(help="Port of the local twin.")] = 4599,
) -> None:
    """The resolved order of SCHEDULE as levels, its critical path, and an estimate from past runs."""
    from cronlane.errors import CronlaneError
    from cronlane.graph import plan_selection
    from cronlane.settings import load_catalog

    try:
        catalog = load_catalog()
        declared = catalog.schedule(schedule)
        plan = plan_selection(catalog, declared.selection, declared.include_upstreams)
    except CronlaneError as exc:
        fail(str(exc))
    durations: dict[str, float] = {}
    if stack or local:
        from cronlane_cli.ops import past_durations

        target = _target(stack, local, port)
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

    _emit(data, as_json, human)


# ---------------------------------------------------------------------------------------------
# Runs on a deployed stack or the local twin
# ---------------------------------------------------------------------------------------------

StackOption = Annotated[str | None, typer.Option(help="Deployed stack (default: samconfig.toml's).")]
LocalOption = Annotated[bool, typer.Option("--local", help="Act on the local twin (cronlane local up).")]
PortOption = Annotated[int, typer.Option(help="Port of the local twin.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _target(stack: str | None, local: bool, port: int) -> Any:
    from cronlane_cli.ops import TargetError, connect

    try:
        return connect(stack, local, port)
    except TargetError as exc:
        fail(str(exc))


def _run_summary(run: Any) -> dict[str, Any]:
    from cronlane.clock import iso

    return {
        "run_id": run.run_id,
        "schedule": run.schedule,
        "status": run.status.value,
        "trigger": run.trigger,
        "scheduled_time": iso(run.scheduled_time),
        "started_at": iso(run.started_at) if run.started_at else None,
        "finished_at": iso(run.finished_at) if run.finished_at else None,
        "job_count": run.job_count,
        # while a run goes on, its record counts only the successes of its sinks
        "succeeded": run.succeeded if run.status.terminal else None,
        "failed": run.failed,
        "skipped": run.skipped,
        "cancelled": run.cancelled,
        "reason": run.reason,
    }


@app.command("runs")
def runs_command(
    schedule: Annotated[str | None, typer.Option(help="Only this schedule's runs.")] = None,
    status: Annotated[str | None, typer.Option(help="Only runs with this status.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="How many runs.")] = 20,
    as_json: JsonOption = False,
    stack: StackOption = None,
    local: LocalOption = False,
    port: PortOption = 4599,
) -> None:
    """Recent runs, newest first."""
    from cronlane.model import RunStatus
    from cronlane.settings import load_catalog

    if status is not None and status.upper() not in RunStatus.__members__:
        fail(f"--status {status!r}: one of {', '.join(RunStatus.__members__)}")
    from cronlane.errors import CronlaneError

    target = _target(stack, local, port)
    store = target.store()
    schedules = [schedule] if schedule else [*load_catalog().schedules, "manual"]
    try:
        runs = [r for s in schedules for r in store.runs_of_schedule(s, limit=max(limit, 100))]
    except CronlaneError as exc:
        fail(f"{target.description}: {exc}")
    if status is not None:
        runs = [r for r in runs if r.status.value == status.upper()]
    runs = sorted(runs, key=lambda r: (r.scheduled_time, r.created_at or 0), reverse=True)[:limit]
    rows = [_run_summary(r) for r in runs]

    def human() -> None:
        from cronlane_cli.render import print_runs

        print_runs(rows, target.description)

    _emit(rows, as_json, human)


@app.command("run")
def run_command(
    run_id: Annotated[str, typer.Argument(help="The run, e.g. daily-full-sync@2026-11-28T02:00:00Z.")],
    gantt: Annotated[Path | None, typer.Option(help="Write a timeline of the run to this HTML file.")] = None,
    as_json: JsonOption = False,
    stack: StackOption = None,
    local: LocalOption = False,
    port: PortOption = 4599,
) -> None:
    """One run: its jobs as a tree by dependency level, with status, attempts, durations, errors."""
    from cronlane.errors import CronlaneError
    from cronlane.model import RunStatus
    from cronlane_cli.local.session import RunReport

    target = _target(stack, local, port)
    store = target.store()
    try:
        run = store.get_run(run_id)
        if run is None:
            fail(f"no run {run_id} in {target.description} (see `cronlane runs`)")
        report = RunReport(run, store.job_runs(run_id, roots_sent=run.status is RunStatus.RUNNING))
    except CronlaneError as exc:
        fail(f"{target.description}: {exc}")
    if gantt is not None:
        from cronlane_cli.gantt import render

        try:
            gantt.write_text(render(report.run, report.jobs))
        except OSError as exc:
            fail(f"cannot write the timeline to {gantt}: {exc.strerror or exc}")
    data = report.to_json()
    by_name = {j.job: j for j in report.jobs}
    for job in data["jobs"]:
        view = by_name[job["name"]]
        job.update({"duration_s": view.duration_s, "error": view.error, "reason": view.reason})
    data.update(_run_summary(run) | {"jobs": data["jobs"]})

    def human() -> None:
        from cronlane_cli.render import print_run_tree

        print_run_tree(report)
        if gantt is not None:
            typer.echo(f"timeline written to {gantt}")

    _emit(data, as_json, human)


@local_app.command("up")
def local_up(
    port: PortOption = 4599,
    time_scale: Annotated[float, typer.Option(help="Clock seconds per real second, inverted.")] = 1.0,
    environments: Annotated[int, typer.Option(help="Most executor environments at once.")] = 4,
    template: Annotated[Path | None, typer.Option(help="Path of template.yaml.")] = None,
    logs: Annotated[Path | None, typer.Option(help="Folder for the environments' log files.")] = None,
) -> None:
    """Run the local twin in the foreground: the rules fire at their times, the executor is fed
    continuously, and every command works against it with --local. Ctrl-C stops it."""
    from cronlane_cli.local.session import find_template, local_runtime

    try:
        template_path = template or find_template()
    except FileNotFoundError as exc:
        fail(str(exc))
    log_dir = logs or Path(".cronlane") / "twin-logs" / time.strftime("%Y%m%dT%H%M%S")
    try:
        with local_runtime(
            template_path,
            clock="real",
            time_scale=time_scale,
            executor_environments=environments,
            log_dir=log_dir,
            port=port,
        ) as runtime:
            try:
                runtime.start_ticking()
                runtime.serve_invokes()
                endpoint = runtime.stack.endpoint
                typer.echo(
                    "try: cronlane trigger hourly-feed --local ; cronlane runs --local ; Ctrl-C to stop"
                )
                typer.echo(f"cronlane twin up at {endpoint} (stack {runtime.stack.name}); logs in {log_dir}")
                runtime.run_until(lambda: False, limit_s=10 * 365 * 86_400)
            except KeyboardInterrupt:
                typer.echo("stopping the twin")
    except OSError as exc:
        fail(f"cannot start the twin on port {port}: {exc}")


@app.command("trigger")
def trigger_command(
    schedule: Annotated[str, typer.Argument(help="The schedule to run now.")],
    jobs: Annotated[str | None, typer.Option(help="Only these jobs, comma-separated.")] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(
            help="KEY=VALUE (every job that declares KEY) or JOB.KEY=VALUE; checked by the dispatcher."
        ),
    ] = None,
    key: Annotated[
        str | None, typer.Option(help="Idempotency key: the same key returns the same run.")
    ] = None,
    as_json: JsonOption = False,
    stack: StackOption = None,
    local: LocalOption = False,
    port: PortOption = 4599,
) -> None:
    """Start a run of SCHEDULE now, through the dispatcher function."""
    chosen = [j.strip() for j in jobs.split(",") if j.strip()] if jobs else None
    needs_catalog = any("." not in p.partition("=")[0] for p in param or [])
    event: dict[str, Any] = {
        "action": "trigger",
        "schedule": schedule,
        "parameters": parse_params(param or [], run_jobs_of(schedule, chosen) if needs_catalog else None),
    }
    if chosen:
        event["jobs"] = chosen
    if key:
        event["idempotency_key"] = key
    target = _target(stack, local, port)
    result = _invoke_dispatcher(target, event)

    def human() -> None:
        verb = "started" if result.get("created") else "already exists:"
        typer.echo(f"run {verb} {result['run_id']} ({result['status']}, {result['job_count']} jobs)")

    _emit(result, as_json, human)


def _invoke_dispatcher(target: Any, event: dict[str, Any]) -> dict[str, Any]:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        response = target.client("lambda").invoke(
            FunctionName=target.outputs["DispatcherFunctionName"], Payload=json.dumps(event).encode()
        )
    except (BotoCoreError, ClientError) as exc:
        fail(f"{target.description}: invoking the dispatcher failed: {exc}")
    payload = json.loads(response["Payload"].read() or b"null")
    if response.get("FunctionError"):
        message = payload.get("errorMessage") if isinstance(payload, dict) else payload
        fail(f"the dispatcher failed: {message}")
    if isinstance(payload, dict) and "error" in payload:
        fail(f"the dispatcher refused it: {payload['error']}")
    return dict(payload)


YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


def _confirm(question: str, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        fail(f"{question} Refusing without a terminal to ask on; pass --yes to go ahead.")
    if not typer.confirm(question):
        fail("nothing done", code=1)


@app.command("cancel")
def cancel_command(
    run_id: Annotated[str, typer.Argument(help="The run to cancel.")],
    yes: YesOption = False,
    as_json: JsonOption = False,
    stack: StackOption = None,
    local: LocalOption = False,
    port: PortOption = 4599,
) -> None:
    """Cancel a run: queued jobs do not start, running ones finish, the run ends CANCELLED."""
    target = _target(stack, local, port)
    _confirm(f"Cancel run {run_id} on {target.description}?", yes)
    result = _invoke_dispatcher(target, {"action": "cancel", "run_id": run_id})
    _emit(
        result,
        as_json,
        lambda: typer.echo(
            f"run {result['run_id']}: {result['status']} ({result['cancelled']} job(s) will not start)"
        ),
    )


@app.command("rerun")
def rerun_command(
    run_id: Annotated[str, typer.Argument(help="The finished run to run again.")],
    failed_only: Annotated[
        bool,
        typer.Option("--failed-only", help="Only the failed jobs and those skipped because of them."),
    ] = False,
    yes: YesOption = False,
    as_json: JsonOption = False,
    stack: StackOption = None,
    local: LocalOption = False,
    port: PortOption = 4599,
) -> None:
    """A new attempt of a finished run's jobs, in the same run."""
    target = _target(stack, local, port)
    which = (
        "its failed jobs (and those they skipped)"
        if failed_only
        else "its failed, skipped and cancelled jobs"
    )
    _confirm(f"Rerun {which} of {run_id} on {target.description}?", yes)
    result = _invoke_dispatcher(target, {"action": "rerun", "run_id": run_id, "failed_only": failed_only})
    _emit(
        result,
        as_json,
        lambda: typer.echo(
            f"run {result['run_id']}: {result['status']}; rerunning {', '.join(result['rerun']) or 'nothing'}"
            + _not_rerun(result)
        ),
    )


def _not_rerun(result: dict[str, Any]) -> str:
    """The jobs an operator action left as they were, each with its reason ('' if none)."""
    left = result.get("not_rerun") or {}
    return "".join(f"\n  left as it is: {job} ({why})" for job, why in left.items())


@app.command("mark")
def mark_command(
    run_id: Annotated[str, typer.Argument(help="The run.")],
    job: Annotated[str, typer.Argument(help="The job an operator vouches for.")],
    succeeded: Annotated[bool, typer.Option("--succeeded", help="Mark the job SUCCEEDED.")] = False,
    as_json: JsonOption = False,
    stack: StackOption = None,
    local: LocalOption = False,
    port: PortOption = 4599,
) -> None:
    """Mark a job SUCCEEDED (you vouch for it); its dependents proceed."""
    if not succeeded:
        fail("say what the job is: --succeeded (the only mark there is)")
    target = _target(stack, local, port)
    result = _invoke_dispatcher(target, {"action": "mark", "run_id": run_id, "job": job})
    _emit(
        result,
        as_json,
        lambda: typer.echo(
            f"{job} marked SUCCEEDED in {result['run_id']} ({result['status']}); "
            f"released again: {', '.join(result['rerun']) or 'none'}" + _not_rerun(result)
        ),
    )


@app.command("pause")
def pause_command(
    schedule: Annotated[str, typer.Argument(help="The schedule to pause.")],
    reason: Annotated[str | None, typer.Option(help="Why; recorded on each skipped tick.")] = None,
    as_json: JsonOption = False,
    stack: StackOption = None,
    local: LocalOption = False,
    port: PortOption = 4599,
) -> None:
    """Pause a schedule: its ticks are recorded as SKIPPED runs and never caught up."""
    target = _target(stack, local, port)
    event: dict[str, Any] = {"action": "pause", "schedule": schedule}
    if reason:
        event["reason"] = reason
    result = _invoke_dispatcher(target, event)
    _emit(result, as_json, lambda: typer.echo(f"{schedule} paused ({result['reason']})"))


@app.command("resume")
def resume_command(
    schedule: Annotated[str, typer.Argument(help="The schedule to resume.")],
    as_json: JsonOption = False,
    stack: StackOption = None,
    local: LocalOption = False,
    port: PortOption = 4599,
) -> None:
    """Resume a paused schedule from its next tick."""
    target = _target(stack, local, port)
    result = _invoke_dispatcher(target, {"action": "resume", "schedule": schedule})
    _emit(result, as_json, lambda: typer.echo(f"{schedule} resumed"))


@app.command("backfill")
def backfill_command(
    schedule: Annotated[str, typer.Argument(help="The schedule whose past fire times to run.")],
    from_time: Annotated[str, typer.Option("--from", help="First fire time to consider (ISO, with a zone).")],
    to_time: Annotated[str, typer.Option("--to", help="Last fire time to consider (ISO, with a zone).")],
    max_active: Annotated[int, typer.Option(min=1, max=50, help="At most this many runs at once.")] = 1,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List the fire times; create nothing.")] = False,
    yes: YesOption = False,
    as_json: JsonOption = False,
    stack: StackOption = None,
    local: LocalOption = False,
    port: PortOption = 4599,
) -> None:
    """Runs for SCHEDULE's past fire times in [--from, --to], each keyed by its fire time (a
    second backfill creates nothing new), at most --max-active at once; jobs get that fire time."""
    target = _target(stack, local, port)
    if not dry_run:
        _confirm(f"Backfill {schedule} from {from_time} to {to_time} on {target.description}?", yes)
    event = {
        "action": "backfill",
        "schedule": schedule,
        "from": from_time,
        "to": to_time,
        "max_active": max_active,
        "dry_run": dry_run,
    }
    result = _invoke_dispatcher(target, event)

    def human() -> None:
        verb = "would create" if dry_run else "created"
        typer.echo(
            f"{schedule}: {len(result['fire_times'])} fire time(s); {verb} {len(result['created'])} run(s), "
            f"{len(result['existing'])} existed already"
            + ("" if dry_run else f"; started {len(result['started'])} (at most {max_active} at once)")
        )
        for run_id in result["created"]:
            typer.echo(f"  {run_id}")

    _emit(result, as_json, human)


# ---------------------------------------------------------------------------------------------
# The dead-letter queue
# ---------------------------------------------------------------------------------------------

dlq_app = typer.Typer(help="The dead-letter queue: list what is on it, replay it.", no_args_is_help=True)
app.add_typer(dlq_app, name="dlq")


def _letter_line(m: dict[str, Any]) -> str:
    if m["run_id"] is None:
        return f"{m['message_id'][:8]}  (not a job message)  {m.get('problem', '')}"
    attempts = f"{m['attempts']}/{m['max_attempts']}" if m["attempts"] is not None else "-"
    head = f"{m['run_id']}  {m['job']}  {m['status'] or '-'}  attempts {attempts}"
    return f"{head}\n    {m.get('outcome') or m.get('problem') or m['error']}"


@dlq_app.command("list")
def dlq_list_command(
    as_json: JsonOption = False,
    stack: StackOption = None,
    local: LocalOption = False,
    port: PortOption = 4599,
) -> None:
    """Each dead-lettered message: its run, job, attempts and last error."""
    target = _target(stack, local, port)
    result = _invoke_dispatcher(target, {"action": "dlq-list"})

    def human() -> None:
        messages = result["messages"]
        more = " (more not shown)" if result["more"] else ""
        typer.echo(f"{len(messages)} message(s) on the dead-letter queue{more}")
        for m in messages:
            typer.echo(_letter_line(m))

    _emit(result, as_json, human)


@dlq_app.command("replay")
def dlq_replay_command(
    run_id: Annotated[str | None, typer.Option("--run", help="Replay this run's dead letters.")] = None,
    job: Annotated[str | None, typer.Option("--job", help="Replay this job's dead letters.")] = None,
    every: Annotated[bool, typer.Option("--all", help="Replay every dead letter.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be replayed; change nothing.")
    ] = False,
    yes: YesOption = False,
    as_json: JsonOption = False,
    stack: StackOption = None,
    local: LocalOption = False,
    port: PortOption = 4599,
) -> None:
    """Put dead-lettered jobs back: the run reopens, the job-run is reset and queued again, and
    the jobs it skipped run after it succeeds. A message is deleted only once it was re-sent."""
    if not (run_id or job or every):
        fail("say what to replay: --run ID, --job NAME, or --all")
    if every and (run_id or job):
        fail("--all replays every dead letter: give it alone, or choose with --run/--job")
    target = _target(stack, local, port)
    which = (
        " and ".join(
            part for part in (f"run {run_id}" if run_id else "", f"job {job}" if job else "") if part
        )
        or "every message"
    )
    if not dry_run:
        _confirm(f"Replay the dead letters of {which} on {target.description}?", yes)
    event = {"action": "dlq-replay", "run_id": run_id, "job": job, "all": every, "dry_run": dry_run}
    event = {k: v for k, v in event.items() if v not in (None, False)}
    result = _invoke_dispatcher(target, event)
    # One call looks at up to 500 letters; more are replayed by calling again (a dry run cannot
    # page: it changes nothing, so it would see the same letters again).
    messages, replayed = list(result["messages"]), int(result["replayed"])
    while not dry_run and result["more"] and result["replayed"]:
        result = _invoke_dispatcher(target, event)
        messages += result["messages"]
        replayed += int(result["replayed"])
    result = {**result, "replayed": replayed, "messages": messages}

    def human() -> None:
        verb = "would replay" if dry_run else "replayed"
        typer.echo(f"{verb} {result['replayed']} of {len(result['messages'])} matching message(s)")
        for m in result["messages"]:
            typer.echo(_letter_line(m))

    _emit(result, as_json, human)
