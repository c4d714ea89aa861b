"""The real use cases in one process, on the in-memory store and queue and a virtual clock: the
dispatcher and the executor as the composition root builds them (``wiring``), with nothing of
AWS, for unit tests of the policies and for simulations.

``InProcess`` does what AWS does around the two functions, sequentially: a tick is a call of the
dispatcher with the Scheduled Event a rule sends; the event source mapping is ``drain``, which
receives one message at a time, hands it to the executor, and deletes it unless the executor
asked for it back (a retry's backoff) or failed. Time is virtual: a job's ``ctx.sleep`` moves it,
and when nothing is visible the clock jumps to the next message's visibility. The runs' checks
(``watchdog.memory``) fire as they fall due while the clock moves, as EventBridge Scheduler's
one-time schedules do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cronlane.clock import Clock, iso
from cronlane.completion import Completions
from cronlane.declarations import Catalog
from cronlane.execute import Executor, RetryLater
from cronlane.ports import Targets
from cronlane.queue.memory import MemoryJobQueue
from cronlane.run_events import Announcer, MemoryRunEvents
from cronlane.store.memory import MemoryRunStore
from cronlane.watchdog.memory import MemoryWatchdog
from cronlane.wiring import dispatcher_of, executor_of

QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:inprocess-jobs.fifo"
RULE_PREFIX = "inprocess-"
EXECUTOR_TIMEOUT_S = 900.0


def scheduled_event(schedule: str, at: float, rule_prefix: str = RULE_PREFIX) -> dict[str, Any]:
    """The Scheduled Event the schedule's EventBridge rule sends for fire time ``at``."""
    return {
        "version": "0",
        "id": f"tick-{schedule}-{at}",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": iso(int(at)),
        "region": "us-east-1",
        "resources": [f"arn:aws:events:us-east-1:123456789012:rule/{rule_prefix}{schedule}"],
        "detail": {},
    }


def deliver(
    executor: Executor, clock: Clock, body: str, receipt: str, message_id: str, receive_count: int
) -> bool:
    """Hand one message to the executor as the event source mapping does, with the Lambda
    timeout's remaining time on ``clock``; False if the executor asked for it back later (a
    retry's backoff: the message is not to be deleted)."""
    deadline = clock.now() + EXECUTOR_TIMEOUT_S
    try:
        executor.handle_message(
            body=body,
            receipt_handle=receipt,
            queue_arn=QUEUE_ARN,
            remaining_s=lambda: deadline - clock.now(),
            message_id=message_id,
            receive_count=receive_count,
        )
    except RetryLater:
        return False
    return True


class VirtualClock:
    """Time that moves only when something sleeps or the driver jumps it forward."""

    def __init__(self, start: float) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._now += seconds

    def advance_to(self, when: float) -> None:
        self._now = max(self._now, when)


@dataclass
class RecordingLog:
    """The part of Powertools' Logger the executor uses, keeping what was logged."""

    records: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    keys: dict[str, Any] = field(default_factory=dict)

    def append_keys(self, **keys: Any) -> None:
        self.keys.update(keys)

    def remove_keys(self, names: list[str]) -> None:
        for name in names:
            self.keys.pop(name, None)

    def _log(self, level: str, message: str, extra: dict[str, Any] | None = None) -> None:
        self.records.append((level, message, {**self.keys, **(extra or {})}))

    def info(self, message: str, extra: dict[str, Any] | None = None) -> None:
        self._log("INFO", message, extra)

    def warning(self, message: str, extra: dict[str, Any] | None = None) -> None:
        self._log("WARNING", message, extra)

    def error(self, message: str, extra: dict[str, Any] | None = None) -> None:
        self._log("ERROR", message, extra)


class InProcess:
    def __init__(
        self,
        catalog: Catalog,
        start: float,
        import_function: Callable[[str], Callable[..., Any]] | None = None,
        max_receive_count: int = 10,
        targets: Targets | None = None,
        store: Callable[[VirtualClock], MemoryRunStore] | None = None,
    ) -> None:
        self.clock = VirtualClock(start)
        # ``store``: makes the store on the clock (a ``MeteredStore`` bills it as DynamoDB would)
        self.store = store(self.clock) if store is not None else MemoryRunStore()
        self.queue = MemoryJobQueue(self.clock, max_receive_count=max_receive_count)
        self.log = RecordingLog()
        self.checks = MemoryWatchdog()
        # the run events published (cronlane.run_events), in order
        self.events = MemoryRunEvents()
        announcer = Announcer(self.events, RULE_PREFIX.removesuffix("-"))
        self.dispatcher = dispatcher_of(
            catalog,
            self.store,
            self.queue,
            self.clock,
            rule_prefix=RULE_PREFIX,
            checks=self.checks,
            targets=targets,
            announcer=announcer,
        )
        self.executor = executor_of(
            self.store,
            self.queue,
            self.clock,
            self.log,
            import_function=import_function,
            checks=self.checks,
            targets=targets,
            announcer=announcer,
        )
        # what the CompletionFunction and TaskEventsFunction run: handed-off jobs report here
        self.completions = Completions(self.store, self.queue, self.clock, self.log, self.executor)
        self.handled = 0
        self.check_answers: list[dict[str, Any]] = []  # what each run's check that fired found

    def tick(self, schedule: str, at: float) -> dict[str, Any]:
        """The schedule's rule fires for fire time ``at`` (the clock moves there first)."""
        self.clock.advance_to(at)
        return self.dispatcher.handle(scheduled_event(schedule, at))

    def act(self, **event: Any) -> dict[str, Any]:
        """An operator's action or a manual trigger, as the CLI sends it."""
        return self.dispatcher.handle(event)

    def step(self) -> bool:
        """Hand one visible message to the executor; False if none is visible now."""
        received = self.queue.receive(1)
        if not received:
            return False
        message = received[0]
        try:
            done = deliver(
                self.executor,
                self.clock,
                message.body,
                message.receipt_handle,
                message.message_id,
                message.receive_count,
            )
        finally:
            self.handled += 1
        if done:  # else its visibility is its backoff: it comes back then
            self.queue.delete(message.receipt_handle)
        return True

    def fire_due_checks(self) -> int:
        """The runs' checks due by now fire (each a dispatcher invocation); how many did."""
        due = self.checks.due(self.clock.now())
        for run_id in due:
            self.check_answers.append(self.dispatcher.handle({"action": "watchdog", "run_id": run_id}))
        return len(due)

    def drain(self, until: float | None = None, limit: int = 100_000) -> None:
        """Run messages until none is left (or the clock reaches ``until``), jumping the clock to
        the next message's visibility, or the next run check, whenever none is visible (without
        ``until``, it stops when no message is left, whatever checks are still armed)."""
        for _ in range(limit):
            if until is not None and self.clock.now() >= until:
                return
            if self.fire_due_checks() or self.step():
                continue
            visible = self.queue.next_visible()
            check = self.checks.next_due()
            if visible is None and until is None:
                return
            soonest = min(t for t in (visible, check, until) if t is not None)
            if until is not None and soonest >= until:
                self.clock.advance_to(until)
                self.fire_due_checks()
                return
            self.clock.advance_to(soonest)
        raise RuntimeError(f"more than {limit} messages: a loop?")
