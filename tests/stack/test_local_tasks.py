"""The local runtime's processes outside Lambda (``cronlane.local.tasks``): an ECS RunTask on the twin
runs the task definition's containers as local processes (their ``Metadata cronlane local-command``),
StopTask stops them, and their end is EventBridge's "ECS Task State Change" event to the functions
of the rules that match it; a queue's ``Metadata cronlane local-worker`` is a worker process, started
again when it exits; and ``cronlane.worker`` gives both the runtime's clock, under which virtual time
never moves while they compute. Run on a small template of its own."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from cronlane.local.runtime import LocalRuntime, moto_endpoint, reset_moto
from cronlane.local.stack import create_stack, set_process_env
from tests.conftest import START

pytestmark = [pytest.mark.stack, pytest.mark.xdist_group("local-tasks")]

TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  TaskEventsFunction:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: !Sub "${AWS::StackName}-task-events"
      Runtime: python3.13
      CodeUri: src/
      Handler: recorder.handler
      Timeout: 30

  TaskStopped:
    Type: AWS::Events::Rule
    Properties:
      EventPattern:
        source: [aws.ecs]
        detail-type: [ECS Task State Change]
        detail:
          lastStatus: [STOPPED]
          group: [{prefix: !Sub "family:${AWS::StackName}-"}]
      Targets:
        - Id: task-events
          Arn: !GetAtt TaskEventsFunction.Arn

  OtherTasksStopped:  # matches no task of this stack: never invoked
    Type: AWS::Events::Rule
    Properties:
      EventPattern:
        source: [aws.ecs]
        detail: {group: ["family:elsewhere"]}
      Targets:
        - Id: task-events
          Arn: !GetAtt TaskEventsFunction.Arn

  Tasks:
    Type: AWS::ECS::Cluster
    Properties:
      ClusterName: !Sub "${AWS::StackName}-tasks"

  ReportTask:
    Type: AWS::ECS::TaskDefinition
    Metadata:
      cronlane:
        local-command:
          report: "python tasks/report.py --from 'the template'"
    Properties:
      Family: !Sub "${AWS::StackName}-report"
      RequiresCompatibilities: [FARGATE]
      NetworkMode: awsvpc
      Cpu: "256"
      Memory: "512"
      ContainerDefinitions:
        - Name: report
          Image: example.com/report:1
          Essential: true
          Environment:
            - Name: REPORT_BUCKET
              Value: !Sub "${AWS::StackName}-reports"
            - Name: MODE
              Value: exit

  NodeTask:
    Type: AWS::ECS::TaskDefinition
    Metadata:
      cronlane:
        local-command: {clock: "node tasks/clock.js"}
    Properties:
      Family: !Sub "${AWS::StackName}-node"
      Memory: "512"
      ContainerDefinitions:
        - Name: clock
          Image: example.com/node:1

  ImageOnlyTask:  # no local command: cannot start here
    Type: AWS::ECS::TaskDefinition
    Properties:
      Family: !Sub "${AWS::StackName}-image-only"
      Memory: "512"
      ContainerDefinitions:
        - Name: app
          Image: example.com/app:1

  BrokenTask:
    Type: AWS::ECS::TaskDefinition
    Metadata:
      cronlane:
        local-command: {app: "no-such-program-here --now"}
    Properties:
      Family: !Sub "${AWS::StackName}-broken"
      Memory: "512"
      ContainerDefinitions:
        - Name: app
          Image: example.com/app:1

  WorkQueue:
    Type: AWS::SQS::Queue
    Metadata:
      cronlane:
        local-worker: "python workers/worker.py"
    Properties:
      QueueName: !Sub "${AWS::StackName}-work"
"""

RECORDER = """
def handler(event, context):
    return {"task": event["detail"]["taskArn"], "stopCode": event["detail"]["stopCode"]}
"""

