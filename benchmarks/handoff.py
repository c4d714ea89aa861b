"""Hand-off: a chain of 100 no-op jobs on the local runtime's real clock, every hand-off going
through SQS as on AWS (or, for jobs without a lane, none: each runs in its upstream's
invocation). For each upstream -> dependent pair: the time from the upstream's finish
(its SUCCEEDED write) to the dependent's start (its claim), and the AWS requests on that path,
counted from the upstream's last write (its finish) to the dependent's claim.
This is cronlane's local overhead. ``handoff_aws_projected_ms`` projects it onto AWS: each request
on the path at a typical in-region latency, the SDK's own time included (``billing.REQUEST_S``:
8 ms for DynamoDB, 15 ms for SQS), with the send and the mapping's receive replaced by SQS FIFO
to Lambda's delivery through an event source mapping (about 28 ms at the median, measured from a
timestamp the producer put in the message before its send: the send is inside it,
docs/aws-facts.md). ``handoff_aws_projected_send_added_ms`` adds the send's 15 ms to that again,
as the projection did before 2026-12-08: an upper figure."""

from __future__ import annotations

import itertools
import json
import statistics
import time
from typing import Any

from benchmarks import EXAMPLE_TEMPLATE
from benchmarks.billing import REQUEST_S
from cronlane.local.session import local_runtime, store_of, wait_for_run

LINKS = 100
ESM_DELIVERY_MS = 28.0  # SQS FIFO to Lambda through an event source mapping, at the median


SENDS = ("SendMessage", "SendMessageBatch")


def aws_projection_ms(by_operation: dict[str, float], send_added: bool = False) -> float:
    """The hand-off on AWS, from the requests on its path (operation -> how many per hand-off):
    each at its typical in-region latency, and the send with the mapping's receive as Lambda's
    delivery, which is measured from before the send (``send_added``: the send counted again)."""
    # a dependent run in its upstream's invocation has no delivery: nothing was received
    delivered = bool(by_operation.get("sqs:ReceiveMessage"))
    total = ESM_DELIVERY_MS if delivered else 0.0
    own_send = delivered and not send_added  # the delivered message's send: in ESM_DELIVERY_MS
    for key, count in by_operation.items():
        service, _, operation = key.partition(":")
        if service == "sqs" and operation == "ReceiveMessage":
            continue  # the delivery's own: in ESM_DELIVERY_MS
        counted = count
        if service == "sqs" and operation in SENDS and own_send:
            counted, own_send = max(count - 1.0, 0.0), False
        total += counted * REQUEST_S.get(service, REQUEST_S["other"]) * 1000.0
    return round(total, 1)


def run(links: int = LINKS, lanes: bool = True) -> dict[str, Any]:
    """``lanes`` False: the chain's jobs have no lane (``max_concurrent=None``), so each runs in
    its upstream's invocation, and the hand-off is the dependent's claim alone."""
    # imported here: the functions' processes import this module as __main__ when it is run
    # with -m, and must not build a catalog of their own on the way
    from benchmarks.synthetic import environment

    records: list[dict[str, Any]] = []
    env = environment("chain", links, lanes=lanes)
    with local_runtime(EXAMPLE_TEMPLATE, clock="real", executor_environments=2, env_overrides=env) as runtime:
        runtime.warm("ExecutorFunction", 2)
        runtime.warm("DispatcherFunction", 1)
        round_trip_ms = _round_trip_ms(store_of(runtime))
        runtime.observe_requests(records.append, sizes=False)  # timed: no lookups the bill needs
        run_id, report = run_chain(runtime, "chain", limit_s=600)
        runtime.observe_requests(None)
        jobs = {j.job: j for j in store_of(runtime).job_runs(run_id)}
        events = len(runtime.events_of(run_id))
    assert report.run.status.value == "SUCCEEDED", report.run.status
    names = sorted(jobs)
    gaps_ms = []
    for upstream, dependent in itertools.pairwise(names):
        finished, started = jobs[upstream].finished_at, jobs[dependent].started_at
        assert finished is not None and started is not None
        gaps_ms.append((started - finished) * 1000.0)
    per_handoff = _requests_per_handoff(records, names)
    return {
        "links": links,
        "handoffs": len(gaps_ms),
        "handoff_median_ms": round(statistics.median(gaps_ms), 1),
        "handoff_p95_ms": round(sorted(gaps_ms)[int(0.95 * (len(gaps_ms) - 1))], 1),
        "handoff_requests": per_handoff["median"],
        "handoff_requests_by_operation": per_handoff["operations"],
        "handoff_aws_projected_ms": aws_projection_ms(per_handoff["operations"]),
        "handoff_aws_projected_send_added_ms": aws_projection_ms(per_handoff["operations"], send_added=True),
        "handoff_breakdown_ms": per_handoff["breakdown_ms"],
        # this machine's speed at the time: one GetItem to the local moto server, from here
        "request_round_trip_ms": round_trip_ms,
        # the run events published (off the hand-off's path): one per job-run, one for the run
        "run_events": events,
    }


