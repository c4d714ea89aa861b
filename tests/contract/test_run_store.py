"""The run store's contract (``ports.RunStore``): each test runs on DynamoDB (moto) and in memory,
and asserts what a user of the store would notice through the store's own reads."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from cronlane.clock import iso
from cronlane.model import (
    LISTS_KEPT,
    JobNode,
    JobRunView,
    JobState,
    JobStatus,
    NewRun,
    PlaceEntry,
    PlacesRecord,
    Restart,
    RestartStep,
    RunCounts,
    RunGraph,
    RunStatus,
    Trigger,
    TriggerRule,
    sink_slots,
)
from cronlane.ports import RunStore
from cronlane.results import INLINE_CHARS
from cronlane.store import keys
from cronlane.store.dynamodb import LOST_ATTEMPT, DynamoRunStore
from cronlane.store.items import run_pk

T0 = 1795831200.0  # 2026-11-28T02:00:00Z
DAY = 86400.0
LEASE_S = 900.0
EXPIRES_AT = int(T0 + 30 * DAY)
RUN = "nightly@2026-11-28T02:00:00Z"


# -- building runs --------------------------------------------------------------------------------


def node(
    name: str,
    depends_on: tuple[str, ...] = (),
    dependents: tuple[str, ...] = (),
    fan_in: tuple[int, ...] = (),
    max_attempts: int = 3,
    rule: TriggerRule = TriggerRule.ALL_SUCCESS,
    params: dict[str, Any] | None = None,
) -> JobNode:
    return JobNode(
        name=name,
        group="feed",
        function=f"fixture_jobs.jobs:{name}",
        depends_on=depends_on,
        dependents=dependents,
        timeout_s=600,
        max_attempts=max_attempts,
        params=params or {},
        dependent_fan_in=fan_in,
        trigger_rule=rule,
    )


def diamond(rule: TriggerRule = TriggerRule.ALL_SUCCESS, max_attempts: int = 3) -> dict[str, JobNode]:
    """a -> b, a -> c, (b, c) -> d: one root (a) and one sink (d); ``rule`` is d's trigger rule."""
    return {
        "a": node("a", dependents=("b", "c"), fan_in=(1, 1), max_attempts=max_attempts, params={"n": 1}),
        "b": node("b", ("a",), ("d",), (2,), max_attempts=max_attempts),
        "c": node("c", ("a",), ("d",), (2,), max_attempts=max_attempts),
        "d": node("d", ("b", "c"), max_attempts=max_attempts, rule=rule),
    }


def fan_out(sinks: int) -> dict[str, JobNode]:
    """root -> s000, s001, ...: ``sinks`` sinks below one root."""
    names = tuple(f"s{i:03d}" for i in range(sinks))
    nodes = {"root": node("root", dependents=names, fan_in=(1,) * sinks)}
    nodes.update({name: node(name, ("root",)) for name in names})
    return nodes


def new_run(
    run_id: str = RUN,
    nodes: dict[str, JobNode] | None = None,
    schedule: str = "nightly",
    scheduled_time: float = T0,
    trigger: Trigger = Trigger.SCHEDULE,
    parameters: dict[str, Any] | None = None,
    **extra: Any,
) -> NewRun:
    return NewRun(
        run_id=run_id,
        schedule=schedule,
        scheduled_time=scheduled_time,
        trigger=trigger,
        created_at=scheduled_time + 1,
        expires_at=EXPIRES_AT,
        parameters={"day": "2026-11-28"} if parameters is None else parameters,
        nodes=diamond() if nodes is None else nodes,
        **extra,
    )


def created(store: RunStore, run: NewRun | None = None, status: RunStatus = RunStatus.CREATING) -> RunGraph:
    """GIVEN helper: the run is created and its graph snapshot read back."""
    run = run or new_run()
    assert store.create_run(run, status=status)
    graph = store.load_run_graph(run.run_id)
    assert graph is not None
    return graph


def claimed(
    store: RunStore, graph: RunGraph, job: str, now: float = T0 + 10, generation: int = 0
) -> JobRunView:
    view = store.claim(graph.run_id, job, generation, now, LEASE_S, queued_at=T0 + 5, graph=graph)
    assert view is not None
    return view


def after_lease(view: JobRunView) -> float:
    """A moment after the lease of the attempt ``view`` holds expired."""
    assert view.lease_expires_at is not None
    return view.lease_expires_at + 1


def counts(store: RunStore, run_id: str = RUN) -> tuple[int, int, int, int]:
    run = store.get_run(run_id)
    assert run is not None
    return run.succeeded, run.failed, run.skipped, run.cancelled


def written(store: RunStore, job: str, run_id: str = RUN) -> JobRunView:
    view = store.written_job_run(run_id, job)
    assert view is not None
    return view


# -- 1. creating a run ----------------------------------------------------------------------------


def test_create_run_claims_the_run_id_once(store: RunStore) -> None:
    # GIVEN a run
    assert store.create_run(new_run(parameters={"day": "first"}))
    # WHEN a second delivery of the same tick creates it again, with other parameters and jobs
    again = store.create_run(
        new_run(parameters={"day": "second"}, nodes=fan_out(2)), status=RunStatus.RUNNING
    )
    # THEN it is refused and the first stays as it was
    assert again is False
    run = store.get_run(RUN)
    assert run is not None
    assert (run.status, run.parameters, run.job_count) == (RunStatus.CREATING, {"day": "first"}, 4)
    graph = store.load_run_graph(RUN)
    assert graph is not None and set(graph.nodes) == {"a", "b", "c", "d"}


def test_create_run_replaces_a_skipped_run_of_no_jobs(store: RunStore) -> None:
    # GIVEN a tick recorded as a SKIPPED run of no jobs (a paused schedule)
    assert store.create_run(new_run(nodes={}, parameters={}), status=RunStatus.SKIPPED, reason="paused")
    # WHEN the run is created again, replacing it
    assert store.create_run(new_run(), replace_skipped=True)
    # THEN the run is the new one, with its graph
    run = store.get_run(RUN)
    assert run is not None
    assert (run.status, run.job_count, run.sink_count) == (RunStatus.CREATING, 4, 1)
    assert run.parameters == {"day": "2026-11-28"}
    assert run.finished_at is None
    graph = store.load_run_graph(RUN)
    assert graph is not None and graph.nodes == diamond()
    assert [r.run_id for r in store.runs_of_schedule("nightly")] == [RUN]


def test_create_run_replaces_nothing_but_a_skipped_run_of_no_jobs(store: RunStore) -> None:
    # GIVEN a SKIPPED run that has jobs, a CREATING run of no jobs, and no run at all
    assert store.create_run(new_run("skipped-with-jobs"), status=RunStatus.SKIPPED, reason="policy")
    assert store.create_run(new_run("creating-empty", nodes={}))
    # WHEN each is replaced
    replaced = {
        run_id: store.create_run(new_run(run_id, nodes=fan_out(2)), replace_skipped=True)
        for run_id in ("skipped-with-jobs", "creating-empty", "no-such-run")
    }
    # THEN none is, and each stays as it was
    assert replaced == {"skipped-with-jobs": False, "creating-empty": False, "no-such-run": False}
    skipped, empty = store.get_run("skipped-with-jobs"), store.get_run("creating-empty")
    assert skipped is not None and (skipped.status, skipped.job_count) == (RunStatus.SKIPPED, 4)
    assert skipped.reason == "policy"
    assert empty is not None and (empty.status, empty.job_count) == (RunStatus.CREATING, 0)
    assert store.get_run("no-such-run") is None
    assert store.load_run_graph("no-such-run") is None
    graph = store.load_run_graph("skipped-with-jobs")
    assert graph is not None and set(graph.nodes) == {"a", "b", "c", "d"}


def test_the_graph_snapshot_round_trips(store: RunStore) -> None:
    # GIVEN a run of a diamond whose sink waits for all its upstreams to be done
    nodes = diamond(rule=TriggerRule.ALL_DONE)
    nodes["b"] = replace(nodes["b"], params={"deep": {"list": [1, 2.5, "x"], "flag": True}})
    nodes["c"] = replace(nodes["c"], max_continuations=5)
    # each job's rank, the path ahead of it (cronlane.priority), in seconds
    nodes = {
        name: replace(n, rank=r) for (name, n), r in zip(nodes.items(), (12.5, 7.25, 3.0, 0.125), strict=True)
    }
    assert store.create_run(new_run(nodes=nodes))
    # WHEN its graph snapshot is read
    graph = store.load_run_graph(RUN)
    # THEN it is the graph it was created with, with its sinks' slots
    assert graph is not None
    assert graph.nodes == nodes
    assert graph.nodes["d"].trigger_rule is TriggerRule.ALL_DONE
    assert [graph.nodes[n].rank for n in "abcd"] == [12.5, 7.25, 3.0, 0.125]
    assert graph.slots == sink_slots(nodes)
    assert set(graph.slots) == {"d"}
    assert (graph.run_id, graph.schedule, graph.scheduled_time, graph.expires_at) == (
        RUN,
        "nightly",
        T0,
        EXPIRES_AT,
    )
    assert store.load_run_graph("no-such-run") is None


