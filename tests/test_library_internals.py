"""The two places cronlane reaches into a library's internals check themselves: the local
runtime's moto patches (``cronlane.local.moto_patches``) and the PynamoDB access of
``cronlane.store.items``. On the versions pyproject.toml pins, nothing is missing; take a target
away and the check names it, so an upgrade that breaks one fails here, not at run time."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from cronlane.local import moto_patches
from cronlane.store import items
from tests.conftest import FIXTURE_APP


def test_the_pinned_moto_fits_every_patch_and_every_attribute_the_runtime_reads() -> None:
    assert moto_patches.moto_version() == moto_patches.TARGET
    assert moto_patches.self_check() == []
    moto_patches.ensure_supported()  # does not raise


def test_a_patch_target_that_is_gone_stops_the_runtime_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.sqs.models import SQSBackend

    monkeypatch.delattr(SQSBackend, "delete_message_batch")
    with pytest.raises(moto_patches.UnsupportedMoto) as refused:
        moto_patches.ensure_supported()
    assert str(refused.value).startswith(f"unsupported moto {moto_patches.moto_version()}: ")
    assert "moto.sqs.models:SQSBackend.delete_message_batch is missing" in str(refused.value)


def test_a_patch_target_whose_parameters_changed_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.awslambda.models import LambdaBackend

    def invoke(self: Any, name: str, body: Any) -> Any:  # a made-up later signature
        return None

    monkeypatch.setattr(LambdaBackend, "invoke", invoke)
    problems = moto_patches.self_check()
    assert any(
        p.startswith("moto.awslambda.models:LambdaBackend.invoke takes (self, name, body)") for p in problems
    ), problems


def test_an_attribute_moto_no_longer_sets_on_a_message_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.sqs import models

    real = models.Message.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        real(self, *args, **kwargs)
        del self.visible_at  # as if a later moto renamed it

    monkeypatch.setattr(models.Message, "__init__", init)
    assert "moto.sqs.models.Message has no attribute 'visible_at'" in moto_patches.self_check()


def test_the_cli_refuses_to_start_the_runtime_on_an_unsupported_moto() -> None:
    # GIVEN a moto whose SQS backend lost a method the event source mapping calls
    code = (
        "import sys; import moto.sqs.models as m; del m.SQSBackend.receive_message; "
        "from cronlane.cli.main import main; "
        "sys.argv = ['cronlane', 'local', 'run', 'hourly', '--clock', 'virtual']; main()"
    )
    command = [sys.executable, "-c", code]
    done = subprocess.run(command, check=False, cwd=FIXTURE_APP, capture_output=True, text=True, timeout=120)
    # THEN one line, naming the version and what is missing, exit 2, and nothing started
    assert done.returncode == 2, done.stderr
    missing = "moto.sqs.models:SQSBackend.receive_message is missing"
    assert done.stderr.strip().splitlines() == [
        f"cronlane: unsupported moto {moto_patches.moto_version()}: {missing} "
        "(type object 'SQSBackend' has no attribute 'receive_message')"
    ]


def test_the_pinned_pynamodb_has_what_the_store_reaches_into() -> None:
    assert items.check_pynamodb() == []


def test_a_pynamodb_without_the_shared_client_hook_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    from pynamodb.models import Model

    monkeypatch.delattr(Model, "_get_connection")
    assert "pynamodb.models.Model has no _get_connection()" in items.check_pynamodb()


def test_every_item_class_of_a_store_shares_one_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")  # without credentials, PynamoDB makes a
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")  # client again on every use
    bound = items.bind("cronlane-runs", "us-east-1")
    items.share_client(bound)
    clients = {id(model._get_connection().connection._client) for model in bound.models}
    assert clients == {id(bound.connection.client)}


def test_a_missing_ecs_target_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.ecs.models import EC2ContainerServiceBackend

    monkeypatch.delattr(EC2ContainerServiceBackend, "stop_task")
    missing = "moto.ecs.models:EC2ContainerServiceBackend.stop_task is missing"
    assert any(p.startswith(missing) for p in moto_patches.self_check())
