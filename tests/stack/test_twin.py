"""The operator commands against a long-running local twin (`cronlane local up`), each as a user
runs it: a separate process talking to the twin over its endpoint."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FIXTURE_APP

pytestmark = [pytest.mark.stack, pytest.mark.xdist_group("twin")]
CRONLANE = str(Path(sys.executable).parent / "cronlane")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CRONLANE, *args],
        check=False,
        capture_output=True,
        text=True,
        cwd=FIXTURE_APP,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture(scope="module")
def twin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = str(free_port())
    logs = tmp_path_factory.mktemp("twin-logs")
    process = subprocess.Popen(
        [CRONLANE, "local", "up", "--port", port, "--time-scale", "0.01", "--logs", str(logs)],
        cwd=FIXTURE_APP,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    deadline = time.time() + 90
    for line in process.stdout:
        if "twin up at" in line or time.time() > deadline:
            break
    try:
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


def wait_terminal(port: str, run_id: str) -> dict[str, Any]:
    for _ in range(120):
        result = cli("run", run_id, "--json", "--local", "--port", port)
        if result.returncode == 0:
            data = json.loads(result.stdout)
            if data["status"] in ("SUCCEEDED", "FAILED"):
                return dict(data)
        time.sleep(0.5)
    raise AssertionError(f"{run_id} did not finish")


def test_trigger_runs_and_run_on_the_twin(twin: str, tmp_path: Path) -> None:
    # WHEN a user triggers the feed schedule with short jobs
    params = ["--param", "duration_s=5"]  # every job of the run declares it
    started = cli("trigger", "hourly", "--key", "twin-1", *params, "--json", "--local", "--port", twin)
    assert started.returncode == 0, started.stderr
    assert json.loads(started.stdout) | {"status": "x"} == {
        "run_id": "manual@twin-1",
        "status": "x",
        "created": True,
        "job_count": 6,
        "enqueued": 3,
    }
    # THEN it runs to the end, and `run --json` uses the field names of `local run --json`
    run = wait_terminal(twin, "manual@twin-1")
    assert run["status"] == "SUCCEEDED" and run["schedule"] == "hourly"
    assert {"run_id", "schedule", "status", "jobs"} <= set(run)
    for job in run["jobs"]:
        assert {"name", "depends_on", "status", "attempts", "started_at", "finished_at"} <= set(job)
        assert job["status"] == "SUCCEEDED"
    # AND `runs` lists it, filters by status, and `run --gantt` draws it
    listed = json.loads(cli("runs", "--json", "--local", "--port", twin).stdout)
    assert "manual@twin-1" in [r["run_id"] for r in listed]
    failed = json.loads(cli("runs", "--json", "--status", "FAILED", "--local", "--port", twin).stdout)
    assert "manual@twin-1" not in [r["run_id"] for r in failed]
    page = tmp_path / "run.html"
    drawn = cli("run", "manual@twin-1", "--gantt", str(page), "--local", "--port", twin)
    assert drawn.returncode == 0, drawn.stderr
    text = page.read_text()
    assert text.count('class="row"') == 6 and text.count('data-status="SUCCEEDED"') == 6
    assert text.count('class="dep"') == 4  # ranking<-presort, cache<-ranking, dedup<-ranking, dedup<-trending
    assert text.count('class="tick"') >= 3 and 'data-kind="attempt"' in text
    # the same Gantt as an SVG and a PNG, by the file's extension; any other is refused
    for name, starts in (("run.svg", b"<?xml"), ("run.png", b"\x89PNG")):
        drawn = cli("run", "manual@twin-1", "--gantt", str(tmp_path / name), "--local", "--port", twin)
        assert drawn.returncode == 0, drawn.stderr
        assert (tmp_path / name).read_bytes().startswith(starts)
    refused = cli("run", "manual@twin-1", "--gantt", str(tmp_path / "run.pdf"), "--local", "--port", twin)
    assert refused.returncode == 2 and "the file's extension says what to write: .html, .svg or .png" in (
        refused.stderr
    )
    assert not (tmp_path / "run.pdf").exists()


def test_bad_requests_to_the_twin_are_one_clear_line(twin: str) -> None:
    unknown = cli("trigger", "weekly", "--local", "--port", twin)
    assert unknown.returncode == 2
    assert unknown.stderr.strip() == (
        "cronlane: the dispatcher refused it: unknown schedule 'weekly' (known: hourly, morning, nightly)"
    )
    missing = cli("run", "manual@never", "--local", "--port", twin)
    assert missing.returncode == 2 and "no run manual@never" in missing.stderr


def test_the_stack_path_finds_a_stack_through_its_outputs(twin: str) -> None:
    # --stack is the deployed-stack path; AWS_ENDPOINT_URL points it at the twin
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{twin}",
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
    }
    found = cli("runs", "--json", "--stack", "local", env=env)
    assert found.returncode == 0, found.stderr
    absent = cli("runs", "--stack", "nosuch", env=env)
    assert absent.returncode == 2
    assert "stack nosuch not found" in absent.stderr and "Traceback" not in absent.stderr


def test_no_twin_is_one_clear_line() -> None:
    result = cli("runs", "--local", "--port", str(free_port()))
    assert result.returncode == 2
    assert "is `cronlane local up` running?" in result.stderr and "Traceback" not in result.stderr


def test_pause_and_resume_on_the_twin(twin: str) -> None:
    paused = cli("pause", "hourly", "--reason", "maintenance", "--json", "--local", "--port", twin)
    assert paused.returncode == 0, paused.stderr
    assert json.loads(paused.stdout) == {"schedule": "hourly", "paused": True, "reason": "maintenance"}
    resumed = cli("resume", "hourly", "--json", "--local", "--port", twin)
    assert json.loads(resumed.stdout) == {"schedule": "hourly", "paused": False}


def test_changing_commands_ask_for_confirmation_unless_yes(twin: str) -> None:
    backfill = ["backfill", "hourly", "--from", "2026-11-27T20:00:00Z", "--to", "2026-11-27T21:00:00Z"]
    for command in (
        ["cancel", "manual@twin-1"],
        ["rerun", "manual@twin-1"],
        backfill,
        ["dlq", "replay", "--all"],
    ):
        result = cli(*command, "--local", "--port", twin)
        assert result.returncode == 2 and "pass --yes" in result.stderr


def test_cancel_then_rerun_on_the_twin(twin: str) -> None:
    durations = {"presort": 300, "freshness": 100, "trending": 250}  # under timeouts
    slow = [a for j, d in durations.items() for a in ("--param", f"{j}.duration_s={d}")]
    cli("trigger", "hourly", "--key", "twin-cancel", *slow, "--local", "--port", twin)
    cancelled = cli(
        "cancel", "manual@twin-cancel", "--yes", "--json", "--reason", "INC-7: wrong data",
        "--local", "--port", twin,
    )  # fmt: skip
    assert cancelled.returncode == 0, cancelled.stderr
    assert set(json.loads(cancelled.stdout)) == {"run_id", "status", "cancelled"}
    run = wait_terminal_or_cancelled(twin, "manual@twin-cancel")
    assert run["status"] == "CANCELLED"
    # which jobs were still waiting when the cancel landed depends on this machine's speed; those
    # never started, and a rerun brings exactly them back
    never_started = sorted(j["name"] for j in run["jobs"] if j["status"] == "CANCELLED")
    assert never_started and all(j["started_at"] is None for j in run["jobs"] if j["status"] == "CANCELLED")
    rerun = cli("rerun", "manual@twin-cancel", "--yes", "--json", "--local", "--port", twin)
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads(rerun.stdout)["rerun"] == never_started
    final = wait_terminal_or_cancelled(twin, "manual@twin-cancel")
    assert final["status"] == "SUCCEEDED", json.dumps(final["jobs"])


def test_mark_on_the_twin_lets_the_dependent_run(twin: str) -> None:
    cli(
        "trigger",
        "nightly",
        "--jobs",
        "check,merge",
        "--key",
        "twin-mark",
        "--param",
        "check.fail_attempts=9",
        "--param",
        "check.duration_s=1",
        "--param",
        "merge.duration_s=1",
        "--local",
        "--port",
        twin,
    )
    assert wait_terminal_or_cancelled(twin, "manual@twin-mark")["status"] == "FAILED"
    marked = cli("mark", "manual@twin-mark", "check", "--succeeded", "--json", "--local", "--port", twin)
    assert marked.returncode == 0, marked.stderr
    assert json.loads(marked.stdout)["marked"] == ["check"]
    run = wait_terminal_or_cancelled(twin, "manual@twin-mark")
    assert run["status"] == "SUCCEEDED"
    assert {j["name"]: j["status"] for j in run["jobs"]} == {
        "check": "SUCCEEDED",
        "merge": "SUCCEEDED",
    }


def test_dlq_list_and_replay_on_the_twin(twin: str) -> None:
    # GIVEN a run whose check fails every attempt during a 15-minute outage (in the
    # twin's clock, which runs 100 times faster than the wall clock)
    def trigger(key: str, *params: str) -> None:
        jobs = ["--jobs", "check,merge", "--key", key]
        fast = ["--param", "duration_s=1", *params]
        result = cli("trigger", "nightly", *jobs, *fast, "--local", "--port", twin)
        assert result.returncode == 0, result.stderr

    trigger("twin-dlq-clock")
    clock_run = wait_terminal_or_cancelled(twin, "manual@twin-dlq-clock")
    now = datetime.fromisoformat(clock_run["scheduled_time"].replace("Z", "+00:00")).timestamp()
    trigger("twin-dlq", "--param", f"check.fail_until={now + 900}")
    assert wait_terminal_or_cancelled(twin, "manual@twin-dlq")["status"] == "FAILED"
    # WHEN the operator lists the DLQ
    listed = cli("dlq", "list", "--json", "--local", "--port", twin)
    assert listed.returncode == 0, listed.stderr
    [letter] = [m for m in json.loads(listed.stdout)["messages"] if m["run_id"] == "manual@twin-dlq"]
    assert (letter["job"], letter["attempts"], letter["max_attempts"]) == ("check", 3, 3)
    assert "simulated outage" in letter["error"]
    human = cli("dlq", "list", "--local", "--port", twin)
    assert "manual@twin-dlq  check  FAILED  attempts 3/3" in human.stdout
    # replay asks first, and a dry run changes nothing
    assert cli("dlq", "replay", "--run", "manual@twin-dlq", "--local", "--port", twin).returncode == 2
    assert cli("dlq", "replay", "--local", "--port", twin).returncode == 2  # says what to replay
    both = cli("dlq", "replay", "--all", "--run", "manual@twin-dlq", "--yes", "--local", "--port", twin)
    assert both.returncode == 2 and "give it alone" in both.stderr
    dry = cli("dlq", "replay", "--run", "manual@twin-dlq", "--dry-run", "--local", "--port", twin)
    assert "would replay 1 of 1" in dry.stdout, dry.stdout + dry.stderr
    # THEN after the outage, the replay puts it back and the run succeeds
    time.sleep(14)  # 1,400 s of twin time: the outage is over
    replayed = cli("dlq", "replay", "--run", "manual@twin-dlq", "--yes", "--json", "--local", "--port", twin)
    assert replayed.returncode == 0, replayed.stderr
    assert json.loads(replayed.stdout)["replayed"] == 1
    run = wait_terminal_or_cancelled(twin, "manual@twin-dlq")
    assert run["status"] == "SUCCEEDED", json.dumps(run["jobs"])
    after = json.loads(cli("dlq", "list", "--json", "--local", "--port", twin).stdout)["messages"]
    assert all(m["run_id"] != "manual@twin-dlq" for m in after)


def test_backfill_on_the_twin(twin: str) -> None:
    # three hourly fire times of yesterday
    day_ago = (int(time.time()) // 3600 - 24) * 3600
    span = ["--from", iso_z(day_ago - 2 * 3600), "--to", iso_z(day_ago)]
    dry = cli("backfill", "hourly", *span, "--dry-run", "--json", "--local", "--port", twin)
    assert dry.returncode == 0, dry.stderr
    planned = json.loads(dry.stdout)["created"]
    assert planned == [f"hourly@{iso_z(day_ago - h * 3600)}" for h in (2, 1, 0)]
    assert cli("backfill", "hourly", *span, "--local", "--port", twin).returncode == 2  # asks first
    done = cli("backfill", "hourly", *span, "--max-active", "2", "--yes", "--local", "--port", twin)
    assert done.returncode == 0, done.stderr
    assert "3 fire time(s); created 3 run(s), 0 existed already; started 2 (at most 2 at once)" in done.stdout
    for run_id in planned:
        assert wait_terminal_or_cancelled(twin, run_id)["status"] == "SUCCEEDED"
    again = cli("backfill", "hourly", *span, "--yes", "--json", "--local", "--port", twin)
    assert json.loads(again.stdout)["created"] == []


def iso_z(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def wait_terminal_or_cancelled(port: str, run_id: str) -> dict[str, Any]:
    time.sleep(0.5)
    for _ in range(160):
        data = json.loads(cli("run", run_id, "--json", "--local", "--port", port).stdout)
        if data["status"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
            return dict(data)
        time.sleep(0.5)
    raise AssertionError(f"{run_id} did not finish")


def test_plan_estimates_from_the_twins_past_runs(twin: str) -> None:
    # hourly's jobs ran in the tests above: the twin keeps their history
    result = cli("plan", "hourly", "--json", "--local", "--port", twin)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["estimated_duration_s"] is not None and data["estimated_duration_s"] > 0
    assert data["critical_path"][0] in ("presort", "trending", "freshness")


def test_ctrl_c_stops_the_twin_cleanly(tmp_path: Path) -> None:
    import signal

    port = str(free_port())
    # Started as from a terminal, with SIGINT at its default: a shell that runs a command in the
    # background (CI, `make test &`) makes it ignore SIGINT, and the twin would inherit that.
    default_sigint = (
        "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
        "os.execv(sys.argv[1], sys.argv[1:])"
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            default_sigint,
            CRONLANE,
            "local",
            "up",
            "--port",
            port,
            "--logs",
            str(tmp_path / "logs"),
        ],
        cwd=FIXTURE_APP,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if "twin up at" in line:
            break
    process.send_signal(signal.SIGINT)
    try:
        rest, _ = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 0
    assert "stopping the twin" in rest and "Traceback" not in rest


def test_the_audit_trail_names_who_did_what_and_why_and_run_shows_its_own(twin: str) -> None:
    key = f"twin-audit-{time.time_ns()}"
    started = cli(
        "trigger", "hourly", "--key", key, "--reason", "checking the feed", "--local", "--port", twin
    )
    assert started.returncode == 0, started.stderr
    cli("cancel", f"manual@{key}", "--yes", "--reason", "not needed after all", "--local", "--port", twin)
    trail = cli("audit", "--json", "--local", "--port", twin)
    assert trail.returncode == 0, trail.stderr
    mine = [a for a in json.loads(trail.stdout)["actions"] if a["run_id"] == f"manual@{key}"]
    assert [(a["action"], a["reason"]) for a in mine] == [
        ("trigger", "checking the feed"), ("cancel", "not needed after all"),
    ]  # fmt: skip
    assert all(a["actor"].endswith("(local twin)") and a["at"].endswith("Z") for a in mine)
    shown = cli("run", f"manual@{key}", "--json", "--local", "--port", twin)
    assert [a["action"] for a in json.loads(shown.stdout)["audit"]] == ["trigger", "cancel"]
    text = cli("audit", "--schedule", "hourly", "--local", "--port", twin).stdout
    assert f"cancel     manual@{key}  by " in text and "not needed after all" in text
    bad = cli("audit", "--since", "yesterday", "--local", "--port", twin)
    assert bad.returncode == 2 and "--since 'yesterday' is not an ISO-8601 time" in bad.stderr