def test_lane_numbers_count_up_per_job_and_a_graph_keeps_its_lanes(store: RunStore) -> None:
    # GIVEN each job's counter of lane numbers, taken by runs of different jobs in turn
    first = store.take_lane_numbers(["a", "b"])
    between = store.take_lane_numbers(["c"])
    second = store.take_lane_numbers(["b", "a"])
    # THEN each job's counter counts up one at a time, and a run of other jobs takes none of it
    assert first == {"a": 1, "b": 1} and between == {"c": 1} and second == {"a": 2, "b": 2}
    assert store.take_lane_numbers([]) == {}
    # and a run's graph keeps each job's lane and its dependents', and job-runs carry them
    nodes = diamond()
    nodes["a"] = replace(nodes["a"], lane=1, dependent_lanes=(1, 0))
    nodes["b"] = replace(nodes["b"], lane=1)
    assert store.create_run(new_run(nodes=nodes))
    graph = store.load_run_graph(RUN)
    assert graph is not None and graph.nodes == nodes
    claimed = store.claim(RUN, "a", 0, T0, LEASE_S, graph=graph)
    assert claimed is not None and (claimed.lane, claimed.lane_of(nodes["a"].dependents[0])) == (1, 1)


def test_get_run_shows_what_the_run_was_created_with(store: RunStore) -> None:
    # GIVEN a manual run with parameters, a deadline and a fingerprint
    run = new_run(
        "manual@key-1",
        schedule="manual",
        trigger=Trigger.MANUAL,
        parameters={"day": "2026-11-28", "limits": {"rows": 10, "tags": ["a", "b"]}},
        fingerprint="abc123",
        deadline_at=T0 + 3600,
        max_active=2,
        nodes=fan_out(3),
    )
    assert store.create_run(run, reason="asked for by ops")
    # WHEN it is read
    view = store.get_run("manual@key-1")
    # THEN it shows all of it
    assert view is not None
    assert view.status is RunStatus.CREATING
    assert view.trigger is Trigger.MANUAL and isinstance(view.trigger, Trigger)
    assert (view.job_count, view.sink_count) == (4, 3)
    assert view.parameters == {"day": "2026-11-28", "limits": {"rows": 10, "tags": ["a", "b"]}}
    assert (view.schedule, view.scheduled_time, view.created_at) == ("manual", T0, T0 + 1)
    assert (view.request_hash, view.deadline_at, view.max_active) == ("abc123", T0 + 3600, 2)
    assert view.reason == "asked for by ops"
    assert (view.started_at, view.finished_at, view.cancel_requested_at) == (None, None, None)
    assert (view.succeeded, view.failed, view.skipped, view.cancelled, view.touched) == (0, 0, 0, 0, False)
    assert store.get_run("no-such-run") is None


def test_a_run_created_terminal_is_finished_when_created(store: RunStore) -> None:
    # GIVEN / WHEN a tick recorded as SKIPPED
    assert store.create_run(new_run(nodes={}), status=RunStatus.SKIPPED, reason="paused")
    # THEN it finished when it was created, with its reason and no jobs
    view = store.get_run(RUN)
    assert view is not None
    assert (view.status, view.reason, view.finished_at) == (RunStatus.SKIPPED, "paused", T0 + 1)
    assert (view.job_count, view.sink_count) == (0, 0)
    graph = store.load_run_graph(RUN)
    assert graph is not None and graph.nodes == {} and graph.slots == {}


# -- 2. claiming a job-run ------------------------------------------------------------------------


def test_a_first_claim_writes_the_job_run_running_under_a_lease(store: RunStore) -> None:
    # GIVEN a run whose job a has no record
    graph = created(store)
    assert store.written_job_run(RUN, "a") is None
    # WHEN a is claimed
    view = store.claim(RUN, "a", 0, T0 + 10, LEASE_S, queued_at=T0 + 5, graph=graph)
    # THEN it is RUNNING as attempt 1 under a lease, and so reads back
    assert view is not None
    for seen in (view, written(store, "a")):
        assert (seen.status, seen.attempts, seen.generation) == (JobStatus.RUNNING, 1, 0)
        assert seen.lease_expires_at == T0 + 10 + LEASE_S
        assert (seen.enqueued_at, seen.started_at, seen.attempt_started_at) == (T0 + 5, T0 + 10, T0 + 10)
        assert (seen.run_id, seen.job, seen.max_attempts, seen.timeout_s) == (RUN, "a", 3, 600)
        assert (seen.depends_on, seen.dependents, seen.dependent_fan_in) == ((), ("b", "c"), (1, 1))
        assert (seen.params, seen.function, seen.group) == ({"n": 1}, "fixture_jobs.jobs:a", "feed")
        assert (seen.schedule, seen.scheduled_time) == ("nightly", T0)
        assert (seen.history, seen.finished_at, seen.error) == ([], None, None)


def test_a_claimed_job_run_is_held(store: RunStore) -> None:
    # GIVEN a job-run claimed under a lease
    graph = created(store)
    first = claimed(store, graph, "a")
    # WHEN it is claimed again before the lease expires: by the same generation, and by another
    again = store.claim(RUN, "a", 0, T0 + 20, LEASE_S, queued_at=T0 + 5, graph=graph)
    other = store.claim(RUN, "a", 1, T0 + 20, LEASE_S, queued_at=T0 + 5, graph=graph)
    # THEN neither gets it, and it is still the first attempt
    assert again is None and other is None
    held = written(store, "a")
    assert (held.status, held.attempts) == (JobStatus.RUNNING, 1)
    assert held.lease_expires_at == first.lease_expires_at == T0 + 10 + LEASE_S


def test_a_claim_of_another_generation_writes_nothing(store: RunStore) -> None:
    # GIVEN a run whose job b has no record (its generation is 0)
    graph = created(store)
    # WHEN a message of generation 1 claims it
    view = store.claim(RUN, "b", 1, T0 + 10, LEASE_S, graph=graph)
    # THEN it is refused and nothing is written
    assert view is None
    assert store.written_job_run(RUN, "b") is None
    assert store.states(RUN, ["b"]) == {}


def test_an_expired_lease_is_taken_over_as_a_new_attempt(store: RunStore) -> None:
    # GIVEN attempt 1 of a, whose executor died: its lease expired
    graph = created(store)
    first = claimed(store, graph, "a", now=T0 + 10)
    later = after_lease(first)
    # WHEN it is claimed again
    view = store.claim(RUN, "a", 0, later, LEASE_S, graph=graph)
    # THEN it is taken over as attempt 2, and the lost attempt is in the history
    assert view is not None
    for seen in (view, written(store, "a")):
        assert (seen.status, seen.attempts) == (JobStatus.RUNNING, 2)
        assert seen.lease_expires_at == later + LEASE_S
        assert (seen.started_at, seen.attempt_started_at) == (T0 + 10, later)
        assert len(seen.history) == 1
        lost = seen.history[0]
        assert (lost["attempt"], lost["started_at"], lost["finished_at"]) == (1, iso(T0 + 10), None)
        assert lost["error"] == LOST_ATTEMPT


def test_no_claim_past_max_attempts(store: RunStore) -> None:
    # GIVEN a job of 2 attempts whose both attempts were lost (their leases expired)
    graph = created(store, new_run(nodes=diamond(max_attempts=2)))
    first = claimed(store, graph, "a", now=T0 + 10)
    second = store.claim(RUN, "a", 0, after_lease(first), LEASE_S, graph=graph)
    assert second is not None and second.attempts == 2
    # WHEN it is claimed once more after the second lease expired
    third = store.claim(RUN, "a", 0, after_lease(second), LEASE_S, graph=graph)
    # THEN there is no third attempt
    assert third is None
    held = written(store, "a")
    assert (held.status, held.attempts, len(held.history)) == (JobStatus.RUNNING, 2, 1)


# -- 3. finishing ---------------------------------------------------------------------------------


def test_only_the_attempt_holding_the_job_run_finishes_it(store: RunStore) -> None:
    # GIVEN attempt 1 of a, taken over as attempt 2 after its lease expired
    graph = created(store)
    stale = claimed(store, graph, "a", now=T0 + 10)
    current = store.claim(RUN, "a", 0, after_lease(stale), LEASE_S, graph=graph)
    assert current is not None
    # WHEN attempt 1 comes back and records an outcome
    succeeded = store.finish(stale, JobStatus.SUCCEEDED, T0 + 2000, 5.0)
    failed = store.finish(stale, JobStatus.FAILED, T0 + 2000, 5.0, error="late", graph=graph)
    # THEN it is refused and nothing changes
    assert succeeded is False and failed is False
    held = written(store, "a")
    assert (held.status, held.attempts, held.error, held.finished_at) == (JobStatus.RUNNING, 2, None, None)
    assert counts(store) == (0, 0, 0, 0)
    # WHEN attempt 2 succeeds THEN it is recorded
    assert store.finish(current, JobStatus.SUCCEEDED, T0 + 2100, 12.3456)
    done = written(store, "a")
    assert (done.status, done.finished_at, done.duration_s) == (JobStatus.SUCCEEDED, T0 + 2100, 12.346)
    assert done.lease_expires_at is None
    # and a success is not counted on the run
    assert counts(store) == (0, 0, 0, 0)
    # AND finishing it again is refused
    assert store.finish(current, JobStatus.FAILED, T0 + 2200, 1.0, error="again", graph=graph) is False
    assert written(store, "a").status is JobStatus.SUCCEEDED
    assert counts(store) == (0, 0, 0, 0)


