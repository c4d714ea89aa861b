"""The executor's target grants are exactly the catalog's targets: the example has a job of each
kind, and ``cronlane template`` granted the executor each target's own resource, by name."""

from __future__ import annotations

import copy
import os
from typing import Any
from unittest import mock

from conftest import APP
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class _NoManagedPolicies:
    def load(self) -> dict[str, str]:
        return {}


def roles() -> dict[str, dict[str, Any]]:
    template = yaml_parse(APP.template.read_text())
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function":
            props["CodeUri"] = "s3://bucket/function.zip"
        elif resource["Type"] == "AWS::Serverless::LayerVersion":
            props["ContentUri"] = "s3://bucket/layer.zip"
    with mock.patch.dict(os.environ, {"AWS_DEFAULT_REGION": "us-east-1"}):
        expanded = transform(copy.deepcopy(template), {}, _NoManagedPolicies())
    return {k: r["Properties"] for k, r in expanded["Resources"].items() if r["Type"] == "AWS::IAM::Role"}


def statements(role: dict[str, Any], policy: str) -> list[dict[str, Any]]:
    return [
        s
        for p in role.get("Policies", [])
        if p["PolicyName"] == policy
        for s in p["PolicyDocument"]["Statement"]
    ]


def sub(arn: str) -> dict[str, str]:
    return {"Fn::Sub": "arn:${AWS::Partition}:" + arn}


def test_the_executors_target_grants_are_exactly_the_catalogs_targets() -> None:
    # what the executor may do for them is each target's resource, by name, never "*"; the
    # dispatcher may only stop the ecs targets' tasks (a cancel)
    found = roles()
    region = "${AWS::Region}:${AWS::AccountId}"
    cluster = {"ArnEquals": {"ecs:cluster": sub(f"ecs:{region}:cluster/${{AWS::StackName}}-jobs")}}
    tasks = [sub(f"ecs:{region}:task/${{AWS::StackName}}-jobs/*")]
    instances = [sub(f"ecs:{region}:container-instance/${{AWS::StackName}}-jobs/*")]
    grants = {s["Sid"]: s for s in statements(found["ExecutorRole"], "jobs")}
    assert {sid: (s["Action"], s["Resource"], s.get("Condition")) for sid, s in grants.items()} == {
        "InvokeFeedPresortJob": (
            ["lambda:InvokeFunction"],
            [sub(f"lambda:{region}:function:${{AWS::StackName}}-feed-presort")],
            None,
        ),
        "RunRecommendationModelJobTask": (
            ["ecs:RunTask"],
            [sub(f"ecs:{region}:task-definition/${{AWS::StackName}}-recommendation-model:*")],
            cluster,
        ),
        "StopRecommendationModelJobTask": (["ecs:DescribeTasks", "ecs:StopTask"], tasks, cluster),
        "FindRecommendationModelJobTask": (["ecs:ListTasks"], instances, cluster),
        "PassRecommendationModelJobRoles": (
            ["iam:PassRole"],
            [
                {"Fn::GetAtt": ["RecommendationModelTaskRole", "Arn"]},
                {"Fn::GetAtt": ["TaskExecutionRole", "Arn"]},
            ],
            {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
        ),
        "SendCompatibilityJobWork": (
            ["sqs:GetQueueUrl", "sqs:SendMessage"],
            [sub(f"sqs:{region}:${{AWS::StackName}}-compatibility-work")],
            None,
        ),
    }
    cancel = statements(found["DispatcherRole"], "targets")
    assert [(s["Action"], s["Resource"], s["Condition"]) for s in cancel] == [
        (["ecs:DescribeTasks", "ecs:StopTask"], tasks, cluster),
        (["ecs:ListTasks"], instances, cluster),
    ]
    # the completion side holds no target grant: it records, it never starts or stops work
    completion = {
        a for s in statements(found["CompletionRole"], "completion") if "Action" in s for a in s["Action"]
    }
    assert not completion & {"ecs:RunTask", "ecs:StopTask", "lambda:InvokeFunction"}
