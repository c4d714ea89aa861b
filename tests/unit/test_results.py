"""Results between jobs (cronlane.results) on the in-process pipeline: what a job returns is kept
in an item of its own, shown with the run, and read by its dependents as
``ctx.upstream_results``; a result too large fails the attempt by name; a marked upstream, a
failed one and an earlier life of the job-run leave no entry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from cronlane import CallbackTarget, Catalog, Job, Schedule, Selection
from cronlane.completion import Report
from cronlane.errors import InvalidRequest
from cronlane.inprocess import InProcess
from cronlane.model import JobStatus, RunStatus
from cronlane.results import MAX_RESULT_CHARS
from tests.unit.test_handed_off import FakeTargets

START = 1_800_000_000.0 - 8 * 3600 + 2 * 3600  # 2027-01-15T02:00:00Z: a fire time


class Jobs:
    """The app's job functions: what each returns, and what each saw of its upstreams."""

    def __init__(self, returns: dict[str, Callable[[Any], Any]]) -> None:
        self.returns = returns
        self.seen: dict[str, dict[str, Any]] = {}

    def function(self, spec: str) -> Callable[[Any], Any]:
        name = spec.rsplit(".", 1)[1]

        def run(ctx: Any) -> Any:
            self.seen[name] = dict(ctx.upstream_results)
            return self.returns.get(name, lambda ctx: None)(ctx)

        return run


def world(jobs: Jobs, *declared: Job) -> InProcess:
    catalog = Catalog.build(
        list(declared), [Schedule("nightly", "cron(0 2 * * ? *)", Selection.everything())]
    )
    return InProcess(catalog, START, import_function=jobs.function, targets=FakeTargets())


def run_once(w: InProcess) -> str:
    run_id = str(w.tick("nightly", START)["run_id"])
    w.drain()
    return run_id


def results_of(w: InProcess, run_id: str) -> dict[str, Any]:
    return w.store.results(run_id, w.store.job_runs(run_id))


def test_a_dependent_reads_its_upstreams_results_and_the_run_shows_them() -> None:
    jobs = Jobs({"traits": lambda ctx: {"users": 1200}, "index": lambda ctx: {"indexed": 1200, "shards": 4}})
    w = world(
        jobs,
        Job("traits", "app.jobs.traits", "g"),
        Job("index", "app.jobs.index", "g", ("traits",)),
        Job("feed", "app.jobs.feed", "g", ("traits", "index")),
    )
    run_id = run_once(w)
    assert jobs.seen == {
        "traits": {},
        "index": {"traits": {"users": 1200}},
        "feed": {
            "traits": {"users": 1200},
            "index": {"indexed": 1200, "shards": 4},
        },
    }
    # feed returned nothing: no result, and no entry
    assert results_of(w, run_id) == {"traits": {"users": 1200}, "index": {"indexed": 1200, "shards": 4}}


def test_a_result_too_large_fails_the_attempt_with_an_error_that_names_the_job() -> None:
    jobs = Jobs({"dump": lambda ctx: {"rows": "x" * MAX_RESULT_CHARS}})
    w = world(
        jobs,
        Job("dump", "app.jobs.dump", "g", max_attempts=2),
        Job("after", "app.jobs.after", "g", ("dump",)),
    )
    run_id = run_once(w)
    dump = w.store.get_job_run(run_id, "dump")
    assert dump is not None and dump.status is JobStatus.FAILED and dump.attempts == 2
    assert dump.error is not None and dump.error.startswith(
        f"job 'dump' returned a result of {MAX_RESULT_CHARS + 11} characters as JSON; at most 32000"
    )
    assert results_of(w, run_id) == {}


def test_a_result_that_is_not_json_fails_the_attempt_by_name() -> None:
    jobs = Jobs({"odd": lambda ctx: {"when": object()}})
    w = world(jobs, Job("odd", "app.jobs.odd", "g", max_attempts=1))
    run_id = run_once(w)
    odd = w.store.get_job_run(run_id, "odd")
    assert odd is not None and (odd.error or "").startswith("job 'odd' returned a result that is not JSON")


def test_a_marked_upstream_and_a_failed_one_under_all_done_have_no_entry() -> None:
    calls: list[int] = []

    def flaky(ctx: Any) -> Any:
        calls.append(ctx.attempt)
        raise RuntimeError("feature store down")

    jobs = Jobs({"broken": flaky, "fine": lambda ctx: {"ok": 1}})
    w = world(
        jobs,
        Job("broken", "app.jobs.broken", "g", max_attempts=1),
        Job("fine", "app.jobs.fine", "g"),
        Job("report", "app.jobs.report", "g", ("broken", "fine"), trigger_rule="all_done"),
        Job("after", "app.jobs.after", "g", ("broken",)),
    )
    run_id = run_once(w)
    assert jobs.seen["report"] == {"fine": {"ok": 1}}  # the failed upstream has no entry
    assert w.store.get_run(run_id).status is RunStatus.FAILED  # type: ignore[union-attr]
    w.act(action="mark", run_id=run_id, job="broken")
    w.drain()
    assert w.store.get_job_run(run_id, "after").status is JobStatus.SUCCEEDED  # type: ignore[union-attr]
    assert jobs.seen["after"] == {}  # marked succeeded by an operator: it returned nothing


def test_a_rerun_job_still_reads_the_results_of_upstreams_that_succeeded_before() -> None:
    lives: list[int] = []

    def use(ctx: Any) -> Any:
        lives.append(ctx.attempt)
        if len(lives) == 1:
            raise RuntimeError("the search cluster is down")
        return {"used": ctx.upstream_results["load"]["rows"]}

    jobs = Jobs({"load": lambda ctx: {"rows": 7}, "use": use})
    w = world(
        jobs, Job("load", "app.jobs.load", "g"), Job("use", "app.jobs.use", "g", ("load",), max_attempts=1)
    )
    run_id = run_once(w)
    assert w.store.get_run(run_id).status is RunStatus.FAILED  # type: ignore[union-attr]
    w.act(action="rerun", run_id=run_id)
    w.drain()
    assert results_of(w, run_id) == {"load": {"rows": 7}, "use": {"used": 7}}


def test_a_callback_workers_result_reaches_the_dependent_and_its_payload() -> None:
    jobs = Jobs({})
    w = world(
        jobs,
        Job("score", CallbackTarget("score-work"), "g", timeout_s=600),
        Job("publish", "app.jobs.publish", "g", ("score",)),
    )
    targets = w.executor.targets
    assert isinstance(targets, FakeTargets)
    run_id = str(w.tick("nightly", START)["run_id"])
    w.drain(until=START + 1)
    token = targets.started[0].token or ""
    with pytest.raises(InvalidRequest, match="cannot be kept: it is a result of 32003 characters"):
        Report.parse({"token": token, "status": "succeeded", "result": "x" * MAX_RESULT_CHARS + "y"})
    w.completions.report(Report(token, "succeeded", {"scored": 12}))
    w.drain()
    assert jobs.seen["publish"] == {"score": {"scored": 12}}
    assert results_of(w, run_id) == {"score": {"scored": 12}}
