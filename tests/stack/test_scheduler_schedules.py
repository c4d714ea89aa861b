"""A schedule in a time zone: morning is an EventBridge Scheduler schedule
(SAM ScheduleV2, Europe/Berlin) beside the plain rules. The local runtime reads it from the
expanded template (moto does not create it), fires it at its zone's fire times, and sends its
Input with Scheduler's context attributes filled in; the dispatcher keys the run by the
scheduled time, as for a rule's Scheduled Event."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cronlane.clock import iso, parse_iso
from cronlane.local.session import local_runtime, store_of
from cronlane.model import RunStatus, scheduled_run_id
from tests.conftest import START, TEMPLATE, refusal

pytestmark = pytest.mark.stack
MORNING = "morning"
ARN_PREFIX = "arn:aws:scheduler:us-east-1:123456789012:schedule/default/"
NOTIFICATION_JOBS = {"digest", "cleanup", "alert"}


@pytest.fixture
def runtime_at(tmp_path: Path) -> Iterator[Any]:
    """A runtime whose virtual clock starts at a given time (the DST days are before START)."""
    runtimes = []

    def start(at: str) -> Any:
        context = local_runtime(
            TEMPLATE, clock="virtual", start=parse_iso(at), executor_environments=6, log_dir=tmp_path / "logs"
        )
        runtimes.append(context)
        return context.__enter__()

    yield start
    for context in runtimes:
        context.__exit__(None, None, None)


def morning_fires(runtime: Any, after: str, until: str) -> list[str]:
    """Let only the morning schedule fire between two times; return its fire times (UTC)."""
    runtime.start_ticking_rule(runtime.rule_for(MORNING), parse_iso(after))
    runtime.run_to(parse_iso(until))
    runtime.stop_ticking()
    runtime.drain()
    return [iso(at) for schedule, at in runtime.fires if schedule == MORNING]


def test_the_zoned_schedule_comes_from_the_template_and_sends_schedulers_input(runtime: Any) -> None:
    rule = runtime.rule_for(MORNING)
    assert (rule.kind, rule.timezone) == ("scheduler", "Europe/Berlin")
    assert rule.arn.endswith(":schedule/default/local-morning")
    at = parse_iso("2026-11-29T07:00:00Z")  # 08:00 in Berlin (CET, UTC+1)
    event = runtime.scheduled_event(MORNING, at)
    assert event["source"] == "aws.scheduler"
    assert (event["schedule_arn"], event["scheduled_time"], event["attempt"]) == (rule.arn, iso(at), "1")
    # the plain rules keep sending EventBridge's Scheduled Event
    assert runtime.scheduled_event("hourly", START)["detail-type"] == "Scheduled Event"


def test_both_event_shapes_key_the_run_by_its_scheduled_time(runtime: Any) -> None:
    at = parse_iso("2026-11-29T07:00:00Z")
    runtime.run_to(at)
    scheduler_tick = runtime.scheduled_event(MORNING, at)
    first = runtime.invoke("DispatcherFunction", scheduler_tick)
    # Scheduler delivers at least once: its retry carries another attempt and execution id
    retry = {**scheduler_tick, "attempt": "2", "execution_id": "another-execution"}
    second = runtime.invoke("DispatcherFunction", retry)
    rule_tick = runtime.invoke("DispatcherFunction", runtime.scheduled_event("hourly", at))
    runtime.drain()
    assert first.response["run_id"] == scheduled_run_id(MORNING, at)
    assert second.response["run_id"] == first.response["run_id"]
    assert rule_tick.response["run_id"] == scheduled_run_id("hourly", at)
    store = store_of(runtime)
    runs = store.runs_of_schedule(MORNING, limit=5)
    assert [r.run_id for r in runs] == [scheduled_run_id(MORNING, at)]
    assert runs[0].status is RunStatus.SUCCEEDED
    assert {j.job for j in store.job_runs(runs[0].run_id)} == NOTIFICATION_JOBS


def test_a_scheduler_input_without_its_attributes_filled_in_is_refused_by_name(runtime: Any) -> None:
    raw = {
        "source": "aws.scheduler",
        "schedule_arn": "<aws.scheduler.schedule-arn>",
        "scheduled_time": "<aws.scheduler.scheduled-time>",
    }
    problem = refusal(runtime.invoke("DispatcherFunction", raw))
    assert "<aws.scheduler.schedule-arn> was not filled in" in problem
    assert "<aws.scheduler.scheduled-time> was not filled in" in problem
    other_stack = {
        "source": "aws.scheduler",
        "schedule_arn": ARN_PREFIX + "prod-morning",
        "scheduled_time": "2026-11-29T07:00:00Z",
    }
    assert "does not belong to this stack" in refusal(runtime.invoke("DispatcherFunction", other_stack))
    assert store_of(runtime).runs_of_schedule(MORNING, limit=5) == []


def test_spring_forward_moves_the_utc_fire_time_an_hour_earlier(runtime_at: Any) -> None:
    # Berlin leaves CET (UTC+1) for CEST (UTC+2) on Sunday 2027-03-28
    runtime = runtime_at("2027-03-26T12:00:00Z")
    fires = morning_fires(runtime, "2027-03-26T12:00:00Z", "2027-03-29T12:00:00Z")
    assert fires == ["2027-03-27T07:00:00Z", "2027-03-28T06:00:00Z", "2027-03-29T06:00:00Z"]
    runs = store_of(runtime).runs_of_schedule(MORNING, limit=10)
    assert sorted(r.run_id for r in runs) == sorted(scheduled_run_id(MORNING, parse_iso(t)) for t in fires)
    assert all(r.status is RunStatus.SUCCEEDED for r in runs)


def test_fall_back_moves_the_utc_fire_time_an_hour_later(runtime_at: Any) -> None:
    # Berlin goes back from CEST to CET on Sunday 2026-10-25
    runtime = runtime_at("2026-10-23T12:00:00Z")
    fires = morning_fires(runtime, "2026-10-23T12:00:00Z", "2026-10-26T12:00:00Z")
    assert fires == ["2026-10-24T06:00:00Z", "2026-10-25T07:00:00Z", "2026-10-26T07:00:00Z"]
