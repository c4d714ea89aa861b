"""What the stuck-run tests share: a failed chain to act on, what ending an action that died
looks like, and the check that a run is over and its job-runs agree with it."""

from __future__ import annotations

from typing import Any

from cronlane.local.session import store_of, wait_for_run
from cronlane.model import JobStatus, RunStatus, RunView
from tests.conftest import act, log_records

HOUR = 3600.0
INDEX_LAG_S = 30.0  # much more than DynamoDB's usual lag: what is read from an index is stale


def failed_chain(rt: Any, key: str, jobs: list[str]) -> str:
    """A manual run of ``jobs`` in which ``check`` fails all 3 attempts; returns its id once it
    ended FAILED."""
    act(rt, action="trigger", jobs=jobs, idempotency_key=key, parameters={"check": {"fail_attempts": 3}})
    run_id = f"manual@{key}"
    assert wait_for_run(rt, run_id).run.status is RunStatus.FAILED
    rt.drain()
    return run_id


def consistent(rt: Any, run_id: str) -> RunView:
    """The run is over, and its jobs say the same as its status and counts."""
    store = store_of(rt)
    run = store.get_run(run_id)
    assert run is not None and run.status.terminal, run
    assert run.restart is None
    jobs = store.job_runs(run_id)
    assert all(j.status.terminal for j in jobs), [(j.job, j.status) for j in jobs]
    statuses = [j.status for j in jobs]
    counts = (
        statuses.count(JobStatus.SUCCEEDED),
        statuses.count(JobStatus.FAILED),
        statuses.count(JobStatus.SKIPPED),
        statuses.count(JobStatus.CANCELLED),
    )
    assert (run.succeeded, run.failed, run.skipped, run.cancelled) == counts
    if run.status is RunStatus.SUCCEEDED:
        assert counts[0] == len(jobs)
        assert all(j.finished_at is not None and j.finished_at <= (run.finished_at or 0) for j in jobs)
    return run


def dies_then(rt: Any, how: str, event: dict[str, Any]) -> None:
    """What ends an action that died: the operator repeats it, or nobody does and the run's
    watchdog fires (the clock runs on until the run is over)."""
    if how == "repeat":
        repeated = rt.invoke("DispatcherFunction", event)
        assert repeated.error is None and "error" not in repeated.response, repeated.response
    else:  # its watchdog, or whoever comes to close the run, finishes what it left
        wait_for_run(rt, event["run_id"], limit_s=2 * HOUR)
    rt.drain()


def emf_values(records: list[dict[str, Any]], name: str, **fields: str) -> list[float]:
    """The values of metric ``name`` in the EMF documents whose plain fields (``job``,
    ``schedule``) are ``fields``: one document holds a figure once, or a list when repeated."""
    found: list[float] = []
    for record in records:
        if "_aws" in record and name in record and all(record.get(k) == v for k, v in fields.items()):
            value = record[name]
            found += value if isinstance(value, list) else [value]
    return found


def metrics_of(rt: Any, schedule: str) -> dict[str, float]:
    """The run metrics (EMF) the functions emitted for ``schedule``."""
    totals: dict[str, float] = {"RunsSucceeded": 0, "RunsFailed": 0}
    for record in log_records(rt.log_dir):
        if "_aws" not in record or record.get("schedule") != schedule:
            continue
        for name in totals:
            value = record.get(name)
            if isinstance(value, int | float):
                totals[name] += value
            elif isinstance(value, list):
                totals[name] += sum(value)
    return totals


def tick_while_hung(rt: Any, schedule: str, at: float) -> dict[str, Any]:
    """The dispatcher's answer to the tick of ``at``, sent at its time, while the runs before it
    still go: no job message is taken from the queue until the tick is answered (as if the
    earlier runs' jobs hung), then the runtime goes on as before."""
    rt.mappings_enabled = False
    try:
        rt.run_to(at)
        invocation = rt.invoke("DispatcherFunction", rt.scheduled_event(schedule, at))
    finally:
        rt.mappings_enabled = True
    assert invocation.error is None, invocation.error
    return dict(invocation.response)
