"""Delivery stage: channel feed files naming the published videos (Google Merchant supplemental, Meta catalog).

Merchant: RSS 2.0 with the `g:` namespace (`g:id` + up to 10 `g:video_link`) and the same as TSV
(`id`, `video_link` comma-separated). Meta: CSV with `id`, `video[i].url`, `video[i].tag[0]`.
Only standing (published) rows; a URL longer than the channel's limit, or not http(s), is left out.
"""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from catalog_motion.delivery_settings import DeliverySettings, FeedDeliverySettings
from catalog_motion.types import STANDING, ManifestRow
from delivery.outcomes import DeliveryOutcome
from delivery.table import atomic_write

G_NS = "http://base.google.com/ns/1.0"
MERCHANT_MAX_VIDEOS = 10
META_MAX_VIDEOS = 20
VIDEO_KIND = "video"  # the MP4 asset: the one format both channels take


def video_url(row: ManifestRow, feed: FeedDeliverySettings) -> str | None:
    """Public URL of a row's MP4: the sink key joined to `base_url`, or the asset URI when it is http(s)."""
    asset = next((a for a in row.assets if a.kind == VIDEO_KIND), None)
    if asset is None:
        return None
    if feed.base_url is not None and asset.key:
        url = f"{feed.base_url}/{quote(asset.key.lstrip('/'), safe='/')}"
    elif asset.uri.startswith(("http://", "https://")):
        parts = urlsplit(asset.uri)
        # Commas separate values in the Merchant TSV and spaces break every feed reader: percent-encode them.
        url = urlunsplit(parts._replace(path=quote(parts.path, safe="/%")))
    else:
        return None
    return url if len(url) <= feed.max_url_chars else None


def feed_videos(
    rows: list[ManifestRow], feed: FeedDeliverySettings, limit: int
) -> Iterator[tuple[str, list[tuple[str, str]], list[tuple[str, str]]]]:
    """(sku, [(preset, url)], [(preset, why left out)]) per SKU with a standing row in the feed's presets."""
    by_sku: dict[str, dict[str, ManifestRow]] = {}
    for row in rows:
        if row.status in STANDING and row.preset in feed.presets:
            by_sku.setdefault(row.sku, {})[row.preset] = row
    for sku, presets in by_sku.items():
        listed: list[tuple[str, str]] = []
        left_out: list[tuple[str, str]] = []
        for preset in feed.presets:
            row = presets.get(preset)
            if row is None:
                continue
            url = video_url(row, feed)
            if url is None:
                left_out.append((preset, f"no public http(s) video URL of at most {feed.max_url_chars} characters"))
            elif len(listed) >= limit:
                left_out.append((preset, f"the feed takes at most {limit} videos per item"))
            else:
                listed.append((preset, url))
        yield sku, listed, left_out


def write_merchant(rows: list[ManifestRow], feed: FeedDeliverySettings, dest_dir: Path) -> list[Path]:
    """Merchant supplemental feed as RSS 2.0 XML and as TSV; returns both paths."""
    stem = feed.file_stem or "merchant-videos"
    ET.register_namespace("g", G_NS)
    rss = ET.Element("rss", {"version": "2.0"})
    channel = ET.SubElement(rss, "channel")
    ET.SubElement(channel, "title").text = "catalog-motion videos"
    ET.SubElement(channel, "description").text = "Supplemental feed: product videos made by catalog-motion"
    table: list[list[str]] = [["id", "video_link"]]
    for sku, listed, _ in feed_videos(rows, feed, MERCHANT_MAX_VIDEOS):
        if not listed:
            continue
        item = ET.SubElement(channel, "item")
        ET.SubElement(item, f"{{{G_NS}}}id").text = sku
        for _, url in listed:
            ET.SubElement(item, f"{{{G_NS}}}video_link").text = url
        table.append([sku, ",".join(url for _, url in listed)])
    xml_path = dest_dir / f"{stem}.xml"
    atomic_write(xml_path, ET.tostring(rss, encoding="utf-8", xml_declaration=True))
    tsv_path = dest_dir / f"{stem}.tsv"
    atomic_write(tsv_path, _csv_bytes(table, delimiter="\t"))
    return [xml_path, tsv_path]


def write_meta(rows: list[ManifestRow], feed: FeedDeliverySettings, dest_dir: Path) -> list[Path]:
    """Meta catalog CSV: `id`, then `video[i].url` and `video[i].tag[0]` (the preset) per listed video."""
    stem = feed.file_stem or "meta-videos"
    items = [(sku, listed) for sku, listed, _ in feed_videos(rows, feed, META_MAX_VIDEOS) if listed]
    width = max((len(listed) for _, listed in items), default=1)
    header = ["id"]
    for index in range(width):
        header += [f"video[{index}].url", f"video[{index}].tag[0]"]
    table = [header]
    for sku, listed in items:
        line = [sku]
        for preset, url in listed:
            line += [url, preset]
        table.append(line + [""] * (len(header) - len(line)))
    path = dest_dir / f"{stem}.csv"
    atomic_write(path, _csv_bytes(table, delimiter=","))
    return [path]


def write_feeds(rows: list[ManifestRow], settings: DeliverySettings, *, dest_dir: Path) -> list[Path]:
    """Every configured feed file for `rows`, written atomically into `dest_dir`."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    if settings.merchant is not None:
        paths += write_merchant(rows, settings.merchant, dest_dir)
    if settings.meta is not None:
        paths += write_meta(rows, settings.meta, dest_dir)
    return paths


def feed_outcomes(
    target: str, rows: list[ManifestRow], feed: FeedDeliverySettings, *, dest_dir: Path
) -> list[DeliveryOutcome]:
    """Write one target's feed into `dest_dir` and say, per (sku, preset), whether it lists the video."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    if target == "merchant":
        paths, limit = write_merchant(rows, feed, dest_dir), MERCHANT_MAX_VIDEOS
    else:
        paths, limit = write_meta(rows, feed, dest_dir), META_MAX_VIDEOS
    names = " and ".join(path.name for path in paths)
    outcomes: list[DeliveryOutcome] = []
    for sku, listed, left_out in feed_videos(rows, feed, limit):
        for preset, url in listed:
            outcomes.append(DeliveryOutcome(target, sku, preset, "delivered", f"listed in {names}: {url}"))  # type: ignore[arg-type]
        for preset, why in left_out:
            outcomes.append(DeliveryOutcome(target, sku, preset, "failed", f"left out of {names}: {why}"))  # type: ignore[arg-type]
    return outcomes


def _csv_bytes(table: list[list[str]], delimiter: str) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\n").writerows(table)
    return buffer.getvalue().encode("utf-8")
