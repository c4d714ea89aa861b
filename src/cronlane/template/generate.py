"""What ``template.yaml`` needs from the catalog, generated from it: each schedule's rule (or, in
a time zone, its EventBridge Scheduler schedule) with its retry policy, dead-letter config and
Input; the tick dead-letter queue's policy, which names exactly the stack's rules; the
permissions jobs declare and their targets need, as the executor role's ``jobs`` policy; and
the dispatcher's ``targets`` policy (a cancel stops the ecs targets' tasks).

``cronlane template`` writes them between the markers of ``regions``; ``cronlane validate``
fails when what is there is not what this module makes of the catalog.
"""

from __future__ import annotations

import json
import re
from typing import Any

from cronlane.declarations import Catalog, Job, Schedule
from cronlane.targets import (
    CALLBACK,
    ECS,
    LAMBDA,
    EcsTarget,
    callback_target,
    cluster_arn_sub,
    ecs_target,
    function_arn_sub,
    instances_arn_sub,
    kind_of,
    queue_arn_sub,
    task_definition_arn_sub,
    tasks_arn_sub,
)
from cronlane.targets import (
    STACK_NAME as STACK,
)
from cronlane.template.regions import BEGIN, begin_line, end_line, find_regions, replace_regions

CATALOG_MODULE = "catalog-module"  # a parameter: CatalogModule, whose default is the app's catalog
SCHEDULES = "schedules"  # in DispatcherFunction's Events
TICK_POLICY = "tick-dead-letter-policy"  # a resource: TickDeadLetterQueuePolicy
JOB_PERMISSIONS = "job-permissions"  # in ExecutorRole's Policies
CANCEL_PERMISSIONS = "cancel-permissions"  # in DispatcherRole's Policies
VERSION = "version"  # an output: CronlaneVersion, what the CLI checks before it acts on the stack
PARTS = (CATALOG_MODULE, SCHEDULES, TICK_POLICY, JOB_PERMISSIONS, CANCEL_PERMISSIONS, VERSION)

# A tick EventBridge (or Scheduler) cannot deliver is retried this often for this long, then
# parked in TickDeadLetterQueue. With the dispatcher's own event age (EventInvokeConfig) it stays
# within the missed-run grace (dispatch.MISSED_GRACE_S): a late tick is run, not also missed.
TICK_RETRY_ATTEMPTS = 10
TICK_EVENT_AGE_S = 3600
RULE_NAME = "${AWS::StackName}-"  # + the schedule's name: how the dispatcher knows what fired
DESCRIPTION_MAX = 512  # EventBridge and Scheduler
# Scheduler fills these in at each fire; the dispatcher reads the schedule and the fire time.
SCHEDULER_INPUT = {
    "source": "aws.scheduler",
    "schedule_arn": "<aws.scheduler.schedule-arn>",
    "scheduled_time": "<aws.scheduler.scheduled-time>",
    "execution_id": "<aws.scheduler.execution-id>",
    "attempt": "<aws.scheduler.attempt-number>",
}


def logical_name(name: str) -> str:
    """``nightly-full-run`` -> ``NightlyFullRun`` (a CloudFormation logical id: letters and digits)."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[-_]", name) if part)


def event_name(schedule: Schedule) -> str:
    return logical_name(schedule.name)


def rule_resource(schedule: Schedule) -> str:
    """The logical id SAM gives the rule (or Scheduler schedule): function name + event name."""
    return f"DispatcherFunction{event_name(schedule)}"


def _string(value: str) -> str:
    # a JSON string is a YAML double-quoted scalar; characters as they are (YAML has no
    # surrogate pairs, so an emoji must not become two \u escapes)
    return json.dumps(value, ensure_ascii=False)


def _arn(value: str) -> str:
    return f"!Sub {_string(value)}" if "${" in value else _string(value)


def _description(schedule: Schedule) -> str:
    zone = f" {schedule.timezone}" if schedule.timezone else " UTC"
    text = schedule.description or f"Runs {schedule.selection.describe()}: {schedule.expression}{zone}."
    return " ".join(text.split())[:DESCRIPTION_MAX]


def _scheduler_input() -> list[str]:
    """Scheduler's Input as a folded scalar: one JSON object, a member per line."""
    members = [f"{json.dumps(k)}: {json.dumps(v)}" for k, v in SCHEDULER_INPUT.items()]
    return [f"{{{members[0]},", *(f"{m}," for m in members[1:-1]), f"{members[-1]}}}"]