def test_a_failure_is_counted_on_the_run_and_a_sink_in_its_shard(store: RunStore) -> None:
    # GIVEN the sink d running, none of the run's sinks ended
    graph = created(store)
    view = claimed(store, graph, "d")
    assert store.sinks_finished(RUN, 1) is False
    entry = {"attempt": 1, "error": "boom"}
    # WHEN it fails
    assert store.finish(view, JobStatus.FAILED, T0 + 50, 40.0, error="boom", history_entry=entry, graph=graph)
    # THEN the job-run, the run's counter and the sink's shard all show it
    failed = written(store, "d")
    assert (failed.status, failed.error, failed.finished_at) == (JobStatus.FAILED, "boom", T0 + 50)
    assert failed.history == [entry]
    assert counts(store) == (0, 1, 0, 0)
    assert store.sinks_finished(RUN, 1) is True


# -- 4. skipping and cancelling -------------------------------------------------------------------


def test_skip_writes_a_waiting_job_run_skipped_and_counts_it_once(store: RunStore) -> None:
    # GIVEN b, which has no record
    graph = created(store)
    # WHEN it is skipped, and skipped again
    first = store.skip(graph, "b", "upstream a failed", T0 + 30)
    second = store.skip(graph, "b", "upstream a failed again", T0 + 40)
    # THEN it is SKIPPED with its reason, counted once
    assert (first, second) == (True, False)
    view = written(store, "b")
    assert (view.status, view.reason, view.finished_at) == (JobStatus.SKIPPED, "upstream a failed", T0 + 30)
    assert (view.attempts, view.generation, view.depends_on) == (0, 0, ("a",))
    assert counts(store) == (0, 0, 1, 0)


def test_cancel_job_writes_a_waiting_job_run_cancelled_and_counts_it_once(store: RunStore) -> None:
    # GIVEN the sink d, which has no record
    graph = created(store)
    # WHEN it is cancelled, and cancelled again
    first = store.cancel_job(graph, "d", T0 + 30)
    second = store.cancel_job(graph, "d", T0 + 40)
    # THEN it is CANCELLED with a reason, counted once, and its shard has it
    assert (first, second) == (True, False)
    view = written(store, "d")
    assert (view.status, view.finished_at) == (JobStatus.CANCELLED, T0 + 30)
    assert view.reason
    assert counts(store) == (0, 0, 0, 1)
    assert store.sinks_finished(RUN, 1) is True


def test_cancel_job_cancels_a_queued_job_run(store: RunStore) -> None:
    # GIVEN a, given back QUEUED for a retry
    graph = created(store)
    view = claimed(store, graph, "a")
    assert store.retry_later(view, "boom", {"attempt": 1, "error": "boom"})
    # WHEN it is cancelled THEN it is CANCELLED and counted
    assert store.cancel_job(graph, "a", T0 + 60)
    assert written(store, "a").status is JobStatus.CANCELLED
    assert counts(store) == (0, 0, 0, 1)


def test_skip_or_cancel_of_a_running_job_run_changes_nothing(store: RunStore) -> None:
    # GIVEN the sink d running
    graph = created(store)
    claimed(store, graph, "d")
    # WHEN it is skipped, and cancelled
    skipped = store.skip(graph, "d", "upstream failed", T0 + 30)
    cancelled = store.cancel_job(graph, "d", T0 + 30)
    # THEN neither is done: not the job-run, not the counters, not the shard
    assert (skipped, cancelled) == (False, False)
    view = written(store, "d")
    assert (view.status, view.reason, view.finished_at, view.attempts) == (JobStatus.RUNNING, None, None, 1)
    assert counts(store) == (0, 0, 0, 0)
    assert store.sinks_finished(RUN, 1) is False


def test_skip_or_cancel_of_a_job_the_run_does_not_have_changes_nothing(store: RunStore) -> None:
    # GIVEN a run of a, b, c and d
    graph = created(store)
    # WHEN a job it does not have is skipped, and another cancelled
    skipped = store.skip(graph, "not-in-the-run", "upstream failed", T0 + 30)
    cancelled = store.cancel_job(graph, "not-in-the-run-either", T0 + 30)
    # THEN nothing is written or counted, and the run's job-runs read as before
    assert (skipped, cancelled) == (False, False)
    assert store.written_job_run(RUN, "not-in-the-run") is None
    assert store.written_job_run(RUN, "not-in-the-run-either") is None
    assert store.states(RUN, ["not-in-the-run", "not-in-the-run-either"]) == {}
    assert store.written_job_runs(RUN) == []
    assert sorted(v.job for v in store.job_runs(RUN)) == ["a", "b", "c", "d"]
    assert counts(store) == (0, 0, 0, 0)


# -- 5. resetting ---------------------------------------------------------------------------------


def failed_job(store: RunStore, graph: RunGraph, job: str) -> JobRunView:
    view = claimed(store, graph, job)
    assert store.finish(view, JobStatus.FAILED, T0 + 50, 40.0, error="boom", graph=graph)
    return written(store, job)


def test_reset_job_gives_a_failed_job_a_new_life_and_moves_the_counters(store: RunStore) -> None:
    # GIVEN b failed
    graph = created(store)
    view = failed_job(store, graph, "b")
    assert counts(store) == (0, 1, 0, 0)
    # WHEN an operator reruns it
    assert store.reset_job(view, JobStatus.QUEUED, now=T0 + 100, graph=graph)
    # THEN it is QUEUED in a new generation with no attempts, and no longer counted as failed
    reset = written(store, "b")
    assert (reset.status, reset.generation, reset.attempts) == (JobStatus.QUEUED, 1, 0)
    assert (reset.error, reset.finished_at, reset.lease_expires_at) == (None, None, None)
    assert reset.enqueued_at == T0 + 100
    assert counts(store) == (0, 0, 0, 0)
    assert store.states(RUN, ["b"]) == {"b": JobState(JobStatus.QUEUED, 1)}
    # AND only its new generation's message claims it
    assert store.claim(RUN, "b", 0, T0 + 110, LEASE_S, graph=graph) is None
    again = store.claim(RUN, "b", 1, T0 + 110, LEASE_S, graph=graph)
    assert again is not None and (again.attempts, again.generation) == (1, 1)


def test_reset_job_of_a_sink_takes_its_end_back(store: RunStore) -> None:
    # GIVEN the sink d failed: its shard has it
    graph = created(store)
    view = failed_job(store, graph, "d")
    assert store.sinks_finished(RUN, 1) is True
    # WHEN it is reset to run again THEN the run's sinks have not all ended
    assert store.reset_job(view, JobStatus.QUEUED, now=T0 + 100, graph=graph)
    assert store.sinks_finished(RUN, 1) is False
    assert counts(store) == (0, 0, 0, 0)


def test_reset_job_with_a_stale_view_changes_nothing(store: RunStore) -> None:
    # GIVEN b failed, and was then reset once
    graph = created(store)
    view = failed_job(store, graph, "b")
    assert store.reset_job(view, JobStatus.QUEUED, now=T0 + 100, graph=graph)
    # WHEN it is reset with what was seen before (status and generation both changed since),
    # with a view whose status alone is wrong, and with one whose generation alone is
    stale = store.reset_job(view, JobStatus.PENDING, now=T0 + 200, graph=graph)
    wrong_status = store.reset_job(
        replace(view, status=JobStatus.RUNNING, generation=1), JobStatus.PENDING, now=T0 + 200, graph=graph
    )
    wrong_generation = store.reset_job(
        replace(view, status=JobStatus.QUEUED, generation=0), JobStatus.PENDING, now=T0 + 200, graph=graph
    )
    # THEN each is refused and nothing changes
    assert (stale, wrong_status, wrong_generation) == (False, False, False)
    current = written(store, "b")
    assert (current.status, current.generation, current.enqueued_at) == (JobStatus.QUEUED, 1, T0 + 100)
    assert counts(store) == (0, 0, 0, 0)


def test_reset_job_marks_a_never_written_job_succeeded(store: RunStore) -> None:
    # GIVEN the sink d, which has no record: it is PENDING as the graph describes it
    graph = created(store)
    view = store.get_job_run(RUN, "d")
    assert view is not None and (view.status, view.generation) == (JobStatus.PENDING, 0)
    # WHEN an operator vouches for it
    assert store.reset_job(view, JobStatus.SUCCEEDED, reason="verified by hand", now=T0 + 300, graph=graph)
    # THEN it is written SUCCEEDED in a new generation, counted, and its shard has it
    marked = written(store, "d")
    assert (marked.status, marked.generation, marked.attempts) == (JobStatus.SUCCEEDED, 1, 0)
    assert (marked.reason, marked.finished_at) == ("verified by hand", T0 + 300)
    assert (marked.depends_on, marked.max_attempts, marked.function) == (("b", "c"), 3, "fixture_jobs.jobs:d")
    assert counts(store) == (1, 0, 0, 0)
    assert store.sinks_finished(RUN, 1) is True


