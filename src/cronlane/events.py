"""The events the functions accept; an invalid event is rejected with a message that names the
field.

The rules of each event are the pydantic models in ``_models()``: what they accept is accepted,
and their validation errors are the messages. Loading pydantic costs about 100 ms of a Lambda's
cold start, so the events a function gets all the time (an EventBridge rule's Scheduled Event,
an EventBridge Scheduler tick, a plain manual trigger, an SQS batch of the job queue) are first
checked by a plain reading that accepts only what the models accept and gives the same values;
anything else (every invalid event, every rarer action, any unusual but valid spelling) goes to
the models. Either way the result is one of the dataclasses below, which the dispatcher reads.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args

from cronlane.errors import InvalidRequest

if TYPE_CHECKING:
    from pydantic import BaseModel, ValidationError

NAME_MAX = 80  # a job or schedule name (declarations.NAME_PATTERN)
RUN_ID_MAX = 200  # "<schedule>@<ISO time>" or "manual@<key of up to 80>"
SCHEDULE_ARN_PATTERN = r"^arn:[^:]+:scheduler:[^:]*:[^:]*:schedule/[^/]+/[^/]+$"
SCHEDULER_PLACEHOLDER = "<aws.scheduler."  # an Input value Scheduler fills in


# ---------------------------------------------------------------------------------------------
# What the dispatcher reads: one dataclass per kind of event
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScheduledEvent:
    """What an EventBridge rule target receives when the rule has no ``Input`` (docs/aws-facts.md)."""

    detail_type: str
    source: str
    time: datetime
    resources: list[str]


@dataclass(frozen=True)
class SchedulerEvent:
    """What an EventBridge Scheduler schedule (SAM ``ScheduleV2``, the kind with a time zone)
    sends: the ``Input`` of its target in ``template.yaml``, in which Scheduler fills in its
    context attributes (docs/aws-facts.md: EventBridge). ``scheduled_time`` is the fire time in UTC, so
    the run is keyed by it exactly as for a rule's Scheduled Event."""

    source: str
    schedule_arn: str
    scheduled_time: datetime
    execution_id: str | None = None
    attempt: int | None = None


@dataclass(frozen=True)
class ManualTrigger:
    """A run asked for by a person or a tool (``cronlane trigger``, ``sam local invoke``).

    ``idempotency_key`` names the run: a second trigger with the same key returns the first run.
    Without a key every trigger is a new run. ``parameters`` maps a job to its parameter values,
    checked against the job's declared parameters.
    """

    action: str
    schedule: str | None = None
    jobs: list[str] | None = None
    parameters: dict[str, dict[str, Any]] = field(default_factory=dict)
    idempotency_key: str | None = None
    scheduled_time: datetime | None = None
    # The pydantic model it was validated as, if it was (its model_dump is then the one used).
    validated: Any = field(default=None, compare=False, repr=False)

    def model_dump(self, *, mode: str = "python", exclude: set[str] | None = None) -> dict[str, Any]:
        """The request as pydantic's ``model_dump`` of the ManualTrigger model gives it (the
        dispatcher fingerprints a keyed request with it). A trigger read without the model has
        no time and only plain JSON parameter values, which the model dumps as they are."""
        model = self.validated
        if model is None and self.scheduled_time is not None:
            model = _validate("ManualTrigger", self._fields())
        if model is not None:
            return model.model_dump(mode=mode, exclude=exclude)  # type: ignore[no-any-return]
        return {
            name: _copy_plain(value) for name, value in self._fields().items() if name not in (exclude or ())
        }

    def _fields(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "schedule": self.schedule,
            "jobs": self.jobs,
            "parameters": self.parameters,
            "idempotency_key": self.idempotency_key,
            "scheduled_time": self.scheduled_time,
        }


