"""``cronlane ui`` on the local runtime, in Debian's Chromium (Playwright): how long the schedules
page and a run's page take to load (navigation to the load event, the median of several loads,
the server's reads included), for the showcase nightly (``synthetic.showcase``: a retry, a
continued job, a failure with skipped dependents) and for a run of 200 jobs. With
``--screenshots DIR`` it also writes the README's pictures: the schedules page, the showcase
run's page, and its Gantt as a PNG.

    python -m benchmarks.ui [--screenshots docs/images]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks import EXAMPLE_TEMPLATE, worker_idle

START = 1795831200.0 - 2 * 3600  # 2026-11-28T00:00:00Z
LOADS = 5
SHOWCASE_PARAMS = {"loadProfilesJob": {"fail_attempts": 1}, "validateDataJob": {"fail_attempts": 5}}


@contextmanager
def ui_on(runtime: Any, catalog: Any) -> Iterator[str]:
    """``cronlane ui`` (its application, served by waitress in a thread) on the runtime's stack."""
    from waitress.server import create_server

    from cronlane.cli.target import Target
    from cronlane.local.stack import REGION, TWIN_LOGS_TAG
    from cronlane.ui.source import Source
    from cronlane.ui.web import create_app

    target = Target(
        "the local twin",
        "local",
        runtime.stack.endpoint,
        runtime.stack.outputs,
        REGION,
        {TWIN_LOGS_TAG: str(runtime.log_dir)},
    )
    with socket.socket() as probe:  # a free port: the application checks requests' Host by it
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    server = create_server(create_app(Source(target, catalog), port), host="127.0.0.1", port=port, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()


def load_ms(page: Any, url: str, loads: int = LOADS) -> float:
    """The median time from navigation to the load event."""
    times = []
    for _ in range(loads):
        page.goto(url)
        times.append(
            page.evaluate(
                "() => { const n = performance.getEntriesByType('navigation')[0];"
                " return n.loadEventEnd - n.startTime; }"
            )
        )
    return round(statistics.median(times), 1)


def _run(runtime: Any, schedule: str, params: dict[str, Any] | None = None) -> str:
    from cronlane.local.session import wait_for_run

    event: dict[str, Any] = {
        "action": "trigger",
        "schedule": schedule,
        "idempotency_key": f"ui-{time.time_ns()}",
    }
    if params:
        event["parameters"] = params
    run_id = str(runtime.invoke("DispatcherFunction", event).response["run_id"])
    wait_for_run(runtime, run_id, limit_s=7 * 86_400)
    return run_id


def run(screenshots: Path | None = None) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    from benchmarks.synthetic import build, environment
    from cronlane.local.session import local_runtime
    from cronlane.ui import picture, render

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    figures: dict[str, Any] = {}
    # the example's callback worker, idle here, would step the virtual clock at every empty receive
    with worker_idle(120), sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        # the showcase nightly, twice (a grid of runs), and an hourly run beside it
        env = environment("showcase", 0)
        os.environ.update(env)
        with local_runtime(
            EXAMPLE_TEMPLATE, clock="virtual", start=START, executor_environments=4, env_overrides=env
        ) as runtime:
            for _ in range(2):
                showcase = _run(runtime, "daily-full-sync", SHOWCASE_PARAMS)
            _run(runtime, "hourly-feed", {"loadProfilesJob": {"fail_attempts": 0}})
            with ui_on(runtime, build("showcase", 0)) as base:
                figures["schedules_page_ms"] = load_ms(page, base + "/")
                figures["showcase_run_page_ms"] = load_ms(page, f"{base}/runs/{showcase}")
                if screenshots is not None:
                    screenshots.mkdir(parents=True, exist_ok=True)
                    page.goto(base + "/")
                    page.screenshot(path=str(screenshots / "ui-schedules.png"), full_page=True)
                    page.goto(f"{base}/runs/{showcase}")
                    page.screenshot(path=str(screenshots / "ui-run.png"))
                    from cronlane.local.session import store_of

                    store = store_of(runtime)
                    view = store.get_run(showcase)
                    assert view is not None
                    svg = render.gantt_svg(view, store.job_runs(showcase), time.time())
                    (screenshots / "gantt.png").write_bytes(picture.png(svg))
        # a run of 200 jobs
        env = environment("layered", 200)
        os.environ.update(env)
        with local_runtime(
            EXAMPLE_TEMPLATE, clock="virtual", start=START, executor_environments=8, env_overrides=env
        ) as runtime:
            wide = _run(runtime, "daily-full-sync")
            with ui_on(runtime, build("layered", 200)) as base:
                figures["run_page_200_jobs_ms"] = load_ms(page, f"{base}/runs/{wide}")
                figures["schedules_page_200_jobs_ms"] = load_ms(page, base + "/")
        browser.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--screenshots", type=Path, help="write the README's pictures here")
    parser.add_argument("--out", type=Path, help="write the figures to this JSON file too")
    args = parser.parse_args()
    figures = run(args.screenshots)
    if args.out is not None:
        args.out.write_text(json.dumps(figures))
    print(json.dumps(figures, indent=2))


def in_a_process_of_its_own(env: dict[str, str] | None = None) -> dict[str, Any]:
    """``run`` in a fresh interpreter (what ``make bench`` calls), with ``env`` (the environment
    ``make bench`` started with): the browser and two runtimes start from nothing, whatever the
    steps before left in this process and its environment."""
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "ui.json"
        subprocess.run([sys.executable, "-m", "benchmarks.ui", "--out", str(out)], check=True, env=env)
        return dict(json.loads(out.read_text()))


if __name__ == "__main__":
    main()
