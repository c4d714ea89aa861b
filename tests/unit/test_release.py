"""Which dependents a finished job makes ready: the release reads instead of counting, so what
it decides must follow from the states it read alone."""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

from cronlane.clock import SystemClock
from cronlane.graphs import RunGraphs
from cronlane.model import JobMessage, JobState, JobStatus, TriggerRule
from cronlane.places import Places
from cronlane.ports import JobQueue, RunStore
from cronlane.release import Releaser
from cronlane.rules import Needs, decide

ALL_SUCCESS, ALL_DONE = TriggerRule.ALL_SUCCESS, TriggerRule.ALL_DONE

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


# -- the Releaser's reads: what it reads decides what a release costs ----------------------------


class Table:
    """The job-runs' states as the release reads them (strongly consistent), counting the keys
    read: each is billed a read unit, a key with no item too."""

    def __init__(self, states: dict[str, JobState]) -> None:
        self.rows = dict(states)
        self.keys_read: list[str] = []

    def load_run_graph(self, run_id: str) -> None:
        return None  # no snapshot: a run without a width (cronlane.places)

    def states(self, run_id: str, jobs: Iterable[str]) -> dict[str, JobState]:
        wanted = sorted(set(jobs))
        self.keys_read.extend(wanted)
        return {job: self.rows[job] for job in wanted if job in self.rows}


class Outbox:
    def __init__(self) -> None:
        self.sent: list[JobMessage] = []

    def send(self, messages: list[JobMessage]) -> None:
        self.sent.extend(messages)


def releaser(table: Table) -> tuple[Releaser, Outbox]:
    outbox = Outbox()
    store = cast(RunStore, table)
    return Releaser(store, cast(JobQueue, outbox), RunGraphs(store), Places(store, SystemClock())), outbox


FAN_IN = {"d": Needs(("a", "b", "c"), ALL_SUCCESS)}  # d waits for three upstreams


def test_only_the_last_upstream_to_finish_reads_the_dependent_and_sends_it() -> None:
    table = Table({"a": state(S.SUCCEEDED), "b": state(S.RUNNING)})
    release, outbox = releaser(table)
    # a finished while b runs and c has not started: a reads b and c, not d (d cannot start yet)
    first = release.ready("r", "a", S.SUCCEEDED, FAN_IN, now=0.0)
    assert first.messages == () and not first.ended
    assert table.keys_read == ["b", "c"]
    # b and c end; c is the last: it reads b (a it saw succeed before), then d, and sends d
    table.rows |= {"b": state(S.SUCCEEDED), "c": state(S.SUCCEEDED)}
    table.keys_read.clear()
    last = release.ready("r", "c", S.SUCCEEDED, FAN_IN, now=5.0)
    assert [(m.job, m.generation, m.queued_at) for m in last.messages] == [("d", 0, 5.0)]
    assert table.keys_read == ["b", "d"]
    release.send(last, "r")
    assert [m.job for m in outbox.sent] == ["d"]


def test_an_upstream_seen_succeeded_is_not_read_again_in_that_run() -> None:
    table = Table({"a": state(S.SUCCEEDED), "b": state(S.SUCCEEDED)})
    release, _ = releaser(table)
    needs = {"x": Needs(("a", "b"), ALL_SUCCESS), "y": Needs(("a", "c"), ALL_SUCCESS)}
    release.ready("r", "b", S.SUCCEEDED, needs, now=0.0)  # reads a and c, then x
    table.keys_read.clear()
    release.ready("r", "b", S.SUCCEEDED, needs, now=1.0)  # a is known: only c, then x
    assert table.keys_read == ["c", "x"]
    table.keys_read.clear()
    release.ready("other-run", "b", S.SUCCEEDED, needs, now=2.0)  # another run knows nothing
    assert table.keys_read == ["a", "c", "x"]


def test_a_dependent_whose_other_upstream_is_still_going_is_not_taken_for_ended() -> None:
    for going in (S.RUNNING, S.QUEUED, S.PENDING):
        table = Table({"b": state(going)})
        release, _ = releaser(table)
        decision = release.ready("r", "a", S.SUCCEEDED, {"c": Needs(("a", "b"), ALL_SUCCESS)}, now=0.0)
        assert decision.messages == () and not decision.ended, going


def test_a_dependent_that_can_never_start_is_reported_so_the_run_may_close() -> None:
    # its other upstream failed (it is skipped, or about to be): the run may be closing
    table = Table({"b": state(S.FAILED)})
    release, _ = releaser(table)
    decision = release.ready("r", "a", S.SUCCEEDED, {"c": Needs(("a", "b"), ALL_SUCCESS)}, now=0.0)
    assert decision.messages == () and decision.ended
    assert table.keys_read == ["b"]  # the dependent itself is not read


def test_an_all_done_dependent_starts_once_every_upstream_ended_whatever_the_outcome() -> None:
    table = Table({"b": state(S.SKIPPED)})
    release, _ = releaser(table)
    decision = release.ready("r", "a", S.FAILED, {"c": Needs(("a", "b"), ALL_DONE)}, now=0.0)
    assert [m.job for m in decision.messages] == ["c"]
