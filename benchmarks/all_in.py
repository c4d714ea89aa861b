"""The all-in bill: what a deployed stack costs per job, beside the orchestration requests
(``benchmarks.billing``), and the same for Step Functions.

cronlane, per million jobs, from one measured run (``benchmarks.cost.measure``):

- **orchestration**: the run's requests, billed by ``billing.Bill`` (``cost_per_million_jobs``);
- **Lambda init**: every environment the run started (a cold start), billed for its init time
  (Lambda bills the init phase) at the function's memory; the init time is the cold-start
  benchmark's, as shipped;
- **logs**: the bytes each function wrote (its log files on the twin), plus Lambda's own
  ``INIT_START``/``START``/``END``/``REPORT`` lines per environment and invocation, ingested at
  $0.50 per GB and stored (uncompressed: an upper bound) for the log groups' retention;
- **DynamoDB storage**: the bytes the table holds after the run (items and index entries, each
  with DynamoDB's 100 bytes of overhead), kept until TTL removes them (``HistoryRetentionDays``),
  at $0.25 per GB-month, and point-in-time recovery's $0.20 on the same size when it is on;
- **X-Ray**: nothing at the template's default (``TracingMode`` ``PassThrough``: no invocation is
  sampled); with ``Active`` Lambda samples the first invocation each second and 5% of the rest,
  per function, at $5 per million traces (``xray_active``, beside);
- **fixed monthly costs**, spread over ``JOBS_PER_MONTH``: the distinct metric series the run's
  EMF documents created ($0.30 per metric-month), the alarms' metrics ($0.10 each), the
  dashboards ($3 each), the event source mapping's empty polls; and the schedule's tick
  (EventBridge Scheduler, $1 per million), once per run.

Step Functions, for the same graph: Standard's transitions (``billing.PRICE``, as ``sfn_ratio``),
each job's Lambda invocation (the Task state's; its own compute is the job's, as with cronlane),
Lambda's lines for it, its logging (``ERROR``: a run that succeeds logs nothing, its history is
kept by Step Functions), and the same alarms and dashboard; its own metrics are free. The variant
is a Distributed Map per dependency level, whose items are batched into Express child workflows
(each runs its batch in an inline Map): a transition per child in the parent, and per child an
Express request and its duration in 64 MB; Express keeps no history, so its logging is ``ALL``.
What it gives up is in ``EXPRESS_GIVES_UP``.

Not counted: Logs Insights queries (billed per GB scanned, when someone looks), the free tier,
CloudWatch's hourly proration of a series that is not written all month (both make the fixed
costs smaller), and KMS requests for the table's AWS-managed key (DynamoDB caches its data keys:
a few requests an hour).

The Step Functions log events are built in the shape Step Functions writes them (without
execution data) and their bytes counted; they are an estimate, as the Lambda lines are."""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from benchmarks.billing import MEMORY_GB, PRICE, esm_polling_per_month
from cronlane.telemetry import SERIES_BOUND

JOBS_PER_MONTH = 30_000_000  # the volume the fixed monthly costs are spread over
SECONDS_PER_MONTH = 30 * 86_400
GB = 1e9
EXPRESS_MEMORY_GB = 0.0625  # an Express execution is billed in 64 MB chunks; a small state is one
EXPRESS_MIN_S = 0.1  # and for 100 ms at least
EXPRESS_BATCH = 40  # jobs per Express child (the inline Map's concurrency limit: they run at once)
LAMBDA_INVOKE_S = 0.03  # a synchronous invocation's round trip, which an Express child waits for
XRAY_RESERVOIR_PER_S, XRAY_RATE = 1.0, 0.05  # Lambda's fixed sampling with Active tracing
EXPRESS_GIVES_UP = (
    "an Express workflow runs 5 minutes at most: the example's 6-minute jobs and its 40-minute ECS "
    "task cannot run in one, and a child runs as long as its slowest job",
    "Express runs at least once: a child (a batch of jobs) may run twice",
    "no execution history: what ran is only in the ALL-level logs (billed here)",
    "a batch fails and retries as one child, and waits for its slowest job",
    "no .sync or callback (waitForTaskToken) integrations: an ECS task or an external worker "
    "cannot be waited for",
)