@dataclass(frozen=True)
class RunAction:
    """``cancel`` or ``rerun`` a run, or ``mark`` one of its jobs succeeded; ``watchdog``: the
    run's check (sent by its one-time schedule, ``cronlane.watchdog``)."""

    action: str
    run_id: str
    failed_only: bool = False  # rerun: only the failed, skipped and cancelled jobs
    job: str | None = None  # mark: the job an operator vouches for
    # rerun: new parameter values, {job: {name: value}}; "*" for every rerun job that declares it
    parameters: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class ScheduleAction:
    """``pause`` or ``resume`` a schedule."""

    action: str
    schedule: str
    reason: str | None = None


@dataclass(frozen=True)
class DlqAction:
    """``dlq-list``: show the dead-lettered messages. ``dlq-replay``: put them back, chosen by
    run, by job, or all of them; ``dry_run`` says what would be replayed and changes nothing."""

    action: str
    run_id: str | None = None
    job: str | None = None
    all: bool = False
    dry_run: bool = False
    limit: int = 500  # messages looked at in one call


@dataclass(frozen=True)
class BackfillAction:
    """Create the runs of a schedule's past fire times in [from, to], each keyed by its fire
    time; at most ``max_active`` of them run at once. ``dry_run`` lists the fire times."""

    action: str
    schedule: str
    from_time: datetime
    to_time: datetime
    max_active: int = 1
    dry_run: bool = False


ACTIONS: dict[str, type] = {
    "trigger": ManualTrigger,
    "cancel": RunAction,
    "rerun": RunAction,
    "mark": RunAction,
    "watchdog": RunAction,
    "pause": ScheduleAction,
    "resume": ScheduleAction,
    "dlq-list": DlqAction,
    "dlq-replay": DlqAction,
    "backfill": BackfillAction,
}

DispatchEvent = (
    ScheduledEvent | SchedulerEvent | ManualTrigger | RunAction | ScheduleAction | DlqAction | BackfillAction
)
_KINDS: dict[str, type] = {kind.__name__: kind for kind in get_args(DispatchEvent)}


# ---------------------------------------------------------------------------------------------
# The rules: pydantic models, built the first time an event needs them
# ---------------------------------------------------------------------------------------------


def _text_only(value: Any, problem: str) -> str:
    """A field that must arrive as text (pydantic would otherwise turn a number into a time or a
    string): refused with ``problem``."""
    if not isinstance(value, str):
        raise ValueError(problem)
    return value


@cache
def _models() -> dict[str, type[BaseModel]]:
    from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

    class ScheduledEvent(BaseModel):
        model_config = ConfigDict(populate_by_name=True)

        detail_type: Literal["Scheduled Event"] = Field(alias="detail-type")
        source: Literal["aws.events"]
        time: AwareDatetime
        resources: list[str] = Field(min_length=1)

        @field_validator("time", mode="before")
        @classmethod
        def _time_text(cls, value: Any) -> Any:
            return _text_only(value, "must be an ISO 8601 time with a zone, like 2026-11-28T02:00:00Z")

    class SchedulerEvent(BaseModel):
        model_config = ConfigDict(extra="forbid")

        source: Literal["aws.scheduler"]
        schedule_arn: str = Field(min_length=1, pattern=SCHEDULE_ARN_PATTERN)
        scheduled_time: AwareDatetime
        execution_id: str | None = None
        attempt: int | None = Field(default=None, ge=1)

        @field_validator("schedule_arn", "scheduled_time", mode="before")
        @classmethod
        def _filled_in(cls, value: Any) -> Any:
            if isinstance(value, str) and value.startswith(SCHEDULER_PLACEHOLDER):
                raise ValueError(
                    f"{value} was not filled in: this Input is sent by EventBridge Scheduler, which "
                    "replaces it (for a test, write the value yourself)"
                )
            return _text_only(value, "must be a string")

    class ManualTrigger(BaseModel):
        model_config = ConfigDict(extra="forbid")

        action: Literal["trigger"]
        schedule: str | None = Field(default=None, max_length=NAME_MAX)
        jobs: list[Annotated[str, Field(max_length=NAME_MAX)]] | None = Field(default=None, max_length=10_000)
        parameters: dict[str, dict[str, Any]] = Field(default_factory=dict)
        idempotency_key: str | None = None
        scheduled_time: datetime | None = None

    class RunAction(BaseModel):
        model_config = ConfigDict(extra="forbid")

        action: Literal["cancel", "rerun", "mark", "watchdog"]
        run_id: str = Field(min_length=1, max_length=RUN_ID_MAX)
        failed_only: bool = False
        job: str | None = Field(default=None, max_length=NAME_MAX)
        parameters: dict[str, dict[str, Any]] = Field(default_factory=dict)

    class ScheduleAction(BaseModel):
        model_config = ConfigDict(extra="forbid")

        action: Literal["pause", "resume"]
        schedule: str = Field(min_length=1, max_length=NAME_MAX)
        reason: str | None = Field(default=None, max_length=500)

    class DlqAction(BaseModel):
        model_config = ConfigDict(extra="forbid")

        action: Literal["dlq-list", "dlq-replay"]
        run_id: str | None = Field(default=None, min_length=1, max_length=RUN_ID_MAX)
        job: str | None = Field(default=None, min_length=1, max_length=NAME_MAX)
        all: bool = False
        dry_run: bool = False
        limit: int = Field(default=500, ge=1, le=1000)

    class BackfillAction(BaseModel):
        model_config = ConfigDict(extra="forbid", populate_by_name=True)

        action: Literal["backfill"]
        schedule: str = Field(min_length=1, max_length=NAME_MAX)
        from_time: AwareDatetime = Field(alias="from")
        to_time: AwareDatetime = Field(alias="to")
        max_active: int = Field(default=1, ge=1, le=50)
        dry_run: bool = False

    models: tuple[type[BaseModel], ...] = (
        ScheduledEvent,
        SchedulerEvent,
        ManualTrigger,
        RunAction,
        ScheduleAction,
        DlqAction,
        BackfillAction,
    )
    return {model.__name__: model for model in models}


