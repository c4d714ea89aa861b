"""The chaos soak: many runs on the local runtime's virtual clock while everything that can go
wrong does, then a check that nothing was lost, nothing was done twice and nothing is stuck.

    python -m tests.chaos.soak --runs 500        (what ``make chaos`` runs)

Faults, spread over the soak:

- an environment killed at each crash point of the executor (before the claim, after the claim,
  after the job, after the state write, after a release, after the send) and of the dispatcher
  (after the run is created, after the job-runs are written, after an enqueue batch);
- duplicate SQS deliveries (the mapping does not delete a handled message);
- duplicate ticks (the same tick fired twice);
- transient DynamoDB and SQS errors (throttling, 5xx) on the functions' requests, some in bursts
  longer than the SDK's retries;
- job exceptions (retried with backoff);
- permanent job failures: every attempt fails until the soak "repairs" the jobs, then it replays
  the dead-letter queue (with the faults still on, and the replay itself killed after a reset,
  after the reopen and after the send) and the runs finish.

The checks, after draining: every tick has its run; every job-run that failed has its dead
letter (before the replay); every run and every job-run is terminal (and succeeded, once
replayed); every succeeded job-run committed its effect exactly once and was not executed again
after its success was recorded; no two executions of one job-run overlapped; the dead-letter
queue ends empty. The last line is
``chaos: runs=N jobs=N faults=N lost=N double=N stuck=N`` (jobs: job executions).
"""

from __future__ import annotations

import argparse
import itertools
import random
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cronlane.local.session import local_runtime, store_of
from cronlane.model import JobStatus, RunStatus, scheduled_run_id
from tests.chaos.jobs import connect

ROOT = Path(__file__).resolve().parents[2]
START = 1795831200.0  # 2026-11-28T02:00:00Z
EXECUTOR_POINTS = [
    "executor.before_claim",
    "executor.after_claim",
    "executor.after_job",
    "executor.after_state_write",
    "executor.after_release",
    "executor.after_send",
]
DISPATCHER_POINTS = ["dispatcher.after_create", "dispatcher.after_job_runs", "dispatcher.after_enqueue_batch"]


@dataclass
class ChaosReport:
    runs: int = 0
    job_runs: int = 0
    executions: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    lost: int = 0
    double: int = 0
    stuck: int = 0
    problems: list[str] = field(default_factory=list)
    replayed: int = 0
    wall_s: float = 0.0
    virtual_s: float = 0.0

    def line(self) -> str:
        return (
            f"chaos: runs={self.runs} jobs={self.executions} faults={sum(self.faults.values())} "
            f"lost={self.lost} double={self.double} stuck={self.stuck}"
        )

    def details(self) -> list[str]:
        lines = [
            f"{self.runs} runs, {self.job_runs} job-runs, {self.executions} job executions, "
            f"{self.replayed} job-runs replayed from the DLQ; "
            f"{self.wall_s:.0f} s of wall time for {self.virtual_s / 3600:.1f} h of virtual time",
            "faults injected, by kind:",
        ]
        lines += [f"  {kind}: {count}" for kind, count in sorted(self.faults.items())]
        lines += [f"problem: {p}" for p in self.problems[:50]]
        return lines