def platform_lines(request_id: str, duration_ms: float, memory_mb: int, init_ms: float | None) -> list[str]:
    """Lambda's own lines for one invocation in its text log format (``init_ms`` on the first
    invocation of an environment, which also writes ``INIT_START``)."""
    billed = max(1, math.ceil(duration_ms))
    report = (
        f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\tBilled Duration: {billed} ms\t"
        f"Memory Size: {memory_mb} MB\tMax Memory Used: {min(memory_mb, 120)} MB\t"
    )
    lines = [f"START RequestId: {request_id} Version: $LATEST", f"END RequestId: {request_id}"]
    if init_ms is not None:
        report += f"Init Duration: {init_ms:.2f} ms\t"
        lines.insert(
            0,
            "INIT_START Runtime Version: python:3.13.v40\tRuntime Version ARN: "
            f"arn:aws:lambda:us-east-1::runtime:{'0' * 64}",
        )
    return [*lines, report]


def line_bytes(lines: Iterable[str]) -> int:
    return sum(len(line.encode()) + 1 for line in lines)


def log_dollars(size: float, retention_days: int) -> float:
    """Ingesting ``size`` bytes and keeping them for the retention (billed per GB-month)."""
    months = retention_days / 30
    return size / GB * (PRICE["log_ingest_gb"] + PRICE["log_storage_gb_month"] * months)


def _properties(template: Mapping[str, Any], kind: str) -> list[dict[str, Any]]:
    """The properties of each of the template's resources of type ``kind``."""
    resources = template.get("Resources", {}).values()
    return [r.get("Properties", {}) for r in resources if isinstance(r, dict) and r.get("Type") == kind]


def alarm_metrics(template: Mapping[str, Any]) -> int:
    """The metrics the template's alarms watch (each billed per month; math on two metrics is two)."""
    return sum(
        1 if "MetricName" in props else sum("MetricStat" in m for m in props.get("Metrics", []))
        for props in _properties(template, "AWS::CloudWatch::Alarm")
    )


def dashboards(template: Mapping[str, Any]) -> int:
    return len(_properties(template, "AWS::CloudWatch::Dashboard"))


def retention_days(template: Mapping[str, Any], parameter: str = "LogRetentionDays") -> int:
    """A retention parameter's default (the log groups', or the table's ``HistoryRetentionDays``)."""
    return int(template.get("Parameters", {}).get(parameter, {}).get("Default", 30))


def storage_dollars(size: float, template: Mapping[str, Any]) -> float:
    """Keeping ``size`` bytes in the table until TTL removes them (deletes by TTL are free), with
    point-in-time recovery on the same size when the table has it."""
    table = next(iter(_properties(template, "AWS::DynamoDB::Table")), {})
    recovery = table.get("PointInTimeRecoverySpecification", {})
    price = PRICE["dynamodb_storage_gb_month"]
    if recovery.get("PointInTimeRecoveryEnabled") in (True, "true"):
        price += PRICE["dynamodb_pitr_gb_month"]
    return size / GB * price * retention_days(template, "HistoryRetentionDays") / 30


def tracing_mode(template: Mapping[str, Any]) -> str:
    """The functions' X-Ray mode as deployed with the template's defaults."""
    mode = template.get("Globals", {}).get("Function", {}).get("Tracing", "PassThrough")
    if isinstance(mode, dict) and "Ref" in mode:
        mode = template.get("Parameters", {}).get(mode["Ref"], {}).get("Default", "PassThrough")
    return str(mode)


def xray_traces(per_second: float) -> float:
    """Traces a second Lambda records with Active tracing for ``per_second`` invocations a
    second of one function, arriving evenly (bursts fill the reservoir less: fewer traces)."""
    return min(per_second, XRAY_RESERVOIR_PER_S) + XRAY_RATE * max(0.0, per_second - XRAY_RESERVOIR_PER_S)


def xray_active_per_million_jobs(invocations_per_job: Mapping[str, float]) -> float:
    jobs_per_s = JOBS_PER_MONTH / SECONDS_PER_MONTH
    traces_per_month = (
        sum(xray_traces(n * jobs_per_s) for n in invocations_per_job.values()) * SECONDS_PER_MONTH
    )
    return traces_per_month * PRICE["xray_trace"] / JOBS_PER_MONTH * 1e6


def fixed_monthly(series: int, template: Mapping[str, Any]) -> dict[str, float]:
    """What the stack costs a month whatever it runs."""
    return {
        "metric_series": series * PRICE["metric_month"],
        "alarms": alarm_metrics(template) * PRICE["alarm_metric_month"],
        "dashboards": dashboards(template) * PRICE["dashboard_month"],
        "esm_polls": esm_polling_per_month(),
    }


