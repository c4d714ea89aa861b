"""Production wiring: build the dispatcher and the executor from the function's environment.

Each collaborator can be passed in; what is not passed gets its production default (the clock is
``default_clock()``, which the local runtime replaces before the handler module is imported).

What is built here runs in a Lambda's init phase, so it is kept to what the function uses: each
builder imports only its own side (the executor never loads the dispatcher), both
SDK clients come from one botocore session (its endpoint and partition data are loaded once), the
executor makes its SQS client when it first sends, and the X-Ray SDK is loaded only when its
subsegments are asked for (``make_tracer``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from cronlane.clock import Clock, default_clock
from cronlane.dal import JobQueue, RunStore
from cronlane.settings import Settings, load_catalog
from cronlane.telemetry import EmfTelemetry

if TYPE_CHECKING:
    from cronlane.dispatch import Dispatcher
    from cronlane.execute import Executor

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


def _store(settings: Settings) -> RunStore:
    store = RunStore(settings.table_name, settings.region)
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


def _queue(settings: Settings, store: RunStore, on_first_use: bool = False) -> JobQueue:
    """The job queue, its SQS client made from the botocore session of the store's DynamoDB
    client: one session, so the endpoint rules and partition data are loaded once (a client of
    its own, from boto3's default session, would load them again and import boto3 as well).
    The session resolves the endpoint (``AWS_ENDPOINT_URL``...), region and credentials as
    boto3's would. ``on_first_use``: the client (about 30 ms: SQS's service model) is made
    when a message is first sent, which an invocation that releases nothing never does."""

    def make() -> Any:
        return store.client("sqs")

    client = ClientOnFirstUse(make) if on_first_use else make()
    return JobQueue(settings.queue_url, settings.dlq_url, client=client)


def build_dispatcher(settings: Settings | None = None, clock: Clock | None = None) -> Dispatcher:
    from cronlane.dispatch import Dispatcher

    settings = settings or Settings.from_env()
    store = _store(settings)
    return Dispatcher(
        catalog=load_catalog(settings.catalog_module),
        store=store,
        queue=_queue(settings, store),
        clock=clock or default_clock(),
        rule_prefix=settings.rule_prefix,
        history_ttl_days=settings.history_ttl_days,
        telemetry=EmfTelemetry(settings.metrics_namespace, "cronlane"),
    )


def build_executor(log: Any, settings: Settings | None = None, clock: Clock | None = None) -> Executor:
    from cronlane.execute import Executor
    from cronlane.starting import RunStarter

    settings = settings or Settings.from_env()
    store = _store(settings)
    # A job's run sends a message only to release a dependent, retry, continue or dead-letter.
    queue = _queue(settings, store, on_first_use=True)
    clock = clock or default_clock()
    telemetry = EmfTelemetry(settings.metrics_namespace, "cronlane")
    starter = RunStarter(store, queue, clock, telemetry, settings.history_ttl_days * 86_400)
    return Executor(
        store=store,
        queue=queue,
        clock=clock,
        log=log,
        telemetry=telemetry,
        on_run_closed=starter.on_run_closed,
    )