REPORT = '''"""A task's container: what it does depends on MODE (its definition's, or RunTask's override)."""
import json
import os
import signal
import sys
import time

from cronlane import worker

mode = os.environ["MODE"]
if mode == "exit":
    names = ("REPORT_BUCKET", "CRONLANE_RUN_ID", "CRONLANE_PARAMS", "AWS_ENDPOINT_URL", "CRONLANE_CLOCK")
    print(json.dumps({"argv": sys.argv[1:], "cwd": os.getcwd(), **{n: os.environ.get(n) for n in names}}))
    sys.exit(int(os.environ.get("EXIT_CODE", "0")))
if mode in ("wait", "stubborn"):
    if mode == "stubborn":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print("waiting", flush=True)
    while True:
        time.sleep(0.05)
if mode == "sleep":
    began = worker.now()
    worker.sleep(float(os.environ["SLEEP_S"]))
    print(json.dumps({"began": began, "ended": worker.now(), "scale": os.environ["CRONLANE_TIME_SCALE"]}))
if mode == "busy":
    began = time.perf_counter()
    while time.perf_counter() - began < 1.0:
        pass
    print(json.dumps({"now": worker.now()}))
'''

CLOCK_JS = """const clock = require(process.env.CRONLANE_WORKER_CLOCK_JS);
const began = clock.now();
clock.sleep(600).then(() => console.log(JSON.stringify({ began, ended: clock.now() })));
"""

WORKER = '''"""A callback target's worker: dies on its first start, then serves its queue."""
import json
import os
import sys
from pathlib import Path

import boto3

from cronlane import worker

starts = Path("starts.txt")
starts.write_text(starts.read_text() + "start\\n" if starts.exists() else "start\\n")
if len(starts.read_text().splitlines()) == 1:
    sys.exit(3)
names = ("CRONLANE_QUEUE_URL", "CRONLANE_STACK", "AWS_ENDPOINT_URL")
Path("worker-env.json").write_text(json.dumps({n: os.environ.get(n) for n in names}))
sqs = boto3.client("sqs")
url = os.environ["CRONLANE_QUEUE_URL"]
while True:
    messages = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=20).get("Messages", [])
    if not messages:
        worker.sleep(10)
        continue
    for message in messages:
        Path("received.txt").write_text(f"{message['Body']} at {worker.now()}")
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
'''


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("local-tasks")
    (root / "template.yaml").write_text(TEMPLATE)
    for name, text in {
        "src/recorder.py": RECORDER,
        "tasks/report.py": REPORT,
        "tasks/clock.js": CLOCK_JS,
        "workers/worker.py": WORKER,
    }.items():
        (root / name).parent.mkdir(exist_ok=True)
        (root / name).write_text(text)
    return root


def start_runtime(app: Path, tmp_path: Path, clock: str = "virtual", **options: Any) -> LocalRuntime:
    for leftover in ("starts.txt", "received.txt", "worker-env.json"):
        (app / leftover).unlink(missing_ok=True)
    endpoint = moto_endpoint()
    reset_moto(endpoint)
    set_process_env(endpoint)
    stack = create_stack(app / "template.yaml", endpoint, "local")
    return LocalRuntime(stack, clock=clock, start=START, log_dir=tmp_path / "logs", **options)


@pytest.fixture
def runtime(app: Path, tmp_path: Path) -> Iterator[LocalRuntime]:
    with start_runtime(app, tmp_path, workers=False) as rt:
        yield rt


def ecs(runtime: LocalRuntime) -> Any:
    return boto3.client("ecs", endpoint_url=runtime.stack.endpoint, region_name="us-east-1")


def run_task(runtime: LocalRuntime, family: str, **environment: str) -> str:
    overrides = [{"name": "report", "environment": [{"name": k, "value": v} for k, v in environment.items()]}]
    answer = ecs(runtime).run_task(
        cluster="local-tasks",
        taskDefinition=f"local-{family}",
        launchType="FARGATE",
        startedBy="cronlane/local",
        overrides={"containerOverrides": overrides},
        networkConfiguration={"awsvpcConfiguration": {"subnets": ["subnet-local"]}},
    )
    [task] = answer["tasks"]
    assert (task["lastStatus"], task["desiredStatus"]) == ("PENDING", "RUNNING")
    return str(task["taskArn"])


