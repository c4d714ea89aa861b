"""Per-job concurrency across runs (``Job.max_concurrent``, cronlane.lanes): up to N executions
of a job at once, each in its own run, on the in-process pipeline. A handed-off execution (a
callback worker, an ECS task) holds its slot until it ends wherever it runs, and gives it back on
every end: success, failure, timeout, cancel. What a user would notice: how many workers or tasks
are at work at once, and that the one waiting starts when one ends."""

from __future__ import annotations

from typing import Any

import pytest

from cronlane import CallbackTarget, Catalog, EcsTarget, Job, Schedule, Selection
from cronlane.completion import Report
from cronlane.errors import CatalogError
from cronlane.inprocess import InProcess
from cronlane.lanes import assign, group_of
from cronlane.model import JobMessage, JobNode, JobStatus, RunStatus
from cronlane.simulated import sim_params
from tests.unit.test_handed_off import START, Crash, FakeTargets, crash_once_at, no_crash_hook, stopped  # noqa: F401

SIM = "cronlane.simulated.simulate"
WAITING = (JobStatus.PENDING, JobStatus.QUEUED)  # a job-run whose message waits in its lane


def catalog(limit: int) -> Catalog:
    return Catalog.build(
        [
            Job(
                "workJob",
                CallbackTarget("work-queue", heartbeat_s=300),
                "g",
                timeout_s=1200,
                max_concurrent=limit,
            ),
            Job("taskJob", EcsTarget("jobs", "task", "task"), "g", timeout_s=3600, max_concurrent=limit),
            Job("loadJob", SIM, "g", timeout_s=300, max_concurrent=limit, params=sim_params(0)),
            Job("afterJob", SIM, "g", ("loadJob",), timeout_s=300, params=sim_params(0)),
        ],
        [Schedule("nightly", "cron(0 2 * * ? *)", Selection.everything())],
    )


def world_of(limit: int) -> tuple[InProcess, FakeTargets]:
    targets = FakeTargets()
    return InProcess(catalog(limit), START, targets=targets), targets


def trigger(world: InProcess, key: str, *jobs: str) -> str:
    answer = world.act(action="trigger", jobs=list(jobs), idempotency_key=key)
    assert "error" not in answer, answer
    return str(answer["run_id"])


def at_work(world: InProcess, targets: FakeTargets, job: str) -> list[str]:
    """The runs whose execution of ``job`` is RUNNING now, in the order they started."""
    runs = []
    for work in targets.started:
        if work.job != job or work.run_id in runs:
            continue
        view = world.store.get_job_run(work.run_id, job)
        if view is not None and view.status is JobStatus.RUNNING:
            runs.append(work.run_id)
    return runs


def status(world: InProcess, run_id: str, job: str) -> JobStatus:
    view = world.store.get_job_run(run_id, job)
    assert view is not None
    return view.status


def test_a_lane_is_a_message_group_and_each_run_takes_the_next_lane() -> None:
    assert group_of("loadJob", 0) == "loadJob" and group_of("loadJob", 3) == "loadJob#3"
    nodes = {
        "a": JobNode("a", "g", SIM, (), ("b",), 60, 1),
        "b": JobNode("b", "g", SIM, ("a",), (), 60, 1),
    }
    lanes = assign(nodes, {"a": 2, "b": 3}, {"a": 7, "b": 5})
    assert (lanes["a"].lane, lanes["b"].lane, lanes["a"].dependent_lanes) == (1, 2, (2,))
    assert (
        JobMessage("r", "a", lane=1).group == "a#1"
        and JobMessage.parse(JobMessage("r", "a", lane=1).body()).lane == 1
    )


@pytest.mark.parametrize("bad", [0, -1, 101, 1.5, True])
def test_a_max_concurrent_outside_one_to_a_hundred_is_refused_naming_the_job(bad: Any) -> None:
    with pytest.raises(CatalogError) as refused:
        Catalog.build([Job("loadJob", SIM, "g", max_concurrent=bad)])
    assert "job 'loadJob': max_concurrent must be a whole number within 1..100" in str(refused.value)


