"""The embedded default, part 1: ``template.yaml`` created in moto's CloudFormation.

The template is expanded with aws-sam-translator (moto has no SAM transform), code URIs are
rewritten to placeholder objects in a moto S3 bucket, and the result is created as a stack on a
moto server on loopback. Everything the runtime needs afterwards (functions, rules, event source
mappings, outputs, ECS task definitions, queues) is read back from the created stack, never from a
second hand-written config. What only exists locally, the command an ECS container or a callback
target's worker runs as on this machine, is the resource's ``Metadata`` in the template::

    ReportTask:
      Type: AWS::ECS::TaskDefinition
      Metadata:
        cronlane:
          local-command: {report: "python -m my_jobs.report"}   # container name -> command line
    WorkQueue:
      Type: AWS::SQS::Queue
      Metadata:
        cronlane:
          local-worker: "python -m my_jobs.worker"
"""

from __future__ import annotations

import copy
import io
import json
import logging
import os
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import yaml

from cronlane.local.moto_patches import REGION

ARTIFACT_BUCKET = "cronlane-local-artifacts"
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}


class StackError(RuntimeError):
    """The template could not be expanded or created locally."""


@dataclass(frozen=True)
class FunctionInfo:
    logical_id: str
    name: str
    handler: str
    timeout_s: int
    memory_mb: int
    environment: dict[str, str]
    code_dir: Path
    layer_dirs: tuple[Path, ...]
    runtime: str = "python3.13"


@dataclass(frozen=True)
class RuleInfo:
    """An EventBridge rule, or an EventBridge Scheduler schedule (``kind="scheduler"``, which may
    have a time zone and whose Input carries Scheduler's context attributes)."""

    name: str
    arn: str
    expression: str
    target_function: str  # logical id
    target_input: str | None  # a constant Input replaces the Scheduled Event (docs/aws-facts.md)
    kind: str = "rule"
    timezone: str | None = None


@dataclass(frozen=True)
class EventRuleInfo:
    """An EventBridge rule with an event pattern (e.g. ECS's "ECS Task State Change" events) and a
    function of the stack as its target."""

    name: str
    arn: str
    pattern: dict[str, Any]
    target_function: str  # logical id
    target_input: str | None  # a constant Input replaces the event


@dataclass(frozen=True)
class TaskDefinitionInfo:
    """An ``AWS::ECS::TaskDefinition`` of the template and the command each of its containers runs
    as on the local runtime (``Metadata: cronlane: local-command: {container: command}``)."""

    logical_id: str
    arn: str
    local_commands: dict[str, str]


@dataclass(frozen=True)
class WorkerQueueInfo:
    """A queue of the template with a callback target's worker to start on the local runtime
    (``Metadata: cronlane: local-worker: command``)."""

    logical_id: str
    url: str  # on the twin
    command: str


@dataclass(frozen=True)
class MappingInfo:
    uuid: str
    queue_arn: str
    queue_url: str
    function: str  # logical id
    batch_size: int
    max_concurrency: int | None
    report_batch_item_failures: bool


@dataclass
class StackInfo:
    name: str
    endpoint: str
    outputs: dict[str, str]
    functions: dict[str, FunctionInfo]
    rules: list[RuleInfo]
    mappings: list[MappingInfo]
    expanded: dict[str, Any] = field(repr=False, default_factory=dict)
    template_name: str = "template.yaml"
    schedule_groups: tuple[str, ...] = ()  # EventBridge Scheduler groups the stack owns (run checks)
    event_rules: list[EventRuleInfo] = field(default_factory=list)
    task_definitions: dict[str, TaskDefinitionInfo] = field(default_factory=dict)  # by ARN
    worker_queues: list[WorkerQueueInfo] = field(default_factory=list)
    template_dir: Path = Path()  # where local commands run

    def function_named(self, logical_id: str) -> FunctionInfo:
        return self.functions[logical_id]

    def rule_prefix(self) -> str:
        return self.outputs.get("RulePrefix", f"{self.name}-")