def stopped_event(runtime: LocalRuntime, task_arn: str) -> dict[str, Any]:
    """Drive the runtime until the task's STOPPED event was delivered; the event."""

    def delivered() -> list[Any]:
        return [
            i
            for i in runtime.invocations
            if i.function == "TaskEventsFunction" and i.done and i.event["detail"]["taskArn"] == task_arn
        ]

    runtime.run_until(lambda: bool(delivered()), limit_s=86_400)
    [invocation] = delivered()
    assert invocation.error is None, invocation.error
    assert invocation.response == {"task": task_arn, "stopCode": invocation.event["detail"]["stopCode"]}
    return dict(invocation.event)


def output(runtime: LocalRuntime, task_arn: str) -> dict[str, Any]:
    """The last line the task's container printed (its log), as JSON."""
    log_path = runtime.tasks[task_arn].log_path
    assert log_path is not None and log_path.name.startswith("task-local-")
    return dict(json.loads(log_path.read_text().splitlines()[-1]))


def test_a_task_runs_its_local_command_and_its_exit_arrives_as_ecs_task_state_change(
    runtime: LocalRuntime, app: Path
) -> None:
    params = '{"day": 1}'
    arn = run_task(runtime, "report", CRONLANE_RUN_ID="nightly@1", CRONLANE_PARAMS=params, EXIT_CODE="3")
    event = stopped_event(runtime, arn)
    # the command of the template's Metadata, from the template's folder, with its environment
    printed = output(runtime, arn)
    assert printed["argv"] == ["--from", "the template"]
    assert Path(printed["cwd"]) == app
    assert printed["REPORT_BUCKET"] == "local-reports"  # the definition's, !Sub resolved
    assert (printed["CRONLANE_RUN_ID"], printed["CRONLANE_PARAMS"]) == ("nightly@1", '{"day": 1}')
    assert printed["AWS_ENDPOINT_URL"] == runtime.stack.endpoint
    assert printed["CRONLANE_CLOCK"].startswith("virtual:127.0.0.1:")
    # the event, in AWS's shape
    detail = event.pop("detail")
    assert event == {
        "version": "0",
        "id": event["id"],
        "detail-type": "ECS Task State Change",
        "source": "aws.ecs",
        "account": "123456789012",
        "time": "2026-11-28T02:00:00Z",
        "region": "us-east-1",
        "resources": [arn],
    }
    [container] = detail.pop("containers")
    assert container.pop("containerArn").startswith("arn:aws:ecs:us-east-1:123456789012:")
    assert container == {
        "lastStatus": "STOPPED",
        "name": "report",
        "taskArn": arn,
        "image": "example.com/report:1",
        "exitCode": 3,
    }
    assert detail["overrides"]["containerOverrides"][0]["environment"][0] == {
        "name": "CRONLANE_RUN_ID",
        "value": "nightly@1",
    }
    assert {k: v for k, v in detail.items() if k != "overrides"} == {
        "clusterArn": "arn:aws:ecs:us-east-1:123456789012:cluster/local-tasks",
        "taskArn": arn,
        "taskDefinitionArn": "arn:aws:ecs:us-east-1:123456789012:task-definition/local-report:1",
        "group": "family:local-report",
        "launchType": "FARGATE",
        "lastStatus": "STOPPED",
        "desiredStatus": "STOPPED",
        "startedBy": "cronlane/local",
        "stopCode": "EssentialContainerExited",
        "stoppedReason": "Essential container in task exited",
        "createdAt": "2026-11-28T02:00:00Z",
        "startedAt": "2026-11-28T02:00:00Z",
        "stoppingAt": "2026-11-28T02:00:00Z",
        "stoppedAt": "2026-11-28T02:00:00Z",
    }
    # only the rule whose pattern matches invoked its function, once
    assert [i.function for i in runtime.invocations] == ["TaskEventsFunction"]
    # and moto's record of the task says the same
    [task] = ecs(runtime).describe_tasks(cluster="local-tasks", tasks=[arn])["tasks"]
    assert (task["lastStatus"], task["desiredStatus"], task["stopCode"]) == (
        "STOPPED",
        "STOPPED",
        "EssentialContainerExited",
    )
    assert [(c["name"], c["exitCode"]) for c in task["containers"]] == [("report", 3)]


