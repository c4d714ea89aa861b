"""Start the embedded default in one call, and run one tick of a schedule to the end."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cronlane.clock import iso
from cronlane.cron import parse_expression
from cronlane.local.runtime import LocalRuntime, moto_endpoint, reset_moto
from cronlane.local.stack import REGION, TWIN_LOGS_TAG, create_stack, set_process_env
from cronlane.model import JobRunView, RunView, scheduled_run_id
from cronlane.project import App, find_app
from cronlane.store.dynamodb import DynamoRunStore


@contextmanager
def local_runtime(
    template: Path | App | None = None,
    *,
    catalog: str | None = None,
    clock: str = "virtual",
    time_scale: float = 1.0,
    start: float | None = None,
    executor_environments: int = 4,
    log_dir: Path | None = None,
    env_overrides: dict[str, str] | None = None,
    stack_name: str = "local",
    parameters: dict[str, str] | None = None,
    port: int = 0,
    also_on: tuple[str, ...] = (),
) -> Iterator[LocalRuntime]:
    """A fresh stack of the app's ``template.yaml`` on the process's moto server, and a runtime
    on it. ``template``: the app (or its template; default: the nearest ``template.yaml``), whose
    catalog module is ``catalog`` if given (the app-folder contract, ``cronlane.project``); the
    stack's ``CatalogModule`` is set to it, so the functions load the same catalog. The moto
    server listens on loopback (``port``; 0: any free one), and also on the addresses in
    ``also_on`` (``moto_endpoint``)."""
    app = template if isinstance(template, App) else find_app(template, catalog)
    app.activate()
    endpoint = moto_endpoint(port, also_on)
    reset_moto(endpoint)
    set_process_env(endpoint)
    logs = log_dir or Path(tempfile.mkdtemp(prefix="cronlane-logs-"))
    stack = create_stack(
        app.template,
        endpoint,
        stack_name,
        {"CatalogModule": app.catalog_module, **(parameters or {})},
        # where `cronlane logs --local` and `cronlane ui --local` find the functions' logs
        tags={TWIN_LOGS_TAG: str(logs.absolute())},
    )
    runtime = LocalRuntime(
        stack,
        clock=clock,
        time_scale=time_scale,
        start=start,
        executor_environments=executor_environments,
        log_dir=logs,
        env_overrides=env_overrides,
        source_dirs=(app.source,),
    )
    # a function that invokes another (the executor, a job's lambda target) is answered here
    runtime.serve_invokes()
    try:
        yield runtime
    finally:
        runtime.close()


def store_of(runtime: LocalRuntime) -> DynamoRunStore:
    return DynamoRunStore(runtime.stack.outputs["TableName"], REGION)


def latest_fire_time(expression: str, now: float, timezone: str | None = None) -> float:
    """The schedule's most recent fire time at or before ``now`` (in its time zone, if any)."""
    parsed = parse_expression(expression)
    latest = parsed.latest_at_or_before(now, timezone)
    if latest is None:
        raise ValueError(f"{expression} never fired before {iso(now)}")
    return latest


@dataclass
class RunReport:
    """A run and its job-runs, as ``cronlane run`` and ``local run`` report it (``results``: the
    jobs' results by name, ``cronlane.results``)."""

    run: RunView
    jobs: list[JobRunView]
    wall_seconds: float | None = None
    results: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def read(cls, store: Any, run: RunView, roots_sent: bool = False) -> RunReport:
        """The run's report from its store: its job-runs, then the results they recorded."""
        jobs = store.job_runs(run.run_id, roots_sent=roots_sent, places=True)
        return cls(run, jobs, results=store.results(run.run_id, jobs))

    def to_json(self) -> dict[str, Any]:
        order = {name: i for i, name in enumerate(sorted(j.job for j in self.jobs))}
        jobs = sorted(self.jobs, key=lambda j: (j.started_at or float("inf"), order[j.job]))
        return {
            "run_id": self.run.run_id,
            "schedule": self.run.schedule,
            "status": self.run.status.value,
            "jobs": [
                {
                    "name": j.job,
                    "depends_on": list(j.depends_on),
                    "status": j.status.value,
                    "attempts": j.attempts,
                    "started_at": iso(j.started_at) if j.started_at else None,
                    "finished_at": iso(j.finished_at) if j.finished_at else None,
                    # the invocations that ended at a checkpoint (a job longer than one)
                    "continuations": j.continuations,
                    "duration_s": j.duration_s,
                    "error": j.error,
                    "reason": j.reason,
                    "result": self.results.get(j.job),
                    "target": j.target,
                    "handle": j.handle,
                }
                for j in jobs
            ],
        }

    @property
    def makespan_s(self) -> float:
        starts = [j.started_at for j in self.jobs if j.started_at]
        ends = [j.finished_at for j in self.jobs if j.finished_at]
        return (max(ends) - min(starts)) if starts and ends else 0.0


LOOK_EVERY_S = 0.1  # on a real clock, how often wait_for_run reads the run (seconds of real time)


