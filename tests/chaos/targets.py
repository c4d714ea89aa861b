"""The chaos soak's jobs on every target kind: a Python Lambda function (``lambda``), an ECS task
(``ecs``) and a worker that reports back (``callback``), each committing the soak's effect
(``tests.chaos.jobs.effect``) and each failing in its own ways, decided by a hash as the soak's
other faults are (``CHAOS_TARGET_FAULTS`` of executions each):

- an ECS task that hangs past its timeout (its end event never comes in time: a lost completion,
  repaired by the timeout, the task stopped before the next attempt);
- a worker that dies without reporting (repaired by the heartbeat timeout), one that reports
  twice (a duplicate completion, counted once), and one that reports after its heartbeat timeout
  (a completion after the attempt was given up, ignored).

``chaos_app`` writes the soak's app: the fixture app with these resources in its template.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RESOURCES = """
  ChaosEffectFunction:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: !Sub "${AWS::StackName}-chaos-effect"
      CodeUri: src/
      Handler: tests.chaos.targets.lambda_handler
      Timeout: 120
      LoggingConfig:
        LogGroup: !Ref ExecutorLogGroup

  ChaosCluster:
    Type: AWS::ECS::Cluster
    Properties:
      ClusterName: !Sub "${AWS::StackName}-chaos"

  ChaosEffectTask:
    Type: AWS::ECS::TaskDefinition
    Metadata:
      cronlane:
        local-command:
          effect: python -m tests.chaos.targets task
    Properties:
      Family: !Sub "${AWS::StackName}-chaos-effect"
      RequiresCompatibilities: [FARGATE]
      NetworkMode: awsvpc
      Cpu: "256"
      Memory: "512"
      ContainerDefinitions:
        - Name: effect
          Image: chaos:1
          Essential: true

  ChaosWorkQueue:
    Type: AWS::SQS::Queue
    Metadata:
      cronlane:
        local-worker: python -m tests.chaos.targets worker
    Properties:
      QueueName: !Sub "${AWS::StackName}-chaos-work"
      VisibilityTimeout: 3600
"""
WORKER_IDLE_S = 60.0  # between empty receives: under the callback job's 120 s heartbeat timeout
HANG_S = 3600.0  # an ECS task that hangs: well past its 600 s timeout


def chaos_app(work: Path) -> Path:
    """The fixture app with the target jobs' function, task definition and queue, its generated
    parts made from the chaos catalog."""
    from cronlane.scaffold import OUTPUTS_MARK
    from cronlane.template.generate import render
    from tests.chaos.catalog import CATALOG

    app = work / "app"
    shutil.rmtree(app, ignore_errors=True)
    fixture = ROOT / "tests" / "fixture_app"
    shutil.copytree(fixture / "src", app / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(fixture / "pyproject.toml", app / "pyproject.toml")
    text = (fixture / "template.yaml").read_text().replace(OUTPUTS_MARK, RESOURCES + OUTPUTS_MARK, 1)
    (app / "template.yaml").write_text(render(text, CATALOG, "tests.chaos.catalog"))
    return app


def _fraction(key: str, attempt: int, kind: str) -> float:
    from tests.chaos.jobs import fraction

    return fraction(os.environ.get("CHAOS_SEED", "0"), key, attempt, kind)


def _faulty(key: str, attempt: int, kind: str) -> bool:
    return _fraction(key, attempt, kind) < float(os.environ.get("CHAOS_TARGET_FAULTS", "0"))


def _context(payload: dict[str, Any], clock: Any) -> Any:
    """What ``effect`` reads of a ``JobContext``, from a target's payload."""
    return SimpleNamespace(
        idempotency_key=payload["idempotency_key"],
        run_id=payload["run_id"],
        job=payload["job"],
        attempt=int(payload["attempt"]),
        clock=clock,
        sleep=clock.sleep,
    )