def test_stop_task_terminates_the_process_user_initiated_143(runtime: LocalRuntime) -> None:
    arn = run_task(runtime, "report", MODE="wait")
    runtime.run_until(lambda: runtime.tasks[arn].last_status == "RUNNING")
    client = ecs(runtime)
    stopping = client.stop_task(cluster="local-tasks", task=arn)["task"]
    # as on ECS: desired STOPPED at once, STOPPED once its process is gone
    assert (stopping["lastStatus"], stopping["desiredStatus"]) == ("RUNNING", "STOPPED")
    detail = stopped_event(runtime, arn)["detail"]
    assert (detail["stopCode"], detail["stoppedReason"]) == ("UserInitiated", "Task stopped by user")
    assert [c["exitCode"] for c in detail["containers"]] == [143]
    [task] = client.describe_tasks(cluster="local-tasks", tasks=[arn])["tasks"]
    assert (task["lastStatus"], task["stopCode"], task["stoppedReason"]) == (
        "STOPPED",
        "UserInitiated",
        "Task stopped by user",
    )
    # a second StopTask of a stopped task changes nothing
    again = client.stop_task(cluster="local-tasks", task=arn, reason="again")["task"]
    assert (again["lastStatus"], again["stoppedReason"]) == ("STOPPED", "Task stopped by user")


def test_a_process_that_ignores_sigterm_is_killed_two_seconds_later_137(runtime: LocalRuntime) -> None:
    arn = run_task(runtime, "report", MODE="stubborn")
    runtime.run_until(lambda: runtime.tasks[arn].last_status == "RUNNING")
    log_path = runtime.tasks[arn].log_path
    assert log_path is not None
    for _ in range(200):  # until it has set its SIGTERM handler (real time: it is a process)
        if "waiting" in log_path.read_text():
            break
        time.sleep(0.05)
    began = time.monotonic()
    ecs(runtime).stop_task(cluster="local-tasks", task=arn, reason="cancelled by cronlane")
    detail = stopped_event(runtime, arn)["detail"]
    assert 1.9 <= time.monotonic() - began < 10
    assert (detail["stopCode"], detail["stoppedReason"]) == ("UserInitiated", "cancelled by cronlane")
    assert [c["exitCode"] for c in detail["containers"]] == [137]


def test_a_container_without_a_local_command_fails_to_start_naming_it(runtime: LocalRuntime) -> None:
    arn = run_task(runtime, "image-only")
    detail = stopped_event(runtime, arn)["detail"]
    assert detail["stopCode"] == "TaskFailedToStart"
    assert detail["stoppedReason"] == (
        "CannotStartContainerError: container 'app' has no local command: give ImageOnlyTask in "
        "template.yaml Metadata cronlane local-command app: <command line>"
    )
    assert "startedAt" not in detail
    [container] = detail["containers"]
    assert "exitCode" not in container and container["reason"] == detail["stoppedReason"]
    # a command that cannot be started fails the same way, with the start error
    arn = run_task(runtime, "broken")
    detail = stopped_event(runtime, arn)["detail"]
    assert detail["stopCode"] == "TaskFailedToStart"
    assert detail["stoppedReason"].startswith("CannotStartContainerError: container 'app': [Errno 2]")
    assert "no-such-program-here" in detail["stoppedReason"]


