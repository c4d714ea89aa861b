"""Task events Lambda: EventBridge's "ECS Task State Change" (STOPPED) of a task this stack
started (an ``ecs`` target's) in, the job's outcome recorded and its dependents released."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from cronlane.handlers import with_lambda_context
from cronlane.wiring import build_completions, make_tracer

logger = Logger(service="cronlane-task-events")
tracer = make_tracer("cronlane-task-events")
completions = build_completions(logger)


@with_lambda_context(logger)
@tracer.capture_lambda_handler
def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    detail = event.get("detail") if isinstance(event, dict) else None
    if (
        not isinstance(detail, dict)
        or event.get("detail-type") != "ECS Task State Change"
        or detail.get("lastStatus") != "STOPPED"
    ):
        logger.warning("not a stopped ECS task's event: ignored")
        return {"status": "ignored", "reason": "not an ECS Task State Change event with lastStatus STOPPED"}
    try:
        answer = completions.task_stopped(detail)
    finally:
        completions.telemetry.flush()  # one EMF document per job at most (cronlane.telemetry)
    logger.info("task event", extra={"task": detail.get("taskArn"), "completion": answer})
    return answer
