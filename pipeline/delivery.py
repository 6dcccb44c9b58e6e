"""Delivery glue in plain Python: a published run's manifest and assets, read from the sink, to delivery.api.

The delivery table (`delivery/delivery.jsonl`) lives in the sink beside the manifests, so any worker - a
fresh pod, another machine - continues the same history: it is copied into a local state folder before a
delivery and stored back after it, also when the delivery fails half-way (what was attached is recorded).
The feed files are stored next to the run's manifest (`runs/<run_id>/`) and, for the run `latest` points
at, under `latest/` (the stable URL a channel fetches).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import BaseModel, Field

from catalog_motion.delivery_settings import DeliverySettings
from catalog_motion.errors import ConfigError, PermanentError
from catalog_motion.settings import RunSettings
from catalog_motion.types import CatalogRow, ManifestRow
from delivery import api
from pipeline.outputs import sink_for
from publishing.manifest import ManifestStore
from publishing.sinks import Sink

SecretResolver = Callable[[str], str]
"""Returns the secret stored under a name (the tasks pass a Prefect Secret block reader)."""

STATE_PREFIX = "delivery"
"""Sink prefix of the delivery state (the delivery table): one history for every run of this sink."""

FEED_TARGETS = ("merchant", "meta")
FEED_CONTENT_TYPES = {".xml": "application/rss+xml", ".tsv": "text/tab-separated-values", ".csv": "text/csv"}


class DeliveryReport(BaseModel):
    """What one delivery (or rollback) of a run did: every outcome, counts per target, the stored feeds."""

    run_id: str
    action: str = Field(default="deliver", description="deliver | rollback")
    outcomes: list[dict[str, str | None]] = Field(default_factory=list)
    feeds: list[str] = Field(default_factory=list, description="URIs of the feed files stored in the sink")

    def counts(self) -> dict[str, dict[str, int]]:
        """Outcomes per target and status."""
        counts: dict[str, Counter[str]] = {}
        for outcome in self.outcomes:
            counts.setdefault(str(outcome["target"]), Counter())[str(outcome["status"])] += 1
        return {target: dict(c) for target, c in sorted(counts.items())}

    @property
    def failed(self) -> list[dict[str, str | None]]:
        return [o for o in self.outcomes if o["status"] == "failed"]


def delivery_targets(settings: DeliverySettings, to: Iterable[str] | None) -> set[str]:
    """The targets a delivery covers: `to`, else every configured one (delivery.api refuses an unknown or
    unconfigured name); refuses a run settings file without any delivery target."""
    if not settings.enabled:
        raise ConfigError(
            "delivery is not configured: add a `delivery:` section (shopify, merchant and/or meta) to the "
            "run settings file passed with --config"
        )
    return set(to) if to else {name for name in api.TARGETS if getattr(settings, name) is not None}


def shopify_token(settings: DeliverySettings, secrets: SecretResolver | None) -> str:
    """The Shopify Admin token: from the Prefect Secret block `token_secret_block` when set, else the env var."""
    shopify = settings.shopify
    if shopify is None:
        raise ConfigError("delivery.shopify is not configured")
    if shopify.token_secret_block:
        if secrets is None:
            raise ConfigError(
                f"delivery.shopify.token_secret_block '{shopify.token_secret_block}' is set but no secret store "
                f"is reachable here: set PREFECT_API_URL, or unset the block and set ${shopify.token_env}"
            )
        return secrets(shopify.token_secret_block)
    token = os.environ.get(shopify.token_env, "").strip()
    if not token:
        raise ConfigError(f"Shopify token missing: set ${shopify.token_env} or delivery.shopify.token_secret_block")
    return token


def catalog_priorities(rows: Iterable[CatalogRow], settings: DeliverySettings) -> dict[str, float]:
    """SKU -> priority from the catalog column `delivery.shopify.priority_column` (numbers only; rows without
    one get none; {} when Shopify is not a target: only its video cap needs an order)."""
    if settings.shopify is None:
        return {}
    priorities: dict[str, float] = {}
    for row in rows:
        value = row.extra.get(settings.shopify.priority_column)
        try:
            priorities[row.sku] = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
    return priorities


@contextmanager
def _asset_opener(sink: Sink, rows: list[ManifestRow], scratch: Path) -> Iterator[api.AssetOpener]:
    """Opens a published asset by its manifest URI: the stored file itself for a folder sink, else a local copy
    under `scratch` (removed afterwards)."""
    keys = {asset.uri: asset.key for row in rows for asset in row.assets if asset.key}

    def open_asset(uri: str) -> Path:
        key = keys.get(uri)
        if key is None:
            raise PermanentError(f"{uri} is not an asset of this run's manifest")
        return sink.local_copy(key, scratch / "assets" / key)

    try:
        yield open_asset
    finally:
        shutil.rmtree(scratch / "assets", ignore_errors=True)


@contextmanager
def _synced_state(sink: Sink, scratch: Path) -> Iterator[Path]:
    """A local copy of the sink's delivery state; stored back (changed files only) however the block ends."""
    state = scratch / "state"
    state.mkdir(parents=True, exist_ok=True)
    for key in sink.list_keys(f"{STATE_PREFIX}/"):
        target = state / key[len(STATE_PREFIX) + 1 :]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(sink.get_bytes(key))
    try:
        yield state
    finally:
        for path in sorted(state.rglob("*")):
            if path.is_file() and not path.name.startswith("."):  # temp files of an interrupted atomic write
                key = f"{STATE_PREFIX}/{path.relative_to(state).as_posix()}"
                sink.put(path, key, "application/x-ndjson", kind="manifest_delivery_state", cache_control="no-cache")


