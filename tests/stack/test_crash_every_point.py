"""A crash at every crash point of every operator action and of every start, and what ends it:
the operator repeating the request, or nobody (the run's watchdog, a redelivery, Lambda's retry
of an asynchronous invocation). Whatever the point, every run ends terminal and its job-runs
agree with its status and counts; the by-schedule indexes lag as DynamoDB's may all along.

The executor's own crash points are in ``test_crash_points``; the DLQ replay's, repeated by the
operator, in ``test_replay``."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import pytest

from cronlane.clock import iso
from cronlane.local.session import store_of, wait_for_run
from cronlane.model import RunStatus, scheduled_run_id
from tests.conftest import START, act
from tests.stack.runs import HOUR, INDEX_LAG_S, consistent, dies_then, failed_chain
from tests.stack.test_replay import after_the_outage, failed_run

pytestmark = pytest.mark.stack
HOW = ["repeat", "watchdog"]


@pytest.fixture
def rt(runtime: Any) -> Any:
    runtime.delay_index_visibility(INDEX_LAG_S)
    return runtime


def crashed(rt: Any, point: str, match: dict[str, Any], event: dict[str, Any]) -> None:
    """The request dies once at ``point`` (its answer is an error)."""
    rt.inject(point, **match)
    answer = rt.invoke("DispatcherFunction", event)
    assert answer.error is not None, answer.response
    assert [f.point for f in rt.fired_faults] == [point]


# -- operator actions: repeated, or left to the watchdog -------------------------------------

MARK_POINTS = [
    ("operator.after_intent", {}),  # the restart written on the run, nothing reset
    ("operator.after_reset", {"job": "merge"}),  # the dependent reset, its message not sent
    ("operator.after_send", {}),  # sent, the restart still on the run
    ("operator.after_restart", {}),  # the restart removed, the run not closed by the mark
]


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize(("point", "match"), MARK_POINTS, ids=[p for p, _ in MARK_POINTS])
def test_mark(rt: Any, point: str, match: dict[str, Any], how: str) -> None:
    run_id = failed_chain(rt, f"mark-{how}", ["check", "merge"])
    event = {"action": "mark", "run_id": run_id, "job": "check"}
    crashed(rt, point, match, event)
    dies_then(rt, how, event)
    run = consistent(rt, run_id)
    assert run.status is RunStatus.SUCCEEDED and run.succeeded == 2


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize("point", ["closer.before_close", "closer.after_close"])
def test_mark_that_closes_the_run(rt: Any, point: str, how: str) -> None:
    # the marked job is the run's only one: the mark itself closes the run
    run_id = failed_chain(rt, f"close-{how}", ["check"])
    event = {"action": "mark", "run_id": run_id, "job": "check"}
    crashed(rt, point, {"run_id": run_id}, event)
    if how == "repeat":
        rt.invoke("DispatcherFunction", event)
    rt.run_until(lambda: store_of(rt).get_run(run_id).status.terminal, limit_s=2 * HOUR)
    rt.drain()
    assert consistent(rt, run_id).status is RunStatus.SUCCEEDED


RERUN_POINTS = [
    ("operator.after_intent", {}),
    ("operator.after_reset", {"job": "geo"}),  # one of the two reset
    ("operator.after_send", {}),
    ("operator.after_restart", {}),
]


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize(("point", "match"), RERUN_POINTS, ids=[p for p, _ in RERUN_POINTS])
def test_rerun(rt: Any, point: str, match: dict[str, Any], how: str) -> None:
    # a cancelled run whose two jobs never started
    rt.mappings_enabled = False
    act(rt, action="trigger", jobs=["geo", "synonyms"], idempotency_key=f"rerun-{how}")
    run_id = f"manual@rerun-{how}"
    assert act(rt, action="cancel", run_id=run_id)["status"] == "CANCELLED"
    rt.mappings_enabled = True
    event = {"action": "rerun", "run_id": run_id}
    crashed(rt, point, match, event)
    dies_then(rt, how, event)
    run = consistent(rt, run_id)
    assert run.status is RunStatus.SUCCEEDED and run.succeeded == 2


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize(
    ("point", "match"),
    [("operator.after_cancel", {}), ("operator.after_cancel_job", {"job": "extract"})],
    ids=["after_cancel", "after_cancel_job"],
)
def test_cancel(rt: Any, point: str, match: dict[str, Any], how: str) -> None:
    # a going run whose jobs wait on the queue
    rt.mappings_enabled = False
    act(rt, action="trigger", jobs=["extract", "geo", "score"], idempotency_key=f"cancel-{how}")
    run_id = f"manual@cancel-{how}"
    event = {"action": "cancel", "run_id": run_id}
    crashed(rt, point, match, event)
    rt.mappings_enabled = True
    dies_then(rt, how, event)
    run = consistent(rt, run_id)
    # (jobs whose messages were taken before the cancel reached them ran: the rest did not)
    assert run.status is RunStatus.CANCELLED


REPLAY_POINTS = [
    ("operator.after_intent", {}),
    ("operator.after_reset", {"job": "merge"}),
    ("operator.after_send", {}),
    ("dlq.after_send", {}),
]


@pytest.mark.parametrize(("point", "match"), REPLAY_POINTS, ids=[p for p, _ in REPLAY_POINTS])
def test_replay_left_to_the_watchdog(rt: Any, point: str, match: dict[str, Any]) -> None:
    # (the operator's repeat of each: test_replay)
    run_id = failed_run(rt)
    after_the_outage(rt)
    crashed(rt, point, match, {"action": "dlq-replay", "all": True})
    wait_for_run(rt, run_id, limit_s=2 * HOUR)
    rt.drain()
    run = consistent(rt, run_id)
    assert run.status is RunStatus.SUCCEEDED and (run.succeeded, run.failed, run.skipped) == (3, 0, 0)


def test_a_replay_that_dies_after_reopening_to_send(rt: Any) -> None:
    # a replay died after resetting the job (its restart left on the run); the second replay
    # carries that out, finds the letter out of date with the job still QUEUED, and dies after
    # reopening the run to send it
    run_id = failed_run(rt)
    after_the_outage(rt)
    crashed(rt, "operator.after_reset", {"job": "check"}, {"action": "dlq-replay", "all": True})
    rt.drain()
    rt.clock.advance_to(rt.now() + 301)  # the letter the killed replay received shows again
    rt.mappings_enabled = False  # (so the job is still QUEUED when the replay looks)
    rt.inject("dlq.after_reopen", run_id=run_id)
    assert rt.invoke("DispatcherFunction", {"action": "dlq-replay", "all": True}).error is not None
    rt.mappings_enabled = True
    wait_for_run(rt, run_id, limit_s=2 * HOUR)
    rt.drain()
    assert [f.point for f in rt.fired_faults] == ["operator.after_reset", "dlq.after_reopen"]
    assert consistent(rt, run_id).status is RunStatus.SUCCEEDED


def test_a_backfill_request_that_dies_part_way_is_repeated(rt: Any) -> None:
    first = START - 3 * HOUR
    runs = [scheduled_run_id("hourly", first + h * HOUR) for h in range(3)]
    event = {"action": "backfill", "schedule": "hourly", "from": iso(first), "to": iso(first + 2 * HOUR)}
    crashed(rt, "dispatcher.after_backfill_run", {"run_id": runs[0]}, {**event, "max_active": 1})
    # the repeat creates the two runs still missing, and starts the oldest
    again = act(rt, **event, max_active=1)
    assert again["created"] == runs[1:] and again["existing"] == runs[:1] and again["started"] == runs[:1]
    store = store_of(rt)
    rt.run_until(lambda: all(store.get_run(r).status.terminal for r in runs), limit_s=86_400)
    assert all(consistent(rt, r).status is RunStatus.SUCCEEDED for r in runs)


# -- starts: nobody to repeat them ------------------------------------------------------------

ONE, TWO = (scheduled_run_id("hourly", START + h * HOUR) for h in range(2))


@pytest.mark.parametrize(
    "point",
    [
        "dispatcher.before_create",  # nothing written
        "dispatcher.after_create",  # the run CREATING, no message sent
        "dispatcher.after_job_runs",  # the same, just before the first send
        "dispatcher.after_enqueue_batch",  # the roots sent, the run still CREATING
    ],
)
def test_a_ticks_dispatch(rt: Any, point: str) -> None:
    # the rule's asynchronous invocation is retried by Lambda; the watchdog is behind it
    rt.inject(point, run_id=ONE)
    rt.fire("hourly", START)
    rt.run_until(lambda: (run := store_of(rt).get_run(ONE)) is not None and run.status.terminal)
    rt.drain()
    assert [f.point for f in rt.fired_faults] == [point]
    assert consistent(rt, ONE).status is RunStatus.SUCCEEDED


def test_a_ticks_catch_up_of_missed_fire_times(rt: Any) -> None:
    # nightly (catch-up "all") ran on day 0, and its ticks of days 1 and 2 never came; the tick
    # of day 3 dies after writing the catch-up run of day 1, before day 2's
    DAY = 86_400
    caught = [scheduled_run_id("nightly", START + d * DAY) for d in (1, 2)]
    rt.fire("nightly", START)
    rt.drain()
    rt.inject("dispatcher.after_missed_run", run_id=caught[0])
    rt.fire("nightly", START + 3 * DAY)
    store = store_of(rt)
    rt.run_until(lambda: all((r := store.get_run(i)) is not None and r.status.terminal for i in caught))
    rt.drain()
    # Lambda's retry of the tick wrote day 2's run too, and every run ran
    assert [f.point for f in rt.fired_faults] == ["dispatcher.after_missed_run"]
    for run_id in [*caught, scheduled_run_id("nightly", START + 3 * DAY)]:
        assert consistent(rt, run_id).status is RunStatus.SUCCEEDED


BUFFER_POINTS = [
    ("dispatcher.after_buffer", {"run_id": TWO}),  # the buffered tick, before it looked again
    ("closer.before_close", {"run_id": ONE}),  # the run it waits for, before it closed
    ("closer.after_close", {"run_id": ONE}),  # closed, before it started the buffered one
    ("starter.after_start", {"run_id": TWO}),  # the buffered run taken, not yet dispatched
    ("dispatcher.after_job_runs", {"run_id": TWO}),  # its dispatch, before its first message
]


@pytest.mark.parametrize(("point", "match"), BUFFER_POINTS, ids=[p for p, _ in BUFFER_POINTS])
def test_a_buffered_ticks_start(rt: Any, point: str, match: dict[str, Any]) -> None:
    # hourly (buffer_one) runs its 02:00 tick; the 03:00 tick comes while it runs
    store = store_of(rt)
    rt.inject(point, **match)
    rt.fire("hourly", START)
    rt.run_until(lambda: (run := store.get_run(ONE)) is not None and run.status is RunStatus.RUNNING)
    rt.mappings_enabled = False  # the 02:00 run still goes at 03:00: its jobs' messages wait
    rt.fire("hourly", START + HOUR)
    rt.run_until(lambda: store.get_run(TWO) is not None or rt.fired_faults != [])
    rt.mappings_enabled = True
    rt.run_until(lambda: all((r := store.get_run(i)) is not None and r.status.terminal for i in (ONE, TWO)))
    rt.drain()
    assert [f.point for f in rt.fired_faults] == [point]
    one, two = consistent(rt, ONE), consistent(rt, TWO)
    assert one.status is two.status is RunStatus.SUCCEEDED
    assert two.started_at >= one.finished_at


@pytest.mark.parametrize("point", ["starter.after_start", "dispatcher.after_job_runs", "closer.after_close"])
def test_a_backfills_next_start(rt: Any, point: str) -> None:
    # a backfill of three fire times, one at a time: the start of the second dies
    first = START - 3 * HOUR
    runs = [scheduled_run_id("hourly", first + h * HOUR) for h in range(3)]
    rt.inject(point, run_id=runs[0] if point.startswith("closer") else runs[1])
    event = {"action": "backfill", "schedule": "hourly", "from": iso(first), "to": iso(first + 2 * HOUR)}
    act(rt, **event, max_active=1)
    store = store_of(rt)
    rt.run_until(lambda: all(store.get_run(r).status.terminal for r in runs), limit_s=86_400)
    assert [f.point for f in rt.fired_faults] == [point]
    done = [consistent(rt, r) for r in runs]
    assert all(r.status is RunStatus.SUCCEEDED for r in done)
    for before, after in pairwise(done):
        assert after.started_at >= before.finished_at


POINTS_COVERED = {
    *(p for p, _ in MARK_POINTS + RERUN_POINTS + REPLAY_POINTS + BUFFER_POINTS),
    "closer.before_close",
    "closer.after_close",
    "operator.after_cancel",
    "operator.after_cancel_job",
    "dispatcher.before_create",
    "dispatcher.after_create",
    "dispatcher.after_enqueue_batch",
    "dispatcher.after_missed_run",
    "dispatcher.after_backfill_run",
    "dlq.after_reopen",
    # a handed-off job's completion: tests/stack/test_handed_off_targets.py
    "completion.before_record",
    "completion.after_record",
    # a run with a width, its places written and nothing sent: tests/unit/test_places.py, and
    # the chaos soak (its nightly runs have a width)
    "places.after_write",
}


def test_every_crash_point_outside_the_executor_is_covered_here() -> None:
    import ast
    from pathlib import Path

    import cronlane

    named: set[str] = set()
    for path in Path(cronlane.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", None) == "crashpoint"
                and isinstance(node.args[0], ast.Constant)
            ):
                named.add(node.args[0].value)
    outside = {p for p in named if not p.startswith("executor.")}
    # a crash point added without a test here fails this
    assert outside == POINTS_COVERED, outside ^ POINTS_COVERED
