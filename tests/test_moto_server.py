"""The twin's moto server (``cronlane.local.moto_patches.moto_endpoint``): one set of backends
answering on loopback and on the other addresses a caller names (the Docker bridge's gateway
for ``sam local invoke``), never on every address, and a failed bind said at once."""

from __future__ import annotations

import boto3
import pytest

from cronlane.local.moto_patches import moto_endpoint


def sqs(endpoint: str):  # type: ignore[no-untyped-def]
    return boto3.client(
        "sqs",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="y",
    )


def test_a_second_address_answers_from_the_same_backends() -> None:
    # GIVEN the twin's server, also answering on a second loopback address
    endpoint = moto_endpoint(also_on=("127.0.0.2",))
    port = endpoint.rsplit(":", 1)[1]
    other = f"http://127.0.0.2:{port}"
    # WHEN a queue is made through one address
    url = sqs(endpoint).create_queue(QueueName="served-twice")["QueueUrl"]
    client = sqs(other)
    # THEN the other address sees it, and a message sent through one is received through the other
    assert url.rsplit("/", 1)[1] in " ".join(client.list_queues().get("QueueUrls", []))
    for n in range(5):
        sqs(endpoint).send_message(QueueUrl=url, MessageBody=f"m{n}")
    bodies = set()
    while len(bodies) < 5:
        got = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        assert got, f"only {sorted(bodies)} came back"
        bodies |= {m["Body"] for m in got}
    assert bodies == {f"m{n}" for n in range(5)}


@pytest.mark.parametrize("address", ["0.0.0.0", "::", ""])
def test_the_server_never_listens_on_every_address(address: str) -> None:
    with pytest.raises(ValueError, match="refusing to listen on every address"):
        moto_endpoint(also_on=(address,))


def test_an_address_that_cannot_be_bound_fails_at_once() -> None:
    # 192.0.2.1 is TEST-NET-1: no interface of this machine has it
    with pytest.raises(OSError):
        moto_endpoint(also_on=("192.0.2.1",))