def load_template(path: Path) -> dict[str, Any]:
    """Read a SAM/CloudFormation template, keeping ``!Ref``/``!Sub``/... as their long forms. A file
    that is not one (not UTF-8, not YAML, no mapping of sections) is a ``ValueError`` saying why."""
    try:
        text = path.read_text()
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return parse_template(text)


def parse_template(text: str) -> dict[str, Any]:
    """A template's text as a document (``ValueError`` when it is not a template)."""
    import yaml
    from samtranslator.yaml_helper import yaml_parse

    try:
        document = yaml_parse(text)
    except yaml.YAMLError as exc:
        raise ValueError("not valid YAML: " + " ".join(str(exc).split())) from None
    if not isinstance(document, dict):
        raise ValueError("not a template (its top level is not a mapping)")
    for section in ("Resources", "Parameters", "Outputs", "Globals", "Conditions"):
        if section in document and not isinstance(document[section], dict):
            raise ValueError(f"its {section} section is not a mapping")
    return document


def local_client(service: Any, endpoint: str) -> Any:
    """A boto3 client of the local moto server, with the local runtime's credentials (``service``:
    a service name; typed Any, as boto3-stubs' overloads take only literal names)."""
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


def client_env(endpoint: str) -> dict[str, str]:
    """Environment that points boto3 and PynamoDB at the local endpoint."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        **LOCAL_CREDENTIALS,
    }


def expand(template: dict[str, Any], endpoint: str) -> dict[str, Any]:
    """SAM -> CloudFormation with aws-sam-translator; local code paths become s3:// objects."""
    from samtranslator.public.translator import ManagedPolicyLoader
    from samtranslator.translator.transform import transform

    tpl = copy.deepcopy(template)
    for logical_id, resource in tpl.get("Resources", {}).items():
        props = resource.get("Properties", {})
        if resource.get("Type") == "AWS::Serverless::Function":
            props["CodeUri"] = f"s3://{ARTIFACT_BUCKET}/{logical_id}.zip"
        elif resource.get("Type") == "AWS::Serverless::LayerVersion":
            props["ContentUri"] = f"s3://{ARTIFACT_BUCKET}/{logical_id}.zip"
    iam = boto3.client("iam", endpoint_url=endpoint, region_name=REGION)
    # The translator counts what it expanded for its own telemetry, which nothing here publishes:
    # at exit it says so ("There are unpublished metrics"), a warning about nothing of the user's.
    logging.getLogger("samtranslator.metrics.metrics").setLevel(logging.ERROR)
    try:
        return transform(tpl, {}, ManagedPolicyLoader(iam))  # type: ignore[no-any-return]
    except Exception as exc:
        raise StackError(f"aws-sam-translator could not expand the template: {exc}") from exc


TWIN_LOGS_TAG = "cronlane:twin-logs"  # the stack's tag naming the twin's log folder


def create_stack(
    template_path: Path,
    endpoint: str,
    stack_name: str = "local",
    parameters: dict[str, str] | None = None,
    tags: dict[str, str] | None = None,
) -> StackInfo:
    quiet_unsupported_resources()
    template = load_template(template_path)
    expanded = expand(template, endpoint)
    session = boto3.session.Session(
        aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name=REGION,
    )
    s3 = session.client("s3", endpoint_url=endpoint)
    s3.create_bucket(Bucket=ARTIFACT_BUCKET)
    placeholder = io.BytesIO()
    with zipfile.ZipFile(placeholder, "w") as archive:
        archive.writestr("README.txt", "cronlane local runtime: code runs from the work tree")
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] in ("AWS::Serverless::Function", "AWS::Serverless::LayerVersion"):
            s3.put_object(Bucket=ARTIFACT_BUCKET, Key=f"{logical_id}.zip", Body=placeholder.getvalue())
    cfn = session.client("cloudformation", endpoint_url=endpoint)
    try:
        cfn.create_stack(
            StackName=stack_name,
            TemplateBody=json.dumps(expanded),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in (parameters or {}).items()],
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
            Tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()],
        )
    except Exception as exc:
        raise StackError(f"creating the stack in moto failed: {exc}") from exc
    stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    if stack["StackStatus"] != "CREATE_COMPLETE":
        raise StackError(f"stack {stack_name} is {stack['StackStatus']}: {stack.get('StackStatusReason')}")
    return describe(session, endpoint, stack_name, template_path, template, expanded)


