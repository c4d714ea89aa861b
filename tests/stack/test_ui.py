"""`cronlane ui`, `cronlane logs` and the dashboard's widget against a long-running local twin, as a
user meets them: the UI in a real headless browser (Debian's Chromium, driven by Playwright), the
CLI as a separate process, the widget as the CloudWatch console invokes it.

The twin runs the fixture app at 100x. Its runs: an hourly run that succeeds, and a nightly run
of ``extract -> check -> merge -> alert`` (and ``summary``, all_done) where ``check`` fails every
attempt that starts before a time a few run-minutes ahead: three attempts with their backoffs,
then ``merge`` and ``alert`` skipped. Once that time has passed, a rerun of it succeeds."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from tests.conftest import FIXTURE_APP
from tests.stack.test_twin import CRONLANE, cli, free_port, wait_terminal

pytestmark = [pytest.mark.stack, pytest.mark.xdist_group("ui")]

SCALE = 100  # run-clock seconds per real second
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def start(args: list[str], ready: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [CRONLANE, *args], cwd=FIXTURE_APP, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert process.stdout is not None
    deadline = time.time() + 90
    said = []
    for line in process.stdout:
        if ready in line:
            return process
        said.append(line)
        if time.time() > deadline:
            break
    process.kill()
    raise AssertionError(f"{args[0]} did not start: {''.join(said)[-2000:]}")


def start_ui(port: str, *extra: str) -> tuple[subprocess.Popen[str], int]:
    """``cronlane ui`` on a free port; another one if something took it between the choice and
    the ui's own check (the ui refuses a port in use, which is right: the test chooses again)."""
    for _ in range(3):
        ui_port = free_port()
        try:
            return start(
                ["ui", "--local", "--port", port, "--ui-port", str(ui_port), *extra], "cronlane ui on"
            ), ui_port
        except AssertionError as exc:
            if "cannot serve on" not in str(exc):
                raise
    raise AssertionError("no free port for cronlane ui in three tries")


def stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    port = str(free_port())
    logs = tmp_path_factory.mktemp("ui-twin-logs")
    twin = start(
        ["local", "up", "--port", port, "--time-scale", str(1 / SCALE), "--logs", str(logs)], "twin up at"
    )
    servers: list[subprocess.Popen[str]] = []
    try:
        ok = json.loads(
            cli("trigger", "hourly", "--key", "ui-ok", "--json", "--local", "--port", port).stdout
        )
        # the twin's clock now: the manual run's fire time is when it was triggered
        now = json.loads(cli("run", ok["run_id"], "--json", "--local", "--port", port).stdout)
        twin_now = datetime.fromisoformat(now["scheduled_time"].replace("Z", "+00:00")).timestamp()
        fail_until = twin_now + 45 * 60  # each CLI call here takes a run-minute or two
        failing = cli(
            "trigger", "nightly", "--jobs", "extract,check,merge,summary,alert", "--key", "ui-failed",
            "--param", f"check.fail_until={fail_until}", "--json", "--local", "--port", port,
        )  # fmt: skip
        assert failing.returncode == 0, failing.stderr
        failed_id = json.loads(failing.stdout)["run_id"]
        wait_terminal(port, ok["run_id"])
        failed = wait_terminal(port, failed_id)
        assert failed["status"] == "FAILED", (
            fail_until,
            now["scheduled_time"],
            [(j["name"], j["started_at"], j["status"]) for j in failed["jobs"]],
            failed["parameters"],
        )
        read_only_server, read_only = start_ui(port)
        servers.append(read_only_server)
        actions_server, actions = start_ui(port, "--allow-actions")
        servers.append(actions_server)
        yield {
            "port": port,
            "ok": ok["run_id"],
            "failed": failed_id,
            "fail_until": fail_until,
            "twin_at": (twin_now, time.time()),
            "read_only": f"http://127.0.0.1:{read_only}",
            "actions": f"http://127.0.0.1:{actions}",
        }
    finally:
        for server in servers:
            stop(server)
        stop(twin)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


