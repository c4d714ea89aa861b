"""The composition root: every use case and its collaborators are built here, once per process,
and passed in; nothing else constructs them. ``dispatcher_of`` and ``executor_of`` build the two
sides from any run store and job queue (DynamoDB and SQS on AWS, ``store.memory`` and
``queue.memory`` in a test or a simulation); ``build_dispatcher`` and ``build_executor`` are the
functions' production defaults, from their environment (the clock is ``default_clock()``, which
the local runtime replaces before the handler module is imported).

What is built here runs in a Lambda's init phase, so it is kept to what the function uses: each
builder imports only its own side (the executor never loads the dispatcher), both
SDK clients come from one botocore session (its endpoint and partition data are loaded once), the
executor makes its SQS client when it first sends, and the X-Ray SDK is loaded only when its
subsegments are asked for (``make_tracer``).
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from cronlane.clock import Clock, default_clock
from cronlane.declarations import Catalog
from cronlane.errors import CatalogError, CatalogNotFound
from cronlane.ports import JobQueue, RunStore, Targets, Watchdog
from cronlane.queue.sqs import SqsJobQueue
from cronlane.run_events import Announcer
from cronlane.settings import Settings, load_catalog
from cronlane.store.dynamodb import DynamoRunStore
from cronlane.telemetry import Detail, EmfTelemetry, NoTelemetry, Telemetry
from cronlane.watchdog import NoWatchdog

if TYPE_CHECKING:
    from cronlane.completion import Completions
    from cronlane.dispatch import Dispatcher
    from cronlane.execute import Executor
    from cronlane.graphs import RunGraphs
    from cronlane.release import Releaser
    from cronlane.runs import RunCloser
    from cronlane.starting import RunStarter
    from cronlane.ui.source import Reader

F = TypeVar("F", bound=Callable[..., Any])

# What Powertools reads as true in POWERTOOLS_TRACE_DISABLED (its strtobool).
_TRUTHY = frozenset({"1", "y", "yes", "t", "true", "on"})


class TracerLike(Protocol):
    """The part of Powertools' ``Tracer`` the handlers use (decorators and an annotation)."""

    def capture_lambda_handler(self, lambda_handler: Any) -> Any: ...

    def capture_method(self, method: Any) -> Any: ...

    def put_annotation(self, key: str, value: Any) -> Any: ...


class NoTracer:
    """Pass-through decorators: the function is traced by Lambda alone (``Tracing: Active``
    records the invocation's segment), with no X-Ray SDK loaded in it."""

    def capture_lambda_handler(self, lambda_handler: F) -> F:
        return lambda_handler

    def capture_method(self, method: F) -> F:
        return method

    def put_annotation(self, key: str, value: str | float | bool) -> None:
        return None


def sdk_tracing_enabled(env: Mapping[str, str] = os.environ) -> bool:
    """Whether the X-Ray SDK's subsegments are wanted: POWERTOOLS_TRACE_DISABLED is not true
    (template.yaml sets it from the TraceSdkCalls parameter)."""
    return env.get("POWERTOOLS_TRACE_DISABLED", "").strip().lower() not in _TRUTHY


def make_tracer(service: str, env: Mapping[str, str] = os.environ) -> TracerLike:
    """Powertools' ``Tracer`` when SDK tracing is on, else ``NoTracer``. Importing the Tracer
    loads the X-Ray SDK (well over 100 ms of a cold start) even when it is disabled, so it is
    imported only when it will record something."""
    if not sdk_tracing_enabled(env):
        return NoTracer()
    from aws_lambda_powertools import Tracer

    return Tracer(service=service)


def _store(settings: Settings) -> DynamoRunStore:
    store = DynamoRunStore(settings.table_name, settings.region)
    store.connect()  # during the init phase, not in the first invocation
    return store