# Resource types moto's CloudFormation skips with a warning (docs/aws-facts.md): the template
# tests check them from the template; the runtime creates the schedules and the schedule group
# itself, moto enforces no queue policy, and the runtime retries a failed asynchronous invocation
# twice, as the event invoke config asks.
UNSUPPORTED_BY_MOTO = (
    "CloudWatch::Alarm",
    "Lambda::EventInvokeConfig",
    "Scheduler::Schedule",
    "Scheduler::ScheduleGroup",
    "SQS::QueuePolicy",
)


def quiet_unsupported_resources() -> None:
    """No warning for the resource types moto skips that the runtime makes up for."""
    kinds = "|".join(UNSUPPORTED_BY_MOTO)
    warnings.filterwarnings("ignore", message=rf"Tried to parse AWS::({kinds})\b")
    moto_log = logging.getLogger("moto")
    if not any(isinstance(f, _KnownGaps) for f in moto_log.filters):
        moto_log.addFilter(_KnownGaps())


class _KnownGaps(logging.Filter):
    """Drops moto's "No Moto CloudFormation support for ..." for the resource types above."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            record.getMessage().startswith("No Moto CloudFormation support for AWS::")
            and any(kind in record.getMessage() for kind in UNSUPPORTED_BY_MOTO)
        )


def describe(
    session: Any,
    endpoint: str,
    stack_name: str,
    template_path: Path,
    template: dict[str, Any],
    expanded: dict[str, Any],
) -> StackInfo:
    """Read functions, rules and event source mappings back from the created stack."""
    cfn = session.client("cloudformation", endpoint_url=endpoint)
    lam = session.client("lambda", endpoint_url=endpoint)
    events = session.client("events", endpoint_url=endpoint)
    sqs = session.client("sqs", endpoint_url=endpoint)
    stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    # moto lists the resource types it does not create (alarms, schedules) without ids.
    resources = [
        r
        for r in cfn.describe_stack_resources(StackName=stack_name)["StackResources"]
        if r.get("LogicalResourceId")
    ]
    physical = {r["LogicalResourceId"]: r.get("PhysicalResourceId") for r in resources}
    base = template_path.parent
    functions: dict[str, FunctionInfo] = {}
    by_name: dict[str, str] = {}
    for resource in resources:
        if resource["ResourceType"] != "AWS::Lambda::Function":
            continue
        logical_id = resource["LogicalResourceId"]
        config = lam.get_function_configuration(FunctionName=resource["PhysicalResourceId"])
        sam = template["Resources"].get(logical_id, {})
        code_uri = sam.get("Properties", {}).get("CodeUri")
        if not isinstance(code_uri, str):
            raise StackError(f"function {logical_id} has no local CodeUri in {template_path.name}")
        functions[logical_id] = FunctionInfo(
            logical_id=logical_id,
            name=config["FunctionName"],
            handler=config["Handler"],
            timeout_s=int(config["Timeout"]),
            memory_mb=int(config.get("MemorySize", 128)),
            environment=dict(config.get("Environment", {}).get("Variables", {})),
            code_dir=(base / code_uri).resolve(),
            layer_dirs=_layer_dirs(base, template, logical_id),
            runtime=str(config.get("Runtime") or "python3.13"),
        )
        by_name[config["FunctionName"]] = logical_id
        by_name[config["FunctionArn"]] = logical_id
    rules: list[RuleInfo] = []
    event_rules: list[EventRuleInfo] = []
    for resource in resources:
        if resource["ResourceType"] != "AWS::Events::Rule":
            continue
        rule = events.describe_rule(Name=resource["PhysicalResourceId"])
        for target in events.list_targets_by_rule(Rule=rule["Name"])["Targets"]:
            target_fn = by_name.get(target["Arn"]) or by_name.get(target["Arn"].rsplit(":", 1)[-1])
            if target_fn is None:
                continue
            if rule.get("EventPattern") and rule.get("State", "ENABLED") == "ENABLED":
                event_rules.append(
                    EventRuleInfo(
                        name=rule["Name"],
                        arn=rule["Arn"],
                        pattern=dict(json.loads(rule["EventPattern"])),
                        target_function=target_fn,
                        target_input=target.get("Input"),
                    )
                )
            if not rule.get("ScheduleExpression"):
                continue
            rules.append(
                RuleInfo(
                    name=rule["Name"],
                    arn=rule["Arn"],
                    expression=rule["ScheduleExpression"],
                    target_function=target_fn,
                    target_input=target.get("Input"),
                )
            )
    rules += _scheduler_schedules(expanded, stack_name, stack["StackId"].split(":")[4])
    groups = _schedule_groups(session, endpoint, expanded, stack_name)
    mappings: list[MappingInfo] = []
    for logical_id, physical_id in physical.items():
        kind = next(r["ResourceType"] for r in resources if r["LogicalResourceId"] == logical_id)
        if kind != "AWS::Lambda::EventSourceMapping":
            continue
        esm = lam.get_event_source_mapping(UUID=physical_id)
        queue_name = esm["EventSourceArn"].rsplit(":", 1)[-1]
        fn_logical = by_name.get(esm["FunctionArn"]) or by_name[esm["FunctionArn"].rsplit(":", 1)[-1]]
        mappings.append(
            MappingInfo(
                uuid=physical_id,
                queue_arn=esm["EventSourceArn"],
                queue_url=sqs.get_queue_url(QueueName=queue_name)["QueueUrl"],
                function=fn_logical,
                batch_size=int(esm.get("BatchSize", 10)),
                max_concurrency=(esm.get("ScalingConfig") or {}).get("MaximumConcurrency"),
                report_batch_item_failures="ReportBatchItemFailures"
                in (esm.get("FunctionResponseTypes") or []),
            )
        )
        # moto would otherwise try to run the function on every SendMessage (it needs Docker),
        # fail, and push messages to the DLQ unprocessed (docs/aws-facts.md: moto trap). We drive it.
        lam.update_event_source_mapping(UUID=physical_id, Enabled=False)
    kinds = {r["LogicalResourceId"]: r["ResourceType"] for r in resources}
    return StackInfo(
        stack_name,
        endpoint,
        outputs,
        functions,
        rules,
        mappings,
        expanded,
        template_path.name,
        groups,
        event_rules=event_rules,
        task_definitions=_task_definitions(template, kinds, physical, template_path.name),
        worker_queues=_worker_queues(template, kinds, physical, sqs, template_path.name),
        template_dir=base,
    )


def _local_metadata(template: dict[str, Any], logical_id: str, key: str) -> Any:
    """``Metadata: cronlane: <key>`` of a resource of the template (None if it has none)."""
    metadata = template["Resources"].get(logical_id, {}).get("Metadata")
    cronlane = metadata.get("cronlane") if isinstance(metadata, dict) else None
    return cronlane.get(key) if isinstance(cronlane, dict) else None


def _task_definitions(
    template: dict[str, Any], kinds: dict[str, str], physical: dict[str, Any], template_name: str
) -> dict[str, TaskDefinitionInfo]:
    """Each ECS task definition of the stack (by its ARN, moto's physical id) and its containers'
    local commands."""
    found = {}
    for logical_id, kind in kinds.items():
        if kind != "AWS::ECS::TaskDefinition":
            continue
        commands = _local_metadata(template, logical_id, "local-command") or {}
        if not isinstance(commands, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in commands.items()
        ):
            raise StackError(
                f"{logical_id} in {template_name}: Metadata cronlane local-command must map each "
                "container's name to the command line it runs as locally"
            )
        arn = str(physical[logical_id])
        found[arn] = TaskDefinitionInfo(logical_id, arn, dict(commands))
    return found


def _worker_queues(
    template: dict[str, Any], kinds: dict[str, str], physical: dict[str, Any], sqs: Any, template_name: str
) -> list[WorkerQueueInfo]:
    """The queues of the stack that have a local worker, with their URLs on the twin."""
    found = []
    for logical_id, kind in kinds.items():
        command = _local_metadata(template, logical_id, "local-worker")
        if kind != "AWS::SQS::Queue" or command is None:
            continue
        if not isinstance(command, str) or not command.strip():
            raise StackError(
                f"{logical_id} in {template_name}: Metadata cronlane local-worker must be the command "
                "line its worker runs as locally"
            )
        name = str(physical[logical_id]).rstrip("/").rsplit("/", 1)[-1]
        found.append(WorkerQueueInfo(logical_id, sqs.get_queue_url(QueueName=name)["QueueUrl"], command))
    return found


def _schedule_groups(
    session: Any, endpoint: str, expanded: dict[str, Any], stack_name: str
) -> tuple[str, ...]:
    """moto's CloudFormation does not create ``AWS::Scheduler::ScheduleGroup`` either (the stack's
    run checks live in one): the runtime creates each in moto's Scheduler."""
    scheduler = session.client("scheduler", endpoint_url=endpoint)
    names = []
    for resource in expanded.get("Resources", {}).values():
        if resource.get("Type") != "AWS::Scheduler::ScheduleGroup":
            continue
        name = resource.get("Properties", {}).get("Name")
        if isinstance(name, dict) and "Fn::Sub" in name:
            name = str(name["Fn::Sub"]).replace("${AWS::StackName}", stack_name)
        scheduler.create_schedule_group(Name=str(name))
        names.append(str(name))
    return tuple(names)


