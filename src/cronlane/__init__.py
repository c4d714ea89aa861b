"""cronlane: a serverless job scheduler for AWS (EventBridge -> Lambda -> SQS FIFO -> Lambda -> DynamoDB).

The pure core (``declarations``, ``graph``, ``cron``, ``model``, ``context``, ``clock``) imports
nothing from AWS; ``dal`` owns every DynamoDB and SQS call; ``dispatch`` and ``execute`` hold the
logic the two Lambda handlers call.
"""

from cronlane.context import Continuation, JobContext
from cronlane.declarations import Catalog, Job, Param, Schedule, Selection

__version__ = "0.2.0"

__all__ = ["Catalog", "Continuation", "Job", "JobContext", "Param", "Schedule", "Selection", "__version__"]
