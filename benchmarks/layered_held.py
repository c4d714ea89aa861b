"""``benchmarks.layered``'s catalog with a width on the run the makespan benchmark fires:
``daily-full-sync`` keeps at most 8 of its jobs (the benchmark's executor environments) queued or
running, and the ready job with the longest path ahead takes each free place (cronlane.places)."""

from __future__ import annotations

from dataclasses import replace

from benchmarks.layered import JOBS, SCHEDULES
from cronlane import Catalog

ENVIRONMENTS = 8

CATALOG = Catalog.build(
    JOBS, [replace(s, max_parallel=ENVIRONMENTS) if s.name == "daily-full-sync" else s for s in SCHEDULES]
)