def _validate(kind: str, event: dict[str, Any]) -> Any:
    """The pydantic model ``kind`` validated from ``event``; InvalidRequest naming the field."""
    from pydantic import ValidationError

    try:
        return _models()[kind].model_validate(event)
    except ValidationError as exc:
        raise InvalidRequest(describe_validation_error(kind, exc)) from None


def _from_model(kind: str, model: Any) -> DispatchEvent:
    """The dataclass of a validated model, field for field (a trigger keeps its model)."""
    values = dict(model)
    if kind == "ManualTrigger":
        values["validated"] = model
    return _KINDS[kind](**values)  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------------------------
# The dispatcher's events
# ---------------------------------------------------------------------------------------------


def parse_dispatch_event(event: Any) -> DispatchEvent:
    if not isinstance(event, dict):
        raise InvalidRequest(f"event must be a JSON object, got {type(event).__name__}")
    if "action" in event:
        action = event["action"]
        if not isinstance(action, str) or action not in ACTIONS:
            shown = repr(action)[:60] if isinstance(action, str) else type(action).__name__
            raise InvalidRequest(f"field 'action': {shown} is not one of {', '.join(ACTIONS)}")
        kind = ACTIONS[action].__name__
    elif event.get("source") == "aws.scheduler":
        kind = "SchedulerEvent"
    elif "detail-type" in event or "source" in event:
        kind = "ScheduledEvent"
    else:
        raise InvalidRequest(
            "event is neither an EventBridge Scheduled Event ('detail-type', 'source', 'time', "
            "'resources'), nor an EventBridge Scheduler tick ('source': 'aws.scheduler', "
            "'schedule_arn', 'scheduled_time'), nor an action ('action': 'trigger', ...)"
        )
    read = _PLAIN_READERS.get(kind)
    parsed = read(event) if read is not None else None
    return parsed if parsed is not None else _from_model(kind, _validate(kind, event))


