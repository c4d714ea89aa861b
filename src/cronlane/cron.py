"""EventBridge schedule expressions: validation and fire times (UTC, or an IANA time zone as
EventBridge Scheduler evaluates it). Pure, no AWS.

EventBridge speaks its own cron dialect (docs/aws-facts.md: EventBridge): six fields
``cron(minutes hours day-of-month month day-of-week year)``, one of the two day fields must be
``?``, day-of-week counts 1-7 = SUN-SAT, and ``L``, ``W`` and ``#`` are allowed. croniter speaks
Unix cron (day-of-week 0-6, and it reads 7 as Sunday), so an expression is validated here field by
field, then *translated* for croniter; the forms croniter rejects (``6L`` = last Friday, ``LW`` =
last weekday) are computed as a filter over a wider croniter expression.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter

from cronlane.errors import CronlaneError


class CronError(CronlaneError, ValueError):
    """An invalid schedule expression; the message names the bad field."""


MONTHS = {
    m: i
    for i, m in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], start=1
    )
}
DAYS = {d: i for i, d in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], start=1)}

FIELDS: list[tuple[str, int, int, dict[str, int], str]] = [
    # name, low, high, names, specials allowed
    ("minutes", 0, 59, {}, ""),
    ("hours", 0, 23, {}, ""),
    ("day-of-month", 1, 31, {}, "?LW"),
    ("month", 1, 12, MONTHS, ""),
    ("day-of-week", 1, 7, DAYS, "?L#"),
    ("year", 1970, 2199, {}, ""),
]

RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


@dataclass(frozen=True)
class RateExpression:
    text: str
    seconds: int

    def fire_times(
        self,
        after: float,
        count: int,
        timezone: str | None = None,
        anchor: float = 0.0,
        until: float | None = None,
    ) -> list[float]:
        """Fire times strictly after ``after``. A rate rule fires every period from when it was
        created; ``anchor`` is that moment (the epoch when unknown). A rate is a period of real
        time, the same in every zone: ``timezone`` is only checked."""
        _zone(timezone)
        start = anchor + ((after - anchor) // self.seconds + 1) * self.seconds
        times = [start + i * self.seconds for i in range(count)]
        return times if until is None else [t for t in times if t <= until]

    def latest_at_or_before(self, when: float, timezone: str | None = None, anchor: float = 0.0) -> float:
        _zone(timezone)
        return anchor + ((when - anchor) // self.seconds) * self.seconds


UNTIL_SLACK_S = 3 * 3600.0  # more than any DST shift: a local time's instant is never that far back


@dataclass(frozen=True)
class CronExpression:
    text: str
    fields: tuple[str, ...]  # the six EventBridge fields, upper-cased
    unix: str  # the croniter translation (5 fields)
    last_weekday_of_month: bool  # LW
    last_dow: int | None  # nL: last <weekday n, EventBridge numbering> of the month
    years: frozenset[int] | None

    def _matches(self, dt: datetime) -> bool:
        if self.years is not None and dt.year not in self.years:
            return False
        month_len = calendar.monthrange(dt.year, dt.month)[1]
        if self.last_weekday_of_month:
            last = datetime(dt.year, dt.month, month_len)
            while last.weekday() >= 5:
                last -= timedelta(days=1)
            if dt.day != last.day:
                return False
        return not (self.last_dow is not None and dt.day + 7 <= month_len)

    def fire_times(
        self, after: float, count: int, timezone: str | None = None, until: float | None = None
    ) -> list[float]:
        """The next ``count`` fire times strictly after ``after`` (UTC epoch seconds), and with
        ``until`` none later than that (the walk stops there: a tick's missed-run check looks
        back minutes, not ``count`` fire times ahead).

        With ``timezone`` (IANA) the fields are local wall-clock times there, with EventBridge
        Scheduler's DST rules: a local time that does not exist (the spring-forward gap) does not
        fire, and one that happens twice (the fall-back hour) fires once, at its first occurrence.
        croniter does the opposite of both with an aware start (docs/aws-facts.md), so it walks naive
        local times here and the zone is applied to each.
        """
        zone = _zone(timezone)
        # Naive local time a little before ``after``: a repeated hour may map back before it.
        start = datetime.fromtimestamp(after, tz=zone).replace(tzinfo=None) - timedelta(hours=3)
        it = croniter(self.unix, start)
        out: list[float] = []
        while len(out) < count:
            try:
                local = it.get_next(datetime)
            except CroniterBadDateError:  # a date that never exists, such as 31 February
                break
            if self.years and local.year not in self.years:
                # croniter knows no year field: jump to the next allowed year, not minute by minute
                later = [y for y in self.years if y > local.year]
                if not later:
                    break
                it = croniter(self.unix, datetime(min(later), 1, 1) - timedelta(seconds=1))
                continue
            when = _instant(local, zone)
            if when is not None and until is not None and when > until + UNTIL_SLACK_S:
                break  # local times only go forward: past ``until`` by more than a DST shift
            if when is not None and when > after and self._matches(local):
                out.append(when)
        return out if until is None else [t for t in out if t <= until]

    def latest_at_or_before(self, when: float, timezone: str | None = None) -> float | None:
        zone = _zone(timezone)
        start = datetime.fromtimestamp(when, tz=zone).replace(tzinfo=None) + timedelta(hours=3)
        it = croniter(self.unix, start)
        for _ in range(100_000):
            try:
                local = it.get_prev(datetime)
            except CroniterBadDateError:
                return None
            if self.years and local.year not in self.years:
                earlier = [y for y in self.years if y < local.year]
                if not earlier:
                    return None
                it = croniter(self.unix, datetime(max(earlier) + 1, 1, 1))
                continue
            instant = _instant(local, zone)
            if instant is not None and instant <= when and self._matches(local):
                return instant
        return None


def _zone(timezone: str | None) -> ZoneInfo:
    if timezone is None or timezone == "UTC":
        return ZoneInfo("UTC")
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise CronError(f"time zone {timezone!r} is not an IANA zone name (like 'Europe/Berlin')") from None


def _instant(local: datetime, zone: ZoneInfo) -> float | None:
    """The UTC instant of a naive local time in ``zone``: None if that local time does not exist
    (skipped by a DST change); the first of the two if it happens twice."""
    aware = local.replace(tzinfo=zone, fold=0)
    if aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != local:
        return None
    return aware.timestamp()


def check_timezone(timezone: str) -> str:
    """``timezone`` if it is an IANA zone name; ``CronError`` naming it otherwise."""
    _zone(timezone)
    return timezone


Expression = RateExpression | CronExpression


def parse_expression(text: str) -> Expression:
    """Parse ``cron(...)`` or ``rate(...)`` as EventBridge does; ``CronError`` names the bad field."""
    text = text.strip()
    if text.startswith("rate("):
        match = RATE.match(text)
        if not match:
            raise CronError(
                f"{text}: a rate is 'rate(N unit)' with N a positive integer and unit "
                "minute(s), hour(s) or day(s)"
            )
        value, unit = int(match.group(1)), match.group(2)
        if value <= 0:
            raise CronError(f"{text}: the rate value must be positive")
        if (value == 1) != (not unit.endswith("s")):
            raise CronError(f"{text}: use the singular unit for 1 and the plural otherwise")
        return RateExpression(text, value * UNIT_SECONDS[unit.rstrip("s")])
    if not (text.startswith("cron(") and text.endswith(")")):
        raise CronError(f"{text!r}: an EventBridge schedule is 'cron(...)' or 'rate(...)'")
    fields = text[5:-1].upper().split()
    if len(fields) != 6:
        raise CronError(
            f"{text}: EventBridge cron has 6 fields (minutes hours day-of-month month day-of-week "
            f"year), got {len(fields)}"
        )
    for (name, low, high, names, specials), field_text in zip(FIELDS, fields, strict=True):
        _check_field(text, name, field_text, low, high, names, specials)
    dom, dow = fields[2], fields[4]
    if (dom == "?") == (dow == "?"):
        raise CronError(
            f"{text}: exactly one of day-of-month ('{dom}') and day-of-week ('{dow}') must be '?'"
        )
    unix_dom = "*" if dom == "?" else dom
    last_weekday = unix_dom == "LW"
    if last_weekday:
        unix_dom = "*"
    last_dow = None
    unix_dow = "*"
    if dow != "?":
        m = re.fullmatch(r"([1-7]|[A-Z]{3})L", dow)
        if m:
            last_dow = _value(m.group(1), DAYS)
            unix_dow = str(last_dow - 1)
        elif dow == "L":
            unix_dow = "6"  # L alone in day-of-week is the last day of the week: Saturday
        else:
            unix_dow = _translate_dow(dow)
    years = None
    if fields[5] != "*":
        years = frozenset(_expand(fields[5], 1970, 2199, {}))
    unix = " ".join([fields[0], fields[1], unix_dom, fields[3], unix_dow])
    if not croniter.is_valid(unix):
        raise CronError(f"{text}: cannot be evaluated (translated to '{unix}')")
    return CronExpression(text, tuple(fields), unix, last_weekday, last_dow, years)


def _value(token: str, names: dict[str, int]) -> int:
    return names[token] if token in names else int(token)


def _check_field(
    text: str, name: str, value: str, low: int, high: int, names: dict[str, int], specials: str
) -> None:
    def bad(why: str) -> CronError:
        return CronError(f"{text}: {name} field '{value}': {why}")

    if value == "?":
        if "?" not in specials:
            raise bad("'?' is allowed only in day-of-month and day-of-week")
        return
    for part in value.split(","):
        if part == "*":
            continue
        if "L" in specials and name == "day-of-month" and part in ("L", "LW"):
            continue
        if "W" in specials and re.fullmatch(r"\d+W", part):
            if value != part:
                raise bad(f"'{part}' (the nearest weekday) cannot be combined in a list")
            _in_range(bad, int(part[:-1]), low, high)
            continue
        if name == "day-of-week" and part == "L":
            continue
        if name == "day-of-week" and re.fullmatch(r"([1-7]|[A-Z]{3})L", part):
            if value != part:
                raise bad(f"'{part}' (the last such weekday) cannot be combined in a list")
            _name_or_number(bad, part[:-1], low, high, names)
            continue
        if "#" in specials and "#" in part:
            if sum("#" in other for other in value.split(",")) > 1:
                # EventBridge refuses more than one n#k: one nth weekday of the month only
                raise bad("only one 'n#k' (the nth such weekday) is allowed")
            day, _, nth = part.partition("#")
            _name_or_number(bad, day, low, high, names)
            if not nth.isdigit() or not 1 <= int(nth) <= 5:
                raise bad(f"'#{nth}': the week of the month must be 1-5")
            continue
        base, slash, step = part.partition("/")
        if slash and (not step.isdigit() or int(step) == 0):
            raise bad(f"step '{step}' must be a positive integer")
        if base == "*":
            continue
        start, dash, end = base.partition("-")
        first = _name_or_number(bad, start, low, high, names)
        if dash:
            last = _name_or_number(bad, end, low, high, names)
            if last < first and name not in ("day-of-week", "month"):
                raise bad(f"range {start}-{end} runs backwards")


def _name_or_number(bad, token: str, low: int, high: int, names: dict[str, int]) -> int:  # type: ignore[no-untyped-def]
    if token in names:
        return names[token]
    if not token.isdigit():
        allowed = f"{low}-{high}"
        if names:
            ordered = sorted(names, key=lambda n: names[n])
            allowed += f" or {ordered[0]}-{ordered[-1]}"
        raise bad(f"'{token}' is not a value ({allowed})")
    return _in_range(bad, int(token), low, high)


def _in_range(bad, number: int, low: int, high: int) -> int:  # type: ignore[no-untyped-def]
    if not low <= number <= high:
        raise bad(f"value {number} is out of range {low}-{high}")
    return number


def _translate_dow(dow: str) -> str:
    """EventBridge 1-7 = SUN-SAT to Unix 0-6 = SUN-SAT (croniter would read 7 as Sunday)."""

    def one(token: str) -> str:
        return str(DAYS[token] - 1) if token in DAYS else str(int(token) - 1)

    out = []
    for part in dow.split(","):
        if "#" in part:
            day, _, nth = part.partition("#")
            out.append(f"{one(day)}#{nth}")
            continue
        base, slash, step = part.partition("/")
        if base == "*":
            translated = "*"
        elif "-" in base:
            a, b = base.split("-")
            translated = f"{one(a)}-{one(b)}"
        else:
            translated = one(base)
        out.append(translated + (f"/{step}" if slash else ""))
    return ",".join(out)


def _expand(field: str, low: int, high: int, names: dict[str, int]) -> list[int]:
    values: list[int] = []
    for part in field.split(","):
        base, slash, step_text = part.partition("/")
        step = int(step_text) if slash else 1
        if base == "*":
            a, b = low, high
        elif "-" in base:
            a, b = (_value(x, names) for x in base.split("-"))
        else:
            a = _value(base, names)
            b = high if slash else a
        values.extend(range(a, b + 1, step))
    return values
