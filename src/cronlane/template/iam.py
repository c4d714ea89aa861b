"""Least privilege, checked on ``template.yaml``: the framework's three roles hold exactly the
grants its code uses, on this stack's resources, plus what the catalog's jobs declare
(``Job(..., permissions=...)``, written by ``cronlane template`` as ExecutorRole's ``jobs``
policy). A grant anywhere else on those roles (a statement added by hand, a managed policy, an
``AWS::IAM::Policy`` attached to them, ``Policies`` on a function) is a problem naming the
supported way. Roles the user defines for other resources of theirs are theirs."""

from __future__ import annotations

from typing import Any

from cronlane.declarations import Catalog

# The only actions that may have Resource "*": AWS has no narrower resource for them.
STAR_RESOURCE_ACTIONS = frozenset({"xray:PutTraceSegments", "xray:PutTelemetryRecords"})
# Both functions: their own log group, the runs table, X-Ray.
SHARED_ACTIONS = frozenset(
    {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:Query",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "events:PutEvents",  # the run events (cronlane.run_events), as source cronlane only
    }
)
# Both arm, move and delete the runs' one-time checks, naming the scheduler role as theirs.
WATCHDOG_ACTIONS = frozenset(
    {"scheduler:CreateSchedule", "scheduler:UpdateSchedule", "scheduler:DeleteSchedule", "iam:PassRole"}
)
KMS_ACTIONS = frozenset({"kms:Decrypt", "kms:GenerateDataKey"})
# Role -> its policy -> exactly the actions the framework's code uses (with the customer key's,
# granted only when KmsKeyArn is set).
FRAMEWORK_GRANTS: dict[str, tuple[str, frozenset[str]]] = {
    # the dispatcher enqueues, and lists, gives back and deletes dead letters
    "DispatcherRole": (
        "dispatcher",
        SHARED_ACTIONS
        | WATCHDOG_ACTIONS
        | KMS_ACTIONS
        | {"sqs:SendMessage", "sqs:ReceiveMessage", "sqs:ChangeMessageVisibility", "sqs:DeleteMessage"},
    ),
    # the executor consumes the job queue (with its mapping), releases, backs off, dead-letters
    "ExecutorRole": (
        "executor",
        SHARED_ACTIONS
        | WATCHDOG_ACTIONS
        | KMS_ACTIONS
        | {
            "sqs:ReceiveMessage",
            "sqs:DeleteMessage",
            "sqs:GetQueueAttributes",
            "sqs:ChangeMessageVisibility",
            "sqs:SendMessage",
        },
    ),
    # Scheduler invokes the dispatcher and parks undeliverable ticks
    "SchedulerRole": ("scheduler", frozenset({"lambda:InvokeFunction", "sqs:SendMessage"}) | KMS_ACTIONS),
    # the completions record handed-off jobs' outcomes: releases, timers, dead letters
    "CompletionRole": (
        "completion",
        SHARED_ACTIONS
        | WATCHDOG_ACTIONS
        | KMS_ACTIONS
        | {"sqs:SendMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"},
    ),
    # the dashboard's widget reads the table and changes nothing
    "WidgetRole": (
        "widget",
        frozenset(
            {
                "logs:CreateLogStream",
                "logs:PutLogEvents",
                "dynamodb:GetItem",
                "dynamodb:BatchGetItem",
                "dynamodb:Query",
                "xray:PutTraceSegments",
                "xray:PutTelemetryRecords",
                "kms:Decrypt",
            }
        ),
    ),
}
FUNCTION_ROLES = {
    "DispatcherFunction": "DispatcherRole",
    "ExecutorFunction": "ExecutorRole",
    "CompletionFunction": "CompletionRole",
    "TaskEventsFunction": "CompletionRole",
    "DashboardWidgetFunction": "WidgetRole",
}
ASSUMED_BY = {
    "DispatcherRole": "lambda.amazonaws.com",
    "ExecutorRole": "lambda.amazonaws.com",
    "CompletionRole": "lambda.amazonaws.com",
    "WidgetRole": "lambda.amazonaws.com",
    "SchedulerRole": "scheduler.amazonaws.com",
}
JOBS_POLICY = "jobs"  # ExecutorRole's policy of the jobs' declared permissions and targets' needs
TARGETS_POLICY = "targets"  # DispatcherRole's: a cancel stops the ecs targets' tasks
GENERATED_POLICIES = {"ExecutorRole": JOBS_POLICY, "DispatcherRole": TARGETS_POLICY}
# ARNs built with Fn::Sub that still name only this stack's resources.
STACK_ARNS = frozenset(
    {
        "arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:schedule/${WatchdogGroup}/*",
        "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${AWS::StackName}-dispatcher",
        "${RunsTable.Arn}/index/*",
        # the account's default bus, for the run events: granted with an events:source condition
        "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/default",
    }
)
SUPPORTED_WAY = (
    "declare it on the job (Job(..., permissions=[Permission(actions, resources)])) and run cronlane template"
)


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    """A policy document's statements; an ``Fn::If`` gives its branches that are statements."""
    found: list[dict[str, Any]] = []
    for statement in as_list(document.get("Statement", [])):
        if isinstance(statement, dict) and "Fn::If" in statement:
            found += [s for s in statement["Fn::If"][1:] if isinstance(s, dict) and "Effect" in s]
        elif isinstance(statement, dict):
            found.append(statement)
    return found


