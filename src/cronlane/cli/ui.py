"""``cronlane ui``: the run-history web application (``cronlane.ui.web``) on 127.0.0.1, reading the
stack or the twin the CLI reads, served by waitress until Ctrl-C."""

from __future__ import annotations

from typing import Annotated

import typer

from cronlane.cli.common import (
    DEFAULT_PORT,
    CatalogOption,
    LocalOption,
    PortOption,
    StackOption,
    TemplateOption,
    app_catalog,
    fail,
    target_of,
)

DEFAULT_UI_PORT = 8642


def ui_command(
    stack: StackOption = None,
    local: LocalOption = False,
    port: PortOption = DEFAULT_PORT,
    ui_port: Annotated[
        int, typer.Option("--ui-port", min=1, max=65535, help="The port the web application listens on.")
    ] = DEFAULT_UI_PORT,
    allow_actions: Annotated[
        bool,
        typer.Option(
            "--allow-actions",
            help="Offer trigger, rerun, cancel, mark, pause/resume and DLQ replay (each confirmed first).",
        ),
    ] = False,
    template: TemplateOption = None,
    catalog: CatalogOption = None,
) -> None:
    """Serve the run history in a browser: the schedules and their runs, each run's Gantt and jobs,
    a job's logs, the dead-letter queue. Read only unless --allow-actions."""
    from cronlane.local.runtime import port_is_free
    from cronlane.ui.source import Source
    from cronlane.ui.web import create_app

    declared = app_catalog(template, catalog)
    problem = port_is_free(ui_port)
    if problem is not None:
        fail(f"cannot serve on 127.0.0.1:{ui_port}: {problem} (choose another with --ui-port)")
    target = target_of(stack, local, port)
    app = create_app(Source(target, declared), ui_port, allow_actions=allow_actions)
    from waitress import serve

    mode = "actions allowed" if allow_actions else "read only"
    typer.echo(f"cronlane ui on http://127.0.0.1:{ui_port}/ ({target.description}, {mode}); Ctrl-C to stop")
    try:
        serve(app, host="127.0.0.1", port=ui_port, threads=4, ident="cronlane", _quiet=True)
    except KeyboardInterrupt:
        typer.echo("stopping cronlane ui")
    except OSError as exc:
        fail(f"cannot serve on 127.0.0.1:{ui_port}: {exc}")
