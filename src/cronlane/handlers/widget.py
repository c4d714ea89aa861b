"""Dashboard widget Lambda: a CloudWatch custom widget that draws the schedules' recent runs as a
grid (runs x jobs, coloured by status) and the latest run's Gantt, the same as ``cronlane ui``
shows, from the table, with a read-only role. CloudWatch calls it with ``widgetContext`` and
shows the HTML it returns; ``describe`` asks what it is."""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools import Logger

from cronlane.handlers import with_lambda_context
from cronlane.ui.render import environment, widget_html
from cronlane.wiring import build_reader

logger = Logger(service="cronlane-widget")
reader = build_reader()
environment()  # the templates' environment, made during the init phase

DESCRIPTION = """### cronlane runs
The schedules' recent runs (a column per run, a row per job, coloured by status) and the latest
run's Gantt. Parameter: `runs`, how many runs per schedule (1 to 30, default 8)."""


@with_lambda_context(logger)
def lambda_handler(event: Any, context: Any) -> str:
    if isinstance(event, dict) and event.get("describe"):
        return DESCRIPTION
    # the widget's params come as keys of the event itself (and again in widgetContext.params)
    runs = event.get("runs", 8) if isinstance(event, dict) else 8
    runs = runs if isinstance(runs, int) and not isinstance(runs, bool) and 1 <= runs <= 30 else 8
    return widget_html(reader.schedules(runs=runs), reader.latest_run(), time.time())
