"""``benchmarks.layered``'s catalog with every job declared without a lane
(``max_concurrent=None``): a job that one success makes ready may run in its upstream's
invocation (cronlane.execute), as it would in a Step Functions execution."""

from __future__ import annotations

from benchmarks.layered import CATALOG as LAYERED
from benchmarks.synthetic import without_lanes

CATALOG = without_lanes(LAYERED)
