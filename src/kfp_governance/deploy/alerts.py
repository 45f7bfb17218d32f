"""Tell people when the governed path says no: a rejection, a rollback, a failure.

One JSON POST to a webhook: ``text`` (what Slack-compatible receivers show)
plus the event's fields for tools. The URL is a secret (a Slack webhook URL
grants posting), so it is never in the config or the compiled pipeline: it
is read at run time from the environment variable the config names
(``alerts.webhook_env``, default ``KFP_GOVERNANCE_ALERT_WEBHOOK``). Unset: no
alert. A failed alert is logged and never changes the outcome it reports.

>>> notify({"event": "rolled_back", "model": "m", "version": "3", "reason": "p99 latency"}, environ={})
False
"""

from __future__ import annotations

import json
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)
DEFAULT_ENV = "KFP_GOVERNANCE_ALERT_WEBHOOK"
TIMEOUT_S = 5.0


def message(event: Mapping[str, Any]) -> str:
    """One line for people: ``kfp-governance: model m version 3 rolled back: p99 latency ...``."""
    what = str(event.get("event", "event")).replace("_", " ")
    where = f"model {event.get('model')} version {event.get('version')}"
    return f"kfp-governance: {where} {what}" + (f": {event['reason']}" if event.get("reason") else "")


def notify(event: Mapping[str, Any], *, webhook_env: str = DEFAULT_ENV, environ: Mapping[str, str] | None = None,
           tries: int = 2) -> bool:
    """POST the event to the webhook named by ``webhook_env``; True when it was accepted."""
    url = (os.environ if environ is None else environ).get(webhook_env, "").strip()
    if not url:
        return False
    body = json.dumps({"text": message(event), **event}, default=str).encode()
    for attempt in range(1, tries + 1):
        request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as answer:
                if 200 <= answer.status < 300:
                    return True
        except (urllib.error.URLError, OSError) as err:
            log.warning("alert to the webhook in %s failed (try %d of %d): %s", webhook_env, attempt, tries, err)
    return False
