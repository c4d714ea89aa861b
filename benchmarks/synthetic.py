"""Synthetic catalogs for the benchmarks, chosen by the environment (the local runtime passes it
to the functions): ``BENCH_GRAPH=layered`` (default) is ``BENCH_GRAPH_JOBS`` jobs in 10 levels,
each with 1 to 3 upstreams from earlier levels (seed 11); ``BENCH_GRAPH=chain`` is a chain of
``BENCH_GRAPH_JOBS`` no-op jobs (``BENCH_METRICS``: names of jobs and schedules declared with
``metrics=True``, comma-separated); ``BENCH_GRAPH=fanin`` is ``BENCH_GRAPH_JOBS`` jobs and one
that depends on them all, ``fanout`` one job and ``BENCH_GRAPH_JOBS`` that depend on it;
``BENCH_GRAPH=showcase`` the small nightly of the README's
pictures (``showcase``); ``BENCH_GRAPH=chain-<kind>`` a chain of jobs that do (almost)
nothing on one target kind, ``lambda``, ``ecs`` or ``callback``, on the example app's own
function, task definition and worker queue. The schedules are the template's three, all selecting
everything, so a tick of ``daily-full-sync`` runs the whole graph. ``BENCH_LANES=none``: every
job declared without a lane (``max_concurrent=None``), so dependents run in their upstream's
invocation."""

from __future__ import annotations

import dataclasses
import os
import random
from typing import Any

from cronlane import (
    CallbackTarget,
    Catalog,
    EcsTarget,
    Job,
    JobContext,
    LambdaTarget,
    Param,
    Schedule,
    Selection,
)
from cronlane.simulated import long_params, sim_params

# A job on each target kind, with the example's resources (template.yaml) and nothing to do.
TARGETS: dict[str, tuple[Any, dict[str, Param]]] = {
    "python": ("benchmarks.synthetic.noop", {}),
    "lambda": (
        LambdaTarget("${AWS::StackName}-feed-presort"),
        {"feeds": Param("int", 1), "items_per_feed": Param("int", 10), "fail_attempts": Param("int", 0)},
    ),
    "ecs": (
        EcsTarget("${AWS::StackName}-jobs", "${AWS::StackName}-recommendation-model", "model"),
        {"duration_s": Param("float", 0.0), "epochs": Param("int", 1)},
    ),
    "callback": (
        CallbackTarget("${AWS::StackName}-compatibility-work", heartbeat_s=300),
        {"duration_s": Param("float", 0.0)},
    ),
}

LEVELS = 10
SEED = 11


def environment(kind: str, jobs: int, lanes: bool = True) -> dict[str, str]:
    """What the local runtime gives the functions so that they load this catalog (``lanes``
    False: every job declared without a lane, ``without_lanes``)."""
    env = {"CRONLANE_CATALOG": "benchmarks.synthetic", "BENCH_GRAPH": kind, "BENCH_GRAPH_JOBS": str(jobs)}
    return env if lanes else {**env, "BENCH_LANES": "none"}


def noop(ctx: JobContext) -> dict[str, Any]:
    """A job that does nothing: what is measured around it is cronlane's own time."""
    return {}


