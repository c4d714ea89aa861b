"""The ``cronlane`` command: its commands live in modules by audience.

- ``local``: the application on the embedded default (``local run``, ``local up``, ``local simulate``);
- ``inspect``: the application itself and its runs (``validate``, ``next``, ``plan``, ``runs``, ``run``);
- ``operate``: changing runs and schedules (``trigger``, ``cancel``, ``rerun``, ``mark``, ``pause``,
  ``resume``, ``backfill``);
- ``dlq``: the dead-letter queue (``dlq list``, ``dlq replay``);
- ``logs``: a job's log lines (``logs``); ``ui``: the web application (``ui``);
- ``scaffold``: the application's own files (``init``, ``template``);
- ``complete``: what a callback target's worker reports with (``complete``).

What they share (one-line errors and exit codes, the app-folder contract, the stack or twin a
command talks to) is in ``common``.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cronlane import __version__
from cronlane.cli import complete, inspect, logs, operate, scaffold, ui
from cronlane.cli.common import OneLineErrors
from cronlane.cli.dlq import dlq_app
from cronlane.cli.local import local_app

app = typer.Typer(
    cls=OneLineErrors,
    help="cronlane: scheduled job graphs on AWS, or on this machine.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"cronlane {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """cronlane: scheduled job graphs on AWS, or on this machine."""


app.add_typer(local_app, name="local")
app.add_typer(dlq_app, name="dlq")
COMMANDS: dict[str, Any] = {
    "init": scaffold.init_command,
    "template": scaffold.template_command,
    "validate": inspect.validate_command,
    "next": inspect.next_command,
    "plan": inspect.plan_command,
    "runs": inspect.runs_command,
    "run": inspect.run_command,
    "audit": inspect.audit_command,
    "logs": logs.logs_command,
    "ui": ui.ui_command,
    "trigger": operate.trigger_command,
    "cancel": operate.cancel_command,
    "rerun": operate.rerun_command,
    "mark": operate.mark_command,
    "pause": operate.pause_command,
    "resume": operate.resume_command,
    "backfill": operate.backfill_command,
    "complete": complete.complete_command,
}
for name, command in COMMANDS.items():
    app.command(name)(command)


def main() -> None:  # the console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
