"""The Lambda handlers: each one thin, over the core the wiring builds (``cronlane.wiring``)."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger

# Of the Lambda context Powertools adds to every line, what the log group, its stream and Lambda's
# REPORT line already say: each line is billed for its bytes (about 180 of them).
SAID_BY_THE_LOG_GROUP = ["function_name", "function_memory_size", "function_arn"]


def sampled() -> bool:
    """Whether X-Ray records this invocation (Lambda's header for it says ``Sampled=1``)."""
    return "Sampled=1" in os.environ.get("_X_AMZN_TRACE_ID", "")


def with_lambda_context(logger: Logger) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Powertools' ``inject_lambda_context`` (never logging the event: it may hold a task token or
    a trigger's parameters), keeping of the context the request id and ``cold_start``, and the
    X-Ray trace id only when the invocation is traced."""

    def wrap(handler: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(handler)
        def handle(event: Any, context: Any) -> Any:
            logger.remove_keys(SAID_BY_THE_LOG_GROUP)
            if sampled():
                logger.remove_keys(["xray_trace_id"])  # Powertools then reads it off the header
            else:
                logger.append_keys(xray_trace_id=None)  # no trace to find: the id is bytes only
            return handler(event, context)

        return logger.inject_lambda_context(handle, log_event=False)

    return wrap
