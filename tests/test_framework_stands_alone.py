"""The framework and its tests stand apart from the example app: replacing the example's catalog
with another leaves the framework's suite green, and nothing in the framework names the example.
(A team replaces the example, or never has it: the framework is what it installs.)"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

EXAMPLE = ROOT / "examples" / "nightly-sync"
# What names the example: its package, its folder, its schedules and some of its jobs.
EXAMPLE_NAMES = re.compile(
    r"nightly_sync|examples/nightly-sync|daily-full-sync|hourly-feed|morning-notifications"
    r"|buildUserTraitsJob|compatibilityJob|mutualMatchJob|feedRankingJob|recommendationModelJob"
)
ANOTHER_CATALOG = '''"""Not the nightly jobs: a team's catalog in their place."""

from cronlane import Catalog, Job, Schedule, Selection

JOBS = [Job("exportJob", "cronlane.simulated.simulate", "reports", timeout_s=60)]
SCHEDULES = [Schedule("weekly-export", "cron(0 6 ? * MON *)", Selection.everything())]
CATALOG = Catalog.build(JOBS, SCHEDULES)
'''


def tracked_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return [line for line in listed.stdout.splitlines() if (ROOT / line).is_file()]


def test_no_framework_source_or_test_names_the_example() -> None:
    framework = [f for f in tracked_files() if f.startswith(("src/", "tests/")) and f.endswith(".py")]
    mentions = [
        f"{f}:{n}"
        for f in framework
        if f != "tests/test_framework_stands_alone.py"
        for n, line in enumerate((ROOT / f).read_text().splitlines(), 1)
        if EXAMPLE_NAMES.search(line)
    ]
    assert framework and mentions == []


def test_the_framework_suite_passes_with_the_example_catalog_replaced(tmp_path: Path) -> None:
    # GIVEN a copy of the repository whose example app declares other jobs and schedules
    copy = tmp_path / "repo"
    for name in tracked_files():
        target = copy / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    (copy / EXAMPLE.relative_to(ROOT) / "src" / "nightly_sync" / "catalog.py").write_text(ANOTHER_CATALOG)
    # WHEN the framework's fast tests and a stack test run there (not this test itself again)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/unit",
            "tests/test_template.py",
            "tests/test_iam.py",
            "tests/test_observability.py",
            "tests/test_cli_checks.py",
            "tests/stack/test_pipeline.py::test_nightly_runs_every_job_to_success",
        ],
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    # THEN they pass: nothing in them depended on the example's catalog
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "failed" not in done.stdout
