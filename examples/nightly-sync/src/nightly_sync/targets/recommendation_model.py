"""recommendationModelJob as an ECS task: retrain the recommendation model, 40 minutes, in one
go (no checkpoints: a task has no 15-minute limit). It reads its job from the environment that
RunTask gave its container (``CRONLANE_PARAMS``, ``CRONLANE_ATTEMPT``...) and reports by its exit
code: 0 succeeded, anything else failed (the task's end reaches cronlane as EventBridge's "ECS
Task State Change" event).

``cronlane.worker.sleep`` stands for the training here: on the embedded default it follows the
runtime's clock (a 40-minute job takes 24 s at ``--time-scale 0.01``, no time at all on the
virtual clock); in a container on AWS it is real time.
"""

from __future__ import annotations

import json
import os
import sys

from cronlane import worker


def main() -> int:
    params = json.loads(os.environ.get("CRONLANE_PARAMS") or "{}")
    attempt = int(os.environ.get("CRONLANE_ATTEMPT") or 1)
    duration = float(params.get("duration_s", 2400.0))
    epochs = max(1, int(params.get("epochs", 40)))
    print(
        json.dumps({"message": "training started", "job": os.environ.get("CRONLANE_JOB"), "attempt": attempt})
    )
    if attempt <= int(params.get("fail_attempts", 0)):
        worker.sleep(duration / 4)
        print(json.dumps({"message": "training diverged", "attempt": attempt}), file=sys.stderr)
        return 3
    for epoch in range(1, epochs + 1):
        worker.sleep(duration / epochs)
        if epoch % 10 == 0 or epoch == epochs:
            print(json.dumps({"message": "epoch done", "epoch": epoch, "of": epochs}), flush=True)
    print(json.dumps({"message": "model trained", "epochs": epochs, "trained_s": duration}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
