"""The watchdog on EventBridge Scheduler: a run's check is a one-time schedule, ``at(...)``, in the
stack's watchdog group, that invokes the dispatcher with ``{"action": "watchdog", "run_id": ...}``
and deletes itself once it fired (``ActionAfterCompletion: DELETE``). Arming again moves it;
disarming deletes it (one already gone is fine). SDK errors become ``StoreError`` in
``sdk_errors``: the invocation fails and is retried."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from cronlane.sdk_errors import scheduler
from cronlane.watchdog import schedule_name


class SchedulerWatchdog:
    def __init__(self, client: Any, group: str, target_arn: str, role_arn: str) -> None:
        self.client = client
        self.group = group
        self.target_arn = target_arn
        self.role_arn = role_arn

    def _definition(self, run_id: str, due: float) -> dict[str, Any]:
        at = datetime.fromtimestamp(max(due, 0), tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
        return {
            "Name": schedule_name(run_id),
            "GroupName": self.group,
            "ScheduleExpression": f"at({at})",
            "ScheduleExpressionTimezone": "UTC",
            "FlexibleTimeWindow": {"Mode": "OFF"},
            # UpdateSchedule replaces every field: each is named (moto's leaves an omitted State
            # empty, a schedule that never fires)
            "State": "ENABLED",
            "ActionAfterCompletion": "DELETE",
            "Target": {
                "Arn": self.target_arn,
                "RoleArn": self.role_arn,
                "Input": json.dumps({"action": "watchdog", "run_id": run_id}),
                "RetryPolicy": {"MaximumRetryAttempts": 10, "MaximumEventAgeInSeconds": 3600},
            },
        }

    def arm(self, run_id: str, due: float) -> None:
        definition = self._definition(run_id, due)
        doing = f"arming the watchdog of run {run_id}"
        if not scheduler(doing, lambda: self.client.create_schedule(**definition)):
            scheduler(doing, lambda: self.client.update_schedule(**definition))  # armed before: move it

    def disarm(self, run_id: str) -> None:
        name = schedule_name(run_id)
        scheduler(
            f"disarming the watchdog of run {run_id}",
            lambda: self.client.delete_schedule(Name=name, GroupName=self.group),
            absent_is_fine=True,  # fired and gone, or never armed
        )
