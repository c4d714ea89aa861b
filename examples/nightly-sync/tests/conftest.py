"""The example app's tests, as a team's own app would have them: they run from the app's folder
layout (its template.yaml, its pyproject.toml naming the catalog), with the app's source put on
sys.path the way the ``cronlane`` command puts it (``cronlane.project``)."""

from __future__ import annotations

from pathlib import Path

from cronlane.project import find_app

APP = find_app(Path(__file__).resolve().parents[1] / "template.yaml")
APP.activate()
