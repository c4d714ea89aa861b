"""The job targets' AWS side: a ``lambda`` target invoked with the SDK (``cronlane.targets`` holds
the rest). The executor resolves a job's spec to a callable of its ``JobContext`` with
``resolver``; a Python spec is the app's function, as before."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from cronlane.context import JobContext
from cronlane.targets import LAMBDA, SYNC_MARGIN_S, TargetFailed, kind_of, payload, resolved_function

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
