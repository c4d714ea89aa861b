"""What the in-process tests of a run's protocol share: the fire time of their ``nightly``
schedule, running one tick to the end, and a process that dies at a crash point."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from cronlane import faults
from cronlane.inprocess import InProcess

START = 1_800_000_000.0 - 8 * 3600 + 2 * 3600  # 2027-01-15T02:00:00Z: a fire time of "nightly"


class Crash(Exception):
    """The process dies here (the in-process world's stand-in for a killed environment)."""


def run_once(w: InProcess, schedule: str = "nightly") -> str:
    """Tick ``schedule`` at ``START`` and run every message; the run's id."""
    run_id = str(w.tick(schedule, START)["run_id"])
    w.drain()
    return run_id


@contextmanager
def crashing(
    point: str, where_: Callable[[dict[str, Any]], bool] = lambda where: True
) -> Iterator[list[dict[str, Any]]]:
    """While inside, the first time ``point`` is reached where ``where_`` holds, the process
    dies (``Crash``); yields the list that then holds where."""
    died: list[dict[str, Any]] = []

    def hook(name: str, where: dict[str, Any]) -> None:
        if name == point and not died and where_(where):
            died.append(where)
            raise Crash(point)

    faults.install(hook)
    try:
        yield died
    finally:
        faults.install(None)
