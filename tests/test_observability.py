"""The dashboard and alarms in template.yaml name exactly the metrics the code emits."""

from __future__ import annotations

import re
from typing import Any

import pytest
from samtranslator.yaml_helper import yaml_parse

from cronlane.telemetry import METRICS, EmfTelemetry
from tests.conftest import TEMPLATE


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return yaml_parse(TEMPLATE.read_text())


def own_metrics_in_template(template: dict[str, Any]) -> set[str]:
    """Metric names in the cronlane namespace used by the dashboard and the alarms."""
    names: set[str] = set()
    body = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"][0]
    names.update(re.findall(r"SEARCH\('\{\$\{NS\}[^}]*\} MetricName=\\\"(\w+)\\\"", body))
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::CloudWatch::Alarm" and props.get("Namespace") == {
            "Ref": "MetricsNamespace"
        }:
            names.add(props["MetricName"])
    return names


def test_every_metric_the_template_names_is_emitted_and_every_emitted_metric_is_shown(
    template: dict[str, Any],
) -> None:
    shown = own_metrics_in_template(template)
    assert shown - set(METRICS) == set(), "the template names metrics the code never emits"
    assert set(METRICS) - shown == set(), "the code emits metrics no widget or alarm shows"


def test_alarms_watch_the_service_wide_series_the_code_emits(template: dict[str, Any]) -> None:
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        if resource["Type"] != "AWS::CloudWatch::Alarm" or props.get("Namespace") != {
            "Ref": "MetricsNamespace"
        }:
            continue
        assert props["Dimensions"] == [{"Name": "service", "Value": "cronlane"}]
        assert "" in METRICS[props["MetricName"]][1], f"{props['MetricName']} has no service-wide series"
        assert props["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_the_required_alarms_exist(template: dict[str, Any]) -> None:
    alarms = {
        (
            p["Properties"].get("Namespace") if isinstance(p["Properties"].get("Namespace"), str) else "own",
            p["Properties"]["MetricName"],
        )
        for p in template["Resources"].values()
        if p["Type"] == "AWS::CloudWatch::Alarm"
    }
    assert alarms >= {
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        ("own", "RunsFailed"),
        ("own", "JobTimeoutFraction"),
        ("own", "RunsOverDeadline"),
        ("AWS/Lambda", "Errors"),
    }


def test_emf_output_carries_the_metric_with_its_dimension(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    EmfTelemetry("cronlane-test", "cronlane").emit("JobTimeoutFraction", 0.5, job="matchScoreJob")
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    dims = sorted(tuple(b["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]) for b in blobs)
    assert dims == [("service",), ("service", "Job")]
    assert all(b["JobTimeoutFraction"] == [0.5] for b in blobs)
    assert all(b["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "cronlane-test" for b in blobs)
    assert next(b for b in blobs if "Job" in b)["Job"] == "matchScoreJob"