class ClientOnFirstUse:
    """An SDK client made the first time one of its operations is looked up, not before."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self._make = make
        self._client: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._client is None:
            self._client = self._make()
        return getattr(self._client, name)


def _queue(settings: Settings, store: DynamoRunStore, on_first_use: bool = False) -> SqsJobQueue:
    """The job queue, its SQS client made from the botocore session of the store's DynamoDB
    client: one session, so the endpoint rules and partition data are loaded once (a client of
    its own, from boto3's default session, would load them again and import boto3 as well).
    The session resolves the endpoint (``AWS_ENDPOINT_URL``...), region and credentials as
    boto3's would. ``on_first_use``: the client (about 30 ms: SQS's service model) is made
    when a message is first sent, which an invocation that releases nothing never does."""

    def make() -> Any:
        return store.client("sqs")

    client = ClientOnFirstUse(make) if on_first_use else make()
    return SqsJobQueue(settings.queue_url, settings.dlq_url, client=client)


def _shared(
    store: RunStore,
    queue: JobQueue,
    clock: Clock,
    telemetry: Telemetry,
    checks: Watchdog,
    history_ttl_s: int,
    announcer: Announcer | None = None,
) -> tuple[RunGraphs, Releaser, RunCloser, RunStarter]:
    """What both sides share: one run-graph cache, one releaser, one closer and one starter (the
    closer starts what waited for a run through the starter)."""
    from cronlane.graphs import RunGraphs
    from cronlane.places import Places
    from cronlane.release import Releaser
    from cronlane.runs import RunCloser
    from cronlane.starting import RunStarter

    graphs = RunGraphs(store)
    places = Places(store, clock)  # a run's width (Schedule(max_parallel=...))
    releaser = Releaser(store, queue, graphs, places)
    closer = RunCloser(store, clock, telemetry, checks, announcer)
    starter = RunStarter(store, queue, clock, telemetry, history_ttl_s, closer, checks, places)
    closer.on_closed = starter.on_run_closed
    return graphs, releaser, closer, starter


def dispatcher_of(
    catalog: Catalog,
    store: RunStore,
    queue: JobQueue,
    clock: Clock,
    telemetry: Telemetry | None = None,
    rule_prefix: str = "",
    history_ttl_s: int = 30 * 86_400,
    checks: Watchdog | None = None,
    targets: Targets | None = None,
    announcer: Announcer | None = None,
) -> Dispatcher:
    """The dispatcher's side: the dispatcher, the operator's actions, the DLQ replay and the
    watchdog's checks."""
    from cronlane.dispatch import Dispatcher
    from cronlane.operations import Operator
    from cronlane.replay import DeadLetters
    from cronlane.watch import RunWatch

    telemetry = telemetry or NoTelemetry()
    checks = checks or NoWatchdog()
    graphs, releaser, closer, starter = _shared(
        store, queue, clock, telemetry, checks, history_ttl_s, announcer
    )
    operator = Operator(store, queue, clock, telemetry, graphs, releaser, closer, checks, targets)
    closer.on_restart = operator.carry_out
    dead_letters = DeadLetters(store, queue, clock, graphs, releaser, operator)
    watch = RunWatch(store, queue, clock, telemetry, graphs, releaser, closer, starter, operator, checks)
    return Dispatcher(
        catalog,
        store,
        clock,
        starter,
        operator,
        dead_letters,
        closer,
        watch,
        checks,
        rule_prefix,
        history_ttl_s,
        telemetry,
    )


def executor_of(
    store: RunStore,
    queue: JobQueue,
    clock: Clock,
    log: Any,
    telemetry: Telemetry | None = None,
    history_ttl_s: int = 30 * 86_400,
    import_function: Callable[[str], Callable[..., Any]] | None = None,
    rng: random.Random | None = None,
    checks: Watchdog | None = None,
    targets: Targets | None = None,
    announcer: Announcer | None = None,
) -> Executor:
    """The executor's side: the executor with its run-graph cache, releaser, closer and starter
    (the end of a run starts the schedule's buffered one)."""
    from cronlane.execute import Executor
    from cronlane.operations import Operator

    telemetry = telemetry or NoTelemetry()
    checks = checks or NoWatchdog()
    graphs, releaser, closer, _ = _shared(store, queue, clock, telemetry, checks, history_ttl_s, announcer)
    # a job's end that finds an operator's restart left part done on its run carries it out
    closer.on_restart = Operator(
        store, queue, clock, telemetry, graphs, releaser, closer, checks, targets
    ).carry_out
    return Executor(
        store=store,
        queue=queue,
        clock=clock,
        log=log,
        graphs=graphs,
        releaser=releaser,
        closer=closer,
        rng=rng,
        import_function=import_function,
        telemetry=telemetry,
        targets=targets,
    )


def _checks(settings: Settings, store: DynamoRunStore) -> Watchdog:
    """The runs' checks on EventBridge Scheduler, in the stack's watchdog group; none when the
    function's environment names no group (its client is made when first used)."""
    if not settings.watchdog_group:
        return NoWatchdog()
    from cronlane.watchdog.scheduler import SchedulerWatchdog

    client = ClientOnFirstUse(lambda: store.client("scheduler"))
    return SchedulerWatchdog(
        client, settings.watchdog_group, settings.watchdog_target, settings.watchdog_role
    )