def _scheduler_schedules(expanded: dict[str, Any], stack_name: str, account: str) -> list[RuleInfo]:
    """moto's CloudFormation does not create ``AWS::Scheduler::Schedule`` (docs/aws-facts.md), so the
    schedules are read from the expanded template, resolving the few intrinsics SAM writes there
    (``!Sub`` of the stack name, ``!GetAtt Function.Arn``)."""
    found = []
    for logical_id, resource in expanded.get("Resources", {}).items():
        if resource.get("Type") != "AWS::Scheduler::Schedule":
            continue
        props = resource["Properties"]
        name = props.get("Name", logical_id)
        if isinstance(name, dict) and "Fn::Sub" in name:
            name = str(name["Fn::Sub"]).replace("${AWS::StackName}", stack_name)
        target = props["Target"]
        get_att = target["Arn"].get("Fn::GetAtt") if isinstance(target["Arn"], dict) else None
        if not get_att or get_att[1] != "Arn":
            raise StackError(f"{logical_id}: the local runtime needs Target.Arn to be !GetAtt <Function>.Arn")
        group = props.get("GroupName", "default")
        found.append(
            RuleInfo(
                name=str(name),
                arn=f"arn:aws:scheduler:{REGION}:{account}:schedule/{group}/{name}",
                expression=props["ScheduleExpression"],
                target_function=get_att[0],
                target_input=target.get("Input"),
                kind="scheduler",
                timezone=props.get("ScheduleExpressionTimezone"),
            )
        )
    return found


def _layer_dirs(base: Path, template: dict[str, Any], logical_id: str) -> tuple[Path, ...]:
    """The local directories of the layers a function uses (what Lambda mounts at /opt/python)."""
    resources = template["Resources"]
    refs = list(template.get("Globals", {}).get("Function", {}).get("Layers", []))
    refs += resources[logical_id].get("Properties", {}).get("Layers", [])
    dirs = []
    for ref in refs:
        name = ref.get("Ref") if isinstance(ref, dict) else None
        layer = resources.get(name or "", {})
        uri = layer.get("Properties", {}).get("ContentUri")
        if isinstance(uri, str):
            dirs.append((base / uri).resolve())
    return tuple(dirs)


def dump_expanded(info: StackInfo) -> str:
    return yaml.safe_dump(info.expanded, sort_keys=False)


def set_process_env(endpoint: str) -> None:
    os.environ.update(client_env(endpoint))
