"""Alerts to a Teams or Slack incoming webhook. Both accept `{"text": ...}`; a slow or failing
endpoint never holds the nightly up: short timeouts, a few retries, and what could not be sent
is returned so the caller keeps it for the next run."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

TIMEOUT_SECONDS = 5.0
ATTEMPTS = 3


def format_message(alert: dict) -> dict:
    icon = {"pool_threshold": "⚠️", "pool_forecast": "📈", "blocked_calls": "⛔", "data_quality": "🧪"}.get(
        alert.get("kind"), "ℹ️"
    )
    return {"text": f"{icon} Teams PSTN: {alert['message']}"}


def post(url: str, payload: dict, timeout: float = TIMEOUT_SECONDS) -> None:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        if response.status >= 300:
            raise urllib.error.HTTPError(url, response.status, "unexpected status", response.headers, None)


def post_alerts(url: str, alerts: list[dict], attempts: int = ATTEMPTS, backoff: float = 0.5) -> list[dict]:
    """Send each alert; returns the ones that could not be delivered (in order)."""
    undelivered = []
    for index, alert in enumerate(alerts):
        for attempt in range(attempts):
            try:
                post(url, format_message(alert))
                break
            except (urllib.error.URLError, TimeoutError, OSError):
                if attempt + 1 < attempts:
                    time.sleep(backoff * (2**attempt))
        else:
            # The endpoint is down: keep this alert and every later one for the next run.
            undelivered.extend(alerts[index:])
            break
    return undelivered
