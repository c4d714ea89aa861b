"""The example application's jobs and schedules: one declaration each.

To add a job: write its function (``def my_job(ctx: JobContext) -> dict | None``) in a module of
this package and add one ``Job(...)`` below (with ``permissions=[Permission(...)]`` if it needs
AWS access of its own). To add a schedule: add one ``Schedule(...)`` below. Then run
``cronlane template``: it writes what template.yaml needs of them (the rules, the tick
dead-letter queue's policy, the jobs' permissions); ``cronlane validate`` checks it all.

Durations follow the user's analysis: jobs of 30 seconds to 6 minutes, and one of 40 minutes.

Most jobs are Python functions in this package, run by the executor. Three run where such work
already lives (``cronlane.targets``), each declared here like any other job:

- ``feedPresortJob``: a JavaScript Lambda function (``functions/feed-presort/``), a ``lambda`` target;
- ``recommendationModelJob``: a 40-minute ECS task (``nightly_sync.targets.recommendation_model``
  in its container), an ``ecs`` target: no checkpoints, no 15-minute limit;
- ``compatibilityJob``: a service of the team's that takes work off its own queue and reports
  back (``nightly_sync.targets.compatibility_worker``), a ``callback`` target.

template.yaml declares the function, the task definition and the queue (below the framework's
resources); ``cronlane template`` grants the executor exactly what each target needs.
"""

from __future__ import annotations

from cronlane import CallbackTarget, Catalog, EcsTarget, Job, LambdaTarget, Param, Schedule, Selection
from cronlane.simulated import sim_params

M, F, S, N = "matching", "feed", "search", "notifications"

