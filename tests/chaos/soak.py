"""The chaos soak: many runs on the local runtime's virtual clock while everything that can go
wrong does, then a check that nothing was lost, nothing was done twice and nothing is stuck.

    python -m tests.chaos.soak --runs 500                 (what ``make chaos`` runs)
    python -m tests.chaos.soak --profile aggressive       (``make chaos PROFILE=aggressive``)

Faults, spread over the soak:

- an environment killed at each crash point of the executor (before the claim, after the claim,
  after the job, after the state write, after a release, after the send), of the dispatcher
  (before and after the run is created, after the job-runs are written, after an enqueue batch)
  and of a run's close (before and after it);
- operator actions while runs go: a cancel of a going run, a rerun of a failed or cancelled
  one, each killed at one of the operator's crash points (after the restart is written, after a
  reset, after the send, after the restart is removed, after the cancel is recorded, after a
  job is cancelled) and then either repeated or left to the run's watchdog;
- duplicate SQS deliveries (the mapping does not delete a handled message);
- duplicate ticks (the same tick fired twice);
- transient DynamoDB and SQS errors (throttling, 5xx) on the functions' requests, some in bursts
  longer than the SDK's retries;
- job exceptions (retried with backoff);
- permanent job failures: every attempt fails until the soak "repairs" the jobs, then it replays
  the dead-letter queue (with the faults still on, and the replay itself killed after a reset,
  after the reopen and after the send) and the runs finish.

The checks, after draining: every tick has its run; every job-run that failed has its dead
letter (before the replay: read off the queue without receiving, which would hide letters);
every run and every job-run is terminal (and succeeded, once replayed and, for what the operator
cancelled, rerun); every succeeded job-run committed its effect exactly once and was not
executed again after its success was recorded; no two executions of one job-run overlapped; the
dead-letter queue ends empty. The replay goes on until the queue is empty, not until one listing
comes back empty. The rates line names what was injected per tick; the last line is
``chaos: runs=N jobs=N faults=N lost=N double=N stuck=N`` (jobs: job executions), with the
profile's name after ``chaos:`` when it is not the default.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
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
from cronlane.model import JobMessage, JobStatus, RunStatus, scheduled_run_id
from tests.chaos.jobs import connect
from tests.chaos.targets import chaos_app

ROOT = Path(__file__).resolve().parents[2]
START = 1795831200.0  # 2026-11-28T02:00:00Z
EXECUTOR_POINTS = [
    "executor.before_claim",
    "executor.after_claim",
    "executor.after_job",
    "executor.after_state_write",
    "executor.after_release",
    "executor.after_send",
    "places.after_write",  # a run with a width (the hourly's): its places written, nothing sent
    "executor.before_start",  # a handed-off attempt recorded, its target not started
    "executor.after_start",  # its target started, before an ecs task's ARN is recorded
    "completion.before_record",  # a worker's report or a task's end event, before it is recorded
    "completion.after_record",  # recorded, before its timer (the queue message) is deleted
]
DISPATCHER_POINTS = ["dispatcher.after_create", "dispatcher.after_job_runs", "dispatcher.after_enqueue_batch"]
# A tick's dispatch before its run, a run's close. (The soak's runs overlap freely, so none is
# buffered: the buffered start's points are test_crash_every_point's.)
START_POINTS = ["dispatcher.before_create", "closer.before_close", "closer.after_close"]
RESTART_POINTS = [
    "operator.after_intent",
    "operator.after_reset",
    "operator.after_send",
    "operator.after_restart",
]
CANCEL_POINTS = ["operator.after_cancel", "operator.after_cancel_job"]
REPLAY_POINTS = ["operator.after_reset", "operator.after_intent", "dlq.after_send"]


@dataclass(frozen=True)
class Profile:
    """How hard the soak hits: the rates of each fault."""

    runs: int = 500
    transient_jobs: float = 0.04  # of job executions that raise (and are retried)
    permanent_jobs: float = 0.01  # of job-runs that fail every attempt until repaired
    transient_requests: float = 0.0005  # of the functions' AWS requests answered with an error
    crash_every: int = 3  # ticks per injected crash
    duplicate_tick_every: int = 20
    duplicate_delivery_every: int = 5
    operator_every: int = 10  # ticks per operator action (a cancel or a rerun, killed part way)
    min_jobs: int = 10_000  # executions the soak must reach


PROFILES = {
    "default": Profile(),
    "aggressive": Profile(
        runs=150,
        transient_jobs=0.15,
        permanent_jobs=0.04,
        transient_requests=0.005,
        crash_every=1,
        duplicate_tick_every=4,
        duplicate_delivery_every=2,
        operator_every=2,
        min_jobs=3_000,
    ),
}


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
    chained: int = 0  # job-runs whose last attempt ran in an upstream's invocation
    operator_actions: int = 0
    ticks: int = 0  # the soak's own ticks (not their duplicates)
    requests: int = 0  # the functions' AWS requests
    wall_s: float = 0.0
    virtual_s: float = 0.0
    profile: str = "default"

    def line(self) -> str:
        name = "" if self.profile == "default" else f" {self.profile}"
        return (
            f"chaos:{name} runs={self.runs} jobs={self.executions} faults={sum(self.faults.values())} "
            f"lost={self.lost} double={self.double} stuck={self.stuck}"
        )

    def rates(self) -> str:
        """What was injected, as rates: per job execution, per tick, per request."""
        ticks = max(self.ticks, 1)
        crashes = sum(n for kind, n in self.faults.items() if kind.startswith("crash at "))
        errors = sum(n for kind, n in self.faults.items() if kind.endswith("transient error"))
        executions = max(self.executions, 1)
        return (
            f"rates: job transient failures {self.faults['job transient failure'] / executions:.1%} of "
            f"executions, job permanent failures {self.faults['job permanent failure'] / executions:.1%}; "
            f"crashes {crashes / ticks:.2f} per tick; duplicate deliveries "
            f"{self.faults['duplicate delivery'] / ticks:.2f} and duplicate ticks "
            f"{self.faults['duplicate tick'] / ticks:.2f} per tick; request errors "
            f"{errors / max(self.requests, 1):.2%} of {self.requests} requests; operator actions "
            f"{self.operator_actions / ticks:.2f} per tick"
        )

    def details(self) -> list[str]:
        lines = [
            f"{self.runs} runs, {self.job_runs} job-runs, {self.executions} job executions, "
            f"{self.replayed} job-runs replayed from the DLQ, {self.chained} run in an upstream's "
            "invocation; "
            f"{self.wall_s:.0f} s of wall time for {self.virtual_s / 3600:.1f} h of virtual time",
            "faults injected, by kind:",
        ]
        lines += [f"  {kind}: {count}" for kind, count in sorted(self.faults.items())]
        lines += [self.rates()]
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
    operator_every: int = 10,
    work_dir: Path | None = None,
    progress: bool = False,
    profile: str = "default",
    target_faults: float = 0.05,
) -> ChaosReport:
    """Fire ``runs`` ticks (plus duplicates), with faults, and check the outcome."""
    began = time.monotonic()
    work = work_dir or Path(tempfile.mkdtemp(prefix="cronlane-chaos-"))
    work.mkdir(parents=True, exist_ok=True)
    ledger_path = work / "ledger.sqlite"
    ledger_path.unlink(missing_ok=True)
    connect(str(ledger_path)).close()
    rng = random.Random(seed)
    report = ChaosReport(profile=profile)
    overrides = {
        "CHAOS_LEDGER": str(ledger_path),
        "CHAOS_SEED": str(seed),
        "CHAOS_TRANSIENT": str(transient_jobs),
        "CHAOS_PERMANENT": str(permanent_jobs),
        "POWERTOOLS_LOG_LEVEL": "WARNING",  # 10,000 jobs of INFO lines only cost time here
        "CHAOS_TARGET_FAULTS": str(target_faults),
    }
    # the tasks and the worker are processes of their own: they find the soak's modules, ledger
    # and faults in the environment they inherit
    os.environ.update({k: v for k, v in overrides.items() if k.startswith("CHAOS_")})
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    with local_runtime(
        chaos_app(work) / "template.yaml",
        catalog="tests.chaos.catalog",
        clock="virtual",
        start=START,
        executor_environments=environments,
        log_dir=work / "logs",
        env_overrides=overrides,
    ) as rt:
        errors = rt.transient_errors(transient_requests, seed=seed)
        requests = Counter[str]()
        rt.observe_requests(lambda record: requests.update(["all" if record["who"] != "runtime" else "own"]))
        ticks: list[tuple[str, float]] = []
        points = EXECUTOR_POINTS + DISPATCHER_POINTS + START_POINTS
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
            if n % operator_every == operator_every - 1:
                operator_action(rt, rng, ticks, report)
            if progress and n % 50 == 0:
                print(
                    f"  tick {n}/{runs} at +{(at - START) / 3600:.1f} h virtual", file=sys.stderr, flush=True
                )
        report.ticks = len(ticks)
        rt.drain()
        duplicate_task_events(rt, rng, report)
        check_dead_letters(rt, ticks, report)
        # The permanent failures are fixed; the operator replays the dead-letter queue, while
        # the faults go on and the replay itself is killed half way a few times, then reruns
        # what it cancelled (and anything a replay left failed).
        db = connect(str(ledger_path))
        db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES ('repaired', '1')")
        for point in REPLAY_POINTS:
            rt.inject(point)
        for _ in range(10):
            replay_all(rt, report)
            found = rerun_unfinished(rt, ticks, report)
            settle(rt, ticks)
            if not found and not dead_letters(rt):
                break
        rt.drain()
        report.virtual_s = rt.now() - START
        for fault in rt.fired_faults:
            kind = "duplicate delivery" if fault.point == "esm.skip_delete" else f"crash at {fault.point}"
            report.faults[kind] += 1
        report.faults.update(errors.counts)
        report.requests = requests["all"]
        check(rt, db, ticks, report)
        db.close()
    report.wall_s = time.monotonic() - began
    return report


def duplicate_task_events(rt: Any, rng: random.Random, report: ChaosReport) -> None:
    """EventBridge delivers a stopped task's event again, long after: each is late and ignored."""
    from cronlane.local.tasks import state_change_event

    stopped = [task for task in rt.tasks.values() if task.last_status == "STOPPED"]
    for task in rng.sample(stopped, min(len(stopped), max(1, len(stopped) // 10))):
        rt.send_event(state_change_event(task))
        report.faults["ecs end event delivered again (duplicate completion)"] += 1
    rt.drain()


def dead_letters(rt: Any) -> list[JobMessage]:
    """The letters on the dead-letter queue, read without receiving them."""
    letters = []
    for body in rt.queued_bodies(rt.stack.outputs["DeadLetterQueueUrl"]):
        try:
            letters.append(JobMessage.parse(body))
        except Exception:  # a poison body: the soak sends none, so the check counts it as left
            letters.append(JobMessage("?", body[:60]))
    return letters


def operator_action(rt: Any, rng: random.Random, ticks: list[tuple[str, float]], report: ChaosReport) -> None:
    """An operator acts on an earlier run: cancels it while it goes, or reruns it once it failed
    or was cancelled. The request is killed at one of the operator's crash points; the operator
    repeats it half the time, and otherwise leaves it to the run's watchdog."""
    store = store_of(rt)
    # a run that is going (one of the last few ticks') or one that failed or was cancelled
    candidates = []
    for schedule, at in ticks[-8:] + rng.sample(ticks, min(len(ticks), 8)):
        found = store.get_run(scheduled_run_id(schedule, at))
        if found is not None and found.status not in (RunStatus.SUCCEEDED, RunStatus.SKIPPED):
            candidates.append(found)
    if not candidates:
        return
    run = rng.choice(candidates)
    run_id = run.run_id
    if run.status.terminal:
        event, point = {"action": "rerun", "run_id": run_id}, rng.choice(RESTART_POINTS)
    else:
        event, point = {"action": "cancel", "run_id": run_id}, rng.choice(CANCEL_POINTS)
    report.operator_actions += 1
    report.faults[f"operator {event['action']}"] += 1
    rt.inject(point, run_id=run_id)
    first = rt.invoke("DispatcherFunction", event)
    if first.error is not None and rng.random() < 0.5:
        report.faults[f"operator {event['action']} repeated"] += 1
        rt.invoke("DispatcherFunction", event)


def replay_all(rt: Any, report: ChaosReport) -> None:
    """Replay the dead-letter queue until it is empty, or until a replay that ran whole changed
    nothing (the letters left wait for something else: a cancelled run's, for its rerun). A
    listing that comes back empty is not taken for an empty queue: its letters may only be
    hidden a while (a replay that was killed had received them)."""
    for _ in range(40):
        before = sorted(m.body() for m in dead_letters(rt))
        if not before:
            return
        invocation = rt.invoke("DispatcherFunction", {"action": "dlq-replay", "all": True, "limit": 1000})
        rt.drain()
        result = invocation.response
        if invocation.error is None and isinstance(result, dict) and "error" in result:
            report.problems.append(f"dlq-replay refused: {result}")
            return
        rt.run_to(rt.now() + 301)  # letters a killed replay had hidden show again
        if invocation.error is None and sorted(m.body() for m in dead_letters(rt)) == before:
            return


def settle(rt: Any, ticks: list[tuple[str, float]]) -> None:
    """Let the clock run on (two days at most) until no run is going: what only the runs'
    watchdog checks finish (a request left to them, a job whose message was lost) is finished
    when they fire, as it would be on AWS."""
    store = store_of(rt)
    schedules = sorted({s for s, _ in ticks})
    with contextlib.suppress(TimeoutError):  # the check that follows names what still goes
        rt.run_until(lambda: not any(store.active_runs(s) for s in schedules), limit_s=2 * 86_400)


def rerun_unfinished(rt: Any, ticks: list[tuple[str, float]], report: ChaosReport) -> bool:
    """The operator reruns each run that ended without succeeding (what it cancelled, what a
    failure ended before the repair); True if there was any."""
    store = store_of(rt)
    found = False
    for schedule, at in sorted(set(ticks)):
        run_id = scheduled_run_id(schedule, at)
        run = store.get_run(run_id)
        if run is not None and run.status in (RunStatus.CANCELLED, RunStatus.FAILED):
            found = True
            rt.invoke("DispatcherFunction", {"action": "rerun", "run_id": run_id})
    rt.drain()
    return found


def check_dead_letters(rt: Any, ticks: list[tuple[str, float]], report: ChaosReport) -> None:
    """Before the replay: every FAILED job-run has its dead letter (of its generation)."""
    store = store_of(rt)
    letters = {(m.run_id, m.job, m.generation) for m in dead_letters(rt)}
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
    for kind, count in db.execute("SELECT kind, COUNT(*) FROM faults GROUP BY kind"):
        report.faults[kind] = count
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
        jobs = store.job_runs(run_id)
        # A run an operator cancelled ends CANCELLED even when the cancel came too late to stop
        # any job (it died before it cancelled one, and they all ran): done, not stuck.
        too_late = run.status is RunStatus.CANCELLED and all(j.status is JobStatus.SUCCEEDED for j in jobs)
        if too_late:
            report.faults["cancel too late to stop a job"] += 1
        elif run.status is not RunStatus.SUCCEEDED:
            report.stuck += 1
            report.problems.append(f"run {run_id} ended {run.status.value}")
        for job in jobs:
            report.job_runs += 1
            if job.chain is not None:
                report.chained += 1
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
    for letter in dead_letters(rt):
        report.lost += 1
        report.problems.append(f"left on the dead-letter queue: {letter}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", choices=sorted(PROFILES), default="default")
    parser.add_argument("--runs", type=int, default=None, help="the profile's when not given")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--environments", type=int, default=6)
    parser.add_argument("--min-jobs", type=int, default=None, help="fail below this many executions")
    parser.add_argument("--work-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    chosen = PROFILES[args.profile]
    min_jobs = chosen.min_jobs if args.min_jobs is None else args.min_jobs
    report = soak(
        args.runs or chosen.runs,
        args.seed,
        args.environments,
        transient_jobs=chosen.transient_jobs,
        permanent_jobs=chosen.permanent_jobs,
        transient_requests=chosen.transient_requests,
        crash_every=chosen.crash_every,
        duplicate_tick_every=chosen.duplicate_tick_every,
        duplicate_delivery_every=chosen.duplicate_delivery_every,
        operator_every=chosen.operator_every,
        work_dir=args.work_dir,
        progress=True,
        profile=args.profile,
    )
    for line in report.details():
        print(line)
    if report.executions < min_jobs:
        print(f"chaos: {report.executions} job executions, fewer than --min-jobs {min_jobs}")
    print(report.line())
    ok = report.lost == report.double == report.stuck == 0 and report.executions >= min_jobs
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
