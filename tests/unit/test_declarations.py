"""Job declarations, parameters and run identity: pure, no AWS."""

from __future__ import annotations

import pytest

from cronlane import Catalog, Job, Param
from cronlane.errors import CatalogError, InvalidRequest
from cronlane.model import JobMessage, manual_run_id, scheduled_run_id


def test_a_timeout_above_lambdas_limit_is_refused() -> None:
    with pytest.raises(CatalogError, match=r"job 'a': timeout_s 901 is outside 1..900"):
        Catalog.build([Job("a", "m.f", "g", timeout_s=901)])


@pytest.mark.parametrize("expected", [0, -5, "10", True, float("inf"), 8 * 24 * 3600])
def test_an_expected_duration_must_be_seconds_within_a_week(expected: object) -> None:
    with pytest.raises(
        CatalogError, match=r"job 'a': expected_s must be a number of seconds within 0..604800"
    ):
        Catalog.build([Job("a", "m.f", "g", expected_s=expected)])  # type: ignore[arg-type]
    assert Catalog.build([Job("a", "m.f", "g", expected_s=90.5)]).jobs["a"].expected_s == 90.5


def test_bad_names_and_attempts_are_refused_with_their_place() -> None:
    with pytest.raises(CatalogError) as err:
        Catalog.build([Job("bad name", "m.f", "g"), Job("b", "nodots", "g", max_attempts=0)])
    text = str(err.value)
    assert "job 'bad name': name must match" in text
    assert "job 'b': max_attempts must be at least 1" in text
    assert "job 'b': function 'nodots' is not a dotted path" in text


def test_declared_parameters_are_coerced_and_unknown_ones_named() -> None:
    job = Job("a", "m.f", "g", params={"n": Param("int", 5), "on": Param("bool", False)})
    assert job.resolve_params({}) == {"n": 5, "on": False}
    assert job.resolve_params({"n": "7", "on": "true"}) == {"n": 7, "on": True}
    with pytest.raises(ValueError, match="job 'a' has no parameter 'x'"):
        job.resolve_params({"x": 1})
    with pytest.raises(ValueError, match="parameter 'n' must be int"):
        job.resolve_params({"n": "seven"})


def test_a_scheduled_run_is_named_by_schedule_and_tick() -> None:
    assert scheduled_run_id("nightly", 1795831200.4) == "nightly@2026-11-28T02:00:00Z"


def test_a_manual_key_must_be_safe_characters() -> None:
    assert manual_run_id("abc-1") == "manual@abc-1"
    with pytest.raises(InvalidRequest, match="idempotency_key"):
        manual_run_id("a b")


def test_dedup_ids_differ_by_generation() -> None:
    first, replay = JobMessage("r", "j", 0), JobMessage("r", "j", 1)
    assert first.dedup_id() != replay.dedup_id()
    assert JobMessage.parse(first.body()) == first


def test_a_release_message_carries_when_the_job_became_ready() -> None:
    sent = JobMessage("r", "j", 2, queued_at=1795831200.1234)
    read = JobMessage.parse(sent.body())
    assert read == sent and read.queued_at == 1795831200.123
    assert read.dedup_id() == JobMessage("r", "j", 2).dedup_id()  # the time is not its identity


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("not json", "not JSON"),
        ("[]", "JSON object"),
        ('{"job": "a"}', "run_id"),
        ('{"run_id": "r"}', "'job'"),
        ('{"run_id": "r", "job": "a", "generation": -1}', "generation"),
        ('{"run_id": "r", "job": "a", "queued_at": "yesterday"}', "queued_at"),
        ('{"run_id": "r", "job": "a", "queued_at": -5}', "queued_at"),
        ('{"run_id": "r", "job": "a", "queued_at": true}', "queued_at"),
        ('{"run_id": "r", "job": "a", "queued_at": Infinity}', "queued_at"),
        ('{"run_id": "r", "job": "a", "queued_at": NaN}', "queued_at"),
    ],
)
def test_a_malformed_message_body_is_named(body: str, field: str) -> None:
    with pytest.raises(InvalidRequest, match=field):
        JobMessage.parse(body)


def test_an_unknown_trigger_rule_is_refused() -> None:
    with pytest.raises(
        CatalogError, match="job 'a': trigger_rule 'one_success' is not all_success or all_done"
    ):
        Catalog.build([Job("a", "m.f", "g", trigger_rule="one_success")])


def test_a_schedule_zone_must_be_an_iana_name() -> None:
    from cronlane import Schedule, Selection

    job = Job("aJob", "cronlane.simulated.simulate", "g")
    ok = Schedule("berlin", "cron(30 2 * * ? *)", Selection.everything(), timezone="Europe/Berlin")
    assert Catalog.build([job], [ok]).schedules["berlin"].timezone == "Europe/Berlin"
    bad = Schedule("mars", "cron(30 2 * * ? *)", Selection.everything(), timezone="Mars/Olympus")
    with pytest.raises(CatalogError, match="schedule 'mars': time zone 'Mars/Olympus' is not an IANA zone"):
        Catalog.build([job], [bad])
