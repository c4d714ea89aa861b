"""The partition keys of a run's items, in one place (the key design is in docs/state.md).

A run's record and graph snapshot are under ``RUN#<run id>``. Its job-runs, their results and
its sink and join shards are there too for a run of at most ``SPREAD_FROM`` jobs; a larger run
spreads them over ``SPREAD`` keys, ``RUN#<run id>#<k>``, a job's by a hash of its name (a shard's
by its number), so that its jobs' writes are not all on one partition (DynamoDB serves a key
from one partition: at most 1,000 write units a second). A run's spread is chosen when it is
created and kept on its record and snapshot (``spread``; absent: 1)."""

from __future__ import annotations

import zlib

SPREAD_FROM = 200  # jobs a run may have and keep its items under one key
SPREAD = 10  # the keys a larger run's job-runs and shards spread over


def spread_of(jobs: int) -> int:
    return SPREAD if jobs > SPREAD_FROM else 1


def run_pk(run_id: str) -> str:
    return f"RUN#{run_id}"


def spread_pk(run_id: str, index: int, spread: int) -> str:
    return run_pk(run_id) if spread <= 1 else f"RUN#{run_id}#{index % spread}"


def job_pk(run_id: str, job: str, spread: int) -> str:
    """Where a job-run (and its results) is kept."""
    return spread_pk(run_id, zlib.crc32(job.encode()), spread)


def sink_pk(run_id: str, shard: int, spread: int) -> str:
    return spread_pk(run_id, shard, spread)


def join_pk(run_id: str, job: str, shard: int | None, spread: int) -> str:
    """Where a joined job's shard (None: its top set) is kept: its shards on keys of their own."""
    return spread_pk(run_id, zlib.crc32(job.encode()) + (shard + 1 if shard is not None else 0), spread)


def spread_pks(run_id: str, spread: int) -> list[str]:
    """Every key a run's job-runs may be under."""
    return [run_pk(run_id)] if spread <= 1 else [f"RUN#{run_id}#{k}" for k in range(spread)]
