"""``cronlane logs RUN [JOB] [--attempt N] [--follow]``: a job-run's log lines (``cronlane.joblogs``),
from the stack's executor log group through Logs Insights, or from the twin's log files."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cronlane.cli.common import (
    DEFAULT_PORT,
    JsonOption,
    LocalOption,
    PortOption,
    StackOption,
    emit,
    fail,
    target_of,
)
from cronlane.joblogs import LogLine, from_insights, insights_query, read_files

if TYPE_CHECKING:
    from collections.abc import Callable

    from cronlane.cli.target import Target
    from cronlane.model import RunView
    from cronlane.ports import RunStore

QUERY_WAIT_S = 60.0  # a Logs Insights query that takes longer is given up
SLACK_S = 120.0  # the query's window reaches this far before the run and after its end


class LogsUnavailable(Exception):
    """The logs cannot be read (no log folder, a failed query): one line."""


def read_job_logs(target: Target, run: RunView, job: str | None, attempt: int | None) -> list[LogLine]:
    """The lines of ``run`` (one job, one attempt), oldest first: the twin's files, or Logs
    Insights over the executor's log group."""
    from cronlane.cli.target import LOCAL_STACK
    from cronlane.local.stack import TWIN_LOGS_TAG

    folder = target.tags.get(TWIN_LOGS_TAG) if target.stack == LOCAL_STACK else None
    if target.stack == LOCAL_STACK:
        if folder is None:
            raise LogsUnavailable(
                f"{target.description} names no log folder (start it with `cronlane local up`)"
            )
        if not Path(folder).is_dir():
            raise LogsUnavailable(f"the twin's log folder {folder} is gone")
        return read_files(Path(folder), run.run_id, job, attempt)
    return _insights(target, run, job, attempt)


def _insights(target: Target, run: RunView, job: str | None, attempt: int | None) -> list[LogLine]:
    from botocore.exceptions import BotoCoreError, ClientError

    group = f"/aws/lambda/{target.outputs['ExecutorFunctionName']}"
    begin = (run.created_at or run.scheduled_time) - SLACK_S
    end = (run.finished_at or time.time()) + SLACK_S
    logs = target.client("logs")
    try:
        query = logs.start_query(
            logGroupName=group,
            startTime=int(begin),
            endTime=int(end) + 1,
            queryString=insights_query(run.run_id, job, attempt),
        )["queryId"]
        waited = 0.0
        while True:
            answer = logs.get_query_results(queryId=query)
            if answer["status"] in ("Complete", "Failed", "Cancelled", "Timeout"):
                break
            if waited > QUERY_WAIT_S:
                with contextlib.suppress(BotoCoreError, ClientError):
                    logs.stop_query(queryId=query)  # not left running (and billed) for nothing
                raise LogsUnavailable(f"the Logs Insights query on {group} took over {QUERY_WAIT_S:.0f}s")
            time.sleep(0.5)
            waited += 0.5
    except (BotoCoreError, ClientError) as exc:
        raise LogsUnavailable(f"{target.description}: reading {group} failed: {exc}") from None
    if answer["status"] != "Complete":
        raise LogsUnavailable(f"the Logs Insights query on {group} ended {answer['status']}")
    return from_insights(answer.get("results", []))


def logs_command(
    run_id: Annotated[str, typer.Argument(help="The run, e.g. nightly@2026-11-28T02:00:00Z.")],
    job: Annotated[str | None, typer.Argument(help="One of its jobs (default: every job).")] = None,
    attempt: Annotated[int | None, typer.Option(min=1, help="Only this attempt's lines.")] = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines until the job-run (or run) ends.")
    ] = False,
    as_json: JsonOption = False,
    stack: StackOption = None,
    local: LocalOption = False,
    port: PortOption = DEFAULT_PORT,
) -> None:
    """A job's log lines, oldest first, with times in the run's clock: what the executor and the
    job's own code (``ctx.log``) logged for it."""
    from cronlane.errors import CronlaneError

    if follow and as_json:
        fail("--follow prints lines as they come; --json prints them once: choose one")
    target = target_of(stack, local, port)
    store = target.store()
    try:
        run = store.get_run(run_id)
        if run is None:
            fail(f"no run {run_id} in {target.description} (see `cronlane runs`)")
        names = [j.job for j in store.job_runs(run_id)]
    except CronlaneError as exc:
        fail(f"{target.description}: {exc}")
    if job is not None and job not in names:
        fail(f"run {run_id} has no job '{job}' (its jobs: {', '.join(sorted(names))})")

    def lines() -> list[LogLine]:
        try:
            return read_job_logs(target, run, job, attempt)
        except LogsUnavailable as exc:
            fail(str(exc))

    if not follow:
        found = lines()

        def human() -> None:
            if not found:
                typer.echo(
                    f"no log lines for {job or 'the jobs'} of {run_id}"
                    + (f", attempt {attempt}" if attempt else ""),
                    err=True,
                )
            for line in found:
                typer.echo(line.text() if job else f"{line.record.get('job', '-')}  {line.text()}")

        emit({"run_id": run_id, "job": job, "lines": [ln.to_json() for ln in found]}, as_json, human)
        return
    _follow(target, run_id, job, lines)


def _follow(target: Target, run_id: str, job: str | None, read: Callable[[], list[LogLine]]) -> None:
    """Print lines as they come, until the job-run (or the run) has ended and its last lines are
    out: a line is printed once (a late one with an earlier time too), and the reads go on for a
    grace period after the end, as CloudWatch takes seconds to have a line."""
    store = target.store()
    shown: set[tuple[float, str, int | None, str]] = set()
    local = target.endpoint is not None
    pause = 1.0 if local else 5.0  # Logs Insights is billed by the data scanned
    grace = 2.0 if local else 30.0
    ended_at: float | None = None
    while True:
        if ended_at is None and _ended(store, run_id, job):
            ended_at = time.monotonic()
        for line in read():
            key = (line.at, line.message, line.attempt, str(line.record.get("job")))
            if key not in shown:
                shown.add(key)
                typer.echo(line.text() if job else f"{line.record.get('job', '-')}  {line.text()}")
        if ended_at is not None and time.monotonic() - ended_at >= grace:
            return
        time.sleep(pause)


def _ended(store: RunStore, run_id: str, job: str | None) -> bool:
    if job is None:
        run = store.get_run(run_id)
        return run is None or run.status.terminal
    view = store.get_job_run(run_id, job)
    return view is None or view.status.terminal
