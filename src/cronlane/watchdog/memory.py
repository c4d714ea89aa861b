"""The watchdog in a process: the armed checks, by run, for a driver to fire when they fall due
(``cronlane.inprocess``)."""

from __future__ import annotations

import threading


class MemoryWatchdog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.armed: dict[str, float] = {}  # run id -> when its check falls due

    def arm(self, run_id: str, due: float) -> None:
        with self._lock:
            self.armed[run_id] = due

    def disarm(self, run_id: str) -> None:
        with self._lock:
            self.armed.pop(run_id, None)

    def due(self, now: float) -> list[str]:
        """The runs whose checks fall due by ``now``, taken off (a one-time check is gone once it fired)."""
        with self._lock:
            fired = sorted((at, run_id) for run_id, at in self.armed.items() if at <= now)
            for _, run_id in fired:
                del self.armed[run_id]
            return [run_id for _, run_id in fired]

    def next_due(self) -> float | None:
        with self._lock:
            return min(self.armed.values(), default=None)
