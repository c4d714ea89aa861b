"""cronlane: a serverless job scheduler for AWS (EventBridge -> Lambda -> SQS FIFO -> Lambda -> DynamoDB).

An application declares its jobs and schedules with the names below (``Job``, ``Schedule``,
``Catalog``...) and writes its jobs against ``JobContext``. The framework's parts: the pure core
(``declarations``, ``graph``, ``cron``, ``model``, ``rules``, ``policies``, ``context``,
``clock``), the ports (``ports``) and their implementations (``store``, ``queue``), the use
cases (``dispatch``, ``starting``, ``execute``, ``release``, ``operations``, ``replay``,
``runs``), the composition root (``wiring``) and the Lambda handlers (``handlers``); with the
``local`` extra, the ``cronlane`` command (``cli``) and the local runtime (``local``).
docs/architecture.md has the map.
"""

from cronlane.context import Continuation, JobContext
from cronlane.declarations import Catalog, Job, Param, Permission, Schedule, Selection
from cronlane.targets import CallbackTarget, EcsTarget, LambdaTarget

__version__ = "0.3.0"

__all__ = [
    "CallbackTarget",
    "Catalog",
    "Continuation",
    "EcsTarget",
    "Job",
    "JobContext",
    "LambdaTarget",
    "Param",
    "Permission",
    "Schedule",
    "Selection",
    "__version__",
]