def run_chain(runtime: Any, key: str, limit_s: float) -> tuple[str, Any]:
    """Trigger the chain (the example's daily-full-sync, narrowed by the environment) and wait for
    its run: its id and report."""
    event = {
        "action": "trigger",
        "schedule": "daily-full-sync",
        "idempotency_key": f"{key}-{time.time_ns()}",
    }
    run_id = runtime.invoke("DispatcherFunction", event).response["run_id"]
    return run_id, wait_for_run(runtime, run_id, limit_s=limit_s)


def _round_trip_ms(store: Any, samples: int = 50) -> float:
    """The median time of one request to the local moto server (a GetItem of a job-run that
    does not exist): the unit the hand-off is made of, measured in the same run, so that a
    figure from a slow moment of a shared machine can be read as such."""
    times = []
    for _ in range(samples):
        began = time.perf_counter()
        store.get_job_run("no-such-run", "no-such-job", include_waiting=False)
        times.append((time.perf_counter() - began) * 1000.0)
    return round(statistics.median(times), 2)


def _names_of(record: dict[str, Any]) -> set[str]:
    return {str(v) for v in (record["request"].get("ExpressionAttributeNames") or {}).values()}


def _job_key(record: dict[str, Any]) -> str:
    key = record["request"].get("Key") or record["request"].get("Item") or {}
    return str(key.get("sk", {}).get("S", "")).removeprefix("JOB#")


def _claims(record: dict[str, Any], job: str) -> bool:
    """The claim of ``job``: the put of its item, RUNNING (a dependent's first claim), or an
    update taking its lease."""
    if _job_key(record) != job:
        return False
    if record["operation"] == "PutItem":
        return record["request"]["Item"].get("status", {}).get("S") == "RUNNING"
    return record["operation"] == "UpdateItem" and "attempt_started_at" in _names_of(record)


def _on_the_path(records: list[dict[str, Any]], release: int, event: dict[str, Any], upstream: str) -> bool:
    """Whether the PutEvents ``event`` is on the hand-off's path: the upstream's own end event,
    made before its send (the dependent waits for that send). Another job's event, or the
    upstream's made after its send, runs beside the hand-off."""
    entries = event["request"].get("Entries") or []
    jobs = {json.loads(e.get("Detail") or "{}").get("job") for e in entries}
    if upstream not in jobs:
        return False
    send = next((r for r in records[release + 1 :] if r["operation"] == "SendMessageBatch"), None)
    return send is None or event["began"] < send["ended"]


def _requests_per_handoff(records: list[dict[str, Any]], names: list[str]) -> dict[str, Any]:
    """Requests from the upstream's last write (its finish: an UpdateItem of it setting
    ``finished_at``), not counted, to the dependent's claim (``_claims``), counted."""
    counts = []
    operations: dict[str, int] = {}
    spans: dict[str, list[float]] = {}
    for upstream, dependent in itertools.pairwise(names):
        release = next(
            i
            for i, r in enumerate(records)
            if r["operation"] == "UpdateItem" and _job_key(r) == upstream and "finished_at" in _names_of(r)
        )
        claim = next(i for i, r in enumerate(records) if i > release and _claims(r, dependent))
        # The requests the hand-off waits on. Not the dispatcher's (the run's start goes on
        # beside the first hand-off when the first job ends within milliseconds), not the
        # benchmark reading the table, not the
        # mapping's empty polls, not the mapping deleting the upstream's own message once its
        # invocation returned, and no run event but the upstream's own made before its send
        # (``_on_the_path``; it is published after the send): those run beside the hand-off,
        # not in it, and whether they fall inside the window depends only on timing (the count
        # must not). The events are counted in the bill.
        path = [
            r
            for r in records[release + 1 : claim + 1]
            if not (r["who"] == "runtime" and r["service"] == "dynamodb")
            and r["who"] != "DispatcherFunction"
            and not (r["operation"] == "ReceiveMessage" and b'"Messages"' not in r["response"])
            and not (r["who"] == "runtime" and r["operation"] == "DeleteMessageBatch")
            and not (r["operation"] == "PutEvents" and not _on_the_path(records, release, r, upstream))
        ]
        counts.append(len(path))
        for r in path:
            key = f"{r['service']}:{r['operation']}"
            operations[key] = operations.get(key, 0) + 1
        # Where the time goes, from the end of the upstream's finish write: before each request
        # of the path (the caller's own time: the SDK, the code, the runtime's hand-over), and
        # serving it (the local moto server).
        at = records[release]["ended"]
        for r in path:
            step = f"{r['service']}:{r['operation']}"
            spans.setdefault(f"before {step}", []).append((r["began"] - at) * 1000.0)
            spans.setdefault(f"serving {step}", []).append((r["ended"] - r["began"]) * 1000.0)
            at = r["ended"]
    return {
        "median": statistics.median(counts),
        "operations": {k: round(v / len(counts), 2) for k, v in sorted(operations.items())},
        "breakdown_ms": {
            k: round(statistics.median(v), 1) for k, v in spans.items() if len(v) >= len(counts) / 2
        },
    }


def main() -> None:
    print(json.dumps(run(), indent=2))


if __name__ == "__main__":
    main()
