"""The executor: claim a job-run, run the job, record the outcome, release the dependents.

Order of effects for one message, and what a crash at each point leaves behind:

1. claim (conditional write: a put of the whole item for a job-run's first claim, as no job-run
   is written before it starts; else QUEUED/PENDING -> RUNNING, or an expired lease) - a crash
   after it leaves a RUNNING job-run whose lease expires; the message comes back after the
   visibility timeout (>= the lease) and is claimed again as a new attempt.
2. run the job.
3. state write (one conditional write; a sink's success, and any failure, is counted on the run
   in the same transaction) - a crash after it leaves a finished job whose dependents were not
   released: the redelivered message finds it SUCCEEDED and releases them (without running the
   job again).
4. the release reads the dependents' other upstreams and sends the messages of the dependents
   whose upstreams are all done (``cronlane.release``: nothing is written, so a repeat changes
   nothing). Right after the state write it does not read those dependents: their claim checks
   they still wait. A repeated release (a redelivery) reads them and sends only those waiting.
5. a sink (or a job whose release saw a dependent that had already ended) closes the run if every
   job is terminal.

A job that returns ``ctx.continue_from(cursor)`` instead ends its invocation at a checkpoint:
the job-run goes back to QUEUED with the cursor (one conditional write), then the same job's
message is sent again. A crash between the two leaves the job-run waiting to continue, and the
redelivered original message continues it.
6. the message is deleted by the event source mapping only after the handler returned, so after
   the releases were sent.

A dependent with no lane (``max_concurrent=None``) that a success made ready may run in the same
invocation instead of being sent (``chainable``): the steps above, with no message of its own.
A crash while it runs leaves it RUNNING; the upstream's message comes back after the visibility
timeout, and its release (which reads) sends the job, whose lease has run out by then, to be
taken over. A failed attempt's retry is a message of its own, claimed only after the backoff.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import math
import random
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from cronlane import results
from cronlane.clock import Clock, iso
from cronlane.context import Continuation, JobContext, JobTimeout, make_context
from cronlane.errors import Conflict, CronlaneError, InvalidRequest, QueueError, StoreError
from cronlane.faults import crashpoint
from cronlane.graphs import RunGraphs
from cronlane.lanes import FREE
from cronlane.model import RUN_CANCELLED, JobMessage, JobNode, JobRunView, JobStatus, ended_view
from cronlane.ports import JobQueue, RunStore, Targets
from cronlane.release import Keep, Releaser
from cronlane.rules import WAITING, Needs, failure_reach
from cronlane.runs import RunCloser
from cronlane.targets import (
    HANDED_OFF,
    PYTHON,
    TIMER_SLACK_S,
    HandOff,
    TargetFailed,
    heartbeat_of,
    kind_of,
    prepare,
)
from cronlane.telemetry import NoTelemetry, Telemetry

MAX_ERROR_CHARS = 2_000  # stored error text is cut to this size
MAX_CURSOR_CHARS = 32_000  # a checkpoint's cursor, as JSON (it lives on the job-run's item)
LEASE_GRACE_S = 60.0  # added to the invocation's remaining time to form the lease
CHAIN_SLACK_S = 30.0  # a chained job's timeout must fit in what is left of the invocation, and this
BACKOFF_BASE_S = 30.0
BACKOFF_CAP_S = 900.0
# A message whose handling hit an infrastructure error (a throttled or failed DynamoDB or SQS
# call, a write that lost to another) comes back after tens of seconds, not the queue's
# visibility timeout: 20-40 s (jittered) for its first five receives (some two minutes); after
# that the outage is lasting, and the message waits out the visibility timeout, so it does not
# spin. Receives count against the redrive policy with the job's own attempts: five, beside a
# job's default three attempts, stay under the default ten (a message that is dead-lettered all
# the same is sent again by the run's watchdog).
INFRA_RETRY_S = 20.0
INFRA_FAST_RECEIVES = 5


class RetryLater(CronlaneError):
    """The attempt failed and will be retried: the record is reported as a batch item failure."""


class HandedOff(RetryLater):
    """The attempt runs on its target now: the message is reported as a batch item failure, so
    it is not deleted but stays in flight, hidden until the attempt's lease ends (its timer)."""


@dataclass(frozen=True)
class Outcome:
    ok: bool
    error: str | None = None
    result: Any = None
    handle: str | None = None  # a target's handle (a lambda target's request id)


def truncate(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 15] + "... [truncated]"


def backoff_seconds(attempt: int, rng: random.Random) -> int:
    """Exponential backoff with jitter: 30 s, 60 s, 120 s ... capped at 15 minutes, each scaled
    by a random factor in [0.5, 1.0) so that retries of many jobs do not arrive together."""
    ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** max(attempt - 1, 0))
    return max(1, int(ceiling * (0.5 + rng.random() / 2)))


