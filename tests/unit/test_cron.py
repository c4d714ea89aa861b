"""EventBridge schedule expressions: validation that names the field, and fire times."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from cronlane.clock import iso, parse_iso
from cronlane.cron import CronError, parse_expression


def times(expression: str, after: str, count: int) -> list[str]:
    return [iso(t) for t in parse_expression(expression).fire_times(parse_iso(after), count)]


def test_daily_at_two_fires_every_day_at_two_utc() -> None:
    assert times("cron(0 2 * * ? *)", "2026-11-28T02:00:00Z", 2) == [
        "2026-11-29T02:00:00Z",
        "2026-11-30T02:00:00Z",
    ]


def test_day_of_week_counts_one_to_seven_from_sunday() -> None:
    # EventBridge 2 = Monday; 2026-11-30 is a Monday.
    assert times("cron(0 9 ? * 2 *)", "2026-11-28T00:00:00Z", 1) == ["2026-11-30T09:00:00Z"]
    # 7 = Saturday (croniter alone would read 7 as Sunday).
    assert times("cron(0 9 ? * 7 *)", "2026-11-29T00:00:00Z", 1) == ["2026-12-05T09:00:00Z"]
    assert times("cron(0 9 ? * MON-FRI *)", "2026-11-28T00:00:00Z", 1) == ["2026-11-30T09:00:00Z"]


def test_last_friday_and_last_weekday_forms_croniter_rejects() -> None:
    assert times("cron(0 9 ? * 6L *)", "2026-11-01T00:00:00Z", 1) == ["2026-11-27T09:00:00Z"]
    assert times("cron(0 9 LW * ? *)", "2026-11-01T00:00:00Z", 1) == ["2026-11-30T09:00:00Z"]
    assert times("cron(0 9 ? * 2#1 *)", "2026-11-28T00:00:00Z", 1) == ["2026-12-07T09:00:00Z"]


def test_last_day_and_nearest_weekday_of_the_month() -> None:
    # L in day-of-month: the month's last day (30 November, then 31 December)
    assert times("cron(0 9 L * ? *)", "2026-11-01T00:00:00Z", 2) == [
        "2026-11-30T09:00:00Z",
        "2026-12-31T09:00:00Z",
    ]
    # 15W: the weekday nearest the 15th; 2026-11-15 is a Sunday, so Monday the 16th
    assert times("cron(0 9 15W * ? *)", "2026-11-01T00:00:00Z", 1) == ["2026-11-16T09:00:00Z"]
    # 1W never crosses into the month before: 2026-08-01 is a Saturday, so Monday the 3rd
    assert times("cron(0 9 1W * ? *)", "2026-07-15T00:00:00Z", 1) == ["2026-08-03T09:00:00Z"]


def test_l_alone_in_day_of_week_is_saturday() -> None:
    # EventBridge: L in day-of-week is the last day of the week, 7 = Saturday
    assert times("cron(0 9 ? * L *)", "2026-11-28T10:00:00Z", 2) == [
        "2026-12-05T09:00:00Z",
        "2026-12-12T09:00:00Z",
    ]


def test_a_year_field_far_ahead_is_reached_at_once() -> None:
    # croniter knows no year: walking minute by minute to 2150 would not end in practice
    assert times("cron(* * * * ? 2150)", "2026-11-28T00:00:00Z", 2) == [
        "2150-01-01T00:00:00Z",
        "2150-01-01T00:01:00Z",
    ]
    assert times("cron(0 12 1 1 ? 2020,2030-2031)", "2021-05-01T00:00:00Z", 3) == [
        "2030-01-01T12:00:00Z",
        "2031-01-01T12:00:00Z",
    ]
    latest = parse_expression("cron(0 12 1 1 ? 2020,2030)").latest_at_or_before(
        parse_iso("2029-06-01T00:00:00Z")
    )
    assert latest is not None and iso(latest) == "2020-01-01T12:00:00Z"


def test_rate_fires_every_period() -> None:
    assert parse_expression("rate(5 minutes)").fire_times(0, 2) == [300, 600]


def test_latest_fire_time_at_or_before() -> None:
    expression = parse_expression("cron(0 * * * ? *)")
    assert iso(expression.latest_at_or_before(parse_iso("2026-11-28T02:30:00Z"))) == "2026-11-28T02:00:00Z"
    assert iso(expression.latest_at_or_before(parse_iso("2026-11-28T02:00:00Z"))) == "2026-11-28T02:00:00Z"


@pytest.mark.parametrize(
    ("expression", "named"),
    [
        ("cron(0 2 * * *)", "6 fields"),
        ("cron(0 2 * * * *)", "exactly one of day-of-month"),
        ("cron(0 2 ? * ? *)", "exactly one of day-of-month"),
        ("cron(0 24 * * ? *)", "hours field '24'"),
        ("cron(60 2 * * ? *)", "minutes field '60'"),
        ("cron(0 2 * 13 ? *)", "month field '13'"),
        ("cron(0 2 ? * 8 *)", "day-of-week field '8'"),
        ("cron(0 2 ? * 0 *)", "day-of-week field '0'"),
        ("cron(0 2 ? * 2#6 *)", "week of the month"),
        ("cron(0 2 ? * 3#1,6#3 *)", "only one 'n#k'"),  # EventBridge refuses it too
        ("cron(0 2 * * ? 1800)", "year field '1800'"),
        ("rate(0 minutes)", "positive"),
        ("rate(1 minutes)", "singular"),
        ("rate(5 weeks)", "rate(N unit)"),
        ("every day", "cron(...)"),
    ],
)
def test_invalid_expressions_name_the_bad_field(expression: str, named: str) -> None:
    with pytest.raises(CronError, match=named.replace("(", r"\(").replace(")", r"\)")):
        parse_expression(expression)


# -- time zones: EventBridge Scheduler's DST rules ------------------------------------------------


def utc(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def utc_iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%MZ")


@pytest.mark.parametrize(
    ("zone", "after", "fires"),
    [
        # Europe/Berlin springs forward at 02:00 on 2026-03-29: 02:30 does not exist that day
        (
            "Europe/Berlin",
            "2026-03-27T12:00:00Z",
            ["2026-03-28T01:30Z", "2026-03-30T00:30Z", "2026-03-31T00:30Z"],
        ),
        # and falls back at 03:00 on 2026-10-25: 02:30 happens twice and fires once, the first time
        (
            "Europe/Berlin",
            "2026-10-23T12:00:00Z",
            ["2026-10-24T00:30Z", "2026-10-25T00:30Z", "2026-10-26T01:30Z"],
        ),
        # America/New_York springs forward at 02:00 on 2026-03-08
        (
            "America/New_York",
            "2026-03-06T12:00:00Z",
            ["2026-03-07T07:30Z", "2026-03-09T06:30Z", "2026-03-10T06:30Z"],
        ),
    ],
)
def test_a_daily_time_in_a_dst_gap_is_skipped_and_in_a_repeated_hour_fires_once(
    zone: str, after: str, fires: list[str]
) -> None:
    expression = parse_expression("cron(30 2 * * ? *)")
    assert [utc_iso(t) for t in expression.fire_times(utc(after), 3, zone)] == fires


def test_new_york_fall_back_fires_the_repeated_half_hour_once() -> None:
    # 01:30 happens twice on 2026-11-01 (EDT, then EST): once, at the first (05:30 UTC)
    expression = parse_expression("cron(30 1 * * ? *)")
    fires = expression.fire_times(utc("2026-10-31T12:00:00Z"), 3, "America/New_York")
    assert [utc_iso(t) for t in fires] == ["2026-11-01T05:30Z", "2026-11-02T06:30Z", "2026-11-03T06:30Z"]


@pytest.mark.parametrize(
    ("zone", "day_start", "count"),
    [
        ("Europe/Berlin", "2026-03-28T23:00:00Z", 23),  # spring-forward day: 23 local hours
        ("Europe/Berlin", "2026-10-24T22:00:00Z", 24),  # fall-back day: 25 hours, 02:00 fires once
        ("America/New_York", "2026-03-08T05:00:00Z", 23),
        ("America/New_York", "2026-11-01T04:00:00Z", 24),
    ],
)
def test_an_hourly_schedule_fires_once_per_local_hour_on_dst_days(
    zone: str, day_start: str, count: int
) -> None:
    expression = parse_expression("cron(0 * * * ? *)")
    start = utc(day_start)
    fires = expression.fire_times(start - 1, 30, zone)
    zone_info = ZoneInfo(zone)
    on_the_day = [
        t
        for t in fires
        if datetime.fromtimestamp(t, tz=zone_info).date()
        == datetime.fromtimestamp(start, tz=zone_info).date()
    ]
    assert len(on_the_day) == count
    assert len(set(on_the_day)) == count


def test_eventbridge_forms_croniter_rejects_work_in_a_zone() -> None:
    # 6L = the last Friday (EventBridge numbering), LW = the last weekday, at 09:00 Berlin time
    last_friday = parse_expression("cron(0 9 ? * 6L *)").fire_times(
        utc("2026-12-01T00:00:00Z"), 1, "Europe/Berlin"
    )
    assert [utc_iso(t) for t in last_friday] == ["2026-12-25T08:00Z"]
    last_weekday = parse_expression("cron(0 9 LW * ? *)").fire_times(
        utc("2026-05-01T00:00:00Z"), 1, "Europe/Berlin"
    )
    assert [utc_iso(t) for t in last_weekday] == ["2026-05-29T07:00Z"]
    second_monday = parse_expression("cron(0 9 ? * 2#2 *)").fire_times(
        utc("2026-11-01T00:00:00Z"), 1, "America/New_York"
    )
    assert [utc_iso(t) for t in second_monday] == ["2026-11-09T14:00Z"]


def test_the_latest_fire_time_respects_the_zone() -> None:
    expression = parse_expression("cron(30 2 * * ? *)")
    # on the morning after Berlin's spring-forward, the latest 02:30 is the day before
    latest = expression.latest_at_or_before(utc("2026-03-29T10:00:00Z"), "Europe/Berlin")
    assert latest is not None and utc_iso(latest) == "2026-03-28T01:30Z"


def test_an_unknown_zone_is_named() -> None:
    with pytest.raises(CronError, match="'Mars/Olympus' is not an IANA zone"):
        parse_expression("cron(0 9 * * ? *)").fire_times(0, 1, "Mars/Olympus")


@pytest.mark.parametrize(
    ("expression", "zone"),
    [("cron(0/5 * * * ? *)", None), ("cron(30 1 * * ? *)", "Europe/Berlin"), ("rate(7 minutes)", None)],
)
def test_fire_times_up_to_a_moment_are_those_of_the_long_walk_up_to_it(
    expression: str, zone: str | None
) -> None:
    # across the autumn change of Berlin's clocks (2026-10-25), a day and a half of fire times
    parsed = parse_expression(expression)
    after, until = parse_iso("2026-10-24T12:00:00Z"), parse_iso("2026-10-26T00:00:00Z")
    walked = [t for t in parsed.fire_times(after, 500, zone) if t <= until]
    assert parsed.fire_times(after, 500, zone, until=until) == walked
    assert walked and all(after < t <= until for t in walked)
