"""``cronlane dlq ...``: the dead-letter queue, looked at and replayed through the dispatcher."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cronlane.cli.common import (
    DEFAULT_PORT,
    JsonOption,
    LocalOption,
    PortOption,
    ReasonOption,
    StackOption,
    YesOption,
    confirm,
    emit,
    fail,
    invoke_dispatcher,
    target_of,
)

dlq_app = typer.Typer(help="The dead-letter queue: list what is on it, replay it.", no_args_is_help=True)


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
    port: PortOption = DEFAULT_PORT,
) -> None:
    """Each dead-lettered message: its run, job, attempts and last error."""
    target = target_of(stack, local, port)
    result = invoke_dispatcher(target, {"action": "dlq-list"})

    def human() -> None:
        messages = result["messages"]
        more = " (more not shown)" if result["more"] else ""
        typer.echo(f"{len(messages)} message(s) on the dead-letter queue{more}")
        for m in messages:
            typer.echo(_letter_line(m))

    emit(result, as_json, human)


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
    port: PortOption = DEFAULT_PORT,
    reason: ReasonOption = None,
) -> None:
    """Put dead-lettered jobs back: the run reopens, the job-run is reset and queued again, and
    the jobs it skipped run after it succeeds. A message is deleted only once it was re-sent."""
    if not (run_id or job or every):
        fail("say what to replay: --run ID, --job NAME, or --all")
    if every and (run_id or job):
        fail("--all replays every dead letter: give it alone, or choose with --run/--job")
    target = target_of(stack, local, port)
    which = (
        " and ".join(
            part for part in (f"run {run_id}" if run_id else "", f"job {job}" if job else "") if part
        )
        or "every message"
    )
    if not dry_run:
        confirm(f"Replay the dead letters of {which} on {target.description}?", yes)
    event = {"action": "dlq-replay", "run_id": run_id, "job": job, "all": every, "dry_run": dry_run}
    event = {k: v for k, v in event.items() if v not in (None, False)}
    result = invoke_dispatcher(target, event, reason)
    # One call looks at up to 500 letters; more are replayed by calling again (a dry run cannot
    # page: it changes nothing, so it would see the same letters again).
    messages, replayed = list(result["messages"]), int(result["replayed"])
    while not dry_run and result["more"] and result["replayed"]:
        result = invoke_dispatcher(target, event, reason)
        messages += result["messages"]
        replayed += int(result["replayed"])
    result = {**result, "replayed": replayed, "messages": messages}

    def human() -> None:
        verb = "would replay" if dry_run else "replayed"
        typer.echo(f"{verb} {result['replayed']} of {len(result['messages'])} matching message(s)")
        for m in result["messages"]:
            typer.echo(_letter_line(m))

    emit(result, as_json, human)
