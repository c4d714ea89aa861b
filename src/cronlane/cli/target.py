"""Where the operator commands act: a deployed stack (``--stack NAME``) or the local twin
(``--local``, ``cronlane local up``). Both are found the same way, through the stack's Outputs;
the twin is moto on loopback, so the same AWS calls reach it."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import Any

from cronlane.model import JobStatus
from cronlane.ports import RunStore
from cronlane.store.dynamodb import DynamoRunStore

LOCAL_STACK = "local"
DEFAULT_PORT = 4599


class TargetError(RuntimeError):
    """The stack or the twin cannot be reached; the message is one line a user can act on."""


def default_stack_name(start: Path | None = None) -> str:
    """``stack_name`` from samconfig.toml's default environment, else ``cronlane``."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        config = folder / "samconfig.toml"
        if config.is_file():
            data = tomllib.loads(config.read_text())
            name = data.get("default", {}).get("global", {}).get("parameters", {}).get("stack_name")
            return str(name or "cronlane")
    return "cronlane"


@dataclass
class Target:
    description: str
    stack: str
    endpoint: str | None
    outputs: dict[str, str]
    region: str
    tags: dict[str, str] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(service, endpoint_url=self.endpoint, region_name=self.region)  # type: ignore[call-overload]

    def store(self) -> DynamoRunStore:
        return DynamoRunStore(self.outputs["TableName"], self.region)


def connect(stack: str | None, local: bool, port: int = DEFAULT_PORT) -> Target:
    """Find the stack's Outputs; a missing stack or missing credentials is one clear line."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    endpoint: str | None
    if local:
        endpoint = f"http://127.0.0.1:{port}"
        os.environ.update(
            {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}
        )
        os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
        name, description = LOCAL_STACK, f"the local twin at {endpoint}"
    else:
        name = stack or default_stack_name()
        endpoint = os.environ.get("AWS_ENDPOINT_URL")
        description = f"stack {name}" + (f" at {endpoint}" if endpoint else "")
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    os.environ.setdefault("AWS_DEFAULT_REGION", region)
    try:
        cfn = boto3.client("cloudformation", endpoint_url=endpoint, region_name=region)
        stacks = cfn.describe_stacks(StackName=name)["Stacks"]
    except NoCredentialsError:
        raise TargetError("no AWS credentials found (run `aws configure`, or set AWS_PROFILE)") from None
    except ClientError as exc:
        message = exc.response.get("Error", {}).get("Message", str(exc))
        if "does not exist" in message:
            hint = (
                "start it with `cronlane local up`"
                if local
                else "deploy it with `sam deploy`, or pass --stack"
            )
            raise TargetError(f"{description}: stack {name} not found in {region} ({hint})") from None
        raise TargetError(f"{description}: {message}") from None
    except BotoCoreError as exc:
        hint = " (is `cronlane local up` running?)" if local else ""
        raise TargetError(f"{description}: {exc}{hint}") from None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    if "TableName" not in outputs:
        raise TargetError(f"{description}: stack {name} has no TableName output; is it a cronlane stack?")
    from cronlane.versions import refusal

    problem = refusal(outputs.get("CronlaneVersion"))
    if problem is not None:
        raise TargetError(f"{description}: {problem}")
    tags = {t["Key"]: t["Value"] for t in stacks[0].get("Tags", [])}
    return Target(description, name, endpoint, outputs, region, tags)


def past_durations(store: RunStore, schedule: str, jobs: list[str], runs: int = 5) -> dict[str, float]:
    """Each job's median duration over its last successful runs in ``schedule`` (jobs with none
    are left out). The schedule's finished runs are read newest first (the newest may still be
    going, or have skipped the job: a few more than ``runs`` are looked at)."""
    wanted = set(jobs)
    seen: dict[str, list[float]] = {}
    for run in store.runs_of_schedule(schedule, limit=runs * 3):
        if not run.status.terminal:
            continue
        for j in store.job_runs(run.run_id):
            if j.job in wanted and j.status is JobStatus.SUCCEEDED and j.duration_s is not None:
                seen.setdefault(j.job, []).append(j.duration_s)
    return {job: float(median(values[:runs])) for job, values in seen.items() if values}
