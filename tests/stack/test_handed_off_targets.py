"""Jobs handed off to where they run: an ECS task (``EcsTarget``) and an external worker that
reports back (``CallbackTarget``), in an app made by ``cronlane init``, on the local runtime: the
task is a local process started from its task definition's local command, and its end is the
"ECS Task State Change" event; the worker is a local process that reports with its token. Each
behaves as a Python job does (retries, timeout, cancel, the DLQ and replay), and a lost, duplicate
or late completion is repaired or ignored."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from cronlane.scaffold import OUTPUTS_MARK, create_app
from tests.conftest import app_cli as cli

pytestmark = [pytest.mark.stack, pytest.mark.xdist_group("handed-off")]

WHEELS = os.environ.get("CRONLANE_WHEELS")

TASK = '''"""trainJob's container: it trains for `seconds` and exits with its code."""

import json
import os
import sys

from cronlane import worker

params = json.loads(os.environ["CRONLANE_PARAMS"])
attempt = int(os.environ["CRONLANE_ATTEMPT"])
print("training", os.environ["CRONLANE_RUN_ID"], "attempt", attempt, flush=True)
worker.sleep(params["seconds"])
if attempt <= params["fail_attempts"] or (params["fail_while"] and os.path.exists(params["fail_while"])):
    print("diverged", file=sys.stderr)
    sys.exit(3)
sys.exit(0)
'''

WORKER = '''"""scoreJob's worker: it takes jobs off its queue and reports with their tokens."""

import json
import os
import sys

import boto3

from cronlane import worker
from cronlane.cli.complete import report

sqs = boto3.client("sqs")
queue = os.environ["CRONLANE_QUEUE_URL"]
while True:
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=1).get("Messages", [])
    if not messages:
        worker.sleep(10)
        continue
    job = json.loads(messages[0]["Body"])
    sqs.delete_message(QueueUrl=queue, ReceiptHandle=messages[0]["ReceiptHandle"])
    token, params, attempt = job["task_token"], job["params"], job["attempt"]
    print("scoring", job["run_id"], "attempt", attempt, flush=True)
    if attempt <= params["die_attempts"]:
        sys.exit(1)  # the worker dies without a word: its heartbeat stops
    beat = attempt > params["silent_attempts"]
    done = 0
    while done < params["seconds"]:
        worker.sleep(30)
        done += 30
        if beat and report(token, "heartbeat")["status"] == "ignored":
            break
    if attempt <= params["fail_attempts"]:
        report(token, "failed", error=f"scorer refused attempt {attempt}")
        continue
    print(json.dumps(report(token, "succeeded", result={"scored": done})), flush=True)
    if params["twice"]:
        print(json.dumps(report(token, "succeeded", result={"scored": done})), flush=True)
