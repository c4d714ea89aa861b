"""What every ``cronlane`` command shares: one-line errors, ``--json`` output, the application a
command acts on (the app-folder contract, ``cronlane.project``) and the stack or twin it talks to
(``--stack`` / ``--local`` / ``--port``, resolved here once for every command).

Exit codes: 0 success; 1 the outcome is a failure (a failed run, problems found, nothing done);
2 bad input or an unreachable target, always one line on stderr starting ``cronlane:``;
3 a local run that did not finish.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

if TYPE_CHECKING:
    from cronlane.cli.target import Target
    from cronlane.declarations import Catalog, Job
    from cronlane.project import App

DEFAULT_PORT = 4599


class OneLineErrors(TyperGroup):
    """Usage errors (an unknown option, a value out of range, a missing argument) as one line and
    exit code 2, like every other bad input: click would print a usage box."""

    def main(  # type: ignore[override]
        self,
        args: Any = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except typer.TyperException as exc:  # click's exceptions, as typer ships them
            context = getattr(exc, "ctx", None)
            where = context.command_path if context is not None else "cronlane"
            message = str(exc.format_message()).replace("Value error, ", "")  # type: ignore[attr-defined]
            typer.echo(f"{where}: {message}", err=True)
            sys.exit(int(getattr(exc, "exit_code", 2)))
        except typer.Abort:
            typer.echo("cronlane: aborted", err=True)
            sys.exit(1)
        sys.exit(result if isinstance(result, int) else 0)


def fail(message: str, code: int = 2) -> NoReturn:
    """One line on stderr and the exit code (2: bad input or an unreachable target)."""
    typer.echo(f"cronlane: {message}", err=True)
    raise typer.Exit(code)


def emit(data: Any, as_json: bool, human: Callable[[], None]) -> None:
    if as_json:
        typer.echo(json.dumps(data, indent=2))
    else:
        human()


# -- options every command spells the same way ----------------------------------------------------

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
TemplateOption = Annotated[
    Path | None, typer.Option(help="The app's template.yaml (default: the nearest one).")
]
CatalogOption = Annotated[
    str | None,
    typer.Option(help="The catalog module (default: $CRONLANE_CATALOG, else the app's pyproject.toml says)."),
]
StackOption = Annotated[
    str | None,
    typer.Option(envvar="CRONLANE_STACK", help="Deployed stack (default: samconfig.toml's stack_name)."),
]
LocalOption = Annotated[bool, typer.Option("--local", help="Act on the local twin (cronlane local up).")]
PortOption = Annotated[
    int, typer.Option(envvar="CRONLANE_PORT", min=1, max=65535, help="Port of the local twin.")
]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


# -- the application ------------------------------------------------------------------------------


def app_of(template: Path | None = None, catalog: str | None = None) -> App:
    """The application the command acts on; none, or one that cannot be used, is one line."""
    from cronlane.project import AppError, find_app

    try:
        return find_app(template, catalog)
    except AppError as exc:
        fail(str(exc))


def catalog_of(app: App) -> Catalog:
    """The app's catalog; one that cannot be imported or is invalid is one line naming it."""
    from cronlane.errors import CatalogError

    try:
        return app.load_catalog()
    except CatalogError as exc:
        fail(str(exc))


def app_catalog(template: Path | None = None, catalog: str | None = None) -> Catalog:
    return catalog_of(app_of(template, catalog))


def parse_params(values: list[str], run_jobs: dict[str, Job] | None = None) -> dict[str, dict[str, Any]]:
    """``JOB.KEY=VALUE`` (one job) or ``KEY=VALUE`` (every job of the run that declares KEY;
    without ``run_jobs``, ``"*"``, for the dispatcher to find them) options into
    ``{job: {key: value}}``. Values stay strings: each job's declared parameter
    types decide (the dispatcher checks them; ``check_params`` checks them here first)."""
    out: dict[str, dict[str, Any]] = {}
    for value in values:
        target, eq, raw = value.partition("=")
        job, dot, key = target.rpartition(".")
        if not eq or not key or (dot and not job):
            fail(f"--param {value!r}: expected KEY=VALUE or JOB.KEY=VALUE")
        if dot or run_jobs is None:  # no jobs to look in: "*", every job that declares it
            out.setdefault(job if dot else "*", {})[key] = raw
            continue
        declaring = [name for name, declared in (run_jobs or {}).items() if key in declared.params]
        if not declaring:
            fail(f"--param {value!r}: no job of this run declares a parameter '{key}'")
        for name in declaring:
            out.setdefault(name, {})[key] = raw
    return out


