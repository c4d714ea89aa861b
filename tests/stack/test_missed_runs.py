"""Missed fire times: noticed by the next tick, counted for the missed-schedule alarm, and
handled by the schedule's catch-up policy (hourly: latest; nightly: all within 3
days)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from cronlane.clock import iso
from cronlane.local.session import store_of
from cronlane.model import RunStatus, Trigger, scheduled_run_id
from tests.conftest import START, log_records
from tests.stack.runs import INDEX_LAG_S, emf_values, tick_while_hung

pytestmark = pytest.mark.stack
HOUR, DAY = 3600.0, 86_400.0


@pytest.fixture(autouse=True)
def lagging_index(runtime: Any) -> None:
    """The by-schedule index lags, as DynamoDB's may: no decision here may trust it."""
    runtime.delay_index_visibility(INDEX_LAG_S)


def tick(runtime: Any, schedule: str, at: float) -> None:
    runtime.run_to(at)
    invocation = runtime.invoke("DispatcherFunction", runtime.scheduled_event(schedule, at))
    assert invocation.error is None and "error" not in invocation.response, invocation.response


def missed_metrics(runtime: Any) -> list[float]:
    """The MissedRuns counts the dispatcher emitted (EMF, per schedule)."""
    records = log_records(runtime.log_dir)
    return [v for r in records if "schedule" in r for v in emf_values([r], "MissedRuns")]


def test_missed_hours_are_noticed_and_only_the_latest_is_caught_up(runtime: Any) -> None:
    # GIVEN hourly ran at 02:00, then no tick came until 08:00
    tick(runtime, "hourly", START)
    tick(runtime, "hourly", START + 6 * HOUR)
    runtime.drain()
    store = store_of(runtime)
    # THEN 03:00 to 06:00 were noticed as missed (07:00 may still be on its way: an hour's grace)
    runs = {r.run_id: r for r in store.runs_of_schedule("hourly", limit=20)}
    missed = [scheduled_run_id("hourly", START + h * HOUR) for h in range(1, 5)]
    assert missed_metrics(runtime) == [4.0]
    # the latest missed one ran as a catch-up, keyed by its own fire time; the others are SKIPPED
    latest = runs[missed[-1]]
    assert (latest.trigger, latest.status) == (Trigger.CATCH_UP.value, RunStatus.SUCCEEDED)
    for run_id in missed[:-1]:
        assert runs[run_id].status is RunStatus.SKIPPED
        assert runs[run_id].reason == "missed: no tick came (only the latest is caught up)"
    assert runs[scheduled_run_id("hourly", START + 6 * HOUR)].status is RunStatus.SUCCEEDED
    # a later tick does not count them again
    tick(runtime, "hourly", START + 7 * HOUR)
    runtime.drain()
    assert missed_metrics(runtime) == [4.0, 1.0]  # 07:00, now past its grace, was missed too


def test_missed_nights_are_all_caught_up_within_the_window_behind_the_active_run(runtime: Any) -> None:
    # GIVEN nightly ran on day 0, then no tick came until day 5
    tick(runtime, "nightly", START)
    runtime.drain()
    tick(runtime, "nightly", START + 5 * DAY)
    runtime.drain()
    store = store_of(runtime)
    runs = {r.run_id: r for r in store.runs_of_schedule("nightly", limit=20)}
    days = {d: scheduled_run_id("nightly", START + d * DAY) for d in range(6)}
    # THEN days 1-4 were missed; days 2-4 (within 3 days of the tick) ran as catch-ups, day 1 is
    # SKIPPED as outside the window; each catch-up started only after the run before it ended
    assert missed_metrics(runtime) == [4.0]
    assert runs[days[1]].status is RunStatus.SKIPPED
    assert runs[days[1]].reason == "missed: no tick came (outside the catch-up window)"
    caught = [runs[days[d]] for d in (2, 3, 4)]
    assert all(r.trigger == Trigger.CATCH_UP.value and r.status is RunStatus.SUCCEEDED for r in caught)
    ordered = sorted([runs[days[5]], *caught], key=lambda r: r.started_at or 0)
    assert [r.run_id for r in ordered] == [days[5], days[2], days[3], days[4]]
    for before, after in itertools.pairwise(ordered):
        assert before.finished_at is not None and after.started_at is not None
        assert after.started_at >= before.finished_at


