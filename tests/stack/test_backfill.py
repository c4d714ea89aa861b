"""Backfill: runs for past fire times, each keyed by its fire time, at most N at once."""

from __future__ import annotations

from typing import Any

import pytest

from cronlane.clock import iso
from cronlane.local.session import store_of
from cronlane.model import RunStatus, Trigger, scheduled_run_id
from tests.conftest import START, refusal
from tests.stack.runs import INDEX_LAG_S

pytestmark = pytest.mark.stack


@pytest.fixture(autouse=True)
def lagging_index(runtime: Any) -> None:
    """The by-schedule index lags, as DynamoDB's may: no decision here may trust it."""
    runtime.delay_index_visibility(INDEX_LAG_S)


HOUR = 3600.0
FROM, TO = START - 6 * HOUR, START - 1 * HOUR  # 20:00 to 01:00: six hourly fire times


def backfill(runtime: Any, **fields: Any) -> dict[str, Any]:
    event = {"action": "backfill", "schedule": "hourly", "from": iso(FROM), "to": iso(TO), **fields}
    invocation = runtime.invoke("DispatcherFunction", event)
    assert invocation.error is None and "error" not in invocation.response, invocation.response
    return dict(invocation.response)


def test_backfill_runs_each_past_fire_time_once_at_most_n_at_once(runtime: Any) -> None:
    expected = [scheduled_run_id("hourly", FROM + h * HOUR) for h in range(6)]
    # a dry run lists the fire times and creates nothing
    dry = backfill(runtime, dry_run=True)
    assert dry["created"] == expected and dry["fire_times"] == [iso(FROM + h * HOUR) for h in range(6)]
    store = store_of(runtime)
    assert store.runs_of_schedule("hourly") == []
    # WHEN the backfill runs with at most 2 at once
    result = backfill(runtime, max_active=2)
    assert result["created"] == expected and len(result["started"]) == 2
    runtime.drain()
    # THEN every fire time ran as its own run, its jobs saw that fire time, and at no moment were
    # more than 2 of them running
    runs = [store.get_run(run_id) for run_id in expected]
    assert all(r is not None and r.status is RunStatus.SUCCEEDED for r in runs)
    assert all(r.trigger == Trigger.BACKFILL.value for r in runs if r)
    assert [r.scheduled_time for r in runs if r] == [FROM + h * HOUR for h in range(6)]
    spans = sorted((r.started_at, r.finished_at) for r in runs if r and r.started_at and r.finished_at)
    for started, _ in spans:
        assert sum(1 for s, f in spans if s <= started < f) <= 2
    assert max(sum(1 for s, f in spans if s <= started < f) for started, _ in spans) == 2
    for run_id in expected:
        job = store.get_job_run(run_id, "presort")
        assert job is not None and job.scheduled_time == store.get_run(run_id).scheduled_time
    # and a second backfill of the same range creates nothing new
    again = backfill(runtime, max_active=2)
    assert again["created"] == [] and again["existing"] == expected


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"from": iso(TO), "to": iso(FROM)}, "before 'from'"),
        ({"to": iso(START + 86_400)}, "in the future"),
        ({"schedule": "weekly"}, "unknown schedule 'weekly'"),
        ({"max_active": 0}, "field 'max_active'"),
        ({"from": "2026-11-27T20:00:00"}, "timezone"),
    ],
)
def test_a_bad_backfill_is_named(runtime: Any, fields: dict[str, Any], named: str) -> None:
    event = {"action": "backfill", "schedule": "hourly", "from": iso(FROM), "to": iso(TO), **fields}
    assert named in refusal(runtime.invoke("DispatcherFunction", event))


def test_a_running_backfill_does_not_hold_off_the_live_tick(runtime: Any) -> None:
    # GIVEN a backfill of past nights of nightly (overlap "skip") is running
    event = {
        "action": "backfill",
        "schedule": "nightly",
        "from": iso(START - 3 * 86_400),
        "to": iso(START - 86_400),
    }
    started = runtime.invoke("DispatcherFunction", event).response["started"]
    assert len(started) == 1
    store = store_of(runtime)
    runtime.run_until(lambda: store.get_run(started[0]).status is RunStatus.RUNNING)
    # WHEN tonight's tick comes THEN it runs: backfill runs have their own slots
    tick = runtime.invoke("DispatcherFunction", runtime.scheduled_event("nightly", START))
    assert tick.response["status"] == "RUNNING", tick.response
    runtime.drain()
    runs = store.runs_of_schedule("nightly", limit=10)
    assert len(runs) == 4 and all(r.status is RunStatus.SUCCEEDED for r in runs)


def test_backfill_runs_a_fire_time_whose_tick_was_skipped(runtime: Any) -> None:
    # GIVEN hourly was paused for two ticks: they are SKIPPED runs of no jobs
    runtime.invoke("DispatcherFunction", {"action": "pause", "schedule": "hourly", "reason": "migration"})
    for at in (FROM, FROM + HOUR):
        runtime.invoke("DispatcherFunction", runtime.scheduled_event("hourly", at))
    store = store_of(runtime)
    skipped = [scheduled_run_id("hourly", FROM + h * HOUR) for h in range(2)]
    assert all(store.get_run(r).status is RunStatus.SKIPPED for r in skipped)
    runtime.invoke("DispatcherFunction", {"action": "resume", "schedule": "hourly"})
    # WHEN they are backfilled THEN the skipped records are replaced by real runs
    result = backfill(runtime, to=iso(FROM + HOUR))
    assert result["created"] == skipped
    runtime.drain()
    runs = [store.get_run(r) for r in skipped]
    assert all(r is not None and r.status is RunStatus.SUCCEEDED for r in runs)
    assert all(r is not None and r.trigger == Trigger.BACKFILL.value and r.job_count == 6 for r in runs)
    # and a run that did run is never replaced
    assert backfill(runtime, to=iso(FROM + HOUR))["created"] == []
