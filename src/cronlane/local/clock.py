"""The local runtime's clock: real (optionally scaled) or virtual.

``real`` follows wall time times ``1 / scale`` (``--time-scale 0.01``: a 900 s timeout lasts 9 real
seconds, and so do visibility timeouts, backoffs, leases and job durations, since they are all
measured on this clock); ``virtual`` moves only when the runtime advances it, once no environment
is executing code. The same clock drives moto's SQS visibility clock (``moto_patches``).
"""

from __future__ import annotations

from typing import Any

from cronlane.clock import ScaledClock


class RuntimeClock:
    """The runtime's clock: ``scaled`` follows wall time (times ``1 / scale``), ``virtual`` moves
    only when advanced."""

    def __init__(self, mode: str, start: float, scale: float = 1.0) -> None:
        if mode not in ("real", "virtual"):
            raise ValueError(f"clock must be 'real' or 'virtual', not {mode!r}")
        self.virtual = mode == "virtual"
        self.scale = scale
        self._now = start
        self._scaled = ScaledClock(start, scale)

    def now(self) -> float:
        return self._now if self.virtual else self._scaled.now()

    def restart(self, start: float) -> None:
        """Set the clock to ``start`` now (used after environments were warmed up)."""
        self._now = start
        self._scaled = ScaledClock(start, self.scale)

    def advance_to(self, when: float) -> None:
        if self.virtual and when > self._now:
            self._now = when

    def spec(self) -> tuple[Any, ...]:
        if self.virtual:
            return ("virtual", self._now)
        return ("scaled", self._scaled.origin, self._scaled.scale, self._scaled.real_origin)

    def real_seconds(self, clock_seconds: float) -> float:
        return clock_seconds * self.scale