def build_dispatcher(settings: Settings | None = None, clock: Clock | None = None) -> Dispatcher:
    settings = settings or Settings.from_env()
    store = _store(settings)
    return dispatcher_of(
        load_catalog(settings.catalog_module),
        store,
        _queue(settings, store),
        clock or default_clock(),
        _telemetry(settings),
        settings.rule_prefix,
        settings.history_ttl_days * 86_400,
        _checks(settings, store),
        _handed_off(settings, store),
        _announcer(settings, store),
    )


def build_executor(log: Any, settings: Settings | None = None, clock: Clock | None = None) -> Executor:
    settings = settings or Settings.from_env()
    store = _store(settings)
    # A job's run sends a message only to release a dependent, retry, continue or dead-letter.
    queue = _queue(settings, store, on_first_use=True)
    telemetry = _telemetry(settings)
    return executor_of(
        store,
        queue,
        clock or default_clock(),
        log,
        telemetry,
        settings.history_ttl_days * 86_400,
        import_function=_targets(settings),
        checks=_checks(settings, store),
        targets=_handed_off(settings, store),
        announcer=_announcer(settings, store),
    )


def build_completions(log: Any, settings: Settings | None = None, clock: Clock | None = None) -> Completions:
    """The completion side (CompletionFunction, TaskEventsFunction): it records a handed-off
    attempt's outcome as the executor records its own, so it is built on an executor."""
    from cronlane.completion import Completions

    settings = settings or Settings.from_env()
    store = _store(settings)
    queue = _queue(settings, store, on_first_use=True)
    telemetry = _telemetry(settings)
    clock = clock or default_clock()
    executor = executor_of(
        store,
        queue,
        clock,
        log,
        telemetry,
        settings.history_ttl_days * 86_400,
        checks=_checks(settings, store),
        targets=_handed_off(settings, store),
        announcer=_announcer(settings, store),
    )
    return Completions(store, queue, clock, log, executor, telemetry)


def _telemetry(settings: Settings) -> EmfTelemetry:
    """The functions' metrics; the jobs and schedules with series of their own are read from the
    app's catalog when a figure first needs them (the executor loads no catalog otherwise)."""

    def detail() -> Detail:
        try:
            catalog = load_catalog(settings.catalog_module)
        except (CatalogError, CatalogNotFound):  # the dispatcher says what is wrong; metrics go on
            return Detail()
        return Detail(
            jobs=frozenset(n for n, j in catalog.jobs.items() if j.metrics),
            schedules=frozenset(n for n, s in catalog.schedules.items() if s.metrics),
        )

    return EmfTelemetry(settings.metrics_namespace, "cronlane", detail)


def _announcer(settings: Settings, store: DynamoRunStore) -> Announcer:
    """The run events (cronlane.run_events) on the stack's bus, its client made when the first
    is published; none when the function's environment names no bus."""
    stack = settings.rule_prefix.removesuffix("-")
    if not settings.event_bus:
        return Announcer(stack=stack)
    from cronlane.publish import EventBridgeRunEvents

    client = ClientOnFirstUse(lambda: store.client("events"))
    return Announcer(EventBridgeRunEvents(client, settings.event_bus), stack)


def _handed_off(settings: Settings, store: DynamoRunStore) -> Targets:
    """``ecs`` and ``callback`` targets: ECS and SQS clients from the store's session, made when
    a target first needs one."""
    from cronlane.targets_aws import AwsTargets

    return AwsTargets(
        settings.rule_prefix.removesuffix("-"),
        ClientOnFirstUse(lambda: store.client("ecs")),
        ClientOnFirstUse(lambda: store.client("sqs")),
        settings.task_subnets,
        settings.task_security_groups,
    )


def _targets(settings: Settings) -> Callable[[str], Callable[..., Any]]:
    """What a job's spec runs: the app's function, or a lambda target invoked with one client
    (made when a lambda target first runs)."""
    from cronlane.execute import import_job_function
    from cronlane.targets_aws import lambda_client, resolver

    clients: list[Any] = []

    def client() -> Any:
        if not clients:
            clients.append(lambda_client(settings.region))
        return clients[0]

    return resolver(import_job_function, settings.rule_prefix.removesuffix("-"), client)


def build_reader(settings: Settings | None = None) -> Reader:
    """The dashboard widget's reads: the table (its role grants nothing else) and the catalog."""
    from cronlane.ui.source import Reader

    settings = settings or Settings.from_env()
    return Reader(_store(settings), load_catalog(settings.catalog_module))
