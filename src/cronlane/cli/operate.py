"""Commands that change runs and schedules. Each is an ``action`` event the dispatcher function
performs, so it runs with the dispatcher's role, on AWS and on the twin alike; a request the
dispatcher refuses comes back as one line and exit code 2."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cronlane.cli.common import (
    DEFAULT_PORT,
    CatalogOption,
    JsonOption,
    LocalOption,
    PortOption,
    ReasonOption,
    StackOption,
    TemplateOption,
    YesOption,
    act,
    app_catalog,
    confirm,
    emit,
    fail,
    invoke_dispatcher,
    parse_params,
    run_jobs_of,
    target_of,
)


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
    port: PortOption = DEFAULT_PORT,
    template: TemplateOption = None,
    catalog: CatalogOption = None,
    reason: ReasonOption = None,
) -> None:
    """Start a run of SCHEDULE now, through the dispatcher function."""
    chosen = [j.strip() for j in jobs.split(",") if j.strip()] if jobs else None
    # A KEY=VALUE without a job goes to every job of the run that declares KEY: the app's catalog
    # says which (the deployed one checks the values).
    needs_catalog = any("." not in p.partition("=")[0] for p in param or [])
    run_jobs = run_jobs_of(app_catalog(template, catalog), schedule, chosen) if needs_catalog else None
    event: dict[str, Any] = {
        "action": "trigger",
        "schedule": schedule,
        "parameters": parse_params(param or [], run_jobs),
    }
    if chosen:
        event["jobs"] = chosen
    if key:
        event["idempotency_key"] = key
    target = target_of(stack, local, port)
    result = invoke_dispatcher(target, event, reason)

    def human() -> None:
        verb = "started" if result.get("created") else "already exists:"
        typer.echo(f"run {verb} {result['run_id']} ({result['status']}, {result['job_count']} jobs)")

    emit(result, as_json, human)


def cancel_command(
    run_id: Annotated[str, typer.Argument(help="The run to cancel.")],
    yes: YesOption = False,
    as_json: JsonOption = False,
    stack: StackOption = None,
    local: LocalOption = False,
    port: PortOption = DEFAULT_PORT,
    reason: ReasonOption = None,
) -> None:
    """Cancel a run: queued jobs do not start, running ones finish, the run ends CANCELLED."""
    act(
        target_of(stack, local, port),
        {"action": "cancel", "run_id": run_id},
        as_json,
        lambda r: f"run {r['run_id']}: {r['status']} ({r['cancelled']} job(s) will not start)",
        ask=f"Cancel run {run_id}",
        yes=yes,
        reason=reason,
    )


def rerun_command(
    run_id: Annotated[str, typer.Argument(help="The finished run to run again.")],
    failed_only: Annotated[
        bool,
        typer.Option("--failed-only", help="Only the failed jobs and those skipped because of them."),
    ] = False,
    param: Annotated[
        list[str] | None,
        typer.Option(
            help="New values for the jobs it reruns: KEY=VALUE (each one that declares KEY) or "
            "JOB.KEY=VALUE; recorded on the run. The jobs get a new idempotency key."
        ),
    ] = None,
    yes: YesOption = False,
    as_json: JsonOption = False,
    stack: StackOption = None,
    local: LocalOption = False,
    port: PortOption = DEFAULT_PORT,
    reason: ReasonOption = None,
) -> None:
    """A new attempt of a finished run's jobs, in the same run."""
    which = (
        "its failed jobs (and those they skipped)"
        if failed_only
        else "its failed, skipped and cancelled jobs"
    )
    event: dict[str, Any] = {"action": "rerun", "run_id": run_id, "failed_only": failed_only}
    if param:
        event["parameters"] = parse_params(param)
    act(
        target_of(stack, local, port),
        event,
        as_json,
        lambda r: (
            f"run {r['run_id']}: {r['status']}; rerunning {', '.join(r['rerun']) or 'nothing'}"
            + _not_rerun(r)
        ),
        ask=f"Rerun {which} of {run_id}",
        yes=yes,
        reason=reason,
    )


def _not_rerun(result: dict[str, Any]) -> str:
    """The jobs an operator action left as they were, each with its reason ('' if none)."""
    left = result.get("not_rerun") or {}
    return "".join(f"\n  left as it is: {job} ({why})" for job, why in left.items())


def mark_command(
    run_id: Annotated[str, typer.Argument(help="The run.")],
    job: Annotated[str, typer.Argument(help="The job an operator vouches for.")],
    succeeded: Annotated[bool, typer.Option("--succeeded", help="Mark the job SUCCEEDED.")] = False,
    as_json: JsonOption = False,
    stack: StackOption = None,
    local: LocalOption = False,
    port: PortOption = DEFAULT_PORT,
    reason: ReasonOption = None,
) -> None:
    """Mark a job SUCCEEDED (you vouch for it); its dependents proceed."""
    if not succeeded:
        fail("say what the job is: --succeeded (the only mark there is)")
    act(
        target_of(stack, local, port),
        {"action": "mark", "run_id": run_id, "job": job},
        as_json,
        lambda r: (
            f"{job} marked SUCCEEDED in {r['run_id']} ({r['status']}); "
            f"released again: {', '.join(r['rerun']) or 'none'}" + _not_rerun(r)
        ),
        reason=reason,
    )


def pause_command(
    schedule: Annotated[str, typer.Argument(help="The schedule to pause.")],
    reason: Annotated[
        str | None, typer.Option(help="Why; recorded on each skipped tick and in the audit trail.")
    ] = None,
    as_json: JsonOption = False,
    stack: StackOption = None,
    local: LocalOption = False,
    port: PortOption = DEFAULT_PORT,
) -> None:
    """Pause a schedule: its ticks are recorded as SKIPPED runs and never caught up."""
    event: dict[str, Any] = {"action": "pause", "schedule": schedule}
    if reason:
        event["reason"] = reason
    act(
        target_of(stack, local, port),
        event,
        as_json,
        lambda r: f"{schedule} paused ({r['reason']})",
        reason=reason,
    )


def resume_command(
    schedule: Annotated[str, typer.Argument(help="The schedule to resume.")],
    as_json: JsonOption = False,
    stack: StackOption = None,
    local: LocalOption = False,
    port: PortOption = DEFAULT_PORT,
    reason: ReasonOption = None,
) -> None:
    """Resume a paused schedule from its next tick."""
    event = {"action": "resume", "schedule": schedule}
    act(target_of(stack, local, port), event, as_json, lambda r: f"{schedule} resumed", reason=reason)


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
    port: PortOption = DEFAULT_PORT,
    reason: ReasonOption = None,
) -> None:
    """Runs for SCHEDULE's past fire times in [--from, --to], each keyed by its fire time (a
    second backfill creates nothing new), at most --max-active at once; jobs get that fire time."""
    target = target_of(stack, local, port)
    if not dry_run:
        confirm(f"Backfill {schedule} from {from_time} to {to_time} on {target.description}?", yes)
    event = {
        "action": "backfill",
        "schedule": schedule,
        "from": from_time,
        "to": to_time,
        "max_active": max_active,
        "dry_run": dry_run,
    }
    result = invoke_dispatcher(target, event, reason)

    def human() -> None:
        verb = "would create" if dry_run else "created"
        typer.echo(
            f"{schedule}: {len(result['fire_times'])} fire time(s); {verb} {len(result['created'])} run(s), "
            f"{len(result['existing'])} existed already"
            + ("" if dry_run else f"; started {len(result['started'])} (at most {max_active} at once)")
        )
        for run_id in result["created"]:
            typer.echo(f"  {run_id}")

    emit(result, as_json, human)
