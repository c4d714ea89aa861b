"""The all-in bill (``benchmarks.all_in``), checked against hand-worked answers: metric series
counted from EMF documents, log bytes (the functions' own and Lambda's lines) priced per GB,
X-Ray at the template's mode and Lambda's fixed sampling, the fixed monthly costs spread over
the month's jobs, and the Step Functions comparisons. No local runtime: the measured run is
built by hand in the shape ``benchmarks.cost.measure`` returns."""

from __future__ import annotations

import copy
import json
import uuid
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from benchmarks import EXAMPLE_TEMPLATE, all_in
from benchmarks.billing import PRICE, esm_polling_per_month
from benchmarks.cost import emf_emitted, platform_log_bytes
from cronlane.local.stack import load_template

TEMPLATE = load_template(EXAMPLE_TEMPLATE)
UUID = "1c380ba1-daa7-4bd4-8a35-74fd98d1f0bc"


def measured(**changes: Any) -> dict[str, Any]:
    """A measured run of 1,000 jobs in the shape cost.measure returns, costing $5 of requests
    per million jobs, with nothing logged and no cold start unless ``changes`` say so."""
    run = {
        "jobs": 1000,
        "levels": 2,
        "level_sizes": [500, 500],
        "cost_per_million_jobs": 5.0,
        "metric_series": 0,
        "lambda_invocations": {"DispatcherFunction": 1, "ExecutorFunction": 1000},
        "environments": {},
        "log_bytes_by_function": {},
        "platform_log_bytes": 0,
        "stored_bytes_per_job": 0,
    }
    return {**run, **changes}


def bare_template(**parameters: Any) -> dict[str, Any]:
    """No alarm, no dashboard: only what the item under test needs."""
    return {"Parameters": {k: {"Default": v} for k, v in parameters.items()}, "Resources": {}}


def items(run: dict[str, Any], template: dict[str, Any] | None = None) -> dict[str, float]:
    bill = all_in.cronlane(run, template or bare_template(), {"ExecutorFunction": 400.0})
    return bill["dollars_per_million_jobs"]


# -- metric series --------------------------------------------------------------------------------


def emf(job: str, dimensions: list[list[str]], **values: Any) -> str:
    metrics = [{"Name": name, "Unit": "Count"} for name in values if name[0].isupper() and name != "Target"]
    directive = [{"Namespace": "cronlane", "Dimensions": dimensions, "Metrics": metrics}]
    document = {"_aws": {"Timestamp": 1, "CloudWatchMetrics": directive}, "service": "cronlane", "job": job}
    return json.dumps({**document, **values})


def test_series_are_the_distinct_metric_and_dimension_values_whatever_the_documents(tmp_path: Path) -> None:
    lines = [
        emf("a", [["service"], ["service", "Target"]], Target="python", JobsSucceeded=1),
        emf("b", [["service"], ["service", "Target"]], Target="python", JobsSucceeded=1),
        emf("c", [["service"], ["service", "Target"]], Target="ecs", JobsSucceeded=1),
        '{"level":"INFO","message":"job started"}',
    ]
    (tmp_path / "ExecutorFunction-3.log").write_text("\n".join(lines[:2]) + "\n")
    (tmp_path / "ExecutorFunction-4.log").write_text("\n".join(lines[2:]) + "\n")
    found = emf_emitted(tmp_path)
    # JobsSucceeded service-wide, by Target python, by Target ecs: three series for three documents
    assert len(found["series"]) == 3
    assert found["documents"] == 3
    assert found["bytes_by_function"] == {"ExecutorFunction": sum(len(line) + 1 for line in lines)}


def test_each_series_is_billed_a_metric_month_spread_over_the_month_s_jobs() -> None:
    bill = items(measured(metric_series=30))
    assert bill["metric_series"] == pytest.approx(30 * 0.30 / 30_000_000 * 1e6, abs=5e-4)  # $9 a month: $0.30


# -- log bytes ------------------------------------------------------------------------------------


