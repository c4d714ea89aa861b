"""A Lambda environment has the memory its function's ``MemorySize`` gives it, on the local
runtime as on AWS: ``cronlane local run`` says how much each function used at most (what to size
it by), and an environment that goes above its size is killed as Lambda kills it, so a job that
needs more than its executor has fails here before it fails in the cloud. Run in an app made by
``cronlane init`` whose executor has 256 MB."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from cronlane.scaffold import create_app
from tests.conftest import app_cli as cli

pytestmark = [pytest.mark.stack, pytest.mark.xdist_group("memory-limit")]

WHEELS = os.environ.get("CRONLANE_WHEELS")
EXECUTOR_MB = 256

HOG = '''"""A job that holds ``mb`` megabytes while it works (half a second)."""

import time


def hold(ctx):
    block = bytearray(ctx.params["mb"] * 2**20)
    block[::4096] = b"x" * len(block[::4096])  # every page touched: resident, as a real job's data
    time.sleep(0.5)
    return {"held_mb": len(block) // 2**20}
'''
JOB = """
JOBS += [
    Job(
        "hogJob",
        "hog_jobs.hog.hold",
        "hello",
        ("helloJob",),
        timeout_s=120,
        max_attempts=2,
        params={"mb": Param("int", 16, "megabytes to hold", min=0)},
    ),
]
"""


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("memory") / "my-jobs"
    create_app(root, package="hog_jobs", find_links=Path(WHEELS) if WHEELS else None)
    (root / "src" / "hog_jobs" / "hog.py").write_text(HOG)
    template = root / "template.yaml"
    text = template.read_text()
    executor = text.index("\n  ExecutorFunction:\n")
    size = text.index("MemorySize: 1024", executor)
    template.write_text(text[:size] + f"MemorySize: {EXECUTOR_MB}" + text[size + len("MemorySize: 1024") :])
    catalog = root / "src" / "hog_jobs" / "catalog.py"
    source = catalog.read_text()
    catalog.write_text(source.replace("\nCATALOG = Catalog.build", JOB + "\nCATALOG = Catalog.build"))
    return root


def used_mb(output: str, function: str) -> tuple[int, int]:
    found = re.search(rf"{function} (\d+) of (\d+) MB", output)
    assert found is not None, output[-2000:]
    return int(found.group(1)), int(found.group(2))


def test_a_job_within_its_executors_memory_runs_and_the_run_says_what_it_used(app: Path) -> None:
    small = cli(app, "local", "run", "daily", "--clock", "virtual", "--param", "hogJob.mb=16")
    assert small.returncode == 0, small.stdout[-2000:] + small.stderr[-2000:]
    assert "memory used at most:" in small.stdout and "killed" not in small.stdout
    base, size = used_mb(small.stdout, "ExecutorFunction")
    assert size == EXECUTOR_MB and base < EXECUTOR_MB - 64
    assert used_mb(small.stdout, "DispatcherFunction")[1] == 512
    # a job that holds 64 MB more shows in what the executor used
    more = cli(app, "local", "run", "daily", "--clock", "virtual", "--param", "hogJob.mb=80")
    assert more.returncode == 0, more.stdout[-2000:] + more.stderr[-2000:]
    assert used_mb(more.stdout, "ExecutorFunction")[0] >= base + 60


def test_a_job_that_needs_more_than_its_executor_has_is_killed_as_lambda_kills_it(
    app: Path, tmp_path: Path
) -> None:
    too_much, logs_dir = f"hogJob.mb={EXECUTOR_MB}", tmp_path / "logs"
    done = cli(
        app,
        "local",
        "run",
        "daily",
        "--clock",
        "virtual",
        "--json",
        "--param",
        too_much,
        "--logs",
        str(logs_dir),
    )
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    jobs = {j["name"]: j for j in json.loads(done.stdout)["jobs"]}
    assert jobs["helloJob"]["status"] == "SUCCEEDED"  # the run's other work is kept
    hog = jobs["hogJob"]
    # both attempts' environments were killed: each lease ran out and the second one's too
    assert (hog["status"], hog["attempts"]) == ("FAILED", 2)
    assert "never finished" in hog["error"]
    logs = "".join(p.read_text(errors="replace") for p in logs_dir.rglob("*") if p.is_file())
    assert logs.count("Error: Runtime exited with error: signal: killed") == 2
    assert f"used of a MemorySize of {EXECUTOR_MB} MB: killed" in logs
    human = cli(app, "local", "run", "daily", "--clock", "virtual", "--param", too_much)
    assert human.returncode == 1
    said = " ".join(human.stdout.split())  # as the terminal wrapped it
    assert f"2 ExecutorFunction environments killed for using more than its {EXECUTOR_MB} MB" in said