def test_with_the_default_a_second_run_waits_for_the_first_runs_worker() -> None:
    world, targets = world_of(1)
    first, second = trigger(world, "a", "workJob"), trigger(world, "b", "workJob")
    world.drain(until=START + 60)
    assert at_work(world, targets, "workJob") == [first]
    assert status(world, second, "workJob") in WAITING
    world.completions.report(Report(targets.started[0].token or "", "succeeded"))
    world.drain(until=START + 120)
    assert at_work(world, targets, "workJob") == [second]  # the slot came back on success


def test_two_workers_run_at_once_and_the_third_run_takes_the_slot_the_first_success_gives_back() -> None:
    world, targets = world_of(2)
    runs = [trigger(world, key, "workJob") for key in ("a", "b", "c")]
    world.drain(until=START + 60)
    assert at_work(world, targets, "workJob") == runs[:2]  # two at once; the third waits its lane
    assert status(world, runs[2], "workJob") in WAITING
    world.completions.report(Report(targets.started[0].token or "", "succeeded", {"n": 1}))
    world.drain(until=START + 120)
    assert at_work(world, targets, "workJob") == runs[1:]
    for work in targets.started[1:]:
        world.completions.report(Report(work.token or "", "succeeded"))
    world.drain()
    for run_id in runs:
        assert world.store.get_run(run_id).status is RunStatus.SUCCEEDED  # type: ignore[union-attr]
    assert [w.attempt for w in targets.started] == [1, 1, 1]  # each job-run executed once


def test_a_failed_attempt_keeps_its_slot_through_the_backoff_and_the_final_failure_gives_it_back() -> None:
    world, targets = world_of(2)
    runs = [trigger(world, key, "workJob") for key in ("a", "b", "c")]
    world.drain(until=START + 60)
    answer = world.completions.report(Report(targets.started[0].token or "", "failed", error="boom"))
    assert answer["status"] == "RETRYING"
    world.drain(until=START + 61)
    assert status(world, runs[2], "workJob") in WAITING  # the retry holds the lane
    world.drain(until=START + 400)
    retry = targets.started[2]
    assert (retry.run_id, retry.attempt) == (runs[0], 2)  # the retry ran in its own lane first
    world.completions.report(Report(retry.token or "", "failed", error="boom again"))
    world.drain(until=START + 1000)
    world.completions.report(Report(targets.started[3].token or "", "failed", error="and again"))
    world.drain(until=START + 1100)
    assert status(world, runs[0], "workJob") is JobStatus.FAILED
    assert runs[2] in at_work(world, targets, "workJob")  # the final failure gave the slot back


def test_a_worker_that_stops_heartbeating_gives_its_slot_back_when_it_is_given_up() -> None:
    world, targets = world_of(1)
    first, second = trigger(world, "a", "workJob"), trigger(world, "b", "workJob")
    world.drain(until=START + 60)
    assert at_work(world, targets, "workJob") == [first]
    world.drain(until=START + 400)  # no heartbeat within 300 s: attempt 1 is given up and retried
    assert [(w.run_id, w.attempt) for w in targets.started][:2] == [(first, 1), (first, 2)]
    # every attempt goes silent: once the first run's job fails for good, the second's starts
    world.drain(until=START + 3 * 400 + 600)
    assert status(world, first, "workJob") is JobStatus.FAILED
    assert second in at_work(world, targets, "workJob")


def test_cancelling_a_run_stops_its_task_and_gives_the_slot_to_the_run_waiting() -> None:
    world, targets = world_of(1)
    first, second = trigger(world, "a", "taskJob"), trigger(world, "b", "taskJob")
    world.drain(until=START + 60)
    assert at_work(world, targets, "taskJob") == [first]
    answer = world.act(action="cancel", run_id=first)
    assert "error" not in answer, answer
    assert targets.stopped and targets.stopped[0][0] == targets.started[0].handle
    world.drain(until=START + 120)
    assert at_work(world, targets, "taskJob") == [second]


