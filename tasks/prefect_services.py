"""Prefect-backed implementations of services the domain code takes as parameters.

The stages never import Prefect; where they need an event bus or a secret store they take a callable
(`catalog_connectors.events.EventEmitter`, `catalog_connectors.shopify.SecretResolver`), and the
orchestration layer passes these.
"""

from __future__ import annotations

from typing import Any

from catalog_motion.errors import CatalogMotionError, IntakeError


def prefect_emit(event: str, resource: dict[str, str], payload: dict[str, Any]) -> object:
    """Queue one event for the Prefect API (sent in the background; `flush_prefect_events` delivers it)."""
    from prefect.events import emit_event

    sent = emit_event(event=event, resource=resource, payload=payload)
    if sent is None:  # Prefect returns None, silently, when no API is configured to receive events
        raise CatalogMotionError("Prefect did not accept events (is PREFECT_API_URL set to a running server?)")
    return sent


def flush_prefect_events() -> None:
    """Deliver the events queued by `prefect_emit` before the process moves on (or exits)."""
    try:
        from prefect.events.worker import EventsWorker

        EventsWorker.drain_all()
    except Exception:  # noqa: BLE001 - nothing to flush when no worker was started
        pass


def prefect_secret(name: str) -> str:
    """The value of the Prefect Secret block `name` (a `catalog_connectors.shopify.SecretResolver`)."""
    try:
        from prefect.blocks.system import Secret

        return Secret.load(name).get()
    except Exception as exc:  # noqa: BLE001 - message must not carry the secret; type name is enough
        raise IntakeError(f"cannot load Prefect Secret block '{name}': {type(exc).__name__}") from None
