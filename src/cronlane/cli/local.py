"""``cronlane local ...``: the application on the embedded default (moto on this machine)."""

from __future__ import annotations

import json
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from cronlane.cli.common import (
    DEFAULT_PORT,
    CatalogOption,
    PortOption,
    TemplateOption,
    app_of,
    catalog_of,
    check_params,
    emit,
    fail,
    parse_params,
    run_jobs_of,
)

local_app = typer.Typer(
    help="Run the application on the embedded default (moto, on this machine).", no_args_is_help=True
)


class ClockMode(StrEnum):
    REAL = "real"  # scaled wall time
    VIRTUAL = "virtual"  # no waiting: time jumps to the next thing that happens


def startup_errors() -> tuple[type[Exception], ...]:
    """What keeps the local runtime from starting: a moto its patches no longer fit, a template
    moto's CloudFormation refuses. One line and exit 2, like any other bad input. (Imported when
    an ``except`` asks: ``cronlane --version`` loads no boto3.)"""
    from cronlane.local.moto_patches import UnsupportedMoto
    from cronlane.local.runtime import EnvironmentFailed
    from cronlane.local.stack import StackError

    # a function whose environment cannot start (an unsupported runtime, no node): its log says why
    return (UnsupportedMoto, StackError, EnvironmentFailed)


LogsOption = Annotated[Path | None, typer.Option(help="Folder for the environments' log files.")]


def _has_a_rule(app: Any, schedule: str) -> None:
    """A declared schedule the template does not fire cannot be run: said before a stack starts."""
    from cronlane.local.stack import load_template
    from cronlane.template.checks import RULE_NAME_PREFIX, schedules_with_a_rule

    try:
        fired = schedules_with_a_rule(load_template(app.template))
    except (OSError, ValueError) as exc:
        fail(f"{app.template}: cannot be read as a template: {exc}")
    if schedule not in fired:
        fail(
            f"schedule '{schedule}' has no rule in {app.template.name}: add a Schedule (or ScheduleV2) "
            f'event to DispatcherFunction named !Sub "{RULE_NAME_PREFIX}{schedule}" (cronlane validate)'
        )


def _positive(time_scale: float) -> float:
    if not time_scale > 0:
        fail(f"--time-scale must be a positive number (0.01 runs 100x faster), got {time_scale:g}")
    return time_scale


