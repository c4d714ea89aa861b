"""``cronlane validate``: the template and the declarations, checked together.

Each problem names its place (a job, a schedule, a template resource) so it can be fixed without
guessing. Nothing here talks to AWS.
"""

from __future__ import annotations

from typing import Any

from cronlane.cron import CronError, parse_expression
from cronlane.declarations import LAMBDA_MAX_TIMEOUT_S, Catalog


def _number(value: Any, parameters: dict[str, Any]) -> int | None:
    """A template number, following a ``Ref`` to a parameter's default."""
    if isinstance(value, dict) and "Ref" in value:
        value = parameters.get(value["Ref"], {}).get("Default")
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


SCHEDULER_INPUT_ATTRIBUTES = ("<aws.scheduler.schedule-arn>", "<aws.scheduler.scheduled-time>")
RULE_NAME_PREFIX = "${AWS::StackName}-"


def _schedule_events(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The dispatcher's schedule events (rules and Scheduler schedules), by event name."""
    dispatcher = template.get("Resources", {}).get("DispatcherFunction", {}).get("Properties", {})
    events = dispatcher.get("Events") or {}
    return {n: e for n, e in events.items() if e.get("Type") in ("Schedule", "ScheduleV2")}


def _schedule_of(props: dict[str, Any]) -> str | None:
    """The schedule an event fires: its Name is !Sub "${AWS::StackName}-<schedule>" (else None)."""
    name = props.get("Name")
    if isinstance(name, dict) and str(name.get("Fn::Sub", "")).startswith(RULE_NAME_PREFIX):
        return str(name["Fn::Sub"])[len(RULE_NAME_PREFIX) :]
    return None


def schedules_with_a_rule(template: dict[str, Any]) -> set[str]:
    """The schedules the template fires (what ``cronlane local run`` can run)."""
    found = (_schedule_of(e.get("Properties", {})) for e in _schedule_events(template).values())
    return {name for name in found if name is not None}


def validate(template: dict[str, Any], catalog: Catalog | None) -> list[str]:
    problems: list[str] = []
    resources = template.get("Resources", {})
    parameters = template.get("Parameters", {})
    executor = resources.get("ExecutorFunction", {}).get("Properties", {})
    queue = resources.get("JobQueue", {}).get("Properties", {})

    # -- schedules in the template ------------------------------------------------------------
    rules: dict[str, tuple[str, str | None]] = {}  # schedule -> (expression, time zone)
    for event_name, event in _schedule_events(template).items():
        where = f"template.yaml: DispatcherFunction event {event_name}"
        props = event.get("Properties", {})
        expression = props.get("Schedule") or props.get("ScheduleExpression") or ""
        timezone = props.get("ScheduleExpressionTimezone")
        try:
            parse_expression(expression)
        except CronError as exc:
            problems.append(f"{where}: {exc}")
        if event["Type"] == "Schedule" and "Input" in props:
            problems.append(f"{where}: has a constant Input, so the dispatcher would not get the tick's time")
        if event["Type"] == "ScheduleV2":
            text = str(props.get("Input", ""))
            for attribute in SCHEDULER_INPUT_ATTRIBUTES:
                if attribute not in text:
                    problems.append(
                        f"{where}: its Input must carry {attribute}, so the dispatcher knows "
                        "which schedule fired and its fire time"
                    )
        fired = _schedule_of(props)
        if fired is None:
            problems.append(f'{where}: Name must be !Sub "{RULE_NAME_PREFIX}<schedule name>"')
            continue
        rules[fired] = (expression, timezone)

    # -- the tick dead-letter queue takes exactly this stack's rules ------------------------------
    policy = resources.get("TickDeadLetterQueuePolicy", {}).get("Properties", {}).get("PolicyDocument", {})
    allowed: set[str] = set()
    for statement in policy.get("Statement", []):
        arns = statement.get("Condition", {}).get("ArnEquals", {}).get("aws:SourceArn", [])
        allowed |= {a["Fn::GetAtt"][0] for a in arns if isinstance(a, dict) and "Fn::GetAtt" in a}
    for event_name, event in _schedule_events(template).items():
        if event.get("Type") == "Schedule" and f"DispatcherFunction{event_name}" not in allowed:
            problems.append(
                f"template.yaml: TickDeadLetterQueuePolicy does not let rule {event_name} park its "
                f"ticks: add !GetAtt DispatcherFunction{event_name}.Arn to its aws:SourceArn list"
            )

    # -- timeouts and attempts against the queue and Lambda -------------------------------------
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
    redrive = queue.get("RedrivePolicy") or {}
    max_receives = _number(redrive.get("maxReceiveCount"), parameters)

    if catalog is None:
        return problems
    for job in catalog.jobs.values():
        where = f"job '{job.name}'"
        if job.timeout_s > executor_timeout:
            problems.append(
                f"{where}: timeout_s {job.timeout_s} is above the executor's Timeout {executor_timeout}"
            )
        if visibility is not None and job.timeout_s > visibility:
            problems.append(
                f"{where}: timeout_s {job.timeout_s} is above the queue's VisibilityTimeout {visibility}"
            )
        if max_receives is not None and job.max_attempts >= max_receives:
            problems.append(
                f"{where}: max_attempts {job.max_attempts} must be below the queue's maxReceiveCount "
                f"{max_receives}, or SQS dead-letters the message before the last attempt"
            )
    for name, schedule in catalog.schedules.items():
        if name not in rules:
            problems.append(f"schedule '{name}': no rule in template.yaml named ${{AWS::StackName}}-{name}")
        elif rules[name][0] != schedule.expression:
            problems.append(
                f"schedule '{name}': template.yaml fires {rules[name][0]} but the declaration "
                f"says {schedule.expression}"
            )
        elif (rules[name][1] or "UTC") != (schedule.timezone or "UTC"):
            problems.append(
                f"schedule '{name}': template.yaml fires it in {rules[name][1] or 'UTC (a rule)'} but the "
                f"declaration says {schedule.timezone or 'UTC'} (a time zone needs a ScheduleV2 "
                "with ScheduleExpressionTimezone)"
            )
    for name in rules:
        if name not in catalog.schedules:
            problems.append(f"template.yaml: rule {name} fires a schedule that is not declared")
    return problems
