"""A job message whose handling hits an infrastructure error (DynamoDB or SQS throttled or
failing past the SDK's retries) comes back after tens of seconds, not the queue's 90-minute
visibility timeout; after five quick returns the outage counts as lasting and the message waits
out the visibility timeout, so it does not spin. In process: the real executor on the in-memory
store and queue, with the store made to fail."""

from __future__ import annotations

import random
from typing import Any

import pytest

from cronlane import Catalog, Job, Schedule, Selection
from cronlane.errors import StoreError
from cronlane.execute import INFRA_FAST_RECEIVES, infra_retry_seconds
from cronlane.inprocess import InProcess
from cronlane.model import JobStatus, RunStatus
from cronlane.simulated import sim_params

T0 = 1795831200.0  # 2026-11-28T02:00:00Z
VISIBILITY_S = 5_400


def app() -> InProcess:
    jobs = [Job("only", "cronlane.simulated.simulate", "g", params=sim_params(30))]
    return InProcess(Catalog.build(jobs, [Schedule("s", "cron(0 2 * * ? *)", Selection.of_groups("g"))]), T0)


def hidden_for(app: InProcess) -> float:
    """How long the job's message stays hidden from now."""
    (message,) = app.queue.jobs.messages
    return message.visible_at - app.clock.now()


def failing_claims(monkeypatch: pytest.MonkeyPatch, app: InProcess) -> list[int]:
    calls: list[int] = []

    def claim(*args: Any, **kwargs: Any) -> None:
        calls.append(1)
        raise StoreError("claiming job only: ProvisionedThroughputExceededException (throttled)")

    monkeypatch.setattr(app.store, "claim", claim)
    return calls


def test_an_infrastructure_error_gives_the_message_back_within_tens_of_seconds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a run whose job's claim fails: DynamoDB throttles past the SDK's retries
    app_ = app()
    app_.act(action="trigger", jobs=["only"], idempotency_key="k")
    calls = failing_claims(monkeypatch, app_)
    # WHEN the executor takes the message, five times in a row
    delays = []
    for _ in range(INFRA_FAST_RECEIVES):
        assert app_.step()
        delays.append(hidden_for(app_))
        app_.clock.advance_to(app_.clock.now() + delays[-1])
    # THEN each time it came back after 20-40 s (jittered: not all alike), and was not lost
    assert len(calls) == INFRA_FAST_RECEIVES
    assert all(20 <= d <= 40 for d in delays), delays
    assert len(set(delays)) > 1
    warned = [r for r in app_.log.records if r[1].startswith("infrastructure error")]
    assert len(warned) == INFRA_FAST_RECEIVES and warned[0][2]["retry_in_s"] == delays[0]
    # and the sixth time, the outage lasting, it waits out the queue's visibility timeout
    assert app_.step()
    assert hidden_for(app_) == pytest.approx(VISIBILITY_S)
    # WHEN the errors stop, the job runs and the run succeeds
    monkeypatch.undo()
    app_.clock.advance_to(app_.clock.now() + VISIBILITY_S)
    app_.drain()
    run = app_.store.get_run("manual@k")
    assert run is not None and run.status is RunStatus.SUCCEEDED
    assert app_.store.get_job_run("manual@k", "only").status is JobStatus.SUCCEEDED


def test_the_quick_returns_are_jittered_and_bounded() -> None:
    rng = random.Random(3)
    quick = [infra_retry_seconds(n, rng) for n in range(1, INFRA_FAST_RECEIVES + 1)]
    assert all(isinstance(d, int) and 20 <= d <= 40 for d in quick)
    assert infra_retry_seconds(INFRA_FAST_RECEIVES + 1, rng) is None  # the visibility timeout
