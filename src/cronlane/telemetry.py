"""Metrics: what the dispatcher and the executor report, in CloudWatch Embedded Metric Format.

``METRICS`` is the one list of metric names: the emitting code, the dashboard and the alarms in
``template.yaml`` all use these names, and a test checks the template against this list both
ways.

Each custom metric series is billed per metric-month, so the number of series must not grow with
the number of jobs. Every metric is emitted service-wide (dimension ``service`` only: what the
alarms watch); some also by ``Target`` (where a job ran: ``python``, ``lambda``, ``ecs`` or
``callback``, a fixed set). That is ``SERIES_BOUND`` series at most, whatever the app declares.
Per-job and per-schedule figures come from the logs (Logs Insights: each job's document carries
``job`` and ``schedule`` as plain fields) unless a job or schedule asks for its own series with
``metrics=True`` (``Job`` and ``Schedule`` dimensions, on the metrics listed for them here).

One EMF document per job and invocation at most: ``EmfTelemetry`` gathers what is emitted and
``flush`` writes one document for each job (and one for what belongs to none), with a
``CloudWatchMetrics`` directive per set of dimensions.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TextIO

# name -> (unit, dimensions besides the service-wide series): "Target" always (a fixed set of
# values), "Job" and "Schedule" only for the jobs and schedules declared with ``metrics=True``.
METRICS: dict[str, tuple[str, tuple[str, ...]]] = {
    "JobsSucceeded": ("Count", ("Target", "Job")),
    "JobsFailed": ("Count", ("Target", "Job")),
    "JobsRetried": ("Count", ("Job",)),
    "JobsSkipped": ("Count", ("Job",)),
    "JobsContinued": ("Count", ("Job",)),  # invocations that ended at a checkpoint
    "JobDuration": ("Seconds", ("Job",)),
    "JobTimeoutFraction": ("None", ("Job",)),
    "QueueWait": ("Seconds", ("Job",)),
    "HandoffLatency": ("Seconds", ("Job",)),
    "RunsSucceeded": ("Count", ("Schedule",)),
    "RunsFailed": ("Count", ("Schedule",)),
    "RunDuration": ("Seconds", ("Schedule",)),
    "RunsOverDeadline": ("Count", ("Schedule",)),
    "TicksRejected": ("Count", ()),
    "MissedRuns": ("Count", ("Schedule",)),
    "WatchdogIdle": ("Count", ()),  # a run's check that fired and found nothing to do
    "InfraRetries": ("Count", ()),  # a job message given back soon after an infrastructure error
    # handed-off jobs (ecs and callback targets): started, completed, given up for no news, and
    # completions that came for an attempt already given up (recorded, never counted)
    "JobsHandedOff": ("Count", ()),
    "Completions": ("Count", ()),
    "TargetsLost": ("Count", ()),
    "LateCompletions": ("Count", ()),
    "Heartbeats": ("Count", ()),
}
TARGET_KINDS = ("python", "lambda", "ecs", "callback")  # cronlane.targets' kinds: Target's values
SERVICE = "service"


def metric_series(targets: int = len(TARGET_KINDS), jobs: int = 0, schedules: int = 0) -> int:
    """How many distinct metric series (each billed per metric-month) ``METRICS`` creates with
    this many target kinds in use and this many jobs and schedules declared with ``metrics=True``."""
    values = {"Target": targets, "Job": jobs, "Schedule": schedules}
    return sum(1 + sum(values[d] for d in dimensions) for _, dimensions in METRICS.values())


SERIES_BOUND = metric_series()  # the most a stack creates when no job or schedule opts in

Series = tuple[str, tuple[tuple[str, str], ...]]  # metric name, (dimension, value) pairs


def series_of(document: dict[str, Any]) -> set[Series]:
    """The metric series one EMF document creates (CloudWatch bills each distinct one): a metric
    and the values of one dimension set of its directive."""
    found: set[Series] = set()
    for directive in document.get("_aws", {}).get("CloudWatchMetrics", []):
        for dimensions in directive.get("Dimensions", []):
            values = tuple(sorted((d, str(document.get(d))) for d in dimensions))
            found |= {(metric["Name"], values) for metric in directive.get("Metrics", [])}
    return found


class Telemetry(Protocol):
    def emit(
        self, name: str, value: float, *, job: str = "", schedule: str = "", target: str = ""
    ) -> None: ...

    def flush(self) -> None: ...


class NoTelemetry:
    """For tests and tools that do not report metrics."""

    def emit(self, name: str, value: float, *, job: str = "", schedule: str = "", target: str = "") -> None:
        return None

    def flush(self) -> None:
        return None


@dataclass(frozen=True)
class Detail:
    """The jobs and schedules declared with ``metrics=True``: they get series of their own."""

    jobs: frozenset[str] = frozenset()
    schedules: frozenset[str] = frozenset()


@dataclass
class _Document:
    job: str
    schedule: str = ""
    target: str = ""
    values: dict[str, list[float]] = field(default_factory=dict)

    def takes(self, job: str, schedule: str, target: str) -> bool:
        return (
            self.job == job
            and (not schedule or not self.schedule or self.schedule == schedule)
            and (not target or not self.target or self.target == target)
        )


class EmfTelemetry:
    """Gathers what the code emits during one invocation (or one job's message) and writes it,
    at ``flush``, as one EMF document per job to ``out`` (Lambda sends stdout to the logs).

    ``detail`` gives the jobs and schedules with series of their own; it is asked once, when a
    figure first needs it (the executor then loads the app's catalog)."""

    def __init__(
        self,
        namespace: str,
        service: str,
        detail: Callable[[], Detail] = Detail,
        out: TextIO | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.namespace = namespace
        self.service = service
        self._detail_of = detail
        self._detail: Detail | None = None
        self._out = out
        self._now = now
        self._pending: list[_Document] = []

    def emit(self, name: str, value: float, *, job: str = "", schedule: str = "", target: str = "") -> None:
        if name not in METRICS:
            raise KeyError(f"unknown metric {name!r}")
        document = next((d for d in self._pending if d.takes(job, schedule, target)), None)
        if document is None:
            document = _Document(job)
            self._pending.append(document)
        document.schedule = document.schedule or schedule
        document.target = document.target or target
        document.values.setdefault(name, []).append(float(value))

    def flush(self) -> None:
        pending, self._pending = self._pending, []
        if not pending:
            return
        out = self._out or sys.stdout
        for document in pending:
            out.write(json.dumps(self.document(document), separators=(",", ":")) + "\n")
        out.flush()

    def document(self, pending: _Document) -> dict[str, Any]:
        detail = self.detail()
        own = {
            "Target": bool(pending.target),
            "Job": pending.job in detail.jobs,
            "Schedule": pending.schedule in detail.schedules,
        }
        directives: dict[tuple[tuple[str, ...], ...], list[dict[str, str]]] = {}
        for name in pending.values:
            unit, dimensions = METRICS[name]
            sets = ((SERVICE,), *((SERVICE, d) for d in dimensions if own[d]))
            directives.setdefault(sets, []).append({"Name": name, "Unit": unit})
        body: dict[str, Any] = {
            "_aws": {
                "Timestamp": int(self._now() * 1000),
                "CloudWatchMetrics": [
                    {"Namespace": self.namespace, "Dimensions": [list(s) for s in sets], "Metrics": metrics}
                    for sets, metrics in directives.items()
                ],
            },
            SERVICE: self.service,
        }
        # plain fields for Logs Insights; the same values as dimensions where a directive names them
        for key, value in (("job", pending.job), ("schedule", pending.schedule)):
            if value:
                body[key] = value
        for dimension, value in (
            ("Target", pending.target),
            ("Job", pending.job),
            ("Schedule", pending.schedule),
        ):
            if own[dimension]:
                body[dimension] = value
        for name, values in pending.values.items():
            # counts add up (the dashboards and alarms sum them); other figures keep each value
            if METRICS[name][0] == "Count":
                body[name] = sum(values)
            else:
                body[name] = values[0] if len(values) == 1 else values
        return body

    def detail(self) -> Detail:
        if self._detail is None:
            self._detail = self._detail_of()
        return self._detail
