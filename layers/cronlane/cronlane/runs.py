"""Closing a run: shared by the executor (after a job's last state write) and the dispatcher
(a resumed dispatch whose jobs all finished while the run was still CREATING)."""

from __future__ import annotations

from cronlane.dal import RunStore
from cronlane.model import RunStatus, RunView


def final_status(run: RunView) -> RunStatus:
    return RunStatus.SUCCEEDED if run.failed == 0 and run.skipped == 0 else RunStatus.FAILED


def close_run(store: RunStore, run: RunView, now: float) -> RunStatus:
    """Close ``run`` if every job is terminal. Safe to call twice or concurrently: the status
    change is conditional, and whoever loses reads the winner's result."""
    if run.status.terminal or not run.complete:
        return run.status
    final = final_status(run)
    for expected in (RunStatus.RUNNING, RunStatus.CREATING):
        if store.set_run_status(run.run_id, expected, final, now):
            return final
    current = store.get_run(run.run_id)
    return current.status if current else final


def close_if_complete(store: RunStore, run_id: str, now: float) -> RunStatus | None:
    run = store.get_run(run_id)
    return None if run is None else close_run(store, run, now)
