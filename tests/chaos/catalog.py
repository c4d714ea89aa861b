"""The chaos soak's catalog: the fixture app's job graph (the same groups, dependencies,
attempts and trigger rules) and three jobs of the soak's own, each job running
``tests.chaos.jobs.effect``, under the fixture's schedules. Runs of a schedule may overlap, so
that ticks are never skipped and every run has work to lose. (The three extra jobs make a night
21 jobs and 500 runs over 10,000 executions.)"""

from __future__ import annotations

from dataclasses import replace

from cronlane import Catalog, Job
from fixture_jobs.catalog import JOBS, SCHEDULES

EXTRA = [
    Job("soakRoot", "x.y", "soak"),
    Job("soakChild", "x.y", "soak", ("soakRoot", "merge")),
    Job("soakSink", "x.y", "soak", ("soakChild",)),
]
CHAOS_JOBS = [
    replace(job, function="tests.chaos.jobs.effect", params={}, timeout_s=300) for job in [*JOBS, *EXTRA]
]
# The soak fires ticks itself, 30 minutes apart, each for one schedule or the other: so every
# schedule here fires every 30 minutes (the dispatcher refuses a tick that is not a fire time of
# its schedule), and the fire times a schedule was not picked for are "missed": catch_up="none"
# records those as SKIPPED runs.
CHAOS_SCHEDULES = [
    replace(s, expression="cron(0/30 * * * ? *)", overlap="allow", deadline_s=None, catch_up="none")
    for s in SCHEDULES
]

CATALOG = Catalog.build(CHAOS_JOBS, CHAOS_SCHEDULES)
