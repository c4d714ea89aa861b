"""``make bench``: cronlane's cost, makespan, hand-off, dispatch scale, cold start and idle
wake-ups, measured on the local runtime in one run (``python -m benchmarks.run``)."""

from pathlib import Path

# The benchmarks run the example app's template (what a team deploys), with its catalog or a
# synthetic one of the benchmark's (``synthetic``, ``layered``).
EXAMPLE_TEMPLATE = Path(__file__).resolve().parents[1] / "examples" / "nightly-sync" / "template.yaml"