def schedule_lines(schedule: Schedule) -> list[str]:
    lines = [f"{event_name(schedule)}:"]
    retry = f"{{ MaximumRetryAttempts: {TICK_RETRY_ATTEMPTS}, MaximumEventAgeInSeconds: {TICK_EVENT_AGE_S} }}"
    common = [
        f"    Description: {_string(_description(schedule))}",
        f"    RetryPolicy: {retry}",
        "    DeadLetterConfig: { Arn: !GetAtt TickDeadLetterQueue.Arn }",
    ]
    name = f"    Name: !Sub {_string(RULE_NAME + schedule.name)}"
    if schedule.timezone is None:
        lines += ["  Type: Schedule", "  Properties:", name, f"    Schedule: {_string(schedule.expression)}"]
        return lines + common
    lines += [
        "  Type: ScheduleV2",
        "  Properties:",
        name,
        f"    ScheduleExpression: {_string(schedule.expression)}",
        f"    ScheduleExpressionTimezone: {_string(schedule.timezone)}",
        '    FlexibleTimeWindow: { Mode: "OFF" }',
        "    RoleArn: !GetAtt SchedulerRole.Arn",
        "    Input: >-",
        *(f"      {line}" for line in _scheduler_input()),
    ]
    return lines + common


def schedules_part(catalog: Catalog) -> list[str]:
    lines: list[str] = []
    for schedule in catalog.schedules.values():  # in the order they are declared
        lines += schedule_lines(schedule)
    return lines or ["# no schedule is declared in the catalog"]


def tick_policy_part(catalog: Catalog) -> list[str]:
    rules = [rule_resource(s) for s in catalog.schedules.values() if s.timezone is None]
    if not rules:
        return ["# no EventBridge rule (Scheduler parks its ticks with SchedulerRole): no queue policy"]
    return [
        "TickDeadLetterQueuePolicy:",
        "  Type: AWS::SQS::QueuePolicy",
        "  Properties:",
        "    Queues: [!Ref TickDeadLetterQueue]",
        "    PolicyDocument:",
        '      Version: "2012-10-17"',
        "      Statement:",
        "        - Sid: EventBridgeRulesOfThisStack",
        "          Effect: Allow",
        "          Principal: { Service: events.amazonaws.com }",
        "          Action: sqs:SendMessage",
        "          Resource: !GetAtt TickDeadLetterQueue.Arn",
        "          Condition:",
        "            # exactly this stack's rules: a name prefix would also match another stack's",
        "            ArnEquals:",
        "              aws:SourceArn:",
        *(f"                - !GetAtt {rule}.Arn" for rule in rules),
    ]


def target_sid(job: Job) -> str:
    return f"Invoke{logical_name(job.name)}"


def permission_sid(job: Job, index: int) -> str:
    return f"{logical_name(job.name)}{index + 1}"


def _resource(arn: str) -> Any:
    """An ARN as the parsed template holds it: a ``!Sub`` when CloudFormation fills it in."""
    return {"Fn::Sub": arn} if "${" in arn else arn


def _yaml(value: Any) -> str:
    if isinstance(value, dict) and "Fn::Sub" in value:
        return f"!Sub {_string(value['Fn::Sub'])}"
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return "!GetAtt " + ".".join(value["Fn::GetAtt"])
    if isinstance(value, dict) and "Ref" in value:
        return f"!Ref {value['Ref']}"
    return _string(str(value))


def statement_lines(statement: dict[str, Any]) -> list[str]:
    """One IAM statement (as the parsed template holds it) as the part's YAML lines."""
    lines = [
        f"- Sid: {statement['Sid']}",
        "  Effect: Allow",
        f"  Action: [{', '.join(_string(a) for a in statement['Action'])}]",
        "  Resource:",
        *(f"    - {_yaml(r)}" for r in statement["Resource"]),
    ]
    if statement.get("Condition"):
        lines.append("  Condition:")
        for operator, pairs in statement["Condition"].items():
            lines.append(f"    {operator}:")
            lines += [f"      {_string(key)}: {_yaml(value)}" for key, value in pairs.items()]
    return lines


