"""The Lambda handlers: each one thin, over the core the wiring builds (``cronlane.wiring``)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger

# Of the Lambda context Powertools adds to every line, what the log group, its stream and Lambda's
# REPORT line already say: each line is billed for its bytes (about 180 of them).
SAID_BY_THE_LOG_GROUP = ["function_name", "function_memory_size", "function_arn"]


def with_lambda_context(logger: Logger) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Powertools' ``inject_lambda_context`` (never logging the event: it may hold a task token or
    a trigger's parameters), keeping of the context the request id and ``cold_start``."""

    def wrap(handler: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(handler)
        def handle(event: Any, context: Any) -> Any:
            logger.remove_keys(SAID_BY_THE_LOG_GROUP)
            return handler(event, context)

        return logger.inject_lambda_context(handle, log_event=False)

    return wrap
