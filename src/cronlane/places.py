"""A run's width (``Schedule(max_parallel=N)``): at most N of its jobs sent and not yet ended at
once. The ready jobs beyond that wait in the run, and whenever one of its jobs ends, the waiting
job with the longest path still ahead (``cronlane.priority``) takes the place it gave back: the
order SQS FIFO cannot give across message groups.

The run's places are one record (``RunRecords.places``): the jobs holding a place (sent, and not
yet seen to end) with their generation, the jobs waiting for one, and a version. Everyone that
sends a job of such a run (the start, a release, a run's check, an operator's action, a replay)
goes through ``Places.admit`` with what ended: it reads the record, frees the places of the jobs
that ended, adds the ready jobs, gives the free places to the highest-ranked waiting jobs, writes
the record if that changed it (conditionally on its version; a writer that lost reads again), and
only then sends what it placed. So:

- a job that holds a place and is sent again (a redelivery's release, a run's check resending a
  lost message) is sent again, and still counts once;
- a crash between the write and the send leaves placed jobs without a message: the record names
  the jobs its last write placed, and the next admit of the run sends them again (the repeated
  release of the dead sender's redelivered message is one; so is the run's check);
- an end frees the place of the generation that ended, or of an earlier one: a rerun's later
  generation keeps the place it took;
- a place a crash kept (an end whose admit never ran) is freed by the run's check, which frees
  every place whose job has ended; a waiting job that ended without running (skipped by a
  failure, cancelled by an operator) leaves the waiting list in the same admit as the end that
  caused it, and if a placed one is sent all the same, its claim's refusal frees its place.

Nothing here runs without ``max_parallel``: a run without it sends every ready job at once, in
rank order, as before, and has no record. The pure rule is ``admit``; ``Places`` does the
reading and writing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from cronlane.clock import Clock
from cronlane.errors import Conflict
from cronlane.faults import crashpoint
from cronlane.model import JobMessage, JobNode, JobRunView, JobStatus, PlaceEntry, PlacesRecord
from cronlane.ports import RunRecords

MAX_PARALLEL = 1_000  # a run's width at most (a run of more jobs at once needs no limit)
MAX_JOBS = 2_000  # a run with a width has at most this many jobs: its record stays one item
ATTEMPTS = 8  # conditional writes lost to other writers before the sender gives up (it retries)


Ended = Mapping[str, int | None]  # job -> the generation that ended (None: whichever it is in)


def _over(entry: PlaceEntry, job: str, ended: Ended) -> bool:
    """Did ``entry`` (a placed or waiting job) end? Its generation, or a later one, ended (a
    ``current`` entry stands for whichever generation waits)."""
    if job not in ended:
        return False
    generation = ended[job]
    return generation is None or entry.current or entry.generation <= generation


def admit(
    record: PlacesRecord,
    run_id: str,
    limit: int,
    nodes: Mapping[str, JobNode],
    ended: Ended,
    ready: Sequence[JobMessage],
    now: float,
) -> tuple[PlacesRecord, list[JobMessage]]:
    """The record after ``ended`` gave back their places (and left the waiting list) and
    ``ready`` asked for one, and the messages to send: those of ready jobs that hold a place
    already (sent again), those the last write placed (its sender may have died before sending
    them: a repeat within SQS's 5-minute window is dropped as a duplicate, a later one by the
    claim), then the highest-ranked waiting jobs while places are free (ties by name)."""
    placed = {job: w for job, w in record.placed.items() if not _over(w, job, ended)}
    waiting = {job: w for job, w in record.waiting.items() if not _over(w, job, ended)}
    again: dict[str, JobMessage] = {}
    for message in ready:
        if message.job in placed:
            again[message.job] = message
        elif message.job not in waiting or message.generation > waiting[message.job].generation:
            waiting[message.job] = PlaceEntry(message.generation, message.current)
    for job in sorted(record.fresh):
        if job in placed and job not in again:
            again[job] = _message(run_id, job, placed[job], nodes, now)
    free = max(limit - len(placed), 0)
    chosen = sorted(waiting, key=lambda job: (-_rank(nodes, job), job))[:free]
    sent = []
    for job in chosen:
        placed[job] = waiting.pop(job)
        sent.append(_message(run_id, job, placed[job], nodes, now))
    return PlacesRecord(placed, waiting, record.version, frozenset(chosen)), [*again.values(), *sent]


def shown(jobs: Sequence[JobRunView], record: PlacesRecord, limit: int) -> list[JobRunView]:
    """A run's job-runs as the operator's views show them (``cronlane run``, the run page): a job
    ready but waiting for a place is PENDING and says so, and one holding a place that has not
    started yet is QUEUED (its message is sent), whatever the graph snapshot alone would say."""
    waiting = f"waiting for a place: {len(record.placed)} of {limit} in use (max_parallel)"

    def one(job: JobRunView) -> JobRunView:
        if job.status in (JobStatus.PENDING, JobStatus.QUEUED) and job.job in record.waiting:
            return replace(job, status=JobStatus.PENDING, reason=waiting)
        if job.status is JobStatus.PENDING and _holds(record.placed.get(job.job), job.generation):
            return replace(job, status=JobStatus.QUEUED)
        return job

    return [one(job) for job in jobs]


def _holds(entry: PlaceEntry | None, generation: int) -> bool:
    return entry is not None and (entry.current or entry.generation == generation)


def _message(
    run_id: str, job: str, entry: PlaceEntry, nodes: Mapping[str, JobNode], now: float
) -> JobMessage:
    lane = nodes[job].lane if job in nodes else 0
    return JobMessage(run_id, job, entry.generation, queued_at=now, lane=lane, current=entry.current)


def _rank(nodes: Mapping[str, JobNode], job: str) -> float:
    node = nodes.get(job)
    return node.rank if node is not None else 0.0


class Places:
    """Reads and writes a run's places around ``admit`` (see the module's text)."""

    def __init__(self, store: RunRecords, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def admit(
        self,
        run_id: str,
        limit: int,
        nodes: Mapping[str, JobNode],
        expires_at: int,
        ended: Ended,
        ready: Sequence[JobMessage],
    ) -> list[JobMessage]:
        """The messages to send now, the record written first; raises ``Conflict`` if other
        writers won ``ATTEMPTS`` times in a row (the caller's message comes back and retries)."""
        for _ in range(ATTEMPTS):
            record = self.store.places(run_id)
            new, send = admit(record, run_id, limit, nodes, ended, ready, self.clock.now())
            if new.placed == record.placed and new.waiting == record.waiting:
                return send
            if self.store.put_places(run_id, new, expires_at):
                crashpoint("places.after_write", run_id=run_id)
                return send
        raise Conflict(f"run {run_id}: its places changed under {ATTEMPTS} writes in a row")
