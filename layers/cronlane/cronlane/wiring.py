"""Production wiring: build the dispatcher and the executor from the function's environment.

Each collaborator can be passed in; what is not passed gets its production default (the clock is
``default_clock()``, which the local runtime replaces before the handler module is imported).
"""

from __future__ import annotations

from typing import Any

from cronlane.clock import Clock, default_clock
from cronlane.dal import JobQueue, RunStore
from cronlane.dispatch import Dispatcher
from cronlane.execute import Executor
from cronlane.settings import Settings, load_catalog
from cronlane.starting import RunStarter
from cronlane.telemetry import EmfTelemetry


def _store(settings: Settings) -> RunStore:
    store = RunStore(settings.table_name, settings.region)
    store.connect()  # during the init phase, not in the first invocation
    return store


def build_dispatcher(settings: Settings | None = None, clock: Clock | None = None) -> Dispatcher:
    settings = settings or Settings.from_env()
    return Dispatcher(
        catalog=load_catalog(settings.catalog_module),
        store=_store(settings),
        queue=JobQueue(settings.queue_url, settings.dlq_url),
        clock=clock or default_clock(),
        rule_prefix=settings.rule_prefix,
        history_ttl_days=settings.history_ttl_days,
        telemetry=EmfTelemetry(settings.metrics_namespace, "cronlane"),
    )


def build_executor(log: Any, settings: Settings | None = None, clock: Clock | None = None) -> Executor:
    settings = settings or Settings.from_env()
    store = _store(settings)
    queue = JobQueue(settings.queue_url, settings.dlq_url)
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
