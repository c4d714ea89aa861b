"""The example app's declarations: the nightly jobs of the user's analysis and their schedules,
checked against its template as `cronlane validate` checks them."""

from __future__ import annotations

import json

from conftest import APP
from typer.testing import CliRunner

from cronlane.cli.main import app
from cronlane.declarations import Selection
from cronlane.graph import plan_selection
from cronlane.targets import kind_of
from nightly_sync.catalog import CATALOG


def test_the_app_declares_the_analysis_jobs_in_four_groups() -> None:
    # at least the 23 of the analysis (a job added by the README's example keeps this green)
    assert len(CATALOG.jobs) >= 23
    assert CATALOG.groups >= {"matching", "feed", "search", "notifications"}
    plan = plan_selection(CATALOG, Selection.everything())
    # buildUserTraitsJob before profileSearchIndexJob, matchScoreJob, feedPresortJob, compatibilityJob
    assert set(plan.dependents["buildUserTraitsJob"]) >= {
        "profileSearchIndexJob",
        "matchScoreJob",
        "feedPresortJob",
        "compatibilityJob",
    }
    assert plan.roots[0:1] and "buildUserTraitsJob" in plan.roots


def test_its_schedules_are_the_nightly_sync_the_hourly_feed_and_the_berlin_morning() -> None:
    schedules = CATALOG.schedules
    assert set(schedules) >= {"daily-full-sync", "hourly-feed", "morning-notifications"}
    assert schedules["daily-full-sync"].selection.all_jobs
    assert schedules["hourly-feed"].selection.groups == ("feed",)
    assert schedules["morning-notifications"].timezone == "Europe/Berlin"


def test_the_40_minute_job_runs_as_one_ecs_task_longer_than_a_lambda_invocation() -> None:
    job = CATALOG.jobs["recommendationModelJob"]
    assert kind_of(job.function) == "ecs"
    assert job.timeout_s >= job.params["duration_s"].default > 900


def test_the_daily_sync_has_a_job_of_every_target_kind() -> None:
    kinds = {kind_of(job.function) for job in CATALOG.jobs.values()}
    assert kinds == {"python", "lambda", "ecs", "callback"}


def test_cronlane_validate_passes_on_the_app() -> None:
    result = CliRunner().invoke(app, ["validate", "--json", "--template", str(APP.template)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"problems": [], "ok": True}


def test_every_tick_event_is_of_a_declared_schedule() -> None:
    # events/ holds examples for sam local invoke; a schedule needs none, but one left behind by a
    # schedule that is gone would be invoked in vain
    for path in (APP.root / "events").glob("*.json"):
        event = json.loads(path.read_text())
        fired = [r.rsplit("/", 1)[-1].split("-", 1)[-1] for r in event.get("resources", [])]
        if event.get("source") == "aws.scheduler":
            fired = [str(event["schedule_arn"]).rsplit("/", 1)[-1].split("-", 1)[-1]]
        assert all(name in CATALOG.schedules for name in fired), (path.name, fired)


def test_the_template_is_the_frameworks_with_this_catalogs_parts() -> None:
    # what the framework writes (cronlane init) and what cronlane template makes of the catalog:
    # nothing of the stack is written twice, only this app's description differs
    from cronlane.scaffold import app_resources, render_template
    from cronlane.template.generate import render

    text = APP.template.read_text()
    description = tuple(text.split("Description: >-\n", 1)[1].split("\n\n", 1)[0].split("\n"))
    ours = app_resources(text)  # the example's own: its targets' function, task and queue
    assert "RecommendationModelTask:" in ours and "FeedPresortFunction:" in ours
    assert render(render_template("nightly_sync", description, ours), CATALOG, APP.catalog_module) == text
