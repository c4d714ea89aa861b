"""Cold start of the dispatcher and the executor, against a minimal baseline handler.

What is measured: for each function, a fresh interpreter does what a Lambda cold start does:
``sys.path`` as Lambda sets it (the function's code directory, then its layers), the import of
the handler module (the init phase) and one call of the handler with a real event (the first
invocation) against the local runtime's moto server. The figure is the time from the child's
first statement to the handler's return; the interpreter's own start-up, the same for every
child, is not in it (the child process's wall time is reported beside it).

- dispatcher: a manual trigger of one root job (with ``duration_s`` 0 when the job declares it),
  a new idempotency key each time, so every call creates a run and enqueues its job;
- executor: an SQS event built from the message that trigger enqueued, received from the job
  queue as the event source mapping would (the job-run is QUEUED; it is claimed, run and
  finished), and the message deleted afterwards as a successful batch is;
- baseline: a handler that imports Powertools ``Logger`` and boto3, creates one DynamoDB client
  and makes one GetItem on the stack's table, logging one line, with the same environment and
  ``sys.path`` as the function it is compared with.

As shipped: each side's layer is built by the example's ``layer/Makefile`` (what ``sam build``
runs: the wheels installed, their bytecode compiled with ``--invalidation-mode unchecked-hash``),
for this machine's platform: cronlane's layer, and the baseline's (Powertools and boto3) built
the same way (``build_layers``). The children run with ``PYTHONDONTWRITEBYTECODE`` set, as from a
read-only ``/opt``: what a layer does not ship is compiled at every cold start, as on Lambda.

Each of the four measurements runs once unmeasured first (file cache warm), then ``repeats``
rounds alternate baseline and function (which goes first alternates too), and the medians are
compared. Target (issue): at most 1.5x the baseline. Figures only: nothing here asserts a time.
"""

from __future__ import annotations

import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from benchmarks import EXAMPLE_TEMPLATE

TARGET_RATIO = 1.5
MARKER = "@@cold-start "
DISPATCHER = "DispatcherFunction"
EXECUTOR = "ExecutorFunction"

# The first lines of every child: the clock starts before anything is imported.
_PRELUDE = '''
import time
_started = time.perf_counter()
import json
import sys

spec = json.loads(sys.argv[1])
sys.path[:0] = spec["path"]


class Context:
    """What Powertools' inject_lambda_context reads from Lambda's context."""

    function_name = spec["function_name"]
    function_version = "$LATEST"
    memory_limit_in_mb = spec["memory_mb"]
    invoked_function_arn = spec["function_arn"]
    aws_request_id = spec["request_id"]

    def get_remaining_time_in_millis(self):
        return 900_000
'''

_FUNCTION = """
import importlib

module_name, _, attr = spec["handler"].rpartition(".")
handler = getattr(importlib.import_module(module_name), attr)
"""

_BASELINE = """
import boto3
from aws_lambda_powertools import Logger

logger = Logger(service="cold-start-baseline")
dynamodb = boto3.client("dynamodb")


@logger.inject_lambda_context(log_event=False)
def handler(event, context):
    key = {"pk": {"S": event["pk"]}, "sk": {"S": event["sk"]}}
    found = "Item" in dynamodb.get_item(TableName=event["table"], Key=key)
    logger.info("looked up", extra={"found": found})
    return {"found": found}
"""

_EPILOGUE = f"""
_ready = time.perf_counter()
response = handler(spec["event"], Context())
_done = time.perf_counter()
figures = {{
    "total_ms": (_done - _started) * 1000.0,
    "init_ms": (_ready - _started) * 1000.0,
    "response": response,
}}
print({MARKER!r} + json.dumps(figures), flush=True)
"""

FUNCTION_CHILD = _PRELUDE + _FUNCTION + _EPILOGUE
BASELINE_CHILD = _PRELUDE + _BASELINE + _EPILOGUE


def _child_env(runtime: Any, function: str) -> dict[str, str]:
    """What the function's Lambda environment has (the runtime's environments get the same)."""
    from cronlane.local.stack import client_env

    info = runtime.stack.functions[function]
    env = {
        **os.environ,
        **info.environment,
        **client_env(runtime.stack.endpoint),
        "AWS_LAMBDA_FUNCTION_NAME": info.name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(info.memory_mb),
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon here
        **runtime.env_overrides,
    }
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # Lambda's /opt and code directory are read-only
    return {name: str(value) for name, value in env.items()}