def _note(fault: str, payload: dict[str, Any]) -> None:
    """Count a target fault in the ledger (the soak reports them by kind)."""
    from tests.chaos.jobs import connect

    db = connect(os.environ["CHAOS_LEDGER"])
    db.execute(
        "INSERT INTO faults (kind, key, attempt) VALUES (?, ?, ?)",
        (fault, payload["idempotency_key"], payload["attempt"]),
    )
    db.close()


# -- lambda ---------------------------------------------------------------------------------


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from cronlane.clock import default_clock
    from tests.chaos.jobs import effect

    return effect(_context(event, default_clock()))  # type: ignore[arg-type]


# -- ecs ------------------------------------------------------------------------------------


def task_main() -> int:
    from cronlane import worker
    from tests.chaos.jobs import connect, effect

    payload = {
        "idempotency_key": os.environ["CRONLANE_IDEMPOTENCY_KEY"],
        "run_id": os.environ["CRONLANE_RUN_ID"],
        "job": os.environ["CRONLANE_JOB"],
        "attempt": int(os.environ["CRONLANE_ATTEMPT"]),
    }
    repaired = (
        connect(os.environ["CHAOS_LEDGER"]).execute("SELECT 1 FROM meta WHERE name = 'repaired'").fetchone()
    )
    if not repaired and _faulty(payload["idempotency_key"], payload["attempt"], "hang"):
        _note("ecs task hung (lost completion)", payload)
        worker.sleep(HANG_S)  # stopped by the executor before the next attempt starts
    try:
        effect(_context(payload, worker))  # type: ignore[arg-type]
    except Exception as exc:  # the job's failure: the task exits non-zero
        print(f"effect failed: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


# -- callback -------------------------------------------------------------------------------


def _report(token: str, status: str, **details: Any) -> str:
    """Report, retrying a few times when the completion function's environment was killed (the
    soak's crash points); ``ignored``, ``refused`` or the status recorded."""
    from cronlane.cli.complete import ReportFailed, report

    for _ in range(3):
        try:
            return str(report(token, status, **details).get("status"))
        except ReportFailed as exc:
            if "refused" in str(exc):
                return "refused"
    return "unreachable"  # the heartbeat timeout repairs it


def worker_main() -> None:
    import boto3

    from cronlane import worker
    from tests.chaos.jobs import effect

    sqs = boto3.client("sqs")
    queue = os.environ["CRONLANE_QUEUE_URL"]
    while True:
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=1).get("Messages", [])
        if not messages:
            worker.sleep(WORKER_IDLE_S)
            continue
        job = json.loads(messages[0]["Body"])
        sqs.delete_message(QueueUrl=queue, ReceiptHandle=messages[0]["ReceiptHandle"])
        key, attempt = job["idempotency_key"], int(job["attempt"])
        try:
            result: dict[str, Any] | None = effect(_context(job, worker))  # type: ignore[arg-type]
            error = None
        except Exception as exc:
            result, error = None, str(exc)
        if _faulty(key, attempt, "dies"):
            _note("worker died without reporting", job)
            sys.exit(3)  # the runtime starts the worker again; the heartbeat timeout repairs the job
        if _faulty(key, attempt, "late"):
            _note("worker reported after its heartbeat timeout", job)
            worker.sleep(150.0)  # past the 120 s heartbeat timeout: the report comes late
        if error is not None:
            _report(job["task_token"], "failed", error=error)
            continue
        _report(job["task_token"], "succeeded", result=result)
        if _faulty(key, attempt, "twice"):
            _note("worker reported twice (duplicate completion)", job)
            _report(job["task_token"], "succeeded", result=result)


if __name__ == "__main__":
    if sys.argv[1:] == ["task"]:
        sys.exit(task_main())
    if sys.argv[1:] == ["worker"]:
        worker_main()
    print("usage: python -m tests.chaos.targets task|worker", file=sys.stderr)
    sys.exit(2)