JOBS = [
    # -- matching ------------------------------------------------------------------------------
    Job(
        "buildUserTraitsJob",
        "nightly_sync.matching.build_user_traits",
        M,
        (),
        timeout_s=600,
        params=sim_params(240),
        description="Rebuild user trait vectors",
    ),
    Job(
        "matchScoreJob",
        "nightly_sync.matching.match_score",
        M,
        ("buildUserTraitsJob",),
        timeout_s=600,
        params=sim_params(300),
        description="Score candidate pairs",
    ),
    Job(
        "compatibilityJob",
        CallbackTarget("${AWS::StackName}-compatibility-work", heartbeat_s=300),
        M,
        ("buildUserTraitsJob",),
        timeout_s=1200,
        max_attempts=3,
        params=sim_params(180, can_fail=True),
        description="Compatibility reports, by the team's compatibility service (can be made to fail)",
    ),
    Job(
        "mutualMatchJob",
        "nightly_sync.matching.mutual_match",
        M,
        ("matchScoreJob", "compatibilityJob"),
        timeout_s=300,
        params=sim_params(120),
        description="Find mutual matches",
    ),
    Job(
        "matchExpiryJob",
        "nightly_sync.matching.match_expiry",
        M,
        (),
        timeout_s=180,
        params=sim_params(60),
        description="Expire stale matches",
    ),
    Job(
        "matchQualityReportJob",
        "nightly_sync.matching.match_quality_report",
        M,
        ("mutualMatchJob",),
        timeout_s=240,
        params=sim_params(90),
        description="Match quality report (runs even when matching failed, to report it)",
        trigger_rule="all_done",
    ),
    Job(
        "recommendationModelJob",
        EcsTarget("${AWS::StackName}-jobs", "${AWS::StackName}-recommendation-model", "model"),
        M,
        ("buildUserTraitsJob",),
        timeout_s=3600,  # the whole 40-minute task, in one attempt
        params={
            **sim_params(2400),
            "epochs": Param("int", 40, "training epochs", min=1),
            "fail_attempts": Param("int", 0, "fail this many attempts before succeeding", min=0),
        },
        description="Retrain the recommendation model (40 min, an ECS task)",
    ),
    # -- feed ----------------------------------------------------------------------------------
    Job(
        "feedPresortJob",
        LambdaTarget("${AWS::StackName}-feed-presort"),
        F,
        ("buildUserTraitsJob",),
        timeout_s=300,  # the function's own Timeout: it is invoked synchronously
        params={
            "feeds": Param("int", 200, "feeds to pre-sort", min=1),
            "items_per_feed": Param("int", 500, "candidates per feed", min=1),
            "fail_attempts": Param("int", 0, "fail this many attempts before succeeding", min=0),
        },
        description="Pre-sort feeds (JavaScript, a Lambda function)",
    ),
    Job(
        "feedRankingJob",
        "nightly_sync.feed.feed_ranking",
        F,
        ("feedPresortJob", "matchScoreJob"),
        timeout_s=400,
        params=sim_params(150),
        description="Rank feeds",
    ),
    Job(
        "feedCacheWarmJob",
        "nightly_sync.feed.feed_cache_warm",
        F,
        ("feedRankingJob",),
        timeout_s=180,
        params=sim_params(60),
        description="Warm the feed cache",
    ),
    Job(
        "feedFreshnessJob",
        "nightly_sync.feed.feed_freshness",
        F,
        (),
        timeout_s=120,
        params=sim_params(45),
        description="Drop stale feed items",
    ),
    Job(
        "trendingContentJob",
        "nightly_sync.feed.trending_content",
        F,
        (),
        timeout_s=300,
        params=sim_params(120),
        description="Trending content",
    ),
    Job(
        "feedDedupJob",
        "nightly_sync.feed.feed_dedup",
        F,
        ("feedRankingJob", "trendingContentJob"),
        timeout_s=180,
        params=sim_params(60),
        description="De-duplicate feeds",
    ),
    # -- search --------------------------------------------------------------------------------
    Job(
        "profileSearchIndexJob",
        "nightly_sync.search.profile_search_index",
        S,
        ("buildUserTraitsJob",),
        timeout_s=800,
        params=sim_params(360),
        description="Rebuild the profile search index",
    ),
    Job(
        "searchSynonymsJob",
        "nightly_sync.search.search_synonyms",
        S,
        (),
        timeout_s=90,
        params=sim_params(30),
        description="Refresh search synonyms",
    ),
    Job(
        "searchIndexOptimizeJob",
        "nightly_sync.search.search_index_optimize",
        S,
        ("profileSearchIndexJob", "searchSynonymsJob"),
        timeout_s=400,
        params=sim_params(150),
        description="Optimise the search index",
    ),
    Job(
        "geoIndexJob",
        "nightly_sync.search.geo_index",
        S,
        (),
        timeout_s=240,
        params=sim_params(90),
        description="Rebuild the geo index",
    ),
    Job(
        "searchSuggestionsJob",
        "nightly_sync.search.search_suggestions",
        S,
        ("searchIndexOptimizeJob",),
        timeout_s=180,
        params=sim_params(60),
        description="Precompute query suggestions",
    ),
    # -- notifications -------------------------------------------------------------------------
    Job(
        "dailyDigestJob",
        "nightly_sync.notifications.daily_digest",
        N,
        ("feedRankingJob", "mutualMatchJob"),
        timeout_s=300,
        params=sim_params(120),
        description="Daily digest e-mail",
    ),
    Job(
        "pushTokenCleanupJob",
        "nightly_sync.notifications.push_token_cleanup",
        N,
        (),
        timeout_s=90,
        params=sim_params(30),
        description="Clean invalid push tokens",
    ),
    Job(
        "matchNotificationJob",
        "nightly_sync.notifications.match_notification",
        N,
        ("mutualMatchJob",),
        timeout_s=180,
        params=sim_params(60),
        description="Notify new mutual matches",
    ),
    Job(
        "emailBounceSyncJob",
        "nightly_sync.notifications.email_bounce_sync",
        N,
        (),
        timeout_s=120,
        params=sim_params(45),
        description="Sync e-mail bounces",
    ),
    Job(
        "inactiveUserNudgeJob",
        "nightly_sync.notifications.inactive_user_nudge",
        N,
        ("buildUserTraitsJob",),
        timeout_s=240,
        params=sim_params(90),
        description="Nudge inactive users",
    ),
]

SCHEDULES = [
    Schedule(
        "daily-full-sync",
        "cron(0 2 * * ? *)",
        Selection.everything(),
        description="Every job, nightly at 02:00 UTC",
        deadline_s=3600,
        catch_up="all",  # each night's sync matters: a missed one runs late rather than never
        catch_up_window_s=3 * 86_400,
    ),
    Schedule(
        "hourly-feed",
        "cron(0 * * * ? *)",
        Selection.of_groups(F),
        description="The feed group every hour; its upstreams from the nightly sync count as satisfied",
        deadline_s=1800,
        overlap="buffer_one",  # a late feed run still happens, right after the one before it
        catch_up="latest",  # a gap of missed hours is caught up by one run: the latest of them
    ),
    Schedule(
        "morning-notifications",
        "cron(0 8 * * ? *)",
        Selection.of_groups(N),
        timezone="Europe/Berlin",  # an EventBridge Scheduler schedule (ScheduleV2) in template.yaml
        description="The notifications group at 08:00 Berlin time (07:00 UTC in winter, 06:00 in summer)",
        deadline_s=1800,
    ),
]

CATALOG = Catalog.build(JOBS, SCHEDULES)
