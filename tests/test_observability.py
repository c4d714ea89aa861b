"""The dashboard and alarms in template.yaml name exactly the metrics the code emits, with a number
of series that does not grow with the jobs (one EMF document per job); X-Ray is a parameter, off
by default, and the X-Ray SDK is loaded only when its subsegments are asked for."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pytest
from samtranslator.yaml_helper import yaml_parse

from cronlane.telemetry import (
    METRICS,
    SERIES_BOUND,
    TARGET_KINDS,
    Detail,
    EmfTelemetry,
    Series,
    metric_series,
    series_of,
)
from cronlane.template.checks import (
    _own_alarm_metrics,
    dashboard_log_fields,
    dashboard_metrics,
    dashboard_searches,
)
from tests.conftest import TEMPLATE


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return yaml_parse(TEMPLATE.read_text())


def own_alarm_metrics(template: dict[str, Any]) -> list[dict[str, Any]]:
    """The cronlane-namespace metrics the alarms watch, directly or inside metric math."""
    return [metric for _, metric in _own_alarm_metrics(template)]


def own_metrics_in_template(template: dict[str, Any]) -> set[str]:
    """Metric names in the cronlane namespace used by the dashboard and the alarms."""
    return dashboard_metrics(template) | {m["MetricName"] for m in own_alarm_metrics(template)}


def test_every_metric_the_template_names_is_emitted_and_every_emitted_metric_is_shown(
    template: dict[str, Any],
) -> None:
    shown = own_metrics_in_template(template)
    assert shown - set(METRICS) == set(), "the template names metrics the code never emits"
    assert set(METRICS) - shown == set(), "the code emits metrics no widget or alarm shows"
    # the Logs Insights widgets read the documents' fields by the same names
    read = dashboard_log_fields(template)
    assert read >= {"JobsFailed", "JobDuration", "JobTimeoutFraction", "RunsFailed", "RunDuration"}
    assert read - set(METRICS) == set(), "a Logs Insights widget reads a field no document carries"


def test_the_dashboard_searches_only_series_that_exist_and_none_per_job_by_default(
    template: dict[str, Any],
) -> None:
    searches = dashboard_searches(template)
    for dimensions, name in searches:
        extra = set(dimensions) - {"service"}
        assert extra <= set(METRICS[name][1]), f"{name} is never emitted by {extra}"
    # every metric has its service-wide line; Job and Schedule lines only show opted-in series
    assert {name for dimensions, name in searches if dimensions == ("service",)} == set(METRICS)
    per_job = {name for dimensions, name in searches if "Job" in dimensions}
    assert per_job == {"JobsFailed"}, "per-job figures come from the logs, not from a series per job"
    body = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    json.loads(re.sub(r"\$\{[^}]*\}", "x", body[0]))  # the body is JSON once substituted
    assert {"ExecutorLog", "DispatcherLog"} <= set(body[1]), "the Logs Insights widgets read the log groups"


def test_alarms_watch_the_service_wide_series_the_code_emits(template: dict[str, Any]) -> None:
    for metric in own_alarm_metrics(template):
        assert metric["Dimensions"] == [{"Name": "service", "Value": "cronlane"}]
        assert metric["MetricName"] in METRICS
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::CloudWatch::Alarm":
            assert resource["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    # the series an alarm watches is written whatever the app declares (no job or schedule opts in)
    for name in {m["MetricName"] for m in own_alarm_metrics(template)}:
        out = io.StringIO()
        telemetry = EmfTelemetry("cronlane", "cronlane", out=out)
        telemetry.emit(name, 1, job="score", schedule="nightly", target="python")
        telemetry.flush()
        assert (name, (("service", "cronlane"),)) in series_of(json.loads(out.getvalue())), name


def test_the_required_alarms_exist(template: dict[str, Any]) -> None:
    alarms = {
        (p.get("Namespace") if isinstance(p.get("Namespace"), str) else "own", p["MetricName"])
        for p in [
            r["Properties"]
            for r in template["Resources"].values()
            if r["Type"] == "AWS::CloudWatch::Alarm" and "MetricName" in r["Properties"]
        ]
    }
    alarms |= {("own", m["MetricName"]) for m in own_alarm_metrics(template)}
    assert alarms >= {
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        ("own", "RunsFailed"),
        ("own", "JobTimeoutFraction"),
        ("own", "RunsOverDeadline"),
        ("own", "JobsFailed"),  # the failure-rate alarm (metric math over JobsFailed and JobsSucceeded)
        ("AWS/Lambda", "Errors"),
    }
    functions = {
        r["Properties"]["Dimensions"][0]["Value"]["Ref"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::CloudWatch::Alarm" and r["Properties"].get("MetricName") == "Errors"
    }
    assert functions == {"DispatcherFunction", "ExecutorFunction"}


# ---------------------------------------------------------------------------------------------
# EMF: one document per job, series bounded whatever the number of jobs
# ---------------------------------------------------------------------------------------------


def job_run(telemetry: EmfTelemetry, job: str, target: str = "python") -> None:
    """What the executor emits for one job that succeeds after waiting for its upstream."""
    telemetry.emit("QueueWait", 0.2, job=job)
    telemetry.emit("HandoffLatency", 0.2, job=job)
    telemetry.emit("JobTimeoutFraction", 0.1, job=job)
    telemetry.emit("JobDuration", 6.0, job=job)
    telemetry.emit("JobsSucceeded", 1, job=job, target=target)


def series_of_job_run(detail: Detail, job: str = "score", schedule: str = "nightly") -> set[Series]:
    out = io.StringIO()
    telemetry = EmfTelemetry("cronlane", "cronlane", lambda: detail, out=out)
    job_run(telemetry, job)
    telemetry.emit("RunsSucceeded", 1, schedule=schedule)
    telemetry.emit("RunDuration", 60.0, schedule=schedule)
    telemetry.flush()
    return set().union(*(series_of(json.loads(line)) for line in out.getvalue().splitlines()))


def test_one_emf_document_per_job_with_every_figure_and_the_job_as_a_field() -> None:
    out = io.StringIO()
    telemetry = EmfTelemetry("cronlane-test", "cronlane", out=out, now=lambda: 1_800_000_000.0)
    job_run(telemetry, "score")
    telemetry.emit("JobsSkipped", 1, job="publish")  # a dependent skipped: its own document
    telemetry.emit("JobsSkipped", 1, job="notify")
    assert out.getvalue() == "", "nothing is written before the flush"
    telemetry.flush()
    documents = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [d["job"] for d in documents] == ["score", "publish", "notify"]
    score = documents[0]
    assert score["_aws"]["Timestamp"] == 1_800_000_000_000
    assert score["JobDuration"] == 6.0 and score["QueueWait"] == 0.2 and score["JobsSucceeded"] == 1.0
    assert "Job" not in score, "no Job dimension unless the job asks for it"
    assert series_of(score) == {
        ("QueueWait", (("service", "cronlane"),)),
        ("HandoffLatency", (("service", "cronlane"),)),
        ("JobTimeoutFraction", (("service", "cronlane"),)),
        ("JobDuration", (("service", "cronlane"),)),
        ("JobsSucceeded", (("service", "cronlane"),)),
        ("JobsSucceeded", (("Target", "python"), ("service", "cronlane"))),
    }
    assert all(d["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "cronlane-test" for d in documents)
    telemetry.flush()
    assert len(out.getvalue().splitlines()) == 3, "a flush with nothing gathered writes nothing"


def test_a_figure_emitted_twice_in_a_document_adds_up_or_keeps_both_values() -> None:
    out = io.StringIO()
    telemetry = EmfTelemetry("cronlane", "cronlane", out=out)
    telemetry.emit("JobsRetried", 1, job="score")
    telemetry.emit("JobsRetried", 1, job="score")
    telemetry.emit("JobTimeoutFraction", 0.5, job="score")
    telemetry.emit("JobTimeoutFraction", 0.25, job="score")
    telemetry.flush()
    (document,) = [json.loads(line) for line in out.getvalue().splitlines()]
    assert document["JobsRetried"] == 2.0  # a count: Sum is what is read of it
    assert document["JobTimeoutFraction"] == [0.5, 0.25]  # each value counts for Maximum


def test_an_unknown_metric_is_refused_at_once() -> None:
    with pytest.raises(KeyError, match="JobsDone"):
        EmfTelemetry("cronlane", "cronlane").emit("JobsDone", 1)


def test_series_do_not_grow_with_jobs_and_opting_in_adds_the_jobs_own() -> None:
    plain = set().union(*(series_of_job_run(Detail(), job=f"job{i}") for i in range(50)))
    assert plain == series_of_job_run(Detail(), job="other"), "fifty jobs create the series one job does"
    assert all(dict(values).keys() <= {"service", "Target"} for _, values in plain)
    detailed = series_of_job_run(Detail(jobs=frozenset({"score"}), schedules=frozenset({"nightly"})))
    own = detailed - plain
    assert {name for name, _ in own} == {
        "QueueWait",
        "HandoffLatency",
        "JobTimeoutFraction",
        "JobDuration",
        "JobsSucceeded",
        "RunsSucceeded",
        "RunDuration",
    }
    assert {dict(values).get("Job") or dict(values).get("Schedule") for _, values in own} == {
        "score",
        "nightly",
    }
    assert series_of_job_run(Detail(jobs=frozenset({"score"})), job="other") == plain, "only the named job"


def test_the_bound_on_series_is_at_most_fifty_whatever_the_app_declares() -> None:
    assert SERIES_BOUND == len(METRICS) + 2 * len(TARGET_KINDS) <= 50
    assert metric_series(jobs=3) == SERIES_BOUND + 3 * sum("Job" in d for _, d in METRICS.values())


# ---------------------------------------------------------------------------------------------
# Tracing: X-Ray active; the SDK's subsegments opt-in (TraceSdkCalls)
# ---------------------------------------------------------------------------------------------


def test_xray_is_a_parameter_off_by_default_and_the_sdk_is_opt_in(template: dict[str, Any]) -> None:
    function = template["Globals"]["Function"]
    assert function["Tracing"] == {"Ref": "TracingMode"}
    mode = template["Parameters"]["TracingMode"]
    # Lambda's own sampling cannot be configured: PassThrough records no trace the stack's callers
    # (schedules, the queue) did not sample; Active is Lambda's 1 per second and 5% of the rest
    assert mode["Default"] == "PassThrough" and sorted(mode["AllowedValues"]) == ["Active", "PassThrough"]
    for name in ("DispatcherFunction", "ExecutorFunction"):
        assert "Tracing" not in template["Resources"][name]["Properties"], name
    parameter = template["Parameters"]["TraceSdkCalls"]
    assert parameter["Default"] == "false"
    assert sorted(parameter["AllowedValues"]) == ["false", "true"]
    assert template["Conditions"]["TracesSdkCalls"] == {"Fn::Equals": [{"Ref": "TraceSdkCalls"}, "true"]}
    env = function["Environment"]["Variables"]
    assert env["POWERTOOLS_TRACE_DISABLED"] == {"Fn::If": ["TracesSdkCalls", "false", "true"]}
    # traces keep timings and annotations, not responses (dead-letter bodies) nor error text
    assert env["POWERTOOLS_TRACER_CAPTURE_RESPONSE"] == "false"
    assert env["POWERTOOLS_TRACER_CAPTURE_ERROR"] == "false"


def test_the_handlers_load_powertools_tracer_only_when_sdk_tracing_is_on() -> None:
    import subprocess
    import sys

    code = """
