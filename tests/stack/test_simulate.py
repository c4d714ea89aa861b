"""`cronlane local simulate`: days of the fixture app's schedules on the virtual clock, with counts
known in advance (one nightly and 24 hourly fires a day)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cronlane.cli.main import app
from fixture_jobs.catalog import CATALOG
from tests.conftest import FIXTURE_APP

pytestmark = pytest.mark.stack


def test_a_simulated_day_fires_every_schedule_at_its_fire_times_with_no_idle_wakeups(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(FIXTURE_APP)  # run from the app's folder, as a user does
    args = ["local", "simulate", "--days", "1", "--start", "2026-11-28T00:00:00Z", "--json"]
    result = CliRunner().invoke(app, [*args, "--logs", str(tmp_path / "logs")])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output[result.output.index("{") :])
    # nightly fires at 02:00, hourly at every hour, morning at 08:00
    # in Berlin (07:00 UTC): 1 + 24 + 1 fires, each a run
    assert data["fires"] == {"nightly": 1, "hourly": 24, "morning": 1}
    assert data["runs"] == {"SUCCEEDED": 26}
    daily_jobs = len(CATALOG.jobs)
    feed_jobs = sum(1 for j in CATALOG.jobs.values() if j.group == "feed")
    notification_jobs = sum(1 for j in CATALOG.jobs.values() if j.group == "notify")
    assert data["job_executions"] == daily_jobs + 24 * feed_jobs + notification_jobs
    # train (40 minutes) continues 3 times in the nightly run: 4 invocations
    assert (data["retries"], data["continuations"], data["idle_wakeups"]) == (0, 3, 0)
    # one dispatcher invocation per fire, one executor invocation per job execution or continuation
    assert data["lambda_invocations"] == {
        "DispatcherFunction": 26,
        "ExecutorFunction": data["job_executions"] + 3,
    }
