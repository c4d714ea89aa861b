"""Width on the stack: a wide join and a wide fork billed from the requests themselves
(``benchmarks.cost``), bounded per job, and the in-memory store's bill (``cronlane.store.metered``,
what the tests and benchmarks at 5,000 use) held to it."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks import cost
from benchmarks.synthetic import environment
from benchmarks.width import modelled

WIDTH = 60  # over the join threshold and over the lists an item keeps (cronlane.joins, model.LISTS_KEPT)


@pytest.fixture(scope="module")
def billed() -> dict[str, dict[str, Any]]:
    return {kind: cost.measure(environment(kind, WIDTH), f"{kind} {WIDTH}") for kind in ("fanin", "fanout")}


@pytest.mark.parametrize("kind", ["fanin", "fanout"])
def test_a_wide_join_and_a_wide_fork_cost_a_bounded_number_of_units_per_job(
    billed: dict[str, dict[str, Any]], kind: str
) -> None:
    per_job = billed[kind]["per_job"]
    assert per_job["dynamodb_read_units"] <= 5, per_job
    assert per_job["dynamodb_write_units"] <= 5, per_job
    # no job-run item carries the wide job's lists (they are in the graph snapshot)
    assert billed[kind]["largest_item_bytes"] < 1500, billed[kind]["largest_item_bytes"]


@pytest.mark.parametrize("kind", ["fanin", "fanout"])
def test_the_in_memory_bill_is_within_a_quarter_of_the_stacks(
    billed: dict[str, dict[str, Any]], kind: str
) -> None:
    model = modelled(kind, WIDTH)
    per_job = billed[kind]["per_job"]
    assert model["reads_per_job"] == pytest.approx(per_job["dynamodb_read_units"], rel=0.25), (model, per_job)
    assert model["writes_per_job"] == pytest.approx(per_job["dynamodb_write_units"], rel=0.25), (
        model,
        per_job,
    )


SPREAD_WIDTH = (
    250  # a run of 251 jobs: spread over ten keys (store.keys), a join of three shards and a top set
)


@pytest.mark.parametrize("kind", ["fanin", "fanout"])
def test_a_spread_run_succeeds_on_the_stack_at_a_bounded_cost_per_job(kind: str) -> None:
    measured = cost.measure(environment(kind, SPREAD_WIDTH), f"{kind} {SPREAD_WIDTH}")  # asserts SUCCEEDED
    assert measured["jobs"] == SPREAD_WIDTH + 1
    per_job = measured["per_job"]
    assert per_job["dynamodb_read_units"] <= 5 and per_job["dynamodb_write_units"] <= 5, per_job
    model = modelled(kind, SPREAD_WIDTH)
    assert model["writes_per_job"] == pytest.approx(per_job["dynamodb_write_units"], rel=0.25), (
        model,
        per_job,
    )
