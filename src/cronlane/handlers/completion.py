"""Completion Lambda: a callback worker's report (succeeded, failed or a heartbeat) in, the job's
outcome recorded. It takes ``{"token", "status", "result"?, "error"?}`` and nothing else: no
operator action (the dispatcher's) is reachable through it."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from cronlane.completion import Report
from cronlane.errors import InvalidRequest
from cronlane.handlers import with_lambda_context
from cronlane.wiring import build_completions, make_tracer

logger = Logger(service="cronlane-completion")
tracer = make_tracer("cronlane-completion")
completions = build_completions(logger)


@with_lambda_context(logger)
@tracer.capture_lambda_handler
def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    try:
        answer = completions.report(Report.parse(event))
    except InvalidRequest as exc:  # answered with what is wrong (a retry cannot help), not raised
        logger.warning("completion refused", extra={"error": str(exc)})
        return {"error": str(exc)}
    finally:
        completions.telemetry.flush()  # one EMF document per job at most (cronlane.telemetry)
    logger.info("completion", extra={"completion": answer})
    return answer