def _task_definitions(template: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The template's ECS task definitions by family, as declared (``${AWS::StackName}`` kept)."""
    found = {}
    for resource in ((template or {}).get("Resources") or {}).values():
        if not isinstance(resource, dict) or resource.get("Type") != "AWS::ECS::TaskDefinition":
            continue
        family = (resource.get("Properties") or {}).get("Family")
        if isinstance(family, dict):
            family = family.get("Fn::Sub")
        if isinstance(family, str):
            found[family] = resource.get("Properties") or {}
    return found


def task_roles(target: EcsTarget, template: dict[str, Any] | None) -> list[Any]:
    """The roles an ecs target's RunTask passes: its task and execution roles, from its task
    definition in the template, else as the target declares them (``pass_roles``)."""
    if target.pass_roles:
        return [_resource(role) for role in target.pass_roles]
    definition = _task_definitions(template).get(target.task_definition) or {}
    return [definition[k] for k in ("TaskRoleArn", "ExecutionRoleArn") if definition.get(k)]


def _on_cluster(target: EcsTarget) -> dict[str, Any]:
    return {"ArnEquals": {"ecs:cluster": _resource(cluster_arn_sub(target))}}


def stop_statements(stop_sid: str, find_sid: str, target: EcsTarget) -> list[dict[str, Any]]:
    """StopTask on the cluster's tasks; and, for an attempt whose task ARN a crash kept from
    being recorded, ListTasks and DescribeTasks to find it (``AwsTargets.stop``)."""
    on_cluster = _on_cluster(target)
    tasks = [_resource(tasks_arn_sub(target))]
    return [
        {
            "Sid": stop_sid,
            "Effect": "Allow",
            "Action": ["ecs:DescribeTasks", "ecs:StopTask"],
            "Resource": tasks,
            "Condition": on_cluster,
        },
        {
            "Sid": find_sid,
            "Effect": "Allow",
            "Action": ["ecs:ListTasks"],
            "Resource": [_resource(instances_arn_sub(target))],
            "Condition": on_cluster,
        },
    ]


def target_statements(job: Job, template: dict[str, Any] | None) -> list[dict[str, Any]]:
    """What the executor needs for the job's target, on exactly what the target names."""
    name, kind = logical_name(job.name), kind_of(job.spec)

    def allow(sid: str, actions: list[str], resources: list[Any], **extra: Any) -> dict[str, Any]:
        return {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources, **extra}

    if kind == LAMBDA:  # the executor invokes the job's function, that one only
        function = _resource(function_arn_sub(job.spec))
        return [allow(target_sid(job), ["lambda:InvokeFunction"], [function])]
    if kind == CALLBACK:
        queue = _resource(queue_arn_sub(callback_target(job.spec)))
        return [allow(f"Send{name}Work", ["sqs:GetQueueUrl", "sqs:SendMessage"], [queue])]
    if kind != ECS:
        return []
    target = ecs_target(job.spec)
    found = [
        allow(
            f"Run{name}Task",
            ["ecs:RunTask"],
            [_resource(task_definition_arn_sub(target))],
            Condition=_on_cluster(target),
        ),
        # a lost attempt's task, before its retry
        *stop_statements(f"Stop{name}Task", f"Find{name}Task", target),
    ]
    roles = task_roles(target, template)
    if roles:
        passed = {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}
        found.append(allow(f"Pass{name}Roles", ["iam:PassRole"], roles, Condition=passed))
    return found


def job_statements(catalog: Catalog, template: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """ExecutorRole's ``jobs`` policy: the jobs' targets' needs and their declared permissions."""
    statements: list[dict[str, Any]] = []
    sids: set[str] = set()
    for job in catalog.jobs.values():
        statements += target_statements(job, template)
        for index, permission in enumerate(job.permissions):
            sid = permission_sid(job, index)
            while sid in sids:  # my-job and my_job: a statement id is unique in its policy
                sid += "X"
            sids.add(sid)
            statements.append(
                {
                    "Sid": sid,
                    "Effect": "Allow",
                    "Action": list(permission.actions),
                    "Resource": [_resource(r) for r in permission.resources],
                }
            )
    return statements


def cancel_statements(catalog: Catalog) -> list[dict[str, Any]]:
    """DispatcherRole's ``targets`` policy: a cancel stops the ecs targets' tasks, per cluster."""
    clusters: dict[str, EcsTarget] = {}
    for job in catalog.jobs.values():
        if kind_of(job.spec) == ECS:
            target = ecs_target(job.spec)
            clusters.setdefault(target.cluster, target)
    found: list[dict[str, Any]] = []
    for cluster, target in clusters.items():
        name = logical_name(re.sub(r"[^A-Za-z0-9]+", "-", cluster.replace(STACK, "stack")))
        found += stop_statements(f"StopTasksOf{name}", f"FindTasksOf{name}", target)
    return found


def _policy(name: str, statements: list[dict[str, Any]], empty: str) -> list[str]:
    if not statements:
        return [empty]
    lines = ["- PolicyName: " + name, "  PolicyDocument:", '    Version: "2012-10-17"', "    Statement:"]
    for statement in statements:
        lines += [f"      {line}" for line in statement_lines(statement)]
    return lines


def permissions_part(catalog: Catalog, template: dict[str, Any] | None = None) -> list[str]:
    return _policy(
        "jobs",
        job_statements(catalog, template),
        "# no job declares permissions (Job(..., permissions=[Permission(...)])) nor a target that needs one",
    )


def cancel_part(catalog: Catalog) -> list[str]:
    return _policy("targets", cancel_statements(catalog), "# no ecs target: a cancel has no task to stop")


def catalog_module_part(module: str) -> list[str]:
    return [
        "CatalogModule:",
        "  Type: String",
        f"  Default: {_string(module)}",
        '  AllowedPattern: "^[A-Za-z_][A-Za-z0-9_]*(\\\\.[A-Za-z_][A-Za-z0-9_]*)*$"',
        "  Description: >-",
        "    The module in the functions' code (src/) that declares this stack's jobs and schedules (its",
        "    CATALOG): the app's pyproject.toml names it. Another stack of the same code with another",
        "    catalog keeps jobs that need different permissions apart.",
    ]


def version_part() -> list[str]:
    """The stack's ``CronlaneVersion`` output: the framework version its template was made with
    (``cronlane.versions`` says which stacks a CLI acts on)."""
    from cronlane import __version__

    return [
        "CronlaneVersion:",
        "  Description: The cronlane version this stack was made with (the CLI checks it before acting)",
        f'  Value: "{__version__}"',
    ]


def with_version_part(text: str) -> str:
    """``text`` with the ``version`` part's markers at the end of its Outputs (added once: a
    template made before the part existed gets it from ``cronlane template``)."""
    if re.search(rf"^[ ]*# {BEGIN} {VERSION}\b", text, re.MULTILINE):
        return text
    lines = text.split("\n")
    markers = [begin_line(VERSION, "  "), end_line(VERSION, "  ")]
    start = next((i for i, line in enumerate(lines) if line.rstrip() == "Outputs:"), None)
    if start is None:
        while lines and lines[-1] == "":
            lines.pop()
        return "\n".join([*lines, "", "Outputs:", *markers, ""])
    end = start + 1
    while end < len(lines) and (not lines[end].strip() or lines[end].startswith((" ", "#"))):
        end += 1
    while end > start + 1 and not lines[end - 1].strip():
        end -= 1  # after the block's last line, before the blank lines that close it
    lines[end:end] = markers
    return "\n".join(lines)


def parts(catalog: Catalog, module: str, text: str | None = None) -> dict[str, list[str]]:
    """Each generated part's lines, from the catalog, the catalog module's name and the template
    (an ecs target's task definition there names the roles its RunTask passes)."""
    return {
        CATALOG_MODULE: catalog_module_part(module),
        SCHEDULES: schedules_part(catalog),
        TICK_POLICY: tick_policy_part(catalog),
        JOB_PERMISSIONS: permissions_part(catalog, parsed(text)),
        CANCEL_PERMISSIONS: cancel_part(catalog),
        VERSION: version_part(),
    }


def parsed(text: str | None) -> dict[str, Any] | None:
    """The template as CloudFormation reads it (short intrinsic forms expanded), or None."""
    if text is None:
        return None
    from samtranslator.yaml_helper import yaml_parse

    try:
        data = yaml_parse(text)
    except Exception:  # a template that does not parse: validate says so, by name
        return None
    return data if isinstance(data, dict) else None


def render(text: str, catalog: Catalog, module: str) -> str:
    """``template.yaml``'s text with its generated parts made from ``catalog`` (whose module is
    ``module``); a file with CRLF line ends keeps them."""
    crlf = "\r\n" in text
    plain = with_version_part(text.replace("\r\n", "\n"))
    rendered = replace_regions(plain, parts(catalog, module, text))
    return rendered.replace("\n", "\r\n") if crlf else rendered


def name_clashes(catalog: Catalog) -> list[str]:
    """Schedules whose template events would share a logical id: ``a-b`` and ``a_b`` are both
    ``AB``, and SAM names a rule's permission ``<rule>Permission``, so ``daily-permission``'s
    rule would be ``daily``'s permission."""
    taken: dict[str, str] = {}
    problems = []
    for schedule in catalog.schedules.values():
        ids = [rule_resource(schedule)]
        if schedule.timezone is None:
            ids.append(rule_resource(schedule) + "Permission")
        clash = next((taken[i] for i in ids if i in taken), None)
        if clash is not None:
            problems.append(
                f"schedule '{schedule.name}': its template resources ({', '.join(ids)}) would clash with "
                f"schedule '{clash}''s: rename one"
            )
        for logical_id in ids:
            taken.setdefault(logical_id, schedule.name)
    return problems


def stale_parts(text: str, catalog: Catalog, module: str) -> list[str]:
    """The generated parts whose text is not what the catalog makes (or that are not marked)."""
    text = text.replace("\r\n", "\n")
    regions = find_regions(text)
    wanted = parts(catalog, module, text)
    stale = []
    for name in PARTS:
        region = regions.get(name)
        if region is None:
            stale.append(name)
            continue
        expected = tuple(f"{region.indent}{line}" if line else "" for line in wanted[name])
        if region.body != expected:
            stale.append(name)
    return stale
