"""Drawing what cronlane shows in a browser, with Jinja2 templates (``templates/``): the Gantt of a
run (``gantt.svg``, from ``cronlane.timeline``), the runs x jobs grid of a schedule, the pages of
``cronlane ui`` and the dashboard's custom widget. Pure: it reads nothing, it is given the runs
and job-runs; ``cronlane.ui.web`` (the web application) and ``cronlane.handlers.widget`` (the
widget's Lambda) read them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from cronlane import timeline
from cronlane.model import JobRunView, RunView

STATUS_COLOURS = {
    "SUCCEEDED": "#2e7d32",
    "FAILED": "#c62828",
    "SKIPPED": "#f9a825",
    "RUNNING": "#0277bd",
    "QUEUED": "#5c6bc0",
    "PENDING": "#bdbdbd",
    "CANCELLED": "#8e24aa",
    "RETRYING": "#ef6c00",
}
KIND_COLOURS = {
    timeline.QUEUED: "#c5cae9",
    timeline.ATTEMPT: "#2e7d32",
    timeline.FAILED_ATTEMPT: "#c62828",
    timeline.RUNNING: "#0277bd",
    timeline.BACKOFF: "#ffcc80",
    timeline.CONTINUATION: "#66bb6a",
    timeline.WAITING: "#e0e0e0",
}
# the gaps are drawn thinner than the invocations
THIN = {timeline.QUEUED, timeline.BACKOFF, timeline.WAITING}
PLOT_WIDTH = 900
STATUS_WIDTH = 230
CHAR_PX = 7.2  # about one character of the 12 px font


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("cronlane.ui", "templates"),
        autoescape=select_autoescape(["html", "svg", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(status_colours=STATUS_COLOURS, kind_colours=KIND_COLOURS)
    env.filters["duration"] = timeline.duration_text
    return env


@dataclass(frozen=True)
class Geometry:
    """Where things go in the Gantt's SVG, in pixels."""

    label_width: float
    left: float  # where the plot starts
    top: float
    row: float
    width: float
    height: float

    def x(self, line: timeline.Timeline, at: float) -> float:
        return round(self.left + (at - line.start) / line.span * PLOT_WIDTH, 1)


def geometry(line: timeline.Timeline) -> Geometry:
    longest = max((len(r.job) for r in line.rows), default=8)
    label_width = min(max(longest * CHAR_PX + 16, 120), 420)
    row = 22 if len(line.rows) <= 60 else 18  # 200 jobs stay on a page a scroll long
    top = 64
    left = label_width + STATUS_WIDTH
    return Geometry(label_width, left, top, row, left + PLOT_WIDTH + 24, top + len(line.rows) * row + 16)


def _tip(row: timeline.Row, seg: timeline.Segment) -> str:
    when = f"{timeline.datetime.fromtimestamp(seg.start, tz=timeline.UTC):%H:%M:%S}"
    until = f"{timeline.datetime.fromtimestamp(seg.end, tz=timeline.UTC):%H:%M:%S}"
    what = seg.kind if seg.attempt is None else f"{seg.kind} (attempt {seg.attempt})"
    if seg.detail:
        what = f"{what}, {seg.detail}"
    text = f"{row.job}: {what}, {when} to {until} UTC, {timeline.duration_text(seg.seconds)}"
    return f"{text}; error: {seg.error}" if seg.error else text