def test_a_task_sleeping_40_virtual_minutes_takes_no_real_time(runtime: LocalRuntime) -> None:
    began = time.monotonic()
    arn = run_task(runtime, "report", MODE="sleep", SLEEP_S="2400")
    detail = stopped_event(runtime, arn)["detail"]
    assert time.monotonic() - began < 20  # process start-ups, not 40 minutes
    assert output(runtime, arn) == {"began": START, "ended": START + 2400, "scale": "0"}
    assert (detail["startedAt"], detail["stoppedAt"]) == ("2026-11-28T02:00:00Z", "2026-11-28T02:40:00Z")
    assert [c["exitCode"] for c in detail["containers"]] == [0]
    assert runtime.now() >= START + 2400


def test_the_virtual_clock_stands_still_while_a_task_computes(runtime: LocalRuntime) -> None:
    # GIVEN a task that computes for a real second, and a runtime that has an hour to go to
    arn = run_task(runtime, "report", MODE="busy")
    runtime.run_to(START + 3600)
    # THEN the hour passed only once the task was done: it saw no time pass
    assert output(runtime, arn) == {"now": START}
    assert runtime.tasks[arn].stopped_at == START
    assert runtime.now() >= START + 3600


def test_a_scaled_clock_scales_a_tasks_sleep(app: Path, tmp_path: Path) -> None:
    with start_runtime(app, tmp_path, clock="real", time_scale=0.01, workers=False) as runtime:
        began = time.monotonic()
        arn = run_task(runtime, "report", MODE="sleep", SLEEP_S="200")  # 2 real seconds
        stopped_event(runtime, arn)
        assert 1.9 <= time.monotonic() - began < 15
        printed = output(runtime, arn)
        assert printed["scale"] == "0.01"
        assert 200 <= printed["ended"] - printed["began"] < 300


@pytest.mark.skipif(shutil.which("node") is None, reason="no node on PATH")
def test_a_node_task_sleeps_on_the_virtual_clock_with_worker_clock_js(runtime: LocalRuntime) -> None:
    arn = ecs(runtime).run_task(cluster="local-tasks", taskDefinition="local-node")["tasks"][0]["taskArn"]
    detail = stopped_event(runtime, arn)["detail"]
    # no launch type asked, no container instances: placed as Fargate is, launch type as asked
    assert "launchType" not in detail
    assert output(runtime, arn) == {"began": START, "ended": START + 600}
    assert [c["exitCode"] for c in detail["containers"]] == [0]


def test_a_worker_is_started_restarted_after_it_exits_and_serves_its_queue(app: Path, tmp_path: Path) -> None:
    with start_runtime(app, tmp_path) as runtime:  # workers start when the runtime is first driven
        runtime.run_until((app / "worker-env.json").exists, limit_s=600)
        worker = runtime.workers["WorkQueue"]
        assert (worker.starts, worker.restarts, worker.exit_codes) == (2, 1, [3])
        assert runtime.now() == START + 1  # its first backoff, a virtual second
        log = (runtime.log_dir / "worker-WorkQueue.log").read_text()
        assert "[local runtime] worker of WorkQueue exited with code 3; restarting it in 1 s" in log
        queue_url = runtime.stack.worker_queues[0].url
        assert json.loads((app / "worker-env.json").read_text()) == {
            "CRONLANE_QUEUE_URL": queue_url,
            "CRONLANE_STACK": "local",
            "AWS_ENDPOINT_URL": runtime.stack.endpoint,
        }
        # WHEN a message arrives: the worker, polling every 10 virtual seconds, gets it
        sqs = boto3.client("sqs", endpoint_url=runtime.stack.endpoint, region_name="us-east-1")
        sqs.send_message(QueueUrl=queue_url, MessageBody="job-1")
        began = time.monotonic()
        runtime.run_until((app / "received.txt").exists, limit_s=600)
        assert time.monotonic() - began < 10  # its long poll was answered at once
        body, _, at = (app / "received.txt").read_text().partition(" at ")
        assert body == "job-1" and START + 1 <= float(at) <= START + 12
        process = worker.process
    # closing the runtime stops its workers
    assert process is not None and process.popen.poll() is not None


