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
import math
from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import Any

READ_UNIT = 4096  # bytes per read unit (a strongly consistent read; eventually consistent: half)
WRITE_UNIT = 1024  # bytes per write unit


def item_size(value: Any) -> int:
    """The size DynamoDB counts for a value (an item: a mapping or a dataclass of attributes):
    names and strings in UTF-8 bytes, a number about a byte per two digits plus one, a list or
    map 3 bytes plus a byte per element, null and booleans a byte; empty attributes are not
    stored."""
    if value is None or isinstance(value, bool):
        return 1
    if isinstance(value, enum.Enum):
        return item_size(value.value)
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, bytes):
        return len(value)
    if isinstance(value, int | float):
        digits = len(repr(value).lstrip("-").replace(".", "").lstrip("0")) or 1
        return (digits + 1) // 2 + 1
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return sum(len(str(k)) + item_size(v) for k, v in value.items() if _stored(v))
    if isinstance(value, set | frozenset):
        return sum(item_size(v) for v in value)
    if isinstance(value, list | tuple):
        return 3 + sum(1 + item_size(v) for v in value)
    return len(str(value))


def _stored(value: Any) -> bool:
    empty = isinstance(value, str | bytes | list | tuple | dict | set | frozenset) and len(value) == 0
    return value is not None and not empty


class Capacity:
    """Read and write units consumed, in all, per partition key, and per partition key and
    second of ``now`` (the busiest second of each key is what its partition must sustain)."""

    def __init__(self, now: Callable[[], float] | None = None) -> None:
        self.now = now
        self.rru = 0.0
        self.wru = 0.0
        self.reads: defaultdict[str, float] = defaultdict(float)  # partition key -> read units
        self.writes: defaultdict[str, float] = defaultdict(float)
        self.per_second: defaultdict[tuple[str, str, int], float] = defaultdict(float)  # (kind, key, s)

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
        if self.now is not None:
            self.per_second[(kind, key, int(self.now()))] += units

    def peak(self, kind: str) -> tuple[float, str]:
        """The most units of ``kind`` (``read`` or ``write``) one partition key took in one
        second, and that key."""
        best: tuple[float, str] = (0.0, "")
        for (k, key, _), units in self.per_second.items():
            if k == kind and units > best[0]:
                best = (units, key)
        return best
