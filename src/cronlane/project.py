"""The app-folder contract: which application a ``cronlane`` command acts on.

An application is a folder with a ``template.yaml`` (the SAM application) and a ``pyproject.toml``
that names its catalog::

    [tool.cronlane]
    catalog = "myapp.catalog"   # the module whose CATALOG declares the jobs and schedules
    source = "src"              # where that module lives (default: "src" if there is one, else ".")

Run from anywhere inside that folder, ``cronlane`` finds the nearest ``template.yaml``, reads the
catalog from the app's ``pyproject.toml`` and puts the app's source on ``sys.path``, for itself and
for every environment of the local runtime. The catalog module is chosen, first match wins, by
``--catalog MODULE``, then the ``CRONLANE_CATALOG`` environment variable, then the app's
``pyproject.toml``. The functions get the same module through the template's ``CatalogModule``
parameter (``CRONLANE_CATALOG`` in their environment).
"""

from __future__ import annotations

import os
import re
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cronlane.declarations import Catalog
from cronlane.errors import CronlaneError
from cronlane.settings import load_catalog

MODULE_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


class AppError(CronlaneError):
    """No application, or one whose settings cannot be used; the message says what to do."""


@dataclass(frozen=True)
class App:
    """An application folder as a command sees it."""

    root: Path  # the folder of template.yaml
    template: Path
    catalog_module: str
    source: Path  # put on sys.path: the catalog module and the job functions are imported from it
    catalog_from: str  # where the module came from: "--catalog", "CRONLANE_CATALOG" or pyproject.toml

    def activate(self) -> None:
        """Put the app's source first on this process's ``sys.path`` (once)."""
        path = str(self.source)
        if path not in sys.path:
            sys.path.insert(0, path)

    def load_catalog(self, fresh: bool = False) -> Catalog:
        """Import the catalog module from the app's source and return its ``CATALOG``; a module
        that cannot be imported is a ``CatalogError`` naming it. ``fresh``: import it again
        (``validate`` reads the files as they are now)."""
        self.activate()
        if fresh:
            package = self.catalog_module.split(".", 1)[0]
            for name in [n for n in sys.modules if n == package or n.startswith(package + ".")]:
                sys.modules.pop(name, None)
        return load_catalog(self.catalog_module)


def find_template(start: Path | None = None) -> Path:
    """``template.yaml`` in ``start`` (default: the current directory) or its nearest parent."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / "template.yaml"
        if candidate.is_file():
            return candidate
    raise AppError(
        f"no template.yaml in {here} or its parents: run cronlane from an application's folder "
        "(or pass --template)"
    )


def find_app(
    template: Path | None = None,
    catalog: str | None = None,
    start: Path | None = None,
    env: Mapping[str, str] = os.environ,
) -> App:
    """The application of ``template`` (default: the nearest ``template.yaml``), with its catalog
    module chosen by ``catalog`` > ``CRONLANE_CATALOG`` > its ``pyproject.toml``."""
    if template is not None:
        if not template.is_file():
            raise AppError(f"--template {template}: no such file")
        template = template.resolve()
    else:
        template = find_template(start)
    root = template.parent
    settings = _settings(root)
    module, origin = catalog, "--catalog"
    if not module and env.get("CRONLANE_CATALOG"):
        module, origin = env["CRONLANE_CATALOG"], "CRONLANE_CATALOG"
    if not module and settings.get("catalog"):
        module, origin = str(settings["catalog"]), f"{root / 'pyproject.toml'}"
    if not module:
        raise AppError(
            f'no catalog for the app in {root}: add [tool.cronlane] catalog = "<module>" to its '
            "pyproject.toml, set CRONLANE_CATALOG, or pass --catalog"
        )
    if not MODULE_PATTERN.match(module):
        raise AppError(f"catalog module {module!r} (from {origin}) is not a dotted module name")
    source = settings.get("source")
    if source is not None:
        folder = (root / str(source)).resolve()
        if not folder.is_dir():
            raise AppError(f"{root / 'pyproject.toml'}: [tool.cronlane] source {source!r} is not a folder")
    else:
        folder = root / "src" if (root / "src").is_dir() else root
    return App(root, template, module, folder, origin)


def _settings(root: Path) -> dict[str, object]:
    path = root / "pyproject.toml"
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise AppError(f"{path}: not valid TOML ({exc})") from None
    section = data.get("tool", {}).get("cronlane", {})
    if not isinstance(section, dict):
        raise AppError(f"{path}: [tool.cronlane] must be a table")
    return section
