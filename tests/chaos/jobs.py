"""The chaos soak's job: commit a side effect keyed by the idempotency key, in a ledger the soak
checks afterwards.

The ledger is an SQLite file shared by every simulated Lambda environment (``CHAOS_LEDGER``):

- ``executions``: each execution of a job function, with its virtual start and end;
- ``effects``: each commit of a job's effect. The job looks for its key when it starts and commits
  when it ends, as many real jobs do; the check and the commit are not one transaction, so two
  executions of one job-run that overlapped would both commit, and show as a double;
- ``meta``: ``repaired`` is set by the soak once the permanent failures are "fixed";
- ``faults``: each fault a target job played (``tests.chaos.targets``), by kind.

Failures are decided by a hash of the seed, the key and how many times the key was executed
before, so a soak is repeatable and every execution is a fresh draw (an attempt after a replay
is not doomed to repeat the attempts that failed before it): ``CHAOS_TRANSIENT`` of executions
raise (and are retried); ``CHAOS_PERMANENT`` of job-runs fail every attempt until the soak
repairs them and replays them from the dead-letter queue.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from typing import Any

from cronlane import JobContext

SCHEMA = """
CREATE TABLE IF NOT EXISTS executions (
    id INTEGER PRIMARY KEY, key TEXT, run_id TEXT, job TEXT, attempt INTEGER,
    started REAL, ended REAL, outcome TEXT);
CREATE TABLE IF NOT EXISTS effects (key TEXT, execution INTEGER, committed_at REAL);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS faults (kind TEXT, key TEXT, attempt INTEGER);
CREATE INDEX IF NOT EXISTS effects_key ON effects (key);
"""


class TransientFailure(RuntimeError):
    pass


class PermanentFailure(RuntimeError):
    pass


def connect(path: str) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=60, isolation_level=None)  # autocommit: no lock is held
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(SCHEMA)
    return db


_db: sqlite3.Connection | None = None


def _ledger() -> sqlite3.Connection:
    global _db
    if _db is None:
        _db = connect(os.environ["CHAOS_LEDGER"])
    return _db


def fraction(*parts: Any) -> float:
    """A number in [0, 1) from the parts, the same in every process."""
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def permanently_broken(seed: str, key: str, rate: float) -> bool:
    return fraction(seed, key, "permanent") < rate


def effect(ctx: JobContext) -> dict[str, Any]:
    db = _ledger()
    seed = os.environ.get("CHAOS_SEED", "0")
    key = ctx.idempotency_key
    duration = 5 + 40 * fraction(seed, key, "duration")  # 5 to 45 s of virtual time
    started = ctx.clock.now()
    execution = db.execute(
        "INSERT INTO executions (key, run_id, job, attempt, started) VALUES (?, ?, ?, ?, ?)",
        (key, ctx.run_id, ctx.job, ctx.attempt, started),
    ).lastrowid
    outcome = "raised"
    try:
        repaired = db.execute("SELECT 1 FROM meta WHERE name = 'repaired'").fetchone() is not None
        if not repaired and permanently_broken(seed, key, float(os.environ.get("CHAOS_PERMANENT", "0"))):
            ctx.sleep(duration / 4)
            outcome = "permanent failure"
            raise PermanentFailure(f"{key}: broken until repaired")
        before = db.execute("SELECT COUNT(*) FROM executions WHERE key = ? AND id < ?", (key, execution))
        if fraction(seed, key, before.fetchone()[0], "transient") < float(
            os.environ.get("CHAOS_TRANSIENT", "0")
        ):
            ctx.sleep(duration / 4)
            outcome = "transient failure"
            raise TransientFailure(f"{key}: failed on attempt {ctx.attempt}")
        if db.execute("SELECT 1 FROM effects WHERE key = ?", (key,)).fetchone() is not None:
            outcome = "already committed"
            return {"effect": outcome}
        ctx.sleep(duration)
        db.execute(
            "INSERT INTO effects (key, execution, committed_at) VALUES (?, ?, ?)",
            (key, execution, ctx.clock.now()),
        )
        outcome = "committed"
        return {"effect": outcome}
    finally:
        db.execute(
            "UPDATE executions SET ended = ?, outcome = ? WHERE id = ?", (ctx.clock.now(), outcome, execution)
        )
