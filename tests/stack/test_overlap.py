"""A tick that arrives while the previous run of its schedule is still active (the by-schedule
index lagging, as DynamoDB's may: what decides does not trust it)."""

from __future__ import annotations

from typing import Any

import pytest

from cronlane.local.session import store_of, wait_for_run
from cronlane.model import JobStatus, RunStatus, scheduled_run_id
from tests.conftest import START
from tests.stack.runs import INDEX_LAG_S, tick_while_hung

pytestmark = pytest.mark.stack


@pytest.fixture(autouse=True)
def lagging_index(runtime: Any) -> None:
    runtime.delay_index_visibility(INDEX_LAG_S)


def tick(runtime: Any, schedule: str, at: float) -> dict[str, Any]:
    invocation = runtime.invoke("DispatcherFunction", runtime.scheduled_event(schedule, at))
    assert invocation.error is None, invocation.error
    return dict(invocation.response)


def test_skip_records_the_overlapping_tick_as_a_skipped_run(runtime: Any) -> None:
    first = scheduled_run_id("nightly", START)
    store = store_of(runtime)
    tick(runtime, "nightly", START)
    runtime.run_until(lambda: store.get_job_run(first, "extract").status is JobStatus.RUNNING)
    # a tick a day later, while the first run still goes (as if it had hung)
    assert tick_while_hung(runtime, "nightly", START + 86400)["status"] == "SKIPPED"
    skipped = store.get_run(scheduled_run_id("nightly", START + 86400))
    assert skipped is not None and skipped.reason == f"previous run {first} still active"
    assert wait_for_run(runtime, first).run.status is RunStatus.SUCCEEDED


def test_buffer_one_starts_the_waiting_run_when_the_active_one_ends(runtime: Any) -> None:
    first, second, third = (scheduled_run_id("hourly", START + h * 3600) for h in range(3))
    store = store_of(runtime)
    tick(runtime, "hourly", START)
    runtime.run_until(lambda: store.get_job_run(first, "presort").status is JobStatus.RUNNING)
    assert tick_while_hung(runtime, "hourly", START + 3600)["status"] == "BUFFERED"
    assert tick_while_hung(runtime, "hourly", START + 7200)["status"] == "SKIPPED"  # a buffer of one
    assert store.get_run(third).reason == "a run of this schedule is already waiting"
    done = wait_for_run(runtime, first)
    later = wait_for_run(runtime, second)
    assert done.run.status is RunStatus.SUCCEEDED and later.run.status is RunStatus.SUCCEEDED
    assert min(j.started_at for j in later.jobs) >= done.run.finished_at