@local_app.command("run")
def local_run(
    schedule: Annotated[str, typer.Argument(help="The schedule to run once, e.g. nightly.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the run as JSON.")] = False,
    events: Annotated[
        bool,
        typer.Option(
            "--events", help="Print the run's events (EventBridge, source cronlane) as JSON lines on stderr."
        ),
    ] = False,
    clock: Annotated[ClockMode, typer.Option(help="'real' (scaled wall time) or 'virtual' (no waiting).")] = (
        ClockMode.REAL
    ),
    time_scale: Annotated[
        float, typer.Option(help="Clock seconds per real second, inverted: 0.01 runs 100x faster.")
    ] = 0.01,
    environments: Annotated[int, typer.Option(min=1, max=64, help="Most executor environments at once.")] = 8,
    at: Annotated[
        str | None, typer.Option(help="Scheduled time of the tick (ISO); default: its latest fire time.")
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(help="JOB.KEY=VALUE; makes the tick a manual trigger of the schedule with these."),
    ] = None,
    template: TemplateOption = None,
    catalog: CatalogOption = None,
    logs: LogsOption = None,
) -> None:
    """Run one tick of SCHEDULE on the embedded default until its run is terminal."""
    from cronlane.clock import iso, parse_iso
    from cronlane.errors import CronlaneError
    from cronlane.local.runtime import NoRule, RuntimeStalled
    from cronlane.local.session import RunReport, latest_fire_time, local_runtime, wait_for_run
    from cronlane.model import manual_run_id, scheduled_run_id

    _positive(time_scale)
    app = app_of(template, catalog)
    declared_jobs = catalog_of(app)
    run_jobs = run_jobs_of(declared_jobs, schedule, None)
    parameters = parse_params(param or [], run_jobs)
    check_params(parameters, run_jobs)
    declared = declared_jobs.schedule(schedule)
    _has_a_rule(app, schedule)
    try:
        zone = declared.timezone
        scheduled = parse_iso(at) if at else latest_fire_time(declared.expression, time.time(), zone)
    except ValueError as exc:
        fail(f"--at {at!r} is not an ISO-8601 time ({exc})" if at else str(exc))
    except CronlaneError as exc:
        fail(str(exc))
    if at and latest_fire_time(declared.expression, scheduled, zone) != scheduled:
        fail(f"--at {at} is not a fire time of {schedule} ({declared.expression})")
    log_dir = logs or app.root / ".cronlane" / "logs" / time.strftime("%Y%m%dT%H%M%S")
    wall = time.perf_counter()
    try:
        with local_runtime(
            app,
            clock=clock.value,
            time_scale=time_scale,
            start=scheduled,
            executor_environments=environments,
            log_dir=log_dir,
        ) as runtime:
            try:
                target = runtime.rule_for(schedule).target_function
            except NoRule as exc:
                fail(str(exc))
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
            if events:
                runtime.drain()  # the invocation that closed the run publishes its end last
                for event in runtime.events_of(run_id):
                    typer.echo(json.dumps(event, sort_keys=True), err=True)
            if as_json:
                typer.echo(json.dumps(report.to_json(), indent=2))
            else:
                from cronlane.cli.render import console, memory_line, print_run

                print_run(report, log_dir=log_dir, clock=clock.value, time_scale=time_scale)
                sizes = {name: f.memory_mb for name, f in runtime.stack.functions.items()}
                console().print(memory_line(runtime.max_memory_used_mb, sizes, runtime.out_of_memory))
    except startup_errors() as exc:
        fail(str(exc).splitlines()[0])
    if report.run.status.value != "SUCCEEDED":
        raise typer.Exit(1)