def check_params(parameters: dict[str, dict[str, Any]], run_jobs: dict[str, Job]) -> None:
    """The values checked as the dispatcher will check them, before anything starts."""
    for name, values in parameters.items():
        if name not in run_jobs:
            fail(f"--param: job '{name}' is not in this run")
        try:
            run_jobs[name].resolve_params(values)
        except ValueError as exc:
            fail(f"--param: {exc}")


def run_jobs_of(catalog: Catalog, schedule: str, jobs: list[str] | None) -> dict[str, Job]:
    """The declared jobs a trigger of SCHEDULE (or of JOBS in it) would run."""
    from cronlane.declarations import Selection
    from cronlane.errors import CronlaneError
    from cronlane.graph import plan_selection

    try:
        declared = catalog.schedule(schedule)
        selection = Selection.of_jobs(*jobs) if jobs else declared.selection
        names = plan_selection(catalog, selection, declared.include_upstreams).order
    except CronlaneError as exc:
        fail(str(exc))
    return {name: catalog.jobs[name] for name in names}


# -- the stack or the twin ------------------------------------------------------------------------


def target_of(stack: str | None, local: bool, port: int) -> Target:
    """The deployed stack (``--stack``, ``$CRONLANE_STACK``, else samconfig.toml's) or the local
    twin (``--local`` on ``--port``/``$CRONLANE_PORT``): found once, through its Outputs."""
    from cronlane.cli.target import TargetError, connect

    try:
        return connect(stack, local, port)
    except TargetError as exc:
        fail(str(exc))


ReasonOption = Annotated[
    str | None,
    typer.Option("--reason", help="Why: recorded with the action in the audit trail (cronlane audit)."),
]


def actor_of(target: Target) -> str:
    """Who is asking, for the audit trail: on AWS the caller's identity as STS names it (the
    principal the dispatcher's Invoke is made with), on the local twin the machine's user."""
    import getpass

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown user"
    from cronlane.cli.target import LOCAL_STACK

    if target.stack == LOCAL_STACK:
        return f"{user} (local twin)"
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return str(target.client("sts").get_caller_identity()["Arn"])
    except (BotoCoreError, ClientError, KeyError):
        return f"{user} (no STS identity)"


class DispatcherRefused(Exception):
    """The dispatcher could not be invoked, failed, or refused the request: one line."""


def request_dispatcher(target: Target, event: dict[str, Any], reason: str | None = None) -> dict[str, Any]:
    """An operator's request, performed by the dispatcher function (its role, its code): its
    answer, or ``DispatcherRefused``. An action (not a read, not a dry run) carries who asks and
    why, for the audit trail."""
    from botocore.exceptions import BotoCoreError, ClientError

    from cronlane.audit import AUDITED
    from cronlane.versions import takes_audit

    audited = event.get("action") in AUDITED and not event.get("dry_run")
    if audited and takes_audit(target.outputs.get("CronlaneVersion")):
        said = {"actor": actor_of(target)}
        if reason:
            said["reason"] = reason
        event = {**event, "audit": said}
    try:
        response = target.client("lambda").invoke(
            FunctionName=target.outputs["DispatcherFunctionName"], Payload=json.dumps(event).encode()
        )
    except (BotoCoreError, ClientError) as exc:
        raise DispatcherRefused(f"{target.description}: invoking the dispatcher failed: {exc}") from None
    payload = json.loads(response["Payload"].read() or b"null")
    if response.get("FunctionError"):
        message = payload.get("errorMessage") if isinstance(payload, dict) else payload
        raise DispatcherRefused(f"the dispatcher failed: {message}")
    if isinstance(payload, dict) and "error" in payload:
        raise DispatcherRefused(f"the dispatcher refused it: {payload['error']}")
    return dict(payload)


def invoke_dispatcher(target: Target, event: dict[str, Any], reason: str | None = None) -> dict[str, Any]:
    """``request_dispatcher``, its refusal one line on stderr and exit code 2."""
    try:
        return request_dispatcher(target, event, reason)
    except DispatcherRefused as exc:
        fail(str(exc))


def act(
    target: Target,
    event: dict[str, Any],
    as_json: bool,
    say: Callable[[dict[str, Any]], str],
    ask: str | None = None,
    yes: bool = False,
    reason: str | None = None,
) -> dict[str, Any]:
    """An operator's request: asked first when ``ask`` (unless ``yes``), performed by the
    dispatcher, and its answer shown (``say`` is the human line; ``--json`` the answer itself)."""
    if ask is not None:
        confirm(f"{ask} on {target.description}?", yes)
    result = invoke_dispatcher(target, event, reason)
    emit(result, as_json, lambda: typer.echo(say(result)))
    return result


def confirm(question: str, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        fail(f"{question} Refusing without a terminal to ask on; pass --yes to go ahead.")
    if not typer.confirm(question):
        fail("nothing done", code=1)
