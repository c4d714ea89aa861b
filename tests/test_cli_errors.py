"""What a user sees when a `cronlane` command is given bad input: one line on stderr starting
`cronlane`, exit code 2, no traceback; and the app-folder contract (the nearest template.yaml,
the catalog from `--catalog` > `CRONLANE_CATALOG` > pyproject.toml). No moto server: each
command fails, or succeeds, before any stack is started or reached."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import cronlane
from tests.conftest import FIXTURE_APP

CRONLANE = str(Path(sys.executable).parent / "cronlane")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
# The environment variables a command reads its defaults from: none of them set unless a test does.
CRONLANE_ENV = ("CRONLANE_CATALOG", "CRONLANE_PORT", "CRONLANE_STACK")


def cli(
    *args: str, cwd: Path = FIXTURE_APP, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`cronlane ARGS` as a user runs it from ``cwd``, with only the ``CRONLANE_*`` variables given."""
    base = {k: v for k, v in os.environ.items() if k not in CRONLANE_ENV}
    return subprocess.run(
        [CRONLANE, *args],
        check=False,
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
        env={**base, **(env or {})},
    )


def one_line_error(result: subprocess.CompletedProcess[str], code: int = 2) -> str:
    """The single line a failing command prints on stderr (exit ``code``, nothing on stdout)."""
    shown = f"exit {result.returncode}\nstdout: {result.stdout!r}\nstderr: {result.stderr!r}"
    assert result.returncode == code, shown
    assert "Traceback" not in result.stderr + result.stdout, shown
    lines = result.stderr.splitlines()
    assert len(lines) == 1, shown
    assert lines[0].startswith("cronlane"), shown
    assert result.stdout == "", shown
    return lines[0]


def passed(result: subprocess.CompletedProcess[str]) -> str:
    shown = f"exit {result.returncode}\nstdout: {result.stdout!r}\nstderr: {result.stderr!r}"
    assert result.returncode == 0, shown
    assert "Traceback" not in result.stderr + result.stdout, shown
    return result.stdout


def copy_of_the_app(tmp_path: Path) -> Path:
    """A copy of the fixture app (its folder), to change or to run from."""
    shutil.copytree(FIXTURE_APP, tmp_path / "app", ignore=shutil.ignore_patterns("__pycache__", ".cronlane"))
    return tmp_path / "app"


