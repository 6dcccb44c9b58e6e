"""Delivery stage entry points: published manifest rows to Shopify product media and to channel feeds.

Plain Python, no Prefect: the `deliver` task and the `catalog-motion deliver` command call these.
"""

from __future__ import annotations

from pathlib import Path

from catalog_motion.delivery_settings import DeliverySettings
from catalog_motion.errors import ConfigError
from catalog_motion.types import ManifestRow
from delivery import feeds, media
from delivery.outcomes import TARGETS, AssetOpener, DeliveryOutcome, DeliveryStatus, Target

TARGET_ALIASES = {"gmc": "merchant"}  # the CLI's `--to gmc`

__all__ = [
    "TARGETS",
    "AssetOpener",
    "DeliveryOutcome",
    "DeliveryStatus",
    "Target",
    "deliver",
    "rollback",
    "write_feeds",
]


def deliver(
    rows: list[ManifestRow],
    settings: DeliverySettings,
    *,
    run_id: str,
    state_dir: Path,
    open_asset: AssetOpener,
    priorities: dict[str, float] | None = None,
    token: str | None = None,
    targets: set[str] | None = None,
) -> list[DeliveryOutcome]:
    """Deliver the published manifest `rows` to every configured target (or only `targets`).

    Shopify outcomes are recorded in the delivery table under `state_dir`; feeds are written to
    `state_dir` (`write_feeds`), one `delivered` outcome per (sku, preset) they list. `token` is the
    Shopify Admin token (None: read from `settings.shopify.token_env`).
    """
    chosen = _chosen_targets(settings, targets)
    outcomes: list[DeliveryOutcome] = []
    if "shopify" in chosen and settings.shopify is not None:
        outcomes += media.deliver_to_shopify(
            rows,
            settings.shopify,
            run_id=run_id,
            state_dir=Path(state_dir),
            open_asset=open_asset,
            priorities=priorities or {},
            token=token,
        )
    for name in ("merchant", "meta"):
        feed = getattr(settings, name)
        if name in chosen and feed is not None:
            outcomes += feeds.feed_outcomes(name, rows, feed, dest_dir=Path(state_dir))
    return outcomes


def rollback(
    run_id: str, settings: DeliverySettings, *, state_dir: Path, token: str | None = None
) -> list[DeliveryOutcome]:
    """Undo run `run_id`'s Shopify deliveries: each product gets back the catalog-motion media it had
    before (or none, if that run added the first); merchant media is never touched."""
    if settings.shopify is None:
        raise ConfigError("delivery.shopify is not configured: there is no Shopify delivery to roll back")
    return media.rollback_shopify(run_id, settings.shopify, state_dir=Path(state_dir), token=token)


def write_feeds(rows: list[ManifestRow], settings: DeliverySettings, *, dest_dir: Path) -> list[Path]:
    """Write the configured feed files (Merchant XML + TSV, Meta CSV) for `rows` into `dest_dir`."""
    return feeds.write_feeds(rows, settings, dest_dir=Path(dest_dir))


def _chosen_targets(settings: DeliverySettings, targets: set[str] | None) -> set[str]:
    configured = {name for name in TARGETS if getattr(settings, name) is not None}
    if targets is None:
        return configured
    targets = {TARGET_ALIASES.get(name, name) for name in targets}
    unknown = set(targets) - set(TARGETS)
    if unknown:
        raise ConfigError(f"unknown delivery target {sorted(unknown)[0]!r}: use one of {', '.join(TARGETS)}")
    missing = set(targets) - configured
    if missing:
        name = sorted(missing)[0]
        raise ConfigError(f"delivery target {name!r} is not configured: add delivery.{name} to the settings")
    return set(targets)
