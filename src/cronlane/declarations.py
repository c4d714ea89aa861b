"""Job and schedule declarations: the one place a job or a schedule is described.

The dispatcher, the executor, the CLI and the docs all read these. Nothing about a job or a
schedule is written twice: what ``template.yaml`` needs of them (the schedules' rules, the tick
dead-letter queue's policy, the jobs' ``permissions``) is generated from these by
``cronlane template`` (``cronlane.template.generate``), and ``cronlane validate`` fails when it
is out of date.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cronlane.targets import Target

from cronlane.errors import CatalogError
from cronlane.lanes import MAX_CONCURRENT
from cronlane.model import DEFAULT_MAX_CONTINUATIONS, CatchUp, Overlap, TriggerRule
from cronlane.places import MAX_PARALLEL

# MessageGroupId allows 128 characters of alphanumerics and punctuation; a job name is a group id.
NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,79}$")
LAMBDA_MAX_TIMEOUT_S = 900  # Lambda's hard limit (docs/aws-facts.md: Lambda)
MAX_CONTINUATIONS = 500  # each is listed on the job-run's item, which DynamoDB caps at 400 KB
MAX_EXPECTED_S = (
    7 * 24 * 3600
)  # a job's declared expected duration: at most a week (a continued job's whole work)
PARAM_TYPES: dict[str, type] = {"int": int, "float": float, "str": str, "bool": bool}


def _as_enum[E: StrEnum](kind: type[E], value: E | str) -> E | str:
    """A declared value as its enum, or as given when it is not one (``Catalog.problems`` names it)."""
    try:
        return kind(value)
    except ValueError:
        return value


@dataclass(frozen=True)
class Param:
    """A declared job parameter: its type (``int``, ``float``, ``str`` or ``bool``), its default,
    and for a number, the smallest and largest value it may take."""

    type: str
    default: Any
    description: str = ""
    min: float | None = None
    max: float | None = None

    def coerce(self, name: str, value: Any) -> Any:
        """Turn ``value`` (from JSON or a ``k=v`` string) into this parameter's type."""
        kind = PARAM_TYPES[self.type]
        if kind is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
                return value.lower() in ("true", "1", "yes")
            raise ValueError(f"parameter '{name}' must be a bool, got {_kind_of(value)}")
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError(f"parameter '{name}' must be {self.type}, got {_kind_of(value)}")
        try:
            coerced = kind(value)
        except (TypeError, ValueError, OverflowError):
            raise ValueError(f"parameter '{name}' must be {self.type}, got {_kind_of(value)}") from None
        if kind is float and not math.isfinite(coerced):
            raise ValueError(f"parameter '{name}' must be a finite number, got {coerced}")
        # the bound, not the value: a value may be a secret someone passed by mistake
        if self.min is not None and coerced < self.min:
            raise ValueError(f"parameter '{name}' must be at least {self.min:g}")
        if self.max is not None and coerced > self.max:
            raise ValueError(f"parameter '{name}' must be at most {self.max:g}")
        return coerced


def _kind_of(value: Any) -> str:
    """What a refused parameter value was, without the value: errors are logged, and a value may
    be a secret someone passed by mistake."""
    if isinstance(value, str):
        return f"a string of {len(value)} character(s)"
    return f"a {type(value).__name__}"


# An IAM action a job may be granted: "service:Action", a wildcard only inside the action name
# ("s3:Get*"), never "*" or "service:*" (least privilege: docs/security.md).
ACTION_PATTERN = re.compile(r"^[a-z0-9-]+:[A-Za-z0-9*]*[A-Za-z0-9][A-Za-z0-9*]*$")