def declared_statements(
    catalog: Catalog, role: str = "ExecutorRole", template: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The statements ``cronlane template`` writes into ``role``'s generated policy: for the
    executor, every permission the jobs declare and what their targets need (a lambda target's
    invoke; an ecs target's RunTask, StopTask and PassRole; a callback target's send); for the
    dispatcher, the ecs targets' StopTask."""
    from cronlane.template.generate import cancel_statements, job_statements

    return job_statements(catalog, template) if role == "ExecutorRole" else cancel_statements(catalog)


def _plain(resource: Any) -> str | None:
    """A literal or ``Fn::Sub`` ARN as text (what a declared permission is written as)."""
    if isinstance(resource, str):
        return resource
    if isinstance(resource, dict) and isinstance(resource.get("Fn::Sub"), str):
        return str(resource["Fn::Sub"])
    return None


def _stack_resource(resource: Any, names: set[str]) -> bool:
    """A Ref or a GetAtt of one of this stack's resources (``names``; not a parameter), or a Sub of
    one of this stack's ARNs."""
    if not isinstance(resource, dict) or len(resource) != 1:
        return False
    if "Fn::Sub" in resource:
        return str(resource["Fn::Sub"]) in STACK_ARNS
    if "Ref" in resource:
        return resource["Ref"] in names
    attribute = resource.get("Fn::GetAtt")
    return isinstance(attribute, list) and bool(attribute) and attribute[0] in names


NEGATIONS = ("NotAction", "NotResource", "NotPrincipal")  # "everything but": never least privilege


def _negation_problems(statement: dict[str, Any], where: str) -> list[str]:
    return [
        f"{where}: statement {statement.get('Sid', '?')} uses {key}, which grants everything else: name "
        "the actions and resources"
        for key in NEGATIONS
        if key in statement
    ]


def _framework_policy(role: str, document: dict[str, Any], where: str, names: set[str]) -> list[str]:
    problems: list[str] = []
    expected = FRAMEWORK_GRANTS[role][1]
    actions: set[str] = set()
    conditional = [s for s in as_list(document.get("Statement", [])) if isinstance(s, dict) and "Fn::If" in s]
    for statement in statements(document):
        if statement.get("Effect") != "Allow":
            continue
        problems += _negation_problems(statement, where)
        granted = {str(a) for a in as_list(statement.get("Action", []))}
        actions |= granted
        sid = statement.get("Sid", "?")
        for action in sorted(granted):
            if "*" in action:
                problems.append(f"{where}: statement {sid} grants a wildcard action {action}")
        resources = as_list(statement.get("Resource", []))
        if "*" in resources:
            if not granted <= STAR_RESOURCE_ACTIONS:
                problems.append(
                    f'{where}: statement {sid} grants {", ".join(sorted(granted))} on "*": only X-Ray\'s '
                    'two actions may have Resource "*"'
                )
            continue
        if granted & KMS_ACTIONS:
            if resources != [{"Ref": "KmsKeyArn"}]:
                problems.append(f"{where}: statement {sid}: the KMS actions are only for the KmsKeyArn key")
            continue
        for resource in resources:
            if not _stack_resource(resource, names):
                problems.append(
                    f"{where}: statement {sid} names {resource}, not one of this stack's resources: a job's "
                    f"grant goes elsewhere ({SUPPORTED_WAY})"
                )
        if "iam:PassRole" in granted and (
            resources != [{"Fn::GetAtt": ["SchedulerRole", "Arn"]}]
            or statement.get("Condition")
            != {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}}
        ):
            problems.append(
                f"{where}: statement {sid}: iam:PassRole only of SchedulerRole, only to Scheduler"
            )
    extra, missing = actions - expected, (expected - KMS_ACTIONS) - actions
    if extra:
        problems.append(
            f"{where}: grants {', '.join(sorted(extra))} beyond cronlane's own: for a job, {SUPPORTED_WAY}"
        )
    if missing:
        problems.append(f"{where}: lacks {', '.join(sorted(missing))}, which cronlane's code uses")
    if len(conditional) != 1 or conditional[0]["Fn::If"][0] != "HasKmsKey":
        problems.append(f"{where}: the customer key must be granted in one !If [HasKmsKey, ...] statement")
    return problems