def free_port() -> int:
    """A port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the version -----------------------------------------------------------------------------------


def test_version_prints_the_package_version() -> None:
    result = cli("--version")
    assert passed(result) == f"cronlane {cronlane.__version__}\n"
    assert result.stderr == ""


# -- `local run`: bad input is refused before anything starts --------------------------------------


def test_local_run_with_an_unknown_clock_names_the_option_and_its_choices() -> None:
    line = one_line_error(cli("local", "run", "nightly", "--clock", "bogus"))
    assert "'--clock'" in line and "'bogus'" in line
    assert "'real'" in line and "'virtual'" in line


def test_local_run_with_a_zero_time_scale_names_the_option() -> None:
    line = one_line_error(cli("local", "run", "nightly", "--time-scale", "0"))
    assert line.startswith("cronlane: --time-scale must be a positive number")


def test_local_run_with_a_missing_template_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "template.yaml"
    line = one_line_error(cli("local", "run", "nightly", "--template", str(missing)))
    assert line == f"cronlane: --template {missing}: no such file"


def test_local_run_of_an_unknown_schedule_names_it() -> None:
    line = one_line_error(cli("local", "run", "no-such-schedule"))
    assert line == "cronlane: unknown schedule 'no-such-schedule' (known: hourly, morning, nightly)"


def test_local_run_with_a_param_below_its_minimum_starts_nothing(tmp_path: Path) -> None:
    app = copy_of_the_app(tmp_path)
    began = time.monotonic()
    line = one_line_error(cli("local", "run", "nightly", "--param", "duration_s=-5", cwd=app))
    elapsed = time.monotonic() - began
    assert "parameter 'duration_s' must be at least 0" in line
    # nothing was started: no stack (several seconds), no log folder of its environments
    assert elapsed < 10, f"took {elapsed:.1f} s"
    assert not (app / ".cronlane" / "logs").exists()
    assert not (app / ".cronlane").exists()


# -- `runs`, `next` --------------------------------------------------------------------------------


def test_runs_of_an_unknown_schedule_fails_before_reaching_any_stack() -> None:
    # nothing listens on port 1: reaching for the twin would be a different message
    line = one_line_error(cli("runs", "--schedule", "nosuch", "--local", "--port", "1"))
    assert line.startswith("cronlane: --schedule 'nosuch': unknown schedule (known: hourly, morning, nightly")
    assert "127.0.0.1" not in line


CYCLE_CATALOG = '''"""Two jobs that depend on each other."""

from cronlane import Catalog, Job, Schedule, Selection

JOBS = [
    Job("ping", "cronlane.simulated.simulate", "core", ("pong",), timeout_s=60),
    Job("pong", "cronlane.simulated.simulate", "core", ("ping",), timeout_s=60),
]
SCHEDULES = [Schedule("nightly", "cron(0 2 * * ? *)", Selection.everything())]
CATALOG = Catalog.build(JOBS, SCHEDULES)
'''


def test_next_on_a_catalog_with_a_dependency_cycle_names_the_cycle(tmp_path: Path) -> None:
    app = copy_of_the_app(tmp_path)
    (app / "src" / "fixture_jobs" / "catalog.py").write_text(CYCLE_CATALOG)
    line = one_line_error(cli("next", cwd=app))
    assert "dependency cycle" in line
    assert "ping" in line and "pong" in line


# -- the app-folder contract -----------------------------------------------------------------------


def test_outside_any_app_folder_validate_says_there_is_no_template(tmp_path: Path) -> None:
    folder = tmp_path / "not-an-app"
    folder.mkdir()
    assert not [p for p in (folder, *folder.parents) if (p / "template.yaml").exists()]
    line = one_line_error(cli("validate", cwd=folder))
    assert line.startswith(f"cronlane: no template.yaml in {folder.resolve()} or its parents")


def test_inside_the_app_folder_validate_needs_no_flag() -> None:
    for folder in (FIXTURE_APP, FIXTURE_APP / "src" / "fixture_jobs"):  # the nearest template.yaml
        out = passed(cli("validate", cwd=folder))
        assert out == "0 problem(s); 19 jobs, 3 schedules checked\n"


def test_a_catalog_from_the_environment_that_cannot_be_imported_is_named() -> None:
    line = one_line_error(cli("validate", env={"CRONLANE_CATALOG": "jobs.nonexistent"}))
    assert "'jobs.nonexistent'" in line and "cannot be imported" in line


def test_the_catalog_option_wins_over_the_environment() -> None:
    # a valid --catalog and a bad CRONLANE_CATALOG: the option is used
    good = cli("validate", "--catalog", "fixture_jobs.catalog", env={"CRONLANE_CATALOG": "jobs.nonexistent"})
    assert passed(good) == "0 problem(s); 19 jobs, 3 schedules checked\n"
    # a bad --catalog and a valid CRONLANE_CATALOG: the option is used, and named
    bad = cli("validate", "--catalog", "jobs.bad", env={"CRONLANE_CATALOG": "fixture_jobs.catalog"})
    line = one_line_error(bad)
    assert "'jobs.bad'" in line and "fixture_jobs.catalog" not in line


OTHER_CATALOG = '''"""A second catalog of the same app: other jobs, other schedules."""

from cronlane import Catalog, Job, Schedule, Selection

JOBS = [
    Job("solo", "cronlane.simulated.simulate", "other", (), timeout_s=60),
    Job("after_solo", "cronlane.simulated.simulate", "other", ("solo",), timeout_s=60),
]
SCHEDULES = [
    Schedule("weekly", "cron(0 3 ? * MON *)", Selection.everything()),
    Schedule("early", "cron(30 4 * * ? *)", Selection.of_jobs("solo")),
]
CATALOG = Catalog.build(JOBS, SCHEDULES)
'''


def test_the_catalog_option_selects_another_catalog_module_of_the_app(tmp_path: Path) -> None:
    app = copy_of_the_app(tmp_path)
    (app / "src" / "fixture_jobs" / "other.py").write_text(OTHER_CATALOG)
    after = ["--after", "2026-11-28T00:00:00Z", "--count", "2", "--json"]  # a Saturday
    rows = json.loads(passed(cli("next", *after, "--catalog", "fixture_jobs.other", cwd=app)))
    assert [(r["schedule"], r["utc"]) for r in rows] == [
        ("weekly", "2026-11-30T03:00:00Z"),
        ("weekly", "2026-12-07T03:00:00Z"),
        ("early", "2026-11-28T04:30:00Z"),
        ("early", "2026-11-29T04:30:00Z"),
    ]
    # without the option, the app's pyproject.toml names its catalog
    default = json.loads(passed(cli("next", *after, cwd=app)))
    assert {r["schedule"] for r in default} == {"nightly", "hourly", "morning"}


# -- usage errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["runs", "--limit", "x"], "'--limit'"),
        (["nosuch"], "No such command 'nosuch'"),
        (["next", "--count", "0"], "'--count'"),
        (["runs", "--bogus"], "--bogus"),
        (["local", "run"], "Missing argument"),
        (["local", "nosuch"], "No such command 'nosuch'"),
    ],
)
def test_usage_errors_are_one_line(args: list[str], named: str) -> None:
    line = one_line_error(cli(*args))
    assert named in line
    assert "Usage:" not in line


# -- job error text is shown as it is --------------------------------------------------------------

MARKUP_ERROR = "RuntimeError: boom [/bold] [red]x[/red]"
MARKUP_REASON = "upstream [/] check [bold]failed[/bold]"


def failed_run(error: str, reason: str = "upstream 'check' failed") -> object:
    """A run of two jobs: `check` failed with ``error``, `merge` after it was skipped."""
    from cronlane.local.session import RunReport
    from cronlane.model import JobRunView, JobStatus, RunStatus, RunView, Trigger

    start = 1795831200.0
    run = RunView(
        "manual@render-1",
        "nightly",
        start,
        Trigger.MANUAL,
        RunStatus.FAILED,
        job_count=2,
        failed=1,
        skipped=1,
        started_at=start,
        finished_at=start + 90,
    )

    def job(name: str, status: JobStatus, after: tuple[str, ...], **extra: object) -> JobRunView:
        return JobRunView(
            "manual@render-1",
            name,
            status,
            after,
            (),
            attempts=3 if status is JobStatus.FAILED else 0,
            max_attempts=3,
            timeout_s=60,
            function="cronlane.simulated.simulate",
            group="core",
            generation=0,
            params={},
            **extra,  # type: ignore[arg-type]
        )

    return RunReport(
        run,
        [
            job(
                "check",
                JobStatus.FAILED,
                (),
                started_at=start,
                finished_at=start + 60,
                duration_s=60.0,
                error=error,
            ),
            job("merge", JobStatus.SKIPPED, ("check",), finished_at=start + 60, reason=reason),
        ],
    )


def rendered(
    capsys: pytest.CaptureFixture[str], error: str, reason: str = "upstream 'check' failed"
) -> tuple[list[str], list[str]]:
    """The lines of `cronlane run` (print_run_tree) and of `local run` (print_run) for the run."""
    from cronlane.cli.render import print_run, print_run_tree

    report = failed_run(error, reason)
    print_run_tree(report)  # type: ignore[arg-type]
    tree = ANSI.sub("", capsys.readouterr().out).splitlines()
    print_run(report, log_dir=Path("logs"), clock="virtual", time_scale=1.0)  # type: ignore[arg-type]
    table = ANSI.sub("", capsys.readouterr().out).splitlines()
    return tree, table


def test_job_error_text_with_markup_is_shown_literally(capsys: pytest.CaptureFixture[str]) -> None:
    tree, table = rendered(capsys, MARKUP_ERROR, MARKUP_REASON)
    [check] = [line for line in tree if "check FAILED" in line]
    assert check.rstrip().endswith(f"- {MARKUP_ERROR}"), tree
    [merge] = [line for line in tree if "merge SKIPPED" in line]
    assert merge.rstrip().endswith(f"- {MARKUP_REASON}"), tree
    assert f"check: {MARKUP_ERROR}" in [line.rstrip() for line in table], table
    assert any(MARKUP_REASON in line for line in table), table


def test_job_error_text_with_emoji_codes_is_shown_literally(capsys: pytest.CaptureFixture[str]) -> None:
    error = "KeyError: no field :warning: in the payload"
    tree, table = rendered(capsys, error)
    [check] = [line for line in tree if "check FAILED" in line]
    assert check.rstrip().endswith(f"- {error}"), tree
    assert f"check: {error}" in [line.rstrip() for line in table], table


def test_job_error_text_ending_in_a_backslash_is_shown_literally(capsys: pytest.CaptureFixture[str]) -> None:
    error = "OSError: cannot open C:\\exports\\"
    tree, table = rendered(capsys, error)
    [check] = [line for line in tree if "check FAILED" in line]
    assert check.rstrip().endswith(f"- {error}"), tree
    assert f"check: {error}" in [line.rstrip() for line in table], table


# -- the twin is not running -----------------------------------------------------------------------


def test_trigger_without_a_twin_is_one_line_naming_its_port() -> None:
    port = free_port()
    line = one_line_error(cli("trigger", "hourly", "--local", "--port", str(port)))
    assert f"127.0.0.1:{port}" in line
    assert "is `cronlane local up` running?" in line


def test_trigger_uses_the_port_from_the_environment() -> None:
    port = free_port()
    line = one_line_error(cli("trigger", "hourly", "--local", env={"CRONLANE_PORT": str(port)}))
    assert f"the local twin at http://127.0.0.1:{port}" in line
    assert "is `cronlane local up` running?" in line


def test_local_run_of_a_schedule_the_template_does_not_fire_is_refused_before_any_stack(
    tmp_path: Path,
) -> None:
    # GIVEN a copy of the app whose template lost the hourly schedule's rule
    app = copy_of_the_app(tmp_path)
    template = app / "template.yaml"
    template.write_text(
        template.read_text().replace('Name: !Sub "${AWS::StackName}-hourly"', 'Name: !Sub "x"')
    )
    # WHEN it is run locally THEN one line names the schedule and the missing rule, and no stack started
    line = one_line_error(cli("local", "run", "hourly", "--clock", "virtual", cwd=app))
    assert line.startswith("cronlane: schedule 'hourly' has no rule in template.yaml")
    assert not (app / ".cronlane").exists()
