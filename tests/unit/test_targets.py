"""Job targets, their declaration and the payload a lambda target gets (cronlane.targets)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cronlane import Catalog, Job, LambdaTarget, Schedule, Selection
from cronlane.clock import SystemClock
from cronlane.context import JobContext
from cronlane.errors import CatalogError
from cronlane.targets import function_arn_sub, kind_of, payload
from cronlane.targets_aws import lambda_client


def test_a_lambda_target_is_one_declaration_kept_as_its_spec() -> None:
    job = Job("rankJob", LambdaTarget("${AWS::StackName}-rank"), "feed")
    assert job.function == "lambda:${AWS::StackName}-rank"
    assert kind_of(job.function) == "lambda" and kind_of("pkg.mod.fn") == "python"
    assert function_arn_sub(job.function) == (
        "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${AWS::StackName}-rank"
    )
    arn = "arn:aws:lambda:eu-west-1:123456789012:function:shared-rank"
    assert function_arn_sub(Job("j", LambdaTarget(arn), "g").function) == arn


def test_a_target_that_names_no_function_is_refused_by_the_catalog() -> None:
    with pytest.raises(CatalogError) as raised:
        Catalog.build(
            [Job("a", LambdaTarget("has spaces"), "g"), Job("b", "nodots", "g")],
            [Schedule("s", "rate(1 hour)", Selection.everything())],
        )
    assert raised.value.problems == [
        "job 'a': lambda target 'has spaces' must be a function name (letters, digits, '-', '_', "
        "${AWS::StackName}) or a function ARN",
        "job 'b': function 'nodots' is not a dotted path",
    ]


def test_the_payload_carries_what_the_function_needs_to_run_the_job_once() -> None:
    ctx = JobContext(
        run_id="daily@2026-12-02T06:00:00Z",
        job="rankJob",
        schedule="daily",
        scheduled_time=datetime(2026, 12, 2, 6, tzinfo=UTC),
        params={"size": 3},
        attempt=2,
        idempotency_key="daily@2026-12-02T06:00:00Z/rankJob",
        clock=SystemClock(),
        deadline=1796191200.0,
        upstream_results={"scoreJob": {"scored": 12}},
    )
    assert payload(ctx) == {
        "run_id": "daily@2026-12-02T06:00:00Z",
        "job": "rankJob",
        "schedule": "daily",
        "scheduled_time": "2026-12-02T06:00:00Z",
        "params": {"size": 3},
        "attempt": 2,
        "idempotency_key": "daily@2026-12-02T06:00:00Z/rankJob",
        "upstream_results": {"scoreJob": {"scored": 12}},
        "deadline": "2026-12-02T06:00:00Z",
    }


def test_the_lambda_client_waits_for_a_15_minute_function_and_never_invokes_twice() -> None:
    config = lambda_client("us-east-1").meta.config
    assert config.read_timeout == 930  # boto3's 60 s default would cut a long function short
    assert config.retries["total_max_attempts"] == 1