def test_reset_job_of_a_never_written_job_needs_the_graph(store: RunStore) -> None:
    # GIVEN c, which has no record
    created(store)
    view = store.get_job_run(RUN, "c")
    assert view is not None
    # WHEN it is reset without the graph THEN nothing is written
    assert store.reset_job(view, JobStatus.SUCCEEDED, now=T0 + 300) is False
    assert store.written_job_run(RUN, "c") is None
    assert counts(store) == (0, 0, 0, 0)


def test_reset_job_of_a_job_the_run_does_not_have_changes_nothing(store: RunStore) -> None:
    # GIVEN a run of a, b, c and d, and a view of a waiting job it does not have
    graph = created(store)
    waiting = store.get_job_run(RUN, "b")
    assert waiting is not None
    stranger = replace(waiting, job="not-in-the-run")
    # WHEN an operator marks that job succeeded
    marked = store.reset_job(stranger, JobStatus.SUCCEEDED, now=T0 + 300, graph=graph)
    # THEN nothing is written or counted
    assert marked is False
    assert store.written_job_run(RUN, "not-in-the-run") is None
    assert store.written_job_runs(RUN) == []
    assert counts(store) == (0, 0, 0, 0)


# -- 6. checkpoints and retries -------------------------------------------------------------------


def test_a_checkpointed_attempt_resumes_on_its_continuation(store: RunStore) -> None:
    # GIVEN attempt 1 of a ended its invocation at a checkpoint
    graph = created(store)
    view = claimed(store, graph, "a", now=T0 + 10)
    entry = {"invocation": 1, "ended_at": iso(T0 + 800), "cursor": {"page": 3}}
    assert store.checkpoint(view, json.dumps({"page": 3}), entry, T0 + 800)
    waiting = written(store, "a")
    assert (waiting.status, waiting.continuing, waiting.attempts) == (JobStatus.QUEUED, True, 1)
    assert (waiting.checkpoint, waiting.continuations) == ({"page": 3}, [entry])
    assert (waiting.enqueued_at, waiting.lease_expires_at) == (T0 + 800, None)
    # WHEN its continuation message claims it
    resumed = store.claim(RUN, "a", 0, T0 + 810, LEASE_S, graph=graph, continuation=True)
    # THEN the same attempt goes on from the cursor
    assert resumed is not None
    for seen in (resumed, written(store, "a")):
        assert (seen.status, seen.attempts, seen.continuing) == (JobStatus.RUNNING, 1, False)
        assert (seen.checkpoint, seen.continuations) == ({"page": 3}, [entry])
        assert (seen.started_at, seen.attempt_started_at) == (T0 + 10, T0 + 810)
        assert seen.lease_expires_at == T0 + 810 + LEASE_S
    # AND a second delivery of the continuation finds it held
    assert store.claim(RUN, "a", 0, T0 + 820, LEASE_S, graph=graph, continuation=True) is None


def test_a_checkpointed_job_run_is_claimed_as_a_continuation_of_the_same_attempt(store: RunStore) -> None:
    # GIVEN a checkpointed a
    graph = created(store)
    view = claimed(store, graph, "a", now=T0 + 10)
    assert store.checkpoint(view, json.dumps(["cursor", 7]), {"invocation": 1}, T0 + 800)
    # WHEN a message that is not the continuation claims it
    resumed = store.claim(RUN, "a", 0, T0 + 810, LEASE_S, graph=graph)
    # THEN it still continues the same attempt
    assert resumed is not None
    assert (resumed.attempts, resumed.checkpoint, resumed.status) == (1, ["cursor", 7], JobStatus.RUNNING)


def test_a_checkpoint_by_an_attempt_that_lost_the_job_run_is_refused(store: RunStore) -> None:
    # GIVEN attempt 1 of a, taken over as attempt 2
    graph = created(store)
    stale = claimed(store, graph, "a", now=T0 + 10)
    assert store.claim(RUN, "a", 0, after_lease(stale), LEASE_S, graph=graph) is not None
    # WHEN attempt 1 checkpoints THEN it is refused
    assert store.checkpoint(stale, json.dumps({"page": 1}), {"invocation": 1}, T0 + 2000) is False
    current = written(store, "a")
    assert (current.status, current.checkpoint, current.continuations) == (JobStatus.RUNNING, None, [])


def test_retry_later_gives_the_attempt_back_queued_with_its_error(store: RunStore) -> None:
    # GIVEN attempt 1 of a
    graph = created(store)
    view = claimed(store, graph, "a", now=T0 + 10)
    entry = {"attempt": 1, "started_at": iso(T0 + 10), "error": "timeout talking to the API"}
    # WHEN it fails and is given back for a retry
    assert store.retry_later(view, "timeout talking to the API", entry)
    # THEN it is QUEUED with its error and history
    queued = written(store, "a")
    assert (queued.status, queued.error, queued.history) == (
        JobStatus.QUEUED,
        "timeout talking to the API",
        [entry],
    )
    assert (queued.attempts, queued.lease_expires_at) == (1, None)
    # AND the retry claims it as attempt 2, its history kept
    retry = store.claim(RUN, "a", 0, T0 + 100, LEASE_S, graph=graph)
    assert retry is not None
    assert (retry.attempts, retry.status, retry.history) == (2, JobStatus.RUNNING, [entry])
    assert (retry.started_at, retry.attempt_started_at) == (T0 + 10, T0 + 100)
    # AND attempt 1 can no longer give it back
    assert store.retry_later(view, "late", {"attempt": 1}) is False
    assert written(store, "a").status is JobStatus.RUNNING


# -- 7. states ------------------------------------------------------------------------------------


def test_states_reads_only_written_job_runs(store: RunStore) -> None:
    # GIVEN a running, b skipped, c failed and reset, d never written
    graph = created(store)
    claimed(store, graph, "a")
    assert store.skip(graph, "b", "policy", T0 + 20)
    view = failed_job(store, graph, "c")
    assert store.reset_job(view, JobStatus.PENDING, now=T0 + 60, graph=graph)
    # WHEN their states are read
    states = store.states(RUN, ["a", "b", "c", "d", "d"])
    # THEN each written one has its status and generation (a running one its lease: a release
    # sends again a job left running under an expired one), and the others are left out
    assert states == {
        "a": JobState(JobStatus.RUNNING, 0, T0 + 10 + LEASE_S),
        "b": JobState(JobStatus.SKIPPED, 0),
        "c": JobState(JobStatus.PENDING, 1),
    }
    assert store.states(RUN, ["c"]) == {"c": JobState(JobStatus.PENDING, 1)}
    assert store.states(RUN, ["d"]) == {}
    assert store.states(RUN, []) == {}
    assert store.states("no-such-run", ["a", "b"]) == {}


# -- 8. a run's status ----------------------------------------------------------------------------


def test_set_run_status_is_conditional_on_the_expected_status(store: RunStore) -> None:
    # GIVEN a CREATING run
    created(store)
    # WHEN it starts, and a second start expects it CREATING still
    started = store.set_run_status(RUN, RunStatus.CREATING, RunStatus.RUNNING, T0 + 5)
    again = store.set_run_status(RUN, RunStatus.CREATING, RunStatus.FAILED, T0 + 6)
    # THEN only the first is made
    assert (started, again) == (True, False)
    run = store.get_run(RUN)
    assert run is not None
    assert (run.status, run.started_at, run.finished_at) == (RunStatus.RUNNING, T0 + 5, None)
    # WHEN it closes with its exact counts THEN it is finished with them
    closing = RunCounts(succeeded=2, failed=1, skipped=1, cancelled=0)
    assert store.set_run_status(RUN, RunStatus.RUNNING, RunStatus.FAILED, T0 + 90, counts=closing)
    closed = store.get_run(RUN)
    assert closed is not None
    assert (closed.status, closed.started_at, closed.finished_at) == (RunStatus.FAILED, T0 + 5, T0 + 90)
    assert counts(store) == (2, 1, 1, 0)
    assert store.set_run_status("no-such-run", RunStatus.CREATING, RunStatus.RUNNING, T0) is False
    assert store.get_run("no-such-run") is None


def test_reopen_run_sets_it_running_and_touched(store: RunStore) -> None:
    # GIVEN a run that succeeded
    created(store)
    assert store.set_run_status(RUN, RunStatus.CREATING, RunStatus.RUNNING, T0 + 5)
    assert store.set_run_status(RUN, RunStatus.RUNNING, RunStatus.SUCCEEDED, T0 + 90, counts=RunCounts(4))
    # WHEN an operator reruns a job of it
    assert store.reopen_run(RUN, T0 + 200)
    # THEN it is RUNNING again, not finished, and touched
    run = store.get_run(RUN)
    assert run is not None
    assert (run.status, run.finished_at, run.touched, run.clean) == (RunStatus.RUNNING, None, True, False)
    assert store.reopen_run("no-such-run", T0 + 200) is False
    assert store.get_run("no-such-run") is None


def test_request_cancel_only_for_a_creating_or_running_run(store: RunStore) -> None:
    # GIVEN a CREATING run, a RUNNING run and a SUCCEEDED run
    created(store, new_run("creating"))
    created(store, new_run("running"), status=RunStatus.RUNNING)
    created(store, new_run("done"), status=RunStatus.SUCCEEDED)
    # WHEN each is cancelled (the first twice)
    answers = [
        store.request_cancel("creating", T0 + 10),
        store.request_cancel("creating", T0 + 20),
        store.request_cancel("running", T0 + 30),
        store.request_cancel("done", T0 + 40),
        store.request_cancel("no-such-run", T0 + 50),
    ]
    # THEN the active ones note it, the first time counting, and the others refuse
    assert answers == [True, True, True, False, False]
    seen = {r: store.get_run(r) for r in ("creating", "running", "done", "no-such-run")}
    assert {r: v.cancel_requested_at if v else "absent" for r, v in seen.items()} == {
        "creating": T0 + 10,
        "running": T0 + 30,
        "done": None,
        "no-such-run": "absent",
    }