def test_a_new_or_changed_schedule_has_nothing_missed_before_it(runtime: Any) -> None:
    # the first tick ever seen starts the watch: the fire times before it are not "missed"
    tick(runtime, "hourly", START + 10 * HOUR)
    runtime.drain()
    assert missed_metrics(runtime) == []
    assert len(store_of(runtime).runs_of_schedule("hourly")) == 1


def test_with_catch_up_none_missed_fire_times_are_recorded_and_a_backfill_runs_them(runtime: Any) -> None:
    # GIVEN morning (catch_up none, 08:00 Berlin = 07:00 UTC in winter) ran on
    # day 0, then no tick came until day 3
    first = START + 5 * HOUR  # 2026-11-28T07:00:00Z
    tick(runtime, "morning", first)
    tick(runtime, "morning", first + 3 * DAY)
    runtime.drain()
    store = store_of(runtime)
    missed = [scheduled_run_id("morning", first + d * DAY) for d in (1, 2)]
    # THEN days 1 and 2 are counted and recorded as SKIPPED, and nothing ran for them
    assert missed_metrics(runtime) == [2.0]
    for run_id in missed:
        run = store.get_run(run_id)
        assert run is not None and run.status is RunStatus.SKIPPED and run.job_count == 0
        assert run.reason == "missed: no tick came (catch_up is none)"
    # WHEN an operator backfills them THEN they run, keyed by their own fire times
    event = {
        "action": "backfill",
        "schedule": "morning",
        "from": iso(first + DAY),
        "to": iso(first + 2 * DAY),
    }
    assert runtime.invoke("DispatcherFunction", event).response["created"] == missed
    runtime.drain()
    assert all(store.get_run(r).status is RunStatus.SUCCEEDED for r in missed)


def test_a_changed_schedule_ignores_fire_times_before_the_change(runtime: Any) -> None:
    # GIVEN the watch remembers nightly under another definition, checked up to day 0
    store = store_of(runtime)
    assert store.advance_watch("nightly", "cron(0 3 * * ? *)|UTC", START, START) is None
    # WHEN the first tick of the new definition comes 5 days later
    tick(runtime, "nightly", START + 5 * DAY)
    runtime.drain()
    # THEN the fire times in between belong to the old definition: nothing is missed
    assert missed_metrics(runtime) == []
    assert [r.run_id for r in store.runs_of_schedule("nightly")] == [
        scheduled_run_id("nightly", START + 5 * DAY)
    ]


def test_catch_up_runs_have_no_deadline_and_a_tick_waits_behind_them_rather_than_being_skipped(
    runtime: Any,
) -> None:
    # GIVEN nightly ran on day 0 and its ticks of days 1 and 2 never came
    tick(runtime, "nightly", START)
    runtime.drain()
    tick(runtime, "nightly", START + 3 * DAY)
    store = store_of(runtime)
    caught = [scheduled_run_id("nightly", START + d * DAY) for d in (1, 2)]
    # THEN the catch-up runs carry no deadline: late by design, they do not trip the alarm
    assert all(store.get_run(r).deadline_at is None for r in caught)
    # WHEN a tick comes while only catch-up runs are active (overlap "skip")
    runtime.run_until(lambda: store.get_run(caught[0]).status is RunStatus.RUNNING)
    late_tick = tick_while_hung(runtime, "nightly", START + 4 * DAY)
    # THEN it waits behind them rather than being skipped, and everything runs oldest first
    assert late_tick["status"] == "BUFFERED", late_tick
    runtime.drain()
    runs = sorted(store.runs_of_schedule("nightly", limit=10), key=lambda r: r.started_at or 0)
    assert all(r.status is RunStatus.SUCCEEDED for r in runs)
    assert [r.run_id for r in runs] == [scheduled_run_id("nightly", START + d * DAY) for d in (0, 3, 1, 2, 4)]
    # the one run reported over its deadline is day 4's, which waited behind them; the
    # catch-up runs, hung for a day, never were
    records = log_records(runtime.log_dir)
    late = [r for r in records if "RunsOverDeadline" in r and r.get("schedule") == "nightly"]
    assert len(late) == 1
    day_four = store.get_run(scheduled_run_id("nightly", START + 4 * DAY))
    assert day_four.deadline_at is not None and day_four.finished_at > day_four.deadline_at
