"""Configuration from the function's environment (set by ``template.yaml``)."""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from dataclasses import dataclass

from cronlane.declarations import Catalog
from cronlane.errors import CatalogError, CronlaneError

DEFAULT_CATALOG = "jobs.catalog"


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

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        missing = [k for k in ("TABLE_NAME", "QUEUE_URL") if not env.get(k)]
        if missing:
            raise ConfigError(f"missing environment variable(s): {', '.join(missing)}")
        return cls(
            table_name=env["TABLE_NAME"],
            queue_url=env["QUEUE_URL"],
            dlq_url=env.get("DLQ_URL") or None,
            rule_prefix=env.get("RULE_PREFIX", ""),
            history_ttl_days=int(env.get("HISTORY_TTL_DAYS", "30")),
            catalog_module=env.get("CRONLANE_CATALOG", DEFAULT_CATALOG),
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION"),
            metrics_namespace=env.get("POWERTOOLS_METRICS_NAMESPACE", "cronlane"),
        )


def load_catalog(module: str = DEFAULT_CATALOG) -> Catalog:
    """Import the module that declares the jobs and schedules and return its ``CATALOG``."""
    try:
        catalog = importlib.import_module(module).CATALOG
    except ModuleNotFoundError as exc:
        raise CatalogError([f"catalog module '{module}' not found: {exc}"]) from exc
    except AttributeError:
        raise CatalogError([f"catalog module '{module}' defines no CATALOG"]) from None
    if not isinstance(catalog, Catalog):
        raise CatalogError([f"{module}.CATALOG is not a cronlane Catalog"])
    return catalog
