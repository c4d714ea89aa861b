"""Executor Lambda: SQS FIFO batches in, job runs out, with partial batch failures."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.parser import ValidationError, parse
from aws_lambda_powertools.utilities.parser.models import SqsModel

from cronlane.errors import InvalidRequest
from cronlane.events import describe_validation_error
from cronlane.wiring import build_executor

logger = Logger(service="cronlane-executor")
tracer = Tracer(service="cronlane-executor")
executor = build_executor(logger)
# A failure stops only its own message group (one group per job); other jobs in the batch go on.
processor = SqsFifoPartialProcessor(skip_group_on_error=True)
# A batch whose every record failed is still a partial response, not a function error: the
# failed attempts were recorded and are retried through the messages' visibility.
processor.raise_on_entire_batch_failure = False


@tracer.capture_method
def record_handler(record: SQSRecord, lambda_context: Any) -> dict[str, Any]:
    # MessageGroupId is the job name: traces can be searched by job.
    tracer.put_annotation(key="job", value=record.attributes.message_group_id or "")
    return executor.handle_message(
        body=record.body,
        receipt_handle=record.receipt_handle,
        queue_arn=record.event_source_arn,
        remaining_s=lambda: lambda_context.get_remaining_time_in_millis() / 1000.0,
        message_id=record.message_id,
    )


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # The batch itself must be an SQS event (Powertools Parser's model); a record's body is then
    # checked by the executor, which dead-letters a poison body with what is wrong with it.
    try:
        parse(event=event, model=SqsModel)
    except ValidationError as exc:
        raise InvalidRequest(describe_validation_error("SQS event", exc)) from None
    return process_partial_response(  # type: ignore[return-value]
        event=event, record_handler=record_handler, processor=processor, context=context
    )