def describe_validation_error(what: str, exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(event)"
        parts.append(f"field '{where}': {err['msg']}")
    return f"invalid {what}: " + "; ".join(parts)


# The plain readings: each returns None unless the event is certainly valid for its model, in
# which case it returns what the model would have (types are checked exactly: no coercion).

_UTC_SECONDS = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})Z")
_SCHEDULE_ARN = re.compile(SCHEDULE_ARN_PATTERN.removeprefix("^").removesuffix("$"))
_POSITIVE_INT_TEXT = re.compile(r"[1-9][0-9]{0,8}")
_SCHEDULER_FIELDS = frozenset({"source", "schedule_arn", "scheduled_time", "execution_id", "attempt"})
_TRIGGER_FIELDS = frozenset({"action", "schedule", "jobs", "parameters", "idempotency_key", "scheduled_time"})
_PLAIN_DEPTH = 64  # pydantic cannot dump a value nested about 255 deep: such a trigger takes the model


def _utc_time(value: Any) -> datetime | None:
    """``2026-11-28T02:00:00Z`` (how EventBridge and Scheduler write a time) as an aware datetime."""
    if type(value) is not str:
        return None
    match = _UTC_SECONDS.fullmatch(value)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(part) for part in match.groups())
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:  # no such day or time
        return None


def _is_str_or_none(value: Any) -> bool:
    return value is None or type(value) is str


def _read_scheduled_event(event: dict[str, Any]) -> ScheduledEvent | None:
    if "detail_type" in event:  # the field's own name is accepted too: the model decides which
        return None
    detail_type, source = event.get("detail-type"), event.get("source")
    if type(detail_type) is not str or detail_type != "Scheduled Event":
        return None
    if type(source) is not str or source != "aws.events":
        return None
    time = _utc_time(event.get("time"))
    resources = event.get("resources")
    if time is None or type(resources) is not list or not resources:
        return None
    if not all(type(resource) is str for resource in resources):
        return None
    return ScheduledEvent(detail_type=detail_type, source=source, time=time, resources=list(resources))


def _read_scheduler_event(event: dict[str, Any]) -> SchedulerEvent | None:
    if not event.keys() <= _SCHEDULER_FIELDS:
        return None
    source, arn = event.get("source"), event.get("schedule_arn")
    if type(source) is not str or source != "aws.scheduler":
        return None
    if type(arn) is not str or arn.startswith(SCHEDULER_PLACEHOLDER) or not _SCHEDULE_ARN.fullmatch(arn):
        return None
    scheduled_time = _utc_time(event.get("scheduled_time"))
    execution_id = event.get("execution_id")
    if scheduled_time is None or not _is_str_or_none(execution_id):
        return None
    attempt = event.get("attempt")
    if type(attempt) is str and _POSITIVE_INT_TEXT.fullmatch(attempt):  # Scheduler sends "1"
        attempt = int(attempt)
    elif not (attempt is None or (type(attempt) is int and attempt >= 1)):
        return None
    return SchedulerEvent(
        source=source,
        schedule_arn=arn,
        scheduled_time=scheduled_time,
        execution_id=execution_id,
        attempt=attempt,
    )


def _read_manual_trigger(event: dict[str, Any]) -> ManualTrigger | None:
    if not event.keys() <= _TRIGGER_FIELDS or event.get("scheduled_time") is not None:
        return None
    schedule, jobs, key = event.get("schedule"), event.get("jobs"), event.get("idempotency_key")
    if not _is_str_or_none(schedule) or (schedule is not None and len(schedule) > NAME_MAX):
        return None
    if not _is_str_or_none(key):
        return None
    if jobs is not None:
        if type(jobs) is not list or len(jobs) > 10_000:
            return None
        if not all(type(job) is str and len(job) <= NAME_MAX for job in jobs):
            return None
        jobs = list(jobs)
    parameters = event.get("parameters", {})
    if type(parameters) is not dict:
        return None
    for job, values in parameters.items():
        if type(job) is not str or type(values) is not dict:
            return None
        if not all(type(name) is str and _is_plain(value, _PLAIN_DEPTH) for name, value in values.items()):
            return None
    return ManualTrigger(
        action="trigger",
        schedule=schedule,
        jobs=jobs,
        parameters={job: dict(values) for job, values in parameters.items()},
        idempotency_key=key,
    )