@dataclass(frozen=True)
class Permission:
    """What a job may do beyond cronlane's own grants: IAM ``actions`` on ``resources`` (ARNs;
    ``${AWS::Partition}``, ``${AWS::Region}``, ``${AWS::AccountId}`` and ``${AWS::StackName}`` are
    filled in by CloudFormation). ``cronlane template`` writes every job's permissions into the
    executor's role; every job runs in the executor, so they share them (docs/security.md)."""

    actions: tuple[str, ...]
    resources: tuple[str, ...]

    def __post_init__(self) -> None:
        # one action or resource given as a string, not a tuple of its characters
        for name in ("actions", "resources"):
            value = getattr(self, name)
            object.__setattr__(self, name, (value,) if isinstance(value, str) else tuple(value))

    def problems(self) -> list[str]:
        found = []
        if not self.actions:
            found.append("a permission with no actions")
        for action in self.actions:
            if not ACTION_PATTERN.match(action):
                found.append(
                    f"permission action '{action}' must be 'service:Action' (a wildcard only inside the "
                    "action's name, never '*' or 'service:*')"
                )
        if not self.resources:
            found.append(f"permission {', '.join(self.actions)} names no resources")
        for resource in self.resources:
            problem = _arn_problem(resource)
            if problem:
                found.append(f"permission resource '{resource}' {problem}")
        return found


# What CloudFormation fills in for a job's permission resource: only pseudo parameters, so the
# grant does not depend on the template's other parts.
ARN_SUBSTITUTIONS = ("${AWS::Partition}", "${AWS::Region}", "${AWS::AccountId}", "${AWS::StackName}")


def _arn_problem(resource: str) -> str | None:
    """Why ``resource`` is not a grantable ARN of a job's, or None: ``arn:partition:service:
    region:account:resource``, the service named, a resource that is not everything (``*``)."""
    rest = resource
    for known in ARN_SUBSTITUTIONS:
        rest = rest.replace(known, "x")
    if "${" in rest:
        return "may use only " + ", ".join(ARN_SUBSTITUTIONS) + " (CloudFormation fills them in)"
    fields = rest.split(":", 5)  # the pseudo parameters hold colons of their own
    if len(fields) < 6 or fields[0] != "arn":
        return "must be an ARN, arn:${AWS::Partition}:<service>:<region>:<account>:<resource>"
    if "*" in fields[1] or "*" in fields[2] or not fields[2]:
        return "must name its partition and service (no wildcard there)"
    if fields[5].strip("*/:") == "":
        return "grants every resource of the service: name them ('*' is not granted to jobs)"
    return None


