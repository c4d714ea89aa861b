"""The makespan benchmark's catalog: a seeded random layered job graph.

200 jobs in 10 levels of 20. Each job of level 1 and above has 1 to 3 upstreams drawn from the
jobs of earlier levels (level 0 has none); each runs ``cronlane.simulated.simulate`` for a declared
duration drawn uniformly from 50 to 500 ms. The seed is fixed, so every run builds the same graph.

The local runtime loads it through ``CRONLANE_CATALOG=benchmarks.layered``. The template has
rules for three schedules, so all three are declared here (a tick names its schedule by its
rule); only ``daily-full-sync`` (every job) is fired by the benchmark.
"""

from __future__ import annotations

import random

from cronlane import Catalog, Job, Schedule, Selection
from cronlane.simulated import sim_params

SEED = 7
LEVELS = 10
PER_LEVEL = 20
MIN_DURATION_S = 0.05
MAX_DURATION_S = 0.5
FUNCTION = "cronlane.simulated.simulate"


def job_name(level: int, index: int) -> str:
    return f"job{level:02d}_{index:02d}"


def _graph(seed: int = SEED) -> tuple[dict[str, float], dict[str, tuple[str, ...]], dict[str, int]]:
    """Durations, upstreams and levels of the jobs, in declaration order."""
    rng = random.Random(seed)
    durations: dict[str, float] = {}
    upstreams: dict[str, tuple[str, ...]] = {}
    levels: dict[str, int] = {}
    earlier: list[str] = []
    for level in range(LEVELS):
        names = [job_name(level, i) for i in range(PER_LEVEL)]
        for name in names:
            durations[name] = round(rng.uniform(MIN_DURATION_S, MAX_DURATION_S), 3)
            count = rng.randint(1, 3) if earlier else 0
            upstreams[name] = tuple(sorted(rng.sample(earlier, count)))
            levels[name] = level
        earlier.extend(names)
    return durations, upstreams, levels


DURATIONS, UPSTREAMS, LEVEL_OF = _graph()

JOBS = [
    Job(
        name,
        FUNCTION,
        f"level{LEVEL_OF[name]:02d}",
        UPSTREAMS[name],
        timeout_s=60,
        max_attempts=1,
        params=sim_params(DURATIONS[name]),
        expected_s=DURATIONS[name],  # what it takes: ready jobs go in critical-path order
        description=f"level {LEVEL_OF[name]}, {DURATIONS[name] * 1000:.0f} ms of simulated work",
    )
    for name in DURATIONS
]

SCHEDULES = [
    Schedule("daily-full-sync", "cron(0 2 * * ? *)", Selection.everything(), description="The whole graph"),
    # Never fired by the benchmark; declared because the template has their rules.
    Schedule(
        "hourly-feed",
        "cron(0 * * * ? *)",
        Selection.of_jobs(job_name(0, 0)),
        description="Unused by the benchmark",
    ),
    Schedule(
        "morning-notifications",
        "cron(0 8 * * ? *)",
        Selection.of_jobs(job_name(0, 1)),
        timezone="Europe/Berlin",
        description="Unused by the benchmark",
    ),
]

CATALOG = Catalog.build(JOBS, SCHEDULES)