def test_lambda_writes_start_end_and_report_per_invocation_and_init_start_once() -> None:
    warm = all_in.platform_lines(UUID, 12.3, 1024, None)
    cold = all_in.platform_lines(UUID, 12.3, 1024, 412.5)
    assert [line.split()[0] for line in warm] == ["START", "END", "REPORT"]
    assert [line.split()[0] for line in cold] == ["INIT_START", "START", "END", "REPORT"]
    assert "Billed Duration: 13 ms" in warm[-1] and "Memory Size: 1024 MB" in warm[-1]
    assert "Init Duration: 412.50 ms" in cold[-1]
    # about 250 bytes for every invocation, whatever the function logs itself
    assert 200 < all_in.line_bytes(warm) < 300


def test_the_run_s_lambda_lines_are_counted_per_invocation_with_init_once_per_environment() -> None:
    runtime = SimpleNamespace(
        stack=SimpleNamespace(functions={"ExecutorFunction": SimpleNamespace(memory_mb=1024)})
    )

    def call(function: str, n: int) -> Any:
        return SimpleNamespace(
            function=function, request_id=str(uuid.UUID(int=n)), started_at=0.0, finished_at=0.05
        )

    calls = [call("ExecutorFunction", n) for n in range(3)] + [call("FeedPresortFunction", 9)]
    environments = Counter({"ExecutorFunction": 2, "FeedPresortFunction": 1})
    request = str(uuid.UUID(int=0))
    cold = all_in.line_bytes(all_in.platform_lines(request, 50.0, 1024, 400.0))
    warm = all_in.line_bytes(all_in.platform_lines(request, 50.0, 1024, None))
    # two environments started (two with INIT_START), three invocations; a job's own function is the job's
    assert platform_log_bytes(runtime, calls, environments) == 2 * cold + warm


def test_a_gigabyte_of_logs_costs_its_ingestion_and_its_month_of_storage() -> None:
    assert all_in.log_dollars(1e9, 30) == pytest.approx(0.50 + 0.03)
    assert all_in.log_dollars(1e9, 90) == pytest.approx(0.50 + 0.09)


def test_the_log_bill_counts_cronlane_s_functions_and_lambda_s_lines_not_a_job_s_own_function() -> None:
    written = {"ExecutorFunction": 1_500_000, "FeedPresortFunction": 10_000_000}
    bill = items(
        measured(log_bytes_by_function=written, platform_log_bytes=250_000),
        bare_template(LogRetentionDays=30),
    )
    # 1,750 bytes per job: $0.53 per GB, $0.9275 per million jobs
    assert bill["logs"] == pytest.approx(1750 * 1e6 / 1e9 * 0.53, abs=1e-3)


# -- X-Ray ----------------------------------------------------------------------------------------


def test_lambda_samples_one_invocation_a_second_and_five_percent_of_the_rest() -> None:
    assert all_in.xray_traces(0.5) == 0.5
    assert all_in.xray_traces(1.0) == 1.0
    assert all_in.xray_traces(21.0) == pytest.approx(1.0 + 0.05 * 20)


def test_the_template_s_default_passthrough_records_no_trace_and_active_bills_lambda_s_sampling() -> None:
    assert all_in.tracing_mode(TEMPLATE) == "PassThrough"  # the shipped default
    passthrough = all_in.cronlane(measured(), TEMPLATE, {"ExecutorFunction": 400.0})
    assert passthrough["dollars_per_million_jobs"]["xray"] == 0.0
    active = copy.deepcopy(TEMPLATE)
    active["Parameters"]["TracingMode"]["Default"] = "Active"
    traced = all_in.cronlane(measured(), active, {"ExecutorFunction": 400.0})
    # 30 million jobs a month is 11.57 executor invocations a second: 1 + 5% of 10.57 traces a
    # second, about 3.96 million a month at $5 per million, over 30 million jobs
    executor = (1 + 0.05 * (30e6 / 2_592_000 - 1)) * 2_592_000 * 5e-6 / 30e6 * 1e6
    assert traced["dollars_per_million_jobs"]["xray"] == pytest.approx(executor, rel=0.01)
    assert traced["cost_all_in_per_million_jobs"] > passthrough["cost_all_in_per_million_jobs"]
    assert traced["cost_all_in_with_xray_active"] == passthrough["cost_all_in_with_xray_active"]


