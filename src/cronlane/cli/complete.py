"""``cronlane complete``: what a callback target's worker runs to report on the job it was given
(its task token): ``--succeeded [--result JSON]``, ``--failed --error TEXT`` or ``--heartbeat``.

It invokes the stack's CompletionFunction (``<stack>-completion``, or ``--function``), which
takes reports and nothing else, so a worker needs ``lambda:InvokeFunction`` on that function
only, no CloudFormation or table access. Exit codes: 0 recorded; 1 ignored (the attempt was
already given up: stop working on it); 2 refused (not a token of this stack's jobs, bad input)
or unreachable. The token is never printed.
"""

from __future__ import annotations

import json
import os
from typing import Annotated, Any

import typer

from cronlane.cli.common import DEFAULT_PORT, JsonOption, PortOption, StackOption, emit, fail


def complete_command(
    token: Annotated[
        str | None,
        typer.Argument(help="The task token from the job's message (default: $CRONLANE_TASK_TOKEN)."),
    ] = None,
    succeeded: Annotated[bool, typer.Option("--succeeded", help="The job succeeded.")] = False,
    failed: Annotated[bool, typer.Option("--failed", help="The job failed (give --error).")] = False,
    heartbeat: Annotated[bool, typer.Option("--heartbeat", help="Still working: hold the job.")] = False,
    result: Annotated[str | None, typer.Option(help="The job's result, JSON (with --succeeded).")] = None,
    error: Annotated[str | None, typer.Option(help="What went wrong (with --failed).")] = None,
    function: Annotated[
        str | None,
        typer.Option(
            envvar="CRONLANE_COMPLETION_FUNCTION",
            help="The completion function (default: <stack>-completion).",
        ),
    ] = None,
    stack: StackOption = None,
    local: Annotated[bool, typer.Option("--local", help="Report to the local twin.")] = False,
    port: PortOption = DEFAULT_PORT,
    as_json: JsonOption = False,
) -> None:
    """Report on a callback job: succeeded (with a result), failed (with an error), or a heartbeat."""
    token = token or os.environ.get("CRONLANE_TASK_TOKEN")
    if not token:
        fail("complete: give the task token (the argument, or $CRONLANE_TASK_TOKEN)")
    chosen = [
        name
        for name, on in (("--succeeded", succeeded), ("--failed", failed), ("--heartbeat", heartbeat))
        if on
    ]
    if len(chosen) != 1:
        fail("complete: give exactly one of --succeeded, --failed, --heartbeat")
    if result is not None and not succeeded:
        fail("complete: --result goes with --succeeded")
    if failed and not (error and error.strip()):
        fail("complete: --failed needs --error saying what went wrong")
    if error is not None and not failed:
        fail("complete: --error goes with --failed")
    value = None
    if result is not None:
        try:
            value = json.loads(result)
        except json.JSONDecodeError as exc:
            fail(f"complete: --result is not JSON: {exc}")
    try:
        answer = report(token, chosen[0].removeprefix("--"), value, error, function, stack, local, port)
    except ReportFailed as exc:
        fail(f"complete: {exc}")
    status = str(answer.get("status"))
    emit(answer, as_json, lambda: typer.echo(_said(answer)))
    if status == "ignored":
        raise typer.Exit(1)


_CLIENTS: dict[tuple[str | None, str], Any] = {}  # a worker reports many times: one client


class ReportFailed(Exception):
    """The report was refused (``error``), or the completion function could not be reached."""


def report(
    token: str,
    status: str,
    result: Any = None,
    error: str | None = None,
    function: str | None = None,
    stack: str | None = None,
    local: bool = False,
    port: int = DEFAULT_PORT,
) -> dict[str, Any]:
    """What ``cronlane complete`` does, for a worker written in Python to call in its own process:
    the completion function's answer (``status`` ``ignored``: stop, the attempt was given up);
    ``ReportFailed`` when it refused the report or could not be reached."""
    event: dict[str, Any] = {"token": token, "status": status}
    if result is not None:
        event["result"] = result
    if error is not None:
        event["error"] = error
    return _invoke(event, function, stack, local, port)


def _invoke(
    event: dict[str, Any], function: str | None, stack: str | None, local: bool, port: int
) -> dict[str, Any]:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from cronlane.cli.target import LOCAL_STACK, default_stack_name

    endpoint = f"http://127.0.0.1:{port}" if local else os.environ.get("AWS_ENDPOINT_URL")
    if local:
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    stack = LOCAL_STACK if local else (stack or os.environ.get("CRONLANE_STACK") or default_stack_name())
    name = function or os.environ.get("CRONLANE_COMPLETION_FUNCTION") or f"{stack}-completion"
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    try:
        client = _CLIENTS.get((endpoint, region)) or boto3.client(
            "lambda", endpoint_url=endpoint, region_name=region
        )
        _CLIENTS[(endpoint, region)] = client
        response = client.invoke(FunctionName=name, Payload=json.dumps(event).encode())
    except (BotoCoreError, ClientError) as exc:
        raise ReportFailed(f"invoking {name} failed: {exc}") from None
    payload = json.loads(response["Payload"].read() or b"null")
    if response.get("FunctionError"):
        message = payload.get("errorMessage") if isinstance(payload, dict) else payload
        raise ReportFailed(f"{name} failed: {message}")
    if not isinstance(payload, dict):
        raise ReportFailed(f"{name} answered {payload!r}")
    if "error" in payload:
        raise ReportFailed(str(payload["error"]))
    return payload


def _said(answer: dict[str, Any]) -> str:
    status = answer.get("status")
    if status == "ignored":
        return f"ignored: {answer.get('reason')}"
    if status == "RUNNING":
        return f"{answer.get('job')}: heartbeat recorded; it holds until {answer.get('holds_until')}"
    if status == "RETRYING":
        return f"{answer.get('job')}: failure recorded; it is retried in {answer.get('retry_in_s')} s"
    return f"{answer.get('job')}: {status}"
