"""Delivery stage records: one outcome per (target, sku, preset), shared by the Shopify client and the feeds."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

Target = Literal["shopify", "merchant", "meta"]
DeliveryStatus = Literal["delivered", "unchanged", "deferred", "failed", "rolled_back"]
TARGETS: tuple[Target, ...] = ("shopify", "merchant", "meta")

AssetOpener = Callable[[str], bytes | Path]
"""Reads a published asset by its URI or path: its bytes, or a local file holding them."""


@dataclass
class DeliveryOutcome:
    """What delivery did for one (target, sku, preset): exactly one per pair a call handles."""

    target: Target
    sku: str
    preset: str
    status: DeliveryStatus
    reason: str
    product_id: str | None = None
    media_id: str | None = None
    content_sha256: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return asdict(self)