def test_mark_deadline_reported_is_true_once(store: RunStore) -> None:
    # GIVEN a run with a deadline
    created(store, new_run(deadline_at=T0 + 60))
    # WHEN its missed deadline is reported twice THEN only the first counts
    assert store.mark_deadline_reported(RUN, T0 + 61) is True
    assert store.mark_deadline_reported(RUN, T0 + 62) is False
    # AND a run that does not exist is not made by it
    assert store.mark_deadline_reported("no-such-run", T0 + 61) is False
    assert store.get_run("no-such-run") is None


# -- 9. a schedule's runs -------------------------------------------------------------------------


def test_runs_of_schedule_are_newest_fire_time_first(store: RunStore) -> None:
    # GIVEN four nightly runs created out of order, and an hourly one
    for day in (2, 0, 3, 1):
        assert store.create_run(new_run(f"nightly-{day}", scheduled_time=T0 + day * DAY))
    assert store.create_run(new_run("hourly-0", schedule="hourly"))
    # WHEN the nightly runs are listed
    every = store.runs_of_schedule("nightly")
    newest = store.runs_of_schedule("nightly", limit=2)
    # THEN the newest fire time comes first, up to the limit
    assert [r.run_id for r in every] == ["nightly-3", "nightly-2", "nightly-1", "nightly-0"]
    assert [r.run_id for r in newest] == ["nightly-3", "nightly-2"]
    assert [r.scheduled_time for r in newest] == [T0 + 3 * DAY, T0 + 2 * DAY]
    assert [r.run_id for r in store.runs_of_schedule("hourly")] == ["hourly-0"]
    assert store.runs_of_schedule("weekly") == []


def test_active_runs_are_the_runs_not_over_oldest_first(store: RunStore) -> None:
    # GIVEN runs of the nightly schedule in every status, created out of fire-time order
    runs = [
        ("n3", 3, Trigger.SCHEDULE, RunStatus.RUNNING),
        ("n0", 0, Trigger.BACKFILL, RunStatus.BUFFERED),
        ("n5", 5, Trigger.SCHEDULE, RunStatus.SUCCEEDED),
        ("n2", 2, Trigger.MANUAL, RunStatus.CREATING),
        ("n1", 1, Trigger.SCHEDULE, RunStatus.FAILED),
        ("n6", 6, Trigger.CATCH_UP, RunStatus.SKIPPED),
        ("n4", 4, Trigger.BACKFILL, RunStatus.CANCELLED),
        ("n7", 7, Trigger.BACKFILL, RunStatus.RUNNING),
        ("n8", 8, Trigger.CATCH_UP, RunStatus.BUFFERED),
    ]
    for run_id, day, trigger, status in runs:
        assert store.create_run(
            new_run(run_id, scheduled_time=T0 + day * DAY, trigger=trigger), status=status
        )
    assert store.create_run(new_run("hourly-0", schedule="hourly"), status=RunStatus.RUNNING)
    # WHEN its active runs are listed
    active = store.active_runs("nightly")
    # THEN they are the CREATING, RUNNING and BUFFERED ones but backfill runs (which have slots
    # of their own), oldest fire time first, as they are
    assert [(r.run_id, r.status, r.trigger) for r in active] == [
        ("n2", RunStatus.CREATING, Trigger.MANUAL),
        ("n3", RunStatus.RUNNING, Trigger.SCHEDULE),
        ("n8", RunStatus.BUFFERED, Trigger.CATCH_UP),
    ]
    assert (active[0].job_count, active[0].parameters) == (4, {"day": "2026-11-28"})
    assert [r.run_id for r in store.active_runs("hourly")] == ["hourly-0"]


def test_buffered_runs_are_listed_oldest_first_from_the_moment_they_are_created(store: RunStore) -> None:
    # GIVEN buffered ticks, caught-up and backfill runs of one schedule, created out of order
    for run_id, day, trigger in [
        ("b3", 3, Trigger.BACKFILL),
        ("t2", 2, Trigger.SCHEDULE),
        ("b1", 1, Trigger.BACKFILL),
        ("c0", 0, Trigger.CATCH_UP),
        ("b2", 2, Trigger.BACKFILL),
    ]:
        run = new_run(run_id, scheduled_time=T0 + day * DAY, trigger=trigger, max_active=2)
        assert store.create_run(run, status=RunStatus.BUFFERED)
    # WHEN each list is read
    ticks = store.buffered_runs("nightly", backfill=False, limit=10)
    backfill = store.buffered_runs("nightly", backfill=True, limit=2)
    # THEN each has its own, oldest first, up to the limit
    assert [r.run_id for r in ticks] == ["c0", "t2"]
    assert [r.run_id for r in backfill] == ["b1", "b2"]
    # AND a run that started is off its list
    assert store.start_buffered(backfill[0], T0)
    assert [r.run_id for r in store.buffered_runs("nightly", backfill=True, limit=10)] == ["b2", "b3"]
    assert store.start_buffered(ticks[0], T0)
    assert [r.run_id for r in store.buffered_runs("nightly", backfill=False, limit=10)] == ["t2"]
    assert store.buffered_runs("hourly", backfill=False, limit=10) == []
    assert store.active_runs("weekly") == []


def test_a_run_is_active_exactly_while_its_status_is(store: RunStore) -> None:
    # GIVEN a CREATING run, with ended runs after it
    created(store, new_run("n0", scheduled_time=T0))
    for day in range(1, 6):
        created(store, new_run(f"n{day}", scheduled_time=T0 + day * DAY), status=RunStatus.SUCCEEDED)

    def active() -> list[str]:
        return [r.run_id for r in store.active_runs("nightly")]

    assert active() == ["n0"]
    # WHEN it starts THEN it is still active
    assert store.set_run_status("n0", RunStatus.CREATING, RunStatus.RUNNING, T0 + 5)
    assert active() == ["n0"]
    # WHEN it closes THEN it is not
    assert store.set_run_status("n0", RunStatus.RUNNING, RunStatus.FAILED, T0 + 90)
    assert active() == []
    # WHEN an operator reopens it, and another ended run THEN both are active again
    assert store.reopen_run("n0", T0 + 200)
    assert store.reopen_run("n3", T0 + 200)
    assert active() == ["n0", "n3"]
    # WHEN one closes again THEN the other alone is active
    assert store.set_run_status("n3", RunStatus.RUNNING, RunStatus.SUCCEEDED, T0 + 300)
    assert active() == ["n0"]


def test_a_run_set_running_again_is_active(store: RunStore) -> None:
    # GIVEN a run that ended
    created(store, status=RunStatus.RUNNING)
    assert store.set_run_status(RUN, RunStatus.RUNNING, RunStatus.CANCELLED, T0 + 90)
    assert store.active_runs("nightly") == []
    # WHEN its status is set back to RUNNING (set_run_status takes any expected -> new)
    assert store.set_run_status(RUN, RunStatus.CANCELLED, RunStatus.RUNNING, T0 + 100)
    # THEN it is RUNNING, so it is one of the schedule's active runs
    run = store.get_run(RUN)
    assert run is not None and run.status is RunStatus.RUNNING
    assert [r.run_id for r in store.active_runs("nightly")] == [RUN]


def test_a_skipped_tick_replaced_by_a_run_is_active(store: RunStore) -> None:
    # GIVEN a tick recorded as a SKIPPED run of no jobs
    assert store.create_run(new_run(nodes={}), status=RunStatus.SKIPPED, reason="paused")
    assert store.active_runs("nightly") == []
    # WHEN a run replaces it THEN that run is active
    assert store.create_run(new_run(), replace_skipped=True)
    assert [(r.run_id, r.status) for r in store.active_runs("nightly")] == [(RUN, RunStatus.CREATING)]


# -- 10. schedules --------------------------------------------------------------------------------


def test_a_paused_schedule_has_its_reason(store: RunStore) -> None:
    # GIVEN a schedule never paused
    assert store.paused_reason("nightly") is None
    # WHEN it is paused, with a reason and then with none, and resumed
    store.set_paused("nightly", True, "maintenance window", T0)
    with_reason = store.paused_reason("nightly")
    store.set_paused("nightly", True, None, T0 + 1)
    without = store.paused_reason("nightly")
    store.set_paused("nightly", False, None, T0 + 2)
    resumed = store.paused_reason("nightly")
    # THEN it says so
    assert (with_reason, without, resumed) == ("maintenance window", "paused", None)
    assert store.paused_reason("hourly") is None


