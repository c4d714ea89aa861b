"""The audit trail (cronlane.audit): each operator action the dispatcher carries out is recorded
with who asked, when, what and why; reads, dry runs and refused requests are not. On the
in-process pipeline, read back as ``cronlane audit`` and ``cronlane run`` read it."""

from __future__ import annotations

import itertools
from typing import Any

from cronlane import Catalog, Job, Param, Schedule, Selection
from cronlane.audit import UNNAMED
from cronlane.inprocess import InProcess

START = 1_800_000_000.0 - 8 * 3600 + 2 * 3600  # 2027-01-15T02:00:00Z: a fire time
ALICE = {"actor": "arn:aws:iam::123456789012:user/alice", "reason": "INC-42: the feed was stale"}


def world() -> InProcess:
    def function(spec: str) -> Any:
        def run(ctx: Any) -> None:
            ctx.sleep(60)
            if ctx.params.get("fail"):
                raise RuntimeError("broke")

        return run

    catalog = Catalog.build(
        [
            Job("load", "app.jobs.load", "g", max_attempts=1, params={"fail": Param("bool", False)}),
            Job("index", "app.jobs.index", "g", ("load",)),
        ],
        [Schedule("nightly", "cron(0 2 * * ? *)", Selection.everything())],
    )
    return InProcess(catalog, START, import_function=function)


def act(w: InProcess, **event: Any) -> dict[str, Any]:
    answer = w.act(**event, audit=ALICE)
    assert "error" not in answer, answer
    return answer


def test_each_action_is_recorded_with_who_when_what_and_why() -> None:
    w = world()
    failing = act(
        w, action="trigger", schedule="nightly", idempotency_key="a", parameters={"load": {"fail": True}}
    )
    run_id = failing["run_id"]
    w.drain()
    act(w, action="dlq-replay", all=True)
    w.drain()
    act(w, action="rerun", run_id=run_id, parameters={"load": {"fail": False}})
    w.drain()
    other = act(w, action="trigger", schedule="nightly", idempotency_key="b")["run_id"]
    # (both of its jobs wait: cancelled before they start)
    act(w, action="cancel", run_id=other)
    act(w, action="mark", run_id=other, job="index")
    act(w, action="pause", schedule="nightly", reason="the warehouse is down")
    act(w, action="resume", schedule="nightly")
    w.clock.advance_to(START + 3 * 86_400)
    act(
        w,
        action="backfill",
        schedule="nightly",
        **{"from": "2027-01-16T02:00:00Z", "to": "2027-01-17T02:00:00Z"},
    )
    entries = w.store.audit_entries(0)
    assert [e.action for e in entries] == [
        "trigger", "dlq-replay", "rerun", "trigger", "cancel", "mark", "pause", "resume", "backfill",
    ]  # fmt: skip
    assert {e.actor for e in entries} == {ALICE["actor"]} and {e.reason for e in entries} == {ALICE["reason"]}
    assert [e.run_id for e in entries][:6] == [run_id, None, run_id, other, other, other]
    assert entries[0].detail["parameters"] == ["load.fail"]  # the names, never the values
    assert entries[4].detail["cancelled"] == 2 and entries[5].detail["job"] == "index"
    assert entries[6].schedule == "nightly" and entries[8].detail["created"] == 2
    assert entries[1].detail["replayed"] == 1
    assert all(a.at <= b.at for a, b in itertools.pairwise(entries))
    # read as cronlane run reads it: the entries of one run; as cronlane audit --schedule does
    assert [e.action for e in w.store.audit_entries(0, run_id=other)] == ["trigger", "cancel", "mark"]
    assert [e.action for e in w.store.audit_entries(START + 86_400, schedule="nightly")] == ["backfill"]


def test_reads_dry_runs_refusals_and_the_runs_own_checks_are_not_recorded() -> None:
    w = world()
    w.act(action="dlq-list", audit=ALICE)
    w.act(action="dlq-replay", all=True, dry_run=True, audit=ALICE)
    assert "error" in w.act(action="cancel", run_id="manual@nothing", audit=ALICE)
    w.tick("nightly", START)  # a tick is not an operator's action
    w.drain()
    assert w.store.audit_entries(0) == []


def test_an_action_that_names_no_one_is_recorded_as_asked_by_an_unnamed_caller() -> None:
    w = world()
    w.act(action="pause", schedule="nightly")
    (entry,) = w.store.audit_entries(0)
    assert (entry.actor, entry.reason) == (UNNAMED, "paused by an operator")


def test_a_malformed_audit_field_is_refused_and_nothing_is_done() -> None:
    w = world()
    answer = w.act(action="pause", schedule="nightly", audit={"actor": 42})
    assert answer["error"] == "field 'audit.actor': must be a string of at most 256 characters"
    answer = w.act(action="pause", schedule="nightly", audit={"who": "bob"})
    assert answer["error"] == "field 'audit': must be an object with 'actor' and 'reason' (strings)"
    assert w.store.paused_reason("nightly") is None and w.store.audit_entries(0) == []
