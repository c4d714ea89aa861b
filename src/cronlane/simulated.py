"""Simulated work: a deterministic duration and an optional failure, for example apps, demos and
tests of a pipeline before its real jobs are written.

A job that simulates declares ``duration_s`` (how long its work takes, in seconds of the clock the
executor runs on, so the local runtime's time scale shortens it) and may declare
``fail_attempts`` (fail the first N attempts, to show retries and, with N >= max attempts, a
failure) and ``fail_until`` (an outage: every attempt that starts before that time, in epoch
seconds, fails; a replay from the dead-letter queue after it succeeds).

A long job (``long_params``) does its ``duration_s`` in steps of ``step_s`` and checkpoints
between steps when the invocation's time runs low, continuing in the next invocation.
"""

from __future__ import annotations

from typing import Any

from cronlane import Continuation, JobContext, Param


class SimulatedFailure(RuntimeError):
    pass


def sim_params(duration_s: float, can_fail: bool = False) -> dict[str, Param]:
    params = {"duration_s": Param("float", duration_s, "simulated work, in seconds", min=0)}
    if can_fail:
        params["fail_attempts"] = Param("int", 0, "fail this many attempts before succeeding", min=0)
        params["fail_until"] = Param("float", 0.0, "fail every attempt that starts before this epoch time")
    return params


def long_params(duration_s: float, step_s: float) -> dict[str, Param]:
    return {
        **sim_params(duration_s),
        "step_s": Param("float", step_s, "work between two chances to checkpoint, in seconds", min=1),
    }


def simulate_in_steps(ctx: JobContext, **summary: Any) -> dict[str, Any] | Continuation:
    """``duration_s`` of work from the checkpoint on (``ctx.cursor``: seconds done), one step at
    a time; when another step would not fit in this invocation's time, continue in a new one.
    Every invocation does at least one step, so a step longer than the timeout times out."""
    total = float(ctx.params["duration_s"])
    step = max(float(ctx.params["step_s"]), 1.0)
    resumed = done = float(ctx.cursor or 0.0)
    while done < total:
        work = min(step, total - done)
        if done > resumed and not ctx.has_time_for(work):
            return ctx.continue_from(done, progress=done / total)
        ctx.sleep(work)
        done += work
    return {"simulated_s": total, "continuations": ctx.continuation, **summary}


def simulate(ctx: JobContext, **summary: Any) -> dict[str, Any]:
    duration = float(ctx.params["duration_s"])
    if ctx.attempt <= int(ctx.params.get("fail_attempts", 0)):
        ctx.sleep(duration / 2)
        raise SimulatedFailure(f"{ctx.job}: simulated failure on attempt {ctx.attempt}")
    if ctx.clock.now() < float(ctx.params.get("fail_until", 0.0)):
        ctx.sleep(duration / 2)
        raise SimulatedFailure(f"{ctx.job}: simulated outage on attempt {ctx.attempt}")
    ctx.sleep(duration)
    return {**summary, "for": ctx.scheduled_time.date().isoformat()}