def cronlane(
    measured: Mapping[str, Any], template: Mapping[str, Any], init_ms: Mapping[str, float]
) -> dict[str, Any]:
    """cronlane's all-in dollars per million jobs for the measured run (``init_ms``: a
    function's cold-start init time; a function not in it takes the largest there)."""
    jobs = measured["jobs"]
    per_million = 1e6 / jobs
    cold = {f: n for f, n in measured["environments"].items() if f in MEMORY_GB}  # cronlane's own
    fallback = max(init_ms.values())
    init = sum(
        n * init_ms.get(f, fallback) / 1000 * MEMORY_GB[f] * PRICE["lambda_gb_s_arm64"]
        for f, n in cold.items()
    )
    written = {f: n for f, n in measured["log_bytes_by_function"].items() if f in MEMORY_GB}
    log_bytes = sum(written.values()) + measured["platform_log_bytes"]
    fixed = fixed_monthly(measured["metric_series"], template)
    invocations_per_job = {f: n / jobs for f, n in measured["lambda_invocations"].items() if f in MEMORY_GB}
    xray_active = xray_active_per_million_jobs(invocations_per_job)
    items = {
        "orchestration": measured["cost_per_million_jobs"],
        "lambda_init": init * per_million,
        "logs": log_dollars(log_bytes, retention_days(template)) * per_million,
        "dynamodb_storage": storage_dollars(measured["stored_bytes_per_job"], template) * 1e6,
        # PassThrough (the default) samples no invocation: no trace is recorded
        "xray": xray_active if tracing_mode(template) == "Active" else 0.0,
        "scheduler_tick": PRICE["scheduler_invocation"] * per_million,
        **{k: v / JOBS_PER_MONTH * 1e6 for k, v in fixed.items()},
    }
    total = sum(items.values())
    return {
        "dollars_per_million_jobs": {k: round(v, 3) for k, v in items.items()},
        "cost_all_in_per_million_jobs": round(total, 2),
        "log_bytes_per_job_with_lambda_lines": round(log_bytes / jobs),
        "fixed_per_month": {k: round(v, 2) for k, v in fixed.items()},
        # a month of runs also writes the failure, retry and skip series, and a target kind's own:
        # at most SERIES_BOUND, whatever the app declares
        "metric_series_at_bound_per_million_jobs": round(
            SERIES_BOUND * PRICE["metric_month"] / JOBS_PER_MONTH * 1e6, 3
        ),
        "xray_active_per_million_jobs": round(xray_active, 3),
        "tracing": tracing_mode(template),
        "cost_all_in_with_xray_active": round(total - items["xray"] + xray_active, 2),
    }


def at_volume(all_in: Mapping[str, Any], jobs_per_month: float) -> float:
    """The all-in cost per million jobs with the fixed monthly costs spread over another volume."""
    fixed = sum(all_in["fixed_per_month"].values())
    variable = all_in["cost_all_in_per_million_jobs"] - fixed / JOBS_PER_MONTH * 1e6
    return round(variable + fixed / jobs_per_month * 1e6, 2)


# -- Step Functions -------------------------------------------------------------------------------

ACCOUNT_ARN = "arn:aws:states:us-east-1:123456789012"


def _events(arn: str, kinds: Iterable[tuple[str, dict[str, Any]]]) -> list[str]:
    """Step Functions' log events (level ALL, no execution data) for ``kinds`` in order."""
    return [
        json.dumps(
            {
                "id": str(n),
                "type": kind,
                "details": details,
                "previous_event_id": str(n - 1),
                "event_timestamp": "1795831200000",
                "execution_arn": arn,
                "redrive_count": "0",
            },
            separators=(",", ":"),
        )
        for n, (kind, details) in enumerate(kinds, 1)
    ]


def _task(job: str) -> list[tuple[str, dict[str, Any]]]:
    lambda_ = {"resourceType": "lambda", "resource": "invoke"}
    return [
        ("TaskStateEntered", {"name": job}),
        ("TaskScheduled", {**lambda_, "region": "us-east-1"}),
        ("TaskStarted", lambda_),
        ("TaskSucceeded", lambda_),
        ("TaskStateExited", {"name": job}),
    ]


def _jobs_lambda_lines(jobs: int) -> int:
    """Lambda's lines for each job's own invocation (the Task state's), warm."""
    return jobs * line_bytes(platform_lines(str(uuid.UUID(int=0)), 100.0, 1024, None))


