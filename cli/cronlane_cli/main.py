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


def parse_params(values: list[str]) -> dict[str, dict[str, Any]]:
    """``JOB.KEY=VALUE`` options into ``{job: {key: value}}`` (values stay strings; the job's
    declared parameter types decide)."""
    out: dict[str, dict[str, Any]] = {}
    for value in values:
        target, eq, raw = value.partition("=")
        job, dot, key = target.partition(".")
        if not eq or not dot or not job or not key:
            fail(f"--param {value!r}: expected JOB.KEY=VALUE")
        out.setdefault(job, {})[key] = raw
    return out


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

    parameters = parse_params(param or [])
    try:
        template_path = template or find_template()
        declared = load_catalog().schedule(schedule)
        scheduled = parse_iso(at) if at else latest_fire_time(declared.expression, time.time())
        if at and latest_fire_time(declared.expression, scheduled) != scheduled:
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


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