def test_advance_watch_claims_each_stretch_of_fire_times_once(store: RunStore) -> None:
    definition = "cron(0 2 * * ? *)|UTC"
    # GIVEN / WHEN the first tick of a new definition
    # THEN there is nothing to check yet: the watch starts at the tick
    assert store.advance_watch("nightly", definition, T0, T0) is None
    # WHEN later ticks check up to later times
    # THEN each gets where the last check ended
    assert store.advance_watch("nightly", definition, T0 + DAY, T0 + DAY) == T0
    assert store.advance_watch("nightly", definition, T0 + 2 * DAY, T0 + 2 * DAY) == T0 + DAY
    # WHEN a tick checks up to a time already checked THEN there is nothing to check
    assert store.advance_watch("nightly", definition, T0 + DAY, T0 + DAY) is None
    assert store.advance_watch("nightly", definition, T0 + 2 * DAY, T0 + 2 * DAY) is None
    # AND that did not move the watch back
    assert store.advance_watch("nightly", definition, T0 + 3 * DAY, T0 + 3 * DAY) == T0 + 2 * DAY
    # WHEN the definition changes THEN it starts afresh at the tick
    changed = "cron(0 3 * * ? *)|UTC"
    assert store.advance_watch("nightly", changed, T0 + 4 * DAY, T0 + 4 * DAY) is None
    assert store.advance_watch("nightly", changed, T0 + 5 * DAY, T0 + 5 * DAY) == T0 + 4 * DAY
    # AND another schedule has a watch of its own
    assert store.advance_watch("hourly", definition, T0, T0 + DAY) is None


# -- 11. sinks ------------------------------------------------------------------------------------


def test_sinks_finished_once_every_sink_is_marked(store: RunStore) -> None:
    # GIVEN a run of three sinks
    graph = created(store, new_run(nodes=fan_out(3)))
    # WHEN they end one by one, one of them twice
    marks = [store.mark_sink(graph, "s000"), store.mark_sink(graph, "s000"), store.mark_sink(graph, "s001")]
    # THEN the shard is not full and the run's sinks have not all ended
    assert marks == [False, False, False]
    assert store.sinks_finished(RUN, 3) is False
    # WHEN the last ends THEN its mark fills the shard and the sinks have all ended
    assert store.mark_sink(graph, "s002") is True
    assert store.sinks_finished(RUN, 3) is True
    # AND marking again is harmless
    assert store.mark_sink(graph, "s001") is True
    assert store.sinks_finished(RUN, 3) is True
    # AND a job that is not a sink is not counted
    assert store.mark_sink(graph, "root") is False
    # AND another run's sinks are its own
    assert store.sinks_finished("no-such-run", 3) is False


def test_sinks_are_counted_in_shards_of_a_hundred(store: RunStore) -> None:
    # GIVEN a run of 101 sinks: the first shard holds 100, the second 1
    graph = created(store, new_run(nodes=fan_out(101)))
    assert graph.slots["s100"].shard == 1
    # WHEN the sink alone in the second shard ends
    # THEN that fills its shard, but the run's sinks have not all ended
    assert store.mark_sink(graph, "s100") is True
    assert store.sinks_finished(RUN, 101) is False
    # WHEN every other sink ends THEN they have
    marks = [store.mark_sink(graph, f"s{i:03d}") for i in range(100)]
    assert marks == [False] * 99 + [True]
    assert store.sinks_finished(RUN, 101) is True


def test_a_join_set_is_full_once_it_holds_its_size_and_adding_again_is_harmless(store: RunStore) -> None:
    # GIVEN a run with a job of many upstreams
    graph = created(store, new_run(nodes=fan_out(3)))
    # WHEN its upstreams' numbers come one by one into a shard of three, one twice
    adds = [store.join(RUN, "j", 0, {n}, 3, graph.expires_at) for n in (0, 0, 1)]
    # THEN the shard is not full until the third
    assert adds == [False, False, False]
    assert store.join(RUN, "j", 0, {2}, 3, graph.expires_at) is True
    assert store.join(RUN, "j", 0, {1}, 3, graph.expires_at) is True  # again: still full
    # AND another shard, the top set and another job's sets are their own
    assert store.join(RUN, "j", 1, {100}, 2, graph.expires_at) is False
    assert store.join(RUN, "j", None, {0}, 2, graph.expires_at) is False
    assert store.join(RUN, "j", None, {1}, 2, graph.expires_at) is True
    assert store.join(RUN, "k", 0, {0, 1}, 3, graph.expires_at) is False
    # AND several numbers may come in one add
    assert store.join(RUN, "k", 0, {2, 1}, 3, graph.expires_at) is True


def test_a_wide_job_reads_back_whole_though_its_lists_are_left_to_the_graph(store: RunStore) -> None:
    # GIVEN a run whose root has more dependents than an item keeps (model.LISTS_KEPT)
    graph = created(store, new_run(nodes=fan_out(LISTS_KEPT + 10)))
    # WHEN the root is claimed, and read back alone and with the run's job-runs
    view = claimed(store, graph, "root")
    alone = store.get_job_run(RUN, "root")
    listed = {v.job: v for v in store.job_runs(RUN, include_waiting=False)}["root"]
    # THEN each has its dependents, their fan-in and lanes, as the graph has them
    node = graph.nodes["root"]
    for read in (view, alone, listed):
        assert read is not None
        assert read.dependents == node.dependents and len(read.dependents) == LISTS_KEPT + 10
        assert read.dependent_fan_in == node.dependent_fan_in


def test_a_run_of_more_than_200_jobs_reads_and_counts_the_same_though_spread(store: RunStore) -> None:
    # GIVEN a run of 301 jobs (over store.keys.SPREAD_FROM: its items spread over keys)
    width = 300
    graph = created(store, new_run(nodes=fan_out(width)))
    assert graph.spread > 1
    # WHEN its root and three sinks run, one fails, and the others are skipped
    root = claimed(store, graph, "root")
    assert store.finish(root, JobStatus.SUCCEEDED, T0 + 20, 1.0, graph=graph, result='{"rows": 3}')
    for name in ("s000", "s001"):
        assert store.finish(claimed(store, graph, name), JobStatus.SUCCEEDED, T0 + 30, 1.0, graph=graph)
        store.mark_sink(graph, name)
    assert store.finish(claimed(store, graph, "s002"), JobStatus.FAILED, T0 + 30, 1.0, error="x", graph=graph)
    for i in range(3, width):
        assert store.skip(graph, f"s{i:03d}", "upstream failed", T0 + 40)
    # THEN each job-run reads back where it was written, alone, listed and by state
    assert written(store, "s001").status is JobStatus.SUCCEEDED
    listed = store.job_runs(RUN, include_waiting=False)
    assert len(listed) == width + 1 and {v.job for v in listed} == set(graph.nodes)
    states = store.states(RUN, ["root", "s002", "s299", "s150"])
    assert {j: s.status for j, s in states.items()} == {
        "root": JobStatus.SUCCEEDED,
        "s002": JobStatus.FAILED,
        "s299": JobStatus.SKIPPED,
        "s150": JobStatus.SKIPPED,
    }
    assert store.upstream_results(RUN, ["root"]) == {"root": {"rows": 3}}
    # AND the run's counters and its sinks' shards saw every end
    assert counts(store) == (0, 1, width - 3, 0)
    assert store.sinks_finished(RUN, width) is True
    # AND a join set is kept as in any run
    assert store.join(RUN, "s100", 0, {0, 1}, 2, graph.expires_at) is True
    if isinstance(store, DynamoRunStore):  # AND on DynamoDB, no job-run is under the run's own key
        JR = store.JobRun
        assert JR.count(run_pk(RUN), JR.sk.startswith("JOB#"), consistent_read=True) == 0
        assert JR.get(keys.job_pk(RUN, "s001", graph.spread), "JOB#s001", consistent_read=True).job == "s001"
        spread = {k for k in keys.spread_pks(RUN, graph.spread) if JR.count(k, JR.sk.startswith("JOB#")) > 0}
        assert len(spread) == graph.spread  # 301 job-runs over all ten keys


# -- 12. reading job-runs -------------------------------------------------------------------------


def test_job_runs_lists_the_waiting_ones_from_the_graph(store: RunStore) -> None:
    # GIVEN a run whose job a is running and the others have no record
    graph = created(store)
    claimed(store, graph, "a")
    # WHEN its job-runs are listed
    listed = {v.job: v for v in store.job_runs(RUN, include_waiting=True)}
    # THEN each appears once: a as written, the others PENDING from the graph
    assert sorted(listed) == ["a", "b", "c", "d"]
    assert (listed["a"].status, listed["a"].attempts) == (JobStatus.RUNNING, 1)
    for name in ("b", "c", "d"):
        waiting = listed[name]
        assert (waiting.status, waiting.attempts, waiting.generation) == (JobStatus.PENDING, 0, 0)
        assert waiting.depends_on == graph.nodes[name].depends_on
    assert [v.job for v in store.job_runs(RUN, include_waiting=False)] == ["a"]
    assert [v.job for v in store.written_job_runs(RUN)] == ["a"]


def test_job_runs_of_a_running_run_lists_its_roots_queued(store: RunStore) -> None:
    # GIVEN a run nothing of which was written
    created(store, status=RunStatus.RUNNING)
    # WHEN its job-runs are listed with its roots' messages sent
    listed = {v.job: v.status for v in store.job_runs(RUN, include_waiting=True, roots_sent=True)}
    # THEN the root is QUEUED and the others PENDING
    assert listed == {
        "a": JobStatus.QUEUED,
        "b": JobStatus.PENDING,
        "c": JobStatus.PENDING,
        "d": JobStatus.PENDING,
    }
    assert store.job_runs(RUN, include_waiting=False) == []
    assert store.job_runs("no-such-run") == []