# -- Lambda init, the fixed costs -----------------------------------------------------------------


def test_each_cold_start_is_billed_its_init_time_at_the_function_s_memory() -> None:
    bill = items(measured(environments={"ExecutorFunction": 8, "FeedPresortFunction": 3}))
    # 8 executor environments of 1 GB for 0.4 s each, over 1,000 jobs; the job's own function is the job's
    assert bill["lambda_init"] == pytest.approx(
        8 * 0.4 * 1.0 * PRICE["lambda_gb_s_arm64"] / 1000 * 1e6, abs=5e-4
    )


def test_the_template_s_alarms_and_dashboard_are_fixed_monthly_costs() -> None:
    # nine alarms, one of them on the math of two metrics: ten alarm metrics; one dashboard
    assert all_in.alarm_metrics(TEMPLATE) == 10
    assert all_in.dashboards(TEMPLATE) == 1
    fixed = all_in.fixed_monthly(8, TEMPLATE)
    assert fixed == {
        "metric_series": 8 * 0.30,
        "alarms": 10 * 0.10,
        "dashboards": 3.00,
        "esm_polls": esm_polling_per_month(),
    }


def test_the_fixed_costs_weigh_more_per_job_at_a_smaller_volume() -> None:
    bill = all_in.cronlane(measured(metric_series=8), TEMPLATE, {"ExecutorFunction": 400.0})
    fixed = sum(bill["fixed_per_month"].values())
    at_30m = bill["cost_all_in_per_million_jobs"]
    assert all_in.at_volume(bill, 30_000_000) == pytest.approx(at_30m, abs=0.01)
    # the example app's few thousand jobs a month carry the same monthly costs alone
    assert all_in.at_volume(bill, 5000) == pytest.approx(at_30m - fixed / 30 + fixed / 5000 * 1e6, abs=0.01)


def test_the_all_in_cost_adds_each_item_to_the_orchestration() -> None:
    run = measured(
        metric_series=8,
        environments={"ExecutorFunction": 8},
        log_bytes_by_function={"ExecutorFunction": 1_000_000},
        platform_log_bytes=250_000,
        stored_bytes_per_job=1_000,
    )
    bill = all_in.cronlane(run, TEMPLATE, {"ExecutorFunction": 400.0})
    worked = {
        "orchestration": 5.0,
        "lambda_init": 8 * 0.4 * 1.0 * 0.0000133334 / 1000 * 1e6,  # 0.0427
        "logs": 1250 * 1e6 / 1e9 * (0.50 + 0.03),  # 0.6625
        "dynamodb_storage": 1000 * 1e6 / 1e9 * (0.25 + 0.20),  # kept 30 days, PITR on: 0.45
        "xray": 0.0,
        "scheduler_tick": 1.0 / 1000,  # one tick for the run's 1,000 jobs
        "metric_series": 8 * 0.30 / 30,
        "alarms": 10 * 0.10 / 30,
        "dashboards": 3.00 / 30,
        "esm_polls": 5 * 3 * 60 * 24 * 30 * 0.50 / 1e6 / 30,
    }
    assert bill["dollars_per_million_jobs"] == pytest.approx(worked, abs=1e-3)
    assert bill["cost_all_in_per_million_jobs"] == pytest.approx(6.38, abs=0.01)


