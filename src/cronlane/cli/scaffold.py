"""The application's own files: ``cronlane init`` (a new app) and ``cronlane template`` (the
parts of its ``template.yaml`` generated from its catalog)."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer

from cronlane.cli.common import CatalogOption, TemplateOption, app_of, catalog_of, fail


def template_command(
    check: Annotated[
        bool, typer.Option("--check", help="Change nothing; exit 1 if a generated part is out of date.")
    ] = False,
    template: TemplateOption = None,
    catalog: CatalogOption = None,
) -> None:
    """Write the parts of template.yaml that come from the catalog (schedules, the tick DLQ's
    policy, the jobs' permissions), between their cronlane:begin/end markers; the rest of the
    file is left as it is."""
    from cronlane.template.generate import name_clashes, render, stale_parts
    from cronlane.template.regions import RegionError

    app = app_of(template, catalog)
    declared = catalog_of(app)
    try:
        text = app.template.read_bytes().decode()  # as it is: CRLF line ends stay CRLF
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"{app.template}: cannot be read as a template: {exc}")
    clashes = name_clashes(declared)
    if clashes:
        fail(clashes[0])
    try:
        new = render(text, declared, app.catalog_module)
        stale = stale_parts(text, declared, app.catalog_module)
    except RegionError as exc:
        fail(f"{app.template.name}: {exc}")
    problem = _yaml_problem(new)
    if problem:  # the user's part does not parse: writing would not make it a template
        fail(f"{app.template}: cannot be read as a template: {problem}")
    if check:
        if stale:
            typer.echo(f"{app.template.name}: out of date: {', '.join(stale)} (run: cronlane template)")
            raise typer.Exit(1)
        typer.echo(f"{app.template.name}: up to date")
        return
    if new == text:
        typer.echo(f"{app.template.name}: up to date")
        return
    app.template.write_bytes(new.encode())
    typer.echo(f"{app.template.name}: wrote {', '.join(stale)}")


def _yaml_problem(text: str) -> str | None:
    from cronlane.local.stack import parse_template

    try:
        parse_template(text)
    except ValueError as exc:
        return str(exc)
    return None


def init_command(
    directory: Annotated[Path, typer.Argument(help="The new application's folder (empty or new).")],
    package: Annotated[
        str | None, typer.Option(help="Its Python package (default: from the folder's name).")
    ] = None,
    find_links: Annotated[
        Path | None,
        typer.Option(
            help="Take the framework's dependencies' wheels from this folder instead of PyPI "
            "(pip download --no-index --find-links)."
        ),
    ] = None,
) -> None:
    """Write a new cronlane application: a SAM app with one job and one schedule that uses the
    framework from a wheel in its own wheels/ folder."""
    from cronlane.scaffold import ScaffoldError, create_app

    try:
        created = create_app(directory, package=package, find_links=find_links, echo=typer.echo)
    except ScaffoldError as exc:
        fail(str(exc))
    typer.echo(f"created {created.root} (package {created.package}, schedule {created.schedule})")
    folder = shlex.quote(str(directory))
    typer.echo(f"next: cd {folder} && cronlane validate && cronlane local run {created.schedule}")
