"""A job whose target is a Lambda function of the app's template (``LambdaTarget``): the executor
invokes it synchronously with the job's payload, records its result and request id, and treats
a function error as a failed attempt that retries; ``cronlane template`` grants the executor that
function's invoke and nothing more. Run in an app made by ``cronlane init``, on the local runtime."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from cronlane.scaffold import create_app
from tests.conftest import app_cli as cli

pytestmark = [pytest.mark.stack, pytest.mark.xdist_group("lambda-target")]

WHEELS = os.environ.get("CRONLANE_WHEELS")

GREETER = '''"""A function of the app's own template, in any runtime: here Python."""


import os


def handler(event, context):
    if event["params"].get("fail_while") and os.path.exists(event["params"]["fail_while"]):
        raise RuntimeError("greeter is down")
    if event["params"].get("fail_attempts", 0) >= event["attempt"]:
        raise RuntimeError(f"greeter refused attempt {event['attempt']}")
    return {"greeted": event["params"]["name"], "run": event["run_id"], "key": event["idempotency_key"]}
'''
NODE_HANDLER = """// a job the team already has in JavaScript, as a Lambda function
exports.handler = async (event, context) => {
  if (event.params.fail) throw new TypeError(`counter refused attempt ${event.attempt}`);
  return { counted: event.params.name.length, node: process.version, request: context.awsRequestId };
};
"""
FUNCTION = """
  CounterFunction:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: !Sub "${AWS::StackName}-counter"
      Runtime: nodejs22.x
      CodeUri: node/
      Handler: index.handler
      Timeout: 30
      LoggingConfig:
        LogGroup: !Ref ExecutorLogGroup

  GreeterFunction:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: !Sub "${AWS::StackName}-greeter"
      CodeUri: src/
      Handler: my_jobs.greeter.handler
      Timeout: 60
      LoggingConfig:
        LogGroup: !Ref ExecutorLogGroup

"""
JOB = """
JOBS += [
    Job(
        "greetJob",
        LambdaTarget("${AWS::StackName}-greeter"),
        "hello",
        ("helloJob",),
        timeout_s=120,
        max_attempts=3,
        params={
            "name": Param("str", "lambda"),
            "fail_attempts": Param("int", 0, min=0),
            "fail_while": Param("str", "", "fail while this file exists"),
        },
    ),
    Job(
        "countJob",
        LambdaTarget("${AWS::StackName}-counter"),
        "hello",
        timeout_s=60,
        max_attempts=2,
        params={"name": Param("str", "node"), "fail": Param("bool", False)},
    ),
]
"""


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("lambda") / "my-jobs"
    create_app(root, package="my_jobs", find_links=Path(WHEELS) if WHEELS else None)
    (root / "src" / "my_jobs" / "greeter.py").write_text(GREETER)
    (root / "node").mkdir()
    (root / "node" / "index.js").write_text(NODE_HANDLER)
    template = root / "template.yaml"
    text = template.read_text()
    template.write_text(text.replace("\n  ExecutorFunction:\n", FUNCTION + "  ExecutorFunction:\n", 1))
    catalog = root / "src" / "my_jobs" / "catalog.py"
    source = catalog.read_text().replace("from cronlane import ", "from cronlane import LambdaTarget, ")
    catalog.write_text(source.replace("\nCATALOG = Catalog.build", JOB + "\nCATALOG = Catalog.build"))
    return root


def test_template_grants_the_executor_that_functions_invoke_and_validate_passes(app: Path) -> None:
    done = cli(app, "template")
    assert done.returncode == 0, done.stderr
    text = (app / "template.yaml").read_text()
    assert (
        "      - Sid: InvokeGreetJob\n                Effect: Allow\n"
        '                Action: ["lambda:InvokeFunction"]\n'
        "                Resource:\n"
        '                  - !Sub "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:'
        '${AWS::StackName}-greeter"'
    ) in text
    done = cli(app, "validate")
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_target_runs_after_its_upstream_and_its_result_and_request_id_are_recorded(app: Path) -> None:
    done = cli(app, "local", "run", "daily", "--clock", "virtual", "--json")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    run = json.loads(done.stdout)
    jobs = {j["name"]: j for j in run["jobs"]}
    assert run["status"] == "SUCCEEDED"
    assert jobs["greetJob"]["target"] == "lambda" and jobs["helloJob"]["target"] == "python"
    assert jobs["greetJob"]["handle"] and jobs["helloJob"]["handle"] is None
    assert jobs["greetJob"]["started_at"] >= jobs["helloJob"]["finished_at"]
    assert jobs["countJob"]["status"] == "SUCCEEDED" and jobs["countJob"]["target"] == "lambda"


def test_a_nodejs_function_runs_in_a_real_node_process(app: Path) -> None:
    done = cli(app, "local", "run", "daily", "--clock", "virtual", "--json", "--param", "countJob.fail=true")
    assert done.returncode == 1
    count = {j["name"]: j for j in json.loads(done.stdout)["jobs"]}["countJob"]
    # the handler's own TypeError, thrown in node, is the failed attempt's error, as on Lambda
    assert (count["status"], count["attempts"]) == ("FAILED", 2)
    assert count["error"] == "TypeError: counter refused attempt 2"
    node = subprocess.run(["node", "--version"], capture_output=True, text=True, check=True).stdout.strip()
    logs = "".join(p.read_text() for p in (app / ".cronlane" / "logs").rglob("CounterFunction*.log"))
    assert "TypeError: counter refused attempt" in logs  # console.error of the real node process
    assert node.startswith("v")


def test_a_function_error_is_a_failed_attempt_with_its_message_and_the_job_retries(app: Path) -> None:
    done = cli(
        app, "local", "run", "daily", "--clock", "virtual", "--json", "--param", "greetJob.fail_attempts=1"
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    greet = {j["name"]: j for j in json.loads(done.stdout)["jobs"]}["greetJob"]
    assert (greet["status"], greet["attempts"]) == ("SUCCEEDED", 2)
    # and when every attempt fails, the job fails with the function's own error
    done = cli(
        app, "local", "run", "daily", "--clock", "virtual", "--json", "--param", "greetJob.fail_attempts=3"
    )
    assert done.returncode == 1
    greet = {j["name"]: j for j in json.loads(done.stdout)["jobs"]}["greetJob"]
    assert (greet["status"], greet["attempts"]) == ("FAILED", 3)
    assert greet["error"] == "RuntimeError: greeter refused attempt 3"


def test_a_target_whose_function_is_not_in_the_template_is_named(app: Path) -> None:
    catalog = app / "src" / "my_jobs" / "catalog.py"
    text = catalog.read_text()
    catalog.write_text(
        text.replace('LambdaTarget("${AWS::StackName}-greeter")', 'LambdaTarget("${AWS::StackName}-greter")')
    )
    try:
        done = cli(app, "validate")
    finally:
        catalog.write_text(text)
    assert done.returncode == 1
    assert (
        "problem: job 'greetJob': no function in template.yaml has FunctionName !Sub "
        '"${AWS::StackName}-greter": add it, or name an existing function'
    ) in done.stdout.splitlines()


def test_a_dead_lettered_lambda_target_is_replayed_once_its_function_works_again(
    app: Path, tmp_path: Path
) -> None:
    import time

    from cronlane.local.session import local_runtime, wait_for_run
    from cronlane.model import JobStatus, RunStatus
    from tests.conftest import act

    outage = tmp_path / "outage"
    outage.write_text("the greeter's backend is down")
    with local_runtime(app / "template.yaml", start=time.time()) as runtime:
        # GIVEN a run whose lambda target fails every attempt: its message is dead-lettered
        act(
            runtime,
            action="trigger",
            schedule="daily",
            jobs=["greetJob"],
            idempotency_key="outage",
            parameters={"greetJob": {"fail_while": str(outage)}},
        )
        report = wait_for_run(runtime, "manual@outage")
        greet = next(j for j in report.jobs if j.job == "greetJob")
        assert report.run.status is RunStatus.FAILED
        assert (greet.status, greet.attempts, greet.error) == (
            JobStatus.FAILED,
            3,
            "RuntimeError: greeter is down",
        )
        assert [h["target"] for h in greet.history] == ["lambda"] * 3 and all(
            h["handle"] for h in greet.history
        )
        [letter] = act(runtime, action="dlq-list")["messages"]
        assert (letter["run_id"], letter["job"]) == ("manual@outage", "greetJob")
        # WHEN the function works again and the dead letter is replayed
        outage.unlink()
        act(runtime, action="dlq-replay", job="greetJob")
        report = wait_for_run(runtime, "manual@outage")
        # THEN the job runs once more and the run succeeds
        greet = next(j for j in report.jobs if j.job == "greetJob")
        assert report.run.status is RunStatus.SUCCEEDED
        assert greet.status is JobStatus.SUCCEEDED
        assert act(runtime, action="dlq-list")["messages"] == []
