"""`cronlane init`: a team's own application, made in an empty folder, works at once (validate,
a local run, its own tests, `sam validate --lint`, `sam build`) and grows by one declaration per
job or schedule (plus the job's function), with `cronlane template` writing what the template
needs of them."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.test_framework_stands_alone import EXAMPLE_NAMES

pytestmark = pytest.mark.xdist_group("init")

BIN = Path(sys.executable).parent
CRONLANE = BIN / "cronlane"
SAM_BIN = ROOT / ".tools" / "sam" / "bin"  # make tools: SAM CLI and cfn-lint
CHECKOV = ROOT / ".tools" / "checkov" / "bin" / "checkov"
# The framework's dependencies' wheels, when make has them (else init downloads them, as a user's does).
WHEELS = os.environ.get("CRONLANE_WHEELS")

# One declaration each: a job that depends on helloJob, a job that writes to S3, a schedule in a zone.
GROWN_JOBS = """
JOBS += [
    Job("afterHelloJob", "my_jobs.jobs.after_hello", "hello", ("helloJob",), timeout_s=60),
    Job(
        "reportJob",
        "my_jobs.jobs.report",
        "reports",
        timeout_s=120,
        permissions=[Permission(("s3:PutObject",), ("arn:${AWS::Partition}:s3:::my-reports-${AWS::AccountId}/*",))],
    ),
]
SCHEDULES += [
    Schedule("morning-report", "cron(30 7 * * ? *)", Selection.of_groups("hello", "reports"), timezone="Europe/Berlin"),
]
"""
FUNCTIONS = """

def after_hello(ctx: JobContext) -> dict[str, int]:
    return {"followed": 1}


def report(ctx: JobContext) -> dict[str, str]:
    return {"report": f"s3://my-reports/{ctx.scheduled_time.date().isoformat()}.csv"}