'''

RESOURCES = """
  JobsCluster:
    Type: AWS::ECS::Cluster
    Properties:
      ClusterName: !Sub "${AWS::StackName}-jobs"

  TrainTask:
    Type: AWS::ECS::TaskDefinition
    Metadata:
      cronlane:
        local-command:
          train: python -m far_jobs.train
    Properties:
      Family: !Sub "${AWS::StackName}-train"
      RequiresCompatibilities: [FARGATE]
      NetworkMode: awsvpc
      Cpu: "1024"
      Memory: "2048"
      TaskRoleArn: !GetAtt TrainTaskRole.Arn
      ContainerDefinitions:
        - Name: train
          Image: trainer:1
          Essential: true

  TrainTaskRole:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: { Service: ecs-tasks.amazonaws.com }
            Action: sts:AssumeRole

  ScoreQueue:
    Type: AWS::SQS::Queue
    Metadata:
      cronlane:
        local-worker: python -m far_jobs.scorer
    Properties:
      QueueName: !Sub "${AWS::StackName}-score-work"
      VisibilityTimeout: 1800
"""

JOBS = """
JOBS += [
    Job(
        "trainJob",
        EcsTarget("${AWS::StackName}-jobs", "${AWS::StackName}-train", "train", subnets=("subnet-1",)),
        "hello",
        ("helloJob",),
        timeout_s=3600,
        max_attempts=2,
        params={
            "seconds": Param("float", 2400.0, min=0),
            "fail_attempts": Param("int", 0, min=0),
            "fail_while": Param("str", ""),
        },
    ),
    Job(
        "scoreJob",
        CallbackTarget("${AWS::StackName}-score-work", heartbeat_s=120),
        "hello",
        ("trainJob",),
        timeout_s=1200,
        max_attempts=3,
        params={
            "seconds": Param("float", 180.0, min=0),
            "fail_attempts": Param("int", 0, min=0),
            "die_attempts": Param("int", 0, min=0),
            "silent_attempts": Param("int", 0, min=0),
            "twice": Param("bool", False),
        },
    ),
]
"""


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("handed-off") / "my-jobs"
    create_app(root, package="far_jobs", find_links=Path(WHEELS) if WHEELS else None)
    (root / "src" / "far_jobs" / "train.py").write_text(TASK)
    (root / "src" / "far_jobs" / "scorer.py").write_text(WORKER)
    template = root / "template.yaml"
    template.write_text(template.read_text().replace(OUTPUTS_MARK, RESOURCES + OUTPUTS_MARK, 1))
    catalog = root / "src" / "far_jobs" / "catalog.py"
    source = catalog.read_text().replace(
        "from cronlane import ", "from cronlane import CallbackTarget, EcsTarget, "
    )
    catalog.write_text(source.replace("\nCATALOG = Catalog.build", JOBS + "\nCATALOG = Catalog.build"))
    done = cli(root, "template")
    assert done.returncode == 0, done.stderr
    return root


def trigger(runtime: Any, key: str, **params: dict[str, Any]) -> str:
    from tests.conftest import act

    act(runtime, action="trigger", schedule="daily", idempotency_key=key, parameters=params)
    return f"manual@{key}"


def jobs_of(report: Any) -> dict[str, Any]:
    return {j.job: j for j in report.jobs}


def test_template_grants_the_executor_exactly_the_targets_and_validate_passes(app: Path) -> None:
    text = (app / "template.yaml").read_text()
    for sid in ("RunTrainJobTask", "StopTrainJobTask", "PassTrainJobRoles", "SendScoreJobWork"):
        assert f"- Sid: {sid}\n" in text
    assert (
        "- !GetAtt TrainTaskRole.Arn" in text and '"iam:PassedToService": "ecs-tasks.amazonaws.com"' in text
    )
    done = cli(app, "validate")
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_run_with_a_task_and_a_worker_succeeds_and_records_where_each_ran(app: Path) -> None:
    started = time.monotonic()
    done = cli(app, "local", "run", "daily", "--clock", "virtual", "--json")
    real_s = time.monotonic() - started
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    run = json.loads(done.stdout)
    jobs = {j["name"]: j for j in run["jobs"]}
    assert run["status"] == "SUCCEEDED"
    train, score = jobs["trainJob"], jobs["scoreJob"]
    assert train["target"] == "ecs" and ":task/" in train["handle"]
    assert score["target"] == "callback" and score["handle"].startswith("tok-")
    # the 40-minute task took 40 minutes of the virtual clock, and none of them real
    from cronlane.clock import parse_iso

    assert parse_iso(train["finished_at"]) - parse_iso(train["started_at"]) >= 2400 and real_s < 120
    assert score["started_at"] >= train["finished_at"] and (train["attempts"], score["attempts"]) == (1, 1)
    logs = app / ".cronlane" / "logs"
    assert any("training" in p.read_text() for p in logs.rglob("task-*.log"))


def test_a_failed_task_and_a_failed_report_are_retried_and_the_last_failure_dead_lettered(app: Path) -> None:
    from cronlane.local.session import local_runtime, wait_for_run
    from cronlane.model import JobStatus, RunStatus
    from tests.conftest import act

    with local_runtime(app / "template.yaml", start=time.time()) as runtime:
        run_id = trigger(runtime, "retry", trainJob={"fail_attempts": 1}, scoreJob={"fail_attempts": 3})
        report = wait_for_run(runtime, run_id)
        jobs = jobs_of(report)
        train, score = jobs["trainJob"], jobs["scoreJob"]
        assert (train.status, train.attempts) == (JobStatus.SUCCEEDED, 2)
        assert "exit code 3" in train.history[0]["error"] and train.history[0]["target"] == "ecs"
        assert train.history[0]["handle"] != train.history[1]["handle"]  # a new task
        assert (score.status, score.attempts) == (JobStatus.FAILED, 3)
        assert score.error == "worker reported failure: scorer refused attempt 3"
        assert report.run.status is RunStatus.FAILED
        [letter] = act(runtime, action="dlq-list")["messages"]
        assert (letter["run_id"], letter["job"]) == (run_id, "scoreJob")


def test_a_task_past_its_timeout_is_stopped_and_retried(app: Path) -> None:
    from cronlane.local.session import local_runtime, wait_for_run
    from cronlane.model import JobStatus

    with local_runtime(app / "template.yaml", start=time.time()) as runtime:
        # GIVEN a task that runs past its timeout every attempt
        run_id = trigger(runtime, "timeout", trainJob={"seconds": 5000.0})
        report = wait_for_run(runtime, run_id)
        train = jobs_of(report)["trainJob"]
        # THEN each attempt is given up at its timeout, and the job fails after the last
        assert (train.status, train.attempts) == (JobStatus.FAILED, 2), train.history
        assert all("did not complete within its 3600s timeout" in h["error"] for h in train.history)
        # AND no task of it runs on: each was stopped when given up
        handles = [h["handle"] for h in train.history]
        assert len(set(handles)) == 2
        # (the last StopTask was asked as the job failed: its process ends a moment after)
        runtime.run_until(
            lambda: all(runtime.tasks[arn].last_status == "STOPPED" for arn in handles), limit_s=60
        )
        assert all(runtime.tasks[arn].last_status == "STOPPED" for arn in handles)
        assert all(runtime.tasks[arn].stop_code == "UserInitiated" for arn in handles)
        assert jobs_of(report)["scoreJob"].status is JobStatus.SKIPPED


def test_a_dead_lettered_task_is_replayed_once_it_works_again(app: Path, tmp_path: Path) -> None:
    from cronlane.local.session import local_runtime, wait_for_run
    from cronlane.model import JobStatus, RunStatus
    from tests.conftest import act

    outage = tmp_path / "outage"
    outage.write_text("the feature store is down")
    with local_runtime(app / "template.yaml", start=time.time()) as runtime:
        run_id = trigger(runtime, "replay", trainJob={"seconds": 60.0, "fail_while": str(outage)})
        report = wait_for_run(runtime, run_id)
        assert report.run.status is RunStatus.FAILED
        [letter] = act(runtime, action="dlq-list")["messages"]
        assert (letter["run_id"], letter["job"]) == (run_id, "trainJob")
        # WHEN the store is back and the dead letter replayed THEN the task and its dependents run
        outage.unlink()
        act(runtime, action="dlq-replay", job="trainJob")
        report = wait_for_run(runtime, run_id)
        jobs = jobs_of(report)
        assert report.run.status is RunStatus.SUCCEEDED
        assert (jobs["trainJob"].status, jobs["trainJob"].generation) == (JobStatus.SUCCEEDED, 1)
        assert jobs["scoreJob"].status is JobStatus.SUCCEEDED
        assert act(runtime, action="dlq-list")["messages"] == []


def test_a_worker_that_dies_is_given_up_at_its_heartbeat_timeout_and_the_job_retried(app: Path) -> None:
    from cronlane.local.session import local_runtime, wait_for_run
    from cronlane.model import JobStatus, RunStatus

    with local_runtime(app / "template.yaml", start=time.time()) as runtime:
        run_id = trigger(runtime, "dies", trainJob={"seconds": 60.0}, scoreJob={"die_attempts": 1})
        report = wait_for_run(runtime, run_id)
        score = jobs_of(report)["scoreJob"]
        assert report.run.status is RunStatus.SUCCEEDED
        assert (score.status, score.attempts) == (JobStatus.SUCCEEDED, 2)
        assert "sent no heartbeat or completion for 120s" in score.history[0]["error"]


def test_a_duplicate_completion_is_counted_once_and_a_late_one_is_ignored(app: Path) -> None:
    from cronlane.local.session import local_runtime, store_of, wait_for_run
    from cronlane.model import JobStatus, RunStatus

    with local_runtime(app / "template.yaml", start=time.time()) as runtime:
        # the worker reports its success twice
        run_id = trigger(runtime, "twice", trainJob={"seconds": 60.0}, scoreJob={"twice": True})
        wait_for_run(runtime, run_id)
        store = store_of(runtime)
        runtime.run_until(lambda: bool(store.get_job_run(run_id, "scoreJob").late_completions))  # type: ignore[union-attr]
        score = jobs_of(wait_for_run(runtime, run_id))["scoreJob"]
        assert (score.status, len(score.history)) == (JobStatus.SUCCEEDED, 1)
        assert [c["ignored_because"] for c in score.late_completions] == [
            "the attempt already ended: the job-run is SUCCEEDED"
        ]
        # the worker works 180 s without a heartbeat: given up at 120 s and retried; its report
        # of attempt 1 comes after attempt 2 began and is ignored
        run_id = trigger(runtime, "late", trainJob={"seconds": 60.0}, scoreJob={"silent_attempts": 1})
        report = wait_for_run(runtime, run_id)
        score = jobs_of(report)["scoreJob"]
        assert report.run.status is RunStatus.SUCCEEDED and score.attempts == 2
        late = score.late_completions[0]
        assert (late["attempt"], late["ignored_because"]) == (1, "attempt 1 was given up (attempt 2 now)")


def test_cancel_stops_the_task_and_the_run_ends_cancelled(app: Path) -> None:
    from cronlane.local.session import local_runtime, store_of, wait_for_run
    from cronlane.model import JobStatus, RunStatus
    from tests.conftest import act

    with local_runtime(app / "template.yaml", start=time.time()) as runtime:
        run_id = trigger(runtime, "cancel", trainJob={"seconds": 3000.0})
        store = store_of(runtime)

        def training() -> bool:
            job = store.get_job_run(run_id, "trainJob")
            return job is not None and job.handle is not None and job.handle in runtime.tasks

        runtime.run_until(training)
        arn = str(store.get_job_run(run_id, "trainJob").handle)  # type: ignore[union-attr]
        act(runtime, action="cancel", run_id=run_id)
        report = wait_for_run(runtime, run_id)
        train = jobs_of(report)["trainJob"]
        assert report.run.status is RunStatus.CANCELLED and train.status is JobStatus.CANCELLED
        runtime.run_until(lambda: runtime.tasks[arn].last_status == "STOPPED")
        assert runtime.tasks[arn].stop_code == "UserInitiated"


def test_the_completion_function_refuses_a_forged_token_and_takes_nothing_but_reports(app: Path) -> None:
    from cronlane.local.session import local_runtime, store_of
    from cronlane.targets import TokenClaims, new_token

    with local_runtime(app / "template.yaml", start=time.time()) as runtime:
        run_id = trigger(runtime, "forged", trainJob={"seconds": 60.0}, scoreJob={"seconds": 600.0})
        store = store_of(runtime)
        runtime.run_until(
            lambda: (j := store.get_job_run(run_id, "scoreJob")) is not None and j.handle is not None
        )
        forged = new_token(TokenClaims(run_id, "scoreJob", 0, 1))  # right claims, a secret it never issued
        answer = runtime.invoke("CompletionFunction", {"token": forged, "status": "succeeded"}).response
        assert answer["error"].startswith("refused: token tok-")
        answer = runtime.invoke("CompletionFunction", {"action": "cancel", "run_id": run_id}).response
        assert (
            answer["error"] == "a completion takes only token, status, result and error, not action, run_id"
        )
        score = store.get_job_run(run_id, "scoreJob")
        assert score is not None and score.status.value == "RUNNING"


def test_cronlane_complete_says_what_is_wrong_in_one_line(app: Path) -> None:
    done = cli(app, "complete", "cl1.x.y", "--succeeded", "--heartbeat")
    assert (done.returncode, done.stderr.strip()) == (
        2,
        "cronlane: complete: give exactly one of --succeeded, --failed, --heartbeat",
    )
    done = cli(app, "complete", "cl1.x.y", "--failed")
    assert (done.returncode, done.stderr.strip()) == (
        2,
        "cronlane: complete: --failed needs --error saying what went wrong",
    )
    done = cli(app, "complete", "cl1.x.y", "--succeeded", "--result", "{nope")
    assert done.returncode == 2 and done.stderr.startswith("cronlane: complete: --result is not JSON")


@pytest.mark.parametrize("point", ["completion.before_record", "completion.after_record"])
def test_a_task_events_function_killed_while_recording_the_end_loses_nothing(app: Path, point: str) -> None:
    # the function that records a task's end dies before, or after, its write: EventBridge's
    # retry records it (or finds it recorded and ignores it), and the attempt's timer, when it
    # comes back, finds the job ended and repeats its releases
    from cronlane.local.session import local_runtime, wait_for_run
    from cronlane.model import JobStatus, RunStatus

    with local_runtime(app / "template.yaml", start=time.time()) as runtime:
        run_id = trigger(runtime, f"crash-{point}", trainJob={"seconds": 60.0})
        runtime.inject(point, job="trainJob")
        report = wait_for_run(runtime, run_id)
        runtime.drain()
        train = jobs_of(report)["trainJob"]
        assert [f.point for f in runtime.fired_faults] == [point]
        assert report.run.status is RunStatus.SUCCEEDED
        assert (train.status, train.attempts, len(train.history)) == (JobStatus.SUCCEEDED, 1, 1)


@pytest.mark.parametrize("seconds", [60.0, 8000.0])
def test_an_executor_killed_after_runtask_leaves_no_task_unrecorded(app: Path, seconds: float) -> None:
    # the executor dies after RunTask answered, before it recorded the task's ARN: a task that
    # ends completes its attempt as usual (its end event names the attempt); one that hangs past
    # its timeout is found (ListTasks, DescribeTasks) and stopped before the retry starts, when
    # its message comes back (after the queue's 5400 s visibility timeout, not at its timeout)
    from cronlane.local.session import local_runtime, wait_for_run
    from cronlane.model import JobStatus, RunStatus

    with local_runtime(app / "template.yaml", start=time.time()) as runtime:
        runtime.inject("executor.after_start", job="trainJob")
        run_id = trigger(runtime, f"crash-start-{int(seconds)}", trainJob={"seconds": seconds})
        report = wait_for_run(runtime, run_id)
        train = jobs_of(report)["trainJob"]
        assert [f.point for f in runtime.fired_faults] == ["executor.after_start"]
        arns = sorted(runtime.tasks)
        if seconds < 3600:
            assert report.run.status is RunStatus.SUCCEEDED
            assert (train.status, train.attempts, len(arns)) == (JobStatus.SUCCEEDED, 1, 1)
            assert train.history[-1]["handle"] == arns[0]
            return
        assert (train.status, train.attempts, len(arns)) == (JobStatus.FAILED, 2, 2), train.history
        runtime.run_until(lambda: all(runtime.tasks[a].last_status == "STOPPED" for a in arns), limit_s=60)
        # the unrecorded task was stopped when its attempt was taken over: never two at once
        assert all(runtime.tasks[a].stop_code == "UserInitiated" for a in arns)
        first, second = sorted(arns, key=lambda a: runtime.tasks[a].created_at)
        assert runtime.tasks[first].stopped_reason == "superseded by a new attempt"
        assert (runtime.tasks[first].stopping_at or 0) <= runtime.tasks[second].created_at
