"""The job targets' AWS side (``cronlane.targets`` holds the rest): a ``lambda`` target invoked
with the SDK (the executor resolves a job's spec to a callable of its ``JobContext`` with
``resolver``; a Python spec is the app's function), and the handed-off ones, ``ecs`` and
``callback``, started and stopped by ``AwsTargets``."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from cronlane.context import JobContext
from cronlane.targets import (
    CALLBACK,
    ECS,
    LAMBDA,
    SYNC_MARGIN_S,
    CallbackTarget,
    EcsTarget,
    Started,
    TargetFailed,
    TokenClaims,
    callback_message,
    callback_target,
    ecs_target,
    kind_of,
    payload,
    resolved,
    resolved_function,
    started_by,
    task_attempt,
    task_environment,
    token_hash,
)

MAX_SYNC_S = 900  # a Lambda function runs at most this long


def lambda_client(region: str | None = None) -> Any:
    """A Lambda client that waits as long as a function may run (boto3's default read timeout of
    60 s would cut a longer one short) and never retries an invoke by itself: a retried invoke
    could run the function twice; the job's own retries decide."""
    import boto3
    from botocore.config import Config

    config = Config(
        read_timeout=MAX_SYNC_S + SYNC_MARGIN_S, connect_timeout=10, retries={"total_max_attempts": 1}
    )
    return boto3.client("lambda", region_name=region, config=config)


def invoke_lambda(client: Any, function: str, ctx: JobContext) -> Any:
    """Invoke ``function`` with the job's payload and return its result; a function error raises
    ``TargetFailed`` with its message. The request id is the job-run's handle."""
    answer = client.invoke(
        FunctionName=function, InvocationType="RequestResponse", Payload=json.dumps(payload(ctx)).encode()
    )
    ctx.handle = str(answer.get("ResponseMetadata", {}).get("RequestId") or "") or None
    body = answer["Payload"].read().decode() or "null"
    try:
        result = json.loads(body)
    except json.JSONDecodeError:
        result = body
    if answer.get("FunctionError"):
        message = result.get("errorMessage") if isinstance(result, dict) else None
        kind = result.get("errorType") if isinstance(result, dict) else None
        raise TargetFailed(f"{kind or answer['FunctionError']}: {message or body}"[:2000])
    return result


def resolver(
    import_function: Callable[[str], Callable[..., Any]], stack_name: str, client_of: Callable[[], Any]
) -> Callable[[str], Callable[[JobContext], Any]]:
    """spec -> what the executor calls with the job's context."""

    def resolve(spec: str) -> Callable[[JobContext], Any]:
        if kind_of(spec) != LAMBDA:
            return import_function(spec)
        function = resolved_function(spec, stack_name)
        return lambda ctx: invoke_lambda(client_of(), function, ctx)

    return resolve


class AwsTargets:
    """``ecs`` and ``callback`` targets on AWS (``ports.Targets``): RunTask and StopTask; a
    message with a task token on the job's queue."""

    def __init__(
        self,
        stack_name: str,
        ecs: Any,
        sqs: Any,
        subnets: tuple[str, ...] = (),
        security_groups: tuple[str, ...] = (),
    ) -> None:
        self.stack_name = stack_name
        self.ecs, self.sqs = ecs, sqs
        self.subnets, self.security_groups = subnets, security_groups
        self._queue_urls: dict[str, str] = {}

    def start(self, spec: str, ctx: JobContext, generation: int, prepared: Started) -> Started:
        if kind_of(spec) == ECS:
            return self._run_task(ecs_target(spec), ctx, generation)
        if kind_of(spec) == CALLBACK and prepared.token:
            return self._send_work(callback_target(spec), ctx, prepared)
        raise TargetFailed(f"'{spec}' is not a handed-off target")

    def stop(self, spec: str, handle: str, reason: str, attempt: TokenClaims) -> None:
        if kind_of(spec) != ECS:
            return  # a worker cannot be stopped: its late completion is ignored
        target = ecs_target(spec)
        cluster = resolved(target.cluster, self.stack_name)
        try:
            for task in [handle] if handle else self._tasks_of(cluster, attempt):
                self.ecs.stop_task(cluster=cluster, task=task, reason=reason[:255])
        except Exception:  # best effort: a task already stopped, or gone
            return

    def _tasks_of(self, cluster: str, attempt: TokenClaims) -> list[str]:
        """The running tasks of the stack that run ``attempt`` (their environment says so): an
        attempt whose RunTask answer was lost to a crash."""
        found: list[str] = []
        pages = self.ecs.get_paginator("list_tasks").paginate(
            cluster=cluster, startedBy=started_by(self.stack_name)
        )
        for page in pages:  # at most 100 tasks a page, as many as one DescribeTasks takes
            arns = page.get("taskArns") or []
            described = self.ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"] if arns else []
            found += [str(t["taskArn"]) for t in described if task_attempt(t) == attempt]
        return found

    def _run_task(self, target: EcsTarget, ctx: JobContext, generation: int) -> Started:
        environment = [{"name": k, "value": v} for k, v in task_environment(ctx, generation).items()]
        request: dict[str, Any] = {
            "cluster": resolved(target.cluster, self.stack_name),
            "taskDefinition": resolved(target.task_definition, self.stack_name),
            "count": 1,
            "launchType": target.launch_type,
            "startedBy": started_by(self.stack_name),
            "overrides": {"containerOverrides": [{"name": target.container, "environment": environment}]},
            # the same attempt asked twice (a retried request) starts one task
            "clientToken": hashlib.sha256(
                f"{ctx.run_id}|{ctx.job}|{generation}|{ctx.attempt}".encode()
            ).hexdigest()[:64],
        }
        subnets = target.subnets or self.subnets
        if target.launch_type == "FARGATE" or subnets:
            request["networkConfiguration"] = {
                "awsvpcConfiguration": {
                    "subnets": list(subnets),
                    "securityGroups": list(target.security_groups or self.security_groups),
                    "assignPublicIp": "ENABLED" if target.assign_public_ip else "DISABLED",
                }
            }
        try:
            answer = self.ecs.run_task(**request)
        except (
            Exception
        ) as exc:  # refused (a bad definition, no capacity, no permission): an attempt's failure
            raise TargetFailed(f"ECS RunTask failed: {exc}"[:2000]) from None
        tasks = answer.get("tasks") or []
        if not tasks:
            failures = answer.get("failures") or [{}]
            first = failures[0]
            raise TargetFailed(
                f"ECS RunTask started no task: {first.get('reason')} {first.get('detail') or ''}".strip()
            )
        return Started(str(tasks[0]["taskArn"]))

    def _send_work(self, target: CallbackTarget, ctx: JobContext, prepared: Started) -> Started:
        token = str(prepared.token)
        name = resolved(target.queue, self.stack_name)
        client = self.sqs
        try:
            url = self._queue_urls.get(name) or client.get_queue_url(QueueName=name)["QueueUrl"]
            self._queue_urls[name] = url
            request: dict[str, Any] = {
                "QueueUrl": url,
                "MessageBody": json.dumps(callback_message(ctx, token, target.heartbeat_s)),
            }
            if name.endswith(".fifo"):
                request.update(MessageGroupId=ctx.job, MessageDeduplicationId=token_hash(token))
            client.send_message(**request)
        except Exception as exc:  # the queue is missing or refuses: an attempt's failure
            raise TargetFailed(f"sending the job to callback queue '{name}' failed: {exc}"[:2000]) from None
        return prepared
