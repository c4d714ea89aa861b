"""Backfill: runs for past fire times, each keyed by its fire time, at most N at once."""

from __future__ import annotations

from typing import Any

import pytest

from cronlane.clock import iso
from cronlane.model import RunStatus, Trigger, scheduled_run_id
from cronlane_cli.local.session import store_of
from tests.conftest import START, refusal

pytestmark = pytest.mark.stack
HOUR = 3600.0
FROM, TO = START - 6 * HOUR, START - 1 * HOUR  # 20:00 to 01:00: six hourly-feed fire times


def backfill(runtime: Any, **fields: Any) -> dict[str, Any]:
    event = {"action": "backfill", "schedule": "hourly-feed", "from": iso(FROM), "to": iso(TO), **fields}
    invocation = runtime.invoke("DispatcherFunction", event)
    assert invocation.error is None and "error" not in invocation.response, invocation.response
    return dict(invocation.response)


def test_backfill_runs_each_past_fire_time_once_at_most_n_at_once(runtime: Any) -> None:
    expected = [scheduled_run_id("hourly-feed", FROM + h * HOUR) for h in range(6)]
    # a dry run lists the fire times and creates nothing
    dry = backfill(runtime, dry_run=True)
    assert dry["created"] == expected and dry["fire_times"] == [iso(FROM + h * HOUR) for h in range(6)]
    store = store_of(runtime)
    assert store.runs_of_schedule("hourly-feed") == []
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
        job = store.get_job_run(run_id, "feedPresortJob")
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
    event = {"action": "backfill", "schedule": "hourly-feed", "from": iso(FROM), "to": iso(TO), **fields}
    assert named in refusal(runtime.invoke("DispatcherFunction", event))