def soak(
    runs: int = 500,
    seed: int = 1,
    environments: int = 6,
    spacing_s: float = 1800.0,
    transient_jobs: float = 0.04,
    permanent_jobs: float = 0.01,
    transient_requests: float = 0.0005,
    crash_every: int = 3,
    duplicate_tick_every: int = 20,
    duplicate_delivery_every: int = 5,
    work_dir: Path | None = None,
    progress: bool = False,
) -> ChaosReport:
    """Fire ``runs`` ticks (plus duplicates), with faults, and check the outcome."""
    began = time.monotonic()
    work = work_dir or Path(tempfile.mkdtemp(prefix="cronlane-chaos-"))
    work.mkdir(parents=True, exist_ok=True)
    ledger_path = work / "ledger.sqlite"
    ledger_path.unlink(missing_ok=True)
    connect(str(ledger_path)).close()
    rng = random.Random(seed)
    report = ChaosReport()
    overrides = {
        "CHAOS_LEDGER": str(ledger_path),
        "CHAOS_SEED": str(seed),
        "CHAOS_TRANSIENT": str(transient_jobs),
        "CHAOS_PERMANENT": str(permanent_jobs),
        "POWERTOOLS_LOG_LEVEL": "WARNING",  # 10,000 jobs of INFO lines only cost time here
    }
    with local_runtime(
        ROOT / "tests" / "fixture_app" / "template.yaml",
        catalog="tests.chaos.catalog",
        clock="virtual",
        start=START,
        executor_environments=environments,
        log_dir=work / "logs",
        env_overrides=overrides,
    ) as rt:
        errors = rt.transient_errors(transient_requests, seed=seed)
        ticks: list[tuple[str, float]] = []
        points = EXECUTOR_POINTS + DISPATCHER_POINTS
        for n in range(runs):
            at = START + n * spacing_s
            rt.run_to(at)
            schedule = "hourly" if rng.random() < 0.1 else "nightly"
            ticks.append((schedule, at))
            rt.fire(schedule, at)
            if n % duplicate_tick_every == 1:  # EventBridge delivers a tick twice
                report.faults["duplicate tick"] += 1
                rt.fire(schedule, at)
            if n % crash_every == 0:
                rt.inject(points[(n // crash_every) % len(points)])
            if n % duplicate_delivery_every == 0:
                rt.inject("esm.skip_delete")
            if progress and n % 50 == 0:
                print(
                    f"  tick {n}/{runs} at +{(at - START) / 3600:.1f} h virtual", file=sys.stderr, flush=True
                )
        rt.drain()
        check_dead_letters(rt, ticks, report)
        # The permanent failures are fixed; the operator replays the dead-letter queue, while
        # the faults go on and the replay itself is killed half way a few times.
        db = connect(str(ledger_path))
        db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES ('repaired', '1')")
        for point in ("operator.after_reset", "operator.after_intent", "dlq.after_send"):
            rt.inject(point)
        for _ in range(30):
            invocation = rt.invoke("DispatcherFunction", {"action": "dlq-replay", "all": True, "limit": 1000})
            rt.drain()
            rt.run_to(rt.now() + 301)  # letters a killed replay had hidden show again
            result = invocation.response
            if invocation.error is not None or not isinstance(result, dict):
                continue  # killed (or throttled past the SDK's retries): the operator tries again
            if "error" in result:
                report.problems.append(f"dlq-replay refused: {result}")
                break
            if not result["messages"]:
                break
        rt.drain()
        report.virtual_s = rt.now() - START
        for fault in rt.fired_faults:
            kind = "duplicate delivery" if fault.point == "esm.skip_delete" else f"crash at {fault.point}"
            report.faults[kind] += 1
        report.faults.update(errors.counts)
        check(rt, db, ticks, report)
        db.close()
    report.wall_s = time.monotonic() - began
    return report


def check_dead_letters(rt: Any, ticks: list[tuple[str, float]], report: ChaosReport) -> None:
    """Before the replay: every FAILED job-run has its dead letter (of its generation)."""
    store = store_of(rt)
    listing = rt.invoke("DispatcherFunction", {"action": "dlq-list", "limit": 1000}).response
    letters = {(m["run_id"], m["job"], m["generation"]) for m in listing.get("messages", [])}
    for schedule, at in sorted(set(ticks)):
        run_id = scheduled_run_id(schedule, at)
        for job in store.job_runs(run_id) if store.get_run(run_id) else []:
            if job.status is JobStatus.FAILED and (run_id, job.job, job.generation) not in letters:
                report.lost += 1
                report.problems.append(f"{run_id}/{job.job} FAILED without its dead letter")


def check(rt: Any, db: sqlite3.Connection, ticks: list[tuple[str, float]], report: ChaosReport) -> None:
    store = store_of(rt)
    for outcome, count in db.execute(
        "SELECT outcome, COUNT(*) FROM executions "
        "WHERE outcome IN ('transient failure', 'permanent failure') GROUP BY outcome"
    ):
        report.faults[f"job {outcome}"] = count
    report.executions = db.execute("SELECT COUNT(*) FROM executions").fetchone()[0]
    effects = Counter(k for (k,) in db.execute("SELECT key FROM effects"))
    commits = dict(db.execute("SELECT key, MIN(committed_at) FROM effects GROUP BY key"))
    spans: dict[str, list[tuple[float, float]]] = {}
    for key, started, ended in db.execute("SELECT key, started, ended FROM executions ORDER BY started"):
        spans.setdefault(key, []).append((started, ended if ended is not None else started))
    for schedule, at in sorted(set(ticks)):
        run_id = scheduled_run_id(schedule, at)
        run = store.get_run(run_id)
        if run is None:
            report.lost += 1
            report.problems.append(f"tick {run_id} has no run")
            continue
        report.runs += 1
        if run.status is not RunStatus.SUCCEEDED:
            report.stuck += 1
            report.problems.append(f"run {run_id} ended {run.status.value}")
        for job in store.job_runs(run_id):
            report.job_runs += 1
            if job.generation > 0 and job.status is JobStatus.SUCCEEDED:
                report.replayed += 1  # it came back from the dead-letter queue (a replay, or its repair)
            key = f"{run_id}/{job.job}"
            if job.status is not JobStatus.SUCCEEDED:
                report.stuck += 1
                report.problems.append(f"{key} is {job.status.value} ({job.error or job.reason})")
            elif effects[key] == 0:
                report.lost += 1
                report.problems.append(f"{key} succeeded without committing its effect")
            if effects[key] > 1:
                report.double += effects[key] - 1
                report.problems.append(f"{key} committed its effect {effects[key]} times")
            if job.status is JobStatus.SUCCEEDED and job.finished_at is not None:
                # The job ran again after its success was recorded: the scheduler ran it twice.
                late = [start for start, _ in spans.get(key, []) if start > job.finished_at]
                if late:
                    report.double += len(late)
                    report.problems.append(f"{key} ran {len(late)} time(s) after it was recorded succeeded")
            if key in commits and job.status is JobStatus.SUCCEEDED and commits[key] > (job.finished_at or 0):
                report.problems.append(f"{key} committed its effect after it was recorded succeeded")
                report.double += 1
            runs_of_key = spans.get(key, [])
            for (_, end), (start, _) in itertools.pairwise(runs_of_key):
                if start < end:
                    report.double += 1
                    report.problems.append(f"{key}: two executions overlapped")
    for schedule in {s for s, _ in ticks}:  # the runs the missed-run check made included
        for run in store.runs_of_schedule(schedule, limit=100_000):
            if not run.status.terminal:
                report.stuck += 1
                report.problems.append(f"run {run.run_id} left {run.status.value}")
    left = rt.invoke("DispatcherFunction", {"action": "dlq-list"}).response
    for letter in left.get("messages", []) if isinstance(left, dict) else []:
        report.lost += 1
        report.problems.append(f"left on the dead-letter queue: {letter}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--environments", type=int, default=6)
    parser.add_argument("--min-jobs", type=int, default=0, help="fail unless at least this many executions")
    parser.add_argument("--work-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    report = soak(args.runs, args.seed, args.environments, work_dir=args.work_dir, progress=True)
    for line in report.details():
        print(line)
    print(report.line())
    if report.executions < args.min_jobs:
        print(f"chaos: {report.executions} job executions, fewer than --min-jobs {args.min_jobs}")
    ok = report.lost == report.double == report.stuck == 0 and report.executions >= args.min_jobs
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
