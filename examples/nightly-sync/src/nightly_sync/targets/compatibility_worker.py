"""compatibilityJob's worker: a service of the team's that takes compatibility reports off its
own SQS queue (``CRONLANE_QUEUE_URL``), works on each, and reports as ``cronlane complete`` does
(``cronlane.cli.complete.report``, in its own process): a heartbeat every minute while it works,
then succeeded with a result, or failed with an error.

Each message is a job cronlane handed off (``cronlane.targets.callback_message``): the job's
payload and its ``task_token``, which is never logged. A report that is ignored (the attempt was
given up, by a timeout or a cancel) means stop: another attempt has the job.

Run it where it lives (a container, an instance); on the embedded default ``cronlane local run``
starts it from the queue's ``Metadata: cronlane: local-worker``. Between empty receives it sleeps
with ``cronlane.worker.sleep``, which the local runtime's clock honours.
"""

from __future__ import annotations

import json
import os
from typing import Any

import boto3

from cronlane import worker
from cronlane.cli.complete import ReportFailed, report

HEARTBEAT_S = 60.0  # the job's heartbeat_s is 300: four missed in a row before it is given up
# Seconds between two receives that found nothing (the local runtime answers a receive at once;
# on AWS, a long poll would wait instead): the longest a new job waits for this worker.
IDLE_S = float(os.environ.get("COMPATIBILITY_WORKER_IDLE_S", "10"))


def say(token: str, status: str, **details: Any) -> bool:
    """Report (what ``cronlane complete`` does, in this process); False: stop working on it."""
    try:
        answer = report(token, status, **details)
    except ReportFailed as exc:
        print(json.dumps({"message": "report refused", "error": str(exc)}), flush=True)
        return False
    return answer.get("status") != "ignored"


def work(job: dict[str, Any]) -> bool:
    """Compute the reports (here: ``duration_s`` of simulated work), heartbeating as it goes."""
    token, params, attempt = job["task_token"], job.get("params") or {}, int(job["attempt"])
    duration = float(params.get("duration_s", 180.0))
    failing = attempt <= int(params.get("fail_attempts", 0)) or worker.now() < float(
        params.get("fail_until", 0)
    )
    todo = duration / 2 if failing else duration
    done = 0.0
    while done < todo:
        step = min(HEARTBEAT_S, todo - done)
        worker.sleep(step)
        done += step
        if done < todo and not say(token, "heartbeat"):
            return False  # given up meanwhile: another attempt has the job
    if failing:
        return say(token, "failed", error=f"compatibility worker: simulated failure on attempt {attempt}")
    result = {"table": "compatibility", "reports": int(duration * 10)}
    return say(token, "succeeded", result=result)


def main() -> None:
    sqs = boto3.client("sqs")
    queue = os.environ["CRONLANE_QUEUE_URL"]
    print(json.dumps({"message": "compatibility worker started", "queue": queue}), flush=True)
    while True:
        answer = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=1, WaitTimeSeconds=0)
        messages = answer.get("Messages") or []
        if not messages:
            worker.sleep(IDLE_S)
            continue
        message = messages[0]
        job = json.loads(message["Body"])
        print(
            json.dumps({"message": "job received", "run_id": job["run_id"], "attempt": job["attempt"]}),
            flush=True,
        )
        recorded = work(job)
        print(
            json.dumps({"message": "job reported", "run_id": job["run_id"], "recorded": recorded}), flush=True
        )
        sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])


if __name__ == "__main__":
    main()
