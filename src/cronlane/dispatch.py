"""The dispatcher: turn a tick (or a manual trigger) into a run and enqueue the jobs that are ready.

A run's identity comes from the schedule and the tick's scheduled time (or the caller's key), and
``RunStore.create_run`` claims it with a conditional write. A run is born CREATING; the job-runs
are written and the ready jobs enqueued; only then is it RUNNING. If the dispatcher dies half
way, EventBridge's retry (or any second delivery of the tick) finds the run CREATING and finishes
the same steps from the stored graph snapshot instead of creating a second run.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, replace
from typing import Any

from cronlane import lanes, places, priority, watchdog
from cronlane.audit import Said, entry_for, split_audit
from cronlane.clock import Clock, iso
from cronlane.cron import RateExpression, parse_expression
from cronlane.declarations import Catalog, Schedule, Selection
from cronlane.errors import CatalogError, Conflict, InvalidRequest, StoreError
from cronlane.events import (
    BackfillAction,
    DlqAction,
    ManualTrigger,
    RunAction,
    ScheduleAction,
    ScheduledEvent,
    SchedulerEvent,
    parse_dispatch_event,
)
from cronlane.faults import crashpoint
from cronlane.graph import plan_selection
from cronlane.model import (
    MANUAL_SCHEDULE,
    CatchUp,
    JobNode,
    JobStatus,
    NewRun,
    Overlap,
    RunStatus,
    RunView,
    Trigger,
    TriggerRule,
    manual_run_id,
    scheduled_run_id,
)
from cronlane.operations import Operator
from cronlane.policies import catch_up, on_tick, tick_problem
from cronlane.ports import RunStore, Watchdog
from cronlane.replay import DeadLetters
from cronlane.runs import RunCloser
from cronlane.starting import RunStarter
from cronlane.telemetry import NoTelemetry, Telemetry
from cronlane.watch import RunWatch

MISSED_GRACE_S = 3_900.0  # a tick may arrive this late (the rules retry for an hour) and not be missed
MAX_MISSED = 500  # fire times one missed-run check looks at
MAX_BACKFILL = 1_000  # fire times one backfill request may create
ABANDONED_AFTER_S = 300.0  # the dispatcher's timeout: no dispatch of a tick takes longer
HISTORY_RUNS = 2  # a schedule's latest runs looked at for the jobs' last durations (cronlane.priority)
HISTORY_FRESH_S = 6 * 3600.0  # a warm dispatcher reads them again after this
HISTORY_MAX_JOBS = 200  # a last run of more jobs (spread over keys) is not read for durations


@dataclass(frozen=True)
class DispatchRequest:
    run_id: str
    schedule: str
    scheduled_time: float
    trigger: Trigger
    selection: Selection
    include_upstreams: bool
    parameters: dict[str, dict[str, Any]]
    fingerprint: str = ""  # what a manual trigger asked for; a reused key must ask the same
    deadline_s: int | None = None
    overlap: Overlap = Overlap.ALLOW
    max_parallel: int | None = None  # the schedule's width (cronlane.places)


@dataclass(frozen=True)
class DispatchResult:
    run_id: str
    status: RunStatus
    created: bool  # False: the run already existed (a duplicate tick or a repeated key)
    jobs: int
    enqueued: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": self.status.value,
            "created": self.created,
            "job_count": self.jobs,
            "enqueued": self.enqueued,
        }


class Dispatcher:
    def __init__(
        self,
        catalog: Catalog,
        store: RunStore,
        clock: Clock,
        starter: RunStarter,
        operator: Operator,
        dead_letters: DeadLetters,
        closer: RunCloser,
        watch: RunWatch,
        checks: Watchdog,
        rule_prefix: str = "",
        history_ttl_s: int = 30 * 86_400,
        telemetry: Telemetry | None = None,
    ) -> None:
        self.telemetry: Telemetry = telemetry or NoTelemetry()
        self.catalog = catalog
        self.store = store
        self.clock = clock
        self.starter = starter
        self.operator = operator
        self.dead_letters = dead_letters
        self.closer = closer
        self.watch = watch
        self.checks = checks
        self.rule_prefix = rule_prefix
        self.history_ttl_s = history_ttl_s
        # schedule -> (when read, each job's duration in its last run): kept by a warm dispatcher
        self._measured_at: dict[str, tuple[float, dict[str, float]]] = {}

    # -- requests -----------------------------------------------------------------------------

    def handle(self, event: Any, request_id: str | None = None) -> dict[str, Any]:
        """Entry point for the Lambda handler: parse, then dispatch (or perform an operator's
        action).

        Bad input is answered, never raised: ``{"error": "..."}`` names the problem. Retrying a
        malformed event cannot make it valid, so it is not a function error; a rejected tick
        (as opposed to a person's refused request) is counted as ``TicksRejected``, which has an
        alarm. Infrastructure errors (``StoreError``, ``QueueError``) do raise, so that
        EventBridge retries the tick.
        """
        is_action = isinstance(event, dict) and "action" in event
        try:
            said = None
            if is_action:
                event, said = split_audit(event)
            parsed = parse_dispatch_event(event)
            if isinstance(parsed, BackfillAction):
                result = self.backfill(parsed)
            elif isinstance(parsed, RunAction | ScheduleAction | DlqAction):
                result = self.act(parsed)
            else:
                result = self.dispatch(self.request_for(parsed)).to_dict()
        except (InvalidRequest, CatalogError) as exc:
            if not is_action:
                self.telemetry.emit("TicksRejected", 1)
            return {"error": str(exc)}
        if said is not None:
            self._audit(event, result, said, request_id)
        return result

    def _audit(
        self, event: dict[str, Any], result: dict[str, Any], said: Said, request_id: str | None
    ) -> None:
        """Record the operator's action it carried out (cronlane.audit)."""
        now = self.clock.now()
        entry = entry_for(event, result, said, now, request_id)
        if entry is None:
            return
        if entry.run_id is not None and entry.schedule is None:  # the run's, for audit --schedule
            run = self.store.get_run(entry.run_id)
            entry = replace(entry, schedule=run.schedule if run is not None else None)
        self.store.record_audit(entry, int(now + self.history_ttl_s))

    def act(self, action: RunAction | ScheduleAction | DlqAction) -> dict[str, Any]:
        operator = self.operator
        if isinstance(action, DlqAction):
            letters = self.dead_letters
            if action.action == "dlq-list":
                return letters.listing(action.limit)
            return letters.replay(action.run_id, action.job, action.all, action.dry_run, action.limit)
        if isinstance(action, ScheduleAction):
            name = self.catalog.schedule(action.schedule).name
            if action.action == "pause":
                return operator.pause(name, action.reason)
            return operator.resume(name)
        if action.action == "watchdog":
            return self.watch.check(action.run_id)
        if action.action == "cancel":
            return operator.cancel(action.run_id)
        if action.action == "rerun":
            overrides, named = self._new_params(action.parameters)
            return operator.rerun(action.run_id, action.failed_only, overrides, named)
        if not action.job:
            raise InvalidRequest("field 'job': mark names the job an operator vouches for")
        return operator.mark_succeeded(action.run_id, action.job)

    def _new_params(self, given: dict[str, dict[str, Any]]) -> tuple[dict[str, dict[str, Any]], set[str]]:
        """A rerun's new parameter values, converted to each job's declared types: ``{job:
        values}``, and the jobs named (``"*"``: every job that declares the name)."""
        overrides: dict[str, dict[str, Any]] = {}
        for name, values in given.items():
            if name == "*":
                for key, value in values.items():
                    declaring = [j for j in self.catalog.jobs.values() if key in j.params]
                    if not declaring:
                        raise InvalidRequest(f"parameters: no job declares a parameter '{key}'")
                    for job in declaring:
                        overrides.setdefault(job.name, {})[key] = value
            elif name not in self.catalog.jobs:
                raise InvalidRequest(f"parameters: no job '{name}' in the catalog")
        for name, values in given.items():  # a job named overrides what "*" gave it
            if name != "*":
                overrides.setdefault(name, {}).update(values)
        try:
            converted = {n: self.catalog.jobs[n].coerce_params(v) for n, v in overrides.items()}
        except ValueError as exc:
            raise InvalidRequest(f"parameters: {exc}") from None
        return converted, {n for n in given if n != "*"}

    def backfill(self, action: BackfillAction) -> dict[str, Any]:
        """The runs of the schedule's fire times in [from, to] that do not exist yet, keyed by
        their fire times (a second backfill, or a tick that already ran, creates nothing), born
        BUFFERED and started oldest first while fewer than ``max_active`` are active; the end
        of each starts the next. Jobs see the fire time as ``ctx.scheduled_time``."""
        schedule = self.catalog.schedule(action.schedule)
        start, end = action.from_time.timestamp(), action.to_time.timestamp()
        if end < start:
            raise InvalidRequest("field 'to': before 'from'")
        if end > self.clock.now():
            raise InvalidRequest("field 'to': in the future (backfill covers past fire times)")
        expression = parse_expression(schedule.expression)
        if isinstance(expression, RateExpression):
            raise InvalidRequest(
                f"schedule '{schedule.name}' is {schedule.expression}: a rate rule's fire times count "
                "from when the rule was created, which cronlane does not know; backfill needs cron()"
            )
        times = [
            t for t in expression.fire_times(start - 0.001, MAX_BACKFILL + 1, schedule.timezone) if t <= end
        ]
        if len(times) > MAX_BACKFILL:
            raise InvalidRequest(f"more than {MAX_BACKFILL} fire times in that range: backfill it in parts")
        created: list[str] = []
        existing: list[str] = []
        for when in times:
            run_id = scheduled_run_id(schedule.name, when)
            found = self.store.get_run(run_id)
            # A fire time whose tick was skipped (missed, paused, or by the overlap policy) ran
            # no job: backfill replaces that record. Any other run is the fire time's run.
            skipped = found is not None and found.status is RunStatus.SKIPPED and found.job_count == 0
            if found is not None and not skipped:
                existing.append(run_id)
                continue
            if action.dry_run:
                created.append(run_id)
                continue
            # no deadline: a past fire time is late by design, not a run to alarm on
            request = replace(self._fire_request(schedule, when, Trigger.BACKFILL), deadline_s=None)
            new = replace(self._new_run(request, self.plan(request)), max_active=action.max_active)
            self._arm(new, RunStatus.BUFFERED)
            if self.store.create_run(
                new,
                status=RunStatus.BUFFERED,
                reason="backfill: waits for a free slot",
                replace_skipped=skipped,
            ):
                created.append(run_id)
            else:
                existing.append(run_id)
            # a request that dies here is repeated: it creates only the runs still missing
            crashpoint("dispatcher.after_backfill_run", run_id=run_id)
        started = [] if action.dry_run else self.starter.start_backfill(schedule.name)
        return {
            "schedule": schedule.name,
            "dry_run": action.dry_run,
            "fire_times": [iso(t) for t in times],
            "created": created,
            "existing": existing,
            "started": started,
        }

    def request_for(self, event: ScheduledEvent | SchedulerEvent | ManualTrigger) -> DispatchRequest:
        if isinstance(event, ScheduledEvent):
            return self._scheduled(event.resources[0], event.time.timestamp())
        if isinstance(event, SchedulerEvent):
            return self._scheduled(event.schedule_arn, event.scheduled_time.timestamp())
        return self._manual(event)

    def _scheduled(self, arn: str, scheduled_time: float) -> DispatchRequest:
        """A tick, from an EventBridge rule (``.../rule/<name>``) or an EventBridge Scheduler
        schedule (``.../schedule/<group>/<name>``): both are named "<rule_prefix><schedule>"."""
        rule_name = arn.rsplit("/", 1)[-1]
        if not rule_name.startswith(self.rule_prefix):
            raise InvalidRequest(
                f"rule '{rule_name}' does not belong to this stack (expected the prefix '{self.rule_prefix}')"
            )
        schedule = self.catalog.schedule(rule_name[len(self.rule_prefix) :])
        problem = tick_problem(
            parse_expression(schedule.expression),
            schedule.timezone,
            scheduled_time,
            self.clock.now(),
            max(schedule.catch_up_window_s, MISSED_GRACE_S),
        )
        if problem is not None:
            raise InvalidRequest(f"schedule '{schedule.name}': {problem}")
        return self._fire_request(schedule, scheduled_time, Trigger.SCHEDULE)

    def _fire_request(self, schedule: Schedule, when: float, trigger: Trigger) -> DispatchRequest:
        """The run of one fire time of ``schedule``, keyed by it (a tick, a backfill, a catch-up)."""
        return DispatchRequest(
            run_id=scheduled_run_id(schedule.name, when),
            schedule=schedule.name,
            scheduled_time=when,
            trigger=trigger,
            selection=schedule.selection,
            include_upstreams=schedule.include_upstreams,
            parameters={},
            deadline_s=schedule.deadline_s,
            overlap=Overlap(schedule.overlap),
            max_parallel=schedule.max_parallel,
        )

    def _manual(self, event: ManualTrigger) -> DispatchRequest:
        if event.schedule is None and not event.jobs:
            raise InvalidRequest("a manual trigger names a 'schedule' or a list of 'jobs'")
        if event.jobs is not None and not event.jobs:
            raise InvalidRequest("field 'jobs': the list is empty")
        include_upstreams = False
        deadline_s = max_parallel = None
        if event.schedule is not None:
            schedule = self.catalog.schedule(event.schedule)
            include_upstreams = schedule.include_upstreams
            deadline_s, max_parallel = schedule.deadline_s, schedule.max_parallel
            selection = Selection.of_jobs(*event.jobs) if event.jobs else schedule.selection
            name = schedule.name
        else:
            selection = Selection.of_jobs(*(event.jobs or []))
            name = MANUAL_SCHEDULE
        key = uuid.uuid4().hex if event.idempotency_key is None else event.idempotency_key
        if event.scheduled_time is not None and event.scheduled_time.tzinfo is None:
            raise InvalidRequest("field 'scheduled_time': give a time zone (a 'Z' or an offset)")
        scheduled = event.scheduled_time.timestamp() if event.scheduled_time else self.clock.now()
        try:
            asked = event.model_dump(mode="json", exclude={"idempotency_key"})
        except ValueError as exc:  # pydantic refuses values nested too deep to serialise
            raise InvalidRequest(f"field 'parameters': a value cannot be read ({exc})") from None
        return DispatchRequest(
            run_id=manual_run_id(key),
            schedule=name,
            scheduled_time=scheduled,
            trigger=Trigger.MANUAL,
            selection=selection,
            include_upstreams=include_upstreams,
            parameters=event.parameters,
            fingerprint=hashlib.sha256(json.dumps(asked, sort_keys=True).encode()).hexdigest(),
            deadline_s=deadline_s,
            max_parallel=max_parallel,
        )

    # -- the run ------------------------------------------------------------------------------

    def plan(self, request: DispatchRequest) -> dict[str, JobNode]:
        """The graph snapshot of a new run: each job with its upstreams inside the run."""
        plan = plan_selection(self.catalog, request.selection, request.include_upstreams)
        outsiders = sorted(set(request.parameters) - set(plan.upstreams))
        if outsiders:
            raise InvalidRequest(
                "parameters name job(s) not in this run: " + ", ".join(repr(o) for o in outsiders)
            )
        nodes: dict[str, JobNode] = {}
        for name in plan.order:
            job = self.catalog.jobs[name]
            try:
                params = job.resolve_params(request.parameters.get(name, {}))
            except ValueError as exc:
                raise InvalidRequest(str(exc)) from None
            dependents = plan.dependents[name]
            nodes[name] = JobNode(
                name=name,
                group=job.group,
                function=job.spec,
                depends_on=plan.upstreams[name],
                dependents=dependents,
                timeout_s=job.timeout_s,
                max_attempts=job.max_attempts,
                params=params,
                dependent_fan_in=tuple(len(plan.upstreams[d]) for d in dependents),
                trigger_rule=TriggerRule(job.trigger_rule),
                max_continuations=job.max_continuations,
            )
        if not nodes:
            raise CatalogError([f"schedule '{request.schedule}' selects no jobs"])
        if request.max_parallel and len(nodes) > places.MAX_JOBS:
            raise CatalogError(
                [
                    f"schedule '{request.schedule}': a run with max_parallel has at most "
                    f"{places.MAX_JOBS} jobs, and this one has {len(nodes)}"
                ]
            )
        declared = {name: self.catalog.jobs[name].expected_s for name in nodes}
        measured = self._measured(request.schedule) if None in declared.values() else {}
        durations = priority.expected_durations(nodes, declared, measured)
        rank = priority.ranks(plan.order, plan.dependents, durations)
        return {name: replace(node, rank=rank[name]) for name, node in nodes.items()}

    def _measured(self, schedule: str) -> dict[str, float]:
        """What each job took in the schedule's last run that ended having run jobs (the runs'
        by-schedule index, then that run's job-runs), read again after ``HISTORY_FRESH_S``."""
        now = self.clock.now()
        kept = self._measured_at.get(schedule)
        if kept is not None and now - kept[0] < HISTORY_FRESH_S:
            return kept[1]
        took: dict[str, float] = {}
        try:
            for run in self.store.runs_of_schedule(schedule, limit=HISTORY_RUNS):
                if run.status in (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED):
                    if run.job_count <= HISTORY_MAX_JOBS:  # a larger run orders by its declarations
                        took = {
                            view.job: view.duration_s
                            for view in self.store.written_job_runs(run.run_id)
                            if view.status is JobStatus.SUCCEEDED and view.duration_s is not None
                        }
                    self._measured_at[schedule] = (now, took)
                    break
        except StoreError:  # only a hint for the order: the run goes ahead without it
            return {}
        return took

    def dispatch(self, request: DispatchRequest) -> DispatchResult:
        result = self._dispatch(request)
        if request.trigger is Trigger.SCHEDULE:  # a repeated tick too: it finishes what one left
            self._check_missed(request, result)
        return result

    def _check_missed(self, request: DispatchRequest, tick: DispatchResult) -> None:
        """Fire times of this schedule that passed without a run (EventBridge never delivered
        them, the rule was disabled, the function was throttled past the retries) since the last
        check, and not before the schedule existed or last changed. Each is counted in
        ``MissedRuns`` and handled by the schedule's catch-up policy: a catch-up run keyed by
        its own fire time (BUFFERED behind the active run, not subject to the overlap policy),
        or a SKIPPED run saying it was missed."""
        schedule = self.catalog.schedule(request.schedule)
        expression = parse_expression(schedule.expression)
        if isinstance(expression, RateExpression):
            return  # its fire times count from the rule's creation, which is not known here
        definition = f"{schedule.expression}|{schedule.timezone or 'UTC'}"
        until = request.scheduled_time - MISSED_GRACE_S
        # The watermark moves only once the missed fire times have their runs: a tick that dies
        # in between (or a throttled write) leaves them to its retry or the next tick, which see
        # the same fire times and create only the runs still missing.
        last = self.store.checked_until(schedule.name, definition, request.scheduled_time)
        if last is None or until <= last:
            return
        times = expression.fire_times(last, MAX_MISSED, schedule.timezone, until=until)
        missed = [t for t in times if self.store.get_run(scheduled_run_id(schedule.name, t)) is None]
        if missed:
            self._catch_up(request, tick, missed)
        self.store.advance_watch(schedule.name, definition, request.scheduled_time, until)

    def _catch_up(self, request: DispatchRequest, tick: DispatchResult, missed: list[float]) -> None:
        schedule = self.catalog.schedule(request.schedule)
        self.telemetry.emit("MissedRuns", len(missed), schedule=schedule.name)
        plan = catch_up(
            CatchUp(schedule.catch_up), missed, request.scheduled_time - schedule.catch_up_window_s
        )
        for when, skipped in plan.items():
            run_request = self._fire_request(
                schedule, when, Trigger.SCHEDULE if skipped else Trigger.CATCH_UP
            )
            if skipped is None:
                # no deadline: a caught-up fire time is late by design, not a run to alarm on
                run_request = replace(run_request, deadline_s=None)
                new = self._new_run(run_request, self.plan(run_request))
                self._arm(new, RunStatus.BUFFERED)
                self.store.create_run(new, status=RunStatus.BUFFERED, reason="catch-up of a missed fire time")
            else:
                self._record_skipped(run_request, skipped)
            crashpoint("dispatcher.after_missed_run", run_id=run_request.run_id)
        if any(skipped is None for skipped in plan.values()):
            # the tick's own run counts as known: the index may not list it yet
            active = tick.status in (RunStatus.CREATING, RunStatus.RUNNING) or any(
                r.status in (RunStatus.CREATING, RunStatus.RUNNING)
                for r in self.store.active_runs(schedule.name)
            )
            if not active:  # nothing to wait behind: start the oldest now
                self.starter.start_oldest_buffered(schedule.name)

    def _dispatch(self, request: DispatchRequest) -> DispatchResult:
        if request.trigger is Trigger.SCHEDULE:
            self._report_late_runs(request.schedule)
        existing = self.store.get_run(request.run_id)
        if existing is not None:
            return self._again(request, existing)
        status, waits_for = RunStatus.CREATING, None
        if request.trigger is Trigger.SCHEDULE:
            paused = self.store.paused_reason(request.schedule)
            if paused is not None:
                return self._skip_tick(request, f"schedule paused: {paused}")
            active = self._complete_abandoned(self.store.active_runs(request.schedule))
            tick = on_tick(request.overlap, active, request.run_id)
            if tick.skipped is not None:
                return self._skip_tick(request, tick.skipped)
            status, waits_for = tick.status, tick.waits_for
        new = self._new_run(request, self.plan(request))
        self._arm(new, status)
        crashpoint("dispatcher.before_create", run_id=new.run_id)
        if status is RunStatus.BUFFERED:
            if self.store.create_run(new, status=RunStatus.BUFFERED, reason=f"waits for {waits_for}"):
                return self._buffered(new.run_id, new.schedule)
            existing = self.store.get_run(new.run_id)
            if existing is None:
                raise Conflict(f"run {new.run_id} vanished while being dispatched")
            return self._again(request, existing)
        if not self.store.create_run(new):  # another delivery of the same tick got there first
            existing = self.store.get_run(new.run_id)
            if existing is None:  # expired by TTL between the two calls: nothing sensible to do
                raise Conflict(f"run {new.run_id} vanished while being dispatched")
            return self._again(request, existing)
        crashpoint("dispatcher.after_create", run_id=new.run_id)
        enqueued = self.starter.write_and_enqueue(new, resume=False)
        return DispatchResult(new.run_id, self.starter.start(new.run_id), True, len(new.nodes), enqueued)

    def _arm(self, run: NewRun, status: RunStatus) -> None:
        """Arm the check of a run about to be created (before it is: a run never exists without
        one; a run that turns out to exist already just has its check moved)."""
        self.checks.arm(run.run_id, watchdog.due(status, self.clock.now(), run.nodes, run.deadline_at))

    def _new_run(self, request: DispatchRequest, nodes: dict[str, JobNode]) -> NewRun:
        limits = {name: self.catalog.jobs[name].max_concurrent for name in nodes}
        laned = lanes.laned(limits)
        if laned or None in limits.values():
            nodes = lanes.assign(nodes, limits, self.store.take_lane_numbers(laned) if laned else {})
        now = self.clock.now()
        return NewRun(
            run_id=request.run_id,
            schedule=request.schedule,
            scheduled_time=request.scheduled_time,
            trigger=request.trigger,
            created_at=now,
            expires_at=int(now + self.history_ttl_s),
            parameters=request.parameters if nodes else {},
            nodes=nodes,
            fingerprint=request.fingerprint,
            deadline_at=(
                request.scheduled_time + request.deadline_s if request.deadline_s is not None else None
            ),
            max_parallel=request.max_parallel,
        )

    def _buffered(self, run_id: str, schedule: str) -> DispatchResult:
        """A tick buffered behind the schedule's running run(s): those are read again after this
        one was created (a closer reads the waiting list after closing, so one of the two sees
        the other), and if none is still going, the oldest buffered run starts now."""
        crashpoint("dispatcher.after_buffer", run_id=run_id)
        running = [r for r in self.store.active_runs(schedule) if r.status is not RunStatus.BUFFERED]
        if not running:
            self.starter.start_oldest_buffered(schedule)
        current = self.store.get_run(run_id)
        status = current.status if current is not None else RunStatus.BUFFERED
        return DispatchResult(run_id, status, True, current.job_count if current else 0, 0)

    def _skip_tick(self, request: DispatchRequest, reason: str) -> DispatchResult:
        """Record the tick as a SKIPPED run with its reason. The run id is the tick's, so the
        tick is never caught up later."""
        self._record_skipped(request, reason)
        return DispatchResult(request.run_id, RunStatus.SKIPPED, True, 0, 0)

    def _record_skipped(self, request: DispatchRequest, reason: str) -> None:
        """A SKIPPED run of no jobs for a fire time that does not run, and its run event."""
        created = self.store.create_run(self._new_run(request, {}), status=RunStatus.SKIPPED, reason=reason)
        if created and self.closer.announcer.enabled:
            skipped = self.store.get_run(request.run_id)
            if skipped is not None:
                self.closer.announcer.run_ended(skipped)

    def _again(self, request: DispatchRequest, existing: RunView) -> DispatchResult:
        """A second delivery of a tick (or a repeated key): the run exists already."""
        if existing.request_hash and existing.request_hash != request.fingerprint:
            raise InvalidRequest(
                f"idempotency key of run {existing.run_id} was used before for a different "
                "trigger (schedule, jobs, parameters or scheduled_time differ)"
            )
        if existing.status is not RunStatus.CREATING:
            return DispatchResult(existing.run_id, existing.status, False, existing.job_count, 0)
        jobs, enqueued, status = self.starter.complete_creating(existing)
        return DispatchResult(existing.run_id, status, False, jobs, enqueued)

    def _complete_abandoned(self, runs: list[RunView]) -> list[RunView]:
        """A run left CREATING for longer than a dispatch can take lost its dispatcher and every
        retry of its tick: the schedule's next tick finishes creating it (from its snapshot; the
        conditional writes make this safe even if a late retry does the same). Without this it
        would also hold off every later tick of a schedule whose overlap policy is ``skip``."""
        now = self.clock.now()
        fresh = []
        for run in runs:
            if run.status is RunStatus.CREATING and (run.created_at or now) < now - ABANDONED_AFTER_S:
                self.starter.complete_creating(run)
                fresh.append(self.store.get_run(run.run_id) or run)
            else:
                fresh.append(run)
        return fresh

    def _report_late_runs(self, schedule: str) -> None:
        """Each tick looks at the schedule's active runs: one still going past its deadline is
        reported now (a stuck run never reaches the close that would report it)."""
        for run in self.store.active_runs(schedule):
            self.closer.report_if_late(run)
