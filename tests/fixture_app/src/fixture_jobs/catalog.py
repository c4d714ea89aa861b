"""The framework's fixture app: 19 jobs in four groups and three schedules, with the shapes the
tests rely on (not the example app's jobs, so that replacing the example changes no test here):

- a root with five dependents (``extract``), jobs with two upstreams (``merge``, ``rank``,
  ``dedup``, ``digest``), a job that can be made to fail (``check``: ``fail_attempts``,
  ``fail_until``), an ``all_done`` sink below it (``summary``), a transitive chain to skip
  (``check -> merge -> alert``), independent roots (``expire``, ``freshness``, ``trending``,
  ``geo``, ``synonyms``, ``cleanup``), a 40-minute job that checkpoints (``train``), and a job
  that declares an S3 permission (``index``);
- ``nightly`` (every job, 02:00 UTC, overlap ``skip``, catch-up ``all``), ``hourly`` (the feed
  group, ``buffer_one``, catch-up ``latest``; its upstreams outside the group count as satisfied)
  and ``morning`` (the notify group, 08:00 in Europe/Berlin: an EventBridge Scheduler schedule).
"""

from __future__ import annotations

from cronlane import Catalog, Job, Permission, Schedule, Selection
from cronlane.simulated import long_params, sim_params

WORK = "cronlane.simulated.simulate"
C, F, S, N = "core", "feed", "search", "notify"


def job(
    name: str, group: str, after: tuple[str, ...], seconds: float, timeout_s: int, rule: str = "all_success"
) -> Job:
    return Job(name, WORK, group, after, timeout_s=timeout_s, params=sim_params(seconds), trigger_rule=rule)


JOBS = [
    job("extract", C, (), 240, 600),
    job("score", C, ("extract",), 300, 600),
    Job("check", WORK, C, ("extract",), timeout_s=400, max_attempts=3, params=sim_params(180, can_fail=True)),
    job("merge", C, ("score", "check"), 120, 300),
    job("expire", C, (), 60, 180),
    job("summary", C, ("merge",), 90, 240, rule="all_done"),
    Job(
        "train",
        "cronlane.simulated.simulate_in_steps",
        C,
        ("extract",),
        timeout_s=900,  # per invocation: it checkpoints and continues, 40 minutes in all
        params=long_params(2400, step_s=60),
    ),
    job("presort", F, ("extract",), 200, 450),
    job("rank", F, ("presort", "score"), 150, 400),
    job("warm", F, ("rank",), 60, 180),
    job("freshness", F, (), 45, 120),
    job("trending", F, (), 120, 300),
    job("dedup", F, ("rank", "trending"), 60, 180),
    Job(
        "index",
        WORK,
        S,
        ("extract",),
        timeout_s=800,
        params=sim_params(360),
        # what a job that reads S3 declares: written into the executor's role by cronlane template
        permissions=(Permission(("s3:GetObject",), ("arn:${AWS::Partition}:s3:::fixture-search-input/*",)),),
    ),
    job("geo", S, (), 90, 240),
    job("synonyms", S, (), 30, 90),
    job("digest", N, ("rank", "merge"), 120, 300),
    job("cleanup", N, (), 30, 90),
    job("alert", N, ("merge",), 60, 180),
]

SCHEDULES = [
    Schedule(
        "nightly",
        "cron(0 2 * * ? *)",
        Selection.everything(),
        deadline_s=3600,
        catch_up="all",
        catch_up_window_s=3 * 86_400,
    ),
    Schedule(
        "hourly",
        "cron(0 * * * ? *)",
        Selection.of_groups(F),
        deadline_s=1800,
        overlap="buffer_one",
        catch_up="latest",
    ),
    Schedule(
        "morning", "cron(0 8 * * ? *)", Selection.of_groups(N), timezone="Europe/Berlin", deadline_s=1800
    ),
]

CATALOG = Catalog.build(JOBS, SCHEDULES)
