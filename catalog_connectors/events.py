"""`catalog.sku.ingested` events for SKUs seen for the first time, sent through an injected emitter.

The caller passes the `EventEmitter` (the orchestration layer's is backed by Prefect's event API, see
tasks/prefect_services.py), so this module knows the events' shape and the dedup state, not the bus.
A deployment can trigger on them (``match: {prefect.resource.id: "sku.*"}``, ``expect:
[catalog.sku.ingested]``) to generate clips for new products as they arrive. Announced SKUs are kept in
a small JSON state file, so an SKU is announced once however often the catalog is ingested; without a
state file every SKU given is announced. Only new SKUs are announced (changed photos are picked up by
the scheduled incremental run, which compares content keys).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from catalog_motion.errors import CatalogMotionError
from catalog_motion.types import CatalogRow

EVENT_NAME = "catalog.sku.ingested"
STATE_VERSION = 1


def load_state(path: Path | None) -> dict[str, Any]:
    if path is None or not Path(path).exists():
        return {"version": STATE_VERSION, "announced": {}}
    try:
        state = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CatalogMotionError(f"ingest state file {path} is unreadable: {str(exc).splitlines()[0]}") from None
    if not isinstance(state, dict) or not isinstance(state.get("announced"), dict):
        raise CatalogMotionError(f"ingest state file {path} is not a catalog-motion ingest state")
    return state


def _save_state(path: Path, state: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".ingest-state-", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(state, handle, indent=1, sort_keys=True)
    os.replace(tmp, path)  # atomic: a crash never leaves half a state file


class EventEmitter(Protocol):
    """Sends one event; returns None when the event bus did not accept it (anything else: accepted)."""

    def __call__(self, event: str, resource: dict[str, str], payload: dict[str, Any]) -> object | None: ...


def emit_ingested(
    skus: Sequence[str | CatalogRow],
    *,
    emit: EventEmitter,
    flush: Callable[[], None] | None = None,
    state_path: Path | str | None = None,
    source: str | None = None,
) -> list[str]:
    """Emit one event per SKU not announced before; returns the SKUs announced now (in order).

    `skus` may be SKU strings or `CatalogRow`s (rows add image, item group and updated_at to the payload).
    `flush`, when given, runs once after the last event (an emitter that sends in the background
    delivers its queue there). The state file is updated only with SKUs whose event was accepted.
    """
    state_file = Path(state_path) if state_path is not None else None
    state = load_state(state_file)
    announced: dict[str, Any] = state["announced"]
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    done: list[str] = []
    for entry in skus:
        row = entry if isinstance(entry, CatalogRow) else None
        sku = row.sku if row else str(entry)
        if sku in announced or sku in done:
            continue
        payload: dict[str, Any] = {"sku": sku, "source": source}
        if row is not None:
            payload.update(image=row.image, item_group_id=row.item_group_id, updated_at=row.updated_at)
        resource = {"prefect.resource.id": f"sku.{sku}", "prefect.resource.name": sku}
        if emit(EVENT_NAME, resource, payload) is None:
            raise CatalogMotionError(
                f"the event emitter did not accept events (refused SKU {sku!r}); check that "
                "its event service is reachable"
            )
        announced[sku] = {"at": now, "source": source}
        done.append(sku)
    if flush is not None:
        flush()
    if state_file is not None and done:
        _save_state(state_file, state)
    return done
