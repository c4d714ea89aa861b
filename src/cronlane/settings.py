"""Configuration from the function's environment (set by ``template.yaml``)."""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from dataclasses import dataclass

from cronlane.declarations import Catalog
from cronlane.errors import CatalogError, CatalogNotFound, CronlaneError


class ConfigError(CronlaneError):
    """A required setting is missing."""


@dataclass(frozen=True)
class Settings:
    table_name: str
    queue_url: str
    dlq_url: str | None
    rule_prefix: str  # EventBridge rule names are "<rule_prefix><schedule name>"
    history_ttl_days: int
    catalog_module: str
    region: str | None
    metrics_namespace: str = "cronlane"
    # The runs' checks (cronlane.watchdog): the Scheduler group, the function a check invokes,
    # and the role Scheduler invokes it with. No group: no checks.
    watchdog_group: str = ""
    watchdog_target: str = ""
    watchdog_role: str = ""
    # A Fargate ``ecs`` target that declares no network: these (the template's parameters).
    task_subnets: tuple[str, ...] = ()
    task_security_groups: tuple[str, ...] = ()
    # The EventBridge bus the run events go to (cronlane.run_events); "": none are published.
    event_bus: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        missing = [k for k in ("TABLE_NAME", "QUEUE_URL", "CRONLANE_CATALOG") if not env.get(k)]
        if missing:
            raise ConfigError(f"missing environment variable(s): {', '.join(missing)}")
        return cls(
            table_name=env["TABLE_NAME"],
            queue_url=env["QUEUE_URL"],
            dlq_url=env.get("DLQ_URL") or None,
            rule_prefix=env.get("RULE_PREFIX", ""),
            history_ttl_days=int(env.get("HISTORY_TTL_DAYS", "30")),
            catalog_module=env["CRONLANE_CATALOG"],
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION"),
            metrics_namespace=env.get("POWERTOOLS_METRICS_NAMESPACE", "cronlane"),
            watchdog_group=env.get("WATCHDOG_GROUP", ""),
            watchdog_target=env.get("WATCHDOG_TARGET_ARN", ""),
            watchdog_role=env.get("WATCHDOG_ROLE_ARN", ""),
            task_subnets=_listed(env.get("CRONLANE_TASK_SUBNETS", "")),
            task_security_groups=_listed(env.get("CRONLANE_TASK_SECURITY_GROUPS", "")),
            event_bus=env.get("EVENT_BUS_NAME", ""),
        )


def _listed(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def load_catalog(module: str) -> Catalog:
    """The ``CATALOG`` of ``module`` (the app's catalog: ``CatalogModule`` in the template). A module
    that cannot be imported is a ``CatalogNotFound``, declarations that are wrong a ``CatalogError``;
    both name the module."""
    try:
        catalog = importlib.import_module(module).CATALOG
    except CatalogError as exc:
        raise CatalogError([f"catalog module '{module}': {p}" for p in exc.problems]) from None
    except ModuleNotFoundError as exc:
        raise CatalogNotFound([f"catalog module '{module}' cannot be imported: {exc}"]) from None
    except AttributeError:
        raise CatalogNotFound([f"catalog module '{module}' defines no CATALOG"]) from None
    except Exception as exc:  # the app's own module raised while it was imported
        problem = f"catalog module '{module}' cannot be imported: {type(exc).__name__}: {exc}"
        raise CatalogNotFound([problem]) from None
    except SystemExit:  # a module that exits when imported would end the command silently
        raise CatalogNotFound([f"catalog module '{module}' called sys.exit while it was imported"]) from None
    if not isinstance(catalog, Catalog):
        raise CatalogNotFound([f"{module}.CATALOG is not a cronlane Catalog"])
    return catalog
