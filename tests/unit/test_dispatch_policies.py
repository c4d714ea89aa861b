"""A schedule's policies, as a user sees them: what a tick does while earlier runs are active
(``overlap``), what becomes of fire times no tick came for (``catch_up``), backfills of past fire
times, and which waiting run starts when a run ends.

First the pure decisions (``cronlane.policies``), then the real dispatcher and executor in one
process (``cronlane.inprocess``) on the in-memory store and queue and a virtual clock: no moto,
no network, no sleeping. The jobs simulate their work on that clock; a job longer than one
invocation (at most 890 s of work each) checkpoints every 10 minutes and continues, so a run's
three chained jobs can take longer than the schedule's period.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import pytest

from cronlane import Catalog, Job, Schedule, Selection
from cronlane.clock import iso
from cronlane.cron import parse_expression
from cronlane.dispatch import MISSED_GRACE_S
from cronlane.inprocess import InProcess
from cronlane.model import CatchUp, Overlap, RunStatus, RunView, Trigger, scheduled_run_id
from cronlane.policies import TickPlan, catch_up, on_tick, tick_problem
from cronlane.simulated import long_params

T0 = 1795831200.0  # 2026-11-28T02:00:00Z: a fire time of both expressions below
MINUTE = 60.0
HOUR = 3_600.0
DAY = 86_400.0
HOURLY = "cron(0 * * * ? *)"
DAILY = "cron(0 2 * * ? *)"
SCHEDULE = "etl"
JOBS = ("extract", "transform", "load")
STEP_S = 600.0  # one step of simulated work per invocation: a job checkpoints every 10 minutes

MISSED_NONE = "missed: no tick came (catch_up is none)"
MISSED_NOT_LATEST = "missed: no tick came (only the latest is caught up)"
MISSED_OUTSIDE_WINDOW = "missed: no tick came (outside the catch-up window)"
ALREADY_WAITING = "a run of this schedule is already waiting"


# -- helpers ----------------------------------------------------------------------------------


def hourly(n: float) -> float:
    """The n-th hourly fire time after T0 (02:00 + n hours)."""
    return T0 + n * HOUR


def daily(n: float) -> float:
    """The n-th daily fire time after T0 (02:00 on the n-th day; negative: before)."""
    return T0 + n * DAY


def run_id(when: float) -> str:
    return scheduled_run_id(SCHEDULE, when)


def catalog(
    *,
    overlap: str = "skip",
    catch_up: str = "none",
    window_s: int = 86_400,
    expression: str = HOURLY,
    run_minutes: float = 90,
) -> Catalog:
    """One schedule running extract -> transform -> load, a run taking ``run_minutes`` of clock."""
    per_job = run_minutes * MINUTE / len(JOBS)
    jobs = [
        Job(
            name,
            "cronlane.simulated.simulate_in_steps",
            "etl",
            depends_on=(JOBS[i - 1],) if i else (),
            timeout_s=900,
            params=long_params(per_job, STEP_S),
            max_continuations=100,
        )
        for i, name in enumerate(JOBS)
    ]
    schedule = Schedule(
        SCHEDULE,
        expression,
        Selection.of_groups("etl"),
        overlap=overlap,
        catch_up=catch_up,
        catch_up_window_s=window_s,
    )
    return Catalog.build(jobs, [schedule])


def run_of(app: InProcess, when: float) -> RunView:
    found = app.store.get_run(run_id(when))
    assert found is not None, f"no run {run_id(when)}"
    return found


def backfill(app: InProcess, start: float, end: float, **fields: Any) -> dict[str, Any]:
    return app.act(action="backfill", schedule=SCHEDULE, **{"from": iso(start), "to": iso(end)}, **fields)


def most_at_once(runs: list[RunView]) -> int:
    """The largest number of ``runs`` active (started, not finished) at one clock time."""
    spans = []
    for run in runs:
        assert run.started_at is not None and run.finished_at is not None, run.run_id
        spans.append((run.started_at, run.finished_at))
    return max(sum(1 for s, f in spans if s <= t < f) for t, _ in spans)


def assert_one_after_another(runs: list[RunView]) -> None:
    """Each run started no earlier than the previous one finished."""
    for before, after in pairwise(runs):
        assert before.finished_at is not None and after.started_at is not None
        assert after.started_at >= before.finished_at, (before.run_id, after.run_id)


def jobs_succeeded(app: InProcess, run: RunView) -> bool:
    jobs = app.store.job_runs(run.run_id)
    return sorted(j.job for j in jobs) == sorted(JOBS) and all(j.status.value == "SUCCEEDED" for j in jobs)


# -- on_tick: the pure decision -----------------------------------------------------------------


def view(when: float, status: RunStatus, trigger: Trigger = Trigger.SCHEDULE, job_count: int = 3) -> RunView:
    return RunView(run_id(when), SCHEDULE, when, trigger, status, job_count)


TICK = run_id(hourly(3))


@pytest.mark.parametrize("overlap", list(Overlap))
def test_a_tick_with_no_active_run_starts_at_once(overlap: Overlap) -> None:
    # GIVEN earlier runs that all ended, and the tick's own run (a second delivery of it)
    recent = [
        view(hourly(3), RunStatus.CREATING),
        view(hourly(2), RunStatus.SKIPPED, job_count=0),
        view(hourly(1), RunStatus.FAILED),
        view(hourly(0), RunStatus.SUCCEEDED),
    ]
    # WHEN the tick is decided THEN it starts
    assert on_tick(overlap, recent, TICK) == TickPlan(RunStatus.CREATING)
    assert on_tick(overlap, [], TICK) == TickPlan(RunStatus.CREATING)


@pytest.mark.parametrize("live", [RunStatus.RUNNING, RunStatus.CREATING])
def test_skip_records_a_tick_as_skipped_while_a_live_run_is_active(live: RunStatus) -> None:
    # GIVEN the previous tick's run still going (and an older catch-up run going too)
    recent = [view(hourly(2), live), view(hourly(1), RunStatus.RUNNING, Trigger.CATCH_UP)]
    # WHEN a tick comes THEN it is skipped, naming the live run
    plan = on_tick(Overlap.SKIP, recent, TICK)
    assert plan == TickPlan(RunStatus.SKIPPED, skipped="previous run etl@2026-11-28T04:00:00Z still active")


def test_skip_waits_buffered_behind_runs_that_only_catch_up() -> None:
    # GIVEN only a catch-up run going (and another one waiting)
    recent = [
        view(hourly(2), RunStatus.BUFFERED, Trigger.CATCH_UP),
        view(hourly(1), RunStatus.RUNNING, Trigger.CATCH_UP),
        view(hourly(0), RunStatus.SUCCEEDED),
    ]
    # WHEN a tick comes THEN it waits behind the catch-up run instead of being skipped
    plan = on_tick(Overlap.SKIP, recent, TICK)
    assert plan == TickPlan(RunStatus.BUFFERED, waits_for="etl@2026-11-28T03:00:00Z")


def test_buffer_one_makes_a_tick_wait_behind_the_active_run() -> None:
    # GIVEN the previous run going and nothing waiting
    recent = [view(hourly(2), RunStatus.RUNNING), view(hourly(1), RunStatus.SUCCEEDED)]
    # WHEN a tick comes THEN it waits for that run
    plan = on_tick(Overlap.BUFFER_ONE, recent, TICK)
    assert plan == TickPlan(RunStatus.BUFFERED, waits_for="etl@2026-11-28T04:00:00Z")


def test_buffer_one_skips_a_tick_when_a_tick_already_waits() -> None:
    # GIVEN a run going and a tick already waiting behind it
    recent = [view(hourly(2), RunStatus.BUFFERED), view(hourly(1), RunStatus.RUNNING)]
    # WHEN a further tick comes THEN it is skipped with the reason
    plan = on_tick(Overlap.BUFFER_ONE, recent, TICK)
    assert plan == TickPlan(RunStatus.SKIPPED, skipped=ALREADY_WAITING)


def test_buffer_one_does_not_count_a_waiting_catch_up_run_as_a_waiting_tick() -> None:
    # GIVEN a run going and only a catch-up run waiting
    recent = [view(hourly(2), RunStatus.RUNNING), view(hourly(1), RunStatus.BUFFERED, Trigger.CATCH_UP)]
    # WHEN a tick comes THEN it still waits (it is the one waiting tick)
    plan = on_tick(Overlap.BUFFER_ONE, recent, TICK)
    assert plan == TickPlan(RunStatus.BUFFERED, waits_for="etl@2026-11-28T04:00:00Z")


def test_allow_starts_a_tick_beside_the_active_run() -> None:
    # GIVEN the previous run going and a tick waiting
    recent = [view(hourly(2), RunStatus.RUNNING), view(hourly(1), RunStatus.BUFFERED)]
    # WHEN a tick comes THEN it starts at once
    assert on_tick(Overlap.ALLOW, recent, TICK) == TickPlan(RunStatus.CREATING)


@pytest.mark.parametrize("overlap", list(Overlap))
@pytest.mark.parametrize("status", [RunStatus.RUNNING, RunStatus.CREATING, RunStatus.BUFFERED])
def test_backfill_runs_never_hold_a_tick_off(overlap: Overlap, status: RunStatus) -> None:
    # GIVEN only backfill runs active (one of them in the given state)
    recent = [
        view(hourly(2), status, Trigger.BACKFILL),
        view(hourly(1), RunStatus.RUNNING, Trigger.BACKFILL),
        view(hourly(0), RunStatus.BUFFERED, Trigger.BACKFILL),
    ]
    # WHEN a tick comes THEN it starts, whatever the policy
    assert on_tick(overlap, recent, TICK) == TickPlan(RunStatus.CREATING)


# -- catch_up: the pure decision ----------------------------------------------------------------

MISSED = [hourly(1), hourly(2), hourly(3), hourly(4)]
WINDOW_START = hourly(2)  # the first two are outside the window, the last two (one on its edge) inside


def test_catch_up_none_skips_every_missed_fire_time() -> None:
    assert catch_up(CatchUp.NONE, MISSED, WINDOW_START) == dict.fromkeys(MISSED, MISSED_NONE)
    assert catch_up(CatchUp.NONE, MISSED, hourly(-10)) == dict.fromkeys(MISSED, MISSED_NONE)


def test_catch_up_latest_runs_only_the_latest_missed_fire_time_in_the_window() -> None:
    plan = catch_up(CatchUp.LATEST, MISSED, WINDOW_START)
    assert plan == {
        hourly(1): MISSED_OUTSIDE_WINDOW,
        hourly(2): MISSED_NOT_LATEST,
        hourly(3): MISSED_NOT_LATEST,
        hourly(4): None,
    }
    assert list(plan) == MISSED  # oldest first


def test_catch_up_latest_runs_nothing_when_every_missed_fire_time_is_outside_the_window() -> None:
    plan = catch_up(CatchUp.LATEST, MISSED, hourly(5))
    assert plan == dict.fromkeys(MISSED, MISSED_OUTSIDE_WINDOW)


def test_catch_up_all_runs_every_missed_fire_time_in_the_window() -> None:
    plan = catch_up(CatchUp.ALL, MISSED, WINDOW_START)
    assert plan == {
        hourly(1): MISSED_OUTSIDE_WINDOW,
        hourly(2): None,  # at the window's start: inside
        hourly(3): None,
        hourly(4): None,
    }
    assert list(plan) == MISSED
    assert catch_up(CatchUp.ALL, MISSED, hourly(0)) == dict.fromkeys(MISSED)


@pytest.mark.parametrize("policy", list(CatchUp))
def test_catch_up_of_nothing_missed_is_nothing(policy: CatchUp) -> None:
    assert catch_up(policy, [], WINDOW_START) == {}


# -- tick_problem: which ticks a schedule could have sent ----------------------------------------

WINDOW = 86_400.0


@pytest.mark.parametrize(
    ("expression", "at", "now", "named"),
    [
        (DAILY, T0 + 17 * MINUTE, T0 + 17 * MINUTE, "not a fire time"),  # 02:17 of a 02:00 schedule
        (DAILY, T0 + 30, T0 + 30, "not a fire time"),  # seconds off the minute
        (DAILY, T0 + 10 * DAY, T0, "in the future"),  # +10 days
        (DAILY, T0 + DAY, T0 + DAY - 6 * MINUTE, "in the future"),  # just over 5 minutes ahead
        (DAILY, 0.0, T0, "older than"),  # 1970: what `sam local generate-event` writes
        (DAILY, T0 - 2 * DAY, T0, "older than"),  # beyond the catch-up window
        ("rate(1 hour)", T0 + HOUR, T0, "in the future"),  # a rate: only the future check
        ("rate(1 hour)", 0.0, T0, "older than"),
    ],
)
def test_a_tick_its_schedule_could_not_have_sent_is_named(
    expression: str, at: float, now: float, named: str
) -> None:
    problem = tick_problem(parse_expression(expression), None, at, now, WINDOW)
    assert problem is not None and named in problem and iso(at) in problem


@pytest.mark.parametrize(
    ("expression", "at", "now"),
    [
        (DAILY, T0, T0),  # on time
        (DAILY, T0, T0 - 4 * MINUTE),  # a little early: clocks differ
        (DAILY, T0, T0 + 3_800),  # held back by throttling, retried within the hour
        (DAILY, T0 - DAY, T0),  # a day late, inside the catch-up window
        (HOURLY, T0 + HOUR, T0 + HOUR + 1),
        ("rate(7 minutes)", T0 + 17, T0 + 20),  # a rate's phase is not known: any time passes
    ],
)
def test_a_tick_of_a_fire_time_within_the_window_passes(expression: str, at: float, now: float) -> None:
    assert tick_problem(parse_expression(expression), None, at, now, WINDOW) is None


def test_a_zoned_schedules_tick_is_checked_in_its_zone() -> None:
    berlin = parse_expression("cron(0 8 * * ? *)")
    eight_in_berlin = T0 + 5 * HOUR  # 07:00 UTC = 08:00 CET
    assert tick_problem(berlin, "Europe/Berlin", eight_in_berlin, eight_in_berlin, WINDOW) is None
    assert "not a fire time" in (tick_problem(berlin, None, eight_in_berlin, eight_in_berlin, WINDOW) or "")


# -- overlap, in process ----------------------------------------------------------------------


def test_skip_records_the_tick_during_a_run_as_skipped_and_the_next_one_starts() -> None:
    # GIVEN an hourly schedule whose runs take 90 minutes, its 02:00 run going at 03:00
    app = InProcess(catalog(overlap="skip"), T0)
    app.tick(SCHEDULE, hourly(0))
    app.drain(until=hourly(1))
    assert run_of(app, hourly(0)).status is RunStatus.RUNNING
    # WHEN the 03:00 tick comes
    answer = app.tick(SCHEDULE, hourly(1))
    # THEN it is a SKIPPED run naming the active run, with no job
    assert answer["status"] == "SKIPPED"
    skipped = run_of(app, hourly(1))
    assert skipped.status is RunStatus.SKIPPED
    assert skipped.reason == "previous run etl@2026-11-28T02:00:00Z still active"
    assert skipped.job_count == 0 and app.store.job_runs(skipped.run_id) == []
    # AND the 02:00 run goes on to the end, and the 04:00 tick after it starts normally
    app.drain()
    first = run_of(app, hourly(0))
    assert first.status is RunStatus.SUCCEEDED and first.finished_at == hourly(1.5)
    assert app.tick(SCHEDULE, hourly(2))["status"] == "RUNNING"
    app.drain()
    after = run_of(app, hourly(2))
    assert after.status is RunStatus.SUCCEEDED and after.started_at == hourly(2)
    assert jobs_succeeded(app, after)


def test_skip_keeps_skipping_ticks_for_as_long_as_the_run_is_active() -> None:
    # GIVEN an hourly schedule whose 02:00 run takes 12 and a half hours
    app = InProcess(catalog(overlap="skip", run_minutes=12.5 * 60), T0)
    app.tick(SCHEDULE, hourly(0))
    # WHEN the ticks of 03:00 ... 14:00 come while it is going
    for n in range(1, 13):
        app.drain(until=hourly(n))
        assert run_of(app, hourly(0)).status is RunStatus.RUNNING
        app.tick(SCHEDULE, hourly(n))
    # THEN every one of them is SKIPPED, naming the 02:00 run
    reasons = {iso(hourly(n)): run_of(app, hourly(n)).reason for n in range(1, 13)}
    assert reasons == {
        iso(hourly(n)): "previous run etl@2026-11-28T02:00:00Z still active" for n in range(1, 13)
    }
    app.drain()
    assert run_of(app, hourly(0)).status is RunStatus.SUCCEEDED


def test_buffer_one_keeps_one_tick_waiting_for_as_long_as_the_run_is_active() -> None:
    # GIVEN an hourly schedule buffering one tick, whose 02:00 run takes 12 and a half hours
    app = InProcess(catalog(overlap="buffer_one", run_minutes=12.5 * 60), T0)
    app.tick(SCHEDULE, hourly(0))
    # WHEN the ticks of 03:00 ... 14:00 come while it is going
    for n in range(1, 13):
        app.drain(until=hourly(n))
        assert run_of(app, hourly(0)).status is RunStatus.RUNNING
        app.tick(SCHEDULE, hourly(n))
    # THEN 03:00 waits, every later one is SKIPPED, and no other run started or waits
    assert run_of(app, hourly(1)).status is RunStatus.BUFFERED
    reasons = {iso(hourly(n)): run_of(app, hourly(n)).reason for n in range(2, 13)}
    assert reasons == {iso(hourly(n)): ALREADY_WAITING for n in range(2, 13)}
    app.drain()
    first, second = run_of(app, hourly(0)), run_of(app, hourly(1))
    assert first.status is RunStatus.SUCCEEDED and second.status is RunStatus.SUCCEEDED
    assert first.finished_at is not None and second.started_at is not None
    assert second.started_at >= first.finished_at


def test_buffer_one_tick_waits_and_starts_when_the_active_run_ends() -> None:
    # GIVEN an hourly schedule buffering one tick, its 02:00 run (90 minutes) going at 03:00
    app = InProcess(catalog(overlap="buffer_one"), T0)
    app.tick(SCHEDULE, hourly(0))
    app.drain(until=hourly(1))
    # WHEN the 03:00 tick comes
    answer = app.tick(SCHEDULE, hourly(1))
    # THEN it waits BUFFERED for the active run, and nothing of it runs yet
    assert answer["status"] == "BUFFERED"
    waiting = run_of(app, hourly(1))
    assert waiting.status is RunStatus.BUFFERED
    assert waiting.reason == "waits for etl@2026-11-28T02:00:00Z"
    assert waiting.started_at is None
    # AND it starts when the 02:00 run ends, and succeeds
    app.drain()
    first, second = run_of(app, hourly(0)), run_of(app, hourly(1))
    assert first.status is RunStatus.SUCCEEDED and second.status is RunStatus.SUCCEEDED
    assert first.finished_at is not None and second.started_at is not None
    assert second.started_at >= first.finished_at
    assert second.trigger is Trigger.SCHEDULE and jobs_succeeded(app, second)
    assert min(j.started_at or 0 for j in app.store.job_runs(second.run_id)) >= first.finished_at


def test_buffer_one_skips_a_further_tick_while_one_waits() -> None:
    # GIVEN an hourly schedule buffering one tick, whose 02:00 run takes 2.5 hours, and the
    # 03:00 tick waiting behind it
    app = InProcess(catalog(overlap="buffer_one", run_minutes=150), T0)
    app.tick(SCHEDULE, hourly(0))
    app.drain(until=hourly(1))
    assert app.tick(SCHEDULE, hourly(1))["status"] == "BUFFERED"
    app.drain(until=hourly(2))
    assert run_of(app, hourly(0)).status is RunStatus.RUNNING
    # WHEN the 04:00 tick comes
    answer = app.tick(SCHEDULE, hourly(2))
    # THEN it is SKIPPED: a run already waits
    assert answer["status"] == "SKIPPED"
    skipped = run_of(app, hourly(2))
    assert skipped.status is RunStatus.SKIPPED and skipped.reason == ALREADY_WAITING
    # AND the waiting one still starts after the 02:00 run and succeeds
    app.drain()
    first, second = run_of(app, hourly(0)), run_of(app, hourly(1))
    assert first.status is RunStatus.SUCCEEDED and second.status is RunStatus.SUCCEEDED
    assert first.finished_at is not None and second.started_at is not None
    assert second.started_at >= first.finished_at


def test_allow_runs_both_at_once() -> None:
    # GIVEN an hourly schedule that allows overlap, its 02:00 run (90 minutes) going at 03:00
    app = InProcess(catalog(overlap="allow"), T0)
    app.tick(SCHEDULE, hourly(0))
    app.drain(until=hourly(1))
    # WHEN the 03:00 tick comes
    answer = app.tick(SCHEDULE, hourly(1))
    # THEN it starts at once, beside the 02:00 run
    assert answer["status"] == "RUNNING"
    assert run_of(app, hourly(0)).status is RunStatus.RUNNING
    app.drain()
    first, second = run_of(app, hourly(0)), run_of(app, hourly(1))
    assert first.status is RunStatus.SUCCEEDED and second.status is RunStatus.SUCCEEDED
    assert first.finished_at is not None and second.started_at == hourly(1)
    assert second.started_at < first.finished_at
    # AND their job runs overlap on the clock: a job of the second started before one of the
    # first finished, and the other way round
    first_jobs, second_jobs = app.store.job_runs(first.run_id), app.store.job_runs(second.run_id)
    assert any(
        (a.started_at or 0) < (b.finished_at or 0) and (b.started_at or 0) < (a.finished_at or 0)
        for a in first_jobs
        for b in second_jobs
    )


# -- catch-up, in process ----------------------------------------------------------------------


def test_the_missed_run_check_waits_65_minutes_for_a_late_tick() -> None:
    # the grace the tests below count on: a fire time is missed only once it is 65 minutes old
    assert MISSED_GRACE_S == 65 * MINUTE


def test_catch_up_none_records_each_missed_fire_time_as_skipped() -> None:
    # GIVEN an hourly schedule (30-minute runs) that catches nothing up, ticked at 02:00
    app = InProcess(catalog(catch_up="none", run_minutes=30), T0)
    app.tick(SCHEDULE, hourly(0))
    app.drain()
    # WHEN the next tick to come is 06:00 (03:00, 04:00 and 05:00 never came)
    app.tick(SCHEDULE, hourly(4))
    # THEN 03:00 and 04:00 (more than 65 minutes before it) are SKIPPED runs saying so
    for n in (1, 2):
        missed = run_of(app, hourly(n))
        assert missed.status is RunStatus.SKIPPED and missed.reason == MISSED_NONE
        assert missed.trigger is Trigger.SCHEDULE and missed.job_count == 0
    # AND 05:00 is not looked at yet (its tick may still come)
    assert app.store.get_run(run_id(hourly(3))) is None
    app.drain()
    # AND the 07:00 tick records 05:00 as missed
    app.tick(SCHEDULE, hourly(5))
    assert run_of(app, hourly(3)).status is RunStatus.SKIPPED
    assert run_of(app, hourly(3)).reason == MISSED_NONE
    app.drain()
    listing = [(r.scheduled_time, r.status) for r in app.store.runs_of_schedule(SCHEDULE, limit=20)]
    assert listing == [
        (hourly(5), RunStatus.SUCCEEDED),
        (hourly(4), RunStatus.SUCCEEDED),
        (hourly(3), RunStatus.SKIPPED),
        (hourly(2), RunStatus.SKIPPED),
        (hourly(1), RunStatus.SKIPPED),
        (hourly(0), RunStatus.SUCCEEDED),
    ]


def test_catch_up_latest_runs_only_the_latest_missed_fire_time() -> None:
    # GIVEN an hourly schedule (30-minute runs) catching up the latest, ticked at 02:00
    app = InProcess(catalog(catch_up="latest", run_minutes=30), T0)
    app.tick(SCHEDULE, hourly(0))
    app.drain()
    # WHEN the next tick to come is 06:00
    assert app.tick(SCHEDULE, hourly(4))["status"] == "RUNNING"
    # THEN 04:00 waits as a catch-up run behind the 06:00 run, and 03:00 is SKIPPED
    latest = run_of(app, hourly(2))
    assert latest.status is RunStatus.BUFFERED and latest.trigger is Trigger.CATCH_UP
    earlier = run_of(app, hourly(1))
    assert earlier.status is RunStatus.SKIPPED and earlier.reason == MISSED_NOT_LATEST
    assert app.store.get_run(run_id(hourly(3))) is None
    # AND the catch-up run starts when the 06:00 run ends, and succeeds for its own fire time
    app.drain()
    tick, latest = run_of(app, hourly(4)), run_of(app, hourly(2))
    assert tick.status is RunStatus.SUCCEEDED and latest.status is RunStatus.SUCCEEDED
    assert tick.finished_at is not None and latest.started_at is not None
    assert latest.started_at >= tick.finished_at
    assert jobs_succeeded(app, latest)
    assert {j.scheduled_time for j in app.store.job_runs(latest.run_id)} == {hourly(2)}


def test_catch_up_all_runs_the_missed_fire_times_in_the_window_one_after_another() -> None:
    # GIVEN an hourly schedule (30-minute runs) catching up all within 3 hours, ticked at 02:00
    app = InProcess(catalog(catch_up="all", window_s=3 * 3_600, run_minutes=30), T0)
    app.tick(SCHEDULE, hourly(0))
    app.drain()
    # WHEN the next tick to come is 08:00 (it looks at 03:00 ... 06:00)
    assert app.tick(SCHEDULE, hourly(6))["status"] == "RUNNING"
    # THEN 05:00 and 06:00 (at or after 08:00 - 3 h) wait as catch-up runs, 03:00 and 04:00 are
    # SKIPPED with the window's reason, and 07:00 is not looked at yet
    for n in (3, 4):
        caught = run_of(app, hourly(n))
        assert caught.status is RunStatus.BUFFERED and caught.trigger is Trigger.CATCH_UP
    for n in (1, 2):
        outside = run_of(app, hourly(n))
        assert outside.status is RunStatus.SKIPPED and outside.reason == MISSED_OUTSIDE_WINDOW
    assert app.store.get_run(run_id(hourly(5))) is None
    # AND they run behind the 08:00 run, one after another, oldest first
    app.drain()
    runs = [run_of(app, hourly(6)), run_of(app, hourly(3)), run_of(app, hourly(4))]
    assert [r.status for r in runs] == [RunStatus.SUCCEEDED] * 3
    assert_one_after_another(runs)


def test_the_first_tick_of_a_schedule_only_starts_the_watch() -> None:
    # GIVEN an hourly schedule catching up all, never ticked before
    app = InProcess(catalog(catch_up="all", run_minutes=30), T0)
    # WHEN its first tick is 06:00, then 07:00 and 08:00 come
    for n in (4, 5, 6):
        app.tick(SCHEDULE, hourly(n))
        app.drain()
    # THEN nothing before 06:00 is missed: there are just the three runs
    runs = app.store.runs_of_schedule(SCHEDULE, limit=20)
    assert [(r.scheduled_time, r.trigger, r.status) for r in runs] == [
        (hourly(n), Trigger.SCHEDULE, RunStatus.SUCCEEDED) for n in (6, 5, 4)
    ]


def test_a_tick_less_than_65_minutes_late_is_not_missed() -> None:
    # GIVEN an hourly schedule (30-minute runs) ticked at 02:00 and 04:00, the 03:00 tick late
    app = InProcess(catalog(catch_up="none", run_minutes=30), T0)
    app.tick(SCHEDULE, hourly(0))
    app.drain()
    app.tick(SCHEDULE, hourly(2))
    app.drain()
    # WHEN the 03:00 tick comes at 04:30 (in the rule's hour of retries), then 05:00
    assert app.clock.now() == hourly(2.5)
    assert app.tick(SCHEDULE, hourly(1))["status"] == "RUNNING"
    app.drain()
    app.tick(SCHEDULE, hourly(3))
    app.drain()
    # THEN every fire time ran, and none was recorded as missed
    runs = app.store.runs_of_schedule(SCHEDULE, limit=20)
    assert [(r.scheduled_time, r.status) for r in runs] == [
        (hourly(n), RunStatus.SUCCEEDED) for n in (3, 2, 1, 0)
    ]


def test_a_tick_behind_only_catch_up_runs_waits_behind_them() -> None:
    # GIVEN an hourly schedule (30-minute runs, overlap skip) catching up all: ticked at 02:00,
    # then at 06:00 (03:00 and 04:00 caught up), and at 07:00 the 04:00 catch-up run going
    app = InProcess(catalog(overlap="skip", catch_up="all", run_minutes=30), T0)
    app.tick(SCHEDULE, hourly(0))
    app.drain()
    app.tick(SCHEDULE, hourly(4))
    app.drain(until=hourly(5))
    assert run_of(app, hourly(1)).status is RunStatus.SUCCEEDED
    assert run_of(app, hourly(2)).status is RunStatus.RUNNING
    # WHEN the 07:00 tick comes
    answer = app.tick(SCHEDULE, hourly(5))
    # THEN it is not skipped: it waits behind the catch-up run
    assert answer["status"] == "BUFFERED"
    tick = run_of(app, hourly(5))
    assert tick.status is RunStatus.BUFFERED and tick.reason == "waits for etl@2026-11-28T04:00:00Z"
    # AND it starts after the catch-up runs (05:00, which the 07:00 tick noticed, too)
    app.drain()
    order = [run_of(app, hourly(n)) for n in (2, 3, 5)]
    assert [r.status for r in order] == [RunStatus.SUCCEEDED] * 3
    assert order[1].trigger is Trigger.CATCH_UP
    assert_one_after_another(order)


def test_a_tick_behind_a_long_line_of_catch_up_runs_waits_behind_them() -> None:
    # GIVEN an hourly schedule (30-minute runs, overlap skip) catching up all, ticked at 02:00
    # and next at 16:00, so that 03:00 ... 14:00 (12 fire times) are caught up; at 17:00 the
    # 04:00 catch-up run is going
    app = InProcess(catalog(overlap="skip", catch_up="all", run_minutes=30), T0)
    app.tick(SCHEDULE, hourly(0))
    app.drain()
    app.tick(SCHEDULE, hourly(14))
    app.drain(until=hourly(15))
    assert run_of(app, hourly(2)).status is RunStatus.RUNNING
    assert run_of(app, hourly(2)).trigger is Trigger.CATCH_UP
    # WHEN the 17:00 tick comes
    answer = app.tick(SCHEDULE, hourly(15))
    # THEN it waits behind the catch-up runs, as it does behind a short line of them
    assert answer["status"] == "BUFFERED"
    assert run_of(app, hourly(15)).reason == "waits for etl@2026-11-28T04:00:00Z"


# -- backfill, in process -----------------------------------------------------------------------


def test_backfill_creates_buffered_runs_keyed_by_fire_time_and_runs_them_oldest_first() -> None:
    # GIVEN a daily schedule (30-minute runs) at 2026-11-28 02:00
    app = InProcess(catalog(expression=DAILY, run_minutes=30), T0)
    fire_times = [daily(-3), daily(-2), daily(-1)]
    ids = [run_id(t) for t in fire_times]
    # WHEN the last three days are backfilled, one at a time
    answer = backfill(app, daily(-3), daily(-1), max_active=1)
    # THEN a run is created for each fire time, and the oldest starts
    assert answer["fire_times"] == [iso(t) for t in fire_times]
    assert answer["created"] == ids and answer["existing"] == [] and answer["started"] == ids[:1]
    runs = [app.store.get_run(i) for i in ids]
    assert [(r.trigger, r.scheduled_time, r.max_active) for r in runs if r] == [
        (Trigger.BACKFILL, t, 1) for t in fire_times
    ]
    assert [r.status for r in runs if r] == [RunStatus.RUNNING, RunStatus.BUFFERED, RunStatus.BUFFERED]
    assert [r.reason for r in runs[1:] if r] == ["backfill: waits for a free slot"] * 2
    # AND they run one after another, oldest first, each for its own fire time
    app.drain()
    done = [run_of(app, t) for t in fire_times]
    assert [r.status for r in done] == [RunStatus.SUCCEEDED] * 3
    assert_one_after_another(done)
    assert most_at_once(done) == 1
    for when, run in zip(fire_times, done, strict=True):
        assert {j.scheduled_time for j in app.store.job_runs(run.run_id)} == {when}


def test_backfill_with_max_active_two_runs_at_most_two_at_once() -> None:
    # GIVEN a daily schedule (30-minute runs)
    app = InProcess(catalog(expression=DAILY, run_minutes=30), T0)
    fire_times = [daily(n) for n in range(-5, 0)]
    # WHEN the last five days are backfilled, two at a time
    answer = backfill(app, daily(-5), daily(-1), max_active=2)
    # THEN the two oldest start
    assert answer["started"] == [run_id(t) for t in fire_times[:2]]
    app.drain()
    # AND all five run, never more than two at once, started oldest first
    done = [run_of(app, t) for t in fire_times]
    assert [r.status for r in done] == [RunStatus.SUCCEEDED] * 5
    assert most_at_once(done) == 2
    starts = [r.started_at or 0 for r in done]
    assert starts == sorted(starts)


def test_a_second_identical_backfill_creates_nothing() -> None:
    # GIVEN a backfill of three days, going
    app = InProcess(catalog(expression=DAILY, run_minutes=30), T0)
    ids = backfill(app, daily(-3), daily(-1), max_active=1)["created"]
    # WHEN the same backfill is asked for again, while it runs and after it ran
    again = backfill(app, daily(-3), daily(-1), max_active=1)
    app.drain()
    after = backfill(app, daily(-3), daily(-1), max_active=1)
    # THEN nothing is created or started: the runs exist
    for answer in (again, after):
        assert answer["created"] == [] and answer["existing"] == ids and answer["started"] == []
    runs = app.store.runs_of_schedule(SCHEDULE, limit=20)
    assert len(runs) == 3 and all(r.status is RunStatus.SUCCEEDED for r in runs)


def test_a_dry_run_backfill_creates_nothing() -> None:
    # GIVEN a daily schedule with no run
    app = InProcess(catalog(expression=DAILY, run_minutes=30), T0)
    # WHEN a backfill of three days is a dry run
    answer = backfill(app, daily(-3), daily(-1), dry_run=True)
    # THEN it lists what it would create, and nothing exists or is queued
    assert answer["dry_run"] is True
    assert answer["created"] == [run_id(daily(n)) for n in (-3, -2, -1)]
    assert answer["started"] == []
    assert app.store.runs_of_schedule(SCHEDULE, limit=20) == []
    assert app.queue.depth() == (0, 0)


def test_a_backfill_replaces_the_skipped_record_of_a_paused_tick() -> None:
    # GIVEN a daily schedule paused when its 02:00 tick came, then resumed
    app = InProcess(catalog(expression=DAILY, run_minutes=30), T0)
    app.act(action="pause", schedule=SCHEDULE, reason="migration")
    assert app.tick(SCHEDULE, T0)["status"] == "SKIPPED"
    skipped = run_of(app, T0)
    assert skipped.status is RunStatus.SKIPPED and skipped.reason == "schedule paused: migration"
    app.act(action="resume", schedule=SCHEDULE)
    # WHEN that fire time is backfilled
    answer = backfill(app, T0, T0)
    # THEN the SKIPPED record is replaced by a real run, which runs
    assert answer["created"] == [run_id(T0)] and answer["started"] == [run_id(T0)]
    app.drain()
    run = run_of(app, T0)
    assert run.trigger is Trigger.BACKFILL and run.status is RunStatus.SUCCEEDED
    assert run.job_count == 3 and jobs_succeeded(app, run)
    assert len(app.store.runs_of_schedule(SCHEDULE, limit=20)) == 1


def test_a_running_backfill_does_not_hold_off_the_live_tick() -> None:
    # GIVEN a daily schedule (90-minute runs, overlap skip), backfilling two days from 01:30
    app = InProcess(catalog(expression=DAILY, overlap="skip", run_minutes=90), T0 - 30 * MINUTE)
    answer = backfill(app, daily(-2), daily(-1), max_active=1)
    assert answer["started"] == [run_id(daily(-2))]
    app.drain(until=T0)
    assert run_of(app, daily(-2)).status is RunStatus.RUNNING
    # WHEN the 02:00 tick comes
    tick = app.tick(SCHEDULE, T0)
    # THEN it starts at once, beside the backfill run
    assert tick["status"] == "RUNNING"
    app.drain()
    live, first, second = run_of(app, T0), run_of(app, daily(-2)), run_of(app, daily(-1))
    assert [r.status for r in (live, first, second)] == [RunStatus.SUCCEEDED] * 3
    assert live.trigger is Trigger.SCHEDULE and live.started_at == T0
    assert first.finished_at is not None and live.started_at < first.finished_at
    # AND the backfill still runs one at a time
    assert_one_after_another([first, second])


def test_a_backfill_starts_beside_a_live_run() -> None:
    # GIVEN a daily schedule (90-minute runs, overlap skip) whose 02:00 run is going
    app = InProcess(catalog(expression=DAILY, overlap="skip", run_minutes=90), T0)
    app.tick(SCHEDULE, T0)
    app.drain(until=T0 + 30 * MINUTE)
    # WHEN yesterday is backfilled
    answer = backfill(app, daily(-1), daily(-1))
    # THEN it starts at once: the live run holds no backfill slot
    assert answer["started"] == [run_id(daily(-1))]
    assert run_of(app, daily(-1)).started_at == T0 + 30 * MINUTE
    app.drain()
    assert run_of(app, daily(-1)).status is RunStatus.SUCCEEDED
    assert run_of(app, T0).status is RunStatus.SUCCEEDED


# -- buffered starts, in process ------------------------------------------------------------------


def test_a_closing_run_starts_the_oldest_buffered_run_however_many_came_after_it() -> None:
    # GIVEN an hourly schedule (30-minute runs) catching up all: ticked at 02:00, next at 16:00,
    # which leaves 03:00 ... 14:00 (12 fire times) waiting as catch-up runs
    app = InProcess(catalog(catch_up="all", run_minutes=30), T0)
    app.tick(SCHEDULE, hourly(0))
    app.drain()
    app.tick(SCHEDULE, hourly(14))
    waiting = [r for r in app.store.active_runs(SCHEDULE) if r.status is RunStatus.BUFFERED]
    assert [r.scheduled_time for r in waiting] == [hourly(n) for n in range(1, 13)]
    # WHEN the 16:00 run closes
    app.drain(until=hourly(14.5))
    # THEN the oldest, 03:00 (with twelve runs after it), starts, and the rest wait
    assert run_of(app, hourly(14)).status is RunStatus.SUCCEEDED
    assert run_of(app, hourly(1)).status is RunStatus.RUNNING
    assert run_of(app, hourly(1)).started_at == hourly(14.5)
    assert all(run_of(app, hourly(n)).status is RunStatus.BUFFERED for n in range(2, 13))
    # AND each close starts the next oldest: they run one after another, in fire-time order
    app.drain()
    caught = [run_of(app, hourly(n)) for n in range(1, 13)]
    assert [r.status for r in caught] == [RunStatus.SUCCEEDED] * 12
    assert_one_after_another([run_of(app, hourly(14)), *caught])
    assert most_at_once([run_of(app, hourly(14)), *caught]) == 1


def test_a_buffered_tick_starts_after_older_catch_up_runs_waiting_with_it() -> None:
    # GIVEN an hourly schedule (90-minute runs) buffering one tick and catching up all: ticked at
    # 02:00, then 06:00 (03:00 and 04:00 caught up), then 07:00 while the 06:00 run goes (the
    # tick waits; 05:00 is caught up after it was created)
    app = InProcess(catalog(overlap="buffer_one", catch_up="all", run_minutes=90), T0)
    app.tick(SCHEDULE, hourly(0))
    app.drain()
    app.tick(SCHEDULE, hourly(4))
    app.drain(until=hourly(5))
    assert app.tick(SCHEDULE, hourly(5))["status"] == "BUFFERED"
    waiting = [r for r in app.store.active_runs(SCHEDULE) if r.status is RunStatus.BUFFERED]
    assert [(r.scheduled_time, r.trigger) for r in waiting] == [
        (hourly(1), Trigger.CATCH_UP),
        (hourly(2), Trigger.CATCH_UP),
        (hourly(3), Trigger.CATCH_UP),
        (hourly(5), Trigger.SCHEDULE),
    ]
    # WHEN the 06:00 run and each after it close
    app.drain()
    # THEN the waiting runs start one at a time, oldest fire time first
    order = [run_of(app, hourly(n)) for n in (4, 1, 2, 3, 5)]
    assert [r.status for r in order] == [RunStatus.SUCCEEDED] * 5
    assert_one_after_another(order)
    assert most_at_once(order) == 1
