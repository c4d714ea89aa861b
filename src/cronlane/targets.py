"""Where a job runs: its *target*, declared on the job (one declaration still).

- ``python`` (the default): ``Job(name, "package.module.function", ...)``, a function in the app's
  own package, called in the executor.
- ``lambda``: ``Job(name, LambdaTarget("${AWS::StackName}-my-function"), ...)``, an existing Lambda
  function in any runtime, invoked synchronously by the executor with the payload below; its
  result is the job's result, a function error (or its timeout) a failed attempt.
- ``ecs``: ``Job(name, EcsTarget(cluster, task_definition, container), ...)``, an ECS (Fargate or
  EC2) task. The executor starts it and returns; the task's end arrives as EventBridge's "ECS Task
  State Change" event, which records the outcome (exit code 0 of the container: success).
- ``callback``: ``Job(name, CallbackTarget(queue, heartbeat_s=...), ...)``, an external worker.
  The executor sends the payload with a task token to the job's SQS queue and returns; the worker
  reports with the token (``cronlane complete``): succeeded, failed, or a heartbeat.

``ecs`` and ``callback`` are *handed off*: the job-run stays RUNNING with its handle (the task
ARN, the token's id) while the work runs elsewhere, and the queue message that started it stays
in flight as the attempt's timer, hidden until the attempt's lease ends (its timeout, or the
heartbeat timeout since the last heartbeat). A completion deletes it; if none comes, it comes
back and the executor takes the attempt over as lost, as it does for a Python job whose
executor died (``docs/jobs-and-schedules.md``: job targets).

A target travels in the run's graph snapshot as one string, its *spec* (``package.module.fn``,
``lambda:<function>``, ``ecs:<JSON>``, ``callback:<JSON>``), so a run keeps the targets it was
dispatched with. Pure: nothing here talks to AWS (``cronlane.targets_aws`` does).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from typing import Any

from cronlane.clock import iso
from cronlane.context import JobContext

PYTHON, LAMBDA, ECS, CALLBACK = "python", "lambda", "ecs", "callback"
KINDS = (PYTHON, LAMBDA, ECS, CALLBACK)
HANDED_OFF = (ECS, CALLBACK)  # started by the executor, completed by an event or a worker
LAMBDA_PREFIX = "lambda:"
STACK_NAME = "${AWS::StackName}"
# A Lambda function's name (64 characters), with ${AWS::StackName} allowed, or its ARN.
FUNCTION_NAME = re.compile(r"^(\$\{AWS::StackName\}|[A-Za-z0-9_-])+$")
FUNCTION_ARN = re.compile(r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]{1,64}$")
# A name of an ECS cluster, task definition family, container or SQS queue, ${AWS::StackName} allowed.
RESOURCE_NAME = re.compile(r"^(\$\{AWS::StackName\}|[A-Za-z0-9_.-])+$")
ECS_ARN = re.compile(r"^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:(cluster|task-definition)/[A-Za-z0-9_:.-]+$")
ROLE_ARN = re.compile(r"^arn:(aws[a-z-]*|\$\{AWS::Partition\}):iam::(\d{12}|\$\{AWS::AccountId\}):role/\S+$")
# The executor waits this much longer than a synchronous target may take, to record the outcome.
SYNC_MARGIN_S = 30
# A handed-off attempt's timer is its queue message, hidden until the attempt's lease ends; SQS
# hides a message at most 12 hours from its receive, so an attempt lasts at most this long.
MAX_HANDED_OFF_TIMEOUT_S = 43_000
MIN_HEARTBEAT_S = 10
TIMER_SLACK_S = 5  # the message comes back this long after the lease ended
LAUNCH_TYPES = ("FARGATE", "EC2", "EXTERNAL")
TOKEN_PREFIX = "cl1"


class TargetFailed(Exception):
    """The target reported a failure (a Lambda function error, a task that could not start): the
    attempt failed with it."""


@dataclass(frozen=True)
class Started:
    """A handed-off attempt, started: its handle (a task ARN, a token's id) and, for a callback
    target, the hash of the token its worker holds. Before the start (``prepare``), a callback
    attempt already has its token (``token``, never stored), so its handle; an ecs attempt's
    handle is "" until RunTask answers."""

    handle: str
    token_hash: str | None = None
    token: str | None = None


def prepare(spec: str, run_id: str, job: str, generation: int, attempt: int) -> Started:
    """What a handed-off attempt is known by before it starts, so the job-run records it before
    anything runs: a callback attempt's token (minted here); nothing yet for an ecs task."""
    if kind_of(spec) != CALLBACK:
        return Started("")
    token = new_token(TokenClaims(run_id, job, generation, attempt))
    return Started(token_id(token), token_hash(token), token)


def _spec(prefix: str, fields: dict[str, Any]) -> str:
    return prefix + json.dumps(fields, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class LambdaTarget:
    """An existing Lambda function, by name (``${AWS::StackName}`` is this stack's name) or ARN,
    invoked synchronously: the job's ``timeout_s`` must cover the function's own timeout."""

    function: str

    @property
    def spec(self) -> str:
        return f"{LAMBDA_PREFIX}{self.function}"


@dataclass(frozen=True)
class EcsTarget:
    """An ECS task: ``cluster`` and ``task_definition`` (a family, its latest revision, or an ARN;
    ``${AWS::StackName}`` is this stack's name), ``container`` the container that gets the job's
    environment (``CRONLANE_RUN_ID``... see ``task_environment``). A Fargate task needs ``subnets``
    (and may have ``security_groups``); none declared: the executor's ``CRONLANE_TASK_SUBNETS`` and
    ``CRONLANE_TASK_SECURITY_GROUPS`` (the template's parameters). ``pass_roles``: the task's task
    and execution roles, when its definition is not in this template (``cronlane template`` reads
    them from a definition that is)."""

    cluster: str
    task_definition: str
    container: str
    launch_type: str = "FARGATE"
    subnets: tuple[str, ...] = ()
    security_groups: tuple[str, ...] = ()
    assign_public_ip: bool = False
    pass_roles: tuple[str, ...] = ()

    @property
    def spec(self) -> str:
        fields: dict[str, Any] = {
            "cluster": self.cluster,
            "task_definition": self.task_definition,
            "container": self.container,
            "launch_type": self.launch_type,
        }
        if self.subnets:
            fields["subnets"] = list(self.subnets)
        if self.security_groups:
            fields["security_groups"] = list(self.security_groups)
        if self.assign_public_ip:
            fields["assign_public_ip"] = True
        if self.pass_roles:
            fields["pass_roles"] = list(self.pass_roles)
        return _spec("ecs:", fields)


@dataclass(frozen=True)
class CallbackTarget:
    """An external worker that receives the job on the SQS queue ``queue`` (its name;
    ``${AWS::StackName}`` is this stack's name) with a task token, and reports back with it
    (``cronlane complete``). ``heartbeat_s``: without a heartbeat or a completion for this long,
    the attempt is lost (it fails and is retried); None: only the job's ``timeout_s`` bounds it."""

    queue: str
    heartbeat_s: int | None = None

    @property
    def spec(self) -> str:
        fields: dict[str, Any] = {"queue": self.queue}
        if self.heartbeat_s is not None:
            fields["heartbeat_s"] = self.heartbeat_s
        return _spec("callback:", fields)


Target = LambdaTarget | EcsTarget | CallbackTarget  # what a Job's function may be, as declared


def kind_of(spec: str) -> str:
    prefix = spec.split(":", 1)[0]
    return prefix if ":" in spec and prefix in (LAMBDA, ECS, CALLBACK) else PYTHON


def fields_of(spec: str) -> dict[str, Any]:
    """The declared fields of an ``ecs:`` or ``callback:`` spec."""
    data = json.loads(spec.split(":", 1)[1])
    if not isinstance(data, dict):
        raise ValueError(f"target spec {spec!r} holds no fields")
    return data


def ecs_target(spec: str) -> EcsTarget:
    data = fields_of(spec)
    for name in ("subnets", "security_groups", "pass_roles"):
        data[name] = tuple(data.get(name) or ())
    return EcsTarget(**data)


def callback_target(spec: str) -> CallbackTarget:
    return CallbackTarget(**fields_of(spec))


def heartbeat_of(spec: str) -> int | None:
    return callback_target(spec).heartbeat_s if kind_of(spec) == CALLBACK else None


def lambda_function(spec: str) -> str:
    """The function a ``lambda:`` spec names, as declared (``${AWS::StackName}`` unresolved)."""
    return spec[len(LAMBDA_PREFIX) :]


def resolved(name: str, stack_name: str) -> str:
    return name.replace(STACK_NAME, stack_name)


def resolved_function(spec: str, stack_name: str) -> str:
    return resolved(lambda_function(spec), stack_name)


def _name_problem(what: str, name: str, arn: re.Pattern[str] | None = None) -> str | None:
    if arn is not None and arn.match(name):
        return None
    if not isinstance(name, str) or not name or not RESOURCE_NAME.match(name):
        return f"{what} '{name}' must be a name (letters, digits, '-', '_', '.', {STACK_NAME})" + (
            " or an ARN" if arn is not None else ""
        )
    return None


def spec_problem(spec: str) -> str | None:
    """Why a job's target cannot be used, or None."""
    kind = kind_of(spec)
    if kind == PYTHON:
        return None if "." in spec else f"function '{spec}' is not a dotted path"
    if kind == LAMBDA:
        name = lambda_function(spec)
        if FUNCTION_ARN.match(name):
            return None
        if not FUNCTION_NAME.match(name) or len(name.replace(STACK_NAME, "")) > 64 - 1:
            return (
                f"lambda target '{name}' must be a function name (letters, digits, '-', '_', "
                f"{STACK_NAME}) or a function ARN"
            )
        return None
    try:
        target: Any = ecs_target(spec) if kind == ECS else callback_target(spec)
    except (ValueError, TypeError) as exc:
        return f"{kind} target is malformed: {exc}"
    if isinstance(target, EcsTarget):
        problems = [
            _name_problem("ecs target's cluster", target.cluster, ECS_ARN),
            _name_problem("ecs target's task_definition", target.task_definition, ECS_ARN),
            _name_problem("ecs target's container", target.container),
        ]
        if target.launch_type not in LAUNCH_TYPES:
            problems.append(
                f"ecs target's launch_type '{target.launch_type}' is not {', '.join(LAUNCH_TYPES)}"
            )
        problems += [
            f"ecs target's pass_roles '{role}' must be an IAM role ARN"
            for role in target.pass_roles
            if not ROLE_ARN.match(role)
        ]
        return next((p for p in problems if p), None)
    problem = _name_problem("callback target's queue", target.queue)
    if problem is None and not target.queue.endswith(".fifo") and len(target.queue) > 80 + len(STACK_NAME):
        problem = f"callback target's queue '{target.queue}' is longer than SQS's 80 characters"
    heartbeat = target.heartbeat_s
    if (
        problem is None
        and heartbeat is not None
        and (not isinstance(heartbeat, int) or isinstance(heartbeat, bool) or heartbeat < MIN_HEARTBEAT_S)
    ):
        problem = (
            f"callback target's heartbeat_s must be a whole number of seconds, at least {MIN_HEARTBEAT_S}"
        )
    return problem


def max_timeout_s(spec: str) -> int:
    """The longest ``timeout_s`` a job of this target may declare: Lambda's 900 s for what runs in
    a Lambda invocation, the hand-off timer's limit for what runs elsewhere."""
    return MAX_HANDED_OFF_TIMEOUT_S if kind_of(spec) in HANDED_OFF else 900


def function_arn_sub(spec: str) -> str:
    """The ARN a ``lambda:`` target is invoked at, as an ``!Sub`` string (for its IAM grant)."""
    name = lambda_function(spec)
    if name.startswith("arn:"):
        return name
    return f"arn:${{AWS::Partition}}:lambda:${{AWS::Region}}:${{AWS::AccountId}}:function:{name}"


def _ecs_arn_sub(kind: str, name: str) -> str:
    if name.startswith("arn:"):
        return name
    return f"arn:${{AWS::Partition}}:ecs:${{AWS::Region}}:${{AWS::AccountId}}:{kind}/{name}"


def cluster_arn_sub(target: EcsTarget) -> str:
    return _ecs_arn_sub("cluster", target.cluster)


def task_definition_arn_sub(target: EcsTarget) -> str:
    """Every revision of the target's family (RunTask is given the family: its latest revision)."""
    if target.task_definition.startswith("arn:"):
        return target.task_definition
    return _ecs_arn_sub("task-definition", target.task_definition) + ":*"


def tasks_arn_sub(target: EcsTarget) -> str:
    """The cluster's tasks (StopTask's resource)."""
    cluster = target.cluster.rsplit("/", 1)[-1] if target.cluster.startswith("arn:") else target.cluster
    return f"arn:${{AWS::Partition}}:ecs:${{AWS::Region}}:${{AWS::AccountId}}:task/{cluster}/*"


def instances_arn_sub(target: EcsTarget) -> str:
    """The cluster's container instances (ListTasks' resource, with the ``ecs:cluster`` key)."""
    return tasks_arn_sub(target).replace(":task/", ":container-instance/")


def queue_arn_sub(target: CallbackTarget) -> str:
    return f"arn:${{AWS::Partition}}:sqs:${{AWS::Region}}:${{AWS::AccountId}}:{target.queue}"


def payload(ctx: JobContext) -> dict[str, Any]:
    """What a target receives (docs/jobs-and-schedules.md: job targets)."""
    return {
        "run_id": ctx.run_id,
        "job": ctx.job,
        "schedule": ctx.schedule,
        "scheduled_time": iso(ctx.scheduled_time.timestamp()),
        "params": ctx.params,
        "attempt": ctx.attempt,
        "idempotency_key": ctx.idempotency_key,
        "deadline": iso(ctx.deadline),
        "upstream_results": dict(ctx.upstream_results),  # cronlane.results: who has one
    }


def task_environment(ctx: JobContext, generation: int) -> dict[str, str]:
    """The environment an ``ecs`` target's container gets: the payload, one variable each (the
    task's end event carries them back, which names the job-run it ended)."""
    data = payload(ctx)
    return {
        "CRONLANE_RUN_ID": ctx.run_id,
        "CRONLANE_JOB": ctx.job,
        "CRONLANE_GENERATION": str(generation),
        "CRONLANE_ATTEMPT": str(ctx.attempt),
        "CRONLANE_SCHEDULE": ctx.schedule,
        "CRONLANE_SCHEDULED_TIME": data["scheduled_time"],
        "CRONLANE_PARAMS": json.dumps(ctx.params, sort_keys=True),
        "CRONLANE_IDEMPOTENCY_KEY": ctx.idempotency_key,
        "CRONLANE_DEADLINE": data["deadline"],
    }


def started_by(stack_name: str) -> str:
    """What RunTask's ``startedBy`` says (128 characters at most): the stack's tasks, for the
    event rule to match."""
    return f"cronlane/{stack_name}"[:128]


# -- task tokens (callback targets) ------------------------------------------------------------


@dataclass(frozen=True)
class TokenClaims:
    """What a task token is bound to: the job-run and its attempt."""

    run_id: str
    job: str
    generation: int
    attempt: int


class BadToken(ValueError):
    """A token that is not one cronlane issued (malformed): the completion is refused."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def new_token(claims: TokenClaims) -> str:
    """An unguessable token (256 random bits) that names the job-run it is for. Only its hash is
    stored (``token_hash``), so neither the table nor the logs hold it."""
    body = _b64(json.dumps([claims.run_id, claims.job, claims.generation, claims.attempt]).encode())
    return f"{TOKEN_PREFIX}.{body}.{_b64(secrets.token_bytes(32))}"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_id(token: str) -> str:
    """The token's public name (its handle in run history and logs): not the token."""
    return "tok-" + token_hash(token)[:16]


def same_hash(token: str, stored: str | None) -> bool:
    return stored is not None and hmac.compare_digest(token_hash(token), stored)


def token_claims(token: str) -> TokenClaims:
    """The job-run a token names (unverified: the stored hash decides)."""
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX or len(token) > 2_000:
        raise BadToken("not a cronlane task token")
    try:
        padded = parts[1] + "=" * (-len(parts[1]) % 4)
        run_id, job, generation, attempt = json.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, TypeError) as exc:
        raise BadToken(f"not a cronlane task token ({exc.__class__.__name__})") from None
    if not (isinstance(run_id, str) and isinstance(job, str) and isinstance(generation, int)):
        raise BadToken("not a cronlane task token")
    if not isinstance(attempt, int):
        raise BadToken("not a cronlane task token")
    return TokenClaims(run_id, job, generation, attempt)


def callback_message(ctx: JobContext, token: str, heartbeat_s: int | None) -> dict[str, Any]:
    """What a ``callback`` target's worker receives on its queue."""
    return {**payload(ctx), "task_token": token, "heartbeat_s": heartbeat_s}


# -- a handed-off attempt -------------------------------------------------------------------


@dataclass(frozen=True)
class HandOff:
    """A handed-off attempt as the job-run records it: where it runs (``target``, ``handle``),
    how to check its completion (``token_hash``), when it ends without news (``deadline``, the
    attempt's timeout; ``heartbeat_s``), and its timer (the queue message: ``queue_arn``,
    ``receipt``). It is recorded before the target starts; an ecs attempt's ``handle`` is ""
    until RunTask has answered (a crash in between: ``Targets.stop`` finds the task)."""

    target: str
    handle: str
    attempt: int
    started_at: float
    deadline: float
    queue_arn: str
    receipt: str
    heartbeat_s: int | None = None
    token_hash: str | None = None

    def lease_until(self, now: float) -> float:
        """Until when the attempt holds the job-run without news from it."""
        if self.heartbeat_s is None:
            return self.deadline
        return min(self.deadline, now + self.heartbeat_s)

    def lost_error(self, now: float) -> str:
        """Why an attempt that ran out of lease was given up."""
        if now >= self.deadline:
            return (
                f"{self.target} attempt {self.attempt} ({self.handle}) did not complete within "
                f"its {round(self.deadline - self.started_at)}s timeout"
            )
        return (
            f"{self.target} attempt {self.attempt} ({self.handle}) sent no heartbeat or completion "
            f"for {self.heartbeat_s}s"
        )

    def key(self, run_id: str, job: str, generation: int) -> TokenClaims:
        """The attempt this hand-off is, as a task's environment and a token name it."""
        return TokenClaims(run_id, job, generation, self.attempt)

    def to_json(self) -> str:
        return json.dumps(self.__dict__, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> HandOff | None:
        if not text:
            return None
        return cls(**json.loads(text))


def overrides_environment(task: dict[str, Any]) -> dict[str, str]:
    """The CRONLANE_* variables RunTask gave a task's containers, from a described task or an
    "ECS Task State Change" event's detail (both carry its overrides)."""
    found: dict[str, str] = {}
    given = task.get("overrides")
    overrides: dict[str, Any] = given if isinstance(given, dict) else {}
    for container in overrides.get("containerOverrides") or []:
        for pair in (container.get("environment") or []) if isinstance(container, dict) else []:
            if isinstance(pair, dict) and str(pair.get("name", "")).startswith("CRONLANE_"):
                found[str(pair["name"])] = str(pair.get("value", ""))
    return found


def task_attempt(task: dict[str, Any]) -> TokenClaims | None:
    """The attempt a task cronlane started runs (its environment names it); None for another."""
    env = overrides_environment(task)
    run_id, job = env.get("CRONLANE_RUN_ID"), env.get("CRONLANE_JOB")
    try:
        generation, attempt = int(env.get("CRONLANE_GENERATION", "")), int(env.get("CRONLANE_ATTEMPT", ""))
    except ValueError:
        return None
    return TokenClaims(run_id, job, generation, attempt) if run_id and job else None


def exit_outcome(detail: dict[str, Any], container: str) -> tuple[bool, str | None]:
    """An ECS task's end ("ECS Task State Change", STOPPED) as an outcome: success when the
    job's container exited 0, else the failure in the event's words."""
    containers = [c for c in detail.get("containers") or [] if isinstance(c, dict)]
    mine = next((c for c in containers if c.get("name") == container), containers[0] if containers else {})
    code = mine.get("exitCode")
    if code == 0:
        return True, None
    stop = detail.get("stopCode") or "stopped"
    reason = detail.get("stoppedReason") or ""
    said = f"; {mine['reason']}" if mine.get("reason") else ""
    exited = f"exit code {code}" if code is not None else "no exit code"
    return False, f"ECS task {stop}: container '{mine.get('name', container)}' {exited} ({reason}{said})"
