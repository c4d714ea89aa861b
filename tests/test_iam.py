"""Least privilege, checked on the template as CloudFormation receives it (expanded by
aws-sam-translator): every IAM statement names its actions (no "*", no "service:*") and this
stack's resources; "*" as a resource only for the X-Ray actions, which have no resource-level
permissions. Each function's actions are pinned here and listed in the README."""

from __future__ import annotations

import copy
import os
from typing import Any
from unittest import mock

import pytest
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

from cronlane.template.iam import FRAMEWORK_GRANTS, KMS_ACTIONS, STACK_ARNS, STAR_RESOURCE_ACTIONS
from fixture_jobs.catalog import CATALOG
from tests.conftest import TEMPLATE

# The framework's own grants, exactly (cronlane.template.iam, which validate checks too); the
# jobs' declared permissions come on top of the executor's, as ExecutorRole's "jobs" policy.
DISPATCHER_ACTIONS = FRAMEWORK_GRANTS["DispatcherRole"][1] - KMS_ACTIONS
EXECUTOR_ACTIONS = FRAMEWORK_GRANTS["ExecutorRole"][1] - KMS_ACTIONS
SCHEDULER_ACTIONS = FRAMEWORK_GRANTS["SchedulerRole"][1] - KMS_ACTIONS
COMPLETION_ACTIONS = FRAMEWORK_GRANTS["CompletionRole"][1] - KMS_ACTIONS
DECLARED = {
    (a, r) for job in CATALOG.jobs.values() for p in job.permissions for a in p.actions for r in p.resources
}


class _NoManagedPolicies:
    """The template attaches no AWS managed policy; asking for one fails the expansion."""

    def load(self) -> dict[str, str]:
        return {}


def expand(text: str) -> dict[str, Any]:
    template = yaml_parse(text)
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function":
            props["CodeUri"] = "s3://bucket/function.zip"
        elif resource["Type"] == "AWS::Serverless::LayerVersion":
            props["ContentUri"] = "s3://bucket/layer.zip"
    with mock.patch.dict(os.environ, {"AWS_DEFAULT_REGION": "us-east-1"}):  # for SAM's ARNs
        return transform(copy.deepcopy(template), {}, _NoManagedPolicies())  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def expanded() -> dict[str, Any]:
    return expand(TEMPLATE.read_text())


def roles(expanded: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: r["Properties"] for k, r in expanded["Resources"].items() if r["Type"] == "AWS::IAM::Role"}


def statements(role: dict[str, Any], only: str | None = None) -> list[dict[str, Any]]:
    """Every statement of the role's inline policies (or of the one named ``only``); an ``Fn::If``
    gives both branches."""
    found: list[dict[str, Any]] = []
    for policy in role.get("Policies", []):
        if only is not None and policy["PolicyName"] != only:
            continue
        for statement in policy["PolicyDocument"]["Statement"]:
            if isinstance(statement, dict) and "Fn::If" in statement:
                found += [s for s in statement["Fn::If"][1:] if isinstance(s, dict) and "Effect" in s]
            else:
                found.append(statement)
    return found


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def actions_of(role: dict[str, Any], policy: str | None = None) -> set[str]:
    return {a for s in statements(role, policy) if s["Effect"] == "Allow" for a in as_list(s["Action"])}


def test_no_role_gets_a_managed_policy_or_a_wildcard_action(expanded: dict[str, Any]) -> None:
    found = roles(expanded)
    assert {"DispatcherRole", "ExecutorRole"} <= set(found)
    for name, role in found.items():
        assert not role.get("ManagedPolicyArns"), f"{name} has managed policies"
        for statement in statements(role):
            for action in as_list(statement["Action"]):
                assert "*" not in action, f"{name}: wildcard action {action}"


def test_resource_star_only_where_aws_has_nothing_narrower(expanded: dict[str, Any]) -> None:
    for name, role in roles(expanded).items():
        for statement in statements(role):
            resources = as_list(statement["Resource"])
            if "*" in resources:
                assert set(as_list(statement["Action"])) <= STAR_RESOURCE_ACTIONS, (name, statement)
                continue
            for resource in resources:
                # this stack's resources: a Ref, a GetAtt, or a Sub of one (the table's indexes,
                # the checks' schedule group, the dispatcher named after the stack), or what a job
                # declares for itself
                assert isinstance(resource, dict), f"{name}: literal resource {resource}"
                if "Fn::Sub" in resource:
                    declared = {(a, resource["Fn::Sub"]) for a in as_list(statement["Action"])} <= DECLARED
                    assert str(resource["Fn::Sub"]) in STACK_ARNS or declared, (name, resource)
                else:
                    assert set(resource) <= {"Ref", "Fn::GetAtt"}, (name, resource)


