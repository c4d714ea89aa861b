"""The dashboard and alarms in template.yaml name exactly the metrics the code emits; X-Ray is
active on both functions and the X-Ray SDK is loaded only when its subsegments are asked for."""

from __future__ import annotations

import json
from typing import Any

import pytest
from samtranslator.yaml_helper import yaml_parse

from cronlane.telemetry import METRICS, EmfTelemetry
from cronlane.template.checks import _own_alarm_metrics, dashboard_metrics
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


def test_alarms_watch_the_service_wide_series_the_code_emits(template: dict[str, Any]) -> None:
    for metric in own_alarm_metrics(template):
        assert metric["Dimensions"] == [{"Name": "service", "Value": "cronlane"}]
        assert "" in METRICS[metric["MetricName"]][1], f"{metric['MetricName']} has no service-wide series"
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::CloudWatch::Alarm":
            assert resource["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}]


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


def test_emf_output_carries_the_metric_with_its_dimension(capsys: pytest.CaptureFixture[str]) -> None:
    EmfTelemetry("cronlane-test", "cronlane").emit("JobTimeoutFraction", 0.5, job="score")
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    dims = sorted(tuple(b["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]) for b in blobs)
    assert dims == [("service",), ("service", "Job")]
    assert all(b["JobTimeoutFraction"] == [0.5] for b in blobs)
    assert all(b["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "cronlane-test" for b in blobs)
    assert next(b for b in blobs if "Job" in b)["Job"] == "score"


# ---------------------------------------------------------------------------------------------
# Tracing: X-Ray active; the SDK's subsegments opt-in (TraceSdkCalls)
# ---------------------------------------------------------------------------------------------


def test_xray_is_active_and_the_sdk_is_opt_in(template: dict[str, Any]) -> None:
    function = template["Globals"]["Function"]
    assert function["Tracing"] == "Active"  # Lambda traces every invocation, no SDK needed
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