def layered(jobs: int, seed: int = SEED) -> dict[str, tuple[str, ...]]:
    """Job name -> its upstreams: ``jobs`` jobs in ``LEVELS`` levels, 1 to 3 upstreams each from
    the levels before."""
    rng = random.Random(seed)
    per_level = max(1, -(-jobs // LEVELS))
    graph: dict[str, tuple[str, ...]] = {}
    names = [f"job{i:05d}" for i in range(jobs)]
    for index, name in enumerate(names):
        before = names[: (index // per_level) * per_level]
        count = min(len(before), rng.randint(1, 3))
        graph[name] = tuple(sorted(rng.sample(before, count))) if before else ()
    return graph


def chain(jobs: int) -> dict[str, tuple[str, ...]]:
    names = [f"link{i:04d}" for i in range(jobs)]
    return {name: ((names[i - 1],) if i else ()) for i, name in enumerate(names)}


def fan_in(width: int) -> dict[str, tuple[str, ...]]:
    """``width`` independent jobs and one that waits for them all."""
    names = [f"up{i:05d}" for i in range(width)]
    return {**dict.fromkeys(names, ()), "sink": tuple(names)}


def fan_out(width: int) -> dict[str, tuple[str, ...]]:
    """One job that ``width`` jobs wait for."""
    return {"hub": (), **{f"down{i:05d}": ("hub",) for i in range(width)}}


GRAPHS = {"layered": layered, "chain": chain, "fanin": fan_in, "fanout": fan_out}


def showcase() -> Catalog:
    """A small nightly with what a Gantt must show: a job retried after a failed attempt
    (``loadProfilesJob``, when triggered with ``fail_attempts=1``), a 40-minute job that continues
    in 15-minute invocations (``trainModelJob``), and a failure (``validateDataJob``, with
    ``fail_attempts`` at least 2) that skips its dependents while an ``all_done`` report runs."""
    work, steps = "cronlane.simulated.simulate", "cronlane.simulated.simulate_in_steps"
    declared = [
        Job("loadEventsJob", work, "demo", (), timeout_s=600, params=sim_params(240)),
        Job("loadProfilesJob", work, "demo", (), timeout_s=600, params=sim_params(180, can_fail=True)),
        Job("buildFeaturesJob", work, "demo", ("loadEventsJob", "loadProfilesJob"), params=sim_params(300)),
        Job(
            "trainModelJob", steps, "demo", ("buildFeaturesJob",), timeout_s=900, params=long_params(2400, 60)
        ),
        Job("scoreJob", work, "demo", ("buildFeaturesJob",), params=sim_params(200)),
        Job("indexJob", work, "demo", ("scoreJob",), params=sim_params(150)),
        Job(
            "validateDataJob", work, "demo", ("loadEventsJob",), max_attempts=2, params=sim_params(120, True)
        ),
        Job("publishJob", work, "demo", ("validateDataJob", "trainModelJob"), params=sim_params(60)),
        Job("notifyJob", work, "demo", ("publishJob",), params=sim_params(30)),
        Job("reportJob", work, "demo", ("validateDataJob",), params=sim_params(45), trigger_rule="all_done"),
    ]
    return Catalog.build(declared, _schedules())


def build(kind: str, jobs: int) -> Catalog:
    if kind == "showcase":
        return showcase()
    graph = GRAPHS[kind.partition("-")[0]](jobs)
    if kind.startswith("chain-"):
        target, params = TARGETS[kind.removeprefix("chain-")]
        declared = [
            Job(name, target, "bench", upstreams, timeout_s=300, max_attempts=1, params=params)
            for name, upstreams in graph.items()
        ]
        return Catalog.build(declared, _schedules())
    declared = [
        Job(
            name,
            "benchmarks.synthetic.noop" if kind == "chain" else "cronlane.simulated.simulate",
            "bench",
            upstreams,
            timeout_s=60,
            max_attempts=1,
            params={} if kind == "chain" else sim_params(1.0),
        )
        for name, upstreams in graph.items()
    ]
    return Catalog.build(declared, _schedules())


def _schedules() -> list[Schedule]:
    everything = Selection.everything()
    return [
        Schedule("daily-full-sync", "cron(0 2 * * ? *)", everything, overlap="allow"),
        Schedule("hourly-feed", "cron(0 * * * ? *)", everything, overlap="allow"),
        Schedule("morning-notifications", "cron(0 8 * * ? *)", everything, timezone="Europe/Berlin"),
    ]


def noop_jobs(catalog: Catalog) -> Catalog:
    """The catalog with every job doing nothing (``noop``)."""
    jobs = [
        dataclasses.replace(j, function="benchmarks.synthetic.noop", params={}) for j in catalog.jobs.values()
    ]
    return Catalog.build(jobs, list(catalog.schedules.values()))


def without_lanes(catalog: Catalog) -> Catalog:
    """The catalog with every job declared ``max_concurrent=None``: no lane, so a job that one
    success makes ready may run in its upstream's invocation (as Step Functions runs a graph:
    nothing there keeps two executions' states from running at once)."""
    jobs = [dataclasses.replace(j, max_concurrent=None) for j in catalog.jobs.values()]
    return Catalog.build(jobs, list(catalog.schedules.values()))


def with_metrics(catalog: Catalog, names: set[str]) -> Catalog:
    """The catalog with these jobs and schedules declared with ``metrics=True``."""
    jobs = [dataclasses.replace(j, metrics=True) if j.name in names else j for j in catalog.jobs.values()]
    schedules = [
        dataclasses.replace(s, metrics=True) if s.name in names else s for s in catalog.schedules.values()
    ]
    return Catalog.build(jobs, schedules)


CATALOG = with_metrics(
    build(os.environ.get("BENCH_GRAPH", "layered"), int(os.environ.get("BENCH_GRAPH_JOBS", "1000"))),
    {n for n in os.environ.get("BENCH_METRICS", "").split(",") if n},
)
if os.environ.get("BENCH_LANES") == "none":
    CATALOG = without_lanes(CATALOG)