def test_the_schedules_page_shows_the_runs_and_leads_to_the_gantt_and_the_logs(
    world: dict[str, Any], browser: Any
) -> None:
    page = browser.new_page()
    page.goto(world["read_only"] + "/")
    # each schedule with its expression, zone and next fire times, and its runs as a grid
    nightly = page.locator("section[data-schedule='nightly']")
    assert "cron(0 2 * * ? *)" in nightly.inner_text() and "next:" in nightly.inner_text()
    assert "Europe/Berlin" in page.locator("section[data-schedule='morning']").inner_text()
    failed_cell = nightly.locator(f"a.cell[data-run='{world['failed']}'][data-job='check']")
    assert failed_cell.get_attribute("data-status") == "FAILED"
    assert (
        nightly.locator(f"a.cell[data-run='{world['failed']}'][data-job='merge']").get_attribute(
            "data-status"
        )
        == "SKIPPED"
    )
    hourly_run = page.locator(f"section[data-schedule='hourly'] a.run-cell[data-run='{world['ok']}']")
    assert hourly_run.get_attribute("data-status") == "SUCCEEDED"
    # no action is offered without --allow-actions
    assert page.locator("text=Trigger now").count() == 0
    # the dead-letter queue is read only when asked: then check's letter is there
    page.goto(world["read_only"] + "/dlq")
    assert page.locator("tr.letter").count() == 0
    page.locator("button.read-dlq").click()
    page.wait_for_load_state()
    letter = page.locator("tr.letter", has_text=world["failed"])
    assert (
        letter.count() == 1 and "check" in letter.inner_text() and "simulated outage" in letter.inner_text()
    )
    page.goto(world["read_only"] + "/")
    # a cell leads to the run's page, at the job
    failed_cell.click()
    page.wait_for_load_state()
    assert page.url.endswith("/runs/" + world["failed"] + "#check")
    assert "FAILED" in page.locator("h1.run-title").inner_text()
    assert "check.fail_until=" in page.locator("table.facts").first.inner_text()
    # the Gantt: check's three attempts, failed, with the backoffs between them
    check = page.locator("svg.gantt g.row[data-job='check']")
    kinds = [r.get_attribute("data-kind") for r in check.locator("rect.seg").all()]
    assert kinds.count("failed attempt") == 3 and kinds.count("backoff") == 2
    # (an SVG element has no innerText: its text content is what a hover shows)
    tips = [t.text_content() or "" for t in check.locator("rect.seg[data-kind='failed attempt'] title").all()]
    assert all("simulated outage" in t for t in tips) and "(attempt 3)" in tips[-1]
    # the skipped jobs: rows of their own, with why
    merge = page.locator("svg.gantt g.row[data-job='merge']")
    assert merge.get_attribute("data-status") == "SKIPPED"
    assert "upstream check failed" in (merge.locator("text.status title").text_content() or "")
    assert page.locator("svg.gantt text.tick").count() >= 3  # a time axis
    assert page.locator("button.rerun-failed").count() == 0  # read only
    # the job's panel, and its logs
    panel = page.locator("section.job#check")
    assert "3 of 3" in panel.inner_text() and panel.locator("tr.attempt").count() == 3
    panel.locator("details.job-logs summary").click()  # the panel reads its lines when opened
    panel.locator("details.job-logs pre.logs", has_text="job failed after its last attempt").wait_for()
    panel.locator("a.logs-link").click()
    page.wait_for_load_state()
    text = page.locator("pre.logs").inner_text()
    assert text.index("job started") < text.index("job attempt failed; will retry")
    assert "job failed after its last attempt" in text
    page.close()


def test_without_allow_actions_an_action_is_refused(world: dict[str, Any]) -> None:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        world["read_only"] + "/actions/rerun",
        data=f"run_id={world['failed']}&token=x".encode(),
        headers={"Origin": world["read_only"]},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403