def test_get_job_run_describes_a_waiting_job_and_nothing_unknown(store: RunStore) -> None:
    # GIVEN a run nothing of which was written
    graph = created(store)
    # WHEN its jobs are read
    waiting = store.get_job_run(RUN, "b")
    # THEN a waiting one is PENDING as the graph describes it
    assert waiting is not None
    assert (waiting.status, waiting.depends_on, waiting.dependents) == (JobStatus.PENDING, ("a",), ("d",))
    assert (waiting.max_attempts, waiting.timeout_s, waiting.function) == (3, 600, graph.nodes["b"].function)
    # AND an unknown job, or one of an unknown run, is None
    assert store.get_job_run(RUN, "zzz") is None
    assert store.get_job_run("no-such-run", "a") is None
    assert store.get_job_run(RUN, "b", include_waiting=False) is None


# -- restarts, closes and starts on their premises ------------------------------------------------


def a_restart(restart_id: str = "r1") -> Restart:
    return Restart(restart_id, "mark", T0, {"b": RestartStep(JobStatus.FAILED, 0, JobStatus.SUCCEEDED)})


def test_a_restart_reopens_the_run_and_is_there_until_it_ends(store: RunStore) -> None:
    # GIVEN a run that ended FAILED
    created(store)
    assert store.set_run_status(RUN, RunStatus.CREATING, RunStatus.FAILED, T0)
    # WHEN an operator's restart begins
    assert store.begin_restart(RUN, a_restart(), T0 + 5)
    # THEN the run is open again, touched, and names the restart
    run = store.get_run(RUN)
    assert run is not None and run.status is RunStatus.RUNNING and run.touched
    assert run.restart == a_restart() and run.finished_at is None
    # AND a second restart cannot begin while it is there; ending another id changes nothing
    assert not store.begin_restart(RUN, a_restart("r2"), T0 + 6)
    assert not store.end_restart(RUN, "r2")
    assert store.end_restart(RUN, "r1")
    assert store.get_run(RUN).restart is None  # type: ignore[union-attr]
    assert not store.end_restart(RUN, "r1")


def test_a_close_is_refused_while_a_restart_is_under_way(store: RunStore) -> None:
    created(store)
    assert store.set_run_status(RUN, RunStatus.CREATING, RunStatus.FAILED, T0)
    assert store.begin_restart(RUN, a_restart(), T0)
    run = store.get_run(RUN)
    assert run is not None
    # WHEN a closer that read the run closes it
    closed = store.close_run(run, RunStatus.SUCCEEDED, T0 + 1, RunCounts(succeeded=4), clean=False)
    # THEN it is refused and the run stays open with its restart
    assert not closed
    assert store.get_run(RUN).status is RunStatus.RUNNING  # type: ignore[union-attr]
    # AND once the restart ended, the same close goes through
    assert store.end_restart(RUN, "r1")
    run = store.get_run(RUN)
    assert run is not None
    assert store.close_run(run, RunStatus.SUCCEEDED, T0 + 2, RunCounts(succeeded=4), clean=False)
    after = store.get_run(RUN)
    assert after is not None and (after.status, after.succeeded, after.finished_at) == (
        RunStatus.SUCCEEDED,
        4,
        T0 + 2,
    )


def test_a_clean_close_is_refused_once_the_run_was_touched(store: RunStore) -> None:
    # GIVEN a running run read as clean by a closer
    created(store)
    assert store.set_run_status(RUN, RunStatus.CREATING, RunStatus.RUNNING, T0)
    read = store.get_run(RUN)
    assert read is not None and read.clean
    # WHEN an operator reopens it (a restart begins and ends) before the closer writes
    assert store.begin_restart(RUN, a_restart(), T0 + 1)
    assert store.end_restart(RUN, "r1")
    # THEN the close decided on the clean read is refused: the run is still open
    assert not store.close_run(read, RunStatus.SUCCEEDED, T0 + 2, RunCounts(succeeded=4), clean=True)
    assert store.get_run(RUN).status is RunStatus.RUNNING  # type: ignore[union-attr]
    # AND a close decided on the status alone (the job-runs were read) is not
    again = store.get_run(RUN)
    assert again is not None
    assert store.close_run(again, RunStatus.SUCCEEDED, T0 + 3, RunCounts(succeeded=4), clean=False)


def test_a_close_from_a_status_the_run_left_is_refused(store: RunStore) -> None:
    created(store)
    read = store.get_run(RUN)  # CREATING
    assert read is not None
    assert store.set_run_status(RUN, RunStatus.CREATING, RunStatus.RUNNING, T0)
    assert not store.close_run(read, RunStatus.SUCCEEDED, T0 + 1, RunCounts(succeeded=4), clean=False)


def test_backfill_runs_start_no_more_than_their_slots_and_free_them_as_they_close(store: RunStore) -> None:
    # GIVEN three backfill runs, at most two active at once
    for day in range(3):
        run = new_run(f"b{day}", scheduled_time=T0 + day * DAY, trigger=Trigger.BACKFILL, max_active=2)
        assert store.create_run(run, status=RunStatus.BUFFERED)
    views = store.buffered_runs("nightly", backfill=True, limit=10)
    # WHEN each is started (two starters reading the same list both try every run)
    started = [store.start_buffered(v, T0) for v in views]
    again = [store.start_buffered(v, T0) for v in views]
    # THEN two took a slot, the third waits, and no run started twice
    assert started == [True, True, False] and again == [False, False, False]
    assert [store.get_run(f"b{d}").status for d in range(3)] == [  # type: ignore[union-attr]
        RunStatus.CREATING,
        RunStatus.CREATING,
        RunStatus.BUFFERED,
    ]
    # AND when one closes, its slot is free for the third
    first = store.get_run("b0")
    assert first is not None
    assert store.close_run(first, RunStatus.SUCCEEDED, T0 + 1, RunCounts(succeeded=4), clean=False)
    assert store.start_buffered(views[2], T0 + 2)
    assert store.buffered_runs("nightly", backfill=True, limit=10) == []


def test_checked_until_reads_the_watch_without_moving_it(store: RunStore) -> None:
    definition = "cron(0 2 * * ? *)|UTC"
    # GIVEN a new definition: nothing checked yet, and the watch starts at the tick
    assert store.checked_until("nightly", definition, T0) is None
    # WHEN it is read again, and again, before the missed runs are written
    # THEN it says the same each time (a tick that died before advancing is seen again)
    assert store.checked_until("nightly", definition, T0 + DAY) == T0
    assert store.checked_until("nightly", definition, T0 + DAY) == T0
    # WHEN the tick advances it once its runs are written THEN the next read starts there
    assert store.advance_watch("nightly", definition, T0 + DAY, T0 + DAY) == T0
    assert store.checked_until("nightly", definition, T0 + 2 * DAY) == T0 + DAY
    # AND a changed definition starts afresh at its tick
    assert store.checked_until("nightly", "cron(0 3 * * ? *)|UTC", T0 + 3 * DAY) is None
    assert store.checked_until("nightly", "cron(0 3 * * ? *)|UTC", T0 + 4 * DAY) == T0 + 3 * DAY


def test_a_reopened_backfill_run_gives_back_no_slot_it_did_not_take(store: RunStore) -> None:
    # GIVEN a backfill of three runs, one at a time: the first ran and closed, freeing its slot
    for day in range(3):
        run = new_run(f"r{day}", scheduled_time=T0 + day * DAY, trigger=Trigger.BACKFILL, max_active=1)
        assert store.create_run(run, status=RunStatus.BUFFERED)
    views = store.buffered_runs("nightly", backfill=True, limit=10)
    assert store.start_buffered(views[0], T0)
    first = store.get_run("r0")
    assert first is not None and first.holds_slot
    assert store.close_run(first, RunStatus.FAILED, T0 + 1, RunCounts(failed=1), clean=False)
    # WHEN an operator reopens it (a rerun) and it closes again
    assert store.reopen_run("r0", T0 + 2)
    reopened = store.get_run("r0")
    assert reopened is not None and not reopened.holds_slot
    assert store.close_run(reopened, RunStatus.SUCCEEDED, T0 + 3, RunCounts(succeeded=4), clean=False)
    # THEN the backfill still has one slot, not two: the second starts, the third waits
    assert store.start_buffered(views[1], T0 + 4)
    assert not store.start_buffered(views[2], T0 + 4)


# -- handed-off attempts (ecs and callback targets) -------------------------------------------


def hand_off_of(view: JobRunView, started: float, heartbeat_s: int | None = None) -> Any:
    from cronlane.targets import HandOff

    return HandOff(
        target="callback",
        handle="tok-0123456789abcdef",
        attempt=view.attempts,
        started_at=started,
        deadline=started + 1200,
        queue_arn="arn:aws:sqs:us-east-1:123456789012:jobs.fifo",
        receipt="receipt-1",
        heartbeat_s=heartbeat_s,
        token_hash="ab" * 32,
    )


