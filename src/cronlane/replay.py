"""The dead-letter queue: what is on it, and putting it back (``dlq-list`` / ``dlq-replay``).

A replay of a dead-lettered job-run reopens its run, resets the job-run (a new generation, no
attempts) and the jobs it had skipped, and sends its message again; the run then carries on as if
the job had just been queued. Order of effects, and what a crash at each point leaves:

1. the dead letters are received and hidden for ``HIDE_S`` (nothing changed yet);
2. the job-runs are reset and the run reopened - a crash here leaves the job-run QUEUED under a
   newer generation than its dead letter, which becomes visible again; the next replay sees that
   and only sends the message (the claim keeps it to one execution);
3. the messages are sent;
4. only then are the dead letters deleted.

SQS has ``StartMessageMoveTask`` for a plain redrive, but it cannot reset the job-run, and moto
does not have it: receive, send, delete works on both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cronlane.clock import Clock, iso
from cronlane.errors import InvalidRequest
from cronlane.faults import crashpoint
from cronlane.graphs import RunGraphs
from cronlane.model import DeadLetter, JobMessage, JobRunView, JobStatus, RunStatus
from cronlane.operations import Operator
from cronlane.ports import JobQueue, RunStore
from cronlane.release import Releaser
from cronlane.rules import abandoned, skipped_below

HIDE_S = 300  # a pass hides what it received for the dispatcher's whole timeout


@dataclass
class Letter:
    """A dead letter with what its body names, and what became of it."""

    raw: DeadLetter
    message: JobMessage | None
    problem: str = ""  # why it cannot be replayed (poison: a malformed body, an unknown run/job)
    job_run: JobRunView | None = None
    outcome: str = ""

    def to_dict(self) -> dict[str, Any]:
        view = self.job_run
        return {
            "message_id": self.raw.message_id,
            "run_id": self.message.run_id if self.message else None,
            "job": self.message.job if self.message else None,
            "generation": self.message.generation if self.message else None,
            "status": view.status.value if view else None,
            "attempts": view.attempts if view else None,
            "max_attempts": view.max_attempts if view else None,
            "error": self.raw.error or (view.error if view else None) or "moved by the redrive policy",
            "dead_lettered_at": iso(self.raw.dead_lettered_at) if self.raw.dead_lettered_at else None,
            "receive_count": self.raw.receive_count,
            **({"problem": self.problem} if self.problem else {}),
            **({"outcome": self.outcome} if self.outcome else {}),
            **({"body": self.raw.body[:500]} if self.message is None else {}),
        }


class DeadLetters:
    """The dead-letter queue as an operator sees it; a replay is a restart of the job-runs by
    the ``Operator`` (the same reset as ``rerun``) followed by the deletion of the letters."""

    def __init__(
        self,
        store: RunStore,
        queue: JobQueue,
        clock: Clock,
        graphs: RunGraphs,
        releaser: Releaser,
        operator: Operator,
    ) -> None:
        self.store = store
        self.queue = queue
        self.clock = clock
        self.graphs = graphs
        self.releaser = releaser
        self.operator = operator

    def listing(self, limit: int) -> dict[str, Any]:
        raw = self.queue.peek_dead_letters(limit, HIDE_S)
        try:
            letters = self._read(raw)
        finally:
            self.queue.unhide(raw)
        return {"messages": [letter.to_dict() for letter in letters], "more": len(raw) >= limit}

    def replay(
        self, run_id: str | None, job: str | None, every: bool, dry_run: bool, limit: int
    ) -> dict[str, Any]:
        if not (run_id or job or every):
            raise InvalidRequest("say what to replay: a run ('run_id'), a job ('job'), or 'all'")
        raw = self.queue.peek_dead_letters(limit, HIDE_S)
        keep: list[DeadLetter] = []  # given back to the queue at the end, whatever happens
        try:
            letters = self._read(raw)
            chosen = [letter for letter in letters if every or _named(letter, run_id, job)]
            picked = {id(letter) for letter in chosen}
            keep = [letter.raw for letter in letters if id(letter) not in picked]
            by_run: dict[str, list[Letter]] = {}
            for letter in chosen:
                if letter.problem or letter.message is None:
                    letter.outcome = "left on the queue: " + (letter.problem or "not a job message")
                    keep.append(letter.raw)
                else:
                    by_run.setdefault(letter.message.run_id, []).append(letter)
            for letters_of_run in by_run.values():
                keep += self._replay_run(letters_of_run, dry_run)
        except BaseException:
            keep = raw  # nothing is deleted that was not replayed: give everything back
            raise
        finally:
            self.queue.unhide(keep)
        replayed = [c for c in chosen if c.outcome.startswith(("replayed", "would replay"))]
        return {
            "dry_run": dry_run,
            "replayed": len(replayed),
            "messages": [c.to_dict() for c in chosen],
            "more": len(raw) >= limit,
        }

    # -- details ------------------------------------------------------------------------------

    def _read(self, raw: list[DeadLetter]) -> list[Letter]:
        letters = []
        jobs_of: dict[str, dict[str, JobRunView] | None] = {}
        for item in raw:
            try:
                message = JobMessage.parse(item.body)
            except InvalidRequest as exc:
                letters.append(Letter(item, None, problem=f"malformed: {exc}"))
                continue
            if message.run_id not in jobs_of:
                run = self.store.get_run(message.run_id)
                jobs_of[message.run_id] = (
                    {j.job: j for j in self.store.job_runs(message.run_id)} if run is not None else None
                )
            jobs = jobs_of[message.run_id]
            if jobs is None:
                letters.append(
                    Letter(item, message, problem=f"no run {message.run_id} (expired, or never made)")
                )
            elif message.job not in jobs:
                letters.append(
                    Letter(item, message, problem=f"run {message.run_id} has no job '{message.job}'")
                )
            else:
                letters.append(Letter(item, message, job_run=jobs[message.job]))
        return letters

    def _replay_run(self, letters: list[Letter], dry_run: bool) -> list[DeadLetter]:
        """Replay one run's dead letters; returns the ones to give back to the queue."""
        first = letters[0].message
        assert first is not None
        # a restart left on the run by a request that died is carried out first
        run = self.operator.settled_run(first.run_id) if self.store.get_run(first.run_id) else None
        if run is None or run.status is RunStatus.CANCELLED or run.cancel_requested_at is not None:
            why = f"no run {first.run_id}" if run is None else "the run was cancelled (rerun it to go on)"
            for letter in letters:
                letter.outcome = f"left on the queue: {why}"
            return [letter.raw for letter in letters]
        jobs = {j.job: j for j in self.store.job_runs(run.run_id)}
        now = self.clock.now()
        restart: set[str] = set()
        resend: list[JobMessage] = []
        done: list[Letter] = []
        keep: list[DeadLetter] = []
        released: list[Letter] = []
        for letter in letters:
            message = letter.message
            assert message is not None
            view = jobs[message.job]
            letter.job_run = view
            waits_now = view.status in (JobStatus.PENDING, JobStatus.QUEUED)
            if message.current and waits_now and view.generation != message.generation:
                # sent unread by a release (cronlane.release): it stands for the job in whichever
                # generation waits, so it is read again as a release would, not taken for old
                released.append(letter)
            elif view.generation > message.generation or view.status is JobStatus.SUCCEEDED:
                # Replayed, rerun or marked since: this letter is out of date. A replay that died
                # before reopening the run or sending left the job QUEUED: finish those steps.
                if view.status is JobStatus.QUEUED:
                    resend.append(JobMessage(run.run_id, view.job, view.generation, lane=view.lane))
                letter.outcome = f"out of date (the job is {view.status.value} now): deleted"
                done.append(letter)
            elif view.status is JobStatus.FAILED or abandoned(view, now):
                restart.add(view.job)
                letter.outcome = "would replay" if dry_run else "replayed"
                done.append(letter)
            elif view.status is JobStatus.PENDING and view.generation == message.generation:
                released.append(letter)  # released, but never claimed before the redrive moved it
            else:
                letter.outcome = f"left on the queue: the job is {view.status.value}"
                keep.append(letter.raw)
        if released:
            # A dependent has no item until its first claim: its message was sent when its
            # upstreams were done, and no claim ever took it (throttling, an outage, crashes).
            # Read them again, as a release does, and send the ones still ready.
            needs = self.graphs.needs_of(
                run.run_id, [letter.job_run.job for letter in released if letter.job_run]
            )
            ready = self.releaser.ready(run.run_id, None, JobStatus.SUCCEEDED, needs, now).messages
            ready_jobs = {m.job for m in ready}
            for letter in released:
                if letter.job_run is not None and letter.job_run.job in ready_jobs:
                    letter.outcome = (
                        "would send it again" if dry_run else "sent again (released, never started)"
                    )
                    done.append(letter)
                else:
                    letter.outcome = "left on the queue: the job is PENDING (an upstream has not finished)"
                    keep.append(letter.raw)
            resend += [m for m in ready if m.job not in restart]
        # The jobs skipped below the replayed ones get their chance too, but not one that also
        # waits on another failed job (replaying that one later brings it back).
        below: set[str] = set()
        for job in restart:
            below |= skipped_below(jobs, job, (JobStatus.SKIPPED,))
        restart |= self.operator.can_run(run.run_id, jobs, restart | below, set())[0]
        if dry_run:
            return keep + [letter.raw for letter in done]
        if restart:
            self.operator.restart("replay", run, jobs, restart, {})
        if resend:
            self.operator.reopen_and_send(run.run_id, resend)
        crashpoint("dlq.after_send", run_id=run.run_id)
        for letter in done:  # only after the messages were sent
            self.queue.delete_dead_letter(letter.raw)
        return keep


def _named(letter: Letter, run_id: str | None, job: str | None) -> bool:
    message = letter.message
    return message is not None and run_id in (None, message.run_id) and job in (None, message.job)
