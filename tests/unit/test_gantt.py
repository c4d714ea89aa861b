"""The Gantt of a run (cronlane.timeline, drawn by cronlane.ui.render): a time axis with ticks, a
legend, one segment per attempt and continuation with the backoff, the queueing and the wait to
continue drawn as such, rows of their own for skipped jobs, hover text with each attempt's times
and error, and dependency arrows that stay out of the text; as HTML, SVG or PNG."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from cronlane import Catalog, Job, Schedule, Selection
from cronlane.inprocess import InProcess
from cronlane.simulated import long_params, sim_params
from cronlane.timeline import (
    BACKOFF,
    CONTINUATION,
    FAILED_ATTEMPT,
    QUEUED,
    Segment,
    build,
    segments_of,
    ticks,
)
from cronlane.ui import picture, render

START = 1_800_000_000.0 - 8 * 3600 + 2 * 3600  # 2027-01-15T02:00:00Z
SVG = "{http://www.w3.org/2000/svg}"


def finished_world() -> tuple[InProcess, str]:
    """A run with a retry (flakyJob fails once), a continued job (longJob: 40 minutes in 15-minute
    invocations), and a failure (brokenJob) that skips its dependent (afterBrokenJob)."""
    catalog = Catalog.build(
        [
            Job("flakyJob", "cronlane.simulated.simulate", "g", params={**sim_params(120, True)}),
            Job(
                "longJob",
                "cronlane.simulated.simulate_in_steps",
                "g",
                ("flakyJob",),
                timeout_s=900,
                params=long_params(2400, 300),
            ),
            Job("brokenJob", "cronlane.simulated.simulate", "g", max_attempts=2, params=sim_params(60, True)),
            Job("afterBrokenJob", "cronlane.simulated.simulate", "g", ("brokenJob",), params=sim_params(60)),
        ],
        [Schedule("nightly", "cron(0 2 * * ? *)", Selection.everything())],
    )
    world = InProcess(catalog, START)
    params = {"flakyJob": {"fail_attempts": 1}, "brokenJob": {"fail_attempts": 5}}
    run_id = world.act(action="trigger", schedule="nightly", idempotency_key="g", parameters=params)["run_id"]
    world.drain()
    return world, run_id


def read(world: InProcess, run_id: str) -> tuple[Any, list[Any]]:
    run = world.store.get_run(run_id)
    assert run is not None
    return run, world.store.job_runs(run_id)


def test_each_attempt_continuation_and_gap_is_a_segment_of_its_own() -> None:
    world, run_id = finished_world()
    run, jobs = read(world, run_id)
    line = build(run, jobs, START)
    rows = {r.job: r for r in line.rows}
    # queued behind brokenJob (one executor here), then its failed attempt, the backoff, the retry
    flaky = rows["flakyJob"].segments
    assert [s.kind for s in flaky] == [QUEUED, FAILED_ATTEMPT, BACKOFF, "attempt"]
    assert [s.attempt for s in flaky[1:]] == [1, 1, 2]
    assert (flaky[2].start - START, flaky[2].end - START) == (90.0, 120.0)
    assert flaky[1].error == "cronlane.simulated.SimulatedFailure: flakyJob: simulated failure on attempt 1"
    # 40 minutes in four invocations: three ended at a checkpoint, the last one succeeded
    long = rows["longJob"].segments
    assert [s.kind for s in long] == [CONTINUATION] * 3 + ["attempt"]
    assert long[0].detail == "continuation 1, 25% done"
    # the skipped job has a row with no segment, its reason, and when it was skipped
    skipped = rows["afterBrokenJob"]
    assert skipped.segments == () and skipped.reason == "upstream brokenJob failed"
    assert skipped.ended_at is not None
    # started rows first, by their start; the skipped one last
    assert line.rows[-1].job == "afterBrokenJob"
    assert {(a.upstream, a.dependent) for a in line.arrows} == {("flakyJob", "longJob")}


def test_the_svg_has_an_axis_a_legend_hover_text_and_arrows_clear_of_the_text() -> None:
    world, run_id = finished_world()
    run, jobs = read(world, run_id)
    svg = render.gantt_svg(run, jobs, START)
    root = ET.fromstring(svg)  # well-formed
    ticks_drawn = root.findall(f".//{SVG}text[@class='tick']")
    assert len(ticks_drawn) >= 4 and all(re.fullmatch(r"\d\d:\d\d", t.text or "") for t in ticks_drawn)
    assert len(root.findall(f".//{SVG}line[@class='grid']")) == len(ticks_drawn)
    legend = {t.get("data-legend") for t in root.findall(f".//{SVG}text[@data-legend]")}
    assert {"queued", "attempt", "failed attempt", "backoff", "continuation", "skipped"} <= legend
    tips = [t.text or "" for t in root.iter(f"{SVG}title")]
    assert any(
        "flakyJob: failed attempt (attempt 1), 02:00:30 to 02:01:30 UTC, 1m 00s; error: " in t
        and "simulated failure on attempt 1" in t
        for t in tips
    )
    assert any("afterBrokenJob: SKIPPED: upstream brokenJob failed" in t for t in tips)
    # each arrow runs in the plot, right of every label and status
    names = root.findall(f".//{SVG}text[@class='name']")
    right_of_text = max(float(n.get("x") or 0) for n in names) + render.STATUS_WIDTH
    for path in root.findall(f".//{SVG}path[@class='dep']"):
        xs = [float(v) for v in re.findall(r"[MH](-?[\d.]+)", path.get("d") or "")]
        assert min(xs) >= right_of_text


def test_ticks_fall_on_round_times_and_the_axis_spans_days_with_dates() -> None:
    hour = [t.label for t in ticks(START, START + 3600)]
    assert hour == ["02:00", "02:10", "02:20", "02:30", "02:40", "02:50", "03:00"]
    assert [t.label for t in ticks(START + 3, START + 40)][:2] == ["02:00:05", "02:00:10"]
    days = ticks(START, START + 3 * 86400)
    assert days[0].label == "01-15 12:00" and days[1].label == "01-16 00:00"


def test_two_hundred_jobs_stay_readable_and_the_png_is_a_picture() -> None:
    jobs = [Job(f"job{i:03d}", "cronlane.simulated.simulate", "g", (f"job{i - 1:03d}",) if i % 10 else (),
                params=sim_params(30)) for i in range(200)]  # fmt: skip
    catalog = Catalog.build(jobs, [Schedule("wide", "cron(0 2 * * ? *)", Selection.everything())])
    world = InProcess(catalog, START)
    run_id = world.tick("wide", START)["run_id"]
    world.drain()
    run, views = read(world, run_id)
    svg = render.gantt_svg(run, views, START)
    root = ET.fromstring(svg)
    assert len(root.findall(f".//{SVG}g[@class='row']")) == 200
    assert int(float(root.get("height") or 0)) <= 200 * 18 + 100  # rows 18 px high at this size
    data = picture.png(svg)
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_the_gaps_between_invocations_are_named_by_what_came_before() -> None:
    from dataclasses import replace

    from cronlane.model import JobRunView, JobStatus

    def at(minutes: float) -> str:
        from cronlane.clock import iso

        return iso(START + minutes * 60)

    base = JobRunView("r", "j", JobStatus.RUNNING, (), (), 2, 3, 900, "m.f", "g", 0, {})
    view = replace(
        base,
        enqueued_at=START,
        attempt_started_at=START + 30 * 60,
        continuations=[{"continuation": 1, "attempt": 2, "started_at": at(16), "finished_at": at(20)}],
        history=[{"attempt": 1, "started_at": at(1), "finished_at": at(15), "error": "boom"}],
    )
    segments = segments_of(view, START + 40 * 60)
    assert [(s.kind, (s.start - START) / 60, (s.end - START) / 60) for s in segments] == [
        (QUEUED, 0, 1),
        (FAILED_ATTEMPT, 1, 15),
        (BACKOFF, 15, 16),
        (CONTINUATION, 16, 20),
        ("waiting to continue", 20, 30),
        ("running", 30, 40),  # the attempt still running, up to now
    ]
    assert isinstance(segments[0], Segment)


def test_a_logs_insights_query_names_the_run_job_and_attempt_and_its_rows_read_back() -> None:
    import json

    from cronlane.joblogs import from_insights, insights_query, read_records

    query = insights_query("nightly@2026-12-01T02:00:00Z", "check", 2)
    assert query == (
        'fields @timestamp, @message | filter run_id = "nightly@2026-12-01T02:00:00Z" and job = "check"'
        " and attempt = 2 | sort @timestamp asc | limit 10000"
    )
    assert 'job = "a\\"b"' in insights_query("r", 'a"b', None)  # a quote cannot end the literal
    record = {"level": "INFO", "message": "job started", "run_id": "r", "job": "check", "attempt": 2}
    rows = [
        [
            {"field": "@timestamp", "value": "2026-12-01 02:04:05.250"},
            {"field": "@message", "value": json.dumps(record)},
        ]
    ]
    (line,) = from_insights(rows)
    assert (line.at, line.message, line.attempt) == (1796090645.25, "job started", 2)
    # the twin's files: only the run's lines of that job (and attempt), whatever else is there
    text = [
        json.dumps({**record, "timestamp": "2026-12-01 02:04:05,250+0000"}),
        json.dumps({**record, "job": "other", "timestamp": "2026-12-01 02:04:06,000+0000"}),
        json.dumps({**record, "attempt": 1, "timestamp": "2026-12-01 02:01:00,000+0000"}),
        "[local runtime] not a record",
    ]
    assert [ln.at for ln in read_records(text, "r", "check", 2)] == [1796090645.25]
    assert len(read_records(text, "r", "check", None)) == 2
