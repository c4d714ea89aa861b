"""A checkpoint's cursor must be JSON of a bounded size, and the continuations are bounded: any
other request to continue fails the attempt with a reason that names the problem."""

from __future__ import annotations

from typing import Any

import pytest

from cronlane.context import Continuation
from cronlane.execute import MAX_CURSOR_CHARS, stored_cursor
from cronlane.model import JobRunView, JobStatus


def view(continuations: int = 0, max_continuations: int = 20) -> JobRunView:
    return JobRunView(
        run_id="manual@t",
        job="longJob",
        status=JobStatus.RUNNING,
        depends_on=(),
        dependents=(),
        attempts=1,
        max_attempts=3,
        timeout_s=900,
        function="jobs.long.run",
        group="g",
        generation=0,
        params={},
        continuations=[{"continuation": n + 1} for n in range(continuations)],
        max_continuations=max_continuations,
    )


def cursor_of(step: Continuation, **kw: Any) -> tuple[str | None, str | None]:
    return stored_cursor(view(**kw), step)


def test_a_json_cursor_is_stored_as_json() -> None:
    assert cursor_of(Continuation({"epoch": 3, "shard": "b"}, 0.3)) == ('{"epoch": 3, "shard": "b"}', None)


@pytest.mark.parametrize(
    ("cursor", "named"),
    [
        ({1, 2}, "returned a cursor that is not JSON"),
        (float("nan"), "returned a cursor that is not JSON"),
        ("x" * MAX_CURSOR_CHARS, f"at most {MAX_CURSOR_CHARS} fit on the job-run"),
    ],
)
def test_a_cursor_that_cannot_be_stored_is_refused_by_name(cursor: Any, named: str) -> None:
    stored, problem = cursor_of(Continuation(cursor))
    assert stored is None and problem is not None and named in problem


def test_one_continuation_past_the_limit_is_refused() -> None:
    assert cursor_of(Continuation(1), continuations=19)[1] is None
    _, problem = cursor_of(Continuation(1), continuations=20)
    assert problem == "job 'longJob' asked for continuation 21, but its max_continuations is 20"
