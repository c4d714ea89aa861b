"""The chaos soak's catalog: the fixture app's job graph (the same groups, dependencies,
attempts and trigger rules), each job running ``tests.chaos.jobs.effect``, under its schedules.
Runs of a schedule may overlap, so that ticks are never skipped and every run has work to lose."""

from __future__ import annotations

from dataclasses import replace

from cronlane import Catalog
from fixture_jobs.catalog import JOBS, SCHEDULES

CHAOS_JOBS = [replace(job, function="tests.chaos.jobs.effect", params={}, timeout_s=300) for job in JOBS]
# The soak fires ticks itself, 30 minutes apart and not at the schedules' own fire times, so
# their fire times in between are "missed": catch_up="none" records those as SKIPPED runs.
CHAOS_SCHEDULES = [replace(s, overlap="allow", deadline_s=None, catch_up="none") for s in SCHEDULES]

CATALOG = Catalog.build(CHAOS_JOBS, CHAOS_SCHEDULES)
