"""``make bench``: cronlane's cost, makespan, hand-off, dispatch scale, cold start and idle
wake-ups, measured on the local runtime in one run (``python -m benchmarks.run``)."""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# The benchmarks run the example app's template (what a team deploys), with its catalog or a
# synthetic one of the benchmark's (``synthetic``, ``layered``).
WORKER_IDLE = "COMPATIBILITY_WORKER_IDLE_S"  # the example's callback worker's wait between empty receives
EXAMPLE_TEMPLATE = Path(__file__).resolve().parents[1] / "examples" / "nightly-sync" / "template.yaml"


@contextmanager
def worker_idle(seconds: float) -> Iterator[None]:
    """The example's callback worker waits ``seconds`` between empty receives (10 by default).
    On the virtual clock each empty receive is a step of the clock: a benchmark that runs for
    days of it, or beside a 40-minute task, spends most of its time on them. They are not Lambda
    wake-ups either way; 120 s is still well inside the worker's job's 300 s heartbeat timeout."""
    before = os.environ.get(WORKER_IDLE)
    os.environ[WORKER_IDLE] = f"{seconds:g}"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(WORKER_IDLE, None)
        else:
            os.environ[WORKER_IDLE] = before
