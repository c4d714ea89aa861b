"""Human output: rich tables of runs and jobs.

Text that comes from a user or a job (an error, a reason, a path) is always a ``rich.text.Text``,
never markup: an error that contains ``[/bold]``, ``:warning:`` or a trailing backslash is shown as
it is. Only cronlane's own labels are styled.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from cronlane.timeline import tally

if TYPE_CHECKING:
    from cronlane.local.session import RunReport

STATUS_STYLE = {
    "SUCCEEDED": "green",
    "FAILED": "red",
    "SKIPPED": "yellow",
    "RUNNING": "cyan",
    "QUEUED": "blue",
    "PENDING": "dim",
    "CREATING": "dim",
    "CANCELLED": "magenta",
}


def styled(status: str) -> Text:
    return Text(status, style=STATUS_STYLE.get(status, ""))


def console() -> Console:
    """A console that never reads emoji codes in what it prints, wide enough off a terminal."""
    plain = Console(emoji=False)
    return plain if plain.is_terminal else Console(emoji=False, width=150)


def _time(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%H:%M:%S") if ts else "-"


def _span(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def print_run(report: RunReport, log_dir: Path, clock: str, time_scale: float) -> None:
    out = console()
    run = report.run
    table = Table(title=Text(run.run_id))
    continued = any(j.continuations for j in report.jobs)
    elsewhere = any(j.target != "python" for j in report.jobs)
    columns = ["job", "depends on", "status", "attempts", "started", "finished", "duration"]
    if continued:
        columns.insert(4, "continued")
    if elsewhere:  # jobs that ran on a target: where, and their handle there (shortened)
        columns.insert(3, "runs on")
    if report.results:  # what the jobs returned (``--json`` has it whole)
        columns.append("result")
    for column in columns:
        table.add_column(
            column,
            justify="right" if column in ("attempts", "continued", "duration") else "left",
            no_wrap=column in ("job", "result"),
            max_width=36 if column == "result" else None,
            overflow="ellipsis",
        )
    jobs = sorted(report.jobs, key=lambda j: (j.started_at or float("inf"), j.job))
    for job in jobs:
        status = styled(job.status.value)
        if job.reason:
            status.append(f" ({job.reason})")
        cells: list[str | Text] = [
            job.job,
            ", ".join(job.depends_on) or "-",
            status,
            str(job.attempts),
            _time(job.started_at),
            _time(job.finished_at),
            _span(job.duration_s) if job.duration_s is not None else "-",
        ]
        if continued:
            cells.insert(4, f"{len(job.continuations)}x" if job.continuations else "-")
        if elsewhere:
            cells.insert(3, runs_on(job.target, job.handle))
        if report.results:
            cells.append(result_line(report.results[job.job], 40) if job.job in report.results else "-")
        table.add_row(*cells)
    out.print(table)
    for job in jobs:
        if job.error and job.status.value != "SUCCEEDED":
            out.print(Text.assemble((job.job, "red"), ": ", job.error))
    work = sum(j.duration_s or 0.0 for j in report.jobs if j.status.value == "SUCCEEDED")
    out.print(
        Text.assemble(
            "run ",
            (run.run_id, "bold"),
            ": ",
            styled(run.status.value),
            f" - {tally(report.jobs, run.job_count)}",
        )
    )
    clock_note = "virtual clock" if clock == "virtual" else f"real clock x{1 / time_scale:g}"
    wall = f"{clock_note}; {report.wall_seconds or 0:.1f}s of wall time"
    if report.makespan_s and work >= report.makespan_s:  # jobs ran side by side: say what it saved
        out.print(
            f"makespan {_span(report.makespan_s)} against {_span(work)} of job time back to back "
            f"(the inline daemon): {work / report.makespan_s:.1f}x faster ({wall})"
        )
    elif report.makespan_s:  # a run too short or too serial for the comparison to mean anything
        out.print(f"makespan {_span(report.makespan_s)} for {_span(work)} of job time ({wall})")
    out.print(Text(f"logs: {log_dir}/ (one file per Lambda environment)"))


def memory_line(used: Mapping[str, int], sizes: Mapping[str, int], killed: Mapping[str, int]) -> Text:
    """The most memory each function's environments used (Lambda's Max Memory Used) against its
    ``MemorySize``, and those killed for going above it: what to size a function's memory by."""
    line = Text("memory used at most: " + ("" if used else "-"))
    for i, (name, mb) in enumerate(sorted(used.items())):
        size = sizes.get(name)
        line.append(f"{', ' if i else ''}{name} {mb} of {size if size is not None else '?'} MB")
        if size is not None and mb > size and not killed.get(name):  # a spike between the watch's looks
            line.append(" (above its MemorySize: Lambda would kill it)", style="red")
    for name, n in sorted(killed.items()):
        line.append(
            f"; {n} {name} environment{'s' if n > 1 else ''} killed for using more than its "
            f"{sizes.get(name, '?')} MB (raise its MemorySize)",
            style="red",
        )
    return line


