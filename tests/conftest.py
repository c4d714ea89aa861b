"""Shared fixtures. The framework's tests run on its own fixture app (``tests/fixture_app``: a
template like an application's and the catalog ``fixture_jobs.catalog``), never on the example
app. Stack tests create its template.yaml on the local runtime (moto)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURE_APP = ROOT / "tests" / "fixture_app"
TEMPLATE = FIXTURE_APP / "template.yaml"
EVENTS = FIXTURE_APP / "events"
CATALOG_MODULE = "fixture_jobs.catalog"
# 2026-11-28T02:00:00Z, a fire time of nightly (and of hourly).
START = 1795831200.0
# The jobs of the feed group, what hourly runs.
FEED_JOBS = {"presort", "rank", "warm", "freshness", "trending", "dedup"}


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def log_records(log_dir: Path) -> list[dict[str, Any]]:
    """Every JSON log line of every simulated Lambda environment."""
    records = []
    for path in sorted(log_dir.glob("*.log")):
        for line in path.read_text().splitlines():
            if line.startswith("{"):
                try:
                    records.append({**json.loads(line), "_file": path.name})
                except json.JSONDecodeError:
                    continue
    return records


def act(runtime: Any, **event: Any) -> dict[str, Any]:
    """Invoke the dispatcher with ``event`` (an operator action, a trigger) and return its answer,
    which must not be an error."""
    invocation = runtime.invoke("DispatcherFunction", event)
    assert invocation.error is None, invocation.error
    assert "error" not in invocation.response, invocation.response
    return dict(invocation.response)


def refusal(invocation: Any) -> str:
    """What the dispatcher said no with: an operator's request gets an answer with an "error"
    (not a function error, so typos do not trip the errors alarm); a tick raises."""
    if invocation.error is not None:
        return str(invocation.error["errorMessage"])
    assert isinstance(invocation.response, dict) and "error" in invocation.response, invocation.response
    return str(invocation.response["error"])


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Any]:
    """A fresh stack from template.yaml on a virtual clock starting at START."""
    from cronlane.local.session import local_runtime

    with local_runtime(
        TEMPLATE, clock="virtual", start=START, executor_environments=6, log_dir=tmp_path / "logs"
    ) as rt:
        yield rt


def app_cli(app: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The installed ``cronlane`` command run in the app's folder, as its user runs it (the app's
    own pyproject.toml names its catalog: no CRONLANE_CATALOG from the test process)."""
    env = {k: v for k, v in os.environ.items() if k != "CRONLANE_CATALOG"}
    command = [str(Path(sys.executable).parent / "cronlane"), *args]
    return subprocess.run(command, cwd=app, env=env, capture_output=True, text=True, timeout=600, check=False)