def _store_feeds(sink: Sink, run_id: str, paths: list[Path], *, latest: bool) -> list[str]:
    """Store the feed files next to the run's manifest (and under latest/ for the live run); their URIs."""
    stored = []
    for path in paths:
        content_type = FEED_CONTENT_TYPES.get(path.suffix, "application/octet-stream")
        for base in (f"runs/{run_id}", "latest") if latest else (f"runs/{run_id}",):
            asset = sink.put(
                path,
                f"{base}/{path.name}",
                content_type,
                kind="manifest_feed",
                cache_control=sink.settings.manifest_cache_control,
            )
            stored.append(asset.uri)
    return stored


def _scratch(settings: RunSettings) -> Path:
    root = Path(settings.work_dir or tempfile.gettempdir()) / "delivery"
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="deliver-", dir=root))


def deliver_run(
    settings: RunSettings,
    run_id: str | None = None,
    *,
    secrets: SecretResolver | None = None,
    priorities: dict[str, float] | None = None,
    to: Iterable[str] | None = None,
) -> DeliveryReport:
    """Deliver run `run_id` (default: the run `latest` points at) of the settings' sink to the configured
    delivery targets (or only `to`). Raises on what stops the whole delivery (no such run, no token, a
    store that stays unreachable); a single item's trouble is its outcome."""
    delivery = settings.delivery
    chosen = delivery_targets(delivery, to)
    sink = sink_for(settings.sink)
    store = ManifestStore(sink)
    latest = store.latest_run_id()
    run_id = run_id or latest
    if run_id is None:
        raise PermanentError(f"no run has been published to {settings.sink.uri} yet: nothing to deliver")
    rows = store.read_run(run_id)
    scratch = _scratch(settings)
    report = DeliveryReport(run_id=run_id)
    try:
        # Feeds first: they need nothing from Shopify, so a store that is down or a missing token costs them nothing.
        feeds = chosen & set(FEED_TARGETS)
        if feeds:
            feed_dir = scratch / "feeds"
            outcomes = api.deliver(
                rows, delivery, run_id=run_id, state_dir=feed_dir, open_asset=_no_asset, targets=feeds
            )
            report.outcomes += [o.as_dict() for o in outcomes]
            paths = sorted(p for p in feed_dir.iterdir() if p.is_file() and not p.name.startswith("."))
            report.feeds = _store_feeds(sink, run_id, paths, latest=run_id == latest)
        if "shopify" in chosen:
            token = shopify_token(delivery, secrets)
            with _synced_state(sink, scratch) as state, _asset_opener(sink, rows, scratch) as open_asset:
                outcomes = api.deliver(
                    rows,
                    delivery,
                    run_id=run_id,
                    state_dir=state,
                    open_asset=open_asset,
                    priorities=priorities,
                    token=token,
                    targets={"shopify"},
                )
            report.outcomes += [o.as_dict() for o in outcomes]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return report


def rollback_run(settings: RunSettings, run_id: str, *, secrets: SecretResolver | None = None) -> DeliveryReport:
    """Undo run `run_id`'s Shopify deliveries (each product gets its previous catalog-motion media back)."""
    delivery = settings.delivery
    delivery_targets(delivery, None)
    token = shopify_token(delivery, secrets)
    sink = sink_for(settings.sink)
    scratch = _scratch(settings)
    try:
        with _synced_state(sink, scratch) as state:
            outcomes = api.rollback(run_id, delivery, state_dir=state, token=token)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return DeliveryReport(run_id=run_id, action="rollback", outcomes=[o.as_dict() for o in outcomes])


def _no_asset(uri: str) -> Path:
    raise PermanentError(f"feeds name published URLs and never read an asset ({uri})")
