"""Simulated work for the example jobs: a deterministic duration and an optional failure.

Every example job declares ``duration_s`` (how long its work takes, in seconds of the clock the
executor runs on, so the local runtime's time scale shortens it) and may declare
``fail_attempts`` (fail the first N attempts, to show retries and, with N >= max attempts, a
failure) and ``fail_until`` (an outage: every attempt that starts before that time, in epoch
seconds, fails; a replay from the dead-letter queue after it succeeds).
"""

from __future__ import annotations

from typing import Any

from cronlane import JobContext, Param


class SimulatedFailure(RuntimeError):
    pass


def sim_params(duration_s: float, can_fail: bool = False) -> dict[str, Param]:
    params = {"duration_s": Param("float", duration_s, "simulated work, in seconds")}
    if can_fail:
        params["fail_attempts"] = Param("int", 0, "fail this many attempts before succeeding")
        params["fail_until"] = Param("float", 0.0, "fail every attempt that starts before this epoch time")
    return params


def simulate(ctx: JobContext, **summary: Any) -> dict[str, Any]:
    duration = float(ctx.params["duration_s"])
    if ctx.attempt <= int(ctx.params.get("fail_attempts", 0)):
        ctx.sleep(duration / 2)
        raise SimulatedFailure(f"{ctx.job}: simulated failure on attempt {ctx.attempt}")
    if ctx.clock.now() < float(ctx.params.get("fail_until", 0.0)):
        ctx.sleep(duration / 2)
        raise SimulatedFailure(f"{ctx.job}: simulated outage on attempt {ctx.attempt}")
    ctx.sleep(duration)
    return {"simulated_s": duration, "for": ctx.scheduled_time.date().isoformat(), **summary}
