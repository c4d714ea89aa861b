"""The events the dispatcher accepts, parsed with Powertools Parser and these pydantic models; an
invalid event is rejected with a message that names the field."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from aws_lambda_powertools.utilities.parser import parse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

from cronlane.errors import InvalidRequest

NAME_MAX = 80  # a job or schedule name (declarations.NAME_PATTERN)
RUN_ID_MAX = 200  # "<schedule>@<ISO time>" or "manual@<key of up to 80>"


class ScheduledEvent(BaseModel):
    """What an EventBridge rule target receives when the rule has no ``Input`` (aws-facts)."""

    model_config = ConfigDict(populate_by_name=True)

    detail_type: Literal["Scheduled Event"] = Field(alias="detail-type")
    source: Literal["aws.events"]
    time: AwareDatetime
    resources: list[str] = Field(min_length=1)

    @field_validator("time", mode="before")
    @classmethod
    def _time_text(cls, value: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError("must be an ISO 8601 time with a zone, like 2026-11-28T02:00:00Z")
        return value


class SchedulerEvent(BaseModel):
    """What an EventBridge Scheduler schedule (SAM ``ScheduleV2``, the kind with a time zone)
    sends: the ``Input`` of its target in ``template.yaml``, in which Scheduler fills in its
    context attributes (aws-facts: EventBridge). ``scheduled_time`` is the fire time in UTC, so
    the run is keyed by it exactly as for a rule's Scheduled Event."""

    model_config = ConfigDict(extra="forbid")

    source: Literal["aws.scheduler"]
    schedule_arn: str = Field(min_length=1, pattern=r"^arn:[^:]+:scheduler:[^:]*:[^:]*:schedule/[^/]+/[^/]+$")
    scheduled_time: AwareDatetime
    execution_id: str | None = None
    attempt: int | None = Field(default=None, ge=1)

    @field_validator("schedule_arn", "scheduled_time", mode="before")
    @classmethod
    def _filled_in(cls, value: Any) -> Any:
        if isinstance(value, str) and value.startswith("<aws.scheduler."):
            raise ValueError(
                f"{value} was not filled in: this Input is sent by EventBridge Scheduler, which "
                "replaces it (for a test, write the value yourself)"
            )
        if not isinstance(value, str):
            raise ValueError("must be a string")
        return value


class ManualTrigger(BaseModel):
    """A run asked for by a person or a tool (``cronlane trigger``, ``sam local invoke``).

    ``idempotency_key`` names the run: a second trigger with the same key returns the first run.
    Without a key every trigger is a new run. ``parameters`` maps a job to its parameter values,
    checked against the job's declared parameters.
    """

    model_config = ConfigDict(extra="forbid")

    action: Literal["trigger"]
    schedule: str | None = Field(default=None, max_length=NAME_MAX)
    jobs: list[Annotated[str, Field(max_length=NAME_MAX)]] | None = Field(default=None, max_length=10_000)
    parameters: dict[str, dict[str, Any]] = Field(default_factory=dict)
    idempotency_key: str | None = None
    scheduled_time: datetime | None = None


class RunAction(BaseModel):
    """``cancel`` or ``rerun`` a run, or ``mark`` one of its jobs succeeded."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["cancel", "rerun", "mark"]
    run_id: str = Field(min_length=1, max_length=RUN_ID_MAX)
    failed_only: bool = False  # rerun: only the failed, skipped and cancelled jobs
    job: str | None = Field(default=None, max_length=NAME_MAX)  # mark: the job an operator vouches for


class ScheduleAction(BaseModel):
    """``pause`` or ``resume`` a schedule."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["pause", "resume"]
    schedule: str = Field(min_length=1, max_length=NAME_MAX)
    reason: str | None = Field(default=None, max_length=500)


class DlqAction(BaseModel):
    """``dlq-list``: show the dead-lettered messages. ``dlq-replay``: put them back, chosen by
    run, by job, or all of them; ``dry_run`` says what would be replayed and changes nothing."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["dlq-list", "dlq-replay"]
    run_id: str | None = Field(default=None, min_length=1, max_length=RUN_ID_MAX)
    job: str | None = Field(default=None, min_length=1, max_length=NAME_MAX)
    all: bool = False
    dry_run: bool = False
    limit: int = Field(default=500, ge=1, le=1000)  # messages looked at in one call


class BackfillAction(BaseModel):
    """Create the runs of a schedule's past fire times in [from, to], each keyed by its fire
    time; at most ``max_active`` of them run at once. ``dry_run`` lists the fire times."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    action: Literal["backfill"]
    schedule: str = Field(min_length=1, max_length=NAME_MAX)
    from_time: AwareDatetime = Field(alias="from")
    to_time: AwareDatetime = Field(alias="to")
    max_active: int = Field(default=1, ge=1, le=50)
    dry_run: bool = False


ACTIONS: dict[str, type[BaseModel]] = {
    "trigger": ManualTrigger,
    "cancel": RunAction,
    "rerun": RunAction,
    "mark": RunAction,
    "pause": ScheduleAction,
    "resume": ScheduleAction,
    "dlq-list": DlqAction,
    "dlq-replay": DlqAction,
    "backfill": BackfillAction,
}

DispatchEvent = (
    ScheduledEvent | SchedulerEvent | ManualTrigger | RunAction | ScheduleAction | DlqAction | BackfillAction
)


def parse_dispatch_event(event: Any) -> DispatchEvent:
    if not isinstance(event, dict):
        raise InvalidRequest(f"event must be a JSON object, got {type(event).__name__}")
    model: type[BaseModel]
    if "action" in event:
        action = event["action"]
        if not isinstance(action, str) or action not in ACTIONS:
            shown = repr(action)[:60] if isinstance(action, str) else type(action).__name__
            raise InvalidRequest(f"field 'action': {shown} is not one of {', '.join(ACTIONS)}")
        model = ACTIONS[action]
    elif event.get("source") == "aws.scheduler":
        model = SchedulerEvent
    elif "detail-type" in event or "source" in event:
        model = ScheduledEvent
    else:
        raise InvalidRequest(
            "event is neither an EventBridge Scheduled Event ('detail-type', 'source', 'time', "
            "'resources'), nor an EventBridge Scheduler tick ('source': 'aws.scheduler', "
            "'schedule_arn', 'scheduled_time'), nor an action ('action': 'trigger', ...)"
        )
    try:
        return parse(event=event, model=model)  # type: ignore[return-value]
    except ValidationError as exc:
        raise InvalidRequest(describe_validation_error(model.__name__, exc)) from None


def describe_validation_error(what: str, exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(event)"
        parts.append(f"field '{where}': {err['msg']}")
    return f"invalid {what}: " + "; ".join(parts)
