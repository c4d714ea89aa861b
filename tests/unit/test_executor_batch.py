"""The executor's FIFO batch handling against Powertools' SqsFifoPartialProcessor.

The executor used ``process_partial_response`` with ``SqsFifoPartialProcessor(skip_group_on_error=
True)`` and ``raise_on_entire_batch_failure = False``; it now does the same in a few lines, to
keep the batch utility (and asyncio) out of its cold start. For any batch and any pattern of
failing records, both must handle the same records in the same order and report the same
failures: a failed record, and every later record of its message group, while other groups go on.
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import load_event
from tests.unit.function_env import FUNCTION_ENV

RECORD = load_event("executor-sqs-batch.json")["Records"][0]
APP = "cronlane.handlers.executor"


@pytest.fixture(scope="module")
def app() -> Iterator[ModuleType]:
    """cronlane.handlers.executor imported with a function's environment (nothing is called)."""
    patch = pytest.MonkeyPatch()
    for key, value in FUNCTION_ENV.items():
        patch.setenv(key, value)
    sys.modules.pop(APP, None)
    try:
        yield importlib.import_module(APP)
    finally:
        sys.modules.pop(APP, None)
        patch.undo()
        std = logging.getLogger("cronlane-executor")  # Powertools set up the service's logger
        for handler in list(std.handlers):
            std.removeHandler(handler)
        for attr in ("init", "powertools_handler"):
            if hasattr(std, attr):
                delattr(std, attr)


class Context:
    def get_remaining_time_in_millis(self) -> int:
        return 900_000


def record(message_id: str, group: str | None) -> dict[str, Any]:
    attributes = {k: v for k, v in RECORD["attributes"].items() if k != "MessageGroupId"}
    if group is not None:
        attributes["MessageGroupId"] = group
    return {**RECORD, "messageId": message_id, "attributes": attributes}


class Handler:
    """A record handler that raises for the records it is told to, and notes each call."""

    def __init__(self, failing: set[str]) -> None:
        self.failing = failing
        self.calls: list[str] = []

    def __call__(self, record: Any, lambda_context: Any) -> dict[str, Any]:
        message_id = record["messageId"]  # a dict here, Powertools' SQSRecord there
        self.calls.append(message_id)
        assert lambda_context is not None
        if message_id in self.failing:
            raise RuntimeError(f"{message_id} failed")
        return {"ok": message_id}


def with_powertools(event: dict[str, Any], failing: set[str]) -> tuple[dict[str, Any], list[str]]:
    from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response

    processor = SqsFifoPartialProcessor(skip_group_on_error=True)
    processor.raise_on_entire_batch_failure = False
    handler = Handler(failing)
    response = process_partial_response(
        event=event, record_handler=handler, processor=processor, context=Context()
    )
    return dict(response), handler.calls


def with_the_executor(
    app: ModuleType, event: dict[str, Any], failing: set[str]
) -> tuple[dict[str, Any], list[str]]:
    handler = Handler(failing)
    patch = pytest.MonkeyPatch()
    patch.setattr(app, "record_handler", handler)
    try:
        response = app.process_fifo_batch(event["Records"], Context())
    finally:
        patch.undo()
    return response, handler.calls


GROUPS = st.sampled_from(["jobA", "jobB", "jobC", "", None])


@settings(max_examples=500, deadline=None, derandomize=True, database=None)
@given(batch=st.lists(st.tuples(GROUPS, st.booleans()), min_size=1, max_size=10))
def test_a_batch_is_handled_and_reported_as_powertools_did(
    app: ModuleType, batch: list[tuple[str | None, bool]]
) -> None:
    records = [record(f"m{i}", group) for i, (group, _) in enumerate(batch)]
    failing = {f"m{i}" for i, (_, fails) in enumerate(batch) if fails}
    event = {"Records": records}
    assert with_the_executor(app, event, failing) == with_powertools(event, failing)


