"""``cronlane run RUN_ID --gantt FILE``: a timeline of a run as a self-contained HTML page (SVG):
a bar per job from its start to its end, coloured by status, and a line from each upstream's end
to its dependent's start."""

from __future__ import annotations

import html
from datetime import UTC, datetime

from cronlane.cli.render import tally
from cronlane.model import JobRunView, RunView

COLOURS = {
    "SUCCEEDED": "#2e7d32",
    "FAILED": "#c62828",
    "SKIPPED": "#f9a825",
    "RUNNING": "#0277bd",
    "QUEUED": "#5c6bc0",
    "PENDING": "#9e9e9e",
    "CANCELLED": "#8e24aa",
}
ROW, LEFT, WIDTH = 26, 240, 900


def render(run: RunView, jobs: list[JobRunView]) -> str:
    timed = [j for j in jobs if j.started_at]
    starts = [j.started_at for j in timed if j.started_at is not None]
    start = min(starts, default=run.scheduled_time)
    end = max((j.finished_at or j.started_at or start for j in timed), default=start + 1)
    span = max(end - start, 1.0)
    order = sorted(jobs, key=lambda j: (j.started_at or float("inf"), j.job))
    row_of = {j.job: i for i, j in enumerate(order)}

    def x(ts: float) -> float:
        return LEFT + (ts - start) / span * WIDTH

    parts: list[str] = []
    for job in order:
        y = 30 + row_of[job.job] * ROW
        colour = COLOURS.get(job.status.value, "#9e9e9e")
        label = html.escape(job.job)
        parts.append(f'<text x="{LEFT - 8}" y="{y + 15}" text-anchor="end">{label}</text>')
        if job.started_at:
            x0, x1 = x(job.started_at), x(job.finished_at or end)
            tip = html.escape(
                f"{job.job}: {job.status.value}, attempts {job.attempts}, "
                f"{(job.duration_s or 0):.0f}s{' - ' + job.error if job.error else ''}"
            )
            parts.append(
                f'<rect class="bar" data-job="{label}" data-status="{job.status.value}" x="{x0:.1f}" '
                f'y="{y + 3}" width="{max(x1 - x0, 2):.1f}" height="{ROW - 8}" fill="{colour}">'
                f"<title>{tip}</title></rect>"
            )
        else:
            parts.append(
                f'<text class="bar" data-job="{label}" data-status="{job.status.value}" x="{LEFT + 4}" '
                f'y="{y + 15}" fill="{colour}">{job.status.value} {html.escape(job.reason or "")}</text>'
            )
        for upstream in job.depends_on:
            up = next((u for u in jobs if u.job == upstream), None)
            if up and up.finished_at and job.started_at:
                y_up = 30 + row_of[upstream] * ROW + ROW / 2
                parts.append(
                    f'<line class="dep" x1="{x(up.finished_at):.1f}" y1="{y_up:.1f}" '
                    f'x2="{x(job.started_at):.1f}" y2="{y + ROW / 2:.1f}" />'
                )
    height = 60 + len(order) * ROW
    when = datetime.fromtimestamp(start, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    title = html.escape(f"{run.run_id} - {run.status.value}")
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font:13px sans-serif}} line.dep{{stroke:#555;stroke-width:1;marker-end:url(#arrow)}}</style>
</head><body>
<h2>{title}</h2>
<p>started {when}; {span / 60:.1f} min; {html.escape(tally(jobs, run.job_count))}</p>
<svg width="{LEFT + WIDTH + 40}" height="{height}" xmlns="http://www.w3.org/2000/svg">
<defs><marker id="arrow" markerWidth="6" markerHeight="6" refX="6" refY="3" orient="auto">
<path d="M0,0 L6,3 L0,6 z" fill="#555"/></marker></defs>
{chr(10).join(parts)}
</svg></body></html>
"""