def _normal(statement: dict[str, Any]) -> dict[str, Any]:
    return {
        "Sid": statement.get("Sid"),
        "Effect": statement.get("Effect"),
        "Action": [str(a) for a in as_list(statement.get("Action", []))],
        "Resource": as_list(statement.get("Resource", [])),
        "Condition": statement.get("Condition") or None,
    }


def _jobs_policy(
    document: dict[str, Any], catalog: Catalog | None, where: str, role: str, template: dict[str, Any]
) -> list[str]:
    if catalog is None:  # the declarations are wrong (named apart): nothing to compare with
        return []
    declared = [_normal(s) for s in declared_statements(catalog, role, template)]
    problems = []
    for statement in statements(document):
        problems += _negation_problems(statement, where)
        if statement.get("Effect") == "Allow" and _normal(statement) not in declared:
            problems.append(
                f"{where}: statement {statement.get('Sid', '?')} is not a job's declared permission "
                "(run cronlane template, or declare it on the job)"
            )
    return problems


def problems(template: dict[str, Any], catalog: Catalog | None) -> list[str]:
    """Every grant on the framework's roles that is not the framework's or a job's declared one."""
    resources: dict[str, Any] = template.get("Resources", {})
    found: list[str] = []
    for role, (policy_name, _) in FRAMEWORK_GRANTS.items():
        where = f"template.yaml: {role}"
        resource = resources.get(role)
        if not isinstance(resource, dict) or resource.get("Type") != "AWS::IAM::Role":
            found.append(f"{where}: missing (an AWS::IAM::Role the framework's functions use)")
            continue
        props = resource.get("Properties", {})
        if props.get("ManagedPolicyArns"):
            found.append(
                f"{where}: has managed policies (more than cronlane uses): for a job, {SUPPORTED_WAY}"
            )
        for statement in as_list(props.get("AssumeRolePolicyDocument", {}).get("Statement", [])):
            principal = statement.get("Principal", {}) if isinstance(statement, dict) else {}
            services = set(as_list(principal.get("Service", [])))
            if "AWS" in principal or services != {ASSUMED_BY[role]}:
                found.append(f"{where}: may be assumed only by {ASSUMED_BY[role]}")
        policies = {p.get("PolicyName"): p.get("PolicyDocument", {}) for p in props.get("Policies", [])}
        for name, document in policies.items():
            if name == policy_name:
                found += _framework_policy(role, document, f"{where} policy {name}", set(resources))
            elif name == GENERATED_POLICIES.get(role):
                found += _jobs_policy(document, catalog, f"{where} policy {name}", role, template)
            else:
                found.append(f"{where}: policy {name} is not cronlane's: for a job, {SUPPORTED_WAY}")
        if policy_name not in policies:
            found.append(f"{where}: its policy {policy_name} is missing")
    for name, resource in resources.items():
        kind = resource.get("Type") if isinstance(resource, dict) else None
        props = resource.get("Properties", {}) if isinstance(resource, dict) else {}
        if kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy"):
            attached = {str(r.get("Ref")) for r in as_list(props.get("Roles", [])) if isinstance(r, dict)}
            attached |= (
                {str(props.get("RoleName", {}).get("Ref"))}
                if isinstance(props.get("RoleName"), dict)
                else set()
            )
            for role in sorted(attached & set(FRAMEWORK_GRANTS)):
                found.append(f"template.yaml: {name} attaches a policy to {role}: for a job, {SUPPORTED_WAY}")
        if name in FUNCTION_ROLES:
            if props.get("Policies"):
                found.append(f"template.yaml: {name} has Policies: for a job, {SUPPORTED_WAY}")
            if props.get("Role") != {"Fn::GetAtt": [FUNCTION_ROLES[name], "Arn"]}:
                found.append(f"template.yaml: {name} must run with !GetAtt {FUNCTION_ROLES[name]}.Arn")
    return found
