"""The contract suite's fixtures: every test of ``tests/contract`` runs once per implementation of
its port (``ports.RunStore``: DynamoDB through moto, and memory; ``ports.JobQueue``: SQS FIFO
through moto, and memory).

moto runs in process (``mock_aws``), with fake credentials, on a table and queues made as the
template makes them (``tests/fixture_app/template.yaml``: RunsTable, JobQueue, DeadLetterQueue;
read from it, so that they stay as it says). The queues run on a virtual clock: the memory queue
is given it, and moto's SQS follows it through the project's patch (``moto_patches``, with
``Hooks.clock``).
"""

from __future__ import annotations

import functools
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import boto3
import pytest
from moto import mock_aws
from pynamodb.connection import base as pynamodb_base

from cronlane.inprocess import VirtualClock
from cronlane.local import moto_patches
from cronlane.local.stack import load_template
from cronlane.model import JobMessage
from cronlane.ports import JobQueue, RunStore
from cronlane.queue.memory import MemoryJobQueue
from cronlane.queue.sqs import SqsJobQueue
from cronlane.store.dynamodb import DynamoRunStore
from cronlane.store.memory import MemoryRunStore
from tests.conftest import TEMPLATE

REGION = "us-east-1"
FAKE_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}
MAX_RECEIVE_COUNT = 3  # the template's MaxReceiveCount, as these tests set it
START = 1795831200.0  # 2026-11-28T02:00:00Z: where the queues' clocks start
MEMORY_ARN = "arn:aws:sqs:us-east-1:123456789012:memory-jobs.fifo"  # the memory queue ignores it


@functools.cache
def template_properties(logical_id: str) -> dict[str, Any]:
    properties: dict[str, Any] = load_template(TEMPLATE)["Resources"][logical_id]["Properties"]
    return properties


@pytest.fixture(scope="module")
def aws() -> Iterator[boto3.Session]:
    """moto in process for a test module, with fake credentials (nothing can reach AWS), and one
    SDK session whose clients every test of the module makes (each test has a table or queues
    of its own: ``fresh_name``). Starting moto and loading a service model take a tenth of a
    second or more each: once per module, not per test."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in FAKE_ENVIRONMENT.items():
            patch.setenv(name, value)
        for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SQS"):
            patch.delenv(name, raising=False)
        moto_patches.install()  # once per process (idempotent): moto as the local runtime runs it
        session = boto3.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
        )
        # PynamoDB makes a botocore session per connection, and with it loads DynamoDB's service
        # model again: each store's connection gets the module's session instead.
        patch.setattr(pynamodb_base, "get_session", lambda: session._session)
        with mock_aws():
            yield session


_names = itertools.count(1)


def fresh_name(prefix: str) -> str:
    return f"{prefix}-{next(_names)}"


# -- the run store --------------------------------------------------------------------------------


def create_runs_table(client: Any, name: str) -> None:
    """The template's RunsTable: its billing mode, keys and indexes with their projections."""
    table = template_properties("RunsTable")
    client.create_table(
        TableName=name,
        BillingMode=table["BillingMode"],
        AttributeDefinitions=table["AttributeDefinitions"],
        KeySchema=table["KeySchema"],
        GlobalSecondaryIndexes=table["GlobalSecondaryIndexes"],
    )


@pytest.fixture(params=["dynamodb", "memory"], ids=["dynamodb", "memory"])
def store(request: pytest.FixtureRequest) -> Iterator[RunStore]:
    if request.param == "memory":
        yield MemoryRunStore()
        return
    session: boto3.Session = request.getfixturevalue("aws")
    client = session.client("dynamodb")
    table = fresh_name("contract-runs")
    create_runs_table(client, table)
    dynamo = DynamoRunStore(table, REGION)
    dynamo.connect()  # one SDK client for every item class, as a Lambda's init makes it
    yield dynamo
    client.delete_table(TableName=table)


# -- the job queue --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """A job message as Lambda's event source mapping would receive it."""

    message: JobMessage
    receipt_handle: str
    receive_count: int


