"""The job queue in a process's memory: SQS FIFO as the executor sees it, on a ``Clock``.

What it keeps of SQS FIFO (docs/aws-facts.md, "SQS FIFO"), and the contract tests check against
moto's SQS: messages of one group are delivered in order and one batch at a time (while a message
of a group is in flight, the rest of the group waits); a message received and not deleted comes
back once its visibility timeout is over, with its receive count raised; a repeat of a
deduplication id within 5 minutes is dropped (per message group: the template's
``DeduplicationScope``), even if the first was deleted (AWS's rule; moto only compares with
messages still queued); after ``max_receive_count`` receives the redrive policy moves a message
to the dead-letter queue. ``receive`` and ``delete`` are what Lambda's event source mapping does.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from cronlane.clock import Clock
from cronlane.errors import QueueError
from cronlane.model import DeadLetter, JobMessage

DEDUP_WINDOW_S = 300.0


@dataclass
class Received:
    """A message as a receive hands it out."""

    message_id: str
    receipt_handle: str
    body: str
    group: str
    receive_count: int
    sent_at: float
    attributes: dict[str, str]


@dataclass
class _Message:
    id: str
    body: str
    group: str
    sent_at: float
    attributes: dict[str, str]
    visible_at: float = 0.0
    receive_count: int = 0
    receipt: str | None = None


class _Fifo:
    def __init__(self, clock: Clock, max_receive_count: int | None) -> None:
        self.clock = clock
        self.max_receive_count = max_receive_count
        self.messages: list[_Message] = []
        self.dedup: dict[tuple[str, str], float] = {}  # (group, dedup id) -> first sent
        self.receipts: dict[str, _Message] = {}  # the current receipt of each received message
        self.deleted: set[str] = set()  # receipts of deleted messages: deleting again is no error
        self.ids = itertools.count(1)

    def send(self, body: str, group: str, dedup_id: str, attributes: dict[str, str] | None = None) -> bool:
        now = self.clock.now()
        first = self.dedup.get((group, dedup_id))
        if first is not None and now - first < DEDUP_WINDOW_S:
            return False
        if len(self.dedup) > 10_000:  # forget what is past the window
            self.dedup = {k: at for k, at in self.dedup.items() if now - at < DEDUP_WINDOW_S}
        self.dedup[(group, dedup_id)] = now
        self.messages.append(_Message(f"m-{next(self.ids)}", body, group, now, dict(attributes or {})))
        return True

    def receive(self, limit: int, visibility_s: float, dead: _Fifo | None) -> list[Received]:
        now = self.clock.now()
        blocked: set[str] = set()
        out: list[Received] = []
        for message in list(self.messages):
            if len(out) >= limit:
                break
            if message.group in blocked:
                continue
            if message.visible_at > now:  # in flight, or hidden by a backoff: its group waits
                blocked.add(message.group)
                continue
            redrive = self.max_receive_count is not None and message.receive_count >= self.max_receive_count
            if redrive and dead is not None:
                self._forget(message)  # the redrive policy: off to the dead-letter queue, as it was
                moved = _Message(
                    message.id, message.body, message.id, message.sent_at, dict(message.attributes)
                )
                moved.receive_count = message.receive_count
                dead.messages.append(moved)
                continue
            if message.receipt is not None:
                self.receipts.pop(message.receipt, None)
            message.receive_count += 1
            message.visible_at = now + visibility_s
            message.receipt = f"{message.id}/{message.receive_count}"
            self.receipts[message.receipt] = message
            out.append(
                Received(
                    message.id,
                    message.receipt,
                    message.body,
                    message.group,
                    message.receive_count,
                    message.sent_at,
                    dict(message.attributes),
                )
            )
        return out

    def _forget(self, message: _Message) -> None:
        self.messages.remove(message)
        if message.receipt is not None:
            self.receipts.pop(message.receipt, None)

    def _find(self, receipt: str) -> _Message:
        found = self.receipts.get(receipt)
        if found is None:
            raise QueueError(f"no message with receipt handle {receipt!r} (received again since, or never)")
        return found

    def delete(self, receipt: str) -> None:
        if receipt in self.deleted:
            return  # SQS accepts the delete of a deleted message again
        self._forget(self._find(receipt))
        self.deleted.add(receipt)

    def change_visibility(self, receipt: str, seconds: float) -> None:
        self._find(receipt).visible_at = self.clock.now() + seconds

    def next_visible(self) -> float | None:
        """When the first message that can be received becomes visible (a group's first message:
        the ones behind it wait for it)."""
        heads: dict[str, float] = {}
        for message in self.messages:
            heads.setdefault(message.group, message.visible_at)
        return min(heads.values(), default=None)

    def __len__(self) -> int:
        return len(self.messages)


class MemoryJobQueue:
    """A FIFO job queue and its dead-letter queue, with the receive side of the event source
    mapping (``receive``, ``delete``) for whoever drives the executor."""

    def __init__(
        self, clock: Clock, max_receive_count: int | None = 10, visibility_timeout_s: float = 5_400
    ) -> None:
        self._lock = threading.RLock()
        self.jobs = _Fifo(clock, max_receive_count)
        self.dead = _Fifo(clock, None)
        self.visibility_timeout_s = visibility_timeout_s

    # -- the producer side (ports.JobQueue) -------------------------------------------------

    def send(self, messages: Sequence[JobMessage]) -> None:
        with self._lock:
            for m in messages:
                self.jobs.send(m.body(), m.group, m.dedup_id())

    def dead_letter(self, body: str, dedup_id: str, error: str) -> None:
        with self._lock:
            self.dead.send(body, dedup_id, dedup_id, {"error": error[:1024] or "-"})

    def peek_dead_letters(self, limit: int, hide_s: int) -> list[DeadLetter]:
        with self._lock:
            received = self.dead.receive(limit, hide_s, None)
        return [
            DeadLetter(
                message_id=r.message_id,
                receipt_handle=r.receipt_handle,
                body=r.body,
                error=r.attributes.get("error", ""),
                dead_lettered_at=r.sent_at,
                receive_count=r.receive_count,
            )
            for r in received
        ]

    def unhide(self, letters: Sequence[DeadLetter]) -> None:
        with self._lock:
            for letter in letters:
                try:
                    self.dead.change_visibility(letter.receipt_handle, 0)
                except QueueError:
                    continue  # best effort, as on SQS: it shows again when its hiding time is over

    def delete_dead_letter(self, letter: DeadLetter) -> None:
        with self._lock:
            self.dead.delete(letter.receipt_handle)

    def delay(self, queue_arn: str, receipt_handle: str, seconds: int) -> None:
        with self._lock:
            self.jobs.change_visibility(receipt_handle, max(0, min(int(seconds), 43_200)))

    # -- the consumer side (what Lambda's event source mapping does) --------------------------

    def receive(self, limit: int = 1, visibility_s: float | None = None) -> list[Received]:
        with self._lock:
            return self.jobs.receive(
                limit, self.visibility_timeout_s if visibility_s is None else visibility_s, self.dead
            )

    def delete(self, receipt_handle: str) -> None:
        with self._lock:
            self.jobs.delete(receipt_handle)

    def delete_message(self, queue_arn: str, receipt_handle: str) -> None:
        with contextlib.suppress(QueueError):  # received again since: that receive decides
            self.delete(receipt_handle)

    def next_visible(self) -> float | None:
        with self._lock:
            return self.jobs.next_visible()

    def depth(self) -> tuple[int, int]:
        """Messages on the job queue and on the dead-letter queue."""
        with self._lock:
            return len(self.jobs), len(self.dead)