def test_each_function_has_exactly_the_actions_its_code_uses(expanded: dict[str, Any]) -> None:
    found = roles(expanded)
    assert actions_of(found["DispatcherRole"], "dispatcher") == DISPATCHER_ACTIONS | KMS_ACTIONS
    assert actions_of(found["ExecutorRole"], "executor") == EXECUTOR_ACTIONS | KMS_ACTIONS
    assert actions_of(found["SchedulerRole"]) == SCHEDULER_ACTIONS | KMS_ACTIONS
    # the zoned schedule uses the declared role, not one SAM would generate
    schedule = expanded["Resources"]["DispatcherFunctionMorning"]["Properties"]
    assert schedule["Target"]["RoleArn"] == {"Fn::GetAtt": ["SchedulerRole", "Arn"]}
    assert actions_of(found["CompletionRole"]) == COMPLETION_ACTIONS | KMS_ACTIONS
    # the dashboard's widget only reads the table
    assert actions_of(found["WidgetRole"]) == {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:Query",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "kms:Decrypt",
    }
    assert set(found) == {"DispatcherRole", "ExecutorRole", "SchedulerRole", "CompletionRole", "WidgetRole"}
    functions = {
        k: r["Properties"] for k, r in expanded["Resources"].items() if r["Type"] == "AWS::Lambda::Function"
    }
    assert functions["DispatcherFunction"]["Role"] == {"Fn::GetAtt": ["DispatcherRole", "Arn"]}
    assert functions["ExecutorFunction"]["Role"] == {"Fn::GetAtt": ["ExecutorRole", "Arn"]}
    assert functions["CompletionFunction"]["Role"] == {"Fn::GetAtt": ["CompletionRole", "Arn"]}
    assert functions["TaskEventsFunction"]["Role"] == {"Fn::GetAtt": ["CompletionRole", "Arn"]}
    assert functions["DashboardWidgetFunction"]["Role"] == {"Fn::GetAtt": ["WidgetRole", "Arn"]}


def test_only_lambda_and_scheduler_may_assume_the_roles(expanded: dict[str, Any]) -> None:
    for name, role in roles(expanded).items():
        for statement in role["AssumeRolePolicyDocument"]["Statement"]:
            services = as_list(statement["Principal"]["Service"])
            assert set(services) <= {"lambda.amazonaws.com", "scheduler.amazonaws.com"}, name
            assert "AWS" not in statement["Principal"], name


def test_the_customer_key_is_granted_only_when_one_is_given(expanded: dict[str, Any]) -> None:
    for name in ("DispatcherRole", "ExecutorRole", "SchedulerRole"):
        document = roles(expanded)[name]["Policies"][0]["PolicyDocument"]  # the framework's own
        conditional = [s for s in document["Statement"] if "Fn::If" in s]
        assert len(conditional) == 1 and conditional[0]["Fn::If"][0] == "HasKmsKey"
        key_statement = conditional[0]["Fn::If"][1]
        assert set(key_statement["Action"]) == KMS_ACTIONS
        assert key_statement["Resource"] == {"Ref": "KmsKeyArn"}
        assert conditional[0]["Fn::If"][2] == {"Ref": "AWS::NoValue"}


def test_the_scheduler_role_is_passed_only_to_the_scheduler(expanded: dict[str, Any]) -> None:
    for name in ("DispatcherRole", "ExecutorRole"):
        passing = [s for s in statements(roles(expanded)[name]) if "iam:PassRole" in as_list(s["Action"])]
        assert len(passing) == 1, name
        assert passing[0]["Resource"] == {"Fn::GetAtt": ["SchedulerRole", "Arn"]}
        assert passing[0]["Condition"] == {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}}


def test_the_dispatcher_function_is_named_as_the_checks_and_the_scheduler_role_name_it(
    expanded: dict[str, Any],
) -> None:
    function = expanded["Resources"]["DispatcherFunction"]["Properties"]
    assert function["FunctionName"] == {"Fn::Sub": "${AWS::StackName}-dispatcher"}
    group = expanded["Resources"]["WatchdogGroup"]
    assert group["Type"] == "AWS::Scheduler::ScheduleGroup"


def test_the_executor_gets_exactly_what_the_jobs_declare_besides_its_own(expanded: dict[str, Any]) -> None:
    # the fixture's index job declares s3:GetObject on one bucket's objects: the role has that grant,
    # in its "jobs" policy, and nothing else beyond the framework's
    role = roles(expanded)["ExecutorRole"]
    assert [p["PolicyName"] for p in role["Policies"]] == ["executor", "jobs"]
    granted = {
        (a, r["Fn::Sub"] if isinstance(r, dict) else r)
        for s in statements(role, "jobs")
        for a in as_list(s["Action"])
        for r in as_list(s["Resource"])
    }
    assert granted == DECLARED == {("s3:GetObject", "arn:${AWS::Partition}:s3:::fixture-search-input/*")}
    assert actions_of(roles(expanded)["DispatcherRole"]) == DISPATCHER_ACTIONS | KMS_ACTIONS