def test_two_tasks_run_at_once_and_the_end_events_release_both_runs() -> None:
    world, targets = world_of(2)
    runs = [trigger(world, key, "taskJob") for key in ("a", "b")]
    world.drain(until=START + 60)
    assert at_work(world, targets, "taskJob") == runs
    for work in targets.started:
        world.completions.task_stopped(stopped(work, 0))
    world.drain()
    assert [world.store.get_run(r).status for r in runs] == [RunStatus.SUCCEEDED] * 2  # type: ignore[union-attr]


def test_two_runs_python_jobs_are_in_two_lanes_and_a_dependent_takes_its_own_jobs_lane() -> None:
    world, _ = world_of(2)
    runs = [trigger(world, key, "loadJob", "afterJob") for key in ("a", "b")]
    # both runs' first job is receivable at once: two lanes (one receive of ten hands out both)
    received = world.queue.receive(10)
    assert sorted((JobMessage.parse(m.body).run_id, m.group) for m in received) == sorted(
        zip(runs, ["loadJob#1", "loadJob"], strict=True)
    )
    for message in received:
        world.queue.jobs.change_visibility(message.receipt_handle, 0)
    world.drain()
    assert [world.store.get_run(r).status for r in runs] == [RunStatus.SUCCEEDED] * 2  # type: ignore[union-attr]
    lanes = [
        (world.store.get_job_run(r, "loadJob").lane, world.store.get_job_run(r, "afterJob").lane)
        for r in runs
    ]  # type: ignore[union-attr]
    assert lanes == [(1, 0), (0, 0)]  # afterJob declares one lane: both runs' wait for it in turn


def test_a_task_that_runs_past_its_timeout_gives_its_slot_back_when_it_fails() -> None:
    world, targets = world_of(1)
    first, second = trigger(world, "a", "taskJob"), trigger(world, "b", "taskJob")
    world.drain(until=START + 60)
    assert at_work(world, targets, "taskJob") == [first]
    world.drain(until=START + 3700)  # no end event within the 3600 s timeout: stopped, retried
    assert [(w.run_id, w.attempt) for w in targets.started][:2] == [(first, 1), (first, 2)]
    assert status(world, second, "taskJob") in WAITING  # the retry kept the lane
    world.drain(until=START + 3 * 3700 + 600)  # every attempt times out; the last fails for good
    assert status(world, first, "taskJob") is JobStatus.FAILED
    assert second in at_work(world, targets, "taskJob")
    (failed,) = [e.detail for e in world.events.published if e.detail.get("status") == "FAILED"][:1]
    assert failed["job"] == "taskJob" and "3600s timeout" in failed["error"]


@pytest.mark.usefixtures("no_crash_hook")
def test_an_executor_that_dies_holds_the_slot_until_its_lease_ends_and_the_take_over_finishes() -> None:
    world, _ = world_of(1)
    first, second = trigger(world, "a", "loadJob"), trigger(world, "b", "loadJob")
    crash_once_at("executor.after_claim", "loadJob")  # the first run's executor dies as it starts
    with pytest.raises(Crash):
        world.drain(until=START + 1)
    world.drain()
    jobs = [world.store.get_job_run(r, "loadJob") for r in (first, second)]
    assert [j.status for j in jobs] == [JobStatus.SUCCEEDED] * 2  # type: ignore[union-attr]
    lost, waited = jobs
    assert lost.attempts == 2 and "lease expired" in lost.history[0]["error"]  # type: ignore[union-attr]
    # the second run's execution started only once the taken-over one had finished
    assert waited.started_at >= lost.finished_at  # type: ignore[union-attr,operator]


def test_a_cancelled_callback_job_gives_its_slot_back_and_publishes_its_cancelled_end() -> None:
    world, targets = world_of(1)
    first, second = trigger(world, "a", "workJob"), trigger(world, "b", "workJob")
    world.drain(until=START + 60)
    assert at_work(world, targets, "workJob") == [first]
    world.act(action="cancel", run_id=first)
    world.drain(until=START + 120)
    assert at_work(world, targets, "workJob") == [second]
    ended = [e.detail for e in world.events.published if e.detail.get("job") == "workJob"]
    assert [(e["run_id"], e["status"], e["attempts"]) for e in ended] == [(first, "CANCELLED", 1)]
    assert ended[0]["error"] == "cancelled: the run was cancelled while it ran" and ended[0]["handle"]
