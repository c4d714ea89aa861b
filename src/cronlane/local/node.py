"""A Node.js Lambda function in a local environment: a real ``node`` process running cronlane's
runtime interface shim (``node_shim.js``), which loads the function's handler once and calls it
for each invocation with the event and a Lambda-like context.

The ``node`` used is ``$CRONLANE_NODE`` if set, else the first ``node`` on ``PATH`` (whatever its
version: a ``nodejs22.x`` function runs on the machine's Node). The environment's Python process
hands each invocation to it and its answer back to the runtime, so the runtime sees a Node.js
environment as any other.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import IO, Any

SHIM = Path(__file__).with_name("node_shim.js")
NODE_RUNTIMES = ("nodejs",)


class NodeFailed(Exception):
    """The function failed as Lambda's Node.js runtime reports it (errorType, errorMessage)."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(str(error.get("errorMessage", "")))
        self.error = error


def is_node(runtime: str) -> bool:
    return runtime.startswith(NODE_RUNTIMES)


def node_binary() -> str | None:
    return os.environ.get("CRONLANE_NODE") or shutil.which("node")


class NodeHandler:
    """``handler(event, context)`` for a Node.js function, backed by one ``node`` process."""

    def __init__(self, handler: str, code_dir: str, environment: dict[str, str], log: IO[str]) -> None:
        node = node_binary()
        if node is None:
            raise RuntimeError("a nodejs function needs node on PATH (or CRONLANE_NODE) to run locally")
        read_fd, write_fd = os.pipe()
        env = {
            **os.environ,
            **{k: str(v) for k, v in environment.items()},
            "CRONLANE_RESULT_FD": str(write_fd),
        }
        self.process = subprocess.Popen(
            [node, str(SHIM), handler, code_dir],
            stdin=subprocess.PIPE,
            stdout=log,
            stderr=log,
            env=env,
            cwd=code_dir,
            pass_fds=(write_fd,),
            text=True,
        )
        os.close(write_fd)
        self.results = os.fdopen(read_fd, "r")
        first = self._answer()
        if "init_error" in first:
            error = first["init_error"]
            raise RuntimeError(f"{handler}: {error.get('errorType')}: {error.get('errorMessage')}")

    def _answer(self) -> dict[str, Any]:
        line = self.results.readline()
        if not line:
            raise RuntimeError(f"the node process ended (exit code {self.process.wait()}); see the log")
        return dict(json.loads(line))

    def __call__(self, event: Any, context: Any) -> Any:
        remaining_ms = context.get_remaining_time_in_millis()
        message = {
            "event": event,
            "context": {
                "request_id": context.aws_request_id,
                "function_name": context.function_name,
                "memory_mb": context.memory_limit_in_mb,
                "deadline_ms": int(time.time() * 1000 + remaining_ms),
            },
        }
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()
        answer = self._answer()
        if "error" in answer:
            raise NodeFailed(answer["error"])
        return answer.get("result")