"""


def run(args: list[str | Path], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "SAM_CLI_TELEMETRY": "0"}
    env.pop("CRONLANE_CATALOG", None)
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, f"{done.args}: {done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def tool(path: Path) -> Path:
    assert path.exists(), f"{path.name} is missing: make tools installs it"
    return path


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("team") / "my-jobs"
    args: list[str | Path] = [CRONLANE, "init", folder]
    if WHEELS:
        args += ["--find-links", WHEELS]
    out = ok(run(args, folder.parent))
    assert "created" in out and "package my_jobs, schedule daily" in out
    return folder


def test_init_writes_a_sam_app_that_uses_the_framework_as_a_dependency(app: Path) -> None:
    names = {p.relative_to(app).as_posix() for p in app.rglob("*") if p.is_file() and "wheels" not in p.parts}
    assert {
        "template.yaml",
        "samconfig.toml",
        "pyproject.toml",
        "Makefile",
        "README.md",
        "layer/requirements.txt",
        "src/my_jobs/catalog.py",
        "src/my_jobs/jobs.py",
        "events/daily.json",
        "events/manual-trigger.json",
        "tests/test_app.py",
    } <= names
    assert '[tool.cronlane]\ncatalog = "my_jobs.catalog"' in (app / "pyproject.toml").read_text()
    # no framework code in the app: cronlane comes from the wheel, only the catalog builds Job(...)
    assert not list((app / "src").rglob("cronlane"))
    sources = {p.name: p.read_text() for p in (app / "src").rglob("*.py")}
    assert [n for n, text in sources.items() if "Job(" in text] == ["catalog.py"]
    assert 'Job(\n        "helloJob",\n        "my_jobs.jobs.hello",' in sources["catalog.py"]
    wheels = sorted(p.name for p in (app / "wheels").iterdir())
    assert any(re.fullmatch(r"cronlane-[\d.]+-py3-none-any\.whl", w) for w in wheels)
    # Lambda's and this machine's
    assert any("aarch64" in w for w in wheels) and any("x86_64" in w for w in wheels)
    assert "--no-index" in (app / "layer" / "requirements.txt").read_text()
    # the scaffold names none of the example app's jobs or schedules
    for path in app.rglob("*"):
        if path.is_file() and "wheels" not in path.parts:
            assert not EXAMPLE_NAMES.search(path.read_text()), path


def test_right_after_init_validate_a_local_run_and_its_tests_pass(app: Path) -> None:
    assert "0 problem(s); 1 jobs, 1 schedules checked" in ok(run([CRONLANE, "validate"], app))
    out = ok(run([CRONLANE, "local", "run", "daily", "--clock", "virtual"], app))
    assert re.search(r"run daily@\S+: SUCCEEDED - 1 succeeded", out), out
    tests = run([sys.executable, "-m", "unittest", "discover", "-s", "tests", "-t", "."], app)
    assert tests.returncode == 0 and "Ran 3 tests" in tests.stderr and "OK" in tests.stderr, tests.stderr


def test_sam_validates_and_builds_it_with_no_package_index(app: Path) -> None:
    sam = tool(SAM_BIN / "sam")
    assert "is a valid SAM Template" in ok(run([sam, "validate", "--lint"], app))
    ok(run(["make", "build", f"SAM={sam}", f"PYTHON={sys.executable}"], app))
    layer = app / ".aws-sam" / "build" / "CoreLayer" / "python"
    assert (layer / "cronlane" / "handlers" / "executor.py").is_file()
    # the layer ships its bytecode (unchecked-hash: the flags word of a .pyc is 0b01)
    pyc = layer / "cronlane" / "handlers" / "__pycache__" / "executor.cpython-313.pyc"
    assert pyc.is_file() and pyc.read_bytes()[4:8] == b"\x01\x00\x00\x00"
    assert (app / ".aws-sam" / "build" / "ExecutorFunction" / "my_jobs" / "jobs.py").is_file()


def test_a_job_with_a_dependency_a_job_with_s3_access_and_a_zoned_schedule_are_one_declaration_each(
    app: Path,
) -> None:
    # GIVEN the app after the first tests, and two declarations and a function added to it
    catalog, jobs = app / "src" / "my_jobs" / "catalog.py", app / "src" / "my_jobs" / "jobs.py"
    text = catalog.read_text().replace(
        "import Catalog, Job, Param,", "import Catalog, Job, Param, Permission,"
    )
    catalog.write_text(text.replace("\nCATALOG = Catalog.build", GROWN_JOBS + "\nCATALOG = Catalog.build"))
    jobs.write_text(jobs.read_text() + FUNCTIONS)
    # THEN validate says the template is behind, and how to bring it up to date
    stale = run([CRONLANE, "validate"], app)
    assert stale.returncode == 1
    assert (
        "problem: schedule 'morning-report': no rule in template.yaml named ${AWS::StackName}-morning-report"
        in stale.stdout
    )
    assert "the generated part 'job-permissions' is out of date (run: cronlane template)" in stale.stdout
    # WHEN cronlane template writes the template's parts
    check = run([CRONLANE, "template", "--check"], app)
    assert (check.returncode, check.stdout.strip()) == (
        1,
        "template.yaml: out of date: schedules, job-permissions (run: cronlane template)",
    )
    out = ok(run([CRONLANE, "template"], app))
    assert out.strip() == "template.yaml: wrote schedules, job-permissions"
    # THEN validate passes and the new schedule runs both jobs in order, in its zone
    assert "0 problem(s); 3 jobs, 2 schedules checked" in ok(run([CRONLANE, "validate"], app))
    ran = json.loads(
        ok(run([CRONLANE, "local", "run", "morning-report", "--clock", "virtual", "--json"], app))
    )
    assert ran["status"] == "SUCCEEDED"
    jobs_run = {j["name"]: j for j in ran["jobs"]}
    assert {n: j["status"] for n, j in jobs_run.items()} == dict.fromkeys(
        ("helloJob", "afterHelloJob", "reportJob"), "SUCCEEDED"
    )
    assert jobs_run["afterHelloJob"]["started_at"] >= jobs_run["helloJob"]["finished_at"]
    # and the app's own tests still pass with the new jobs in it
    tests = run([sys.executable, "-m", "unittest", "discover", "-s", "tests", "-t", "."], app)
    assert tests.returncode == 0, tests.stderr
    template = (app / "template.yaml").read_text()
    assert 'ScheduleExpressionTimezone: "Europe/Berlin"' in template
    assert '- !Sub "arn:${AWS::Partition}:s3:::my-reports-${AWS::AccountId}/*"' in template
    # and the template passes cfn-lint and checkov with the framework's own skips only
    ok(run([tool(SAM_BIN / "cfn-lint"), "template.yaml"], app))
    ok(
        run(
            [
                tool(CHECKOV),
                "--file",
                "template.yaml",
                "--framework",
                "cloudformation",
                "--compact",
                "--quiet",
                "--skip-download",
            ],
            app,
        )
    )
    from cronlane.scaffold import render_template

    assert template.count("- id: CKV_") == render_template("my_jobs").count("- id: CKV_")


def test_init_refuses_a_folder_that_is_not_empty(app: Path) -> None:
    done = run([CRONLANE, "init", app], app.parent)
    assert done.returncode == 2
    assert done.stderr.strip() == f"cronlane: {app} exists and is not an empty folder: init writes a new app"


def test_validate_in_the_app_names_a_mistyped_function_path_in_one_line(app: Path) -> None:
    catalog = app / "src" / "my_jobs" / "catalog.py"
    text = catalog.read_text()
    catalog.write_text(text.replace('"my_jobs.jobs.hello"', '"my_jobs.jobs.helo"'))
    try:
        done = run([CRONLANE, "validate"], app)
    finally:
        catalog.write_text(text)
    assert done.returncode == 1
    assert (
        "problem: job 'helloJob': job function 'my_jobs.jobs.helo': 'my_jobs.jobs' has no 'helo': fix the path "
        "in its Job(...) or the module"
    ) in done.stdout.splitlines()
    assert done.stderr == ""


def test_init_refuses_a_package_that_would_shadow_another_and_leaves_nothing(tmp_path: Path) -> None:
    for package in ("os", "boto3", "cronlane"):
        done = run([CRONLANE, "init", tmp_path / package, "--package", package], tmp_path)
        assert done.returncode == 2, done.stderr
        assert done.stderr.strip() == (
            f"cronlane: package '{package}' would shadow the module of that name (the standard library's, or "
            "an installed one): pass --package"
        )
        assert not (tmp_path / package).exists()


def test_a_failed_init_removes_what_it_wrote(tmp_path: Path) -> None:
    empty = tmp_path / "no-wheels"
    empty.mkdir()
    done = run([CRONLANE, "init", tmp_path / "app", "--find-links", empty], tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith(f"cronlane: cannot download the framework's dependencies from {empty}: ")
    assert not (tmp_path / "app").exists()
