"""Which dependents a finished job makes ready: the release reads instead of counting, so what
it decides must follow from the states it read alone."""

from __future__ import annotations

from cronlane.model import ALL_DONE, ALL_SUCCESS, JobState, JobStatus
from cronlane.release import Needs, decide

S = JobStatus


def state(status: JobStatus, generation: int = 0) -> JobState:
    return JobState(status, generation)


def test_a_dependent_with_no_item_yet_is_waiting_and_starts_at_generation_0() -> None:
    decision = decide("a", S.SUCCEEDED, {"b": Needs(("a",), ALL_SUCCESS)}, {})
    assert decision.ready == (("b", 0),)
    assert not decision.ended


def test_the_last_upstream_to_finish_releases_and_the_others_do_not() -> None:
    needs = {"c": Needs(("a", "b"), ALL_SUCCESS)}
    waiting_for_b = decide("a", S.SUCCEEDED, needs, {"b": state(S.RUNNING)})
    assert waiting_for_b.ready == ()
    both_done = decide("a", S.SUCCEEDED, needs, {"b": state(S.SUCCEEDED)})
    assert both_done.ready == (("c", 0),)


def test_an_upstream_that_has_not_started_holds_the_dependent() -> None:
    needs = {"c": Needs(("a", "b"), ALL_SUCCESS)}
    assert decide("a", S.SUCCEEDED, needs, {}).ready == ()


def test_a_failed_upstream_holds_an_all_success_job_but_not_an_all_done_one() -> None:
    states = {"b": state(S.FAILED)}
    assert decide("a", S.SUCCEEDED, {"c": Needs(("a", "b"), ALL_SUCCESS)}, states).ready == ()
    assert decide("a", S.SUCCEEDED, {"c": Needs(("a", "b"), ALL_DONE)}, states).ready == (("c", 0),)
    # the failed job's own release: an all_done dependent runs once the other upstream is done
    failed = decide("b", S.FAILED, {"c": Needs(("a", "b"), ALL_DONE)}, {"a": state(S.SKIPPED)})
    assert failed.ready == (("c", 0),)


def test_a_dependent_that_already_started_is_not_sent_again() -> None:
    needs = {"b": Needs(("a",), ALL_SUCCESS)}
    assert decide("a", S.SUCCEEDED, needs, {"b": state(S.RUNNING)}).ready == ()


def test_a_dependent_that_ended_is_reported_so_the_run_may_close() -> None:
    needs = {"b": Needs(("a",), ALL_SUCCESS), "c": Needs(("a",), ALL_SUCCESS)}
    decision = decide("a", S.SUCCEEDED, needs, {"b": state(S.SKIPPED)})
    assert decision.ready == (("c", 0),)
    assert decision.ended


def test_a_restarted_dependent_is_sent_with_its_current_generation() -> None:
    decision = decide("a", S.SUCCEEDED, {"b": Needs(("a",), ALL_SUCCESS)}, {"b": state(S.QUEUED, 3)})
    assert decision.ready == (("b", 3),)
