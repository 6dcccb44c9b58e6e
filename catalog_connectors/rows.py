"""Turning source records (dicts of column -> value) into `CatalogRow`s and refusals.

Every source (CSV/TSV, Parquet, Merchant feeds, Shopify, folders) ends here, so the rules are the same
everywhere: an empty row, a missing sku or image, or a duplicate SKU (the first one wins) is refused
with a reason; the load itself goes on.
"""

from __future__ import annotations

import datetime as _dt
import math
import posixpath
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urljoin

from catalog_motion.types import CatalogRow, RowOutcome

# Source column names accepted for each field, first match wins (Merchant Center names included).
ALIASES: dict[str, tuple[str, ...]] = {
    "sku": ("sku", "id"),
    "image": ("image", "image_link", "image_url"),
    "title": ("title", "name"),
    "color": ("color", "colour"),
    "item_group_id": ("item_group_id",),
    "updated_at": ("updated_at", "last_modified"),
    "additional_images": ("additional_images", "additional_image_link", "additional_image_links"),
    "lifestyle_image": ("lifestyle_image", "lifestyle_image_link"),
}
REQUIRED = ("sku", "image")
MAX_ADDITIONAL = 10  # Merchant Center's limit on additional_image_link


def normalise_header(columns: Iterable[str]) -> dict[str, str]:
    """Map source column -> field name for modelled fields; other columns go to `extra`."""
    cleaned = {c: str(c).strip().lower().lstrip("\ufeff").replace(" ", "_") for c in columns}
    mapping: dict[str, str] = {}
    for field, names in ALIASES.items():
        for name in names:
            source = next((c for c, low in cleaned.items() if low == name and c not in mapping), None)
            if source is not None:
                mapping[source] = field
                break
    return mapping


def missing_required(columns: Iterable[str]) -> list[str]:
    present = set(normalise_header(columns).values())
    return [f for f in REQUIRED if f not in present]


def _text(value: Any) -> str | None:
    """A cell as stripped text; None for blanks, NaN and nulls."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.isoformat()
    if hasattr(value, "isoformat") and not isinstance(value, str):  # pandas Timestamp
        return value.isoformat()
    text = str(value).strip()
    return text or None


def _image_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        items = [_text(v) for v in value]
    else:
        text = _text(value)
        if text is None:
            return []
        items = [part.strip() for part in text.split(",")]
    return [i for i in items if i][:MAX_ADDITIONAL]


def _plain(value: Any) -> Any:
    """Extra column values kept JSON-friendly."""
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return _text(value)


class RowBuilder:
    """Accumulates rows of one source, refusing bad ones and duplicate SKUs as they come."""

    def __init__(self, columns: Iterable[str], *, remote: bool = False, base_uri: str | None = None):
        self.mapping = normalise_header(columns)
        self.remote = remote
        self.base_uri = base_uri  # remote catalogs: relative photo refs resolve against the catalog's URI
        self.rows: list[CatalogRow] = []
        self.refused: list[RowOutcome] = []
        self._first_index: dict[str, int] = {}

    def refuse(self, index: int, sku: str | None, reason: str) -> None:
        self.refused.append(RowOutcome(row_index=index, sku=sku, reason=reason))

    def add(self, index: int, record: Mapping[str, Any]) -> None:
        fields: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for column, value in record.items():
            field = self.mapping.get(column)
            if field is None:
                if column is not None and _text(value) is not None:
                    extra[str(column)] = _plain(value)
            elif field == "additional_images":
                fields[field] = _image_list(value)
            else:
                fields[field] = _text(value)
        if not any(v for v in fields.values()) and not extra:
            self.refuse(index, None, "empty row")
            return
        sku = fields.get("sku")
        if not sku:
            self.refuse(index, None, "missing sku")
            return
        if not fields.get("image"):
            self.refuse(index, sku, "missing image")
            return
        if sku in self._first_index:
            self.refuse(index, sku, f"duplicate sku {sku!r} (first at row {self._first_index[sku]}); later row ignored")
            return
        if self.remote:
            try:
                for key in ("image", "lifestyle_image"):
                    if fields.get(key):
                        fields[key] = resolve_remote_ref(fields[key], self.base_uri)
                fields["additional_images"] = [
                    resolve_remote_ref(r, self.base_uri) for r in fields.get("additional_images") or []
                ]
            except ValueError as exc:
                self.refuse(index, sku, str(exc))
                return
        self._first_index[sku] = index
        self.rows.append(CatalogRow(row_index=index, extra=extra, **fields))


def resolve_remote_ref(ref: str, base_uri: str | None) -> str:
    """A photo ref from a remote catalog: absolute URIs stay; relative ones join the catalog's URI.

    Local paths and file:// URIs are refused - a remote catalog must not read this machine's files.
    """
    scheme = ref.split("://", 1)[0].lower() if "://" in ref else ""
    if scheme == "file" or (not scheme and (ref.startswith(("/", "~", "\\")) or base_uri is None)):
        raise ValueError("local photo path in a remote catalog is not allowed")
    if scheme:
        return ref
    if base_uri.startswith("s3://"):
        bucket, _, key = base_uri[5:].partition("/")
        joined = posixpath.normpath(posixpath.join(posixpath.dirname(key), ref))
        if joined.startswith("..") or joined.startswith("/"):
            raise ValueError("relative photo path escapes the catalog's bucket")
        return f"s3://{bucket}/{joined}"
    return urljoin(base_uri, ref)