class QueueDriver(Protocol):
    """A job queue (``queue``: the port) with what the tests do that ``ports.JobQueue`` does not:
    receive job messages and delete them, as the event source mapping does, and move the clock
    the queue runs on."""

    queue: JobQueue
    queue_arn: str

    def receive(self, limit: int = 10, visibility_s: int = 30) -> list[Delivery]: ...

    def delete(self, delivery: Delivery) -> None: ...

    def advance(self, seconds: float) -> None: ...


class MemoryDriver:
    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.memory = MemoryJobQueue(clock, max_receive_count=MAX_RECEIVE_COUNT)
        self.queue: JobQueue = self.memory
        self.queue_arn = MEMORY_ARN

    def receive(self, limit: int = 10, visibility_s: int = 30) -> list[Delivery]:
        return [
            Delivery(JobMessage.parse(r.body), r.receipt_handle, r.receive_count)
            for r in self.memory.receive(limit, visibility_s)
        ]

    def delete(self, delivery: Delivery) -> None:
        self.memory.delete(delivery.receipt_handle)

    def advance(self, seconds: float) -> None:
        self.clock.sleep(seconds)


def sqs_attributes(logical_id: str) -> dict[str, str]:
    """A template queue's plain properties as SQS queue attributes: those that refer to the stack
    (its name, its redrive policy, its encryption settings) are the caller's."""
    return {
        name: str(value).lower() if isinstance(value, bool) else str(value)
        for name, value in template_properties(logical_id).items()
        if not isinstance(value, dict | list)
    }


class SqsDriver:
    def __init__(self, clock: VirtualClock, client: Any) -> None:
        self.clock = clock
        self.client = client
        name = fresh_name("contract-jobs")
        self.dlq_url: str = client.create_queue(
            QueueName=f"{name}-dlq.fifo", Attributes=sqs_attributes("DeadLetterQueue")
        )["QueueUrl"]
        redrive = {"deadLetterTargetArn": self._arn(self.dlq_url), "maxReceiveCount": MAX_RECEIVE_COUNT}
        self.queue_url: str = client.create_queue(
            QueueName=f"{name}.fifo",
            Attributes={**sqs_attributes("JobQueue"), "RedrivePolicy": json.dumps(redrive)},
        )["QueueUrl"]
        self.queue_arn = self._arn(self.queue_url)
        self.queue: JobQueue = SqsJobQueue(self.queue_url, self.dlq_url, client=client)

    def _arn(self, url: str) -> str:
        found = self.client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        arn: str = found["Attributes"]["QueueArn"]
        return arn

    def receive(self, limit: int = 10, visibility_s: int = 30) -> list[Delivery]:
        messages = self.client.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=limit,
            AttributeNames=["All"],
            VisibilityTimeout=visibility_s,
            WaitTimeSeconds=0,
        ).get("Messages", [])
        return [
            Delivery(
                JobMessage.parse(m["Body"]),
                m["ReceiptHandle"],
                int(m["Attributes"]["ApproximateReceiveCount"]),
            )
            for m in messages
        ]

    def delete(self, delivery: Delivery) -> None:
        self.client.delete_message(QueueUrl=self.queue_url, ReceiptHandle=delivery.receipt_handle)

    def advance(self, seconds: float) -> None:
        self.clock.sleep(seconds)

    def close(self) -> None:
        for url in (self.queue_url, self.dlq_url):
            self.client.delete_queue(QueueUrl=url)


@pytest.fixture
def moto_clock(aws: boto3.Session) -> Iterator[VirtualClock]:
    """A virtual clock that moto's SQS follows for this test, and no longer after it."""
    moto_patches.install()  # (patch_sqs_clock among them; idempotent)
    clock = VirtualClock(START)
    moto_patches.Hooks.clock = clock  # type: ignore[assignment]  # it reads only now()
    try:
        yield clock
    finally:
        moto_patches.Hooks.clock = None


@pytest.fixture(params=["sqs", "memory"], ids=["sqs", "memory"])
def queue(request: pytest.FixtureRequest) -> Iterator[QueueDriver]:
    if request.param == "memory":
        yield MemoryDriver(VirtualClock(START))
        return
    session: boto3.Session = request.getfixturevalue("aws")
    driver = SqsDriver(request.getfixturevalue("moto_clock"), session.client("sqs"))
    yield driver
    driver.close()
