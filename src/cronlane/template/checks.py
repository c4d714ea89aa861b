"""``cronlane validate``: ``template.yaml``, ``samconfig.toml`` and the catalog, checked together,
before a deploy. Every rule the framework's stack relies on is here (the framework's own tests
run these checks on its templates), so an application needs no copy of the framework's tests.

Each problem is one line naming its place (a job, a schedule, a template resource) and the fix.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cronlane.cron import CronError, parse_expression
from cronlane.declarations import LAMBDA_MAX_TIMEOUT_S, Catalog
from cronlane.dispatch import MISSED_GRACE_S
from cronlane.errors import CatalogNotFound
from cronlane.template import iam
from cronlane.template.generate import RULE_NAME, SCHEDULER_INPUT, name_clashes, stale_parts
from cronlane.template.regions import RegionError, find_regions

if TYPE_CHECKING:
    from cronlane.project import App

RULE_NAME_PREFIX = RULE_NAME
RULE_NAME_MAX = 64  # an EventBridge rule's or a Scheduler schedule's name
# What the template names after the stack, and the longest name AWS takes for each.
NAMED_AFTER_THE_STACK = (
    ("the dispatcher function", "-dispatcher", 64),
    ("the executor's log group's function", "-executor", 64),
    ("the dead-letter queue", "-jobs-dlq.fifo", 80),
    ("the runs' checks' schedule group", "-watchdog", 64),
    ("the completion function", "-completion", 64),
    ("the task events function", "-task-events", 64),
)
MARKERS_DOC = "docs/your-own-app.md#a-template-without-the-markers"
SCHEDULER_INPUT_ATTRIBUTES = ("<aws.scheduler.schedule-arn>", "<aws.scheduler.scheduled-time>")
HANDLERS = {
    "DispatcherFunction": "cronlane.handlers.dispatcher.lambda_handler",
    "ExecutorFunction": "cronlane.handlers.executor.lambda_handler",
    "CompletionFunction": "cronlane.handlers.completion.lambda_handler",
    "TaskEventsFunction": "cronlane.handlers.task_events.lambda_handler",
}
# What the handlers read from their environment (Globals), and what tools look up (Outputs).
FUNCTION_ENVIRONMENT = (
    "TABLE_NAME",
    "QUEUE_URL",
    "DLQ_URL",
    "RULE_PREFIX",
    "HISTORY_TTL_DAYS",
    "CRONLANE_CATALOG",
    "WATCHDOG_GROUP",
    "WATCHDOG_TARGET_ARN",
    "WATCHDOG_ROLE_ARN",
)
OUTPUTS = (
    "TableName",
    "JobQueueUrl",
    "JobQueueArn",
    "DeadLetterQueueUrl",
    "DeadLetterQueueArn",
    "DispatcherFunctionName",
    "ExecutorFunctionName",
    "CompletionFunctionName",
    "RulePrefix",
)
RUNTIME = "python3.13"
LAYER_BUILD = "makefile"  # layer/Makefile (the scaffold's): the wheels, then their bytecode
FOURTEEN_DAYS_S = 1_209_600  # SQS's longest retention: a dead letter waits that long for a replay
FIFO_BATCH_MAX = 10  # an event source mapping on a FIFO queue takes at most 10 per batch
TICK_DLQ = {"Arn": {"Fn::GetAtt": ["TickDeadLetterQueue", "Arn"]}}
SQS_ENCRYPTION = {
    "SqsManagedSseEnabled": {"Fn::If": ["HasKmsKey", {"Ref": "AWS::NoValue"}, True]},
    "KmsMasterKeyId": {"Fn::If": ["HasKmsKey", {"Ref": "KmsKeyArn"}, {"Ref": "AWS::NoValue"}]},
}


@dataclass(frozen=True)
class AppFiles:
    """What ``validate`` reads of an application."""

    template: dict[str, Any]  # parsed, intrinsic functions in their long forms
    text: str  # template.yaml as written (its generated parts are compared as text)
    catalog: Catalog | None  # None: the declarations themselves are wrong (reported apart)
    catalog_module: str  # the module the app's settings name (pyproject.toml's [tool.cronlane])
    samconfig: dict[str, Any] | None = None


def _number(value: Any, parameters: dict[str, Any]) -> int | None:
    """A template number, following a ``Ref`` to a parameter's default."""
    if isinstance(value, dict) and "Ref" in value:
        value = parameters.get(value["Ref"], {}).get("Default")
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _props(template: dict[str, Any], name: str) -> dict[str, Any]:
    resource = template.get("Resources", {}).get(name)
    return resource.get("Properties", {}) if isinstance(resource, dict) else {}


