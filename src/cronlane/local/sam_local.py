"""``cronlane local sam-invoke``: both functions run by ``sam local invoke`` in Lambda-like
containers, against the local twin (docs/sam-local.md).

In order, from an application's folder:

1. decide whether it can run here at all (``skip_reason``): Python 3.13, root, cgroups,
   ``dockerd`` and ``debootstrap``; if not, one ``skipped`` line and ``SKIPPED`` (exit code 4);
2. write a local copy of the app's ``template.yaml`` (``local_template``: x86_64, the endpoint
   variable declared, code paths pointing back at the app) under ``.cronlane/sam-local/`` and
   ``sam build`` it from the app's wheels only;
3. find a Docker engine or start one (``docker_engine``), and build the Lambda base image in it
   if the recipe changed (``lambda_image``);
4. start the twin (the app's ``template.yaml`` in moto's CloudFormation) on loopback and on the
   bridge's gateway, and write the ``--env-vars`` file from the twin's own function environment
   (``env_vars``), pointed at the gateway;
5. ``sam local invoke`` the dispatcher with the manual trigger event and check its run is in the
   twin's table, then the executor with the SQS batch event and check its job-run SUCCEEDED.

Everything it starts (dockerd, the moto servers) it stops, on failure and Ctrl-C too.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import yaml

from cronlane.errors import CronlaneError
from cronlane.local import docker_engine, lambda_image
from cronlane.project import App

SKIPPED = 4  # the exit code of a machine that cannot run it (distinct from 1 failed, 2 bad input)
ENDPOINT_VARIABLE = "AWS_ENDPOINT_URL"
DISPATCHER = "DispatcherFunction"
EXECUTOR = "ExecutorFunction"
REGION = "us-east-1"
# Handed to SAM, which gives them to the container as Lambda gives a function its role's.
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
WORK_FOLDER = Path(".cronlane") / "sam-local"  # in the app's folder (ignored by git)
INVOKE_TIMEOUT_S = 600


class SamLocalError(CronlaneError):
    """Bad input or a step that could not be done: one line, exit code 2."""


# -- 1. can it run here ---------------------------------------------------------------------------


@dataclass(frozen=True)
class HostFacts:
    engine: docker_engine.EngineHost
    debootstrap: str | None
    python: tuple[int, int]
    python_prefix: Path


def probe_host(env: Mapping[str, str] = os.environ) -> HostFacts:
    path = os.pathsep.join([env.get("PATH", ""), "/usr/sbin", "/sbin"])
    return HostFacts(
        engine=docker_engine.probe_host(env),
        debootstrap=shutil.which("debootstrap", path=path),
        python=(sys.version_info.major, sys.version_info.minor),
        python_prefix=Path(sys.base_prefix),
    )


def skip_reason(facts: HostFacts) -> str | None:
    """Why ``sam local invoke`` cannot run on this machine (None: it can). debootstrap is asked
    for even when an engine runs: the image may have to be built in it."""
    python = lambda_image.python_problem(facts.python, facts.python_prefix)
    if python:
        return python
    engine = docker_engine.engine_skip_reason(facts.engine)
    if engine:
        return engine
    if not facts.engine.is_root:
        return "not root: debootstrap needs root"
    if facts.debootstrap is None:
        return "debootstrap is not installed (Debian: apt-get install debootstrap)"
    return None


# -- 2. the local copy of the template ------------------------------------------------------------


def local_template(
    template: dict[str, Any], app_root: Path, copy_folder: Path, endpoint_variable: str = ENDPOINT_VARIABLE
) -> dict[str, Any]:
    """The template as ``sam local`` can run it here: every function and layer on x86_64 (no
    arm64 image or Python can be had here; docs/sam-local.md), ``endpoint_variable`` declared
    in the Globals' environment (``--env-vars`` sets only declared variables), and each local
    ``CodeUri``/``ContentUri`` made relative to ``copy_folder`` so it still names the app's
    folders. ``template`` is not changed."""
    out = json.loads(json.dumps(template))  # a deep copy of plain data

    def moved(uri: Any) -> Any:
        if not isinstance(uri, str) or uri.startswith("s3://") or Path(uri).is_absolute():
            return uri
        return os.path.relpath(app_root / uri, copy_folder)

    function_globals = out.setdefault("Globals", {}).setdefault("Function", {})
    function_globals["Architectures"] = ["x86_64"]
    if "CodeUri" in function_globals:
        function_globals["CodeUri"] = moved(function_globals["CodeUri"])
    variables = function_globals.setdefault("Environment", {}).setdefault("Variables", {})
    variables.setdefault(endpoint_variable, "")
    for resource in out.get("Resources", {}).values():
        kind = resource.get("Type")
        props = resource.setdefault("Properties", {})
        if kind == "AWS::Serverless::Function":
            if "Architectures" in props:
                props["Architectures"] = ["x86_64"]
            if "CodeUri" in props:
                props["CodeUri"] = moved(props["CodeUri"])
        elif kind == "AWS::Serverless::LayerVersion":
            if "CompatibleArchitectures" in props:
                props["CompatibleArchitectures"] = ["x86_64"]
            if "ContentUri" in props:
                props["ContentUri"] = moved(props["ContentUri"])
            metadata = resource.get("Metadata")
            if isinstance(metadata, dict) and "BuildArchitecture" in metadata:
                metadata["BuildArchitecture"] = "x86_64"
    return out


def write_local_template(app: App, work: Path, endpoint_variable: str = ENDPOINT_VARIABLE) -> Path:
    from cronlane.local.stack import load_template

    try:
        template = load_template(app.template)
    except (OSError, ValueError) as exc:
        raise SamLocalError(f"{app.template}: cannot be read as a template: {exc}") from exc
    work.mkdir(parents=True, exist_ok=True)
    copy = work / "template.yaml"
    body = yaml.safe_dump(
        local_template(template, app.root, work, endpoint_variable), sort_keys=False, width=120
    )
    copy.write_text(
        f"# Written by cronlane local sam-invoke from {app.template.name}: x86_64, {endpoint_variable}"
        " declared. Not to deploy; rewritten on every run.\n" + body
    )
    return copy


# -- 4. the --env-vars file -----------------------------------------------------------------------


def env_vars(
    functions: Mapping[str, Mapping[str, str]],
    loopback_endpoint: str,
    container_endpoint: str,
    endpoint_variable: str = ENDPOINT_VARIABLE,
) -> dict[str, dict[str, str]]:
    """SAM's ``--env-vars`` content: each function's environment as the twin's stack resolved it
    (table, queues, rule prefix, catalog, watchdog ...; a ``!Ref`` under ``sam local`` would
    resolve to a logical id), with the twin reached at ``container_endpoint`` (the gateway, as
    containers see the host) wherever it says ``loopback_endpoint``, and ``endpoint_variable``
    pointing at it."""
    return {
        logical_id: {
            **{
                name: str(value).replace(loopback_endpoint, container_endpoint) for name, value in env.items()
            },
            endpoint_variable: container_endpoint,
        }
        for logical_id, env in functions.items()
    }


# -- 5. the invocations and their checks ----------------------------------------------------------


@dataclass(frozen=True)
class Events:
    """The two event files, read and checked before anything starts."""

    dispatcher: Path
    executor: Path
    run_id: str | None  # the run the trigger names (None: the dispatcher's answer will say)
    records: tuple[tuple[str, str], ...] = field(default=())  # (run_id, job) of each SQS record


def read_events(dispatcher: Path, executor: Path) -> Events:
    from cronlane.model import manual_run_id

    trigger = _read_json(dispatcher)
    run_id = None
    if isinstance(trigger, dict) and trigger.get("action") == "trigger" and trigger.get("idempotency_key"):
        try:
            run_id = manual_run_id(str(trigger["idempotency_key"]))
        except CronlaneError as exc:
            raise SamLocalError(f"{dispatcher}: {exc}") from exc
    batch = _read_json(executor)
    records = []
    for record in batch.get("Records", []) if isinstance(batch, dict) else []:
        try:
            body = json.loads(record["body"])
            records.append((str(body["run_id"]), str(body["job"])))
        except (KeyError, TypeError, ValueError) as exc:
            raise SamLocalError(f"{executor}: a record whose body names no run_id and job ({exc})") from exc
    if not records:
        raise SamLocalError(f"{executor}: no SQS Records")
    others = sorted({r for r, _ in records if run_id is not None and r != run_id})
    if others:
        raise SamLocalError(
            f"{executor} names run {others[0]}, but {dispatcher.name} creates {run_id}: the executor "
            "would find no such run"
        )
    return Events(dispatcher, executor, run_id, tuple(records))


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except OSError as exc:
        raise SamLocalError(f"event file {path}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise SamLocalError(f"event file {path}: not JSON ({exc})") from exc


@dataclass(frozen=True)
class Outcome:
    function: str
    ok: bool
    reason: str = ""

    def line(self) -> str:
        return f"sam local invoke {self.function}: " + ("ok" if self.ok else f"FAILED ({self.reason})")


def check_dispatch(response: Any, expected_run_id: str | None, get_run: Callable[[str], Any]) -> Outcome:
    """The dispatcher answered with a run, the one the event names, and it is in the table."""
    if not isinstance(response, dict):
        return Outcome(DISPATCHER, False, f"no answer from the function ({str(response)[:120]})")
    if "errorMessage" in response or "error" in response:
        return Outcome(DISPATCHER, False, str(response.get("errorMessage") or response.get("error"))[:200])
    run_id = response.get("run_id")
    if expected_run_id is not None and run_id != expected_run_id:
        return Outcome(DISPATCHER, False, f"it answered run {run_id}, the event names {expected_run_id}")
    if not isinstance(run_id, str) or get_run(run_id) is None:
        return Outcome(DISPATCHER, False, f"run {run_id} is not in the twin's table")
    return Outcome(DISPATCHER, True)


def check_execution(
    response: Any, records: tuple[tuple[str, str], ...], get_job_run: Callable[[str, str], Any]
) -> Outcome:
    """No record reported as failed, and each record's job-run SUCCEEDED in the table."""
    if not isinstance(response, dict):
        return Outcome(EXECUTOR, False, f"no answer from the function ({str(response)[:120]})")
    if "errorMessage" in response:
        return Outcome(EXECUTOR, False, str(response["errorMessage"])[:200])
    if response.get("batchItemFailures"):
        return Outcome(EXECUTOR, False, f"it reported failed records: {response['batchItemFailures']}")
    for run_id, job in records:
        job_run = get_job_run(run_id, job)
        status = getattr(getattr(job_run, "status", None), "value", None)
        if status != "SUCCEEDED":
            return Outcome(EXECUTOR, False, f"job-run {run_id} / {job} is {status or 'not in the table'}")
    return Outcome(EXECUTOR, True)