@dataclass(frozen=True)
class Job:
    """One batch job.

    ``function`` is the dotted path of ``def fn(ctx: JobContext) -> dict | None``; it is imported
    only by the executor. ``timeout_s`` bounds one Lambda invocation of it (at most Lambda's
    900 s). A job longer than that checkpoints: it returns ``ctx.continue_from(cursor)`` before
    its time is up and is invoked again with ``ctx.cursor``, at most ``max_continuations`` times.
    """

    name: str
    # a dotted path, or a target (cronlane.targets: LambdaTarget, EcsTarget, CallbackTarget), which
    # __post_init__ keeps as its spec: a str from then on
    function: str | Target
    group: str
    depends_on: tuple[str, ...] = ()
    timeout_s: int = 300
    max_attempts: int = 3
    params: Mapping[str, Param] = field(default_factory=dict)
    description: str = ""
    # ALL_SUCCESS (default): run when every upstream succeeded; a failed upstream skips it.
    # ALL_DONE: run once every upstream is done, whatever the outcome (like Airflow's rule).
    trigger_rule: TriggerRule | str = TriggerRule.ALL_SUCCESS
    max_continuations: int = DEFAULT_MAX_CONTINUATIONS
    # IAM grants the job needs (an S3 bucket it reads, a service it calls): written into the
    # executor's role by ``cronlane template``, nowhere else.
    permissions: tuple[Permission, ...] = ()
    # How many executions of the job may run at once across runs (each in its own run; one
    # job-run never runs twice at once). 1: one at a time, a later run's waits (cronlane.lanes).
    # None: no limit; its runs may overlap freely, and it may run in its upstream's invocation.
    max_concurrent: int | None = 1
    # Metric series of its own (a ``Job`` dimension on its figures, cronlane.telemetry): about
    # nine more series, each billed per month. Off: its figures are in the logs (Logs Insights).
    metrics: bool = False
    # How long the job usually takes, in seconds: when several jobs are ready at once, the one
    # with the longest path still ahead goes first (cronlane.priority). Unset: what it took in
    # its schedule's last run.
    expected_s: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "trigger_rule", _as_enum(TriggerRule, self.trigger_rule))
        spec = getattr(self.function, "spec", None)  # a target declared in place of a function
        if isinstance(spec, str):
            object.__setattr__(self, "function", spec)
        if isinstance(self.permissions, Permission):
            object.__setattr__(self, "permissions", (self.permissions,))

    @property
    def spec(self) -> str:
        """Where the job runs, as one string (``package.module.fn``, ``lambda:<function>``...)."""
        return self.function if isinstance(self.function, str) else self.function.spec

    def default_params(self) -> dict[str, Any]:
        return {k: p.default for k, p in self.params.items()}

    def resolve_params(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """Defaults overlaid with ``given``; an undeclared name or a wrong type is an error."""
        return {**self.default_params(), **self.coerce_params(given)}

    def coerce_params(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """``given`` converted to the declared types; an undeclared name or a wrong type is an error."""
        unknown = sorted(set(given) - set(self.params))
        if unknown:
            declared = ", ".join(sorted(self.params)) or "none"
            raise ValueError(
                f"job '{self.name}' has no parameter {', '.join(repr(u) for u in unknown)} "
                f"(declared: {declared})"
            )
        return {key: self.params[key].coerce(key, value) for key, value in given.items()}


@dataclass(frozen=True)
class Selection:
    """Which jobs a schedule runs: every job, some groups, or a list of jobs."""

    all_jobs: bool = False
    groups: tuple[str, ...] = ()
    jobs: tuple[str, ...] = ()

    @classmethod
    def everything(cls) -> Selection:
        return cls(all_jobs=True)

    @classmethod
    def of_groups(cls, *groups: str) -> Selection:
        return cls(groups=tuple(groups))

    @classmethod
    def of_jobs(cls, *jobs: str) -> Selection:
        return cls(jobs=tuple(jobs))

    def describe(self) -> str:
        if self.all_jobs:
            return "all jobs"
        parts = []
        if self.groups:
            parts.append("groups " + ", ".join(self.groups))
        if self.jobs:
            parts.append("jobs " + ", ".join(self.jobs))
        return "; ".join(parts) or "nothing"


@dataclass(frozen=True)
class Schedule:
    """A schedule: when it fires (an EventBridge expression) and what it runs.

    ``include_upstreams`` is the closure rule. False (the default): an upstream outside the
    selection is counted as satisfied, because it runs on its own schedule (the hourly feed run
    does not rebuild the traits the nightly sync built). True: such upstreams are pulled into the
    run and run first.
    """

    name: str
    expression: str
    selection: Selection
    include_upstreams: bool = False
    description: str = ""
    deadline_s: int | None = None  # a run still going this long after its tick is late
    # A tick while the schedule's previous run is still active: SKIP it (recorded as a SKIPPED
    # run with the reason), ALLOW both to run, or BUFFER_ONE (start it when the active run ends;
    # a further tick meanwhile is skipped).
    overlap: Overlap | str = Overlap.SKIP
    # An IANA zone (``Europe/Berlin``): the expression's fields are local times there, with
    # EventBridge Scheduler's DST rules. None: UTC, an EventBridge rule.
    timezone: str | None = None
    # Fire times that passed without a run (a tick EventBridge never delivered, a disabled rule):
    # NONE records each as a SKIPPED run, LATEST runs the latest of them, ALL runs every one
    # within ``catch_up_window_s`` of the tick that noticed; runs behind the active one.
    catch_up: CatchUp | str = CatchUp.NONE
    catch_up_window_s: int = 86_400
    # Metric series of its own (a ``Schedule`` dimension on its runs' figures, cronlane.telemetry):
    # five more series, each billed per month. Off: its runs' figures are in the logs.
    metrics: bool = False
    # The width of its runs: at most this many of a run's jobs queued or running at once; the
    # ready ones beyond wait in the run, and the one with the longest path still ahead takes the
    # next free place (cronlane.places: a read and a write more per job). None: every ready job
    # is sent at once, longest path first.
    max_parallel: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "overlap", _as_enum(Overlap, self.overlap))
        object.__setattr__(self, "catch_up", _as_enum(CatchUp, self.catch_up))


def _choices(kind: type[StrEnum]) -> str:
    names = [member.value for member in kind]
    return ", ".join(names[:-1]) + " or " + names[-1]


@dataclass(frozen=True)
class Catalog:
    jobs: Mapping[str, Job]
    schedules: Mapping[str, Schedule]

    @classmethod
    def build(cls, jobs: Iterable[Job], schedules: Iterable[Schedule] = ()) -> Catalog:
        """Index the declarations and check them; raises ``CatalogError`` naming every problem."""
        job_map: dict[str, Job] = {}
        schedule_map: dict[str, Schedule] = {}
        problems: list[str] = []
        for job in jobs:
            if job.name in job_map:
                problems.append(f"job '{job.name}': declared twice")
            job_map[job.name] = job
        for schedule in schedules:
            if schedule.name in schedule_map:
                problems.append(f"schedule '{schedule.name}': declared twice")
            schedule_map[schedule.name] = schedule
        catalog = cls(jobs=job_map, schedules=schedule_map)
        problems.extend(catalog.problems())
        if problems:
            raise CatalogError(problems)
        return catalog

    @property
    def groups(self) -> set[str]:
        return set(self.members)

    @functools.cached_property
    def members(self) -> dict[str, tuple[str, ...]]:
        """Each group's jobs (a tick's selection reads them, whatever the catalog's size)."""
        grouped: dict[str, list[str]] = {}
        for name, job in self.jobs.items():
            grouped.setdefault(job.group, []).append(name)
        return {group: tuple(names) for group, names in grouped.items()}

    def job(self, name: str) -> Job:
        try:
            return self.jobs[name]
        except KeyError:
            raise CatalogError([f"unknown job '{name}'"]) from None

    def schedule(self, name: str) -> Schedule:
        try:
            return self.schedules[name]
        except KeyError:
            known = ", ".join(sorted(self.schedules)) or "none"
            raise CatalogError([f"unknown schedule '{name}' (known: {known})"]) from None

    def problems(self) -> list[str]:
        """Everything wrong with the declarations, each naming its place."""
        from cronlane.cron import CronError, check_timezone, parse_expression
        from cronlane.graph import find_cycle
        from cronlane.targets import max_timeout_s, spec_problem

        problems: list[str] = []
        for job in self.jobs.values():
            where = f"job '{job.name}'"
            if not NAME_PATTERN.match(job.name):
                problems.append(f"{where}: name must match {NAME_PATTERN.pattern}")
            if not NAME_PATTERN.match(job.group):
                problems.append(f"{where}: group '{job.group}' must match {NAME_PATTERN.pattern}")
            longest = max_timeout_s(job.spec)
            if not 1 <= job.timeout_s <= longest:
                limit = "Lambda's limit" if longest == LAMBDA_MAX_TIMEOUT_S else "a hand-off's limit"
                problems.append(f"{where}: timeout_s {job.timeout_s} is outside 1..{longest} ({limit})")
            if job.max_attempts < 1:
                problems.append(f"{where}: max_attempts must be at least 1")
            if not 0 <= job.max_continuations <= MAX_CONTINUATIONS:
                problems.append(f"{where}: max_continuations must be within 0..{MAX_CONTINUATIONS}")
            if job.max_concurrent is not None and (
                not isinstance(job.max_concurrent, int)
                or isinstance(job.max_concurrent, bool)
                or not 1 <= job.max_concurrent <= MAX_CONCURRENT
            ):
                problems.append(
                    f"{where}: max_concurrent must be a whole number within 1..{MAX_CONCURRENT}, "
                    "or None (no limit)"
                )
            if job.expected_s is not None and (
                not isinstance(job.expected_s, int | float)
                or isinstance(job.expected_s, bool)
                or not 0 < job.expected_s <= MAX_EXPECTED_S
            ):
                problems.append(f"{where}: expected_s must be a number of seconds within 0..{MAX_EXPECTED_S}")
            if not isinstance(job.metrics, bool):
                problems.append(f"{where}: metrics must be True or False")
            if not isinstance(job.trigger_rule, TriggerRule):
                problems.append(f"{where}: trigger_rule '{job.trigger_rule}' is not {_choices(TriggerRule)}")
            target_problem = spec_problem(job.spec)
            if target_problem:
                problems.append(f"{where}: {target_problem}")
            for permission in job.permissions:
                problems.extend(f"{where}: {p}" for p in permission.problems())
            for dep in job.depends_on:
                if dep not in self.jobs:
                    problems.append(f"{where}: depends on unknown job '{dep}'")
            for pname, param in job.params.items():
                if param.type not in PARAM_TYPES:
                    problems.append(f"{where}: parameter '{pname}' has unknown type '{param.type}'")
                elif (param.min is not None or param.max is not None) and param.type not in ("int", "float"):
                    problems.append(
                        f"{where}: parameter '{pname}' is a {param.type}: min and max are for numbers"
                    )
        cycle = find_cycle({n: j.depends_on for n, j in self.jobs.items()})
        if cycle:
            problems.append("dependency cycle: " + " -> ".join(cycle))
        for schedule in self.schedules.values():
            where = f"schedule '{schedule.name}'"
            if not NAME_PATTERN.match(schedule.name):
                problems.append(f"{where}: name must match {NAME_PATTERN.pattern}")
            try:
                parse_expression(schedule.expression)
            except CronError as exc:
                problems.append(f"{where}: {exc}")
            for group in schedule.selection.groups:
                if group not in self.groups:
                    problems.append(f"{where}: selects unknown group '{group}'")
            for name in schedule.selection.jobs:
                if name not in self.jobs:
                    problems.append(f"{where}: selects unknown job '{name}'")
            if not isinstance(schedule.overlap, Overlap):
                problems.append(f"{where}: overlap '{schedule.overlap}' is not {_choices(Overlap)}")
            if not isinstance(schedule.catch_up, CatchUp):
                problems.append(f"{where}: catch_up '{schedule.catch_up}' is not {_choices(CatchUp)}")
            if schedule.catch_up_window_s <= 0:
                problems.append(f"{where}: catch_up_window_s must be positive")
            if schedule.timezone is not None:
                try:
                    check_timezone(schedule.timezone)
                except CronError as exc:
                    problems.append(f"{where}: {exc}")
            if schedule.deadline_s is not None and schedule.deadline_s <= 0:
                problems.append(f"{where}: deadline_s must be positive")
            if not isinstance(schedule.metrics, bool):
                problems.append(f"{where}: metrics must be True or False")
            if schedule.max_parallel is not None and (
                not isinstance(schedule.max_parallel, int)
                or isinstance(schedule.max_parallel, bool)
                or not 1 <= schedule.max_parallel <= MAX_PARALLEL
            ):
                problems.append(f"{where}: max_parallel must be a whole number within 1..{MAX_PARALLEL}")
        return problems
