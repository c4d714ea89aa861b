"""The overlap benchmark's catalog: the example app's, with every job's ``max_concurrent`` set to
``BENCH_MAX_CONCURRENT`` (the example declares the default, 1). The local runtime loads it
through ``CRONLANE_CATALOG=benchmarks.lanes`` (``benchmarks.overlap.environment``)."""

from __future__ import annotations

import os
from dataclasses import replace

from cronlane import Catalog
from nightly_sync.catalog import CATALOG as EXAMPLE

LANES = int(os.environ.get("BENCH_MAX_CONCURRENT", "1"))

CATALOG = Catalog.build(
    [replace(job, max_concurrent=LANES) for job in EXAMPLE.jobs.values()], EXAMPLE.schedules.values()
)