LAYERS = {
    # side -> what its layer holds (PACKAGES of layer/Makefile)
    "cronlane": "-r requirements.txt",
    "baseline": "aws-lambda-powertools boto3",
}


def build_layers(folder: Path) -> dict[str, Path]:
    """Each side's layer, built alike by the example's layer/Makefile (the recipe ``sam build``
    runs for CoreLayer) for this machine's platform: side -> its ``python`` directory."""
    makefile = EXAMPLE_TEMPLATE.parent / "layer" / "Makefile"
    built = {}
    for side, packages in LAYERS.items():
        target = folder / side
        subprocess.run(
            [
                "make", "-s", "-f", str(makefile), "layer", f"ARTIFACTS_DIR={target}",
                f"PACKAGES={packages}", "PLATFORM=", f"PYTHON={sys.executable}",
            ],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        built[side] = target / "python"
    return built


def layer_state(layer: Path) -> dict[str, int]:
    """How many modules the layer ships, and how many with their bytecode."""
    sources = list(layer.rglob("*.py"))
    compiled = sum(1 for s in sources if Path(importlib.util.cache_from_source(str(s))).exists())
    return {"py": len(sources), "pyc": compiled}


def _spec(runtime: Any, function: str, event: dict[str, Any], layer: Path) -> dict[str, Any]:
    info = runtime.stack.functions[function]
    return {
        "path": [str(info.code_dir), str(layer)],
        "handler": info.handler,
        "function_name": info.name,
        "function_arn": f"arn:aws:lambda:us-east-1:123456789012:function:{info.name}",
        "memory_mb": info.memory_mb,
        "request_id": str(uuid.uuid4()),
        "event": event,
    }


def _measure(code: str, spec: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    """Run one fresh interpreter; its figures, its response and its process wall time."""
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code, json.dumps(spec)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    wall_ms = (time.perf_counter() - began) * 1000.0
    lines = [line for line in done.stdout.splitlines() if line.startswith(MARKER)]
    if done.returncode != 0 or not lines:
        raise RuntimeError(
            f"cold-start child failed (exit {done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        )
    figures: dict[str, Any] = json.loads(lines[-1].removeprefix(MARKER))
    figures["process_ms"] = wall_ms
    return figures


def _trigger_job(runtime: Any) -> tuple[str, dict[str, Any]]:
    """A root job of the catalog the functions load, and parameters that make its work instant."""
    from cronlane.settings import load_catalog

    catalog = load_catalog(_child_env(runtime, DISPATCHER)["CRONLANE_CATALOG"])
    roots = [job for job in catalog.jobs.values() if not job.depends_on]
    if not roots:
        raise RuntimeError("the catalog has no job without upstreams to trigger")
    job = next((j for j in roots if "duration_s" in j.params), roots[0])
    return job.name, ({job.name: {"duration_s": 0}} if "duration_s" in job.params else {})


def _receive(sqs: Any, queue_url: str, run_id: str) -> dict[str, Any]:
    """The job message of ``run_id``, received as the event source mapping receives it (any
    other message received with it is given back at once)."""
    response = sqs.receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=10,
        WaitTimeSeconds=0,
        AttributeNames=["All"],
        MessageAttributeNames=["All"],
    )
    ours: dict[str, Any] | None = None
    for message in response.get("Messages", []):
        if ours is None and json.loads(message["Body"]).get("run_id") == run_id:
            ours = message
        else:
            sqs.change_message_visibility(
                QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )
    if ours is None:
        raise RuntimeError(f"the job message of {run_id} was not on the job queue")
    return ours


def _sqs_event(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """The event Lambda builds from one received message (cf. events/executor-sqs-batch.json)."""
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": dict(message.get("Attributes") or {}),
                "messageAttributes": {},
                "md5OfBody": message["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1",
            }
        ]
    }


def _median(samples: list[float]) -> float:
    return round(statistics.median(samples), 1)


def run(runtime: Any, repeats: int = 5) -> dict[str, Any]:
    """Measure on a live ``LocalRuntime``; the figures as a JSON-serialisable dict."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="cronlane-layers-") as folder:
        layers = build_layers(Path(folder))
        return _run(runtime, repeats, layers)


def _run(runtime: Any, repeats: int, layers: dict[str, Path]) -> dict[str, Any]:
    from cronlane.local.stack import local_client

    table = runtime.stack.outputs["TableName"]
    mapping = next(m for m in runtime.stack.mappings if m.function == EXECUTOR)
    sqs = local_client("sqs", runtime.stack.endpoint)
    envs = {f: _child_env(runtime, f) for f in (DISPATCHER, EXECUTOR)}
    job, parameters = _trigger_job(runtime)
    names = ("dispatcher", "baseline_dispatcher", "executor", "baseline_executor")
    samples: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    nonce = uuid.uuid4().hex[:8]

    def pair(
        function: str, event: dict[str, Any], baseline_event: dict[str, Any], baseline_first: bool
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The function and its baseline, one right after the other: (function, baseline)."""

        def measure_function() -> dict[str, Any]:
            return _measure(
                FUNCTION_CHILD, _spec(runtime, function, event, layers["cronlane"]), envs[function]
            )

        def measure_baseline() -> dict[str, Any]:
            spec = _spec(runtime, function, baseline_event, layers["baseline"])
            return _measure(BASELINE_CHILD, spec, envs[function])

        if baseline_first:
            baseline = measure_baseline()
            return measure_function(), baseline
        measured = measure_function()
        return measured, measure_baseline()

    for round_ in range(repeats + 1):  # round 0 is the unmeasured warm-up
        baseline_first = round_ % 2 == 0
        key = f"cold-start-{nonce}-{round_}"
        trigger = {"action": "trigger", "jobs": [job], "parameters": parameters, "idempotency_key": key}
        lookup = {"table": table, "pk": f"RUN#manual@{key}", "sk": "RUN"}  # the run is not there yet
        dispatcher, baseline_d = pair(DISPATCHER, trigger, lookup, baseline_first)
        response = dispatcher["response"]
        if not (response.get("created") and response.get("enqueued") == 1):
            raise RuntimeError(f"the dispatcher did not create a run with one queued job: {response}")
        run_id = response["run_id"]

        message = _receive(sqs, mapping.queue_url, run_id)
        batch = _sqs_event(message, mapping.queue_arn)
        lookup = {"table": table, "pk": f"RUN#{run_id}", "sk": "RUN"}  # the run the message belongs to
        executor, baseline_e = pair(EXECUTOR, batch, lookup, baseline_first)
        if executor["response"] != {"batchItemFailures": []}:
            raise RuntimeError(f"the executor reported a failure: {executor['response']}")
        sqs.delete_message(QueueUrl=mapping.queue_url, ReceiptHandle=message["ReceiptHandle"])

        if round_ > 0:
            for name, figures in zip(names, (dispatcher, baseline_d, executor, baseline_e), strict=True):
                samples[name].append(figures)

    result: dict[str, Any] = {"repeats": repeats, "job": job}
    for name in names:
        result[f"{name}_ms"] = _median([s["total_ms"] for s in samples[name]])
        result[f"{name}_init_ms"] = _median([s["init_ms"] for s in samples[name]])
        result[f"{name}_invoke_ms"] = _median([s["total_ms"] - s["init_ms"] for s in samples[name]])
        result[f"{name}_process_ms"] = _median([s["process_ms"] for s in samples[name]])
    result["dispatcher_ratio"] = round(result["dispatcher_ms"] / result["baseline_dispatcher_ms"], 2)
    result["executor_ratio"] = round(result["executor_ms"] / result["baseline_executor_ms"], 2)
    result["cold_start_ratio"] = max(result["dispatcher_ratio"], result["executor_ratio"])
    result["target_ratio"] = TARGET_RATIO
    result["within_target"] = result["cold_start_ratio"] <= TARGET_RATIO
    result["layers"] = {side: layer_state(path) for side, path in layers.items()}
    result["as_shipped"] = (
        "each side's layer built by layer/Makefile (sam build's recipe: bytecode compiled, "
        "unchecked-hash) for this machine, run with PYTHONDONTWRITEBYTECODE as from a read-only /opt"
    )
    result["samples_ms"] = {name: [round(s["total_ms"], 1) for s in samples[name]] for name in names}
    result["median_of"] = "total_ms (first statement to the handler's return) over the measured rounds"
    return result


def main() -> None:
    from cronlane.local.session import local_runtime

    with local_runtime(EXAMPLE_TEMPLATE, clock="virtual") as runtime:
        print(json.dumps(run(runtime), indent=2))


if __name__ == "__main__":
    main()
