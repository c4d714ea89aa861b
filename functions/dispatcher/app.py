"""Dispatcher Lambda: an EventBridge tick or a manual trigger in, a run out."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer

from cronlane.wiring import build_dispatcher

logger = Logger(service="cronlane-dispatcher")
tracer = Tracer(service="cronlane-dispatcher")
dispatcher = build_dispatcher()


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result = dispatcher.handle(event)
    if "error" in result:  # bad input is answered with what is wrong, not raised (a retry cannot help)
        logger.error("event refused", extra={"error": result["error"], "event": str(event)[:2_000]})
    else:
        logger.info("dispatched", extra={"dispatch": result})
    return result
