"""Run events on EventBridge (``cronlane.run_events``): ``PutEvents`` on the bus the stack names
(``EVENT_BUS_NAME``, the account's ``default`` bus in the template), ten entries a request,
best effort: an entry EventBridge refuses, or a request that fails, is retried once and then
logged, never raised (the state it reports is in the table already)."""

from __future__ import annotations

import json
import logging
from typing import Any

from cronlane.run_events import SOURCE, RunEvent

PUT_EVENTS_BATCH = 10  # PutEvents takes at most 10 entries
log = logging.getLogger("cronlane.publish")


class EventBridgeRunEvents:
    def __init__(self, client: Any, bus: str) -> None:
        self.client = client
        self.bus = bus

    def publish(self, events: list[RunEvent]) -> None:
        for start in range(0, len(events), PUT_EVENTS_BATCH):
            entries = [
                {
                    "Source": SOURCE,
                    "DetailType": event.detail_type,
                    "Detail": json.dumps(event.detail, sort_keys=True),
                    "EventBusName": self.bus,
                }
                for event in events[start : start + PUT_EVENTS_BATCH]
            ]
            self._put(entries)

    def _put(self, entries: list[dict[str, Any]]) -> None:
        for attempt in (1, 2):
            try:
                answer = self.client.put_events(Entries=entries)
            except Exception as exc:
                if attempt == 2:
                    log.warning("run events not published: %s", exc)
                continue
            results = answer.get("Entries") or []
            refused = [e for e, r in zip(entries, results, strict=False) if r.get("ErrorCode")]
            if not refused:
                return
            if attempt == 2:
                log.warning("run events refused by EventBridge: %d of %d", len(refused), len(entries))
            entries = refused
