"""`cronlane local run`: the command a user runs first."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cronlane.cli.main import app
from tests.conftest import TEMPLATE

pytestmark = pytest.mark.stack
runner = CliRunner()


def local_run(tmp_path: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(
        app,
        [
            "local",
            "run",
            *args,
            "--clock",
            "virtual",
            "--template",
            str(TEMPLATE),
            "--logs",
            str(tmp_path / "logs"),
            "--environments",
            "4",
        ],
    )
    return result.exit_code, result.output


def test_json_output_has_the_documented_shape(tmp_path: Path) -> None:
    code, output = local_run(tmp_path, "hourly", "--json", "--at", "2026-11-28T03:00:00Z")
    assert code == 0, output
    data = json.loads(output)
    assert set(data) == {"run_id", "schedule", "status", "jobs"}
    assert data["run_id"] == "hourly@2026-11-28T03:00:00Z"
    assert data["schedule"] == "hourly" and data["status"] == "SUCCEEDED"
    assert len(data["jobs"]) == 6
    for job in data["jobs"]:
        assert set(job) == {
            "name",
            "depends_on",
            "status",
            "attempts",
            "started_at",
            "finished_at",
            "continuations",
            "duration_s",
            "error",
            "reason",
            "result",
            "target",
            "handle",
        }
        assert job["continuations"] == []  # only a job longer than one invocation has some
        # what run --json says of a job: its duration, why it did not run (none did), its result
        assert job["duration_s"] >= 0 and job["reason"] is None
        assert job["result"] is None or isinstance(job["result"], dict)
        # a Python job runs in the executor: it has no handle elsewhere
        assert (job["error"], job["target"], job["handle"]) == (None, "python", None)
        assert job["status"] == "SUCCEEDED" and job["attempts"] == 1
        assert job["started_at"].endswith("Z") and job["finished_at"] > job["started_at"]
    ranking = next(j for j in data["jobs"] if j["name"] == "rank")
    assert ranking["depends_on"] == ["presort"]  # score is outside the feed group


def test_a_failed_run_exits_non_zero_and_shows_retries_and_skips(tmp_path: Path) -> None:
    code, output = local_run(tmp_path, "nightly", "--json", "--param", "check.fail_attempts=3")
    assert code == 1
    jobs = {j["name"]: j for j in json.loads(output)["jobs"]}
    assert jobs["check"]["status"] == "FAILED" and jobs["check"]["attempts"] == 3
    assert jobs["merge"]["status"] == "SKIPPED"
    assert jobs["score"]["status"] == "SUCCEEDED"


def test_a_retried_job_succeeds_on_its_second_attempt(tmp_path: Path) -> None:
    code, output = local_run(tmp_path, "nightly", "--param", "check.fail_attempts=1")
    assert code == 0, output
    assert "SUCCEEDED - 19 succeeded, 0 failed, 0 skipped, 0 cancelled of 19" in output
    assert "makespan" in output


def test_an_unknown_schedule_is_named(tmp_path: Path) -> None:
    code, output = local_run(tmp_path, "weekly")
    assert code == 2
    assert "unknown schedule 'weekly' (known: hourly, morning, nightly)" in output


def test_a_bad_param_option_is_named(tmp_path: Path) -> None:
    code, output = local_run(tmp_path, "nightly", "--param", "oops")
    assert code == 2 and "expected KEY=VALUE or JOB.KEY=VALUE" in output


def test_events_are_printed_as_json_lines_on_stderr_and_stdout_stays_the_runs_json(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "local", "run", "hourly", "--json", "--events", "--at", "2026-11-28T03:00:00Z",
            "--clock", "virtual", "--template", str(TEMPLATE), "--logs", str(tmp_path / "logs"),
            "--environments", "4",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    run = json.loads(result.stdout)
    events = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    assert {e["source"] for e in events} == {"cronlane"}
    jobs = {e["detail"]["job"]: e["detail"] for e in events if e["detail-type"] == "Job Run Ended"}
    assert set(jobs) == {j["name"] for j in run["jobs"]}
    assert all(d["status"] == "SUCCEEDED" and d["run_id"] == run["run_id"] for d in jobs.values())
    ended = [e for e in events if e["detail-type"] == "Run Ended"]
    assert len(ended) == 1 and events[-1] is ended[0]  # the run's end comes last
    detail = ended[0]["detail"]
    assert (detail["status"], detail["schedule"], detail["scheduled_time"]) == (
        "SUCCEEDED", "hourly", "2026-11-28T03:00:00Z",
    )  # fmt: skip
    assert detail["counts"]["succeeded"] == len(run["jobs"]) and detail["stack"]
    assert set(ended[0]) >= {"version", "id", "detail-type", "source", "account", "time", "region", "detail"}
