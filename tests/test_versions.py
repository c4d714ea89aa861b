"""Safe upgrades: the stack's ``CronlaneVersion`` output (written by ``cronlane template``, added
to a template made before it existed), and the CLI's refusal, in one line naming both versions,
to act on a stack whose version it cannot handle."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cronlane import __version__
from cronlane.template.generate import render, stale_parts
from cronlane.versions import refusal
from fixture_jobs.catalog import CATALOG
from tests.conftest import CATALOG_MODULE, TEMPLATE

CRONLANE = str(Path(sys.executable).parent / "cronlane")


def test_the_rule_same_major_and_a_minor_up_to_the_clis() -> None:
    assert refusal("0.2.0", "0.2.0") is None and refusal("0.1.4", "0.3.0") is None
    assert refusal(None, "0.2.0") is None  # a stack from before the output: 0.2 at the latest
    newer = refusal("0.4.1", "0.3.0")
    assert newer == (
        "it was made with cronlane 0.4.1; this CLI is cronlane 0.3.0, for stacks of 0.0 to 0.3: "
        "use a cronlane of 0.4 or later"
    )
    older = refusal("1.0.0", "2.1.0")
    assert older is not None and "upgrade the stack (cronlane template, then sam deploy)" in older
    assert (
        refusal("banana", "0.2.0")
        == "its CronlaneVersion output 'banana' is not a version (this CLI is cronlane 0.2.0)"
    )


def test_the_template_carries_the_version_and_an_old_template_gets_it_from_cronlane_template() -> None:
    text = TEMPLATE.read_text()
    assert "  CronlaneVersion:\n    Description: " in text and f'    Value: "{__version__}"\n' in text
    start = text.index("  # cronlane:begin version")
    end = text.index("  # cronlane:end version\n") + len("  # cronlane:end version\n")
    old = text[:start] + text[end:]  # as a template made before the output existed
    assert "version" in stale_parts(old, CATALOG, CATALOG_MODULE)  # validate says to run template
    upgraded = render(old, CATALOG, CATALOG_MODULE)
    assert upgraded == text  # the same part, at the end of Outputs; the rest byte for byte
    assert stale_parts(upgraded, CATALOG, CATALOG_MODULE) == []


@pytest.fixture
def newer_stack(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A moto server with a stack that says it was made by a newer cronlane."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    env = {
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    import boto3

    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {"TableName": {"Value": "runs"}, "CronlaneVersion": {"Value": "9.1.0"}},
    }
    cfn = boto3.client(
        "cloudformation", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1",
        aws_access_key_id="x", aws_secret_access_key="x",
    )  # fmt: skip
    cfn.create_stack(StackName="from-the-future", TemplateBody=json.dumps(template))
    try:
        yield env
    finally:
        server.stop()


def test_the_cli_refuses_a_stack_of_a_version_it_cannot_handle_in_one_line(
    newer_stack: dict[str, str],
) -> None:
    for command in (
        ["runs", "--stack", "from-the-future"],
        ["cancel", "r", "--yes", "--stack", "from-the-future"],
    ):
        done = subprocess.run(
            [CRONLANE, *command],
            capture_output=True,
            text=True,
            cwd=TEMPLATE.parent,
            env={**os.environ, **newer_stack},
            timeout=120,
            check=False,
        )
        assert done.returncode == 2, done.stdout + done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in done.stderr
        assert lines[0].startswith("cronlane: stack from-the-future at http://")
        assert ": it was made with cronlane 9.1.0; " in lines[0]
        assert f"this CLI is cronlane {__version__}" in lines[0]


class _Payload:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def read(self) -> bytes:
        return self.body


class _Lambda:
    def __init__(self) -> None:
        self.sent: list[dict[str, object]] = []

    def invoke(self, FunctionName: str, Payload: bytes) -> dict[str, object]:
        self.sent.append(json.loads(Payload))
        return {"Payload": _Payload(b'{"schedule": "nightly", "paused": true, "reason": "r"}')}


def test_a_stack_from_before_the_audit_trail_gets_its_actions_without_the_audit_field() -> None:
    from cronlane.cli.common import invoke_dispatcher
    from cronlane.cli.target import LOCAL_STACK, Target

    for outputs, audited in (({}, False), ({"CronlaneVersion": __version__}, True)):
        fake = _Lambda()

        class Stack(Target):
            lambda_client = fake

            def client(self, service: str) -> object:
                return self.lambda_client

        stack = Stack(
            "the local twin", LOCAL_STACK, None, {"DispatcherFunctionName": "d", **outputs}, "us-east-1"
        )
        invoke_dispatcher(stack, {"action": "pause", "schedule": "nightly"}, "why")
        # an older dispatcher forbids fields it does not know: it would refuse every action
        assert ("audit" in fake.sent[0]) is audited
        if audited:
            said = fake.sent[0]["audit"]
            assert isinstance(said, dict) and said["reason"] == "why"
            assert str(said["actor"]).endswith("(local twin)")
