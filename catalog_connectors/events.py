"""`catalog.sku.ingested` events for SKUs seen for the first time, delivered through an injected emitter.

The caller passes the `EventEmitter` (the orchestration layer's posts to Prefect's event API and returns
only once the server accepted the batch, see tasks/prefect_services.py), so this module knows the events'
shape, the dedup state and the spool, not the bus. A deployment can trigger on them (``match:
{prefect.resource.id: "sku.*"}``, ``expect: [catalog.sku.ingested]``) to generate clips for new products
as they arrive.

Never lost, never doubled:
- Each event has a deterministic id (uuid5 of event name, SKU and source), so a re-send of an event the
  server already took (the answer was lost) is the same event; Prefect's server drops repeated ids.
- Announced SKUs are kept in a small JSON state file, written after every accepted batch, so an SKU is
  announced once however often the catalog is ingested; without a state file every SKU given is announced.
- A batch the bus does not accept is retried with backoff; what still cannot be sent is written to a
  JSONL spool (next to the state file by default) and sent first on the next call.
Only new SKUs are announced (changed photos are picked up by the scheduled incremental run, which
compares content keys).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from catalog_motion.errors import CatalogMotionError, TransientError
from catalog_motion.types import CatalogRow

EVENT_NAME = "catalog.sku.ingested"
STATE_VERSION = 1
# Fixed namespace of our event ids: the same (event, SKU, source) always gets the same id.
EVENT_ID_NAMESPACE = uuid.UUID("6b1e0c59-0f4e-4a53-9a39-3c1f6c2f4d11")
SPOOL_SUFFIX = ".spool.jsonl"


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


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())  # the state and spool are our only memory of what was delivered
    os.replace(tmp, path)  # atomic: a crash never leaves half a file


def _save_state(path: Path, state: dict[str, Any]) -> None:
    _atomic_write(path, json.dumps(state, indent=1, sort_keys=True))


def spool_path_for(state_path: Path | str) -> Path:
    """The default spool beside a state file: `announced.json` -> `announced.spool.jsonl`."""
    path = Path(state_path)
    return path.with_name(path.stem + SPOOL_SUFFIX)


def read_spool(path: Path | None) -> list[dict[str, Any]]:
    """Events waiting in a spool file (oldest first); none when there is no file."""
    if path is None or not path.exists():
        return []
    events: list[dict[str, Any]] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise CatalogMotionError(f"ingest event spool {path} is unreadable: {exc.strerror or exc}") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except ValueError:
            event = None
        if not isinstance(event, dict) or not isinstance(event.get("id"), str) or not _sku_of(event):
            raise CatalogMotionError(
                f"ingest event spool {path} line {number} is not a spooled event; fix or remove that line"
            )
        events.append(event)
    return events


def _write_spool(path: Path, events: Sequence[dict[str, Any]]) -> None:
    if not events:
        path.unlink(missing_ok=True)  # nothing waiting: no file
        return
    _atomic_write(path, "".join(json.dumps(e, sort_keys=True) + "\n" for e in events))


def _sku_of(event: dict[str, Any]) -> str | None:
    payload = event.get("payload")
    sku = payload.get("sku") if isinstance(payload, dict) else None
    return sku if isinstance(sku, str) and sku else None


def event_id(event: str, sku: str, source: str | None) -> str:
    """The deterministic id of an event: a re-send is recognisably the same event."""
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, "\x1f".join((event, sku, source or ""))))


def ingested_event(entry: str | CatalogRow, source: str | None) -> dict[str, Any]:
    """One `catalog.sku.ingested` event (Prefect's wire shape, `occurred` set when it is sent)."""
    row = entry if isinstance(entry, CatalogRow) else None
    sku = row.sku if row else str(entry)
    payload: dict[str, Any] = {"sku": sku, "source": source}
    if row is not None:
        payload.update(image=row.image, item_group_id=row.item_group_id, updated_at=row.updated_at)
    return {
        "id": event_id(EVENT_NAME, sku, source),
        "event": EVENT_NAME,
        "resource": {"prefect.resource.id": f"sku.{sku}", "prefect.resource.name": sku},
        "payload": payload,
    }


class EventEmitter(Protocol):
    """Delivers a batch of events and returns only once the bus accepted all of them; raises otherwise.

    Each event is a dict: `id`, `event`, `occurred` (ISO time), `resource`, `payload`. Raise
    `TransientError` (or `OSError`) for faults worth a retry; any other error is not retried.
    """

    def __call__(self, events: Sequence[dict[str, Any]]) -> None: ...


@dataclass
class EmitReport:
    """What one `emit_ingested` call delivered and what it left for the next one."""

    sent: list[str] = field(default_factory=list)
    """SKUs whose event the bus accepted in this call (earlier spooled ones first)."""
    spooled: list[str] = field(default_factory=list)
    """SKUs whose event waits in the spool for the next call."""
    unsent: list[str] = field(default_factory=list)
    """SKUs whose event was not sent and could not be kept (no state file or spool path given)."""
    error: str | None = None
    """Why the last batch was not accepted (None when everything was sent)."""
    spool_path: Path | None = None
    attempts: int = 0
    """Batches tried, retries included."""

    @property
    def ok(self) -> bool:
        return not self.spooled and not self.unsent


def emit_ingested(
    skus: Sequence[str | CatalogRow],
    *,
    emit: EventEmitter,
    state_path: Path | str | None = None,
    spool_path: Path | str | None = None,
    source: str | None = None,
    retries: int = 3,
    backoff_s: float = 1.0,
    max_backoff_s: float = 30.0,
    batch_size: int = 50,
    sleep: Callable[[float], None] = time.sleep,
) -> EmitReport:
    """Send one event per SKU not announced before, spooled events first; see the module docstring.

    `skus` may be SKU strings or `CatalogRow`s (rows add image, item group and updated_at to the
    payload). Each batch of `batch_size` events gets `retries` more tries after the first, `backoff_s`
    doubling per try (capped at `max_backoff_s`); once a batch still fails, it and every later event go
    to the spool (`spool_path`, default beside the state file) and the call returns - a down bus is not
    hammered. The state file names an SKU only once its event was accepted.
    """
    if batch_size < 1:
        raise CatalogMotionError(f"batch_size must be at least 1, not {batch_size}")
    state_file = Path(state_path) if state_path is not None else None
    spool_file = Path(spool_path) if spool_path is not None else (spool_path_for(state_file) if state_file else None)
    state = load_state(state_file)
    announced: dict[str, Any] = state["announced"]
    spooled = read_spool(spool_file)
    pending: list[dict[str, Any]] = []
    queued: set[str] = set()
    for event in spooled:  # accepted earlier but the spool not yet rewritten (a crash): not again
        sku = _sku_of(event)
        if sku not in announced and sku not in queued:
            pending.append(event)
            queued.add(sku)
    for entry in skus:
        sku = entry.sku if isinstance(entry, CatalogRow) else str(entry)
        if sku in announced or sku in queued:
            continue
        pending.append(ingested_event(entry, source))
        queued.add(sku)

    report = EmitReport(spool_path=spool_file)
    position = 0
    while position < len(pending):
        batch = pending[position : position + batch_size]
        error = _send_batch(batch, emit, retries, backoff_s, max_backoff_s, sleep, report)
        if error is not None:
            report.error = error
            break
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        for event in batch:
            sku = _sku_of(event) or ""
            announced[sku] = {"at": now, "source": event["payload"].get("source"), "event_id": event["id"]}
            report.sent.append(sku)
        if state_file is not None:
            _save_state(state_file, state)  # before the spool shrinks: a crash between re-sends nothing twice
        position += len(batch)

    left = pending[position:]
    if spool_file is not None:
        if left or spooled:
            _write_spool(spool_file, left)
        report.spooled = [_sku_of(e) or "" for e in left]
    else:
        report.unsent = [_sku_of(e) or "" for e in left]
    return report


def _send_batch(
    batch: list[dict[str, Any]],
    emit: EventEmitter,
    retries: int,
    backoff_s: float,
    max_backoff_s: float,
    sleep: Callable[[float], None],
    report: EmitReport,
) -> str | None:
    """Send one batch with retries; None once accepted, else the last failure as one line."""
    attempt = 0
    while True:
        occurred = dt.datetime.now(dt.UTC).isoformat()
        # Stamped at each send: a spooled burst arriving later is a new burst for the debounced trigger,
        # and the same id keeps an already-stored copy from counting twice.
        report.attempts += 1
        try:
            emit([{**event, "occurred": occurred} for event in batch])
            return None
        except (TransientError, OSError) as exc:
            reason = _one_line(exc)
        except Exception as exc:  # noqa: BLE001 - any refusal keeps the events (spooled), not retried
            return _one_line(exc)
        if attempt >= retries:
            return reason
        sleep(min(max_backoff_s, backoff_s * 2**attempt))
        attempt += 1


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
