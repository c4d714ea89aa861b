"""What each of cronlane's log lines carries of the Lambda context: the request id and whether it
was a cold start, not the function's name, ARN and memory (the log group and Lambda's REPORT line
say those, and every line is billed for its bytes)."""

from __future__ import annotations

import io
import json
import logging
from types import SimpleNamespace
from typing import Any

from aws_lambda_powertools import Logger

from cronlane.handlers import with_lambda_context


def context(request_id: str) -> Any:
    return SimpleNamespace(
        function_name="stack-ExecutorFunction-AbC123",
        memory_limit_in_mb=1024,
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:stack-ExecutorFunction-AbC123",
        aws_request_id=request_id,
    )


def test_each_line_names_its_request_and_none_repeats_what_the_log_group_says() -> None:
    out = io.StringIO()
    logger = Logger(service="cronlane-test", logger_handler=logging.StreamHandler(out))

    @with_lambda_context(logger)
    def handler(event: Any, _: Any) -> str:
        logger.info("job started", extra={"job": event["job"]})
        return "done"

    assert handler({"job": "a", "token": "secret"}, context("r1")) == "done"
    assert handler({"job": "b", "token": "secret"}, context("r2")) == "done"
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(line["job"], line["function_request_id"]) for line in lines] == [("a", "r1"), ("b", "r2")]
    assert lines[1]["cold_start"] is False  # (the first is True unless this process ran a handler already)
    for line in lines:
        assert not {"function_name", "function_arn", "function_memory_size"} & set(line), line
    assert "secret" not in out.getvalue()  # the event is never logged


def test_a_line_names_its_x_ray_trace_only_when_the_invocation_is_traced(monkeypatch: Any) -> None:
    out = io.StringIO()
    logger = Logger(service="cronlane-test-trace", logger_handler=logging.StreamHandler(out))

    @with_lambda_context(logger)
    def handler(event: Any, _: Any) -> None:
        logger.info("job started")

    root = "1-67890abc-0123456789abcdef01234567"
    for sampled in ("0", "1", "0"):
        monkeypatch.setenv("_X_AMZN_TRACE_ID", f"Root={root};Parent=53995c3f42cd8ad8;Sampled={sampled}")
        handler({}, context(f"r{sampled}"))
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line.get("xray_trace_id") for line in lines] == [None, root, None]
