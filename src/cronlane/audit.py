"""The audit trail: every operator action (trigger, cancel, rerun, mark, pause, resume,
backfill, DLQ replay) that the dispatcher carried out, with who asked, when, what and why.

Who and why come with the action, in its ``audit`` field (``{"actor": ..., "reason": ...}``):
the CLI fills in the actor (on AWS the caller's identity as STS names it, on the embedded default
the local user) and ``--reason``. Lambda does not tell a function who invoked it, so the actor is
what the caller says it is; CloudTrail's record of the Invoke (a data event, when the trail logs
them) is the one a caller cannot write, and the entry keeps the invocation's request id to find
it by (docs/operating.md, "The audit trail"). An action with no ``audit`` field is recorded as
asked by an unnamed caller. Reads (``dlq-list``), dry runs and the runs' own checks are not
actions and are not recorded; a refused action changed nothing and is not recorded either.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cronlane.clock import iso
from cronlane.errors import InvalidRequest

AUDITED = ("trigger", "cancel", "rerun", "mark", "pause", "resume", "backfill", "dlq-replay")
UNNAMED = "unnamed caller"
MAX_ACTOR = 256
MAX_REASON = 500


@dataclass(frozen=True)
class Said:
    """Who asked for an action and why, as the caller says."""

    actor: str = UNNAMED
    reason: str | None = None


@dataclass(frozen=True)
class AuditEntry:
    at: float
    action: str
    actor: str
    reason: str | None = None
    run_id: str | None = None
    schedule: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)  # what was done (counts, names)
    request_id: str | None = None  # the dispatcher invocation's, to find it in CloudTrail

    def to_json(self) -> dict[str, Any]:
        return {
            "at": iso(self.at),
            "action": self.action,
            "actor": self.actor,
            "reason": self.reason,
            "run_id": self.run_id,
            "schedule": self.schedule,
            "detail": self.detail,
            "request_id": self.request_id,
        }


def split_audit(event: dict[str, Any]) -> tuple[dict[str, Any], Said]:
    """The action without its ``audit`` field, and what that field says."""
    if "audit" not in event:
        return event, Said()
    rest = {k: v for k, v in event.items() if k != "audit"}
    given = event["audit"]
    if not isinstance(given, dict) or not set(given) <= {"actor", "reason"}:
        raise InvalidRequest("field 'audit': must be an object with 'actor' and 'reason' (strings)")
    actor, reason = given.get("actor"), given.get("reason")
    for name, value, most in (("actor", actor, MAX_ACTOR), ("reason", reason, MAX_REASON)):
        if value is not None and (not isinstance(value, str) or len(value) > most):
            raise InvalidRequest(f"field 'audit.{name}': must be a string of at most {most} characters")
    return rest, Said(actor.strip() if actor and actor.strip() else UNNAMED, reason or None)


def entry_for(
    event: dict[str, Any], result: dict[str, Any], said: Said, now: float, request_id: str | None = None
) -> AuditEntry | None:
    """The entry of an action the dispatcher carried out (``event`` as asked, ``result`` as
    answered), or None for what is not recorded."""
    action = event.get("action")
    if action not in AUDITED or event.get("dry_run"):
        return None
    detail: dict[str, Any] = {}
    run_id = result.get("run_id") if isinstance(result.get("run_id"), str) else event.get("run_id")
    schedule = event.get("schedule")
    if action == "trigger":
        detail = {"jobs": event.get("jobs"), "status": result.get("status"), "created": result.get("created")}
    elif action == "cancel":
        detail = {"cancelled": result.get("cancelled")}
    elif action in ("rerun", "mark"):
        detail = {"rerun": result.get("rerun"), "marked": result.get("marked"), "job": event.get("job")}
        detail["failed_only"] = bool(event.get("failed_only")) if action == "rerun" else None
    elif action == "backfill":
        created = result.get("created")
        detail = {
            "from": event.get("from"),
            "to": event.get("to"),
            "created": len(created) if isinstance(created, list) else created,
        }
    elif action == "dlq-replay":
        detail = {"job": event.get("job"), "all": bool(event.get("all")), "replayed": result.get("replayed")}
    parameters = event.get("parameters")
    if isinstance(parameters, dict) and parameters:  # the names: values may be what is not logged
        detail["parameters"] = sorted(f"{job}.{key}" for job, values in parameters.items() for key in values)
    reason = said.reason
    if reason is None and action == "pause":  # a pause's own reason says why
        reason = result.get("reason") or event.get("reason")
    return AuditEntry(
        at=now,
        action=action,
        actor=said.actor,
        reason=reason,
        run_id=run_id if action != "backfill" and isinstance(run_id, str) else None,
        schedule=schedule if isinstance(schedule, str) else None,
        detail={k: v for k, v in detail.items() if v is not None},
        request_id=request_id,
    )