def last_json_line(output: str) -> Any:
    """SAM prints the function's answer as the last line of its standard output."""
    for line in reversed(output.strip().splitlines()):
        with contextlib.suppress(ValueError):
            return json.loads(line)
    return None


# -- the whole -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    app: App
    sam: str
    docker_root: Path
    dispatcher_event: Path
    executor_event: Path
    wheels: Path
    endpoint_variable: str = ENDPOINT_VARIABLE


class _Logs:
    """One log file per step, in a folder per run (named in every failure)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def named_in(self, outcome: Outcome) -> Outcome:
        """A failure's reason, with the log of the function's invocation to read."""
        if outcome.ok:
            return outcome
        log = self.folder / f"{outcome.function}.log"
        return dataclasses.replace(outcome, reason=f"{outcome.reason}; log: {log}")

    @contextlib.contextmanager
    def open(self, name: str) -> Iterator[IO[str]]:
        with (self.folder / name).open("a") as log:
            yield log


def sam_invoke(options: Options, report: Callable[[str], None]) -> int:
    """Run it all; each outcome's line is given to ``report`` as it comes. Returns the exit code:
    0 both ok, 1 one FAILED, ``SKIPPED``; raises ``SamLocalError`` (and the engine's and the
    image's errors) for what could not be done."""
    reason = skip_reason(probe_host())
    if reason:
        report(f"sam local invoke: skipped ({reason})")
        return SKIPPED
    app = options.app
    sam = shutil.which(options.sam)
    if sam is None:
        raise SamLocalError(f"--sam {options.sam}: SAM CLI not found (make tools installs it)")
    if not options.wheels.is_dir():
        raise SamLocalError(f"no wheels folder {options.wheels} for the layer (make wheels fills it)")
    events = read_events(options.dispatcher_event, options.executor_event)
    work = app.root / WORK_FOLDER
    logs = _Logs(work / "logs" / time.strftime("%Y%m%dT%H%M%S"))
    copy = write_local_template(app, work, options.endpoint_variable)
    # SAM's temporary folder, emptied on every run: SAM keeps a lock there while it builds its
    # image, and one left by an interrupted run would make the next wait minutes for it.
    shutil.rmtree(work / "tmp", ignore_errors=True)
    (work / "tmp").mkdir()
    with _terminate_as_interrupt():
        sam_build(sam, copy, options.wheels, logs)
        with docker_engine.docker_engine(
            options.docker_root, existing=docker_engine.existing_socket()
        ) as engine:
            recipe = lambda_image.default_recipe()
            with logs.open("lambda-image.log") as log:
                lambda_image.ensure_image(engine.api, recipe, options.docker_root / "lambda-image", log)
            gateway = engine.api.bridge_gateway()
            code = _invoke_both(options, sam, work, events, engine, gateway, logs, report)
            with contextlib.suppress(OSError, docker_engine.EngineError):
                engine.api.prune_dangling_images()
            return code


def sam_build(sam: str, copy: Path, wheels: Path, logs: _Logs) -> None:
    """``sam build`` of the copy, the layer from the app's wheels only, with python3.13 (the one
    running cronlane) first on PATH."""
    folders = [str(Path(sys.executable).parent), str(Path(sys.base_prefix) / "bin")]
    env = {
        **os.environ,
        "PATH": os.pathsep.join([*folders, os.environ.get("PATH", "")]),
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(wheels.resolve()),
        "SAM_CLI_TELEMETRY": "0",
        "TMPDIR": str(copy.parent / "tmp"),
    }
    build_dir = copy.parent / ".aws-sam" / "build"
    shutil.rmtree(build_dir, ignore_errors=True)
    command = [sam, "build", "--template-file", str(copy), "--build-dir", str(build_dir)]
    with logs.open("sam-build.log") as log:
        if _run(command, copy.parent, env, log, timeout_s=INVOKE_TIMEOUT_S) != 0:
            raise SamLocalError(f"sam build of {copy} failed (log: {log.name})")


def _invoke_both(
    options: Options,
    sam: str,
    work: Path,
    events: Events,
    engine: docker_engine.Engine,
    gateway: str,
    logs: _Logs,
    report: Callable[[str], None],
) -> int:
    from cronlane.local.moto_patches import LOOPBACK, stop_moto_servers
    from cronlane.local.session import local_runtime, store_of

    try:
        with local_runtime(
            options.app, clock="real", log_dir=logs.folder / "twin", also_on=(gateway,)
        ) as twin:
            # The twin only holds the state: nothing of it runs a function (the containers do).
            twin.mappings_enabled = False
            twin.checks_enabled = False
            loopback = twin.stack.endpoint
            container_endpoint = loopback.replace(f"//{LOOPBACK}:", f"//{gateway}:")
            functions = {
                k: v.environment for k, v in twin.stack.functions.items() if k in (DISPATCHER, EXECUTOR)
            }
            env_file = work / "env-vars.json"
            env_file.write_text(
                json.dumps(
                    env_vars(functions, loopback, container_endpoint, options.endpoint_variable), indent=2
                )
            )
            store = store_of(twin)
            invoke = _Invoker(
                sam, work, env_file, engine.docker_host, logs, loopback, options.endpoint_variable
            )

            response = invoke(DISPATCHER, events.dispatcher)
            dispatched = check_dispatch(response, events.run_id, store.get_run)
            report(logs.named_in(dispatched).line())
            if not dispatched.ok:
                return 1
            response = invoke(EXECUTOR, events.executor)
            executed = check_execution(response, events.records, store.get_job_run)
            report(logs.named_in(executed).line())
            return 0 if executed.ok else 1
    finally:
        stop_moto_servers()


@dataclass(frozen=True)
class _Invoker:
    sam: str
    work: Path
    env_file: Path
    docker_host: str
    logs: _Logs
    twin_endpoint: str
    endpoint_variable: str = ENDPOINT_VARIABLE

    def __call__(self, function: str, event: Path) -> Any:
        """``sam local invoke`` of the built copy: the function's answer, or a sentence saying that
        none came."""
        # Not this process's own endpoint (the twin's loopback): SAM would hand a declared
        # variable's value from its environment to the container where the file gives none.
        dropped = {"AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", self.endpoint_variable}
        env = {
            **{k: v for k, v in os.environ.items() if k not in dropped},
            **DUMMY_CREDENTIALS,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "DOCKER_HOST": self.docker_host,
            "SAM_CLI_TELEMETRY": "0",
            "TMPDIR": str(self.work / "tmp"),
            # SAM asks STS for the account id before each invoke: the twin answers (its
            # account), instead of an unreachable AWS making every invoke wait for a timeout.
            "AWS_ENDPOINT_URL_STS": self.twin_endpoint,
        }
        command = [
            self.sam,
            "local",
            "invoke",
            function,
            "--template",
            str(self.work / ".aws-sam" / "build" / "template.yaml"),
            "--event",
            str(event.resolve()),
            "--env-vars",
            str(self.env_file),
            "--skip-pull-image",
            "--region",
            REGION,
        ]
        with self.logs.open(f"{function}.log") as log:
            stdout = self.logs.folder / f"{function}.out"
            with stdout.open("w") as out:
                code = _run(command, self.work, env, log, timeout_s=INVOKE_TIMEOUT_S, stdout=out)
            answer = last_json_line(stdout.read_text())
            if answer is None:
                return f"sam exited with code {code}, see {log.name}"
            return answer


def _run(
    command: list[str],
    cwd: Path,
    env: Mapping[str, str],
    log: IO[str],
    timeout_s: float,
    stdout: IO[str] | None = None,
) -> int:
    log.write(f"$ {' '.join(command)}\n")
    log.flush()
    try:
        return subprocess.run(
            command,
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=stdout or log,
            stderr=log,
            timeout=timeout_s,
            check=False,
        ).returncode
    except subprocess.TimeoutExpired:
        log.write(f"timed out after {timeout_s:g} s\n")
        return -1


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """A SIGTERM (make killed, a CI timeout) unwinds like a Ctrl-C, so what was started is stopped."""

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