def test_another_site_cannot_drive_the_actions(world: dict[str, Any], browser: Any) -> None:
    import urllib.error
    import urllib.request

    base = world["actions"]
    form = f"run_id={world['failed']}&failed_only=true".encode()
    cases = [
        ({"Origin": "http://evil.example"}, 403),  # a cross-site form post
        ({"Origin": base}, 403),  # the right origin without this process's token
        ({"Origin": base, "Host": "evil.example:80"}, 421),  # a DNS name rebound to loopback
    ]
    # nor can another site's page make it read: the browser says where a request comes from
    for path in ("/dlq", f"/runs/{world['failed']}/logs/check"):
        request = urllib.request.Request(base + path, headers={"Sec-Fetch-Site": "cross-site"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 403, path
    for headers, code in cases:
        request = urllib.request.Request(base + "/actions/rerun", data=form, headers=headers, method="POST")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == code, headers
    page = browser.new_page()
    page.goto(base + "/")
    assert page.evaluate("() => document.cookie") == ""
    page.close()
    status = json.loads(cli("run", world["failed"], "--json", "--local", "--port", world["port"]).stdout)
    assert status["status"] == "FAILED"  # none of them reran it


def test_a_failed_run_is_rerun_from_its_page_and_succeeds(world: dict[str, Any], browser: Any) -> None:
    # once the twin's clock is past the outage, check's next attempt succeeds
    twin_then, real_then = world["twin_at"]
    wait = (world["fail_until"] - twin_then) / SCALE - (time.time() - real_then) + 1
    time.sleep(max(wait, 0))
    page = browser.new_page()
    page.goto(world["actions"] + "/runs/" + world["failed"])
    page.locator("button.rerun-failed").click()
    page.wait_for_load_state()
    assert "Rerun the jobs of " + world["failed"] in page.locator("h1").inner_text()
    page.fill("input[name=reason]", "the outage is over")
    page.locator("button.confirm-action").click()
    page.wait_for_load_state()
    assert page.url.startswith(world["actions"] + "/runs/" + world["failed"])
    # the page polls while the run goes: it turns SUCCEEDED without a reload
    page.locator("h1.run-title .badge", has_text="SUCCEEDED").wait_for(timeout=60_000)
    assert page.locator("section.job#check").get_attribute("data-status") == "SUCCEEDED"
    page.close()
    audit = json.loads(cli("audit", "--json", "--local", "--port", world["port"]).stdout)["actions"]
    rerun = [a for a in audit if a["action"] == "rerun" and a["run_id"] == world["failed"]]
    assert rerun and rerun[-1]["reason"] == "the outage is over"


def test_logs_prints_one_attempts_lines_in_order_and_nothing_of_other_jobs(world: dict[str, Any]) -> None:
    port, run_id = world["port"], world["failed"]
    second = cli("logs", run_id, "check", "--attempt", "2", "--json", "--local", "--port", port)
    assert second.returncode == 0, second.stderr
    lines = json.loads(second.stdout)["lines"]
    assert lines and {ln["attempt"] for ln in lines} == {2} and {ln["job"] for ln in lines} == {"check"}
    assert [ln["message"] for ln in lines][:1] == ["job started"]
    assert [ln["at"] for ln in lines] == sorted(ln["at"] for ln in lines)
    everything = json.loads(cli("logs", run_id, "check", "--json", "--local", "--port", port).stdout)["lines"]
    assert {ln["job"] for ln in everything} == {"check"} and {ln["attempt"] for ln in everything} >= {1, 2, 3}
    # in the run's clock, not the machine's (100x apart here): check starts after extract's 240
    # run-seconds, minutes after the run was triggered (the machine's clock says seconds)
    run = json.loads(cli("run", run_id, "--json", "--local", "--port", port).stdout)
    first, triggered = (
        datetime.fromisoformat(t.replace("Z", "+00:00")) for t in (everything[0]["at"], run["scheduled_time"])
    )
    assert 240 <= (first - triggered).total_seconds() <= 3600
    unknown = cli("logs", run_id, "nosuchJob", "--local", "--port", port)
    assert unknown.returncode == 2 and unknown.stderr.startswith(
        f"cronlane: run {run_id} has no job 'nosuchJob'"
    )


def test_the_widget_draws_the_runs_grid_and_the_latest_gantt(world: dict[str, Any]) -> None:
    import boto3

    endpoint = f"http://127.0.0.1:{world['port']}"
    client = boto3.client(
        "lambda", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id="local", aws_secret_access_key="local",
    )  # fmt: skip
    name = "local-widget"  # FunctionName: ${AWS::StackName}-widget
    # as the console calls it: the widget's params as keys of the event, and in its context
    context = {"dashboardName": "local", "width": 1200, "height": 600, "params": {"runs": 5}}
    event = {"runs": 5, "widgetContext": context}
    answer = client.invoke(FunctionName=name, Payload=json.dumps(event).encode())
    assert "FunctionError" not in answer, answer["Payload"].read()
    html = json.loads(answer["Payload"].read())
    from html.parser import HTMLParser

    class Cells(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.cells: list[dict[str, str | None]] = []
            self.svg = 0

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            found = dict(attrs)
            if tag == "a" and "cell" in (found.get("class") or ""):
                self.cells.append(found)
            self.svg += tag == "svg"

    parsed = Cells()
    parsed.feed(html)
    by_run = {(c.get("data-run"), c.get("data-job")): c.get("data-status") for c in parsed.cells}
    assert by_run[(world["failed"], "merge")] in ("SKIPPED", "SUCCEEDED")  # skipped, or rerun since
    assert by_run[(world["ok"], None)] == "SUCCEEDED"
    assert "Latest run:" in html and parsed.svg == 1 and 'class="gantt"' in html
    assert all("href" not in c for c in parsed.cells)  # the widget has no pages to link to
    described = client.invoke(FunctionName=name, Payload=json.dumps({"describe": True}).encode())
    assert "cronlane runs" in json.loads(described["Payload"].read())
