"""template.yaml against the declarations and the AWS limits it must respect."""

from __future__ import annotations

import json
from typing import Any

import pytest
from samtranslator.yaml_helper import yaml_parse

from cronlane.cron import parse_expression
from fixture_jobs.catalog import CATALOG
from tests.conftest import TEMPLATE


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return yaml_parse(TEMPLATE.read_text())


def schedule_events(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Schedule name -> the rule's properties, from the dispatcher's Schedule events (EventBridge
    rules) and ScheduleV2 events (EventBridge Scheduler, for a schedule in a time zone)."""
    events = template["Resources"]["DispatcherFunction"]["Properties"]["Events"]
    rules = {}
    for event in events.values():
        if event["Type"] not in ("Schedule", "ScheduleV2"):
            continue
        name = event["Properties"]["Name"]["Fn::Sub"]
        assert name.startswith("${AWS::StackName}-"), f"rule name {name} must start with the stack name"
        rules[name.removeprefix("${AWS::StackName}-")] = event["Properties"]
    return rules


def test_every_declared_schedule_has_a_rule_with_the_same_expression(template: dict[str, Any]) -> None:
    rules = schedule_events(template)
    assert set(rules) == set(CATALOG.schedules), "schedules in template.yaml and jobs/catalog.py differ"
    for name, schedule in CATALOG.schedules.items():
        props = rules[name]
        expression = props.get("Schedule") or props["ScheduleExpression"]
        assert expression == schedule.expression, f"schedule {name}"
        parse_expression(expression)
        # a time zone needs EventBridge Scheduler: plain rules fire in UTC only (docs/aws-facts.md)
        assert props.get("ScheduleExpressionTimezone") == schedule.timezone, f"schedule {name}"


def test_a_zoned_schedule_sends_the_fire_time_and_its_own_arn(template: dict[str, Any]) -> None:
    props = schedule_events(template)["morning"]
    assert props["ScheduleExpressionTimezone"] == "Europe/Berlin"
    assert props["FlexibleTimeWindow"] == {"Mode": "OFF"}  # fire at the time, not within a window
    sent = json.loads(props["Input"])
    assert sent == {
        "source": "aws.scheduler",
        "schedule_arn": "<aws.scheduler.schedule-arn>",
        "scheduled_time": "<aws.scheduler.scheduled-time>",
        "execution_id": "<aws.scheduler.execution-id>",
        "attempt": "<aws.scheduler.attempt-number>",
    }


def test_the_required_schedules_are_there(template: dict[str, Any]) -> None:
    rules = schedule_events(template)
    assert rules["nightly"]["Schedule"] == "cron(0 2 * * ? *)"
    assert CATALOG.schedules["nightly"].selection.all_jobs
    assert CATALOG.schedules["hourly"].selection.groups == ("feed",)


def test_rules_carry_no_constant_input_so_the_dispatcher_gets_the_tick_time(template: dict[str, Any]) -> None:
    for name, props in schedule_events(template).items():
        if "ScheduleExpression" in props:
            continue  # Scheduler's Input carries the fire time (the test above)
        assert "Input" not in props and "InputPath" not in props, f"rule {name} has an Input"


def test_queue_visibility_is_at_least_six_times_the_executor_timeout(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    timeout = resources["ExecutorFunction"]["Properties"]["Timeout"]
    assert timeout <= 900
    assert resources["JobQueue"]["Properties"]["VisibilityTimeout"] >= 6 * timeout


def test_job_timeouts_fit_in_the_executor(template: dict[str, Any]) -> None:
    timeout = template["Resources"]["ExecutorFunction"]["Properties"]["Timeout"]
    for job in CATALOG.jobs.values():
        assert job.timeout_s <= timeout, job.name


def test_queues_are_fifo_with_a_fifo_dead_letter_queue(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    queue, dlq = resources["JobQueue"]["Properties"], resources["DeadLetterQueue"]["Properties"]
    assert queue["FifoQueue"] and dlq["FifoQueue"]
    assert queue["QueueName"]["Fn::Sub"].endswith(".fifo") and dlq["QueueName"]["Fn::Sub"].endswith(".fifo")
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}
    assert dlq["MessageRetentionPeriod"] == 1209600


def test_the_executor_reports_batch_item_failures(template: dict[str, Any]) -> None:
    event = template["Resources"]["ExecutorFunction"]["Properties"]["Events"]["Jobs"]["Properties"]
    assert event["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert event["BatchSize"] <= 10  # FIFO event source mappings take at most 10


def test_the_layer_is_built_by_its_makefile_for_python313_on_arm64(template: dict[str, Any]) -> None:
    layer = template["Resources"]["CoreLayer"]
    # layer/Makefile: the wheels for python3.13 on arm64, and their bytecode (tests/test_layer_build.py)
    assert layer["Metadata"] == {"BuildMethod": "makefile", "BuildArchitecture": "arm64"}
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]
    assert template["Globals"]["Function"]["Runtime"] == "python3.13"
    assert template["Globals"]["Function"]["Architectures"] == ["arm64"]


def test_history_expires_through_a_ttl_parameter(template: dict[str, Any]) -> None:
    table = template["Resources"]["RunsTable"]["Properties"]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    assert env["HISTORY_TTL_DAYS"] == {"Ref": "HistoryRetentionDays"}


def test_outputs_name_what_tools_and_tests_look_up(template: dict[str, Any]) -> None:
    from cronlane.template.checks import OUTPUTS

    # what validate requires (the CLI looks the table and the dispatcher up; tests the rest)
    assert set(template["Outputs"]) >= set(OUTPUTS) >= {"TableName", "DispatcherFunctionName"}


def test_rule_targets_retry_and_park_undeliverable_ticks(template: dict[str, Any]) -> None:
    for name, props in schedule_events(template).items():
        assert props["RetryPolicy"]["MaximumRetryAttempts"] >= 1, name
        assert props["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["TickDeadLetterQueue", "Arn"]}}, name
    tick_dlq = template["Resources"]["TickDeadLetterQueue"]["Properties"]
    assert "FifoQueue" not in tick_dlq  # EventBridge target DLQs are standard queues


def test_a_tick_held_back_is_never_both_missed_and_run(template: dict[str, Any]) -> None:
    # The longest a tick can arrive late: EventBridge retries delivering it for the rule's event
    # age, then Lambda keeps the asynchronous invocation for the function's event age. Within the
    # dispatcher's missed-run grace, a tick that comes late is run, not also counted as missed.
    from cronlane.dispatch import MISSED_GRACE_S

    invoke_config = template["Resources"]["DispatcherFunction"]["Properties"]["EventInvokeConfig"]
    held = invoke_config["MaximumEventAgeInSeconds"]
    for name, props in schedule_events(template).items():
        assert props["RetryPolicy"]["MaximumEventAgeInSeconds"] + held <= MISSED_GRACE_S, name


def test_the_dispatcher_has_reserved_concurrency(template: dict[str, Any]) -> None:
    assert template["Resources"]["DispatcherFunction"]["Properties"]["ReservedConcurrentExecutions"] >= 1


def test_samconfig_has_default_dev_and_prod_with_valid_parameters(template: dict[str, Any]) -> None:
    import shlex
    import tomllib

    from tests.conftest import FIXTURE_APP

    config = tomllib.loads((FIXTURE_APP / "samconfig.toml").read_text())
    assert {"default", "dev", "prod"} <= set(config)
    names = {env: config[env]["global"]["parameters"]["stack_name"] for env in ("default", "dev", "prod")}
    assert len(set(names.values())) == 3, names
    assert config["prod"]["deploy"]["parameters"]["confirm_changeset"] is True
    parameters = template["Parameters"]
    for env in ("default", "dev", "prod"):
        overrides = dict(
            p.split("=", 1) for p in shlex.split(config[env]["deploy"]["parameters"]["parameter_overrides"])
        )
        for name, value in overrides.items():
            assert name in parameters, f"[{env}] overrides an unknown parameter {name}"
            allowed = parameters[name].get("AllowedValues")
            assert allowed is None or value in [str(a) for a in allowed], f"[{env}] {name}={value}"
        assert overrides["Environment"] == ("prod" if env == "prod" else "dev")


def test_data_is_encrypted_kept_and_protected(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    for name in ("JobQueue", "DeadLetterQueue", "TickDeadLetterQueue"):
        props = resources[name]["Properties"]
        # SQS-managed keys, or the customer key when KmsKeyArn is given
        assert props["SqsManagedSseEnabled"] == {"Fn::If": ["HasKmsKey", {"Ref": "AWS::NoValue"}, True]}, name
        assert props["KmsMasterKeyId"] == {
            "Fn::If": ["HasKmsKey", {"Ref": "KmsKeyArn"}, {"Ref": "AWS::NoValue"}]
        }
    for name in ("DeadLetterQueue", "TickDeadLetterQueue"):
        assert resources[name]["Properties"]["MessageRetentionPeriod"] == 1_209_600  # 14 days
    table = resources["RunsTable"]["Properties"]
    assert table["SSESpecification"]["SSEEnabled"] is True and table["SSESpecification"]["SSEType"] == "KMS"
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["DeletionProtectionEnabled"] == {"Fn::If": ["IsProd", True, False]}
    for name in ("DispatcherLogGroup", "ExecutorLogGroup"):
        assert resources[name]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert {"Environment", "LogLevel", "LogRetentionDays", "AlarmEmail", "KmsKeyArn"} <= set(
        template["Parameters"]
    )


def test_the_tick_dead_letter_queue_takes_exactly_this_stacks_rules(template: dict[str, Any]) -> None:
    events = template["Resources"]["DispatcherFunction"]["Properties"]["Events"]
    rules = {f"DispatcherFunction{name}" for name, e in events.items() if e["Type"] == "Schedule"}
    statement = template["Resources"]["TickDeadLetterQueuePolicy"]["Properties"]["PolicyDocument"][
        "Statement"
    ][0]
    allowed = {arn["Fn::GetAtt"][0] for arn in statement["Condition"]["ArnEquals"]["aws:SourceArn"]}
    assert allowed == rules, "every rule, and only the rules, may park its ticks there"