def infra_retry_seconds(receive_count: int, rng: random.Random) -> int | None:
    """20-40 s for the first five receives; None (the queue's visibility timeout) after them."""
    if receive_count > INFRA_FAST_RECEIVES:
        return None
    return int(INFRA_RETRY_S * (1.0 + rng.random()))


def stored_cursor(view: JobRunView, step: Continuation) -> tuple[str | None, str | None]:
    """A continuation's cursor as stored JSON, or the problem that makes it a failed attempt."""
    number = len(view.continuations) + 1
    if number > view.max_continuations:
        return None, (
            f"job '{view.job}' asked for continuation {number}, but its max_continuations "
            f"is {view.max_continuations}"
        )
    try:
        cursor = json.dumps(step.cursor, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        return None, f"job '{view.job}' returned a cursor that is not JSON: {exc}"
    if len(cursor) > MAX_CURSOR_CHARS:
        return None, (
            f"job '{view.job}' returned a cursor of {len(cursor)} characters as JSON; at most "
            f"{MAX_CURSOR_CHARS} fit on the job-run (keep a key to it, not the data)"
        )
    return cursor, None


@dataclass(frozen=True)
class Delivery:
    """How the job being handled came: by its message (``receipt``: hidden for a backoff, kept
    in flight as a handed-off attempt's timer), or, with none, in its upstream's invocation
    (``root``: the job of the message that began the chain, which the job-run records)."""

    queue_arn: str
    receipt: str | None = None
    root: str | None = None

    @property
    def chained(self) -> bool:
        return self.receipt is None

    def hide(self, queue: JobQueue, seconds: int) -> None:
        """The message comes back after ``seconds`` (it has one: not ``chained``)."""
        assert self.receipt is not None
        queue.delay(self.queue_arn, self.receipt, seconds)


class Executor:
    def __init__(
        self,
        store: RunStore,
        queue: JobQueue,
        clock: Clock,
        log: Any,
        graphs: RunGraphs,
        releaser: Releaser,
        closer: RunCloser,
        rng: random.Random | None = None,
        import_function: Callable[[str], Callable[..., Any]] | None = None,
        telemetry: Telemetry | None = None,
        targets: Targets | None = None,
    ) -> None:
        self.telemetry: Telemetry = telemetry or NoTelemetry()
        self.targets: Targets = targets or NoTargets()
        self.closer = closer  # its close starts what waited for the run
        self.store = store
        self.queue = queue
        self.clock = clock
        self.log = log
        self.graphs = graphs
        self.releaser = releaser
        self.rng = rng or random.Random()
        self.import_function = import_function or import_job_function
        self._keep: Keep | None = None  # while a message is handled: what it may run after it
        self._kept: JobMessage | None = None  # the dependent its last success kept back to run
        self._root: str | None = None  # the job of the message whose invocation this is
        self._chain_claiming = False  # a chained job's claim was asked for
        self._chain_lease: float | None = None  # the lease a chained job's claim took
        self._broken_until: float | None = None  # a chained job's message could not be sent

    def handle_message(
        self,
        body: str,
        receipt_handle: str,
        queue_arn: str,
        remaining_s: Callable[[], float],
        message_id: str = "",
        receive_count: int = 1,
        chain: bool = True,
    ) -> dict[str, Any]:
        """Handle one queue message. Returns normally when the message may be deleted; raises
        ``RetryLater`` when it must come back: a job's failed attempt after its backoff, an
        infrastructure error after a short delay (``infra_retry_seconds``).

        After a success, the invocation may go on with one job its release made ready instead
        of sending that job's message (``chainable``), and with one of that job's, and so on
        while the invocation has time left for them (their own states, leases and histories
        are written as for any other job-run). ``chain`` False: not after this message (a
        batch's later records share the invocation's time)."""
        self._kept, self._broken_until = None, None
        delivery = Delivery(queue_arn, receipt_handle)
        try:
            try:
                # inside: reading the run's graph may fail like any request of the handling
                self._root, self._keep = self.chainable(body, remaining_s) if chain else (None, None)
                answer = self._handle(body, delivery, remaining_s, message_id)
            except (StoreError, QueueError, Conflict) as exc:
                self._send_kept()
                delay = infra_retry_seconds(receive_count, self.rng)
                self._infra_warning(exc, delay, receive_count)
                if delay is not None:
                    with contextlib.suppress(QueueError):  # SQS itself failing: the visibility timeout
                        delivery.hide(self.queue, delay)
                raise RetryLater(f"infrastructure error: {exc}") from exc
            while (kept := self._kept) is not None:
                self._chain(kept, queue_arn, remaining_s)
            if self._broken_until is not None:
                # a chained job's message could not be sent: this message comes back once that
                # job's lease has run out, and its release repeats the chain (``_repeat_chain``)
                wait = max(1, math.ceil(self._broken_until - self.clock.now()))
                with contextlib.suppress(QueueError):
                    delivery.hide(self.queue, wait)
                raise RetryLater("a job of this invocation's chain could not be sent")
        finally:
            self._keep = self._kept = self._root = None
        return answer

    def _infra_warning(self, exc: Exception, delay: int | None, receive_count: int) -> None:
        self.log.warning(
            "infrastructure error; the message comes back soon",
            extra={"error": truncate(str(exc)), "retry_in_s": delay, "receive_count": receive_count},
        )
        self.telemetry.emit("InfraRetries", 1)

    # -- running a dependent in its upstream's invocation --------------------------------------

    def chainable(self, body: str, remaining_s: Callable[[], float]) -> tuple[str | None, Keep | None]:
        """Which ready dependent this invocation may run itself, after a success: one with no
        lane (``max_concurrent=None``: nothing of another run can wait for it, and it has no
        message to hold one), run here (a Python or lambda job, not handed off), whose whole
        timeout still fits in the invocation. The message being handled stays in flight until
        the chain ends, so its own job must have no lane either (no other run waits for it).
        Also the chain's root: the message's job, which every job of its chain records."""
        try:
            message = JobMessage.parse(body)
        except InvalidRequest:
            return None, None
        graph = self.graphs.get(message.run_id)
        node = graph.nodes.get(message.job) if graph is not None else None
        if node is None or node.lane != FREE:
            return None, None

        def keep(message: JobMessage, node: JobNode) -> bool:
            return (
                node.lane == FREE
                and not message.continuation
                and kind_of(node.function) not in HANDED_OFF
                and remaining_s() >= node.timeout_s + CHAIN_SLACK_S
            )

        return message.job, keep

    def _chain(self, message: JobMessage, queue_arn: str, remaining_s: Callable[[], float]) -> None:
        """Run ``message``'s job here, as if its message had come (it has none: a ``chained``
        ``Delivery``). A failed attempt's retry is sent as a message that waits out the backoff;
        an infrastructure error sends the job's message, held back until any lease the chain
        took has run out, so the job is taken over, not lost."""
        self._kept = None
        self._chain_claiming, self._chain_lease = False, None
        self.log.info(
            "job runs in its upstream's invocation", extra={"run_id": message.run_id, "job": message.job}
        )
        try:
            self._handle(message.body(), Delivery(queue_arn, root=self._root), remaining_s, "")
        except RetryLater:
            pass  # its retry is on the queue
        except (StoreError, QueueError, Conflict) as exc:
            self._infra_warning(exc, None, 1)
            # once its claim was asked for, it may hold a lease (at most the invocation's time
            # and the grace): its message waits that out, to take it over
            until = self._chain_lease
            if until is None and self._chain_claiming:
                until = self.clock.now() + remaining_s() + LEASE_GRACE_S
            again = replace(message, not_before=None if until is None else until + 1.0)
            try:
                self.queue.send([again, *([self._kept] if self._kept is not None else [])])
            except QueueError:
                self._broken_until = max(self._broken_until or 0.0, (until or self.clock.now()) + 1.0)
            self._kept = None

    def _repeat_chain(self, view: JobRunView) -> None:
        """A redelivered message whose job had succeeded: the jobs its invocation ran after it
        (``JobRunView.chain`` names it) had no message of their own, so their releases are
        repeated here too, one job of the chain after the other. Its release has sent the first
        of them again if it was left running; this sends the later ones, or those never claimed."""
        graph = self.graphs.get(view.run_id)
        if graph is None or view.job not in graph.nodes or graph.nodes[view.job].lane != FREE:
            return
        ahead, seen = [view.job], {view.job}
        while ahead:
            node = graph.nodes.get(ahead.pop())
            free = [d for d in (node.dependents if node is not None else ()) if graph.nodes[d].lane == FREE]
            for name, state in self.store.states(view.run_id, free).items():
                if state.chain == view.job and state.status is JobStatus.SUCCEEDED and name not in seen:
                    seen.add(name)
                    ran = self.store.get_job_run(view.run_id, name)
                    if ran is not None:
                        self._release(ran)
                        self._sink_ended(ran)
                        ahead.append(name)

    def _send_kept(self) -> None:
        """A dependent kept back to run here, sent after all (the invocation could not go on)."""
        kept, self._kept = self._kept, None
        if kept is not None:
            with contextlib.suppress(QueueError):
                self.queue.send([kept])

    def _handle(
        self, body: str, delivery: Delivery, remaining_s: Callable[[], float], message_id: str
    ) -> dict[str, Any]:
        try:
            message = JobMessage.parse(body)
        except InvalidRequest as exc:
            return self._poison(body, "malformed", str(exc), message_id)
        # The run's graph snapshot (read once per process and run) names its jobs, and gives a
        # dependent's first claim what its item holds: a job-run is written when it starts.
        graph = self.graphs.get(message.run_id)
        if graph is None:
            return self._poison(body, "unknown run", f"no run {message.run_id}", message_id)
        if message.job not in graph.nodes:
            detail = f"run {message.run_id} has no job '{message.job}'"
            return self._poison(body, "unknown job", detail, message_id)
        now = self.clock.now()
        if message.not_before is not None and message.not_before > now and not delivery.chained:
            # a chained attempt's retry: hidden until its backoff is over
            delivery.hide(self.queue, math.ceil(message.not_before - now))
            raise RetryLater(f"{message.job} waits out its backoff")
        crashpoint("executor.before_claim", job=message.job, run_id=message.run_id)
        self._chain_claiming = delivery.chained
        view = self.store.claim(
            message.run_id,
            message.job,
            message.generation,
            now,
            remaining_s() + LEASE_GRACE_S,
            queued_at=message.queued_at,
            graph=graph,
            continuation=message.continuation > 0,
            chain=delivery.root,
        )
        if view is None:
            return self._not_claimed(message, body, message_id, delivery, remaining_s)
        if delivery.chained:
            self._chain_lease = view.lease_expires_at
        if (view.attempts > 1 or view.continuations) and self._cancelling(view.run_id):
            # A retry, a re-claim after a crash or a continuation, in a run an operator
            # cancelled: do not start (a long job stops at its checkpoint).
            if self.store.finish(view, JobStatus.CANCELLED, now, 0.0, error=RUN_CANCELLED, graph=graph):
                self._announce(view, JobStatus.CANCELLED, now, 0.0, None, RUN_CANCELLED)
            self.releaser.ended(view.run_id, view.job, view.generation)
            self._close(view.run_id)
            return {"job": view.job, "status": JobStatus.CANCELLED.value}
        self.log.append_keys(
            run_id=view.run_id,
            schedule=view.schedule,
            job=view.job,
            attempt=view.attempts,
            generation=view.generation,  # a rerun starts its attempts at 1 again
        )
        if view.attempts == 1 and not view.continuations and view.enqueued_at is not None:
            waited = max(0.0, now - view.enqueued_at)
            self.telemetry.emit("QueueWait", waited, job=view.job)
            if view.depends_on:  # queued by the release of its last upstream, as it finished
                self.telemetry.emit("HandoffLatency", waited, job=view.job)
        try:
            crashpoint("executor.after_claim", job=view.job, run_id=view.run_id)
            return self._execute(view, message, delivery, remaining_s)
        finally:
            self.log.remove_keys(["run_id", "schedule", "job", "attempt", "generation"])

    # -- one attempt --------------------------------------------------------------------------

    def _execute(
        self, view: JobRunView, message: JobMessage, delivery: Delivery, remaining_s: Callable[[], float]
    ) -> dict[str, Any]:
        started = self.clock.now()
        if view.continuations:
            self.log.info(
                "job continues from its checkpoint", extra={"continuation": len(view.continuations)}
            )
        else:
            self.log.info("job started", extra={"max_attempts": view.max_attempts})

        def retry(delay: int, error: str) -> dict[str, Any]:
            if delivery.chained:  # it ran in its upstream's invocation: it has no message
                again = JobMessage(view.run_id, view.job, view.generation, lane=view.lane)
                self.queue.send([replace(again, not_before=self.clock.now() + delay)])
            else:
                delivery.hide(self.queue, delay)
            raise RetryLater(f"{view.job} attempt {view.attempts} failed: {error}")

        if kind_of(view.function) in HANDED_OFF:
            outcome = self._hand_off(view, started, delivery)
            if outcome is None:
                raise HandedOff(f"{view.job} attempt {view.attempts} runs on its {view.target} target")
            return self.record(view, outcome, started, self.clock.now(), retry)
        outcome = self._run(view, started, remaining_s)
        crashpoint("executor.after_job", job=view.job, run_id=view.run_id)
        return self.record(view, outcome, started, self.clock.now(), retry)

    def record(
        self,
        view: JobRunView,
        outcome: Outcome,
        started: float,
        finished: float,
        retry: Callable[[int, str], dict[str, Any]],
    ) -> dict[str, Any]:
        """Record an attempt's outcome: a continuation, a success (and release the dependents), a
        failure retried after its backoff (``retry(delay, error)`` makes the message come back),
        or a failure for good. The executor records the jobs it ran; ``cronlane.completion`` the
        handed-off ones, when their completion comes."""
        duration = round(finished - started, 3)
        cursor = None
        if outcome.ok and isinstance(outcome.result, Continuation):
            cursor, problem = stored_cursor(view, outcome.result)
            if problem is not None:
                outcome = Outcome(False, problem, handle=outcome.handle)
        # The near-timeout alarm measures each invocation, so a job that continues in time
        # never trips it.
        self.telemetry.emit("JobTimeoutFraction", duration / view.timeout_s, job=view.job)
        if outcome.ok and isinstance(outcome.result, Continuation) and cursor is not None:
            return self._continue(view, outcome.result, cursor, started, finished)
        result = None
        if outcome.ok:
            try:
                result = results.encode(view.job, outcome.result)
            except results.BadResult as exc:  # a failed attempt that says what was wrong
                outcome = Outcome(False, str(exc), handle=outcome.handle)
        entry: dict[str, Any] = {
            "attempt": view.attempts,
            "started_at": iso(started),
            "finished_at": iso(finished),
            "duration_s": duration,
            "error": outcome.error,
        }
        if kind_of(view.function) != PYTHON:  # where it ran, and its handle there
            entry["target"] = kind_of(view.function)
            entry["handle"] = outcome.handle
        # The job-run's duration is its work over every invocation: the continued ones too.
        duration = round(duration + sum(c.get("duration_s") or 0.0 for c in view.continuations), 3)
        self.telemetry.emit("JobDuration", duration, job=view.job)
        if outcome.ok:
            graph = self.graphs.get(view.run_id) if result is not None else None  # the result's expiry
            ended = self.store.finish(
                view, JobStatus.SUCCEEDED, finished, duration, history_entry=entry, graph=graph, result=result
            )
            if not ended:
                self.log.warning("job finished after losing its lease; the newer attempt decides")
                return {"job": view.job, "status": "superseded"}
            self.log.info("job succeeded", extra={"duration_s": entry["duration_s"]})
            self.telemetry.emit("JobsSucceeded", 1, job=view.job, target=view.target)
            crashpoint("executor.after_state_write", job=view.job, run_id=view.run_id)
            closing = self._release(view, unread=True, keep=self._keep) or self._sink_ended(view)
            # published after the release: the event is off the hand-off's path (a dependent
            # waits on its send, not on this), and before the run's own end
            self._announce(view, JobStatus.SUCCEEDED, finished, duration, entry)
            if closing:
                self._close(view.run_id)
            return {"job": view.job, "status": JobStatus.SUCCEEDED.value}
        error = truncate(outcome.error or "failed")
        if view.attempts < view.max_attempts and not self._cancelling(view.run_id):
            delay = backoff_seconds(view.attempts, self.rng)
            self.store.retry_later(view, error, entry)
            self.log.warning("job attempt failed; will retry", extra={"error": error, "retry_in_s": delay})
            self.telemetry.emit("JobsRetried", 1, job=view.job)
            return retry(delay, error)
        message = JobMessage(view.run_id, view.job, view.generation, lane=view.lane)
        return self._fail(view, message, message.body(), error, entry, finished, duration)

    def _hand_off(self, view: JobRunView, started: float, delivery: Delivery) -> Outcome | None:
        """Record the attempt as handed off, then start it on its target; None once it runs there
        (the message stays in flight as its timer: ``HandedOff``), else the failed outcome (a
        target that would not start it). The record comes first, so a crash at any point leaves
        an attempt its takeover can find and stop: a callback attempt's token is minted before
        it is sent, an ecs task's ARN is recorded in a second write once RunTask answers."""
        assert delivery.receipt is not None  # never chained (``chainable``): its message is its timer
        previous = view.hand_off
        if previous is not None and previous.attempt < view.attempts and not _ended(view, previous.attempt):
            # a lost attempt taken over: it must not go on beside the new one; the near-timeout
            # alarm sees how much of its timeout it used
            lost = previous.key(view.run_id, view.job, view.generation)
            self.targets.stop(view.function, previous.handle, "superseded by a new attempt", lost)
            self.telemetry.emit("TargetsLost", 1, target=view.target)
            used = (started - previous.started_at) / view.timeout_s
            self.telemetry.emit("JobTimeoutFraction", used, job=view.job)
        ctx = self._context(view, started, started + view.timeout_s)
        prepared = prepare(view.function, view.run_id, view.job, view.generation, view.attempts)
        hand_off = HandOff(
            target=view.target,
            handle=prepared.handle,
            attempt=view.attempts,
            started_at=started,
            deadline=started + view.timeout_s,
            queue_arn=delivery.queue_arn,
            receipt=delivery.receipt,
            heartbeat_s=heartbeat_of(view.function),
            token_hash=prepared.token_hash,
        )
        if not self.store.hand_off(view, hand_off):
            self.log.warning("job lost its lease before it started; the newer attempt decides")
            return None
        crashpoint("executor.before_start", job=view.job, run_id=view.run_id)
        try:
            begun = self.targets.start(view.function, ctx, view.generation, prepared)
        except TargetFailed as exc:
            return Outcome(False, str(exc), handle=prepared.handle or None)
        crashpoint("executor.after_start", job=view.job, run_id=view.run_id)
        if begun.handle != hand_off.handle:  # an ecs task's ARN, known now
            hand_off = replace(hand_off, handle=begun.handle)
            if not self.store.hand_off(view, hand_off):
                key = hand_off.key(view.run_id, view.job, view.generation)
                self.targets.stop(view.function, begun.handle, "its attempt lost its lease", key)
                self.log.warning("job started after losing its lease; the newer attempt decides")
                return None
        lease = hand_off.lease_until(started)
        self.log.info(
            "job handed off to its target",
            extra={"target": view.target, "handle": begun.handle, "holds_until": iso(lease)},
        )
        self.telemetry.emit("JobsHandedOff", 1, target=view.target)
        delivery.hide(self.queue, math.ceil(lease - started) + TIMER_SLACK_S)
        return None

    def _context(self, view: JobRunView, started: float, deadline: float) -> JobContext:
        return make_context(
            run_id=view.run_id,
            job=view.job,
            schedule=view.schedule,
            scheduled_time=view.scheduled_time,
            params=dict(view.params),
            attempt=view.attempts,
            clock=self.clock,
            deadline=deadline,
            log=self.log,
            cursor=view.checkpoint,
            continuation=len(view.continuations),
            dispatched_params=self._dispatched_params(view),
            upstream_results=results.UpstreamResults(
                lambda: self.store.upstream_results(view.run_id, view.depends_on) if view.depends_on else {}
            ),
        )

    def _dispatched_params(self, view: JobRunView) -> dict[str, Any] | None:
        """The parameters the run gave the job when it was dispatched (a rerun may change them)."""
        if view.generation == 0:
            return None  # its first life runs with them
        graph = self.graphs.get(view.run_id)
        node = graph.nodes.get(view.job) if graph is not None else None
        return dict(node.params) if node is not None else None

    def _continue(
        self, view: JobRunView, step: Continuation, cursor: str, started: float, finished: float
    ) -> dict[str, Any]:
        """Record the checkpoint and queue the same job again to continue from it. The message
        being handled is deleted when the handler returns, and FIFO holds the new one (same
        group) until then, so the next invocation starts only after this one is over."""
        number = len(view.continuations) + 1
        progress = None if step.progress is None else round(float(step.progress), 4)
        entry = {
            "continuation": number,
            "attempt": view.attempts,
            "started_at": iso(started),
            "finished_at": iso(finished),
            "duration_s": round(finished - started, 3),
            "progress": progress,
        }
        if not self.store.checkpoint(view, cursor, entry, finished):
            self.log.warning("job checkpointed after losing its lease; the newer attempt decides")
            return {"job": view.job, "status": "superseded"}
        self.log.info(
            "job checkpointed; it continues in a new invocation",
            extra={"continuation": number, "progress": progress, "duration_s": entry["duration_s"]},
        )
        self.telemetry.emit("JobsContinued", 1, job=view.job)
        crashpoint("executor.after_checkpoint", job=view.job, run_id=view.run_id)
        self.queue.send(
            [JobMessage(view.run_id, view.job, view.generation, continuation=number, lane=view.lane)]
        )
        return {"job": view.job, "status": "CONTINUED", "continuation": number}

    def _run(self, view: JobRunView, started: float, remaining_s: Callable[[], float]) -> Outcome:
        # The attempt ends at the job's timeout, or a little before the Lambda deadline so the
        # outcome can still be recorded, whichever comes first.
        deadline = min(started + view.timeout_s, started + max(remaining_s() - 10.0, 1.0))
        ctx = self._context(view, started, deadline)
        try:
            function = self.import_function(view.function)
            result = function(ctx)
        except JobTimeout as exc:
            return Outcome(False, f"JobTimeout: {exc}", handle=ctx.handle)
        except TargetFailed as exc:  # the target said it failed: its own words
            return Outcome(False, str(exc), handle=ctx.handle)
        except Exception as exc:  # the job's own failure, whatever it is, is an attempt failure
            tail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            return Outcome(False, tail, handle=ctx.handle)
        if self.clock.now() > deadline:
            timeout = f"JobTimeout: job '{view.job}' ran past its {view.timeout_s}s timeout"
            return Outcome(False, timeout, handle=ctx.handle)
        return Outcome(True, result=result, handle=ctx.handle)

    # -- after the state write ----------------------------------------------------------------

    def _cancelling(self, run_id: str) -> bool:
        """A cancelled run's running jobs finish, but a failed one is not retried."""
        run = self.store.get_run(run_id)
        return run is not None and run.cancel_requested_at is not None

    def _release(self, view: JobRunView, unread: bool = False, keep: Keep | None = None) -> bool:
        """Send the dependents that ``view``'s success made ready; True if one had already ended
        (the run may be closing: a sink was skipped or the run cancelled). ``unread``: right
        after the success's write, the dependents are sent without being read; a repeated
        release (a redelivery) reads them, so that one late repeat does not send again a whole
        graph below it that has already run. ``keep``: the one this invocation runs next."""
        ended, self._kept = self.releaser.release_keeping(view, self.clock.now(), unread, keep)
        crashpoint("executor.after_send", job=view.job, run_id=view.run_id)
        return ended

    # -- the terminal failure -----------------------------------------------------------------

    def _fail(
        self,
        view: JobRunView,
        message: JobMessage,
        body: str,
        error: str,
        entry: dict[str, Any],
        finished: float,
        duration: float,
    ) -> dict[str, Any]:
        """A job-run that failed for good, in this order: its message goes to the dead-letter
        queue with the error (first, so every FAILED job-run has its dead letter), it is FAILED
        (counted on the run), then what it blocks is skipped and the run closes if it is over.
        A crash after the state write is repaired by the redelivery, which finds it FAILED and
        does the rest (``_after_failure``)."""
        self.log.error("job failed after its last attempt", extra={"job": view.job, "error": error})
        self.telemetry.emit("JobsFailed", 1, job=view.job, target=view.target)
        self.queue.dead_letter(body, message.dedup_id(), error)
        graph = self.graphs.get(view.run_id)
        ended = self.store.finish(
            view, JobStatus.FAILED, finished, duration, error=error, history_entry=entry, graph=graph
        )
        crashpoint("executor.after_state_write", job=view.job, run_id=view.run_id)
        if ended:
            self._announce(view, JobStatus.FAILED, finished, duration, entry, error)
        self._after_failure(view.run_id, view.job, view.generation)
        return {"job": view.job, "status": JobStatus.FAILED.value}

    def _announce(
        self,
        view: JobRunView,
        status: JobStatus,
        finished: float,
        duration: float,
        entry: dict[str, Any] | None,
        error: str | None = None,
    ) -> None:
        """Publish the job-run's end (cronlane.run_events), as its write left it (``entry``: the
        attempt it added to the history, None when it ended without running)."""
        ended = replace(
            view,
            status=status,
            finished_at=finished,
            duration_s=duration,
            error=error,
            history=[*view.history, entry] if entry is not None else view.history,
        )
        self.closer.announcer.jobs_ended([ended])

    def _after_failure(self, run_id: str, failed_job: str, generation: int) -> None:
        """Skip what the failure blocks (``rules.failure_reach``), release the ``all_done`` jobs
        it made ready, and close the run if that was its last job (in a run with a width, the
        failed job and the skipped ones give back their places, or leave the waiting list)."""
        graph = self.graphs.get(run_id)
        if graph is not None and failed_job in graph.nodes:
            reach = failure_reach(graph.nodes, failed_job)
            skipped = []
            for name, cause in reach.skipped:
                reason = f"upstream {cause} failed"
                now = self.clock.now()
                if self.store.skip(graph, name, reason, now):
                    self.telemetry.emit("JobsSkipped", 1, job=name)
                    skipped.append(ended_view(graph, name, JobStatus.SKIPPED, now, reason=reason))
            self.closer.announcer.jobs_ended(skipped)
            # The failed job and the skipped ones are terminal now: read the rest and send.
            waiting = {name: Needs.of(graph.nodes[name]) for name in reach.all_done}
            ready = self.releaser.ready(run_id, failed_job, JobStatus.FAILED, waiting, self.clock.now())
            ended: dict[str, int | None] = {name: None for name, _ in reach.skipped}
            self.releaser.send(ready, run_id, ended={**ended, failed_job: generation})
        self._close(run_id)

    def _sink_ended(self, view: JobRunView) -> bool:
        """A succeeded sink is counted in its shard; True if it may have been the last."""
        if view.dependents:
            return False
        graph = self.graphs.get(view.run_id)
        return graph is not None and self.store.mark_sink(graph, view.job)

    def _close(self, run_id: str) -> None:
        status = self.closer.close_if_complete(run_id)
        if status is not None and status.terminal:
            self.log.info("run finished", extra={"run_id": run_id, "status": status.value})

    # -- messages that cannot be claimed ------------------------------------------------------

    def _not_claimed(
        self,
        message: JobMessage,
        body: str,
        message_id: str,
        delivery: Delivery,
        remaining_s: Callable[[], float],
    ) -> dict[str, Any]:
        view = self.store.get_job_run(message.run_id, message.job)
        if view is not None and view.status in (JobStatus.SKIPPED, JobStatus.CANCELLED):
            # it ended without running while its message was on the way: in a run with a width,
            # the place that message held goes to the next waiting job (cronlane.places)
            self.releaser.ended(view.run_id, view.job, view.generation)
        if view is not None and message.current and message.generation != view.generation:
            # sent unread by a release (its upstreams all succeeded), to a later generation
            if view.status in WAITING:  # it waits: this message starts it
                again = replace(message, generation=view.generation, current=False)
                return self._handle(again.body(), delivery, remaining_s, message_id)
            if view.status.terminal:  # it ended another way (marked, cancelled): the run may be over
                self._close(view.run_id)
        if view is not None and message.generation != view.generation:
            # A message of another life of this job-run (before a rerun or a replay): the job-run
            # it names is gone, and the current one has its own message.
            self.log.info(
                "message of another generation ignored",
                extra={"run_id": view.run_id, "job": view.job, "generation": message.generation},
            )
            return {"job": view.job, "status": "superseded"}
        if view is None:
            run = self.store.get_run(message.run_id)
            kind = "unknown job" if run is not None else "unknown run"
            detail = (
                f"run {message.run_id} has no job '{message.job}'"
                if run is not None
                else f"no run {message.run_id}"
            )
            return self._poison(body, kind, detail, message_id)
        if view.status is JobStatus.SUCCEEDED:
            # A redelivery after the state write: the job is not run again, but its releases are
            # repeated (and a sink counted) in case the executor that ran it died before.
            self._release(view)
            self._sink_ended(view)
            if not delivery.chained:
                self._repeat_chain(view)
            self._close(view.run_id)
        elif view.status is JobStatus.FAILED:
            self._after_failure(view.run_id, view.job, view.generation)
        elif view.status.terminal and message.current:
            # skipped or cancelled before its unread release came: the release did not see it
            # ended, so the run may be closing
            self._close(view.run_id)
        elif self._exhausted(view):
            return self._fail_exhausted(view, message, body)
        elif not delivery.chained and (until := _held_elsewhere(view, self.clock.now())) is not None:
            # a handed-off attempt's timer, back before its lease ended (the executor died before
            # it hid it, or a heartbeat's delay failed): it stays the timer, hidden until then
            delivery.hide(self.queue, math.ceil(until - self.clock.now()) + TIMER_SLACK_S)
            raise HandedOff(f"{view.job} attempt {view.attempts} still runs on its {view.target} target")
        self.log.info(
            "duplicate delivery ignored",
            extra={"run_id": view.run_id, "job": view.job, "status": view.status.value},
        )
        return {"job": view.job, "status": "duplicate"}

    def _exhausted(self, view: JobRunView) -> bool:
        """RUNNING with an expired lease and no attempt left: its last attempt's executor died."""
        expired = view.lease_expires_at is not None and view.lease_expires_at < self.clock.now()
        return view.status is JobStatus.RUNNING and expired and view.attempts >= view.max_attempts

    def _fail_exhausted(self, view: JobRunView, message: JobMessage, body: str) -> dict[str, Any]:
        now = self.clock.now()
        error = (
            f"attempt {view.attempts} of {view.max_attempts} never finished: its executor stopped "
            "(a crash, or the Lambda timeout)"
        )
        began = view.attempt_started_at or now
        entry: dict[str, Any] = {
            "attempt": view.attempts,
            "started_at": iso(began),
            "finished_at": iso(now),
            "duration_s": round(now - began, 3),
            "error": error,
        }
        hand_off = view.hand_off
        if hand_off is not None and hand_off.attempt == view.attempts:
            # its last attempt ran elsewhere and sent no news in time: stop it, say why
            key = hand_off.key(view.run_id, view.job, view.generation)
            self.targets.stop(view.function, hand_off.handle, "given up: no completion in time", key)
            self.telemetry.emit("TargetsLost", 1, target=view.target)
            self.telemetry.emit(
                "JobTimeoutFraction", (now - hand_off.started_at) / view.timeout_s, job=view.job
            )
            entry.update(error=hand_off.lost_error(now), target=hand_off.target, handle=hand_off.handle)
        return self._fail(view, message, body, entry["error"], entry, now, now - began)

    def _poison(self, body: str, kind: str, detail: str, message_id: str) -> dict[str, Any]:
        error = truncate(f"{kind}: {detail}")
        self.log.error("poison message moved to the dead-letter queue", extra={"error": error})
        dedup = hashlib.sha256(f"poison|{message_id}|{body}".encode()).hexdigest()
        self.queue.dead_letter(body, dedup, error)
        return {"status": "dead-lettered", "error": error}


def _held_elsewhere(view: JobRunView, now: float) -> float | None:
    """Until when a handed-off attempt holds the job-run, if it does now."""
    hand_off, lease = view.hand_off, view.lease_expires_at
    if view.status is not JobStatus.RUNNING or hand_off is None or hand_off.attempt != view.attempts:
        return None
    return lease if lease is not None and lease > now else None


def _ended(view: JobRunView, attempt: int) -> bool:
    """The attempt's history entry says when it finished: it ended, and was not lost (a lost
    attempt's entry, written by its takeover, has no end)."""
    return any(e.get("attempt") == attempt and e.get("finished_at") for e in view.history)


class NoTargets:
    """No ``ecs`` or ``callback`` targets here: starting one is a failed attempt that says so."""

    def start(self, spec: str, ctx: Any, generation: int, prepared: Any) -> Any:
        raise TargetFailed(f"no {kind_of(spec)} targets are wired into this executor")

    def stop(self, spec: str, handle: str, reason: str, attempt: Any) -> None:
        return None


def import_job_function(path: str) -> Callable[..., Any]:
    """``package.module.function`` -> the function."""
    module_name, _, attr = path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ImportError(f"job function '{path}': module '{module_name}' not found ({exc})") from exc
    try:
        return getattr(module, attr)  # type: ignore[no-any-return]
    except AttributeError:
        raise ImportError(f"job function '{path}': '{module_name}' has no '{attr}'") from None
