"""The example app end to end on the embedded default: its template created in moto, its catalog
in the functions, one night of daily-full-sync on the virtual clock."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import APP

from cronlane.local.session import local_runtime, run_schedule_once, store_of, wait_for_run
from cronlane.model import JobStatus, RunStatus
from nightly_sync.catalog import CATALOG

pytestmark = pytest.mark.stack
NIGHT = 1795831200.0  # 2026-11-28T02:00:00Z


def test_a_night_of_daily_full_sync_runs_every_job_once(tmp_path: Path) -> None:
    with local_runtime(APP, clock="virtual", start=NIGHT, executor_environments=6, log_dir=tmp_path) as rt:
        report = run_schedule_once(rt, "daily-full-sync", NIGHT)
    assert report.run.status is RunStatus.SUCCEEDED
    assert {j.job: j.status for j in report.jobs} == dict.fromkeys(CATALOG.jobs, JobStatus.SUCCEEDED)
    assert all(j.attempts == 1 for j in report.jobs)
    # the three jobs that run elsewhere ran there, each recorded with its handle
    by_name = {j.job: j for j in report.jobs}
    long_job = by_name["recommendationModelJob"]
    assert long_job.target == "ecs" and long_job.handle is not None and ":task/" in long_job.handle
    assert long_job.continuations == [] and long_job.duration_s is not None and long_job.duration_s >= 2400
    assert by_name["compatibilityJob"].target == "callback"
    assert str(by_name["compatibilityJob"].handle).startswith("tok-")
    assert by_name["feedPresortJob"].target == "lambda" and by_name["feedPresortJob"].handle
    # every job but the Fargate task (its exit code is its outcome) returned a result, and the
    # dependents counted from their upstreams' results: python, lambda and callback alike
    results = report.results
    assert set(results) == set(CATALOG.jobs) - {"recommendationModelJob"}
    assert results["buildUserTraitsJob"]["users"] == 48_000
    assert results["matchScoreJob"]["pairs_scored"] == 48_000 * 25
    assert results["feedRankingJob"]["items_ranked"] == results["feedPresortJob"]["items_sorted"] > 0
    assert results["mutualMatchJob"]["compatibility_reports"] == results["compatibilityJob"]["reports"] > 0


def test_the_manual_trigger_event_runs_with_its_parameters(tmp_path: Path) -> None:
    event = json.loads((APP.root / "events" / "manual-trigger.json").read_text())
    with local_runtime(APP, clock="virtual", start=NIGHT, executor_environments=4, log_dir=tmp_path) as rt:
        answer = rt.invoke("DispatcherFunction", event)
        assert answer.error is None and "error" not in answer.response, answer.response
        report = wait_for_run(rt, answer.response["run_id"])
        ranking = store_of(rt).get_job_run(answer.response["run_id"], "feedRankingJob")
    assert report.run.status is RunStatus.SUCCEEDED
    assert ranking is not None and ranking.params["duration_s"] == 30