def test_a_handed_off_attempt_holds_the_job_run_until_its_heartbeat_or_timeout(store: RunStore) -> None:
    # GIVEN attempt 1 of a, handed off to a worker with a 120 s heartbeat
    graph = created(store)
    view = claimed(store, graph, "a", now=T0 + 10)
    assert store.hand_off(view, hand_off_of(view, T0 + 10, heartbeat_s=120))
    # THEN it is held until the heartbeat timeout, with its handle, and reads back so
    held = written(store, "a")
    assert held.lease_expires_at == T0 + 130 and held.handle == "tok-0123456789abcdef"
    assert held.hand_off is not None and held.hand_off.token_hash == "ab" * 32
    # WHEN a heartbeat comes THEN the lease moves
    assert store.extend_lease(held, T0 + 250)
    assert written(store, "a").lease_expires_at == T0 + 250
    # WHEN it is lost (no heartbeat) THEN the next claim takes it over, naming the target's silence
    again = store.claim(RUN, "a", 0, T0 + 251, LEASE_S, graph=graph)
    assert again is not None and again.attempts == 2
    lost = written(store, "a").history[0]
    assert (lost["target"], lost["handle"]) == ("callback", "tok-0123456789abcdef")
    assert "sent no heartbeat or completion for 120s" in lost["error"]
    # AND the given-up attempt can neither extend nor hand off any more
    assert store.extend_lease(held, T0 + 400) is False
    assert store.hand_off(view, hand_off_of(view, T0 + 10)) is False


def test_a_late_completion_is_kept_on_the_job_run_and_never_counted(store: RunStore) -> None:
    graph = created(store)
    view = claimed(store, graph, "a", now=T0 + 10)
    assert store.finish(view, JobStatus.SUCCEEDED, T0 + 20, 10.0)
    entry = {"handle": "tok-1", "attempt": 1, "reported": "succeeded", "ignored_because": "twice"}
    assert store.record_late(RUN, "a", entry)
    done = written(store, "a")
    assert done.late_completions == [entry] and done.status is JobStatus.SUCCEEDED
    assert counts(store) == (0, 0, 0, 0)
    # a job-run that never started keeps none
    assert store.record_late(RUN, "b", entry) is False


# -- results (cronlane.results) ----------------------------------------------------------------


def test_a_success_keeps_its_result_and_only_the_attempt_that_succeeded_counts(store: RunStore) -> None:
    # GIVEN a's attempt 1 lost (its executor died), attempt 2 succeeding with a result
    graph = created(store)
    first = claimed(store, graph, "a", now=T0 + 10)
    second = store.claim(RUN, "a", 0, after_lease(first), LEASE_S, graph=graph)
    assert second is not None and second.attempts == 2
    assert store.finish(second, JobStatus.SUCCEEDED, T0 + 2000, 5.0, graph=graph, result='{"rows":7}')
    # THEN the run's results and a's dependents see it
    jobs = store.job_runs(RUN)
    assert store.results(RUN, jobs) == {"a": {"rows": 7}}
    assert store.upstream_results(RUN, ["a", "b"]) == {"a": {"rows": 7}}
    # AND the attempt that lost its lease cannot leave one
    assert not store.finish(first, JobStatus.SUCCEEDED, T0 + 2001, 5.0, graph=graph, result='{"rows":1}')
    assert store.results(RUN, store.job_runs(RUN)) == {"a": {"rows": 7}}


@pytest.mark.parametrize("chars", [1, INLINE_CHARS - 9, INLINE_CHARS - 8, 20_000])
def test_a_result_small_or_large_reads_back_and_a_new_life_reads_only_its_own(
    store: RunStore, chars: int
) -> None:
    # GIVEN a's success with a result of about ``chars`` characters (inline up to INLINE_CHARS)
    graph = created(store)
    text = json.dumps({"s": "x" * chars}, separators=(",", ":"))
    assert len(text) == chars + 8
    view = claimed(store, graph, "a")
    assert store.finish(view, JobStatus.SUCCEEDED, T0 + 20, 5.0, graph=graph, result=text)
    # THEN it reads back whole, from the run's job-runs and as an upstream's
    assert store.results(RUN, store.job_runs(RUN)) == {"a": {"s": "x" * chars}}
    assert store.upstream_results(RUN, ["a"]) == {"a": {"s": "x" * chars}}
    assert (written(store, "a").result is not None) is (len(text) <= INLINE_CHARS)
    # AND after a restart, the new life's own result (of the other kind) is the one read
    assert store.reset_job(written(store, "a"), JobStatus.QUEUED, now=T0 + 100, graph=graph)
    assert written(store, "a").result is None
    other = '{"small":1}' if len(text) > INLINE_CHARS else json.dumps({"big": "y" * 5000})
    again = claimed(store, graph, "a", now=T0 + 110, generation=1)
    assert store.finish(again, JobStatus.SUCCEEDED, T0 + 120, 5.0, graph=graph, result=other)
    assert store.upstream_results(RUN, ["a"]) == {"a": json.loads(other)}


def test_a_new_life_or_a_mark_leaves_no_result_of_the_old_one(store: RunStore) -> None:
    graph = created(store)
    view = claimed(store, graph, "a")
    assert store.finish(view, JobStatus.SUCCEEDED, T0 + 20, 5.0, graph=graph, result='{"rows":7}')
    # WHEN an operator restarts it (a rerun or a replay: a new life) THEN its result is gone
    assert store.reset_job(written(store, "a"), JobStatus.QUEUED, now=T0 + 100, graph=graph)
    assert store.upstream_results(RUN, ["a"]) == {}
    # AND the new life's success without a result leaves none either
    again = claimed(store, graph, "a", now=T0 + 110, generation=1)
    assert store.finish(again, JobStatus.SUCCEEDED, T0 + 120, 5.0, graph=graph)
    assert store.upstream_results(RUN, ["a"]) == {}
    # AND a failed job marked succeeded by an operator has none
    b = claimed(store, graph, "b", now=T0 + 130)
    assert store.finish(b, JobStatus.FAILED, T0 + 140, 1.0, error="boom", graph=graph)
    assert store.reset_job(written(store, "b"), JobStatus.SUCCEEDED, now=T0 + 150, graph=graph)
    assert store.results(RUN, store.job_runs(RUN)) == {}


def test_the_audit_trail_reads_the_latest_entries_and_a_runs_own_alone(store: RunStore) -> None:
    from cronlane.audit import AuditEntry

    # GIVEN a run (its items in its partition), and actions on it, on another run and on its
    # schedule, a minute apart
    assert store.create_run(new_run(nodes=diamond()))
    other = "nightly@2026-11-29T02:00:00Z"
    said = [
        AuditEntry(T0 + 60 * i, action, "alice", run_id=run_id, schedule="nightly")
        for i, (action, run_id) in enumerate(
            [("trigger", RUN), ("pause", None), ("trigger", other), ("cancel", RUN), ("rerun", RUN)]
        )
    ]
    for entry in said:
        store.record_audit(entry, EXPIRES_AT)
    # THEN the run's own are read, oldest first, and nothing of the other run or the schedule
    assert [e.action for e in store.audit_entries(T0 - 1, run_id=RUN)] == ["trigger", "cancel", "rerun"]
    assert store.audit_entries(T0 - 1, run_id=RUN)[0] == said[0]
    # with a limit, the latest ones (still oldest first); from a time on, only what is later
    assert [e.at for e in store.audit_entries(T0 - 1, limit=2)] == [T0 + 180, T0 + 240]
    assert [e.action for e in store.audit_entries(T0 + 90, schedule="nightly")] == [
        "trigger",
        "cancel",
        "rerun",
    ]
    assert [e.action for e in store.audit_entries(T0 + 150, run_id=RUN, limit=1)] == ["rerun"]
    # and a run's other items are not read as actions
    assert store.audit_entries(T0 - 1, run_id=other) == [said[2]]


def test_a_run_keeps_its_width_and_its_places_go_by_version(store: RunStore) -> None:
    # GIVEN a run created with a width (Schedule(max_parallel=2)), and one without
    assert created(store, new_run(max_parallel=2)).max_parallel == 2
    assert created(store, new_run(run_id="run-wide")).max_parallel is None
    # WHEN nothing has taken a place yet THEN the run has an empty record at version 0
    assert store.places(RUN) == PlacesRecord()
    # WHEN a sender writes the record it read (version 0)
    first = PlacesRecord(
        {"a": PlaceEntry(), "b": PlaceEntry(1, True)},
        {"c": PlaceEntry(0, True), "d": PlaceEntry(2)},
        0,
        frozenset({"b"}),
    )
    assert store.put_places(RUN, first, EXPIRES_AT)
    # THEN it reads back as written, at version 1
    assert store.places(RUN) == replace(first, version=1)
    # and a second writer that had read version 0 too loses, and changes nothing
    assert not store.put_places(RUN, PlacesRecord({"x": PlaceEntry()}, {}, 0), EXPIRES_AT)
    # while one that read version 1 wins
    assert store.put_places(RUN, PlacesRecord({"c": PlaceEntry()}, {}, 1), EXPIRES_AT)
    assert store.places(RUN) == PlacesRecord({"c": PlaceEntry()}, {}, 2)
    assert not store.put_places(RUN, PlacesRecord({}, {}, 1), EXPIRES_AT)
    assert store.places("run-wide") == PlacesRecord()