def standard_log_bytes(level_sizes: list[int]) -> int:
    """A Standard execution of the graph (a Parallel state per level) at level ALL."""
    arn = f"{ACCOUNT_ARN}:execution:cronlane-nightly:{uuid.UUID(int=0)}"
    kinds: list[tuple[str, dict[str, Any]]] = [
        ("ExecutionStarted", {"roleArn": "arn:aws:iam::123456789012:role/sfn"})
    ]
    job = 0
    for level, size in enumerate(level_sizes):
        name = {"name": f"level{level}"}
        kinds += [("ParallelStateEntered", name), ("ParallelStateStarted", {})]
        for _ in range(size):
            kinds += _task(f"job{job:05d}")
            job += 1
        kinds += [("ParallelStateSucceeded", {}), ("ParallelStateExited", name)]
    kinds.append(("ExecutionSucceeded", {}))
    return line_bytes(_events(arn, kinds))


def express_children(level_sizes: list[int], batch: int) -> int:
    return sum(math.ceil(size / batch) for size in level_sizes)


def express_log_bytes(level_sizes: list[int], batch: int) -> int:
    """Every Express child's events at level ALL: its inline Map over its batch of jobs."""
    total = 0
    for level, size in enumerate(level_sizes):
        for start in range(0, size, batch):
            arn = f"{ACCOUNT_ARN}:express:cronlane-nightly/level{level}:{uuid.UUID(int=0)}:{uuid.UUID(int=1)}"
            kinds: list[tuple[str, dict[str, Any]]] = [
                ("ExecutionStarted", {}),
                ("MapStateEntered", {"name": "jobs"}),
            ]
            kinds.append(("MapStateStarted", {"length": min(batch, size - start)}))
            for index in range(min(batch, size - start)):
                kinds.append(("MapIterationStarted", {"name": "jobs", "index": index}))
                kinds += _task(f"job{start + index:05d}")
                kinds.append(("MapIterationSucceeded", {"name": "jobs", "index": index}))
            kinds += [
                ("MapStateSucceeded", {}),
                ("MapStateExited", {"name": "jobs"}),
                ("ExecutionSucceeded", {}),
            ]
            total += line_bytes(_events(arn, kinds))
    return total


def step_functions(
    measured: Mapping[str, Any], template: Mapping[str, Any], job_s: float = 0.0
) -> dict[str, Any]:
    """Step Functions' all-in dollars per million jobs for the measured graph: Standard (logging
    at ERROR, and at ALL beside) and the Distributed Map + Express variant (``job_s``: how long
    each job runs, which an Express child is billed for while it waits)."""
    jobs, levels, sizes = measured["jobs"], measured["levels"], measured["level_sizes"]
    per_million = 1e6 / jobs
    days = retention_days(template)
    fixed = (
        (
            alarm_metrics(template) * PRICE["alarm_metric_month"]
            + dashboards(template) * PRICE["dashboard_month"]
        )
        / JOBS_PER_MONTH
        * 1e6
    )
    invocations = jobs * PRICE["lambda_request"] + log_dollars(_jobs_lambda_lines(jobs), days)
    transitions = (jobs + 2 * levels + 2) * PRICE["sfn_standard_transition"]
    standard = (transitions + invocations) * per_million + fixed
    standard_all = standard + log_dollars(standard_log_bytes(sizes), days) * per_million

    def express(batch: int) -> dict[str, Any]:
        children = express_children(sizes, batch)
        # the parent: a start, a Distributed Map state per level, an end, and a transition per child
        parent = (2 + levels + children) * PRICE["sfn_standard_transition"]
        # billed in 100 ms steps, rounded up (ceil of a float: a hair under, for 0.1 x 3 and the like)
        seconds = children * EXPRESS_MIN_S * math.ceil((LAMBDA_INVOKE_S + job_s) / EXPRESS_MIN_S - 1e-9)
        child = (
            children * PRICE["sfn_express_request"] + seconds * EXPRESS_MEMORY_GB * PRICE["sfn_express_gb_s"]
        )
        logs = log_dollars(express_log_bytes(sizes, batch), days)
        total = (parent + child + invocations + logs) * per_million + fixed
        return {"jobs_per_child": batch, "children": children, "per_million_jobs": round(total, 2)}

    return {
        "standard_per_million_jobs": round(standard, 2),
        "standard_logging": "ERROR (a run that succeeds writes nothing; its history is kept 90 days)",
        "standard_logging_all_per_million_jobs": round(standard_all, 2),
        "distributed_express": express(EXPRESS_BATCH),
        "distributed_express_one_job_per_child": express(1),
        # what each second a job runs adds, an Express child waiting for it
        "express_per_job_second_per_million_jobs": round(
            EXPRESS_MEMORY_GB * PRICE["sfn_express_gb_s"] * 1e6 / EXPRESS_BATCH, 3
        ),
        "distributed_express_gives_up": list(EXPRESS_GIVES_UP),
    }
