"""A job's log lines (``cronlane logs``, and the job panel of ``cronlane ui``): what the executor and
the job's own code logged for one job-run, found by the keys every line of it carries (``run_id``,
``job``, ``attempt``: the executor appends them while it runs the job, and ``ctx.log`` is that
logger).

Two places hold them: on AWS the executor's log group, read with a Logs Insights query by run
and job (``insights_query``, run by ``cronlane.cli.logs``); on the twin the functions' log files
in the twin's log folder (``read_files``), whose times are the run's clock (the twin's
environments stamp their records with it: ``cronlane.local.environment``). A line from a
``lambda``, ``ecs`` or ``callback`` target's own code is in that target's logs, not here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cronlane.clock import iso

MAX_LINES = 10_000  # Logs Insights returns at most this many rows a query


@dataclass(frozen=True)
class LogLine:
    at: float
    level: str
    message: str
    attempt: int | None
    record: dict[str, Any]  # the whole structured record

    def to_json(self) -> dict[str, Any]:
        return {
            "at": iso(self.at),
            "job": self.record.get("job"),
            "attempt": self.attempt,
            "level": self.level,
            "message": self.message,
        }

    def text(self) -> str:
        extra = {
            k: v for k, v in self.record.items() if k not in SHOWN_ELSEWHERE and v not in (None, "", [], {})
        }
        tail = f"  {json.dumps(extra, default=str, sort_keys=True)}" if extra else ""
        attempt = f"attempt {self.attempt}" if self.attempt is not None else "-"
        return f"{iso(self.at)}  {self.level:<7} {attempt:<10} {self.message}{tail}"


# keys every line has, or that say where it came from rather than what happened
SHOWN_ELSEWHERE = {
    "level", "location", "message", "timestamp", "service", "run_id", "job", "attempt", "schedule",
    "generation", "cold_start", "function_name", "function_memory_size", "function_arn",
    "function_request_id", "xray_trace_id", "sampling_rate",
}  # fmt: skip


def _when(record: dict[str, Any]) -> float | None:
    """A Powertools record's ``timestamp`` (``2026-12-01 02:00:00,123+0000``), as epoch seconds."""
    text = record.get("timestamp")
    if not isinstance(text, str):
        return None
    for form in ("%Y-%m-%d %H:%M:%S,%f%z", "%Y-%m-%dT%H:%M:%S.%f%z"):
        try:
            return datetime.strptime(text, form).timestamp()
        except ValueError:
            continue
    return None


def line_of(record: dict[str, Any], at: float | None = None) -> LogLine | None:
    """One structured record as a line (None if it has no time)."""
    when = at if at is not None else _when(record)
    if when is None:
        return None
    attempt = record.get("attempt")
    return LogLine(
        at=when,
        level=str(record.get("level") or "INFO"),
        message=str(record.get("message") or ""),
        attempt=attempt if isinstance(attempt, int) else None,
        record=record,
    )


def matches(record: dict[str, Any], run_id: str, job: str | None, attempt: int | None) -> bool:
    return (
        record.get("run_id") == run_id
        and (job is None or record.get("job") == job)
        and (attempt is None or record.get("attempt") == attempt)
    )


def read_records(lines: Iterable[str], run_id: str, job: str | None, attempt: int | None) -> list[LogLine]:
    found = []
    for text in lines:
        if not text.startswith("{") or run_id not in text:
            continue
        try:
            record = json.loads(text)
        except ValueError:
            continue
        if isinstance(record, dict) and matches(record, run_id, job, attempt):
            line = line_of(record)
            if line is not None:
                found.append(line)
    return found


def read_files(
    folder: Path, run_id: str, job: str | None = None, attempt: int | None = None
) -> list[LogLine]:
    """The lines of ``run_id`` (of one job, of one attempt) in the twin's log files, in time
    order (a line's order in its file breaks ties)."""
    found: list[LogLine] = []
    for path in sorted(folder.glob("*.log")):
        try:
            with path.open(errors="replace") as handle:
                found += read_records(handle, run_id, job, attempt)
        except OSError:
            continue
    return sorted(found, key=lambda line: line.at)


def _quoted(value: str) -> str:
    return json.dumps(value)  # a Logs Insights string literal is a JSON-style quoted string


def insights_query(run_id: str, job: str | None, attempt: int | None) -> str:
    """The Logs Insights query of one job-run's lines, oldest first."""
    where = [f"run_id = {_quoted(run_id)}"]
    if job is not None:
        where.append(f"job = {_quoted(job)}")
    if attempt is not None:
        where.append(f"attempt = {int(attempt)}")
    return (
        "fields @timestamp, @message | filter "
        + " and ".join(where)
        + f" | sort @timestamp asc | limit {MAX_LINES}"
    )


def from_insights(rows: list[list[dict[str, str]]]) -> list[LogLine]:
    """The rows of ``GetQueryResults`` as lines (``@message`` is the structured record)."""
    found = []
    for row in rows:
        fields = {f.get("field"): f.get("value") for f in row}
        try:
            record = json.loads(fields.get("@message") or "")
        except ValueError:
            continue
        if not isinstance(record, dict):
            continue
        at = None
        stamp = fields.get("@timestamp")
        if stamp:  # "2026-12-01 02:00:00.123", UTC
            try:
                at = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC).timestamp()
            except ValueError:
                at = None
        line = line_of(record, at if at is not None else _when(record))
        if line is not None:
            found.append(line)
    return found
