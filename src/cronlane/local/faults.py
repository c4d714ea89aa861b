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
    then: DynamoDB ``ProvisionedThroughputExceededException``, SQS ``ServiceUnavailable``.

    Each request fails with probability ``rate`` (the SDK's own retries absorb most of these);
    one in ``burst_every`` of those starts a burst: the same environment's next ``burst``
    requests to that service fail too, more than the SDK retries, so the error reaches cronlane's
    code. ``counts`` says how many of each were given."""

    def __init__(self, rate: float, seed: int, burst_every: int = 10, burst: int = 6) -> None:
        self.rate = rate
        self.rng = random.Random(seed)
        self.burst_every = burst_every
        self.burst = burst
        self.counts: Counter[str] = Counter()
        self._bursting: dict[tuple[str, str], int] = {}

    def decide(self, environ: Any) -> tuple[str, bytes] | None:
        agent = str(environ.get("HTTP_USER_AGENT", ""))
        target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
        if "exec-env/AWS_Lambda" not in agent or not target:
            return None  # only what functions ask; not the runtime's own event source mapping
        service = "dynamodb" if target.startswith("DynamoDB") else "sqs" if "SQS" in target else ""
        if not service:
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
        if service == "dynamodb":
            code, status = "ProvisionedThroughputExceededException", "400 Bad Request"
        else:
            code, status = "ServiceUnavailable", "503 Service Unavailable"
        body = json.dumps({"__type": f"com.amazonaws.{service}#{code}", "message": "injected by the runtime"})
        return status, body.encode()
