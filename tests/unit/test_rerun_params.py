"""``rerun --param``: a rerun with new parameter values runs its jobs with them, records them on
the run, and gives those jobs a new idempotency key (a rerun without new values keeps it)."""

from __future__ import annotations

from typing import Any

import pytest

from cronlane import Catalog, Job, Param, Schedule, Selection
from cronlane.errors import InvalidRequest
from cronlane.inprocess import InProcess
from cronlane.model import RunStatus

START = 1_800_000_000.0 - 8 * 3600 + 2 * 3600  # 2027-01-15T02:00:00Z: a fire time


def pipeline() -> tuple[InProcess, list[tuple[str, int, dict[str, Any], str]], str]:
    seen: list[tuple[str, int, dict[str, Any], str]] = []
    outage = {"on": True}

    def function(spec: str) -> Any:
        name = spec.rsplit(".", 1)[1]

        def run(ctx: Any) -> None:
            seen.append((name, ctx.attempt, dict(ctx.params), ctx.idempotency_key))
            if name == "load" and outage["on"] and ctx.params["source"] == "primary":
                raise RuntimeError("primary is down")

        return run

    catalog = Catalog.build(
        [
            Job("load", "app.jobs.load", "g", max_attempts=1, params={"source": Param("str", "primary")}),
            Job("index", "app.jobs.index", "g", ("load",), params={"batch": Param("int", 100)}),
        ],
        [Schedule("nightly", "cron(0 2 * * ? *)", Selection.everything())],
    )
    world = InProcess(catalog, START, import_function=function)
    run_id = str(world.tick("nightly", START)["run_id"])
    world.drain()
    return world, seen, run_id


def test_a_rerun_with_new_parameters_runs_with_them_and_records_them_on_the_run() -> None:
    world, seen, run_id = pipeline()
    assert world.store.get_run(run_id).status is RunStatus.FAILED  # type: ignore[union-attr]
    answer = world.act(
        action="rerun", run_id=run_id, parameters={"load": {"source": "replica"}, "*": {"batch": "50"}}
    )
    assert answer["rerun"] == ["index", "load"]
    world.drain()
    run = world.store.get_run(run_id)
    assert run is not None and run.status is RunStatus.SUCCEEDED
    first, *rest = seen
    assert first == ("load", 1, {"source": "primary"}, f"{run_id}/load")
    load, index = rest
    assert load[2] == {"source": "replica"} and index[2] == {"batch": 50}  # converted: declared int
    # new values ask for different work: a new idempotency key
    assert load[3].startswith(f"{run_id}/load/p") and index[3].startswith(f"{run_id}/index/p")
    [override] = run.overrides
    assert override["params"] == {"index": {"batch": 50}, "load": {"source": "replica"}}


def test_a_rerun_without_new_parameters_keeps_the_idempotency_key() -> None:
    world, seen, run_id = pipeline()
    world.act(action="rerun", run_id=run_id)
    world.drain()
    assert [s[3] for s in seen if s[0] == "load"] == [f"{run_id}/load", f"{run_id}/load"]
    assert world.store.get_run(run_id).overrides == []  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("parameters", "said"),
    [
        ({"load": {"nope": "1"}}, "job 'load' has no parameter 'nope' (declared: source)"),
        ({"index": {"batch": "many"}}, "batch"),
        ({"ghost": {"x": "1"}}, "no job 'ghost' in the catalog"),
        ({"*": {"colour": "red"}}, "no job declares a parameter 'colour'"),
    ],
)
def test_bad_new_parameters_are_refused_and_nothing_is_rerun(parameters: dict[str, Any], said: str) -> None:
    world, _seen, run_id = pipeline()
    answer = world.act(action="rerun", run_id=run_id, parameters=parameters)
    assert said in answer["error"]
    assert world.store.get_run(run_id).status is RunStatus.FAILED  # type: ignore[union-attr]


def test_new_parameters_for_a_job_the_rerun_does_not_run_are_refused() -> None:
    world, _seen, run_id = pipeline()
    world.act(action="rerun", run_id=run_id, parameters={"load": {"source": "replica"}})
    world.drain()
    with pytest.raises(InvalidRequest, match="does not run: 'load' \\(SUCCEEDED\\)"):
        world.dispatcher.operator.rerun(run_id, False, {"load": {"source": "x"}}, {"load"})
