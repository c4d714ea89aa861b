"""Backfill requests the dispatcher refuses before touching the table, each naming why."""

from __future__ import annotations

import pytest

from cronlane import Catalog, Job, Schedule, Selection
from cronlane.queue.memory import MemoryJobQueue
from cronlane.store.memory import MemoryRunStore
from cronlane.wiring import dispatcher_of


class StoppedClock:
    def now(self) -> float:
        return 1795831200.0  # 2026-11-28T02:00:00Z

    def sleep(self, seconds: float) -> None:
        return None


CATALOG = Catalog.build(
    [Job("oneJob", "jobs.one.run", "g")],
    [Schedule("every-hour", "rate(1 hour)", Selection.everything())],
)


def refusal(event: dict[str, object]) -> str:
    store, queue = MemoryRunStore(), MemoryJobQueue(StoppedClock())
    answer = dispatcher_of(CATALOG, store, queue, StoppedClock()).handle(event)
    assert set(answer) == {"error"}, answer
    # a refused request created nothing and sent nothing
    assert store.runs_of_schedule("every-hour") == [] and queue.depth() == (0, 0)
    return str(answer["error"])


def test_a_rate_schedule_cannot_be_backfilled() -> None:
    problem = refusal(
        {
            "action": "backfill",
            "schedule": "every-hour",
            "from": "2026-11-27T00:00:00Z",
            "to": "2026-11-27T05:00:00Z",
        }
    )
    assert problem.startswith(
        "schedule 'every-hour' is rate(1 hour): a rate rule's fire times count from when"
    )


@pytest.mark.parametrize(
    ("window", "named"),
    [
        (("2026-11-27T05:00:00Z", "2026-11-27T00:00:00Z"), "field 'to': before 'from'"),
        (("2026-11-27T00:00:00Z", "2026-11-29T00:00:00Z"), "field 'to': in the future"),
    ],
)
def test_a_backfill_window_that_makes_no_sense_is_named(window: tuple[str, str], named: str) -> None:
    event = {"action": "backfill", "schedule": "every-hour", "from": window[0], "to": window[1]}
    assert named in refusal(event)