def runs_on(target: str, handle: str | None) -> str:
    """``ecs 8c939ba4``: the target and the short form of its handle (a task ARN's id, a token's
    id, a request id), or ``-`` for a job in the executor."""
    if target == "python":
        return "-"
    if not handle:
        return target
    short = handle.rsplit("/", 1)[-1].removeprefix("tok-")[:8]
    return f"{target} {short}"


def continuation_line(step: dict[str, Any]) -> str:
    """One invocation that ended at a checkpoint, e.g. ``continuation 1 (attempt 1)
    02:04:00 -> 02:15:00, 11m 00s, 27% done``."""
    start, end = (str(step.get(k) or "-")[11:19] for k in ("started_at", "finished_at"))
    text = f"continuation {step.get('continuation')} (attempt {step.get('attempt')}) {start} -> {end}"
    if step.get("duration_s") is not None:
        text += f", {_span(float(step['duration_s']))}"
    if step.get("progress") is not None:
        text += f", {float(step['progress']):.0%} done"
    return text


def result_line(result: object, limit: int = 120) -> str:
    """A job's result on one line (``run --json`` has it whole): an object's numbers first, as
    ``name=value``, then its other fields; anything else as JSON."""
    import json

    if isinstance(result, dict):
        numbers = [k for k, v in result.items() if isinstance(v, int | float) and not isinstance(v, bool)]
        rest = sorted(k for k in result if k not in numbers)
        text = " ".join(f"{k}={json.dumps(result[k])}" for k in [*sorted(numbers), *rest])
    else:
        text = json.dumps(result, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def params_line(params: dict[str, Any]) -> str:
    """``{job: {key: value}}`` as ``job.key=value ...``."""
    import json

    return " ".join(
        f"{job}.{k}={json.dumps(v)}"
        for job, values in sorted(params.items())
        for k, v in sorted(values.items())
    )


def print_runs(rows: list[dict[str, object]], where: str) -> None:
    out = console()
    table = Table(title=Text(f"runs on {where}"))
    for column in ("run", "status", "scheduled", "jobs", "ok", "failed", "skipped", "finished"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            str(row["run_id"]),
            styled(str(row["status"])),
            str(row["scheduled_time"]),
            str(row["job_count"]),
            "-" if row["succeeded"] is None else str(row["succeeded"]),
            str(row["failed"]),
            str(row["skipped"]),
            str(row["finished_at"] or "-"),
        )
    out.print(table)


def print_run_tree(report: RunReport) -> None:
    """The run's jobs as a tree: each job under its first upstream, by start time."""
    from rich.tree import Tree

    out = console()
    run = report.run
    root = Tree(Text.assemble((run.run_id, "bold"), " ", styled(run.status.value)))
    by_name = {j.job: j for j in report.jobs}
    nodes: dict[str, Tree] = {}

    def label(name: str) -> Text:
        job = by_name[name]
        text = Text.assemble(f"{name} ", styled(job.status.value), f" attempts {job.attempts}")
        if job.continuations:
            text.append(f", continued {len(job.continuations)}x")
        if job.duration_s is not None:
            text.append(f" {_span(job.duration_s)}")
        if job.target != "python":  # where it ran, and its handle there
            text.append(f" [{job.target}{' ' + job.handle if job.handle else ''}]")
        if len(job.depends_on) > 1:
            text.append(f" (after {', '.join(job.depends_on)})")
        if job.reason:
            text.append(f" - {job.reason}")
        if job.error and job.status.value != "SUCCEEDED":
            text.append(" - ").append(job.error[:160], style="red")
        if name in report.results:
            text.append(" -> ").append(result_line(report.results[name]), style="cyan")
        return text

    from cronlane.graph import resolve

    # Upstreams before dependents, so each job finds the node of its first upstream.
    plan = resolve({j.job: j.depends_on for j in report.jobs}, by_name)
    for name in plan.order:
        job = by_name[name]
        parent = nodes.get(job.depends_on[0]) if job.depends_on else None
        nodes[name] = (parent or root).add(label(name))
        for step in job.continuations:
            nodes[name].add(Text(continuation_line(step), style="dim"))
    out.print(root)
    out.print(Text(tally(report.jobs, run.job_count)))
    if run.parameters:
        out.print(Text(f"parameters: {params_line(run.parameters)}"))
    for override in run.overrides:  # reruns with new parameters
        when, changed = _time(override.get("at")), params_line(override.get("params") or {})
        out.print(Text(f"{override.get('action', 'rerun')} at {when} with {changed}"))