def _is_plain(value: Any, depth: int) -> bool:
    """JSON as json.loads gives it (no NaN or infinity), at most ``depth`` containers deep:
    pydantic's JSON dump of it is the value itself."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return True
    if kind is float:
        return math.isfinite(value)
    if depth <= 0:
        return False
    if kind is list:
        return all(_is_plain(item, depth - 1) for item in value)
    if kind is dict:
        return all(type(k) is str and _is_plain(v, depth - 1) for k, v in value.items())
    return False


def _copy_plain(value: Any) -> Any:
    if type(value) is list:
        return [_copy_plain(item) for item in value]
    if type(value) is dict:
        return {k: _copy_plain(v) for k, v in value.items()}
    return value


_PLAIN_READERS: dict[str, Any] = {
    "ScheduledEvent": _read_scheduled_event,
    "SchedulerEvent": _read_scheduler_event,
    "ManualTrigger": _read_manual_trigger,
}


# ---------------------------------------------------------------------------------------------
# The executor's event: an SQS batch
# ---------------------------------------------------------------------------------------------

_SQS_TEXT_FIELDS = ("messageId", "receiptHandle", "body", "md5OfBody", "eventSourceARN", "awsRegion")
_SQS_OPTIONAL_ATTRIBUTES = (
    "MessageDeduplicationId",
    "MessageGroupId",
    "SequenceNumber",
    "AWSTraceHeader",
    "DeadLetterQueueSourceArn",
)
_EPOCH_MS_TEXT = re.compile(r"[0-9]{1,14}")  # pydantic reads up to 14 digits as a time, always


def check_sqs_event(event: Any) -> None:
    """An SQS event, as Powertools Parser's ``SqsModel`` has it, or InvalidRequest naming the
    field (``invalid SQS event: field 'Records.0.messageId': Field required``). A batch the plain
    reading cannot vouch for is validated by the model, which gives the message."""
    records = event.get("Records") if type(event) is dict else None
    if type(records) is list and all(_is_sqs_record(record) for record in records):
        return
    from aws_lambda_powertools.utilities.parser import ValidationError, parse
    from aws_lambda_powertools.utilities.parser.models import SqsModel

    try:
        parse(event=event, model=SqsModel)
    except ValidationError as exc:
        raise InvalidRequest(describe_validation_error("SQS event", exc)) from None
    if not isinstance(event, dict) or not isinstance(event.get("Records"), list):
        raise InvalidRequest("invalid SQS event: field 'Records': the event must be an object with a list")


def _is_sqs_record(record: Any) -> bool:
    if type(record) is not dict:
        return False
    if not all(type(record.get(name)) is str for name in _SQS_TEXT_FIELDS):
        return False
    source = record.get("eventSource")
    if type(source) is not str or source != "aws:sqs":
        return False
    if not _is_str_or_none(record.get("md5OfMessageAttributes")):
        return False
    attributes = record.get("attributes")
    if type(attributes) is not dict:
        return False
    if (
        type(attributes.get("ApproximateReceiveCount")) is not str
        or type(attributes.get("SenderId")) is not str
    ):
        return False
    for name in ("ApproximateFirstReceiveTimestamp", "SentTimestamp"):
        value = attributes.get(name)
        if type(value) is not str or not _EPOCH_MS_TEXT.fullmatch(value):
            return False
    if not all(_is_str_or_none(attributes.get(name)) for name in _SQS_OPTIONAL_ATTRIBUTES):
        return False
    message_attributes = record.get("messageAttributes")
    if type(message_attributes) is not dict:
        return False
    return all(
        type(name) is str and _is_message_attribute(value) for name, value in message_attributes.items()
    )


def _is_message_attribute(value: Any) -> bool:
    if type(value) is not dict or type(value.get("dataType")) is not str:
        return False
    if not (_is_str_or_none(value.get("stringValue")) and _is_str_or_none(value.get("binaryValue"))):
        return False
    for name in ("stringListValues", "binaryListValues"):
        values = value.get(name, [])
        if type(values) is not list or not all(type(item) is str for item in values):
            return False
    return True