def wait_for_run(runtime: LocalRuntime, run_id: str, limit_s: float = 7 * 86_400) -> RunReport:
    store = store_of(runtime)
    looked = [float("-inf")]

    def finished() -> bool:
        # Each look is a request to the local moto server, which serves one at a time: on a real
        # clock, one made while a function runs (a job handing off to the next) would be served
        # before the function's own, so while one runs the run is read at most every
        # LOOK_EVERY_S (the runtime looks again within a quarter of a second of its last event);
        # once none runs, at once. On a virtual clock time cannot move while the runtime looks,
        # and it looks each time it would.
        if not runtime.clock.virtual and runtime.invoking():
            now = time.monotonic()
            if now - looked[0] < LOOK_EVERY_S:
                return False
            looked[0] = now
        run = store.get_run(run_id)
        return run is not None and run.status.terminal

    runtime.run_until(finished, limit_s=limit_s)
    run = store.get_run(run_id)
    assert run is not None
    return RunReport.read(store, run)


def run_schedule_once(runtime: LocalRuntime, schedule: str, scheduled_time: float) -> RunReport:
    """Fire one tick of ``schedule`` and drive the runtime until its run is terminal."""
    runtime.fire(schedule, scheduled_time)
    return wait_for_run(runtime, scheduled_run_id(schedule, scheduled_time))


@dataclass
class SimulationReport:
    """What ``cronlane local simulate`` measured, in the names of its ``--json``."""

    days: float
    start: float
    fires: dict[str, int]
    runs: dict[str, int]
    job_executions: int
    retries: int
    continuations: int
    lambda_invocations: dict[str, int]
    idle_wakeups: int
    wall_seconds: float
    watchdog_checks: int = 0  # runs' one-time checks that fired (a run not over in time)
    watchdog_idle: int = 0  # of those, the ones that found nothing to do

    def to_json(self) -> dict[str, Any]:
        return {
            "days": self.days,
            "start": iso(self.start),
            "fires": self.fires,
            "runs": self.runs,
            "job_executions": self.job_executions,
            "retries": self.retries,
            "continuations": self.continuations,
            "lambda_invocations": self.lambda_invocations,
            "idle_wakeups": self.idle_wakeups,
            "watchdog_checks": self.watchdog_checks,
            "watchdog_idle": self.watchdog_idle,
            "wall_seconds": round(self.wall_seconds, 1),
        }


def simulate(runtime: LocalRuntime, days: float, start: float, schedules: list[str]) -> SimulationReport:
    """Fire every rule at its fire times in [start, start + days) on the runtime's (virtual) clock,
    drain, and count what happened."""
    import time as _time
    from collections import Counter

    wall = _time.perf_counter()
    end = start + days * 86_400
    runtime.start_ticking(after=start - 0.001)  # a fire time at ``start`` itself fires
    runtime.run_to(end - 0.001)
    runtime.stop_ticking()
    runtime.drain()
    store = store_of(runtime)
    fires = Counter(schedule for schedule, _ in runtime.fires)
    runs: Counter[str] = Counter()
    executions = retries = continuations = 0
    for schedule in schedules:
        for run in store.runs_of_schedule(schedule, limit=100_000):
            runs[run.status.value] += 1
            for job in store.job_runs(run.run_id):
                executions += job.attempts
                retries += max(job.attempts - 1, 0)
                continuations += len(job.continuations)
    invocations = Counter(i.function for i in runtime.invocations)
    return SimulationReport(
        days=days,
        start=start,
        fires={s: fires.get(s, 0) for s in schedules},
        runs=dict(sorted(runs.items())),
        job_executions=executions,
        retries=retries,
        continuations=continuations,
        lambda_invocations=dict(sorted(invocations.items())),
        idle_wakeups=idle_wakeups(runtime),
        wall_seconds=_time.perf_counter() - wall,
        watchdog_checks=len(runtime.check_fires),
        watchdog_idle=len(idle_checks(runtime)),
    )


def idle_checks(runtime: LocalRuntime) -> list[Any]:
    """The runs' checks (``{"action": "watchdog"}`` invocations) that found nothing to do."""
    return [
        i
        for i in runtime.invocations
        if i.event.get("action") == "watchdog"
        and isinstance(i.response, dict)
        and not i.response.get("found")
    ]


def idle_wakeups(runtime: LocalRuntime) -> int:
    """Invocations that found nothing to do: an executor invocation with no record, or whose
    records were all deliveries of work already done (no job started, finished or moved on), and
    a run's check that found nothing (``idle_checks``)."""
    import json as _json

    busy: set[str] = set()
    for path in runtime.log_dir.glob("ExecutorFunction-*.log"):
        for line in path.read_text().splitlines():
            if not line.startswith("{"):
                continue
            try:
                record = _json.loads(line)
            except ValueError:
                continue
            if record.get("message") not in (
                "duplicate delivery ignored",
                "message of another generation ignored",
            ):
                busy.add(str(record.get("function_request_id")))
    executor = [i for i in runtime.invocations if i.function == "ExecutorFunction"]
    idle = sum(1 for i in executor if not i.event.get("Records") or i.request_id not in busy)
    return idle + len(idle_checks(runtime))
