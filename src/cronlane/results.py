"""A job's result: what its function returns (a ``lambda`` target's payload, a ``callback``
worker's ``--result``), kept for its dependents and for whoever looks at the run.

- A result is any JSON value of at most ``MAX_RESULT_CHARS`` characters as JSON; ``None`` (a job
  that returns nothing) is no result. A larger one, or one that is not JSON, fails the attempt
  with an error that names the job.
- A result of at most ``INLINE_CHARS`` characters as JSON is kept on the job-run's item, in the
  success's own write (the item stays within the one write unit of 1 KB for most jobs, and the
  dependents that read the job-run read the result with it). A larger one is stored in an item
  of its own (``RESULT#<job>#<life>.<attempt>`` in the run's partition), written just before
  the job-run's success, which records which life and attempt wrote it (``result_key``): a
  result left by an attempt that died or lost its lease before its success, or by an earlier
  life of the job-run, is never read.
- A dependent reads its upstreams' results as ``ctx.upstream_results[name]`` (read from the table
  the first time it is looked at; a ``lambda`` or ``callback`` target gets them in its payload).
  An upstream has an entry only if it succeeded in this run by running and returned something:
  one outside the run, one marked succeeded by an operator, or one that failed (under
  ``all_done``) has none.

Pure: the stores keep the items (``ports.RunStore.put_result``, ``results``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

MAX_RESULT_CHARS = 32_000
INLINE_CHARS = 300  # a result this small is kept on the job-run's item, in its success's write


def inline(text: str) -> bool:
    """Whether a result (its JSON text) is kept on the job-run's item rather than in its own."""
    return len(text) <= INLINE_CHARS


class BadResult(ValueError):
    """A result that cannot be kept: not JSON, or too large. Its text names the job."""


def as_json(value: Any) -> str | None:
    """``value`` as the JSON text to store, or None for no result; ``BadResult`` says what is
    wrong with it (without naming the job: ``encode`` does)."""
    if value is None:
        return None
    try:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise BadResult(f"a result that is not JSON ({exc})") from None
    if len(text) > MAX_RESULT_CHARS:
        raise BadResult(
            f"a result of {len(text)} characters as JSON; at most {MAX_RESULT_CHARS} are kept (store "
            "larger data elsewhere, for example in S3, and return where it is)"
        )
    return text


def encode(job: str, value: Any) -> str | None:
    """What job ``job`` returned, as the JSON text to store (None: no result)."""
    try:
        return as_json(value)
    except BadResult as exc:
        raise BadResult(f"job '{job}' returned {exc}") from None


def result_key(generation: int, attempt: int) -> str:
    """Which life and attempt of a job-run wrote its result."""
    return f"{generation}.{attempt}"


class UpstreamResults(Mapping[str, Any]):
    """``ctx.upstream_results``: the job's upstreams' results by name, read once, when first
    looked at (a job that never looks costs no read)."""

    def __init__(self, read: Callable[[], dict[str, Any]]) -> None:
        self._read = read
        self._results: dict[str, Any] | None = None

    def _loaded(self) -> dict[str, Any]:
        if self._results is None:
            self._results = self._read()
        return self._results

    def __getitem__(self, name: str) -> Any:
        return self._loaded()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._loaded())

    def __len__(self) -> int:
        return len(self._loaded())

    def __repr__(self) -> str:
        return f"UpstreamResults({self._results!r})" if self._results is not None else "UpstreamResults(...)"