def gantt_model(line: timeline.Timeline) -> dict[str, Any]:
    """What ``gantt.svg`` draws: rows with their segments placed, arrows as paths, ticks."""
    g = geometry(line)
    ys = {r.job: g.top + i * g.row for i, r in enumerate(line.rows)}
    rows = []
    for row in line.rows:
        y = ys[row.job]
        segments = []
        for seg in row.segments:
            x0, x1 = g.x(line, seg.start), g.x(line, seg.end)
            thin = seg.kind in THIN
            segments.append(
                {
                    "kind": seg.kind,
                    "attempt": seg.attempt,
                    "x": x0,
                    "width": max(round(x1 - x0, 1), 1.5),
                    "y": y + (g.row * 0.35 if thin else 3),
                    "height": g.row * 0.3 if thin else g.row - 6,
                    "colour": KIND_COLOURS[seg.kind],
                    "tip": _tip(row, seg),
                    "error": seg.error,
                }
            )
        why = row.reason or (row.error if row.status == "FAILED" else None) or ""
        room = int((STATUS_WIDTH - 12) / CHAR_PX) - len(row.status) - 1  # characters that fit
        fits = int((g.label_width - 16) / CHAR_PX)  # characters of a name the label column holds
        rows.append(
            {
                "job": row.job,
                "name": row.job if len(row.job) <= fits else row.job[: fits - 1] + "…",
                "status": row.status,
                "why": why,
                "why_short": why if len(why) <= room else why[: max(room - 1, 0)] + "…",
                "y": y,
                "text_y": y + g.row * 0.68,
                "segments": segments,
                "marker_x": g.x(line, row.ended_at) if row.ended_at is not None else None,
                "attempts": row.attempts,
                "target": row.target,
            }
        )
    arrows = []
    for arrow in line.arrows:
        x1, x2 = g.x(line, arrow.start), g.x(line, arrow.end)
        y1, y2 = ys[arrow.upstream] + g.row / 2, ys[arrow.dependent] + g.row / 2
        bend = max(x2 - 5, x1)  # down just before the dependent's start: never through a bar's text
        arrows.append(
            {"d": f"M{x1},{y1} H{bend} V{y2} H{max(x2, bend)}", "from": arrow.upstream, "to": arrow.dependent}
        )
    ticks = [{"x": g.x(line, t.at), "label": t.label} for t in line.ticks]
    legend: list[dict[str, Any]] = [{"kind": k, "colour": KIND_COLOURS[k]} for k in line.kinds()]
    legend += [
        {"kind": s.lower(), "colour": STATUS_COLOURS[s], "marker": True}
        for s in ("SKIPPED", "CANCELLED")
        if any(r.status == s and r.ended_at is not None for r in line.rows)
    ]
    return {"g": g, "rows": rows, "arrows": arrows, "ticks": ticks, "legend": legend, "line": line}


def gantt_svg(run: RunView, jobs: list[JobRunView], now: float) -> str:
    """The run's Gantt as one SVG document."""
    line = timeline.build(run, jobs, now)
    return environment().get_template("gantt.svg").render(**gantt_model(line))


def run_facts(run: RunView, jobs: list[JobRunView]) -> dict[str, Any]:
    """What the head of a run's page says: the run as ``cronlane run --json`` has it, and the
    counts from its job-runs."""
    from cronlane.model import run_summary

    return {**run_summary(run), "tally": timeline.tally(jobs, run.job_count)}


def gantt_page(run: RunView, jobs: list[JobRunView], now: float) -> str:
    """A self-contained HTML page of the run's Gantt (``cronlane run --gantt FILE.html``)."""
    return (
        environment()
        .get_template("gantt_page.html")
        .render(run=run_facts(run, jobs), svg=gantt_svg(run, jobs, now), css=stylesheet())
    )


@cache
def stylesheet() -> str:
    from importlib.resources import files

    return files("cronlane.ui").joinpath("static/ui.css").read_text()


def widget_html(schedules: list[Any], latest: Any, now: float) -> str:
    """The dashboard's custom widget: each schedule's grid, and the latest run's Gantt
    (``latest``: a ``cronlane.ui.source.RunPage``, or None)."""
    facts = run_facts(latest.run, latest.jobs) if latest is not None else None
    svg = gantt_svg(latest.run, latest.jobs, now) if latest is not None else ""
    return (
        environment()
        .get_template("widget.html")
        .render(
            schedules=schedules, latest=facts, svg=svg, css=stylesheet(), links=False, run_href=lambda *a: ""
        )
    )