@local_app.command("simulate")
def local_simulate(
    days: Annotated[float, typer.Option(min=0.01, max=366, help="How many days of schedules.")] = 7,
    as_json: Annotated[bool, typer.Option("--json", help="Print the counts as JSON.")] = False,
    start: Annotated[
        str | None, typer.Option(help="Start of the simulated time (ISO); default: today 00:00 UTC.")
    ] = None,
    environments: Annotated[int, typer.Option(min=1, max=64, help="Most executor environments at once.")] = 8,
    template: TemplateOption = None,
    catalog: CatalogOption = None,
    logs: LogsOption = None,
) -> None:
    """Days of every schedule on the virtual clock (no real waiting): fires, runs, executions."""
    from cronlane.clock import parse_iso
    from cronlane.local.runtime import RuntimeStalled
    from cronlane.local.session import local_runtime, simulate

    app = app_of(template, catalog)
    schedules = sorted(catalog_of(app).schedules)
    try:
        begin = parse_iso(start) if start else (time.time() // 86_400) * 86_400
    except ValueError:
        fail(f"--start {start!r} is not an ISO-8601 time")
    log_dir = logs or app.root / ".cronlane" / "simulate" / time.strftime("%Y%m%dT%H%M%S")
    try:
        with local_runtime(
            app, clock="virtual", start=begin, executor_environments=environments, log_dir=log_dir
        ) as runtime:
            try:
                report = simulate(runtime, days, begin, schedules)
            except (RuntimeStalled, TimeoutError) as exc:
                fail(f"the simulation stalled: {exc} (logs: {log_dir})", code=3)
    except startup_errors() as exc:
        fail(str(exc).splitlines()[0])

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
        typer.echo(f"watchdog checks:    {data['watchdog_checks']} ({data['watchdog_idle']} idle)")

    emit(report.to_json(), as_json, human)


@local_app.command("up")
def local_up(
    port: PortOption = DEFAULT_PORT,
    time_scale: Annotated[float, typer.Option(help="Clock seconds per real second, inverted.")] = 1.0,
    environments: Annotated[int, typer.Option(min=1, max=64, help="Most executor environments at once.")] = 4,
    template: TemplateOption = None,
    catalog: CatalogOption = None,
    logs: LogsOption = None,
) -> None:
    """Run the local twin in the foreground: the rules fire at their times, the executor is fed
    continuously, and every command works against it with --local. Ctrl-C stops it."""
    from cronlane.local.runtime import port_is_free
    from cronlane.local.session import local_runtime

    _positive(time_scale)
    app = app_of(template, catalog)
    schedules = sorted(catalog_of(app).schedules)
    problem = port_is_free(port)
    if problem is not None:
        fail(f"cannot start the twin on port {port}: {problem} (is a twin already up? try --port)")
    log_dir = logs or app.root / ".cronlane" / "twin-logs" / time.strftime("%Y%m%dT%H%M%S")
    try:
        with local_runtime(
            app,
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
                typer.echo(f"cronlane twin up at {endpoint} (stack {runtime.stack.name}); logs in {log_dir}")
                flags = f"--local --port {port}"
                first = schedules[0] if schedules else "SCHEDULE"
                typer.echo(f"try: cronlane trigger {first} {flags} ; cronlane runs {flags} ; Ctrl-C to stop")
                runtime.run_until(lambda: False, limit_s=10 * 365 * 86_400)
            except KeyboardInterrupt:
                typer.echo("stopping the twin")
    except startup_errors() as exc:
        fail(str(exc).splitlines()[0])
    except OSError as exc:
        fail(f"cannot start the twin on port {port}: {exc}")


@local_app.command("sam-invoke")
def local_sam_invoke(
    sam: Annotated[
        str, typer.Option(help="The SAM CLI to run (make tools installs one in .tools/sam).")
    ] = "sam",
    docker_root: Annotated[
        Path | None,
        typer.Option(
            help="Folder of the Docker engine it starts, and of the image cache (default: .cronlane/docker)."
        ),
    ] = None,
    dispatcher_event: Annotated[
        Path | None, typer.Option(help="Event for DispatcherFunction (default: events/manual-trigger.json).")
    ] = None,
    executor_event: Annotated[
        Path | None,
        typer.Option(help="Event for ExecutorFunction (default: events/executor-sqs-batch.json)."),
    ] = None,
    wheels: Annotated[
        Path | None, typer.Option(help="The layer's wheels (default: the app's wheels/).")
    ] = None,
    template: TemplateOption = None,
    catalog: CatalogOption = None,
) -> None:
    """Run DispatcherFunction, then ExecutorFunction, with `sam local invoke` in containers against
    the local twin, and check what each left in its table. Exit code 4 (one `skipped` line) where
    no Docker engine can run; docs/sam-local.md."""
    from cronlane.errors import CronlaneError
    from cronlane.local.sam_local import Options, sam_invoke

    app = app_of(template, catalog)
    options = Options(
        app=app,
        sam=sam,
        docker_root=(docker_root or app.root / ".cronlane" / "docker").absolute(),
        dispatcher_event=dispatcher_event or app.root / "events" / "manual-trigger.json",
        executor_event=executor_event or app.root / "events" / "executor-sqs-batch.json",
        wheels=wheels or app.root / "wheels",
    )
    refused: tuple[type[Exception], ...] = (CronlaneError, *startup_errors())
    try:
        code = sam_invoke(options, typer.echo)
    except KeyboardInterrupt:
        fail("sam-invoke interrupted (what it started is stopped)", code=130)
    except refused as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"sam-invoke: {exc}")
    if code:
        raise typer.Exit(code)
