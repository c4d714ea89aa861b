"""``make bench``: cronlane's cost, makespan, hand-off, dispatch scale, cold start and idle
wake-ups, measured on the local runtime in one run (``python -m benchmarks.run``)."""
