"""EventBridge schedule expressions: validation that names the field, and fire times."""

from __future__ import annotations

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
