"""Metrics: what the dispatcher and the executor report, in CloudWatch Embedded Metric Format.

``METRICS`` is the one list of metric names: the emitting code, the dashboard and the alarms in
``template.yaml`` all use these names, and a test checks the template against this list both
ways. Dimensions are ``Job`` (about as many values as there are jobs), ``Schedule`` or ``Target``
(where a job ran: ``python``, ``lambda``, ``ecs`` or ``callback``); metrics that an alarm watches
as a whole are also emitted with no dimension but the service, so one alarm covers every job
without listing them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

# name -> (unit, dimension sets). "" in a dimension set means "no dimension but the service".
METRICS: dict[str, tuple[str, tuple[str, ...]]] = {
    "JobsSucceeded": ("Count", ("Job", "", "Target")),
    "JobsFailed": ("Count", ("Job", "", "Target")),
    "JobsRetried": ("Count", ("Job",)),
    "JobsSkipped": ("Count", ("Job",)),
    "JobsContinued": ("Count", ("Job",)),  # invocations that ended at a checkpoint
    "JobDuration": ("Seconds", ("Job",)),
    "JobTimeoutFraction": ("None", ("Job", "")),
    "QueueWait": ("Seconds", ("Job",)),
    "HandoffLatency": ("Seconds", ("Job", "")),
    "RunsSucceeded": ("Count", ("Schedule",)),
    "RunsFailed": ("Count", ("Schedule", "")),
    "RunDuration": ("Seconds", ("Schedule",)),
    "RunsOverDeadline": ("Count", ("Schedule", "")),
    "TicksRejected": ("Count", ("",)),
    "MissedRuns": ("Count", ("Schedule", "")),
    "WatchdogIdle": ("Count", ("",)),  # a run's check that fired and found nothing to do
    "InfraRetries": ("Count", ("",)),  # a job message given back soon after an infrastructure error
    # handed-off jobs (ecs and callback targets): started, completed, given up for no news, and
    # completions that came for an attempt already given up (recorded, never counted)
    "JobsHandedOff": ("Count", ("Target",)),
    "Completions": ("Count", ("Target",)),
    "TargetsLost": ("Count", ("Target", "")),
    "LateCompletions": ("Count", ("Target", "")),
    "Heartbeats": ("Count", ("",)),
}


def metric_series(jobs: int, schedules: int, targets: int) -> int:
    """How many distinct metric series (each one billed per metric-month) a stack with this many
    jobs, schedules and job targets in use creates with ``METRICS``: one per metric and value of
    its dimension, one for each service-wide series."""
    values = {"": 1, "Job": jobs, "Schedule": schedules, "Target": targets}
    return sum(values[dimension] for _, dimensions in METRICS.values() for dimension in dimensions)


class Telemetry(Protocol):
    def emit(
        self, name: str, value: float, *, job: str = "", schedule: str = "", target: str = ""
    ) -> None: ...


class NoTelemetry:
    """For tests and tools that do not report metrics."""

    def emit(self, name: str, value: float, *, job: str = "", schedule: str = "", target: str = "") -> None:
        return None


class EmfTelemetry:
    """Powertools Metrics, one EMF document per metric and dimension set (``single_metric``), so
    a per-job value never carries another job's dimension."""

    def __init__(self, namespace: str, service: str) -> None:
        self.namespace = namespace
        self.service = service

    def emit(self, name: str, value: float, *, job: str = "", schedule: str = "", target: str = "") -> None:
        unit, dimension_sets = METRICS[name]
        values = {"Job": job, "Schedule": schedule, "Target": target}
        for dimension in dimension_sets:
            if dimension and not values[dimension]:
                continue
            with self._metric(name, unit, value) as metric:
                if dimension:
                    metric.add_dimension(name=dimension, value=values[dimension])

    @contextmanager
    def _metric(self, name: str, unit: str, value: float) -> Iterator[Any]:
        from aws_lambda_powertools.metrics import MetricUnit, single_metric

        with single_metric(
            name=name,
            unit=MetricUnit(unit),
            value=value,
            namespace=self.namespace,
            default_dimensions={"service": self.service},
        ) as metric:
            yield metric
