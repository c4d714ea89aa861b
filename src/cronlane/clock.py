"""Clocks. Logic never reads the time itself: it is handed a ``Clock``.

On AWS the clock is the system clock. The local runtime installs its own clock (scaled or
virtual) in each simulated Lambda environment *before* the handler module is imported, so the
handler's production default picks it up (see ``default_clock``).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch."""
        ...

    def sleep(self, seconds: float) -> None:
        """Let ``seconds`` of this clock's time pass."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class ScaledClock:
    """A clock that starts at ``origin`` and runs ``1 / scale`` times faster than wall time.

    ``scale`` is the local runtime's time-scale setting: with 0.01 a 900 s Lambda timeout lasts
    9 real seconds, and so do visibility timeouts, backoffs, leases and job durations, because
    they are all measured with this clock. Processes that share ``origin`` and ``real_origin``
    agree on the time without talking to each other.
    """

    def __init__(self, origin: float, scale: float, real_origin: float | None = None) -> None:
        if scale <= 0:
            raise ValueError(f"time scale must be positive, got {scale}")
        self.origin = origin
        self.scale = scale
        self.real_origin = time.time() if real_origin is None else real_origin

    def now(self) -> float:
        return self.origin + (time.time() - self.real_origin) / self.scale

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds * self.scale)


_default: Clock = SystemClock()


def default_clock() -> Clock:
    """The clock a handler uses when nobody passed one: the system clock on AWS."""
    return _default


def install_default_clock(clock: Clock) -> None:
    """Used by the local runtime, once per simulated Lambda environment, before the handler loads."""
    global _default
    _default = clock


def iso(ts: float) -> str:
    """ISO-8601 in UTC with a ``Z``, to the millisecond when there is a fraction."""
    dt = datetime.fromtimestamp(ts, tz=UTC)
    if dt.microsecond:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> float:
    """Parse an ISO-8601 time (``Z`` or an offset; a naive time is taken as UTC)."""
    dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()
