"""`cronlane validate`, `next` and `plan`: no AWS needed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cronlane.cli.main import app
from tests.conftest import FEED_JOBS, FIXTURE_APP, TEMPLATE

runner = CliRunner()


@pytest.fixture(autouse=True)
def in_the_app_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    """Commands run from the fixture app's folder, as a user runs them from their app's."""
    monkeypatch.chdir(FIXTURE_APP)
    monkeypatch.delenv("CRONLANE_CATALOG", raising=False)


def copy_of_the_app(tmp_path: Path) -> Path:
    shutil.copytree(FIXTURE_APP, tmp_path / "app", ignore=shutil.ignore_patterns("__pycache__", ".cronlane"))
    return tmp_path / "app" / "template.yaml"


def test_validate_passes_on_the_project() -> None:
    result = runner.invoke(app, ["validate", "--json", "--template", str(TEMPLATE)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"problems": [], "ok": True}


def test_validate_names_each_problem_and_exits_non_zero(tmp_path: Path) -> None:
    # GIVEN a copy of the app whose template disagrees with the declarations
    path = copy_of_the_app(tmp_path)
    text = path.read_text()
    text = text.replace('Schedule: "cron(0 * * * ? *)"', 'Schedule: "cron(0 * * * * *)"')
    text = text.replace("VisibilityTimeout: 5400", "VisibilityTimeout: 600")
    text = text.replace(
        "    Default: 10\n    MinValue: 2\n    Description: >-\n      Receives",
        "    Default: 3\n    MinValue: 2\n    Description: >-\n      Receives",
    )
    path.write_text(text)
    result = runner.invoke(app, ["validate", "--template", str(path)])
    assert result.exit_code == 1
    output = result.output
    assert "event Hourly: cron(0 * * * * *): exactly one of day-of-month" in output
    assert "JobQueue VisibilityTimeout 600 is below the executor's Timeout 900" in output
    assert "job 'extract': max_attempts 3 must be below the queue's maxReceiveCount 3" in output
    assert "schedule 'hourly': template.yaml fires cron(0 * * * * *)" in output


def test_validate_refuses_more_than_one_nth_weekday_as_eventbridge_does(tmp_path: Path) -> None:
    # GIVEN a template whose rule fires on the first Tuesday and the third Friday of the month
    path = copy_of_the_app(tmp_path)
    text = path.read_text().replace('Schedule: "cron(0 * * * ? *)"', 'Schedule: "cron(0 2 ? * 3#1,6#3 *)"')
    path.write_text(text)
    result = runner.invoke(app, ["validate", "--template", str(path)])
    # THEN validate names it, as a deploy would fail on it
    assert result.exit_code == 1
    assert "cron(0 2 ? * 3#1,6#3 *): day-of-week field '3#1,6#3': only one 'n#k'" in result.output


def test_validate_checks_a_zoned_schedules_time_zone_and_input(tmp_path: Path) -> None:
    # GIVEN a template whose ScheduleV2 fires in another zone and lost its fire-time attribute
    path = copy_of_the_app(tmp_path)
    text = path.read_text()
    text = text.replace(
        'ScheduleExpressionTimezone: "Europe/Berlin"', 'ScheduleExpressionTimezone: "Europe/Paris"'
    )
    text = text.replace('"scheduled_time": "<aws.scheduler.scheduled-time>",', "")
    path.write_text(text)
    result = runner.invoke(app, ["validate", "--template", str(path)])
    assert result.exit_code == 1
    assert "event Morning: its Input must carry <aws.scheduler.scheduled-time>" in result.output
    assert (
        "schedule 'morning': template.yaml fires it in Europe/Paris but the declaration "
        "says Europe/Berlin" in result.output
    )


def test_next_for_an_expression_gives_utc_and_local_times_strictly_after() -> None:
    result = runner.invoke(
        app,
        [
            "next",
            "--expression",
            "cron(0 2 * * ? *)",
            "--after",
            "2026-11-28T02:00:00Z",
            "--count",
            "2",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["utc"] for r in rows] == ["2026-11-29T02:00:00Z", "2026-11-30T02:00:00Z"]
    assert all(set(r) == {"utc", "local", "timezone"} and r["local"].endswith("+00:00") for r in rows)


def test_next_with_a_timezone_follows_the_zones_dst_rules() -> None:
    # 02:30 in Berlin does not exist on 2026-03-29 (spring forward): that day does not fire
    args = ["next", "--expression", "cron(30 2 * * ? *)", "--timezone", "Europe/Berlin"]
    result = runner.invoke(app, [*args, "--after", "2026-03-27T12:00:00Z", "--count", "2", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [(r["local"], r["utc"]) for r in rows] == [
        ("2026-03-28T02:30:00+01:00", "2026-03-28T01:30:00Z"),
        ("2026-03-30T02:30:00+02:00", "2026-03-30T00:30:00Z"),
    ]
    assert {r["timezone"] for r in rows} == {"Europe/Berlin"}
    human = runner.invoke(app, [*args, "--after", "2026-03-27T12:00:00Z", "--count", "1"])
    assert human.output.strip() == "2026-03-28T02:30:00+01:00 Europe/Berlin  (2026-03-28T01:30:00Z)"
    bad = runner.invoke(app, ["next", "--expression", "cron(0 9 * * ? *)", "--timezone", "Mars/Olympus"])
    assert bad.exit_code == 2 and "'Mars/Olympus' is not an IANA zone" in bad.output


def test_next_lists_every_schedule() -> None:
    result = runner.invoke(app, ["next", "--count", "3", "--json", "--after", "2026-11-28T00:30:00Z"])
    rows = json.loads(result.output)
    assert {r["schedule"] for r in rows} == {"nightly", "hourly", "morning"}
    # the zoned schedule: 08:00 in Berlin, 07:00 UTC in November
    morning = [r for r in rows if r["schedule"] == "morning"]
    assert (morning[0]["utc"], morning[0]["timezone"]) == ("2026-11-28T07:00:00Z", "Europe/Berlin")
    assert [r["utc"] for r in rows if r["schedule"] == "hourly"] == [
        "2026-11-28T01:00:00Z",
        "2026-11-28T02:00:00Z",
        "2026-11-28T03:00:00Z",
    ]


def test_next_with_an_invalid_expression_names_the_field() -> None:
    result = runner.invoke(app, ["next", "--expression", "cron(0 2 ? * 9 *)"])
    assert result.exit_code == 2
    assert "day-of-week field '9'" in result.output


def test_plan_shows_levels_and_the_critical_path() -> None:
    result = runner.invoke(app, ["plan", "hourly", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["levels"] == [
        ["freshness", "presort", "trending"],
        ["rank"],
        ["dedup", "warm"],
    ]
    assert data["critical_path"][:2] == ["presort", "rank"]
    assert data["estimated_duration_s"] is None  # no target, so no past runs


def test_plan_of_an_unknown_schedule_names_it() -> None:
    result = runner.invoke(app, ["plan", "weekly"])
    assert result.exit_code == 2 and "unknown schedule 'weekly'" in result.output


def test_missing_credentials_are_one_clear_line(monkeypatch: Any, tmp_path: Path) -> None:
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    import boto3

    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # forget credentials other tests resolved
    result = runner.invoke(app, ["runs", "--stack", "cronlane"])
    assert result.exit_code == 2
    assert "no AWS credentials found" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_the_cli_never_prints_credentials(monkeypatch: Any) -> None:
    # GIVEN credentials in the environment and an endpoint where nothing answers
    key_id, secret, token = (
        "AKIAEXAMPLEKEYID1234",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETKEY",
        "FwoGZXIvYXdzEXAMPLETOKEN",
    )
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.setenv("AWS_SESSION_TOKEN", token)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    import boto3

    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    for command in (["runs", "--stack", "cronlane"], ["run", "manual@x", "--stack", "cronlane", "--json"]):
        result = runner.invoke(app, command)
        # THEN the command fails with a message, and no part of the credentials is in it
        assert result.exit_code != 0 and result.output.strip()
        for part in (key_id, secret, token):
            assert part not in result.output


def test_a_param_without_a_job_goes_to_every_job_that_declares_it() -> None:
    from cronlane.cli.common import parse_params, run_jobs_of
    from fixture_jobs.catalog import CATALOG

    params = parse_params(["duration_s=5", "check.fail_attempts=1"], run_jobs_of(CATALOG, "hourly", None))
    assert set(params) == FEED_JOBS | {"check"}
    assert params["rank"] == {"duration_s": "5"}
    result = runner.invoke(app, ["trigger", "hourly", "--param", "fail_attempts=1", "--local", "--port", "1"])
    assert (
        result.exit_code == 2 and "no job of this run declares a parameter 'fail_attempts'" in result.output
    )
