"""What DynamoDB would bill for a store's requests, without DynamoDB: read and write units per
request, per partition key and per second, from the size of the items a request touches
(``item_size``, DynamoDB's rules for an item's size as the developer guide gives them).

The in-memory store is wrapped in ``MeteredStore`` (``cronlane.store.metered``) to measure a run
of any width in seconds (``benchmarks/width.py``, ``make scale``); on the stack the bill comes
from the requests themselves (``benchmarks.billing``), and a test holds the two together.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import math
from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import Any

READ_UNIT = 4096  # bytes per read unit (a strongly consistent read; eventually consistent: half)
WRITE_UNIT = 1024  # bytes per write unit
TABLE = "*"  # the whole table, in the peaks


def item_size(value: Any) -> int:
    """The size DynamoDB counts for a value (an item: a mapping or a dataclass of attributes):
    names and strings in UTF-8 bytes, a number about a byte per two digits plus one, a list or
    map 3 bytes plus a byte per element, null and booleans a byte; empty attributes are not
    stored."""
    kind = type(value)
    if kind is str:
        return len(value.encode()) if not value.isascii() else len(value)
    if value is None or kind is bool:
        return 1
    if kind is int or kind is float:
        digits = len(repr(value).lstrip("-").replace(".", "").lstrip("0")) or 1
        return (digits + 1) // 2 + 1
    if isinstance(value, enum.Enum):
        return item_size(value.value)
    if kind is list or kind is tuple:
        return 3 + sum(1 + item_size(v) for v in value)
    if isinstance(value, Mapping):
        return sum(len(str(k)) + item_size(v) for k, v in value.items() if _stored(v))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        names: tuple[str, ...] = _field_names(kind)  # type: ignore[arg-type]
        total = 0
        for name in names:
            attribute = getattr(value, name)
            if _stored(attribute):
                total += len(name) + item_size(attribute)
        return total
    if isinstance(value, set | frozenset):
        return sum(item_size(v) for v in value)
    if isinstance(value, bytes):
        return len(value)
    if isinstance(value, int | float):
        return item_size(float(value))
    return len(str(value))


@functools.cache
def _field_names(kind: Any) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(kind))


def _stored(value: Any) -> bool:
    if value is None:
        return False
    if type(value) in (str, list, tuple, dict, set, frozenset, bytes):
        return len(value) > 0
    return True


class Capacity:
    """Read and write units consumed, in all, per partition key, and in the busiest second of
    each partition key and of the table (what a partition, or the table's on-demand quota, must
    sustain). Seconds are those of ``now``, which must not go back."""

    def __init__(self, now: Callable[[], float] | None = None) -> None:
        self.now = now
        self.rru = 0.0
        self.wru = 0.0
        self.reads: defaultdict[str, float] = defaultdict(float)  # partition key -> read units
        self.writes: defaultdict[str, float] = defaultdict(float)
        # (kind, key) -> the most units in one second; TABLE: the whole table's
        self.peaks: defaultdict[tuple[str, str], float] = defaultdict(float)
        self._second: dict[tuple[str, str], tuple[int, float]] = {}  # (kind, key) -> (second, units)
        # the table's units in each second, by kind (``read``, ``write``)
        self.table_seconds: dict[str, defaultdict[int, float]] = {
            "read": defaultdict(float),
            "write": defaultdict(float),
        }

    def read(self, key: str, size: int, consistent: bool = True) -> None:
        units = math.ceil(max(size, 1) / READ_UNIT) * (1.0 if consistent else 0.5)
        self.rru += units
        self.reads[key] += units
        self._tick("read", key, units)

    def write(self, key: str, size: int, transaction: bool = False) -> None:
        units = float(math.ceil(max(size, 1) / WRITE_UNIT) * (2 if transaction else 1))
        self.wru += units
        self.writes[key] += units
        self._tick("write", key, units)

    def _tick(self, kind: str, key: str, units: float) -> None:
        if self.now is None:
            return
        second = int(self.now())
        self.table_seconds[kind][second] += units
        for where in ((kind, key), (kind, TABLE)):
            at, so_far = self._second.get(where, (second, 0.0))
            so_far = so_far + units if at == second else units
            self._second[where] = (second, so_far)
            self.peaks[where] = max(self.peaks[where], so_far)

    def peak(self, kind: str) -> tuple[float, str]:
        """The most units of ``kind`` (``read`` or ``write``) one partition key took in one
        second, and that key."""
        best: tuple[float, str] = (0.0, "")
        for (k, key), units in self.peaks.items():
            if k == kind and key != TABLE and units > best[0]:
                best = (units, key)
        return best

    def table_peak(self, kind: str) -> float:
        return self.peaks.get((kind, TABLE), 0.0)