def test_a_failure_skips_the_rest_of_its_group_only(app: ModuleType) -> None:
    records = [record("a1", "jobA"), record("b1", "jobB"), record("a2", "jobA"), record("b2", "jobB")]
    response, calls = with_the_executor(app, {"Records": records}, {"a1"})
    assert calls == ["a1", "b1", "b2"]
    assert response == {"batchItemFailures": [{"itemIdentifier": "a1"}, {"itemIdentifier": "a2"}]}
    # every record failed: still a partial response, not a function error
    response, _ = with_the_executor(app, {"Records": records}, {"a1", "b1"})
    assert [f["itemIdentifier"] for f in response["batchItemFailures"]] == ["a1", "b1", "a2", "b2"]


def test_an_empty_batch_reports_nothing_failed(app: ModuleType) -> None:
    # (Powertools raised UnexpectedBatchTypeError for it; Lambda never sends one.)
    assert with_the_executor(app, {"Records": []}, set()) == ({"batchItemFailures": []}, [])


def test_the_executors_sqs_client_is_made_when_first_used() -> None:
    from cronlane.wiring import ClientOnFirstUse

    made: list[str] = []

    class Client:
        def send_message(self, **kwargs: Any) -> dict[str, Any]:
            return kwargs

    def make() -> Client:
        made.append("sqs")
        return Client()

    client = ClientOnFirstUse(make)
    assert made == []
    assert client.send_message(QueueUrl="q") == {"QueueUrl": "q"}
    assert client.send_message(QueueUrl="r") == {"QueueUrl": "r"}
    assert made == ["sqs"]


def test_the_sqs_client_comes_from_the_stores_botocore_session() -> None:
    from types import SimpleNamespace

    from cronlane.settings import Settings
    from cronlane.store.dynamodb import DynamoRunStore
    from cronlane.wiring import _queue

    made: list[tuple[str, str | None]] = []

    class Session:
        def create_client(self, service: str, region_name: str | None = None) -> Any:
            made.append((service, region_name))
            return SimpleNamespace(send_message=lambda **kwargs: kwargs)

    store = DynamoRunStore("t", "eu-west-1")
    store.items.connection._local.session = Session()  # the session PynamoDB's client comes from
    settings = Settings.from_env(
        {"TABLE_NAME": "t", "QUEUE_URL": "q", "AWS_REGION": "eu-west-1", "CRONLANE_CATALOG": "c"}
    )
    assert _queue(settings, store).queue_url == "q"
    assert made == [("sqs", "eu-west-1")]
    lazy = _queue(settings, store, on_first_use=True)
    assert made == [("sqs", "eu-west-1")]
    lazy.client.send_message(QueueUrl="q")
    assert made == [("sqs", "eu-west-1")] * 2


def test_the_executor_makes_its_sqs_client_when_it_first_sends(app: ModuleType) -> None:
    client = app.executor.queue.client
    assert type(client).__name__ == "ClientOnFirstUse" and client._client is None
    assert client.meta.service_model.service_name == "sqs"  # made now
    assert client.meta.region_name == "us-east-1"


def test_a_message_that_could_not_be_handled_is_logged_and_an_attempt_failure_is_not(
    app: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    from cronlane.execute import RetryLater

    def handler(record: Any, lambda_context: Any) -> dict[str, Any]:
        if record["messageId"] == "broken":
            raise RuntimeError("the table is unreachable")
        raise RetryLater("job attempt 1 failed (it was logged as such)")

    patch = pytest.MonkeyPatch()
    patch.setattr(app, "record_handler", handler)
    try:
        response = app.process_fifo_batch([record("broken", "jobA"), record("retry", "jobB")], Context())
    finally:
        patch.undo()
    assert response == {"batchItemFailures": [{"itemIdentifier": "broken"}, {"itemIdentifier": "retry"}]}
    logged = [r for r in caplog.records if "message not handled" in r.getMessage()]
    assert len(logged) == 1
    assert getattr(logged[0], "message_id", None) == "broken"
    assert logged[0].exc_info is not None and "the table is unreachable" in str(logged[0].exc_info[1])
