"""Prefect-backed implementations of services the domain code takes as parameters.

The stages never import Prefect; where they need an event bus or a secret store they take a callable
(`catalog_connectors.events.EventEmitter`, `catalog_connectors.shopify.SecretResolver`), and the
orchestration layer passes these.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from catalog_motion.errors import CatalogMotionError, IntakeError, TransientError

EVENTS_TIMEOUT_S = 15.0
"""Longest wait for the Prefect API to answer one batch of events."""


def prefect_emit(events: Sequence[dict[str, Any]]) -> None:
    """Post a batch of events to the Prefect API (`POST /api/events`); returns once the server took them.

    A `catalog_connectors.events.EventEmitter`: unlike `prefect.events.emit_event` (a background queue
    that drops events silently when the API is down) a failure here is an exception: `TransientError`
    for an unreachable API, a timeout, 408/429/5xx; `CatalogMotionError` for any other refusal. The
    client's own retries are off: the caller retries with its backoff and spools what stays unsent.
    """
    import httpx
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, PREFECT_CLIENT_MAX_RETRIES, temporary_settings

    url = PREFECT_API_URL.value()
    if not url:  # without it Prefect would start a throwaway in-process server: events sent nowhere
        raise CatalogMotionError("PREFECT_API_URL is not set: point it at the Prefect server to announce to")
    try:
        with temporary_settings({PREFECT_CLIENT_MAX_RETRIES: 0}), get_client(sync_client=True) as client:
            response = client.request("POST", "/events", json=list(events), timeout=EVENTS_TIMEOUT_S)
            response.raise_for_status()
    except httpx.HTTPStatusError as exc:
        status = exc.response.status_code
        detail = " ".join(exc.response.text.split())[:200]
        message = f"Prefect API at {url} answered HTTP {status} to {len(events)} event(s): {detail}".rstrip(": ")
        if status in (408, 429) or status >= 500:
            raise TransientError(message) from None
        raise CatalogMotionError(message) from None
    except httpx.TransportError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise TransientError(
            f"Prefect API at {url} unreachable: {type(exc).__name__}{': ' + reason if reason else ''}"
        ) from None


def prefect_secret(name: str) -> str:
    """The value of the Prefect Secret block `name` (a `catalog_connectors.shopify.SecretResolver`)."""
    try:
        from prefect.blocks.system import Secret

        return Secret.load(name).get()
    except Exception as exc:  # noqa: BLE001 - message must not carry the secret; type name is enough
        raise IntakeError(f"cannot load Prefect Secret block '{name}': {type(exc).__name__}") from None