def schedule_events(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The dispatcher's schedule events (rules and Scheduler schedules), by event name."""
    events = _props(template, "DispatcherFunction").get("Events") or {}
    return {
        n: e for n, e in events.items() if isinstance(e, dict) and e.get("Type") in ("Schedule", "ScheduleV2")
    }


def _schedule_of(props: dict[str, Any]) -> str | None:
    """The schedule an event fires: its Name is !Sub "${AWS::StackName}-<schedule>" (else None)."""
    name = props.get("Name")
    if isinstance(name, dict) and str(name.get("Fn::Sub", "")).startswith(RULE_NAME_PREFIX):
        return str(name["Fn::Sub"])[len(RULE_NAME_PREFIX) :]
    return None


def schedules_with_a_rule(template: dict[str, Any]) -> set[str]:
    """The schedules the template fires (what ``cronlane local run`` can run)."""
    found = (_schedule_of(e.get("Properties", {})) for e in schedule_events(template).values())
    return {name for name in found if name is not None}


def _schedule_problems(template: dict[str, Any]) -> tuple[list[str], dict[str, tuple[str, str | None]]]:
    problems: list[str] = []
    rules: dict[str, tuple[str, str | None]] = {}  # schedule -> (expression, time zone)
    dispatcher = _props(template, "DispatcherFunction")
    held = _number((dispatcher.get("EventInvokeConfig") or {}).get("MaximumEventAgeInSeconds"), {}) or 21_600
    for event_name, event in schedule_events(template).items():
        where = f"template.yaml: DispatcherFunction event {event_name}"
        props = event.get("Properties", {})
        expression = props.get("Schedule") or props.get("ScheduleExpression") or ""
        timezone = props.get("ScheduleExpressionTimezone")
        try:
            parse_expression(expression)
        except CronError as exc:
            problems.append(f"{where}: {exc}")
        if event["Type"] == "Schedule" and ("Input" in props or "InputPath" in props):
            problems.append(f"{where}: has a constant Input, so the dispatcher would not get the tick's time")
        if event["Type"] == "ScheduleV2":
            problems += _scheduler_problems(where, props)
        retry = props.get("RetryPolicy") or {}
        if (_number(retry.get("MaximumRetryAttempts"), {}) or 0) < 1:
            problems.append(f"{where}: RetryPolicy must retry a failed delivery (MaximumRetryAttempts >= 1)")
        age = _number(retry.get("MaximumEventAgeInSeconds"), {}) or 86_400
        if age + held > MISSED_GRACE_S:
            problems.append(
                f"{where}: a tick may arrive {age + held} s late (RetryPolicy's MaximumEventAgeInSeconds "
                f"{age} + the dispatcher's EventInvokeConfig {held}), past the {MISSED_GRACE_S:.0f} s after "
                "which it is counted missed: lower them"
            )
        if props.get("DeadLetterConfig") != TICK_DLQ:
            problems.append(f"{where}: DeadLetterConfig must be {{ Arn: !GetAtt TickDeadLetterQueue.Arn }}")
        fired = _schedule_of(props)
        if fired is None:
            problems.append(f'{where}: Name must be !Sub "{RULE_NAME_PREFIX}<schedule name>"')
            continue
        rules[fired] = (expression, timezone)
    return problems, rules


def _scheduler_problems(where: str, props: dict[str, Any]) -> list[str]:
    problems = []
    try:
        sent = json.loads(str(props.get("Input", "")))
    except ValueError:
        sent = None
    for attribute in SCHEDULER_INPUT_ATTRIBUTES:
        if not isinstance(sent, dict) or attribute not in sent.values():
            problems.append(
                f"{where}: its Input must carry {attribute}, so the dispatcher knows which schedule "
                "fired and its fire time"
            )
    if isinstance(sent, dict) and sent.get("source") != SCHEDULER_INPUT["source"]:
        problems.append(f'{where}: its Input must have "source": "aws.scheduler"')
    if props.get("FlexibleTimeWindow") != {"Mode": "OFF"}:
        problems.append(f'{where}: FlexibleTimeWindow must be {{ Mode: "OFF" }} (fire at the time itself)')
    if props.get("RoleArn") != {"Fn::GetAtt": ["SchedulerRole", "Arn"]}:
        problems.append(f"{where}: RoleArn must be !GetAtt SchedulerRole.Arn")
    return problems


def _tick_dlq_problems(template: dict[str, Any]) -> list[str]:
    """The tick dead-letter queue takes exactly this stack's rules, and is a standard queue."""
    problems = []
    document = _props(template, "TickDeadLetterQueuePolicy").get("PolicyDocument", {})
    allowed: set[str] = set()
    for statement in iam.statements(document):
        arns = iam.as_list(statement.get("Condition", {}).get("ArnEquals", {}).get("aws:SourceArn", []))
        allowed |= {a["Fn::GetAtt"][0] for a in arns if isinstance(a, dict) and "Fn::GetAtt" in a}
    rules = {
        f"DispatcherFunction{n}" for n, e in schedule_events(template).items() if e["Type"] == "Schedule"
    }
    for rule in sorted(rules - allowed):
        problems.append(
            f"template.yaml: TickDeadLetterQueuePolicy does not let rule {rule} park its ticks "
            "(run: cronlane template)"
        )
    for other in sorted(allowed - rules):
        problems.append(
            f"template.yaml: TickDeadLetterQueuePolicy lets {other}, not one of this stack's rules, send "
            "(run cronlane template)"
        )
    if _props(template, "TickDeadLetterQueue").get("FifoQueue"):
        problems.append(
            "template.yaml: TickDeadLetterQueue must be a standard queue (EventBridge's target DLQs are)"
        )
    return problems


def _queue_problems(template: dict[str, Any]) -> list[str]:
    problems = []
    queue, dlq = _props(template, "JobQueue"), _props(template, "DeadLetterQueue")
    for name, props in (("JobQueue", queue), ("DeadLetterQueue", dlq)):
        queue_name = props.get("QueueName")
        text = queue_name.get("Fn::Sub", "") if isinstance(queue_name, dict) else str(queue_name or "")
        if props.get("FifoQueue") is not True or not str(text).endswith(".fifo"):
            problems.append(
                f"template.yaml: {name} must be a FIFO queue (FifoQueue: true, a name ending .fifo)"
            )
    redrive = queue.get("RedrivePolicy") or {}
    if redrive.get("deadLetterTargetArn") != {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}:
        problems.append("template.yaml: JobQueue's RedrivePolicy must send to !GetAtt DeadLetterQueue.Arn")
    for name in ("DeadLetterQueue", "TickDeadLetterQueue"):
        if _number(_props(template, name).get("MessageRetentionPeriod"), {}) != FOURTEEN_DAYS_S:
            problems.append(
                f"template.yaml: {name} must keep messages {FOURTEEN_DAYS_S} s (14 days) for replays"
            )
    mapping = (_props(template, "ExecutorFunction").get("Events") or {}).get("Jobs", {})
    props = mapping.get("Properties", {}) if isinstance(mapping, dict) else {}
    if (
        not isinstance(mapping, dict)
        or mapping.get("Type") != "SQS"
        or props.get("Queue") != {"Fn::GetAtt": ["JobQueue", "Arn"]}
    ):
        problems.append("template.yaml: ExecutorFunction needs its SQS event Jobs on !GetAtt JobQueue.Arn")
    else:
        if "ReportBatchItemFailures" not in (props.get("FunctionResponseTypes") or []):
            problems.append(
                "template.yaml: ExecutorFunction event Jobs must have FunctionResponseTypes: "
                "[ReportBatchItemFailures] (a failed job must not redeliver its batch)"
            )
        if not 1 <= (_number(props.get("BatchSize"), {}) or 10) <= FIFO_BATCH_MAX:
            problems.append(
                f"template.yaml: ExecutorFunction event Jobs: BatchSize must be 1..{FIFO_BATCH_MAX} (FIFO)"
            )
    return problems


def _function_problems(template: dict[str, Any]) -> list[str]:
    problems = []
    glob = template.get("Globals", {}).get("Function", {})
    if glob.get("Runtime") != RUNTIME:
        problems.append(
            f"template.yaml: Globals Function Runtime must be {RUNTIME} (the layer is built for it)"
        )
    variables = (glob.get("Environment") or {}).get("Variables") or {}
    for variable in FUNCTION_ENVIRONMENT:
        if variable not in variables:
            problems.append(
                f"template.yaml: Globals Function Environment lacks {variable}, which the handlers read"
            )
    if variables.get("HISTORY_TTL_DAYS") not in (None, {"Ref": "HistoryRetentionDays"}):
        problems.append("template.yaml: HISTORY_TTL_DAYS must be !Ref HistoryRetentionDays")
    layer = template.get("Resources", {}).get("CoreLayer", {})
    if (layer.get("Metadata") or {}).get("BuildMethod") != LAYER_BUILD:
        problems.append(
            f"template.yaml: CoreLayer must be built by its layer/Makefile (Metadata BuildMethod: "
            f"{LAYER_BUILD}): it installs the wheels for {RUNTIME} and compiles their bytecode"
        )
    for name, handler in HANDLERS.items():
        props = _props(template, name)
        if not props:
            problems.append(f"template.yaml: {name} is missing")
        elif props.get("Handler") != handler:
            problems.append(
                f"template.yaml: {name} Handler must be {handler} (the framework's, in the layer)"
            )
    dispatcher = _props(template, "DispatcherFunction")
    if (_number(dispatcher.get("ReservedConcurrentExecutions"), template.get("Parameters", {})) or 0) < 1:
        problems.append(
            "template.yaml: DispatcherFunction needs ReservedConcurrentExecutions (ticks must not starve)"
        )
    if dispatcher and dispatcher.get("FunctionName") != {"Fn::Sub": "${AWS::StackName}-dispatcher"}:
        problems.append(
            'template.yaml: DispatcherFunction FunctionName must be !Sub "${AWS::StackName}-dispatcher" '
            "(the runs' checks and SchedulerRole name it)"
        )
    table = _props(template, "RunsTable")
    if table.get("TimeToLiveSpecification") != {"AttributeName": "expires_at", "Enabled": True}:
        problems.append("template.yaml: RunsTable's TimeToLiveSpecification must be expires_at, enabled")
    missing = [name for name in OUTPUTS if name not in template.get("Outputs", {})]
    if missing:
        problems.append(f"template.yaml: Outputs lack {', '.join(missing)} (the CLI looks them up)")
    return problems


def _data_problems(template: dict[str, Any]) -> list[str]:
    """Data at rest is encrypted, kept and protected (docs/security.md)."""
    problems = []
    for name in ("JobQueue", "DeadLetterQueue", "TickDeadLetterQueue"):
        props = _props(template, name)
        for key, value in SQS_ENCRYPTION.items():
            if props.get(key) != value:
                problems.append(
                    f"template.yaml: {name} {key} must be encrypted as the framework's template has it"
                )
    table = _props(template, "RunsTable")
    sse = table.get("SSESpecification") or {}
    if sse.get("SSEEnabled") is not True or sse.get("SSEType") != "KMS":
        problems.append("template.yaml: RunsTable must be encrypted with KMS (SSESpecification)")
    if table.get("PointInTimeRecoverySpecification") != {"PointInTimeRecoveryEnabled": True}:
        problems.append("template.yaml: RunsTable must have point-in-time recovery")
    if table.get("DeletionProtectionEnabled") != {"Fn::If": ["IsProd", True, False]}:
        problems.append(
            "template.yaml: RunsTable's DeletionProtectionEnabled must be !If [IsProd, true, false]"
        )
    for name in ("DispatcherLogGroup", "ExecutorLogGroup"):
        if _props(template, name).get("RetentionInDays") != {"Ref": "LogRetentionDays"}:
            problems.append(f"template.yaml: {name} RetentionInDays must be !Ref LogRetentionDays")
    variables = (template.get("Globals", {}).get("Function", {}).get("Environment") or {}).get(
        "Variables"
    ) or {}
    for variable in ("POWERTOOLS_TRACER_CAPTURE_RESPONSE", "POWERTOOLS_TRACER_CAPTURE_ERROR"):
        if variables.get(variable) != "false":
            problems.append(
                f'template.yaml: {variable} must be "false": traces would keep responses and errors, '
                "which may carry dead-letter bodies"
            )
    return problems


SERVICE_WIDE = [{"Name": "service", "Value": "cronlane"}]
REQUIRED_ALARMS = ("RunsFailed", "JobTimeoutFraction", "RunsOverDeadline", "JobsFailed", "MissedRuns")


def _own_alarm_metrics(template: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(alarm, metric) for the cronlane-namespace metrics the alarms watch, directly or in math."""
    found = []
    for name, resource in template.get("Resources", {}).items():
        if not isinstance(resource, dict) or resource.get("Type") != "AWS::CloudWatch::Alarm":
            continue
        props = resource.get("Properties", {})
        metrics = [props] + [m["MetricStat"]["Metric"] for m in props.get("Metrics", []) if "MetricStat" in m]
        found += [(name, m) for m in metrics if m.get("Namespace") == {"Ref": "MetricsNamespace"}]
    return found


def _dashboard_text(template: dict[str, Any]) -> str:
    body = _props(template, "Dashboard").get("DashboardBody", {})
    substituted = isinstance(body, dict) and isinstance(body.get("Fn::Sub"), list)
    return str(body["Fn::Sub"][0] if substituted else body)


def dashboard_metrics(template: dict[str, Any]) -> set[str]:
    """The cronlane-namespace metric names the dashboard's SEARCH expressions name."""
    return {name for _, name in dashboard_searches(template)}


def dashboard_searches(template: dict[str, Any]) -> set[tuple[tuple[str, ...], str]]:
    """(dimensions, metric name) of each of the dashboard's SEARCH expressions on cronlane's metrics."""
    text = _dashboard_text(template)
    found = re.findall(r"SEARCH\('\{\$\{NS\}((?:,[^}]*)?)\} MetricName=\\\"(\w+)\\\"", text)
    return {
        (tuple(d.strip() for d in dimensions.split(",") if d.strip()), name) for dimensions, name in found
    }


def dashboard_log_fields(template: dict[str, Any]) -> set[str]:
    """The metric names the dashboard's Logs Insights queries read (as fields of the EMF documents)."""
    text = _dashboard_text(template)
    queries = re.findall(r'"query": "((?:[^"\\]|\\.)*)"', text)
    return {name for query in queries for name in re.findall(r"\b(?:sum|max|min|avg|pct)\(([A-Z]\w+)", query)}


TRACING = ({"Ref": "TracingMode"}, "Active", "PassThrough")  # the X-Ray parameter, or a fixed mode


def _observability_problems(template: dict[str, Any]) -> list[str]:
    """The alarms and the dashboard watch metrics the code emits, service-wide; X-Ray is on."""
    from cronlane.telemetry import METRICS

    problems = []
    watched: set[str] = set()
    for alarm, metric in _own_alarm_metrics(template):
        name = str(metric.get("MetricName"))
        watched.add(name)
        if name not in METRICS:
            problems.append(f"template.yaml: {alarm} watches {name}, which cronlane never emits")
        elif metric.get("Dimensions") != SERVICE_WIDE:
            problems.append(f"template.yaml: {alarm} must watch {name}'s service-wide series (service)")
    for name in sorted((dashboard_metrics(template) | dashboard_log_fields(template)) - set(METRICS)):
        problems.append(f"template.yaml: Dashboard shows {name}, which cronlane never emits")
    for dimensions, name in sorted(dashboard_searches(template)):
        extra = [d for d in dimensions if d != "service"]
        if name in METRICS and any(d not in METRICS[name][1] for d in extra):
            problems.append(
                f"template.yaml: Dashboard searches {name} by {', '.join(extra)}, which cronlane never emits"
            )
    for name in REQUIRED_ALARMS:
        if name not in watched:
            problems.append(f"template.yaml: no alarm watches {name} (the framework's template has one)")
    if template.get("Globals", {}).get("Function", {}).get("Tracing") not in TRACING:
        problems.append(
            "template.yaml: Globals Function Tracing must be !Ref TracingMode, Active or PassThrough"
        )
    for name in HANDLERS:
        if "Tracing" in _props(template, name):
            problems.append(
                f"template.yaml: {name} sets its own Tracing: leave it to the Globals (TracingMode)"
            )
    return problems


def _timeout_problems(template: dict[str, Any], catalog: Catalog | None) -> list[str]:
    problems = []
    parameters = template.get("Parameters", {})
    executor, queue = _props(template, "ExecutorFunction"), _props(template, "JobQueue")
    executor_timeout = _number(executor.get("Timeout"), parameters) or 3
    visibility = _number(queue.get("VisibilityTimeout"), parameters)
    if executor_timeout > LAMBDA_MAX_TIMEOUT_S:
        problems.append(f"template.yaml: ExecutorFunction Timeout {executor_timeout} is above Lambda's 900 s")
    if visibility is not None and visibility < executor_timeout:
        problems.append(
            f"template.yaml: JobQueue VisibilityTimeout {visibility} is below the executor's Timeout "
            f"{executor_timeout} (Lambda refuses the event source mapping)"
        )
    elif visibility is not None and visibility < 6 * executor_timeout:
        problems.append(
            f"template.yaml: JobQueue VisibilityTimeout {visibility} is below 6x the executor's Timeout "
            f"({6 * executor_timeout}), as AWS recommends"
        )
    max_receives = _number((queue.get("RedrivePolicy") or {}).get("maxReceiveCount"), parameters)
    problems += _target_problems(template, catalog, executor_timeout)
    from cronlane.targets import HANDED_OFF, kind_of

    for job in catalog.jobs.values() if catalog else ():
        where = f"job '{job.name}'"
        handed_off = kind_of(job.spec) in HANDED_OFF  # runs elsewhere; its timer is its own
        if job.timeout_s > executor_timeout and not handed_off:
            problems.append(
                f"{where}: timeout_s {job.timeout_s} is above the executor's Timeout {executor_timeout}"
            )
        if visibility is not None and job.timeout_s > visibility and not handed_off:
            problems.append(
                f"{where}: timeout_s {job.timeout_s} is above the queue's VisibilityTimeout {visibility}"
            )
        if max_receives is not None and job.max_attempts >= max_receives:
            problems.append(
                f"{where}: max_attempts {job.max_attempts} must be below the queue's maxReceiveCount "
                f"{max_receives}, or SQS dead-letters the message before the last attempt"
            )
    return problems


def _function_named(template: dict[str, Any], name: str) -> tuple[str, dict[str, Any]] | None:
    """The template's function whose FunctionName is ``name`` (as written: a !Sub or a literal)."""
    kinds = ("AWS::Serverless::Function", "AWS::Lambda::Function")
    for logical, resource in template.get("Resources", {}).items():
        if isinstance(resource, dict) and resource.get("Type") in kinds:
            declared = resource.get("Properties", {}).get("FunctionName")
            if declared in ({"Fn::Sub": name}, name):
                return logical, resource.get("Properties", {})
    return None


def _target_problems(template: dict[str, Any], catalog: Catalog | None, executor_timeout: int) -> list[str]:
    """A lambda target is invoked synchronously: the job's timeout covers the function's, and the
    executor's covers the job's with a margin to record the outcome."""
    from cronlane.targets import LAMBDA, STACK_NAME, SYNC_MARGIN_S, kind_of, lambda_function

    problems: list[str] = []
    default_timeout = _number(template.get("Globals", {}).get("Function", {}).get("Timeout"), {}) or 3
    for job in catalog.jobs.values() if catalog else ():
        problems += _handed_off_problems(template, job)
        if kind_of(job.spec) != LAMBDA:
            continue
        where = f"job '{job.name}'"
        if job.timeout_s + SYNC_MARGIN_S > executor_timeout:
            problems.append(
                f"{where}: its lambda target is invoked synchronously: timeout_s {job.timeout_s} + "
                f"{SYNC_MARGIN_S} s must fit in the executor's Timeout {executor_timeout}"
            )
        name = lambda_function(job.spec)
        found = _function_named(template, name)
        if found is None:
            if STACK_NAME in name:
                problems.append(
                    f'{where}: no function in template.yaml has FunctionName !Sub "{name}": add it, or name '
                    "an existing function"
                )
            continue
        logical, props = found
        timeout = _number(props.get("Timeout"), template.get("Parameters", {})) or default_timeout
        if timeout > job.timeout_s:
            problems.append(
                f"{where}: its function {logical} may run {timeout} s, longer than the job's timeout_s "
                f"{job.timeout_s}: raise timeout_s or lower the function's Timeout"
            )
    return problems


def _named(template: dict[str, Any], kind: str, key: str, name: str) -> dict[str, Any] | None:
    """The properties of the template's resource of ``kind`` whose ``key`` is ``name``."""
    for resource in (template.get("Resources") or {}).values():
        if isinstance(resource, dict) and resource.get("Type") == kind:
            props = resource.get("Properties") or {}
            if props.get(key) in ({"Fn::Sub": name}, name):
                return dict(props)
    return None


def _handed_off_problems(template: dict[str, Any], job: Any) -> list[str]:
    """An ecs target's cluster, task definition and container, and a callback target's queue, are
    in the template (or named by ARN), so the grants ``cronlane template`` writes fit them."""
    from cronlane.targets import CALLBACK, ECS, STACK_NAME, callback_target, ecs_target, kind_of

    where = f"job '{job.name}'"
    kind = kind_of(job.spec)
    if kind == CALLBACK:
        queue = callback_target(job.spec).queue
        if STACK_NAME in queue and _named(template, "AWS::SQS::Queue", "QueueName", queue) is None:
            return [f'{where}: no queue in template.yaml has QueueName !Sub "{queue}": add it']
        return []
    if kind != ECS:
        return []
    target = ecs_target(job.spec)
    problems = []
    if (
        not target.cluster.startswith("arn:")
        and _named(template, "AWS::ECS::Cluster", "ClusterName", target.cluster) is None
    ):
        problems.append(
            f'{where}: no AWS::ECS::Cluster in template.yaml has ClusterName !Sub "{target.cluster}"'
        )
    if target.task_definition.startswith("arn:"):
        return problems
    definition = _named(template, "AWS::ECS::TaskDefinition", "Family", target.task_definition)
    if definition is None:
        return [
            *problems,
            f"{where}: no AWS::ECS::TaskDefinition in template.yaml has Family "
            f'!Sub "{target.task_definition}"',
        ]
    containers = [c.get("Name") for c in definition.get("ContainerDefinitions") or [] if isinstance(c, dict)]
    if target.container not in containers:
        problems.append(
            f"{where}: its task definition {target.task_definition} has no container '{target.container}' "
            f"(it has {', '.join(str(c) for c in containers) or 'none'})"
        )
    if target.launch_type == "FARGATE" and definition.get("NetworkMode") not in (None, "awsvpc"):
        problems.append(f"{where}: a Fargate task's NetworkMode must be awsvpc")
    return problems


def _agreement_problems(files: AppFiles, rules: dict[str, tuple[str, str | None]]) -> list[str]:
    """The catalog and the template say the same: the generated parts, the schedules, the module."""
    problems = []
    default = (files.template.get("Parameters", {}).get("CatalogModule") or {}).get("Default")
    if default != files.catalog_module:
        problems.append(
            f"template.yaml: CatalogModule's Default is {default!r} but the app's catalog is "
            f"{files.catalog_module!r} (sam deploy uses the template's): run cronlane template"
        )
    catalog = files.catalog
    if catalog is None:
        return problems
    problems += name_clashes(catalog)
    for env, stack in _stack_names(files.samconfig):
        for resource, suffix, limit in NAMED_AFTER_THE_STACK:
            if len(stack) + len(suffix) > limit:
                problems.append(
                    f"samconfig.toml [{env}]: stack_name {stack} is too long: {resource} would be named "
                    f"{stack}{suffix}, over {limit} characters"
                )
        for name in catalog.schedules:
            if len(stack) + 1 + len(name) > RULE_NAME_MAX:
                problems.append(
                    f"schedule '{name}': its rule would be named {stack}-{name} in samconfig.toml's [{env}] "
                    f"stack, over EventBridge's {RULE_NAME_MAX} characters: shorten the schedule or the stack"
                )
    try:
        marked = find_regions(files.text)
        stale = stale_parts(files.text, catalog, files.catalog_module)
    except RegionError as exc:
        return [*problems, f"template.yaml: {exc}"]
    for name in stale:
        problems.append(
            f"template.yaml: the generated part '{name}' is out of date (run: cronlane template)"
            if name in marked
            else f"template.yaml: no '# cronlane:begin {name}' ... '# cronlane:end {name}' markers: add them "
            f"where the part goes ({MARKERS_DOC}), then run cronlane template"
        )
    for name, schedule in catalog.schedules.items():
        if name not in rules:
            problems.append(
                f"schedule '{name}': no rule in template.yaml named ${{AWS::StackName}}-{name} "
                "(run: cronlane template)"
            )
        elif rules[name][0] != schedule.expression:
            problems.append(
                f"schedule '{name}': template.yaml fires {rules[name][0]} but the declaration says "
                f"{schedule.expression} (run: cronlane template)"
            )
        elif (rules[name][1] or "UTC") != (schedule.timezone or "UTC"):
            problems.append(
                f"schedule '{name}': template.yaml fires it in {rules[name][1] or 'UTC (a rule)'} but the "
                f"declaration says {schedule.timezone or 'UTC'} (run: cronlane template)"
            )
    for name in rules:
        if name not in catalog.schedules:
            problems.append(
                f"template.yaml: rule {name} fires a schedule that is not declared (run: cronlane template)"
            )
    return problems


def _stack_names(samconfig: dict[str, Any] | None) -> list[tuple[str, str]]:
    """(environment, stack name) of each samconfig.toml environment that names its stack."""
    found = []
    for env, sections in (samconfig or {}).items():
        if isinstance(sections, dict):
            stack = (sections.get("global", {}).get("parameters", {}) or {}).get("stack_name")
            stack = stack or (sections.get("deploy", {}).get("parameters", {}) or {}).get("stack_name")
            if isinstance(stack, str):
                found.append((env, stack))
    return found


def samconfig_problems(samconfig: dict[str, Any] | None, template: dict[str, Any]) -> list[str]:
    """Each environment's parameter_overrides name the template's parameters, with allowed values."""
    if not samconfig:
        return []
    problems = []
    parameters = template.get("Parameters", {})
    stacks: dict[str, str] = {}
    for env, stack in _stack_names(samconfig):
        if stack in stacks:
            problems.append(
                f"samconfig.toml [{env}]: stack_name {stack} is [{stacks[stack]}]'s too: each environment "
                "deploys a stack of its own"
            )
        stacks.setdefault(stack, env)
    prod = samconfig.get("prod", {})
    prod_deploy = (prod.get("deploy", {}).get("parameters", {}) or {}) if isinstance(prod, dict) else {}
    if prod and prod_deploy.get("confirm_changeset") is not True:
        problems.append("samconfig.toml [prod]: confirm_changeset must be true (a prod change is looked at)")
    for env, sections in samconfig.items():
        if not isinstance(sections, dict):
            continue
        overrides = (sections.get("deploy", {}).get("parameters", {}) or {}).get("parameter_overrides")
        if not overrides:
            continue
        words = shlex.split(overrides) if isinstance(overrides, str) else [str(o) for o in overrides]
        for word in words:
            name, _, value = word.partition("=")
            if name not in parameters:
                problems.append(
                    f"samconfig.toml [{env}]: parameter_overrides sets {name}, which template.yaml lacks"
                )
                continue
            if name == "Environment" and value != ("prod" if env == "prod" else "dev"):
                problems.append(
                    f"samconfig.toml [{env}]: Environment={value}: [prod] deploys Environment=prod, the "
                    "others dev (it turns on the table's deletion protection)"
                )
            allowed = parameters[name].get("AllowedValues")
            if allowed is not None and value not in [str(a) for a in allowed]:
                problems.append(
                    f"samconfig.toml [{env}]: {name}={value} is not one of "
                    + ", ".join(str(a) for a in allowed)
                )
    return problems


def validate(files: AppFiles) -> list[str]:
    """Every problem ``cronlane validate`` reports for the template, samconfig and catalog."""
    problems, rules = _schedule_problems(files.template)
    problems += _tick_dlq_problems(files.template)
    problems += _queue_problems(files.template)
    problems += _function_problems(files.template)
    problems += _data_problems(files.template)
    problems += _observability_problems(files.template)
    problems += _timeout_problems(files.template, files.catalog)
    problems += iam.problems(files.template, files.catalog)
    problems += _agreement_problems(files, rules)
    problems += samconfig_problems(files.samconfig, files.template)
    return problems


def check_app(app: App) -> tuple[list[str], Catalog | None]:
    """Read the app's files and check them (``cronlane validate``): the problems, and the catalog
    (None when its declarations are wrong). An unreadable file, or a catalog module that cannot be
    imported, is raised (``AppError``, ``CatalogNotFound``): there is nothing to check."""
    import tomllib

    from cronlane import jobfunctions
    from cronlane.errors import CatalogError
    from cronlane.local.stack import load_template
    from cronlane.project import AppError

    try:
        document = load_template(app.template)
        text = app.template.read_text()
    except (OSError, ValueError) as exc:
        raise AppError(f"{app.template}: cannot be read as a template: {exc}") from None
    samconfig_path = app.root / "samconfig.toml"
    try:
        samconfig = tomllib.loads(samconfig_path.read_text()) if samconfig_path.is_file() else None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise AppError(f"{samconfig_path}: not valid TOML ({exc})") from None
    declared: Catalog | None
    try:
        declared, problems = app.load_catalog(fresh=True), []
    except CatalogError as exc:
        if isinstance(exc, CatalogNotFound):
            raise
        declared, problems = None, list(exc.problems)
    problems += validate(AppFiles(document, text, declared, app.catalog_module, samconfig))
    if declared is not None:
        problems += jobfunctions.problems(declared)
    return problems, declared