def test_what_the_table_keeps_is_billed_for_the_history_it_is_kept_and_its_recovery() -> None:
    kept = copy.deepcopy(TEMPLATE)
    assert all_in.storage_dollars(1e9, kept) == pytest.approx(0.25 + 0.20)  # 30 days, PITR on
    kept["Parameters"]["HistoryRetentionDays"]["Default"] = 90
    assert all_in.storage_dollars(1e9, kept) == pytest.approx(3 * (0.25 + 0.20))
    table = next(r for r in kept["Resources"].values() if r.get("Type") == "AWS::DynamoDB::Table")
    table["Properties"]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] = False
    assert all_in.storage_dollars(1e9, kept) == pytest.approx(3 * 0.25)


# -- Step Functions -------------------------------------------------------------------------------


def test_step_functions_standard_pays_its_transitions_a_lambda_invocation_per_job_and_the_same_alarms() -> (
    None
):
    sfn = all_in.step_functions(measured(), TEMPLATE)
    transitions = (1000 + 2 * 2 + 2) * 25 / 1000  # $ per million jobs, as sfn_ratio counts them
    fixed = (10 * 0.10 + 3.00) / 30
    assert sfn["standard_per_million_jobs"] == pytest.approx(transitions + 0.20 + fixed, abs=0.15)
    assert sfn["standard_per_million_jobs"] > transitions + 0.20 + fixed  # plus Lambda's lines
    assert sfn["standard_logging_all_per_million_jobs"] > sfn["standard_per_million_jobs"]


def test_step_functions_logging_all_writes_more_with_more_jobs() -> None:
    assert all_in.standard_log_bytes([10, 10]) > all_in.standard_log_bytes([10]) > 0
    one_level = all_in.standard_log_bytes([1])
    two_levels = all_in.standard_log_bytes([1, 1])
    assert two_levels - one_level > 5 * 150  # a level's Parallel events and a job's five Task events


def test_the_express_variant_batches_jobs_into_children_and_each_child_is_a_transition_of_the_parent() -> (
    None
):
    assert all_in.express_children([100, 41, 5], 40) == 3 + 2 + 1
    sfn = all_in.step_functions(measured(), TEMPLATE)
    batched, single = sfn["distributed_express"], sfn["distributed_express_one_job_per_child"]
    assert (batched["children"], single["children"]) == (26, 1000)
    # one child per job pays a transition per job in the parent, as Standard does, and Express on top
    assert single["per_million_jobs"] > sfn["standard_per_million_jobs"] - 1
    assert batched["per_million_jobs"] < single["per_million_jobs"] / 5
    assert any("5 minutes" in reason for reason in sfn["distributed_express_gives_up"])


def test_the_express_variant_pays_for_its_all_level_logs() -> None:
    sizes = [500, 500]
    sfn = all_in.step_functions(measured(level_sizes=sizes), TEMPLATE)
    children = all_in.express_children(sizes, 40)  # 13 a level
    parent = (2 + 2 + children) * 25e-6
    child = children * (1e-6 + 0.1 * 0.0625 * 0.00001667)
    jobs = 1000 * 0.20e-6 + all_in.log_dollars(all_in._jobs_lambda_lines(1000), 30)
    logs = all_in.log_dollars(all_in.express_log_bytes(sizes, 40), 30)
    fixed = (10 * 0.10 + 3.00) / 30e6
    worked = (parent + child + jobs + logs) * 1e3 + fixed * 1e6
    assert sfn["distributed_express"]["per_million_jobs"] == pytest.approx(worked, abs=0.01)
    # its logs are about half of it: a job's seven events at ALL, about 1.2 KB
    assert logs * 1e3 > 0.4 * worked


def test_an_express_child_is_billed_for_the_time_its_jobs_run() -> None:
    quick = all_in.step_functions(measured(), TEMPLATE, job_s=0.0)
    slow = all_in.step_functions(measured(), TEMPLATE, job_s=60.0)
    more = slow["distributed_express"]["per_million_jobs"] - quick["distributed_express"]["per_million_jobs"]
    # 26 children of 64 MB waiting a minute longer each (60.1 s billed in 100 ms steps, not 0.1 s)
    assert more == pytest.approx(26 * 60.0 * 0.0625 * 0.00001667 / 1000 * 1e6, abs=0.02)
