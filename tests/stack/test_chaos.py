"""A small chaos soak (``make chaos`` runs the big one): every kind of fault, on jobs of every
target kind, and afterwards nothing lost, nothing committed twice, nothing stuck."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.soak import DISPATCHER_POINTS, EXECUTOR_POINTS, REPLAY_POINTS, START_POINTS, soak

pytestmark = pytest.mark.stack


def test_a_small_chaos_soak_loses_nothing_doubles_nothing_and_leaves_nothing_stuck(tmp_path: Path) -> None:
    report = soak(
        runs=16,
        seed=7,
        operator_every=3,
        crash_every=1,
        duplicate_tick_every=4,
        duplicate_delivery_every=2,
        transient_jobs=0.05,
        permanent_jobs=0.02,
        transient_requests=0.004,
        target_faults=0.15,
        work_dir=tmp_path,
    )
    print("\n".join([*report.details(), report.line()]))
    assert report.problems == []
    assert (report.lost, report.double, report.stuck) == (0, 0, 0)
    assert report.runs == 16 and report.job_runs > 200
    # every kind of fault happened, and the permanent failures came back through the DLQ
    kinds = set(report.faults)
    points = EXECUTOR_POINTS + DISPATCHER_POINTS + START_POINTS[:1] + REPLAY_POINTS
    assert {f"crash at {p}" for p in points} <= kinds
    # the operator acted while runs went, and its requests were killed part way
    assert report.operator_actions >= 1 and kinds & {"operator cancel", "operator rerun"}
    assert "rates: job transient failures" in report.rates()
    assert {"duplicate tick", "duplicate delivery", "job transient failure", "job permanent failure"} <= kinds
    assert kinds & {"dynamodb transient error", "sqs transient error"}
    assert report.replayed >= 1
    assert report.chained >= 1  # jobs without a lane ran in their upstream's invocation, crashes and all
    # the jobs on targets (a Lambda function, an ECS task, a callback worker) lost nothing either,
    # through a lost completion, a duplicate one, one after a timeout and a worker that died
    assert {
        "ecs task hung (lost completion)",
        "ecs end event delivered again (duplicate completion)",
        "worker reported twice (duplicate completion)",
        "worker reported after its heartbeat timeout",
        "worker died without reporting",
    } <= kinds, sorted(kinds)
    assert {"crash at completion.before_record", "crash at executor.after_start"} <= kinds
