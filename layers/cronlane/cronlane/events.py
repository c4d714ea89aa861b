"""The events the dispatcher accepts, parsed with pydantic models; an invalid event is rejected
with a message that names the field."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cronlane.errors import InvalidRequest


class ScheduledEvent(BaseModel):
    """What an EventBridge rule target receives when the rule has no ``Input`` (aws-facts)."""

    model_config = ConfigDict(populate_by_name=True)

    detail_type: Literal["Scheduled Event"] = Field(alias="detail-type")
    source: Literal["aws.events"]
    time: datetime
    resources: list[str] = Field(min_length=1)


class ManualTrigger(BaseModel):
    """A run asked for by a person or a tool (``cronlane trigger``, ``sam local invoke``).

    ``idempotency_key`` names the run: a second trigger with the same key returns the first run.
    Without a key every trigger is a new run. ``parameters`` maps a job to its parameter values,
    checked against the job's declared parameters.
    """

    model_config = ConfigDict(extra="forbid")

    action: Literal["trigger"]
    schedule: str | None = None
    jobs: list[str] | None = None
    parameters: dict[str, dict[str, Any]] = Field(default_factory=dict)
    idempotency_key: str | None = None
    scheduled_time: datetime | None = None


def parse_dispatch_event(event: Any) -> ScheduledEvent | ManualTrigger:
    if not isinstance(event, dict):
        raise InvalidRequest(f"event must be a JSON object, got {type(event).__name__}")
    if "action" in event:
        model: type[ScheduledEvent] | type[ManualTrigger] = ManualTrigger
    elif "detail-type" in event or "source" in event:
        model = ScheduledEvent
    else:
        raise InvalidRequest(
            "event is neither an EventBridge Scheduled Event ('detail-type', 'source', 'time', "
            "'resources') nor a manual trigger ('action': 'trigger')"
        )
    try:
        return model.model_validate(event)
    except ValidationError as exc:
        raise InvalidRequest(describe_validation_error(model.__name__, exc)) from None


def describe_validation_error(what: str, exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(event)"
        parts.append(f"field '{where}': {err['msg']}")
    return f"invalid {what}: " + "; ".join(parts)
