"""Faults the local runtime injects: crash points it kills an environment at, or holds it at
until a test lets it go on (``Fault``: what a test uses to make two invocations interleave in a
chosen order), and the transient errors AWS gives now and then (``TransientErrors``)."""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass
from typing import Any


@dataclass
class Fault:
    id: int
    point: str
    match: dict[str, Any]
    times: int
    kind: str = "crash"  # "crash": the environment is killed there; "hold": it waits to be released


class TransientErrors:
    """Throttling and 5xx answers to the requests Lambda environments make, as AWS gives now and
    then: DynamoDB ``ProvisionedThroughputExceededException``, SQS ``ServiceUnavailable``,
    EventBridge Scheduler ``ThrottlingException``.

    Each request fails with probability ``rate`` (the SDK's own retries absorb most of these);
    one in ``burst_every`` of those starts a burst: the same environment's next ``burst``
    requests to that service fail too, more than the SDK retries, so the error reaches cronlane's
    code. ``services``: the services whose requests may fail. ``counts`` says how many of each
    were given."""

    ANSWERS = {
        "dynamodb": ("400 Bad Request", "com.amazonaws.dynamodb#ProvisionedThroughputExceededException"),
        "sqs": ("503 Service Unavailable", "com.amazonaws.sqs#ServiceUnavailable"),
        "scheduler": ("429 Too Many Requests", "ThrottlingException"),
    }

    def __init__(
        self,
        rate: float,
        seed: int,
        burst_every: int = 10,
        burst: int = 6,
        services: tuple[str, ...] = ("dynamodb", "sqs", "scheduler"),
    ) -> None:
        self.rate = rate
        self.rng = random.Random(seed)
        self.burst_every = burst_every
        self.burst = burst
        self.services = services
        self.counts: Counter[str] = Counter()
        self._bursting: dict[tuple[str, str], int] = {}

    def decide(self, environ: Any) -> tuple[str, bytes] | None:
        agent = str(environ.get("HTTP_USER_AGENT", ""))
        target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
        if "exec-env/AWS_Lambda" not in agent:
            return None  # only what functions ask; not the runtime's own event source mapping
        if target:
            service = "dynamodb" if target.startswith("DynamoDB") else "sqs" if "SQS" in target else ""
        else:
            service = "scheduler" if str(environ.get("PATH_INFO", "")).startswith("/schedules") else ""
        if service not in self.services:
            return None
        env = agent.rpartition("app/")[2].split(" ")[0]
        left = self._bursting.get((env, service), 0)
        if left:
            self._bursting[(env, service)] = left - 1
        elif self.rng.random() < self.rate:
            self.counts[f"{service} transient error"] += 1
            if self.burst_every and self.rng.randrange(self.burst_every) == 0:
                self.counts[f"{service} error burst"] += 1
                self._bursting[(env, service)] = self.burst - 1
        else:
            return None
        status, code = self.ANSWERS[service]
        # code: what botocore reads for JSON and REST-JSON protocols alike
        body = json.dumps(
            {"__type": code, "code": code.rpartition("#")[2], "message": "injected by the runtime"}
        )
        return status, body.encode()
