"""Executor Lambda: SQS FIFO batches in, job runs out, with partial batch failures."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from aws_lambda_powertools import Logger

from cronlane.events import check_sqs_event
from cronlane.execute import RetryLater
from cronlane.handlers import with_lambda_context
from cronlane.wiring import build_executor, make_tracer

logger = Logger(service="cronlane-executor")
tracer = make_tracer("cronlane-executor")  # Powertools Tracer only when SDK tracing is on (TraceSdkCalls)
executor = build_executor(logger)
LAST_RECORD = ContextVar("LAST_RECORD", default=True)  # the record being handled is its batch's last


@tracer.capture_method
def record_handler(record: dict[str, Any], lambda_context: Any) -> dict[str, Any]:
    # MessageGroupId is the job name: traces can be searched by job.
    group = record["attributes"].get("MessageGroupId") or ""
    tracer.put_annotation(key="job", value=group.split("~")[0].split("#")[0])  # a lane: job#n, job~run
    try:
        return executor.handle_message(
            body=record["body"],
            receipt_handle=record["receiptHandle"],
            queue_arn=record["eventSourceARN"],
            remaining_s=lambda: lambda_context.get_remaining_time_in_millis() / 1000.0,
            message_id=record["messageId"],
            receive_count=int(record["attributes"].get("ApproximateReceiveCount") or 1),
            chain=LAST_RECORD.get(),  # a dependent runs after a batch's last record only: they share its time
        )
    finally:
        executor.telemetry.flush()  # one EMF document per job at most (cronlane.telemetry)


def process_fifo_batch(records: list[dict[str, Any]], context: Any) -> dict[str, Any]:
    """The partial batch response of an SQS FIFO batch, as Powertools' ``SqsFifoPartialProcessor
    (skip_group_on_error=True)`` with ``raise_on_entire_batch_failure = False`` gives it, without
    loading the batch utility (and asyncio with it) in the cold start.

    Records are handled in order. A record whose handler raises is reported failed, and so is
    every later record of its message group (one group per job: its messages must not overtake
    the failed one), while other jobs in the batch go on. A batch whose every record failed is
    still a partial response, not a function error: the failed attempts were recorded and are
    retried through the messages' visibility. A record without a group is never skipped.
    """
    failures: list[dict[str, str]] = []
    failed_groups: set[str] = set()
    for number, record in enumerate(records, 1):
        group = record.get("attributes", {}).get("MessageGroupId")
        if group in failed_groups:
            failures.append({"itemIdentifier": record["messageId"]})
            continue
        try:
            LAST_RECORD.set(number == len(records))
            record_handler(record, context)
        except Exception as exc:
            if not isinstance(exc, RetryLater):  # a job's failed attempt was logged as such
                logger.exception(
                    "message not handled; it comes back after its visibility timeout",
                    extra={"message_id": record["messageId"], "group": group},
                )
            failures.append({"itemIdentifier": record["messageId"]})
            if group:
                failed_groups.add(group)
    return {"batchItemFailures": failures}


@with_lambda_context(logger)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # The batch itself must be an SQS event (the shape of Powertools Parser's SqsModel); a record's
    # body is then checked by the executor, which dead-letters a poison body with what is wrong.
    check_sqs_event(event)
    return process_fifo_batch(event["Records"], context)
