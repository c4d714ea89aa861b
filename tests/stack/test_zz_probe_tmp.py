import json, contextlib
from typing import Any
import pytest
from tests.stack.test_fuzz import *  # noqa
from tests.stack.test_fuzz import in_process  # noqa

pytestmark = pytest.mark.stack

def test_probe(in_process, monkeypatch):
    env = in_process
    d = env.dispatcher(monkeypatch)
    def h(ev):
        try:
            with contextlib.redirect_stdout(env.log):
                r = d.handle(ev)
            print("OK ", repr(ev)[:120], "->", repr(r)[:300])
        except BaseException as exc:
            print("RAISED", repr(ev)[:120], "->", type(exc).__name__, str(exc)[:300])
    h({"action": "cancel", "run_id": "x" * 3000})
    h({"action": "rerun", "run_id": "é" * 1100})
    h({"action": "mark", "run_id": "x" * 3000, "job": "a"})
    h({"action": "trigger", "jobs": ["feedFreshnessJob"], "idempotency_key": "abc\n"})
    h({"action": "trigger", "jobs": ["feedFreshnessJob"], "idempotency_key": ""})
    tick = env.runtime.scheduled_event("daily-full-sync", START)
    h({**tick, "time": "2026-11-28T02:00:00"})
    h({**tick, "time": 12345})
    deep: Any = 1
    for _ in range(5000): deep = [deep]
    h({"action": "trigger", "schedule": "hourly-feed", "parameters": {"feedRankingJob": {"duration_s": deep}}})
    h({"action": "trigger", "schedule": "hourly-feed", "parameters": {"feedRankingJob": {"duration_s": "inf"}}, "idempotency_key": "inf-1"})
    h({"action": "dlq-replay", "run_id": "x" * 3000})
    h({"action": "dlq-replay"})
    h({"action": "pause", "schedule": "hourly-feed", "reason": "\x00"})
    h({**tick, "resources": ["arn:aws:events:us-east-1:123456789012:rule/local-" + "x" * 3000]})

    res = d.handle({"action": "trigger", "jobs": ROOT_JOBS, "idempotency_key": "probe"})
    run_id = res["run_id"]
    queue_arn = env.runtime.stack.mappings[0].queue_arn
    fn = env.runtime.stack.functions["ExecutorFunction"]
    with executor_handler(env, monkeypatch) as handler:
        def x(body):
            rec = sqs_record("m-" + str(abs(hash(body)))[:10], body, "g", queue_arn)
            try:
                with contextlib.redirect_stdout(env.log):
                    r = handler({"Records": [rec]}, FakeLambdaContext(fn.name, env.clock, fn.timeout_s))
                print("EXEC OK", body[:80], "->", r)
            except BaseException as exc:
                print("EXEC RAISED", body[:80], type(exc).__name__, str(exc)[:300])
        x("[" * 100000 + "]" * 100000)
        x('{"a":' * 5000 + "1" + "}" * 5000)
        x(json.dumps({"run_id": "x" * 3000, "job": "feedFreshnessJob"}))
        x(json.dumps({"run_id": run_id, "job": "j" * 1100}))
        x(json.dumps({"run_id": "r", "job": "j", "generation": 10**40}))
        x(json.dumps({"run_id": "r", "job": "j", "generation": 10**4400 if False else 2**64}))
        x('{"run_id": "r", "job": "j", "generation": 1' + "0" * 5000 + "}")
        x(json.dumps({"run_id": run_id, "job": "feedFreshnessJob", "generation": 5}))
        x(json.dumps({"run_id": "\x7f", "job": "j"}))
        x("x" * 300_000)
    print(env.sqs.receive_message(QueueUrl=env.runtime.stack.outputs["DeadLetterQueueUrl"], MaxNumberOfMessages=10, MessageAttributeNames=["All"]).get("Messages", [])[:0])
    print("DLQ depth", env.queue_depth("DeadLetterQueueUrl"))
