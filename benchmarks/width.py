"""Width: what one wide join and one wide fork cost per job, on the local runtime, billed as AWS
bills them (``benchmarks.cost.measure``): a job waiting for ``width`` upstreams (fan-in) and a
job that ``width`` jobs wait for (fan-out), at each width of ``WIDTHS``.

Reported per graph: read and write units per job, and the largest item the table holds (a
DynamoDB item may not exceed 400 KB). A release reads the status of the dependent's other
upstreams, so a fan-in of n costs about n²/2 reads in all: the figures show how far from linear
the design is (issue 21 asks for at most 5 read units per job at a fan-in of 5,000). Widths of
5,000 take too long on moto (12.5 million read units for the fan-in): they are for the in-memory
store's scale run, not measured here."""

from __future__ import annotations

import json
from typing import Any

from benchmarks import cost

WIDTHS = (50, 500)


def run(widths: tuple[int, ...] = WIDTHS) -> dict[str, Any]:
    from benchmarks.synthetic import environment  # not at import: see benchmarks/handoff.py

    figures: dict[str, Any] = {}
    for kind in ("fanin", "fanout"):
        for width in widths:
            measured = cost.measure(environment(kind, width), f"{kind} {width}")
            jobs = measured["jobs"]
            figures[f"{kind}_{width}"] = {
                "jobs": jobs,
                "reads_per_job": round(measured["dynamodb_read_units"] / jobs, 2),
                "writes_per_job": round(measured["dynamodb_write_units"] / jobs, 2),
                "largest_item_bytes": measured["largest_item_bytes"],
                "cost_per_million_jobs": measured["cost_per_million_jobs"],
                "wall_s": measured["wall_s"],
            }
    return figures


def main() -> None:
    print(json.dumps(run(), indent=2))


if __name__ == "__main__":
    main()
