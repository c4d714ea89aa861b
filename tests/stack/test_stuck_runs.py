"""No run stuck, no run closed early: the six ways a protocol review left a run waiting for ever
or closed it SUCCEEDED over a job that never ran, each replayed on the local runtime (crashes
and holds at named crash points, with the by-schedule indexes lagging as DynamoDB's may), and
what ends each now: the request repeated, or the run's watchdog with no operator at all."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import pytest

from cronlane.clock import iso
from cronlane.local.session import store_of, wait_for_run
from cronlane.model import JobStatus, RunStatus, scheduled_run_id
from tests.conftest import START, act, log_records
from tests.stack.runs import HOUR, INDEX_LAG_S, consistent, dies_then, failed_chain, metrics_of

pytestmark = pytest.mark.stack


@pytest.fixture
def rt(runtime: Any) -> Any:
    runtime.delay_index_visibility(INDEX_LAG_S)
    return runtime


@pytest.mark.parametrize("how", ["repeat", "watchdog"])
def test_1_a_mark_that_dies_after_resetting_a_dependent_still_finishes_the_run(rt: Any, how: str) -> None:
    # GIVEN check failed all attempts, so merge was skipped and the run FAILED
    run_id = failed_chain(rt, f"mark-{how}", ["check", "merge"])
    store = store_of(rt)
    assert store.get_job_run(run_id, "merge").status is JobStatus.SKIPPED
    # WHEN an operator's mark of check is killed just after it reset merge
    mark = {"action": "mark", "run_id": run_id, "job": "check"}
    rt.inject("operator.after_reset", job="merge")
    assert rt.invoke("DispatcherFunction", mark).error is not None
    assert store.get_run(run_id).restart is not None  # the restart is on the run: it stays open
    # THEN repeating the mark, or (nobody repeating it) the run's watchdog, finishes it: merge
    # runs, and the run succeeds with every job
    dies_then(rt, how, mark)
    run = consistent(rt, run_id)
    assert run.status is RunStatus.SUCCEEDED and run.succeeded == 2
    assert store.get_job_run(run_id, "check").status is JobStatus.SUCCEEDED


def test_1b_a_mark_cut_short_by_throttling_part_way_is_finished_by_the_watchdog(rt: Any) -> None:
    # GIVEN the failed chain, and a mark held just after its first reset
    run_id = failed_chain(rt, "mark-sdk", ["check", "merge"])
    held = rt.hold("operator.after_reset", job="merge")
    marking = rt.begin_invoke("DispatcherFunction", {"action": "mark", "run_id": run_id, "job": "check"})
    rt.run_until(lambda: rt.is_held(held))
    # WHEN DynamoDB throttles every request from there on, past the SDK's retries
    errors = rt.transient_errors(1.0, services=("dynamodb",))
    rt.release(held)
    rt.run_until(lambda: marking.done)
    assert marking.error is not None and errors.counts["dynamodb transient error"] > 0
    rt.transient_errors(0)
    # THEN with nobody repeating the mark, the run still ends SUCCEEDED with every job
    wait_for_run(rt, run_id, limit_s=2 * HOUR)
    rt.drain()
    assert consistent(rt, run_id).status is RunStatus.SUCCEEDED


@pytest.mark.parametrize("how", ["repeat", "watchdog"])
def test_2_a_rerun_that_dies_after_one_reset_restarts_every_job(rt: Any, how: str) -> None:
    # GIVEN a cancelled run whose two jobs never started
    rt.mappings_enabled = False
    act(rt, action="trigger", jobs=["geo", "synonyms"], idempotency_key=f"rerun-{how}")
    run_id = f"manual@rerun-{how}"
    assert act(rt, action="cancel", run_id=run_id)["status"] == "CANCELLED"
    rt.mappings_enabled = True
    # WHEN a rerun is killed after resetting the first of them
    rerun = {"action": "rerun", "run_id": run_id}
    rt.inject("operator.after_reset")
    assert rt.invoke("DispatcherFunction", rerun).error is not None
    # THEN repeating it, or the watchdog, runs both, and the run succeeds
    dies_then(rt, how, rerun)
    run = consistent(rt, run_id)
    assert run.status is RunStatus.SUCCEEDED and run.succeeded == 2


def test_3_a_run_never_closes_succeeded_over_a_job_a_mark_reset(rt: Any) -> None:
    # GIVEN check -> merge -> summary (all_done): check failed, merge was skipped, and summary's
    # executor dies right after writing its success (the run is not closed yet)
    rt.inject("executor.after_state_write", job="summary")
    run_id = "manual@early"
    act(
        rt,
        action="trigger",
        jobs=["check", "merge", "summary"],
        idempotency_key="early",
        parameters={"check": {"fail_attempts": 3}},
    )
    store = store_of(rt)
    rt.run_until(lambda: store.get_job_run(run_id, "summary").status is JobStatus.SUCCEEDED)
    # WHEN a mark of check dies after resetting merge, and summary's message comes back
    rt.inject("operator.after_reset", job="merge")
    assert rt.invoke("DispatcherFunction", {"action": "mark", "run_id": run_id, "job": "check"}).error
    rt.drain()
    # THEN the run did not close over merge: it ends SUCCEEDED only once merge ran, 3 of 3
    run = consistent(rt, run_id)
    assert run.status is RunStatus.SUCCEEDED and run.succeeded == 3
    merge = store.get_job_run(run_id, "merge")
    assert merge.status is JobStatus.SUCCEEDED and merge.finished_at <= run.finished_at


def test_3b_a_close_decided_before_a_mark_is_refused_after_it(rt: Any) -> None:
    # GIVEN check failed and merge was skipped; summary (all_done) ends, and its executor has
    # decided to close the run FAILED but is held before writing it
    run_id = "manual@fast"
    held = rt.hold("closer.before_close", run_id=run_id)
    act(
        rt,
        action="trigger",
        jobs=["check", "merge", "summary"],
        idempotency_key="fast",
        parameters={"check": {"fail_attempts": 3}},
    )
    rt.run_until(lambda: rt.is_held(held))
    # WHEN an operator's mark of check runs whole meanwhile, then the closer goes on
    act(rt, action="mark", run_id=run_id, job="check")
    rt.release(held)
    rt.drain()
    # THEN the stale close was refused: merge ran and the run ends SUCCEEDED. It was reported
    # FAILED once (the mark found every job over and closed the run before it reopened it),
    # SUCCEEDED once; the held close, written on premises that no longer held, reported nothing
    run = consistent(rt, run_id)
    assert run.status is RunStatus.SUCCEEDED and run.succeeded == 3
    emitted = metrics_of(rt, run.schedule)
    assert (emitted["RunsSucceeded"], emitted["RunsFailed"]) == (1, 1)


@pytest.mark.parametrize(
    "point",
    ["operator.after_intent", "operator.after_reset", "operator.after_send", "operator.after_restart"],
)
def test_3c_a_sink_that_ends_in_any_window_of_a_mark_does_not_close_the_run_early(
    rt: Any, point: str
) -> None:
    # GIVEN check failed and merge was skipped; summary (all_done) is running
    run_id = f"manual@window-{point.rsplit('.', 1)[-1]}"
    act(
        rt,
        action="trigger",
        jobs=["check", "merge", "summary"],
        idempotency_key=run_id.split("@")[1],
        parameters={"check": {"fail_attempts": 3}},
    )
    store = store_of(rt)
    rt.run_until(lambda: store.get_job_run(run_id, "summary").status is JobStatus.RUNNING)
    # WHEN a mark of check is held at this point, and summary ends (and tries to close the run)
    # meanwhile, and only then the mark goes on
    held = rt.hold(point, run_id=run_id)
    marking = rt.begin_invoke("DispatcherFunction", {"action": "mark", "run_id": run_id, "job": "check"})
    rt.run_until(lambda: rt.is_held(held))
    rt.run_until(lambda: store.get_job_run(run_id, "summary").status is JobStatus.SUCCEEDED)
    rt.run_until(lambda: not any(i.function == "ExecutorFunction" and not i.done for i in rt.invocations))
    rt.release(held)
    rt.run_until(lambda: marking.done)
    rt.drain()
    # THEN the run ends SUCCEEDED only after merge ran, and is reported SUCCEEDED once
    run = consistent(rt, run_id)
    assert run.status is RunStatus.SUCCEEDED and run.succeeded == 3
    assert store.get_job_run(run_id, "merge").finished_at <= run.finished_at
    assert metrics_of(rt, run.schedule)["RunsSucceeded"] == 1


def test_4_a_backfill_whose_next_start_dies_does_not_stall(rt: Any) -> None:
    # GIVEN a backfill of 12 fire times, one at a time; the executor that closes the first run
    # dies while it starts the second (inside its write-and-enqueue)
    first = START - 12 * HOUR
    runs = [scheduled_run_id("hourly", first + h * HOUR) for h in range(12)]
    rt.inject("dispatcher.after_job_runs", run_id=runs[1])
    event = {"action": "backfill", "schedule": "hourly", "from": iso(first), "to": iso(first + 11 * HOUR)}
    answer = act(rt, **event, max_active=1)
    assert answer["created"] == runs and answer["started"] == runs[:1]
    # WHEN nobody does anything more
    store = store_of(rt)
    rt.run_until(lambda: all(store.get_run(r).status.terminal for r in runs), limit_s=7 * 86_400)
    # THEN every run ended SUCCEEDED, one after another
    assert [f.point for f in rt.fired_faults] == ["dispatcher.after_job_runs"]
    done = [consistent(rt, r) for r in runs]
    assert all(r.status is RunStatus.SUCCEEDED for r in done)
    for before, after in pairwise(done):
        assert after.started_at >= before.finished_at, (before.run_id, after.run_id)


def test_5_a_tick_buffered_as_its_run_closes_is_not_stranded(rt: Any) -> None:
    # GIVEN hourly (buffer_one) runs its 02:00 tick, which still goes at 03:00 (its jobs' messages
    # wait); the 03:00 tick reads it RUNNING, decides to buffer, and is held before it writes
    one, two, three = (scheduled_run_id("hourly", START + h * HOUR) for h in range(3))
    store = store_of(rt)
    rt.fire("hourly", START)
    rt.run_until(lambda: (store.get_run(one) or store.get_run("-")) is not None)
    rt.mappings_enabled = False
    rt.run_to(START + HOUR)
    held = rt.hold("dispatcher.before_create", run_id=two)
    tick = rt.fire("hourly", START + HOUR)
    rt.run_until(lambda: rt.is_held(held))
    # WHEN the 02:00 run closes meanwhile, and only then the 03:00 run is written BUFFERED
    rt.mappings_enabled = True
    assert wait_for_run(rt, one).run.status is RunStatus.SUCCEEDED
    rt.release(held)
    rt.run_until(lambda: tick.done)
    # THEN the 03:00 run does not wait for ever: it starts at once, and the 04:00 tick waits for it
    later = wait_for_run(rt, two, limit_s=HOUR)
    assert later.run.status is RunStatus.SUCCEEDED
    assert later.run.finished_at < START + 2 * HOUR
    rt.fire("hourly", START + 2 * HOUR)
    last = wait_for_run(rt, three)
    assert last.run.status is RunStatus.SUCCEEDED and last.run.started_at >= later.run.finished_at


def test_6_two_closers_at_once_never_exceed_the_backfills_max_active(rt: Any) -> None:
    # GIVEN a backfill of six fire times, two at a time: the first two run side by side and end
    # together; the first one's closer is held just after it closed its run
    first = START - 6 * HOUR
    runs = [scheduled_run_id("hourly", first + h * HOUR) for h in range(6)]
    held = rt.hold("closer.after_close", run_id=runs[0])
    event = {"action": "backfill", "schedule": "hourly", "from": iso(first), "to": iso(first + 5 * HOUR)}
    assert act(rt, **event, max_active=2)["started"] == runs[:2]
    store = store_of(rt)
    rt.run_until(lambda: rt.is_held(held))
    # WHEN the second closes and starts what its slot allows, and then the first goes on
    rt.run_until(lambda: store.get_run(runs[1]).status.terminal)
    rt.run_until(lambda: store.get_run(runs[2]).status is not RunStatus.BUFFERED)
    rt.release(held)
    rt.run_until(lambda: all(store.get_run(r).status.terminal for r in runs))
    # THEN at no moment were more than two of them active, and every one succeeded
    done = [consistent(rt, r) for r in runs]
    assert all(r.status is RunStatus.SUCCEEDED for r in done)
    spans = [(r.started_at, r.finished_at) for r in done]
    most = max(sum(1 for s, f in spans if s <= start < f) for start, _ in spans)
    assert most == 2


def test_a_job_whose_executor_is_throttled_runs_within_a_minute_of_the_errors_stopping(rt: Any) -> None:
    # GIVEN a run whose job's message waits, and DynamoDB then refusing every request of the
    # functions (past the SDK's retries) for a minute
    rt.mappings_enabled = False
    act(rt, action="trigger", jobs=["geo"], idempotency_key="throttled")
    begun = rt.now()
    errors = rt.transient_errors(1.0, services=("dynamodb",))
    rt.mappings_enabled = True
    rt.run_until(lambda: rt.now() >= begun + 60)
    rt.transient_errors(0)
    stopped = rt.now()
    # THEN the executor was given the message back every few tens of seconds, not after the
    # queue's 90-minute visibility timeout, and the job ran within a minute of the errors stopping
    tries = [i for i in rt.invocations if i.function == "ExecutorFunction" and (i.started_at or 0) < stopped]
    assert errors.counts["dynamodb transient error"] > 0 and len(tries) >= 2
    report = wait_for_run(rt, "manual@throttled", limit_s=HOUR)
    assert report.run.status is RunStatus.SUCCEEDED
    geo = store_of(rt).get_job_run("manual@throttled", "geo")
    assert geo.started_at is not None and geo.started_at - stopped <= 60


def test_a_run_past_its_deadline_is_reported_while_it_is_still_going(rt: Any) -> None:
    # GIVEN hourly (a 30-minute deadline) started, and its jobs then hang (their messages wait)
    one = scheduled_run_id("hourly", START)
    store = store_of(rt)
    rt.fire("hourly", START)
    rt.run_until(lambda: (run := store.get_run(one)) is not None and run.status is RunStatus.RUNNING)
    rt.mappings_enabled = False
    # WHEN the deadline passes
    rt.run_to(START + 1800 + 120)
    # THEN its check reported it over its deadline (the alarm's metric) while it still runs
    assert store.get_run(one).status is RunStatus.RUNNING
    late = [r for r in log_records(rt.log_dir) if "RunsOverDeadline" in r and r.get("schedule") == "hourly"]
    assert len(late) == 1 and rt.check_fires
    # AND once it goes on and ends, it is not reported again
    rt.mappings_enabled = True
    assert wait_for_run(rt, one).run.status is RunStatus.SUCCEEDED
    late = [r for r in log_records(rt.log_dir) if "RunsOverDeadline" in r and r.get("schedule") == "hourly"]
    assert len(late) == 1