# -- the pure parts ---------------------------------------------------------------------------


def test_eventbridge_patterns_match_as_eventbridge_does() -> None:
    from cronlane.local.tasks import pattern_matches

    event = {
        "source": "aws.ecs",
        "detail-type": "ECS Task State Change",
        "detail": {
            "group": "family:local-report",
            "lastStatus": "STOPPED",
            "containers": [{"name": "report", "exitCode": 3}],
            "tags": ["a", "b"],
            "essential": True,
        },
    }
    assert pattern_matches({"source": ["aws.ecs"], "detail": {"lastStatus": ["STOPPED"]}}, event)
    assert pattern_matches({"detail": {"group": [{"prefix": "family:local-"}]}}, event)
    assert pattern_matches({"detail": {"group": [{"prefix": {"equals-ignore-case": "FAMILY:"}}]}}, event)
    assert pattern_matches({"detail": {"group": [{"suffix": "-report"}, "x"]}}, event)
    assert pattern_matches({"detail": {"containers": {"exitCode": [{"numeric": [">", 0, "<=", 3]}]}}}, event)
    assert pattern_matches({"detail": {"tags": ["b"], "stopCode": [{"exists": False}]}}, event)
    assert pattern_matches({"detail": {"lastStatus": [{"anything-but": ["RUNNING", "PENDING"]}]}}, event)
    assert pattern_matches({"detail": {"group": [{"wildcard": "family:*-rep*"}]}}, event)
    assert pattern_matches({"$or": [{"source": ["x"]}, {"detail": {"essential": [True]}}]}, event)
    assert not pattern_matches({"source": ["aws.events"]}, event)
    assert not pattern_matches({"detail": {"group": ["family:local"]}}, event)  # exact, not a prefix
    assert not pattern_matches({"detail": {"lastStatus": [{"exists": False}]}}, event)
    assert not pattern_matches({"detail": {"essential": [1]}}, event)  # true is not 1
    assert not pattern_matches({"detail": {"missing": {"x": ["y"]}}}, event)
    assert not pattern_matches({"detail": {"lastStatus": [{"anything-but": {"prefix": "STOP"}}]}}, event)


def test_command_lines_and_exit_codes() -> None:
    import signal
    import sys

    from cronlane.local.tasks import StartFailed, command_argv, exit_code

    assert command_argv("python -m my_jobs.report --day 'two words'") == [
        sys.executable,
        "-m",
        "my_jobs.report",
        "--day",
        "two words",
    ]
    assert command_argv("./run.sh") == ["./run.sh"]
    for bad in ("", "python 'unclosed"):
        with pytest.raises(StartFailed):
            command_argv(bad)
    codes = (0, 3, -signal.SIGTERM, -signal.SIGKILL)
    assert [exit_code(code) for code in codes] == [0, 3, 143, 137]


def test_the_worker_clock_follows_cronlane_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    from cronlane import worker

    monkeypatch.delenv("CRONLANE_CLOCK", raising=False)
    assert abs(worker.now() - time.time()) < 1 and worker.time_scale() == 1.0
    monkeypatch.setenv("CRONLANE_CLOCK", f"scaled:{START!r}:0.01:{time.time()!r}")
    began = time.monotonic()
    worker.sleep(50)  # half a real second
    assert 0.45 <= time.monotonic() - began < 5
    assert START + 45 <= worker.now() < START + 500
    assert worker.time_scale() == 0.01
    monkeypatch.setenv("CRONLANE_CLOCK", "sundial")
    with pytest.raises(ValueError, match="is not scaled"):
        worker.now()
