"""``cronlane run RUN_ID --gantt FILE``: the run's Gantt (``cronlane.ui.render``, the same as
``cronlane ui`` draws) as a self-contained HTML page, an SVG or a PNG, by the file's extension."""

from __future__ import annotations

from pathlib import Path

from cronlane.model import JobRunView, RunView

FORMATS = (".html", ".svg", ".png")


def format_problem(path: Path) -> str | None:
    """Why ``path`` cannot take a Gantt (None: it can)."""
    if path.suffix.lower() not in FORMATS:
        return f"--gantt {path}: the file's extension says what to write: .html, .svg or .png"
    return None


def write(path: Path, run: RunView, jobs: list[JobRunView], now: float) -> None:
    """Write the Gantt to ``path`` (an OSError if it cannot be written)."""
    from cronlane.ui import picture, render

    suffix = path.suffix.lower()
    if suffix == ".html":
        path.write_text(render.gantt_page(run, jobs, now))
    elif suffix == ".svg":
        path.write_text('<?xml version="1.0" encoding="UTF-8"?>\n' + render.gantt_svg(run, jobs, now))
    else:
        path.write_bytes(picture.png(render.gantt_svg(run, jobs, now)))
