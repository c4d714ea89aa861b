"""``cronlane local sam-invoke``'s pure parts: whether it can run here, the local copy of the
template, the ``--env-vars`` file, the event files and the checks of what each invoke left."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from cronlane.local.docker_engine import (
    EngineFolder,
    EngineHost,
    cgroups_available,
    dockerd_command,
    mounts_under,
)
from cronlane.local.lambda_image import IMAGE_ENV, Recipe
from cronlane.local.sam_local import (
    DISPATCHER,
    EXECUTOR,
    HostFacts,
    SamLocalError,
    check_dispatch,
    check_execution,
    env_vars,
    last_json_line,
    local_template,
    read_events,
    skip_reason,
    write_local_template,
)
from cronlane.local.stack import load_template
from cronlane.project import find_app
from tests.conftest import EVENTS, FIXTURE_APP, TEMPLATE

PYTHON = Path("/opt/python-3.13")
ENGINE_HOST = EngineHost(is_root=True, cgroups=True, dockerd="/usr/sbin/dockerd", running=False)
ABLE = HostFacts(ENGINE_HOST, "/usr/sbin/debootstrap", (3, 13), PYTHON)


def facts(**changes: Any) -> HostFacts:
    engine = {k: changes.pop(k) for k in ("is_root", "cgroups", "dockerd", "running") if k in changes}
    host = EngineHost(**{**ENGINE_HOST.__dict__, **engine})
    return HostFacts(**{**ABLE.__dict__, "engine": host, **changes})


@pytest.fixture
def python_prefix(tmp_path: Path) -> Path:
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "python3.13").write_text("")
    return tmp_path


# -- whether it can run here ---------------------------------------------------------------------


def test_a_machine_with_everything_is_not_skipped(python_prefix: Path) -> None:
    assert skip_reason(facts(python_prefix=python_prefix)) is None


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"is_root": False}, "not root"),
        ({"cgroups": False}, "no cgroups"),
        ({"dockerd": None}, "dockerd is not installed (Debian: apt-get install docker.io)"),
        ({"debootstrap": None}, "debootstrap is not installed"),
        ({"python": (3, 12)}, "needs Python 3.13, cronlane runs on 3.12"),
    ],
)
def test_what_is_missing_is_the_skip_reason(
    python_prefix: Path, changes: dict[str, Any], reason: str
) -> None:
    said = skip_reason(facts(python_prefix=python_prefix, **changes))
    assert said is not None and reason in said
    assert "\n" not in said  # it is printed as one line


def test_a_running_engine_needs_no_dockerd_of_our_own(python_prefix: Path) -> None:
    assert skip_reason(facts(python_prefix=python_prefix, running=True, dockerd=None, cgroups=False)) is None


def test_a_python_prefix_without_python3_13_is_a_reason_to_skip(tmp_path: Path) -> None:
    said = skip_reason(facts(python_prefix=tmp_path))
    assert said is not None and "bin/python3.13" in said


def test_cgroups_are_seen_as_v1_folders_or_a_v2_controllers_file(tmp_path: Path) -> None:
    assert not cgroups_available(tmp_path)
    (tmp_path / "memory").mkdir()
    assert cgroups_available(tmp_path)
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "cgroup.controllers").write_text("cpu memory pids\n")
    assert cgroups_available(v2)


def test_the_engine_keeps_everything_in_its_folder_and_leaves_the_firewall_alone() -> None:
    # a folder shallow enough for the engine's unix sockets (pytest's tmp_path may not be)
    with tempfile.TemporaryDirectory(prefix="cl-") as scratch:
        tmp_path = Path(scratch)
        folder = EngineFolder(tmp_path / "docker")
        command = dockerd_command("dockerd", folder, "overlay2")
        assert f"--data-root={tmp_path / 'docker' / 'data'}" in command
        assert f"--exec-root={tmp_path / 'docker' / 'exec'}" in command
        assert f"--pidfile={tmp_path / 'docker' / 'dockerd.pid'}" in command
        assert f"--host=unix://{tmp_path / 'docker' / 'docker.sock'}" in command
        assert {"--iptables=false", "--ip-masq=false", "--storage-driver=overlay2"} <= set(command)
        assert folder.problem() is None


def test_a_folder_too_deep_for_unix_sockets_is_refused_before_dockerd_starts(tmp_path: Path) -> None:
    problem = EngineFolder(tmp_path / ("d" * 90)).problem()
    assert problem is not None and "--docker-root" in problem


def test_what_a_dockerd_left_mounted_in_its_folder_is_found_deepest_first() -> None:
    mountinfo = "\n".join(
        [
            "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw",
            "45 22 254:0 /srv/d/data /srv/d/data rw,relatime shared:1 - ext4 /dev/vda rw",
            "46 45 0:50 / /srv/d/data/overlay2/abc/merged rw - overlay overlay rw",
            "47 22 0:51 / /srv/dx rw - tmpfs tmpfs rw",
            "48 22 0:52 / /srv/d/with\\040space rw - tmpfs tmpfs rw",
        ]
    )
    assert mounts_under(Path("/srv/d"), mountinfo) == [
        Path("/srv/d/data/overlay2/abc/merged"),
        Path("/srv/d/data"),
        Path("/srv/d/with space"),
    ]


# -- the local copy of the template --------------------------------------------------------------


def test_the_copy_runs_everything_on_x86_64_and_declares_the_endpoint_variable(tmp_path: Path) -> None:
    # GIVEN the fixture app's template (arm64 functions and layer)
    template = load_template(TEMPLATE)
    # WHEN it is copied for sam local
    copy = local_template(template, FIXTURE_APP, tmp_path / "copy")
    # THEN the functions, the layer and its build are x86_64
    assert copy["Globals"]["Function"]["Architectures"] == ["x86_64"]
    layers = {k: r for k, r in copy["Resources"].items() if r["Type"] == "AWS::Serverless::LayerVersion"}
    assert layers
    for layer in layers.values():
        assert layer["Properties"]["CompatibleArchitectures"] == ["x86_64"]
        assert layer["Metadata"]["BuildArchitecture"] == "x86_64"
    # AND the endpoint variable is declared beside the stack's own variables
    variables = copy["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["AWS_ENDPOINT_URL"] == ""
    assert (
        variables["TABLE_NAME"] == template["Globals"]["Function"]["Environment"]["Variables"]["TABLE_NAME"]
    )
    # AND the template itself is left as it was
    assert template["Globals"]["Function"]["Architectures"] == ["arm64"]
    assert "AWS_ENDPOINT_URL" not in template["Globals"]["Function"]["Environment"]["Variables"]


def test_the_copys_code_paths_still_name_the_apps_folders(tmp_path: Path) -> None:
    copy_folder = tmp_path / "app" / ".cronlane" / "sam-local"
    copy = local_template(load_template(TEMPLATE), FIXTURE_APP, copy_folder)
    for resource in copy["Resources"].values():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(props.get(key), str):
                assert not Path(props[key]).is_absolute()
                named = (copy_folder / props[key]).resolve()
                assert named in {(FIXTURE_APP / "src").resolve(), (FIXTURE_APP / "layer").resolve()}


def test_remote_code_and_an_endpoint_already_declared_are_kept(tmp_path: Path) -> None:
    template = {
        "Globals": {"Function": {"Environment": {"Variables": {"AWS_ENDPOINT_URL": "http://x:1"}}}},
        "Resources": {
            "Fn": {"Type": "AWS::Serverless::Function", "Properties": {"CodeUri": "s3://bucket/code.zip"}},
            "Arm": {
                "Type": "AWS::Serverless::Function",
                "Properties": {"CodeUri": "fn/", "Architectures": ["arm64"]},
            },
        },
    }
    copy = local_template(template, tmp_path, tmp_path / "copy")
    assert copy["Resources"]["Fn"]["Properties"]["CodeUri"] == "s3://bucket/code.zip"
    assert copy["Resources"]["Arm"]["Properties"] == {
        "CodeUri": os.path.join("..", "fn"),
        "Architectures": ["x86_64"],
    }
    assert copy["Globals"]["Function"]["Environment"]["Variables"]["AWS_ENDPOINT_URL"] == "http://x:1"


def test_the_written_copy_reads_back_as_a_template_of_the_same_resources(tmp_path: Path) -> None:
    app = find_app(TEMPLATE, "fixture_jobs.catalog")
    written = write_local_template(app, tmp_path)
    again = load_template(written)
    assert set(again["Resources"]) == set(load_template(TEMPLATE)["Resources"])
    assert again["Globals"]["Function"]["Architectures"] == ["x86_64"]


# -- the --env-vars file -------------------------------------------------------------------------


def test_the_env_file_points_each_function_at_the_twin_as_containers_reach_it() -> None:
    loopback, gateway = "http://127.0.0.1:4711", "http://172.17.0.1:4711"
    functions = {
        DISPATCHER: {
            "TABLE_NAME": "local-RunsTable-X",
            "QUEUE_URL": f"{loopback}/123456789012/local-jobs.fifo",
        },
        EXECUTOR: {"TABLE_NAME": "local-RunsTable-X", "HISTORY_TTL_DAYS": 30},
    }
    file = env_vars(functions, loopback, gateway)  # type: ignore[arg-type]
    assert set(file) == {DISPATCHER, EXECUTOR}
    assert file[DISPATCHER]["QUEUE_URL"] == f"{gateway}/123456789012/local-jobs.fifo"
    assert file[DISPATCHER]["AWS_ENDPOINT_URL"] == gateway == file[EXECUTOR]["AWS_ENDPOINT_URL"]
    assert file[EXECUTOR] == {
        "TABLE_NAME": "local-RunsTable-X",
        "HISTORY_TTL_DAYS": "30",
        "AWS_ENDPOINT_URL": gateway,
    }
    assert not any(loopback in value for env in file.values() for value in env.values())
    json.dumps(file)  # what SAM reads


# -- the event files and the checks --------------------------------------------------------------


def test_the_fixture_apps_events_name_one_run() -> None:
    events = read_events(EVENTS / "manual-trigger.json", EVENTS / "executor-sqs-batch.json")
    assert events.run_id == "manual@fixture-1"
    assert events.records == (("manual@fixture-1", "freshness"),)


def test_an_executor_event_of_another_run_is_refused_before_anything_starts(tmp_path: Path) -> None:
    batch = json.loads((EVENTS / "executor-sqs-batch.json").read_text())
    batch["Records"][0]["body"] = json.dumps({"run_id": "manual@other", "job": "freshness", "generation": 0})
    other = tmp_path / "batch.json"
    other.write_text(json.dumps(batch))
    with pytest.raises(SamLocalError, match="names run manual@other"):
        read_events(EVENTS / "manual-trigger.json", other)


def test_an_event_file_that_is_not_json_is_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(SamLocalError, match="not JSON"):
        read_events(broken, EVENTS / "executor-sqs-batch.json")


def test_the_dispatcher_is_ok_only_with_the_events_run_in_the_table() -> None:
    table = {"manual@k": object()}
    answer = {"run_id": "manual@k", "created": True}
    assert check_dispatch(answer, "manual@k", table.get).line() == "sam local invoke DispatcherFunction: ok"
    missing = check_dispatch(answer, "manual@k", {}.get)
    assert (
        missing.line()
        == "sam local invoke DispatcherFunction: FAILED (run manual@k is not in the twin's table)"
    )
    refused = check_dispatch({"error": "unknown schedule 'x'"}, "manual@k", table.get)
    assert not refused.ok and refused.reason == "unknown schedule 'x'"
    crashed = check_dispatch({"errorMessage": "boom", "errorType": "RuntimeError"}, None, table.get)
    assert not crashed.ok and crashed.reason == "boom"
    assert not check_dispatch("sam exited with code 1", None, table.get).ok


def test_the_executor_is_ok_only_when_each_records_job_run_succeeded() -> None:
    records = (("manual@k", "freshness"),)

    def table(status: str | None) -> Any:
        return lambda run, job: (
            None if status is None else SimpleNamespace(status=SimpleNamespace(value=status))
        )

    assert check_execution({"batchItemFailures": []}, records, table("SUCCEEDED")).ok
    running = check_execution({"batchItemFailures": []}, records, table("RUNNING"))
    assert (
        running.line()
        == "sam local invoke ExecutorFunction: FAILED (job-run manual@k / freshness is RUNNING)"
    )
    assert not check_execution({"batchItemFailures": []}, records, table(None)).ok
    failed = check_execution({"batchItemFailures": [{"itemIdentifier": "m1"}]}, records, table("SUCCEEDED"))
    assert not failed.ok and "failed records" in failed.reason


def test_sams_answer_is_its_last_json_line() -> None:
    assert last_json_line('Invoking ...\n{"run_id": "manual@k"}\n') == {"run_id": "manual@k"}
    assert last_json_line("no answer at all\n") is None


# -- the image's recipe --------------------------------------------------------------------------


def test_the_image_is_rebuilt_only_when_its_recipe_changes() -> None:
    recipe = Recipe(PYTHON, "3.13.0", ("awslambdaric==4.2.2", "boto3==1.44.8"))
    assert (
        recipe.digest()
        == Recipe(PYTHON, "3.13.0", recipe.packages, mirror="http://elsewhere/debian").digest()
    )
    assert recipe.digest() != Recipe(PYTHON, "3.13.1", recipe.packages).digest()
    assert recipe.digest() != Recipe(PYTHON, "3.13.0", ("awslambdaric==4.2.2", "boto3==1.44.9")).digest()
    changes = recipe.changes()
    assert f"LABEL cronlane.recipe={recipe.digest()}" in changes
    assert "ENV LAMBDA_TASK_ROOT=/var/task" in changes and "WORKDIR /var/task" in changes
    assert IMAGE_ENV["LD_LIBRARY_PATH"].startswith("/var/lang/lib:")
