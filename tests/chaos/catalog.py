"""The chaos soak's catalog: the fixture app's job graph (the same groups, dependencies,
attempts and trigger rules) and three jobs of the soak's own, each job running
``tests.chaos.jobs.effect`` (on every target kind: a Lambda function, an ECS task and a callback
worker, ``tests.chaos.targets``), under the fixture's schedules. Runs of a schedule may overlap, so
that ticks are never skipped and every run has work to lose. (The six extra jobs make a night
24 jobs and 500 runs over 10,000 executions.)"""

from __future__ import annotations

from dataclasses import replace

from cronlane import CallbackTarget, Catalog, EcsTarget, Job, LambdaTarget
from fixture_jobs.catalog import JOBS, SCHEDULES

# The soak's own jobs have no lane (max_concurrent=None), so a dependent one success makes ready
# runs in its upstream's invocation (cronlane.execute): soakChild after soakRoot, soakSink after
# soakChild or soakLambda, and is crashed around there like anywhere else.
EXTRA = [
    Job("soakRoot", "x.y", "soak", max_concurrent=None),
    Job("soakChild", "x.y", "soak", ("soakRoot", "merge"), max_concurrent=None),
    Job(
        "soakSink",
        "x.y",
        "soak",
        ("soakChild", "soakLambda", "soakTask", "soakCallback"),
        max_concurrent=None,
    ),
]
CHAOS_JOBS = [
    replace(job, function="tests.chaos.jobs.effect", params={}, timeout_s=300) for job in [*JOBS, *EXTRA]
]
# The same effect on every target kind (tests.chaos.targets: the soak's app declares them).
CHAOS_JOBS += [
    Job(
        "soakLambda",
        LambdaTarget("${AWS::StackName}-chaos-effect"),
        "soak",
        ("soakRoot",),
        timeout_s=90,
        max_concurrent=None,
    ),
    Job(
        "soakTask",
        EcsTarget(
            "${AWS::StackName}-chaos", "${AWS::StackName}-chaos-effect", "effect", subnets=("subnet-chaos",)
        ),
        "soak",
        ("soakRoot",),
        timeout_s=600,
    ),
    Job(
        "soakCallback",
        CallbackTarget("${AWS::StackName}-chaos-work", heartbeat_s=120),
        "soak",
        ("soakRoot",),
        timeout_s=900,
    ),
]
# The soak fires ticks itself, 30 minutes apart, each for one schedule or the other: so every
# schedule here fires every 30 minutes (the dispatcher refuses a tick that is not a fire time of
# its schedule), and the fire times a schedule was not picked for are "missed": catch_up="none"
# records those as SKIPPED runs.
# The hourly runs have a width of 3 (cronlane.places): its places' record is written by every
# end and crashed around like the rest. The nightly runs (every job) have none, so their jobs
# without a lane run in their upstreams' invocations.
CHAOS_SCHEDULES = [
    replace(
        s,
        expression="cron(0/30 * * * ? *)",
        overlap="allow",
        deadline_s=None,
        catch_up="none",
        max_parallel=3 if s.name == "hourly" else None,
    )
    for s in SCHEDULES
]

CATALOG = Catalog.build(CHAOS_JOBS, CHAOS_SCHEDULES)