import json, sys
from cronlane.wiring import make_tracer
tracer = make_tracer("cronlane-test", {"POWERTOOLS_TRACE_DISABLED": sys.argv[1]})
print(json.dumps([type(tracer).__name__, "aws_xray_sdk" in sys.modules]))
"""
    seen = {}
    for value in ("true", "TRUE", "1", "false", ""):
        done = subprocess.run(
            [sys.executable, "-c", code, value], capture_output=True, text=True, timeout=120, check=True
        )
        seen[value] = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen == {
        "true": ["NoTracer", False],
        "TRUE": ["NoTracer", False],
        "1": ["NoTracer", False],
        "false": ["Tracer", True],
        "": ["Tracer", True],
    }


def test_without_the_sdk_the_handlers_decorators_change_nothing() -> None:
    from cronlane.wiring import NoTracer

    def handler(event: Any, context: Any) -> Any:
        return event

    tracer = NoTracer()
    assert tracer.capture_lambda_handler(handler) is handler
    assert tracer.capture_method(handler) is handler
    assert tracer.put_annotation(key="job", value="rank") is None


@pytest.mark.parametrize("bad", ["yes", 1, None])
def test_metrics_on_a_job_or_a_schedule_must_be_true_or_false(bad: Any) -> None:
    from cronlane import Catalog, Job, Schedule, Selection
    from cronlane.errors import CatalogError

    with pytest.raises(CatalogError) as refused:
        Catalog.build(
            [Job("loadJob", "cronlane.simulated.simulate", "g", metrics=bad)],
            [Schedule("nightly", "cron(0 2 * * ? *)", Selection.everything(), metrics=bad)],
        )
    assert "job 'loadJob': metrics must be True or False" in str(refused.value)
    assert "schedule 'nightly': metrics must be True or False" in str(refused.value)
