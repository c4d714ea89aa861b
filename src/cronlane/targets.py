"""Where a job runs: its *target*, declared on the job (one declaration still).

- ``python`` (the default): ``Job(name, "package.module.function", ...)``, a function in the app's
  own package, called in the executor.
- ``lambda``: ``Job(name, LambdaTarget("${AWS::StackName}-my-function"), ...)``, an existing Lambda
  function in any runtime, invoked synchronously by the executor with the payload below; its
  result is the job's result, a function error (or its timeout) a failed attempt.

A target travels in the run's graph snapshot as one string, its *spec* (``package.module.fn`` or
``lambda:<function>``), so a run keeps the targets it was dispatched with. Pure: nothing here
talks to AWS (``cronlane.targets_aws`` does).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from cronlane.clock import iso
from cronlane.context import JobContext

PYTHON, LAMBDA = "python", "lambda"
KINDS = (PYTHON, LAMBDA)
LAMBDA_PREFIX = "lambda:"
STACK_NAME = "${AWS::StackName}"
# A Lambda function's name (64 characters), with ${AWS::StackName} allowed, or its ARN.
FUNCTION_NAME = re.compile(r"^(\$\{AWS::StackName\}|[A-Za-z0-9_-])+$")
FUNCTION_ARN = re.compile(r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]{1,64}$")
# The executor waits this much longer than a synchronous target may take, to record the outcome.
SYNC_MARGIN_S = 30


class TargetFailed(Exception):
    """The target reported a failure (a Lambda function error): the attempt failed with it."""


@dataclass(frozen=True)
class LambdaTarget:
    """An existing Lambda function, by name (``${AWS::StackName}`` is this stack's name) or ARN,
    invoked synchronously: the job's ``timeout_s`` must cover the function's own timeout."""

    function: str

    @property
    def spec(self) -> str:
        return f"{LAMBDA_PREFIX}{self.function}"


def kind_of(spec: str) -> str:
    return LAMBDA if spec.startswith(LAMBDA_PREFIX) else PYTHON


def lambda_function(spec: str) -> str:
    """The function a ``lambda:`` spec names, as declared (``${AWS::StackName}`` unresolved)."""
    return spec[len(LAMBDA_PREFIX) :]


def resolved_function(spec: str, stack_name: str) -> str:
    return lambda_function(spec).replace(STACK_NAME, stack_name)


def spec_problem(spec: str) -> str | None:
    """Why a job's target cannot be used, or None."""
    if kind_of(spec) == PYTHON:
        return None if "." in spec else f"function '{spec}' is not a dotted path"
    name = lambda_function(spec)
    if FUNCTION_ARN.match(name):
        return None
    if not FUNCTION_NAME.match(name) or len(name.replace(STACK_NAME, "")) > 64 - 1:
        return (
            f"lambda target '{name}' must be a function name (letters, digits, '-', '_', "
            f"{STACK_NAME}) or a function ARN"
        )
    return None


def function_arn_sub(spec: str) -> str:
    """The ARN a ``lambda:`` target is invoked at, as an ``!Sub`` string (for its IAM grant)."""
    name = lambda_function(spec)
    if name.startswith("arn:"):
        return name
    return f"arn:${{AWS::Partition}}:lambda:${{AWS::Region}}:${{AWS::AccountId}}:function:{name}"


def payload(ctx: JobContext) -> dict[str, Any]:
    """What a ``lambda`` target receives (docs/jobs-and-schedules.md: job targets)."""
    return {
        "run_id": ctx.run_id,
        "job": ctx.job,
        "schedule": ctx.schedule,
        "scheduled_time": iso(ctx.scheduled_time.timestamp()),
        "params": ctx.params,
        "attempt": ctx.attempt,
        "idempotency_key": ctx.idempotency_key,
        "deadline": iso(ctx.deadline),
    }
