"""Domain errors. Each message names the thing that is wrong, so a user can act on it."""

from __future__ import annotations


class CronlaneError(Exception):
    """Base class of every error cronlane raises on purpose."""


class CatalogError(CronlaneError):
    """The job or schedule declarations are wrong, or a request names something not declared."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


class CatalogNotFound(CatalogError):
    """The catalog module cannot be imported, or defines no cronlane ``CATALOG``."""


class CycleError(CatalogError):
    def __init__(self, cycle: list[str]) -> None:
        self.cycle = cycle
        super().__init__(["dependency cycle: " + " -> ".join(cycle)])


class InvalidRequest(CronlaneError):
    """An event or a trigger that cannot be accepted as it is."""


class StoreError(CronlaneError):
    """DynamoDB refused or failed a call; raised from the SDK error."""


class QueueError(CronlaneError):
    """SQS refused or failed a call; raised from the SDK error."""


class Conflict(CronlaneError):
    """Something changed under a request while it ran (a race, not bad input): a function error,
    so a tick is retried and an operator is told to try again."""
