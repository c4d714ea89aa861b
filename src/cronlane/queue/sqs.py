"""The job queue and its dead-letter queue on SQS FIFO (docs/aws-facts.md, "SQS FIFO").
SDK errors become ``QueueError`` in ``sdk_errors``."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from cronlane.errors import QueueError
from cronlane.model import DeadLetter, JobMessage
from cronlane.sdk_errors import sqs

SQS_BATCH = 10  # SendMessageBatch / DeleteMessageBatch take at most 10 entries
MAX_VISIBILITY_S = 43_200  # ChangeMessageVisibility's limit (12 hours)
MAX_ERROR_ATTRIBUTE = 1_024  # the dead letter's error attribute is cut to this


class SqsJobQueue:
    def __init__(self, queue_url: str, dlq_url: str | None = None, client: Any = None) -> None:
        if client is None:
            import boto3

            client = boto3.client("sqs")
        self.client = client
        self.queue_url = queue_url
        self.dlq_url = dlq_url

    def send(self, messages: Sequence[JobMessage]) -> None:
        """``SendMessageBatch``, ten at a time. ``MessageGroupId`` is the job name: one lane per
        job, so a job never runs twice at once while different jobs run in parallel."""
        for start in range(0, len(messages), SQS_BATCH):
            chunk = messages[start : start + SQS_BATCH]
            entries = [
                {
                    "Id": str(i),
                    "MessageBody": m.body(),
                    "MessageGroupId": m.group,
                    "MessageDeduplicationId": m.dedup_id(),
                }
                for i, m in enumerate(chunk)
            ]
            with sqs(f"sending {len(entries)} job messages"):
                result = self.client.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            failed = result.get("Failed") or []
            if failed:
                names = ", ".join(f"{chunk[int(f['Id'])].job} ({f.get('Code')})" for f in failed)
                raise QueueError(f"SQS refused job messages for {names}")

    def dead_letter(self, body: str, dedup_id: str, error: str) -> None:
        """Each dead letter is a message group of its own (its dedup id): a FIFO queue hands out
        nothing more of a group while one of its messages is in flight, and the DLQ is browsed
        and replayed in any order, so one group per job would hide all but the first few."""
        with sqs("sending to the dead-letter queue"):
            self.client.send_message(
                QueueUrl=self._dlq(),
                MessageBody=body,
                MessageGroupId=dedup_id,
                MessageDeduplicationId=dedup_id,
                MessageAttributes={
                    "error": {"DataType": "String", "StringValue": error[:MAX_ERROR_ATTRIBUTE] or "-"}
                },
            )

    def _dlq(self) -> str:
        if not self.dlq_url:
            raise QueueError("no dead-letter queue configured (DLQ_URL)")
        return self.dlq_url

    def peek_dead_letters(self, limit: int, hide_s: int) -> list[DeadLetter]:
        seen: dict[str, DeadLetter] = {}
        while len(seen) < limit:
            with sqs("reading the dead-letter queue"):
                messages = self.client.receive_message(
                    QueueUrl=self._dlq(),
                    MaxNumberOfMessages=min(SQS_BATCH, limit - len(seen)),
                    VisibilityTimeout=hide_s,
                    WaitTimeSeconds=0,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                ).get("Messages", [])
            fresh = [m for m in messages if m["MessageId"] not in seen]
            if not fresh:
                break
            for m in fresh:
                attributes = m.get("Attributes", {})
                sent = attributes.get("SentTimestamp")
                seen[m["MessageId"]] = DeadLetter(
                    message_id=m["MessageId"],
                    receipt_handle=m["ReceiptHandle"],
                    body=m.get("Body", ""),
                    error=m.get("MessageAttributes", {}).get("error", {}).get("StringValue", ""),
                    dead_lettered_at=int(sent) / 1000 if sent else None,
                    receive_count=int(attributes.get("ApproximateReceiveCount", 0)),
                )
        return list(seen.values())

    def unhide(self, letters: Sequence[DeadLetter]) -> None:
        for start in range(0, len(letters), SQS_BATCH):
            entries = [
                {"Id": str(i), "ReceiptHandle": m.receipt_handle, "VisibilityTimeout": 0}
                for i, m in enumerate(letters[start : start + SQS_BATCH])
            ]
            # Best effort: a letter that cannot be given back (an SQS refusal, or moto, which
            # counts the 12-hour visibility limit from the send rather than the receive) simply
            # shows again when its hiding time is over.
            with contextlib.suppress(Exception):
                self.client.change_message_visibility_batch(QueueUrl=self._dlq(), Entries=entries)

    def delete_dead_letter(self, letter: DeadLetter) -> None:
        with sqs(f"deleting dead letter {letter.message_id}"):
            self.client.delete_message(QueueUrl=self._dlq(), ReceiptHandle=letter.receipt_handle)

    def delay(self, queue_arn: str, receipt_handle: str, seconds: int) -> None:
        url = self._url_of(queue_arn)
        with sqs("changing a message's visibility"):
            self.client.change_message_visibility(
                QueueUrl=url,
                ReceiptHandle=receipt_handle,
                VisibilityTimeout=max(0, min(int(seconds), MAX_VISIBILITY_S)),
            )

    def delete_message(self, queue_arn: str, receipt_handle: str) -> None:
        url = self._url_of(queue_arn)
        with sqs("deleting a message"):
            try:
                self.client.delete_message(QueueUrl=url, ReceiptHandle=receipt_handle)
            except Exception as exc:  # a receipt no longer valid: the message is gone or came back
                if "ReceiptHandleIsInvalid" not in str(exc) and "InvalidParameterValue" not in str(exc):
                    raise

    def _url_of(self, queue_arn: str) -> str:
        name = queue_arn.rsplit(":", 1)[-1]
        if self.queue_url.endswith("/" + name):
            return self.queue_url
        raise QueueError(f"a message from queue {name}, which is not this stack's job queue")
