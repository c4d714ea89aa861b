"""``make scale``'s model, on a day small enough to count by hand (``benchmarks/scale.py``): a
fan-in and a fan-out of 150 one-second jobs, one run each, five environments at most, no
overhead. What it counts must be what those runs do."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks import scale

WIDTH = 150  # a run of at most 200 jobs keeps its items under one partition key (store.keys)
SMALL = scale.Day(tenants=0, graph_jobs=0, fan_width=WIDTH, hours=2, concurrency=5, overhead_s=0.0)


@pytest.fixture(scope="module")
def figures() -> dict[str, Any]:
    return scale.simulate(SMALL, parts=1)


def test_every_job_of_the_day_runs_once(figures: dict[str, Any]) -> None:
    # one tick of each schedule in two hours (00:30 and 01:00): 2 runs of WIDTH + 1 jobs
    assert figures["ticks"] == 2 and figures["runs"] == 2
    assert figures["jobs"] == 2 * (WIDTH + 1)
    assert figures["runs_not_succeeded"] == {} and figures["left_in_queue"] == 0
    assert figures["dead_letters"] == 0


def test_sqs_requests_are_counted_as_the_mapping_and_the_senders_make_them(figures: dict[str, Any]) -> None:
    by_api = dict(figures["sqs_total_by_api"])
    # the mapping receives each message once (batch size 1) and deletes it
    assert by_api["ReceiveMessage"] == by_api["DeleteMessage"] == 2 * (WIDTH + 1)
    # sends in batches of 10: the fan-in's roots, then its join; the fan-out's hub, then its
    # dependents
    assert by_api["SendMessageBatch"] == (WIDTH // 10 + 1) + (1 + WIDTH // 10) == 32


def test_concurrency_is_the_environments_plus_the_dispatcher_in_its_second(figures: dict[str, Any]) -> None:
    assert figures["peak_concurrency"] == 5 + 1
    assert figures["environments_started"] == 5


def test_the_busiest_partition_second_is_five_jobs_of_three_writes_and_two_shards_filled(
    figures: dict[str, Any],
) -> None:
    # every second five one-second jobs end on the run's partition key, each with three writes
    # of one unit: its claim, its success, and its join shard (fan-in) or sink shard (fan-out);
    # the fan-in's 150 upstreams are dealt out to two join shards in turn, which both fill in
    # its last second (upstreams 148 and 149): two writes more, each shard's number into the
    # join's top set
    assert figures["peak_partition_wcu"] == 5 * 3 + 2
    assert figures["hottest_write_partition"].startswith("RUN#wide-fan-")
    assert figures["throttles"] == 0


def test_a_quota_the_day_goes_over_is_named() -> None:
    tight = scale.simulate(SMALL, parts=1, quotas=scale.Quotas(partition_wcu=10, sqs_group_tps=1))
    assert tight["throttles"] == len(tight["throttled"]) >= 3
    partitions = [t for t in tight["throttled"] if t.startswith("partition RUN#wide-fan-")]
    # both runs' keys: 15 or 16 write units in a second
    assert len(partitions) == 2, tight["throttled"]
    assert any(t.startswith("SQS message group") for t in tight["throttled"])


def test_the_scale_line_is_bare_integers(figures: dict[str, Any]) -> None:
    line = scale.line(figures)
    keys = [pair.split("=")[0] for pair in line.removeprefix("scale: ").split()]
    assert keys == list(scale.LINE_KEYS)
    assert all(pair.split("=")[1].isdigit() for pair in line.removeprefix("scale: ").split())


def test_a_run_of_more_than_200_jobs_spreads_its_writes_over_ten_keys() -> None:
    # 10 one-second jobs end every second, three writes each: 30 units a second on one key
    # if the run kept one; spread over ten keys by the jobs' names, no key takes them all
    wide = scale.simulate(
        scale.Day(tenants=0, graph_jobs=0, fan_width=400, hours=2, concurrency=10, overhead_s=0.0), parts=1
    )
    assert wide["jobs"] == 2 * 401 and wide["runs_not_succeeded"] == {}
    assert wide["peak_partition_wcu"] < 10 * 3 / 2, wide["hottest_write_partition"]
    assert wide["hottest_write_partition"].rsplit("#", 1)[1].isdigit()  # one of RUN#<id>#<k>
