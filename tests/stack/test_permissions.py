"""The roles are enough: every AWS API operation the functions call while doing their whole
range of work (runs, retries, a dead letter, DLQ list and replay, cancel, backfill, a long job's
continuations) is an action its role in template.yaml grants. tests/test_iam.py pins the roles
to exactly these actions and to this stack's resources; this test proves nothing is missing
(moto does not enforce IAM, so a missing action would only show on AWS)."""

from __future__ import annotations

from typing import Any

import pytest

from cronlane.clock import iso
from cronlane.template.iam import FRAMEWORK_GRANTS
from tests.conftest import START
from tests.test_iam import DISPATCHER_ACTIONS, EXECUTOR_ACTIONS

pytestmark = pytest.mark.stack

# API operation -> the IAM actions it needs (a batch call needs its single action; a transaction
# needs the actions of its parts, which cronlane's are puts and updates).
NEEDS = {
    "SendMessageBatch": {"sqs:SendMessage"},
    "ChangeMessageVisibilityBatch": {"sqs:ChangeMessageVisibility"},
    "DeleteMessageBatch": {"sqs:DeleteMessage"},
    "TransactWriteItems": {"dynamodb:PutItem", "dynamodb:UpdateItem"},
    # a run's check names the scheduler role it runs as: the caller must be allowed to pass it
    "CreateSchedule": {"scheduler:CreateSchedule", "iam:PassRole"},
    "UpdateSchedule": {"scheduler:UpdateSchedule", "iam:PassRole"},
    "PutEvents": {"events:PutEvents"},  # the run events
}
SQS_OPERATIONS = {"SendMessage", "ReceiveMessage", "ChangeMessageVisibility", "DeleteMessage", "GetQueueUrl"}


def needed(operation: str) -> set[str]:
    if operation in NEEDS:
        return NEEDS[operation]
    if operation.endswith("Schedule"):
        return {f"scheduler:{operation}"}
    service = "sqs" if operation in SQS_OPERATIONS or "Queue" in operation else "dynamodb"
    return {f"{service}:{operation}"}


def act(runtime: Any, event: dict[str, Any]) -> dict[str, Any]:
    invocation = runtime.invoke("DispatcherFunction", event)
    assert invocation.error is None and "error" not in invocation.response, invocation.response
    return dict(invocation.response)


def test_every_call_the_functions_make_is_granted_by_their_roles(runtime: Any) -> None:
    seen = runtime.record_requests()
    # a nightly run with a job that fails for good (retries, a dead letter, skipped dependents)
    # and the 40-minute job that continues across invocations
    act(
        runtime,
        {
            "action": "trigger",
            "schedule": "nightly",
            "idempotency_key": "perm",
            "scheduled_time": iso(START),
            "parameters": {"check": {"fail_attempts": 3}},
        },
    )
    runtime.drain()
    assert act(runtime, {"action": "dlq-list"})["messages"]
    act(runtime, {"action": "dlq-replay", "all": True})
    runtime.drain()
    runtime.mappings_enabled = False  # the cancel finds both jobs queued and closes the run itself
    act(runtime, {"action": "trigger", "jobs": ["geo", "synonyms"], "idempotency_key": "c"})
    act(runtime, {"action": "cancel", "run_id": "manual@c"})
    runtime.mappings_enabled = True
    act(
        runtime,
        {"action": "backfill", "schedule": "hourly", "from": iso(START - 7200), "to": iso(START - 3600)},
    )
    runtime.invoke("DispatcherFunction", runtime.scheduled_event("morning", START + 5 * 3600))
    runtime.drain()
    # the dashboard's widget draws the runs above
    drawn = runtime.invoke("DashboardWidgetFunction", {"widgetContext": {"dashboardName": "local"}})
    assert drawn.error is None and "Latest run:" in drawn.response, drawn.error
    granted = {
        "DispatcherFunction": DISPATCHER_ACTIONS,
        "ExecutorFunction": EXECUTOR_ACTIONS,
        "DashboardWidgetFunction": FRAMEWORK_GRANTS["WidgetRole"][1],
    }
    calls = seen()
    assert {f for f, _ in calls} == set(granted), calls
    for function, operation in sorted(calls):
        missing = needed(operation) - granted[function]
        assert not missing, f"{function} calls {operation} but its role lacks {sorted(missing)}"
    # and the work above did reach the parts of the roles it is meant to exercise
    operations = {op for _, op in calls}
    assert {
        "TransactWriteItems",
        "SendMessageBatch",
        "ReceiveMessage",
        "ChangeMessageVisibility",
    } <= operations
    # both arm and disarm runs' checks (the dispatcher as it creates a run, the executor as it
    # closes one and starts the buffered one)
    for function in ("DispatcherFunction", "ExecutorFunction"):
        assert {(function, "CreateSchedule"), (function, "DeleteSchedule")} <= calls, function
