"""The run store on DynamoDB, through PynamoDB: one table (its items are in ``items``; the key
design is in docs/state.md), in two halves, the runs' (``dynamodb_runs``) and the job-runs'
(``dynamodb_job_runs``). Every SDK error is turned into a domain error by ``sdk_errors``; a failed
condition, which is how idempotency shows itself, is a return value.

Access patterns: the runs of a schedule, newest first (query by-schedule descending); its active
runs, oldest first (query active-by-schedule, a sparse index of the runs not over); the jobs of a
run (query pk, sk begins_with ``JOB#``, on each of the run's keys when it is spread:
``store.keys``). Both indexes project only a run's identity and status,
so the counter updates never write to them. Everything expires through ``expires_at``.
"""

from __future__ import annotations

from cronlane.store.base import LOST_ATTEMPT, StoreBase
from cronlane.store.dynamodb_job_runs import JobRunRecordsOnDynamo
from cronlane.store.dynamodb_runs import RunRecordsOnDynamo

__all__ = ["LOST_ATTEMPT", "DynamoRunStore"]


class DynamoRunStore(RunRecordsOnDynamo, JobRunRecordsOnDynamo, StoreBase):
    """Runs, job-runs and schedule state in one DynamoDB table (``ports.RunStore``)."""
