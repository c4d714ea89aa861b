"""The hand-off's requests on the local runtime: from an upstream's finish to its dependent's
claim, on a chain of no-op jobs with the default ``max_concurrent=1``. Lanes, results and run
events added nothing to that path: the send, the receive and the claim (the release does not
read the dependent: its claim checks that it waits; ``benchmarks/handoff.py`` counts them as
``handoff_requests``, and reports them by operation)."""

from __future__ import annotations

import pytest

from benchmarks import handoff

pytestmark = [pytest.mark.stack, pytest.mark.xdist_group("handoff")]


def test_a_hand_off_makes_three_requests_and_reads_nothing() -> None:
    figures = handoff.run(links=6)
    assert figures["handoffs"] == 5
    assert figures["handoff_requests"] == 3
    by_operation = figures["handoff_requests_by_operation"]
    # every hand-off made exactly these (a run event is published after the send, off the path)
    assert {k for k, v in by_operation.items() if v == 1.0} == {
        "sqs:SendMessageBatch",
        "sqs:ReceiveMessage",
        "dynamodb:PutItem",
    }
    assert not any(k.startswith(("dynamodb:GetItem", "dynamodb:BatchGetItem")) for k in by_operation)
    # no job's end event is on the path: each is published after its job's send
    assert "events:PutEvents" not in by_operation
    # the run events were published all the same: one per job-run and one for the run
    assert figures["run_events"] == 7
