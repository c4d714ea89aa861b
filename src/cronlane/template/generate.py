"""What ``template.yaml`` needs from the catalog, generated from it: each schedule's rule (or, in
a time zone, its EventBridge Scheduler schedule) with its retry policy, dead-letter config and
Input; the tick dead-letter queue's policy, which names exactly the stack's rules; and the
permissions jobs declare, as the executor role's ``jobs`` policy.

``cronlane template`` writes them between the markers of ``regions``; ``cronlane validate``
fails when what is there is not what this module makes of the catalog.
"""

from __future__ import annotations

import json
import re

from cronlane.declarations import Catalog, Job, Schedule
from cronlane.targets import LAMBDA, function_arn_sub, kind_of
from cronlane.template.regions import find_regions, replace_regions

CATALOG_MODULE = "catalog-module"  # a parameter: CatalogModule, whose default is the app's catalog
SCHEDULES = "schedules"  # in DispatcherFunction's Events
TICK_POLICY = "tick-dead-letter-policy"  # a resource: TickDeadLetterQueuePolicy
JOB_PERMISSIONS = "job-permissions"  # in ExecutorRole's Policies
PARTS = (CATALOG_MODULE, SCHEDULES, TICK_POLICY, JOB_PERMISSIONS)

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


def permissions_part(catalog: Catalog) -> list[str]:
    statements: list[str] = []
    sids: set[str] = set()
    for job in catalog.jobs.values():
        if kind_of(job.function) == LAMBDA:  # the executor invokes the job's function, that one only
            statements += [
                f"      - Sid: {target_sid(job)}",
                "        Effect: Allow",
                '        Action: ["lambda:InvokeFunction"]',
                "        Resource:",
                f"          - {_arn(function_arn_sub(job.function))}",
            ]
        for index, permission in enumerate(job.permissions):
            sid = permission_sid(job, index)
            while sid in sids:  # my-job and my_job: a statement id is unique in its policy
                sid += "X"
            sids.add(sid)
            statements += [
                f"      - Sid: {sid}",
                "        Effect: Allow",
                f"        Action: [{', '.join(_string(a) for a in permission.actions)}]",
                "        Resource:",
                *(f"          - {_arn(r)}" for r in permission.resources),
            ]
    if not statements:
        return ["# no job declares permissions (Job(..., permissions=[Permission(...)])) nor a lambda target"]
    return [
        "- PolicyName: jobs",
        "  PolicyDocument:",
        '    Version: "2012-10-17"',
        "    Statement:",
        *statements,
    ]


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


def parts(catalog: Catalog, module: str) -> dict[str, list[str]]:
    """Each generated part's lines, from the catalog and the catalog module's name."""
    return {
        CATALOG_MODULE: catalog_module_part(module),
        SCHEDULES: schedules_part(catalog),
        TICK_POLICY: tick_policy_part(catalog),
        JOB_PERMISSIONS: permissions_part(catalog),
    }


def render(text: str, catalog: Catalog, module: str) -> str:
    """``template.yaml``'s text with its generated parts made from ``catalog`` (whose module is
    ``module``); a file with CRLF line ends keeps them."""
    crlf = "\r\n" in text
    rendered = replace_regions(text.replace("\r\n", "\n"), parts(catalog, module))
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
    wanted = parts(catalog, module)
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
