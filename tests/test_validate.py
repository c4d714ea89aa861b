"""`cronlane validate` catches what a deploy (or the first run) would hit: every rule of the
framework's template is a check, so an app needs no copy of these tests. Each case breaks the
fixture app's template or catalog one way and expects the one-line problem that names it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from samtranslator.yaml_helper import yaml_parse

from cronlane import Catalog, Job, JobContext, Param, Permission, Schedule, Selection, jobfunctions
from cronlane.scaffold import render_template
from cronlane.template.checks import AppFiles, validate
from cronlane.template.generate import render
from fixture_jobs.catalog import CATALOG
from tests.conftest import CATALOG_MODULE, TEMPLATE

TEXT = TEMPLATE.read_text()


def problems_of(
    text: str, catalog: Catalog | None = CATALOG, samconfig: dict[str, Any] | None = None
) -> list[str]:
    return validate(AppFiles(yaml_parse(text), text, catalog, CATALOG_MODULE, samconfig))


def changed(old: str, new: str, count: int = 1) -> str:
    assert TEXT.count(old) >= count, f"the fixture template no longer has {old!r}"
    return TEXT.replace(old, new, count)


def test_the_fixture_template_has_no_problem() -> None:
    assert problems_of(TEXT) == []


def test_the_fixture_template_is_the_scaffolds_with_its_catalogs_parts() -> None:
    # the framework's stack is written once (the scaffold); an app's file differs only in its
    # description, its catalog module and the parts generated from its catalog
    description = tuple(TEXT.split("Description: >-\n", 1)[1].split("\n\n", 1)[0].split("\n"))
    assert render(render_template("fixture_jobs", description), CATALOG, CATALOG_MODULE) == TEXT


BROKEN: list[tuple[str, Callable[[], str], str]] = [
    (
        "a rule with an Input",
        lambda: changed(
            'Schedule: "cron(0 2 * * ? *)"', 'Schedule: "cron(0 2 * * ? *)"\n            Input: "{}"'
        ),
        "event Nightly: has a constant Input, so the dispatcher would not get the tick's time",
    ),
    (
        "a rule with no retry",
        lambda: changed(
            "RetryPolicy: { MaximumRetryAttempts: 10,", "RetryPolicy: { MaximumRetryAttempts: 0,"
        ),
        "event Nightly: RetryPolicy must retry a failed delivery",
    ),
    (
        "a tick that may come later than the missed-run grace",
        lambda: changed("MaximumEventAgeInSeconds: 3600 }", "MaximumEventAgeInSeconds: 7200 }"),
        "event Nightly: a tick may arrive 7440 s late",
    ),
    (
        "a rule whose dead letters go nowhere",
        lambda: changed(
            "            DeadLetterConfig: { Arn: !GetAtt TickDeadLetterQueue.Arn }\n        Morning",
            "        Morning",
        ),
        "event Hourly: DeadLetterConfig must be { Arn: !GetAtt TickDeadLetterQueue.Arn }",
    ),
    (
        "a zoned schedule with a flexible window",
        lambda: changed('FlexibleTimeWindow: { Mode: "OFF" }', 'FlexibleTimeWindow: { Mode: "FLEXIBLE" }'),
        'event Morning: FlexibleTimeWindow must be { Mode: "OFF" }',
    ),
    (
        "a standard job queue",
        lambda: changed(
            "      FifoQueue: true\n      ContentBasedDeduplication", "      ContentBasedDeduplication"
        ),
        "JobQueue must be a FIFO queue",
    ),
    (
        "a dead-letter queue that keeps letters 4 days",
        lambda: changed(
            'QueueName: !Sub "${AWS::StackName}-jobs-dlq.fifo"\n      FifoQueue: true\n      MessageRetentionPeriod: 1209600',
            'QueueName: !Sub "${AWS::StackName}-jobs-dlq.fifo"\n      FifoQueue: true\n      MessageRetentionPeriod: 345600',
        ),
        "DeadLetterQueue must keep messages 1209600 s (14 days)",
    ),
    (
        "an executor that fails whole batches",
        lambda: changed("FunctionResponseTypes: [ReportBatchItemFailures]", "FunctionResponseTypes: []"),
        "ExecutorFunction event Jobs must have FunctionResponseTypes: [ReportBatchItemFailures]",
    ),
    (
        "a visibility timeout shorter than the executor's",
        lambda: changed("VisibilityTimeout: 5400", "VisibilityTimeout: 600"),
        "JobQueue VisibilityTimeout 600 is below the executor's Timeout 900",
    ),
    (
        "a handler that is not the framework's",
        lambda: changed("cronlane.handlers.executor.lambda_handler", "app.handler"),
        "ExecutorFunction Handler must be cronlane.handlers.executor.lambda_handler",
    ),
    (
        "an environment variable the handlers read, gone",
        lambda: changed("        DLQ_URL: !Ref DeadLetterQueue\n", ""),
        "Globals Function Environment lacks DLQ_URL",
    ),
    (
        "an unencrypted table",
        lambda: changed("        SSEEnabled: true\n", "        SSEEnabled: false\n"),
        "RunsTable must be encrypted with KMS",
    ),
    (
        "a dispatcher without reserved concurrency",
        lambda: changed("      ReservedConcurrentExecutions: 5\n", ""),
        "DispatcherFunction needs ReservedConcurrentExecutions",
    ),
    (
        "an output the CLI looks up, gone",
        lambda: changed("  RulePrefix:\n", "  Prefix:\n"),
        "Outputs lack RulePrefix",
    ),
    (
        "a CatalogModule default that is not the app's catalog",
        lambda: changed('Default: "fixture_jobs.catalog"', 'Default: "other.catalog"'),
        "CatalogModule's Default is 'other.catalog' but the app's catalog is 'fixture_jobs.catalog'",
    ),
    (
        "an alarm on a metric cronlane never emits",
        lambda: changed("MetricName: RunsOverDeadline\n", "MetricName: RunsLate\n"),
        "template.yaml: RunOverDeadlineAlarm watches RunsLate, which cronlane never emits",
    ),
    (
        "X-Ray left to an unknown mode",
        lambda: changed("    Tracing: !Ref TracingMode\n", "    Tracing: Sometimes\n"),
        "Globals Function Tracing must be !Ref TracingMode, Active or PassThrough",
    ),
    (
        "the dashboard searching a series per job that is never emitted",
        lambda: changed(
            "SEARCH('{${NS},service} MetricName=\\\"JobDuration\\\"', 'p50', 3600)",
            "SEARCH('{${NS},service,Target} MetricName=\\\"JobDuration\\\"', 'p50', 3600)",
        ),
        "template.yaml: Dashboard searches JobDuration by Target, which cronlane never emits",
    ),
    (
        "a Logs Insights widget reading a field no document carries",
        lambda: changed("sum(JobsSkipped) as skipped", "sum(JobsSkip) as skipped"),
        "template.yaml: Dashboard shows JobsSkip, which cronlane never emits",
    ),
    (
        "a schedule missing from the template",
        lambda: changed(
            TEXT[TEXT.index("        Nightly:\n") : TEXT.index("        # cronlane:end schedules")], ""
        ),
        "schedule 'nightly': no rule in template.yaml named ${AWS::StackName}-nightly (run: cronlane template)",
    ),
    (
        "a generated part edited by hand",
        lambda: changed('Schedule: "cron(0 2 * * ? *)"', 'Schedule: "cron(0 3 * * ? *)"'),
        "the generated part 'schedules' is out of date (run: cronlane template)",
    ),
    (
        "a template without the markers of a part",
        lambda: changed(
            "        # cronlane:begin job-permissions (written by `cronlane template` from the catalog: edit the catalog, not this)\n"
            "        - PolicyName: jobs\n",
            "        - PolicyName: jobs\n",
        ).replace("        # cronlane:end job-permissions\n", ""),
        "template.yaml: no '# cronlane:begin job-permissions' ... '# cronlane:end job-permissions' markers: add them",
    ),
    (
        "the generated parts' markers removed",
        lambda: changed("        # cronlane:end job-permissions\n", ""),
        "'cronlane:begin job-permissions' has no 'cronlane:end job-permissions'",
    ),
    (
        "a statement added to the executor's own policy by hand",
        lambda: changed(
            "              - Sid: DeadLetterFailedJobs\n",
            "              - Sid: ReadReports\n                Effect: Allow\n                Action: s3:GetObject\n"
            '                Resource: "arn:aws:s3:::reports/*"\n              - Sid: DeadLetterFailedJobs\n',
        ),
        "ExecutorRole policy executor: grants s3:GetObject beyond cronlane's own: for a job, declare it on the job",
    ),
    (
        "a managed policy on the executor's role",
        lambda: changed(
            "      Description: cronlane executor",
            "      ManagedPolicyArns: [arn:aws:iam::aws:policy/AmazonS3FullAccess]\n      Description: cronlane executor",
        ),
        "ExecutorRole: has managed policies",
    ),
    (
        "a policy of one's own attached to the executor's role",
        lambda: changed(
            "  DispatcherRole:\n",
            "  ReportsPolicy:\n    Type: AWS::IAM::Policy\n    Properties:\n      PolicyName: reports\n"
            "      Roles: [!Ref ExecutorRole]\n      PolicyDocument: { Version: '2012-10-17', Statement: [] }\n\n"
            "  DispatcherRole:\n",
        ),
        "ReportsPolicy attaches a policy to ExecutorRole: for a job, declare it on the job",
    ),
    (
        "a NotAction grant on the executor",
        lambda: changed(
            "              - Sid: DeadLetterFailedJobs\n",
            "              - Sid: Everything\n                Effect: Allow\n                NotAction: iam:CreateUser\n"
            '                Resource: "*"\n              - Sid: DeadLetterFailedJobs\n',
        ),
        "ExecutorRole policy executor: statement Everything uses NotAction, which grants everything else",
    ),
    (
        "a grant on a parameter's ARN, not one of the stack's resources",
        lambda: changed(
            "                Resource: !GetAtt DeadLetterQueue.Arn\n",
            "                Resource: !Ref KmsKeyArn\n",
        ),
        "statement ListAndReplayDeadLetters names {'Ref': 'KmsKeyArn'}, not one of this stack's resources",
    ),
    (
        "a table that prod could delete",
        lambda: changed(
            "DeletionProtectionEnabled: !If [IsProd, true, false]", "DeletionProtectionEnabled: false"
        ),
        "RunsTable's DeletionProtectionEnabled must be !If [IsProd, true, false]",
    ),
    (
        "traces that keep responses",
        lambda: changed(
            'POWERTOOLS_TRACER_CAPTURE_RESPONSE: "false"', 'POWERTOOLS_TRACER_CAPTURE_RESPONSE: "true"'
        ),
        'POWERTOOLS_TRACER_CAPTURE_RESPONSE must be "false"',
    ),
    (
        "a log group kept one day",
        lambda: changed("      RetentionInDays: !Ref LogRetentionDays\n", "      RetentionInDays: 1\n"),
        "DispatcherLogGroup RetentionInDays must be !Ref LogRetentionDays",
    ),
    (
        "a wildcard action on the dispatcher",
        lambda: changed(
            "Action: [dynamodb:GetItem, dynamodb:BatchGetItem, dynamodb:PutItem",
            "Action: [dynamodb:*, dynamodb:GetItem, dynamodb:BatchGetItem, dynamodb:PutItem",
        ),
        "DispatcherRole policy dispatcher: statement RunsAndJobRuns grants a wildcard action dynamodb:*",
    ),
]


@pytest.mark.parametrize(("case", "broken", "expected"), BROKEN, ids=[b[0] for b in BROKEN])
def test_validate_names_each_broken_rule(case: str, broken: Callable[[], str], expected: str) -> None:
    found = problems_of(broken())
    assert any(expected in p for p in found), f"{case}: {found}"
    assert all("\n" not in p for p in found)


def test_a_grant_in_the_jobs_policy_that_no_job_declares_is_named() -> None:
    text = changed('Action: ["s3:GetObject"]', 'Action: ["s3:GetObject", "s3:PutObject"]')
    found = problems_of(text)
    assert (
        "template.yaml: ExecutorRole policy jobs: statement Index1 is not a job's declared permission"
        in "\n".join(found)
    )


def test_samconfig_overrides_must_name_the_templates_parameters() -> None:
    config = {
        "prod": {"deploy": {"parameters": {"parameter_overrides": "Environment=production Colour=blue"}}}
    }
    found = problems_of(TEXT, samconfig=config)
    assert "samconfig.toml [prod]: Environment=production is not one of dev, prod" in found
    assert "samconfig.toml [prod]: parameter_overrides sets Colour, which template.yaml lacks" in found


# -- the job functions -------------------------------------------------------------------------


def takes_two(ctx: JobContext, extra: int) -> None:
    del ctx, extra


def reads_an_undeclared_parameter(ctx: JobContext) -> dict[str, Any]:
    params = ctx.params
    return {"rows": ctx.params["rows"], "region": params.get("region"), "optional": ctx.params.get("x", 1)}


NOT_A_FUNCTION = 42


def one_job(function: str, **params: Param) -> Catalog:
    return Catalog.build(
        [Job("someJob", function, "g", params=params)],
        [Schedule("s", "rate(1 hour)", Selection.everything())],
    )


def test_a_function_path_that_does_not_import_is_named_before_the_deploy() -> None:
    found = jobfunctions.problems(one_job("tests.no_such_module.run"))
    assert found == [
        "job 'someJob': job function 'tests.no_such_module.run': module 'tests.no_such_module' not found "
        "(No module named 'tests.no_such_module'): fix the path in its Job(...) or the module"
    ]
    found = jobfunctions.problems(one_job("tests.test_validate.no_such_function"))
    assert found == [
        "job 'someJob': job function 'tests.test_validate.no_such_function': 'tests.test_validate' has no "
        "'no_such_function': fix the path in its Job(...) or the module"
    ]


def test_a_callable_with_the_wrong_signature_is_named() -> None:
    found = jobfunctions.problems(one_job("tests.test_validate.takes_two"))
    assert found == [
        "job 'someJob': tests.test_validate.takes_two(ctx: 'JobContext', extra: 'int') -> 'None' cannot be "
        "called with one argument, the context (a job function is def fn(ctx: JobContext) -> dict | None)"
    ]
    assert jobfunctions.problems(one_job("tests.test_validate.NOT_A_FUNCTION")) == [
        "job 'someJob': 'tests.test_validate.NOT_A_FUNCTION' is not a function: point the Job(...) at one"
    ]


async def an_async_job(ctx: JobContext) -> None:
    raise RuntimeError("never awaited, so never raised")


def a_generator_job(ctx: JobContext) -> Any:
    yield ctx.params


def test_an_async_or_generator_job_is_named_since_calling_it_would_not_run_it() -> None:
    assert jobfunctions.problems(one_job("tests.test_validate.an_async_job")) == [
        "job 'someJob': tests.test_validate.an_async_job is async: the executor calls it and does not "
        "await it (a job function is def fn(ctx: JobContext) -> dict | None)"
    ]
    assert jobfunctions.problems(one_job("tests.test_validate.a_generator_job")) == [
        "job 'someJob': tests.test_validate.a_generator_job is a generator: calling it would not run its "
        "body (a job function is def fn(ctx: JobContext) -> dict | None)"
    ]


def test_parameters_read_but_not_declared_are_named_and_optional_reads_are_not() -> None:
    found = jobfunctions.problems(
        one_job("tests.test_validate.reads_an_undeclared_parameter", rows=Param("int", 1))
    )
    assert found == [
        "job 'someJob': 'tests.test_validate.reads_an_undeclared_parameter' reads ctx.params['region'], which "
        "the job does not declare (declared: rows): add params={'region': Param(...)} to its Job(...)"
    ]


def test_every_fixture_job_function_imports_and_takes_a_context() -> None:
    assert jobfunctions.problems(CATALOG) == []


def test_a_permission_must_name_actions_and_arns_without_wildcards() -> None:
    from cronlane.errors import CatalogError

    resources = ("*", "arn:*", "arn:aws:s3:::*", "arn:${Bucket}:s3:::b/*", "arn:aws:s3:::reports/*")
    with pytest.raises(CatalogError) as raised:
        Catalog.build([Job("j", "m.f", "g", permissions=(Permission(("s3:*",), resources),))])
    assert raised.value.problems == [
        "job 'j': permission action 's3:*' must be 'service:Action' (a wildcard only inside the action's name, "
        "never '*' or 'service:*')",
        "job 'j': permission resource '*' must be an ARN, arn:${AWS::Partition}:<service>:<region>:<account>:<resource>",
        "job 'j': permission resource 'arn:*' must be an ARN, arn:${AWS::Partition}:<service>:<region>:<account>:<resource>",
        "job 'j': permission resource 'arn:aws:s3:::*' grants every resource of the service: name them ('*' is "
        "not granted to jobs)",
        "job 'j': permission resource 'arn:${Bucket}:s3:::b/*' may use only ${AWS::Partition}, ${AWS::Region}, "
        "${AWS::AccountId}, ${AWS::StackName} (CloudFormation fills them in)",
    ]


def test_two_schedules_that_would_share_a_template_event_are_named() -> None:
    catalog = Catalog.build(
        [Job("j", "tests.test_validate.takes_two", "g")],
        [
            Schedule("a-b", "rate(1 hour)", Selection.everything()),
            Schedule("a_b", "rate(2 hours)", Selection.everything()),
        ],
    )
    found = problems_of(render(TEXT, catalog, CATALOG_MODULE), catalog)
    assert (
        "schedule 'a_b': its template resources (DispatcherFunctionAB, DispatcherFunctionABPermission) would "
        "clash with schedule 'a-b''s: rename one"
    ) in found
    # SAM names a rule's permission <rule>Permission: a schedule named so would take its place
    catalog = Catalog.build(
        [Job("j", "tests.test_validate.takes_two", "g")],
        [
            Schedule("daily", "rate(1 day)", Selection.everything()),
            Schedule("daily-permission", "rate(2 days)", Selection.everything()),
        ],
    )
    assert any("schedule 'daily-permission': its template resources" in p for p in problems_of(TEXT, catalog))


def test_a_rule_name_longer_than_eventbridge_allows_is_named_with_the_stack() -> None:
    config = {
        "prod": {
            "global": {
                "parameters": {"stack_name": "a-stack-name-so-long-that-eventbridge-cannot-name-its-rules"}
            }
        }
    }
    found = problems_of(TEXT, samconfig=config)
    assert (
        "schedule 'morning': its rule would be named a-stack-name-so-long-that-eventbridge-cannot-name-its-rules-morning in "
        "samconfig.toml's [prod] stack, over EventBridge's 64 characters: shorten the schedule or the stack"
    ) in found


def test_a_crlf_template_keeps_its_line_ends_and_its_own_text() -> None:
    crlf = TEXT.replace("\n", "\r\n")
    stale = crlf.replace('Schedule: "cron(0 2 * * ? *)"', 'Schedule: "cron(0 3 * * ? *)"')
    assert render(stale, CATALOG, CATALOG_MODULE) == crlf
