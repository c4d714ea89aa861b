"""Dispatcher Lambda: an EventBridge tick or a manual trigger in, a run out."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from cronlane.handlers import with_lambda_context
from cronlane.wiring import build_dispatcher, make_tracer

logger = Logger(service="cronlane-dispatcher")
SHAPE_FIELDS = ("action", "detail-type", "source", "schedule")  # names, never values of parameters
tracer = make_tracer("cronlane-dispatcher")  # Powertools Tracer only when SDK tracing is on (TraceSdkCalls)
dispatcher = build_dispatcher()


@with_lambda_context(logger)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        result = dispatcher.handle(event, getattr(context, "aws_request_id", None))
    finally:
        dispatcher.telemetry.flush()  # one EMF document per job at most (cronlane.telemetry)
    if "error" in result:  # bad input is answered with what is wrong, not raised (a retry cannot help)
        # The event's shape, not its values: a trigger's parameters may hold what must not be logged.
        logger.error("event refused", extra={"error": result["error"], "event": event_shape(event)})
    else:
        logger.info("dispatched", extra={"dispatch": loggable(result)})
    return result


def event_shape(event: Any) -> dict[str, Any]:
    """What a refused event was, for the log: its top-level keys and the few fields that name
    its kind, cut short. Parameter values and anything else in it are left out."""
    if not isinstance(event, dict):
        return {"type": type(event).__name__}
    shape: dict[str, Any] = {"keys": sorted(str(k)[:40] for k in event)[:20]}
    for name in SHAPE_FIELDS:
        if isinstance(event.get(name), str):
            shape[name] = event[name][:80]
    return shape


def loggable(result: dict[str, Any]) -> dict[str, Any]:
    """The result without what may hold data: a dead letter's body and error (dlq-list and
    dlq-replay answer with them) are left out, their number stays."""
    out: dict[str, Any] = {}
    for key, value in result.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            out[key] = f"{len(value)} item(s)"
        else:
            out[key] = value
    return out
