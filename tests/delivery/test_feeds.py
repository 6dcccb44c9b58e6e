"""Merchant (RSS 2.0 + g: namespace, TSV) and Meta (CSV) feeds, parsed back with xml.etree and pandas."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd

from catalog_motion.delivery_settings import DeliverySettings
from catalog_motion.types import Asset, ManifestRow
from delivery.api import deliver, write_feeds
from delivery.feeds import G_NS

BASE = "https://cdn.example.com/motion"


def row(sku: str, preset: str, key: str, status: str = "published") -> ManifestRow:
    asset = Asset(kind="video", uri=f"/srv/out/{key}", size=10, sha256="ab" * 32, content_type="video/mp4", key=key)
    poster = Asset(kind="poster_jpeg", uri=f"/srv/out/{key}.jpg", size=5, sha256="cd" * 32, content_type="image/jpeg")
    return ManifestRow(sku=sku, preset=preset, status=status, assets=[asset, poster] if status == "published" else [])


ROWS = [
    row("TEE-RED-S", "product-page", "TEE-RED-S/product-page/video-1.mp4"),
    row("TEE-RED-S", "social", "TEE-RED-S/social/video-2.mp4"),
    row("TEE-RED-S", "close-up", "TEE-RED-S/close-up/video-3.mp4"),  # not a feed preset
    row('A&B <"odd">', "product-page", "odd sku, with comma/product-page/video-4.mp4"),
    row("HOOD-LOGO-L", "product-page", "x", status="rejected"),  # not published: never listed
    row("LONG-1", "product-page", "LONG-1/" + "p" * 2100 + "/video.mp4"),  # URL over 2,000 characters
]
SETTINGS = DeliverySettings(merchant={"base_url": BASE}, meta={"base_url": BASE + "/"})


def test_merchant_xml_has_g_namespace_ids_and_video_links(tmp_path):
    paths = write_feeds(ROWS, SETTINGS, dest_dir=tmp_path)

    xml_path = tmp_path / "merchant-videos.xml"
    assert xml_path in paths
    text = xml_path.read_text(encoding="utf-8")
    assert f'xmlns:g="{G_NS}"' in text and "&amp;" in text and "&lt;" in text
    root = ET.parse(xml_path).getroot()
    assert root.tag == "rss" and root.get("version") == "2.0"
    items = root.findall("./channel/item")
    feed = {item.findtext(f"{{{G_NS}}}id"): [v.text for v in item.findall(f"{{{G_NS}}}video_link")] for item in items}
    assert set(feed) == {"TEE-RED-S", 'A&B <"odd">'}  # rejected and over-long rows left out
    assert feed["TEE-RED-S"] == [f"{BASE}/TEE-RED-S/product-page/video-1.mp4", f"{BASE}/TEE-RED-S/social/video-2.mp4"]
    assert feed['A&B <"odd">'] == [f"{BASE}/odd%20sku%2C%20with%20comma/product-page/video-4.mp4"]
    assert all(len(url) <= 2000 for urls in feed.values() for url in urls)
    # Every element of an item is in the g: namespace (what Merchant Center reads).
    assert {child.tag.split("}")[0].strip("{") for item in items for child in item} == {G_NS}


def test_merchant_tsv_and_meta_csv_read_back_with_pandas(tmp_path):
    write_feeds(ROWS, SETTINGS, dest_dir=tmp_path)

    tsv = pd.read_csv(tmp_path / "merchant-videos.tsv", sep="\t", dtype=str, keep_default_na=False)
    assert list(tsv.columns) == ["id", "video_link"]
    links = dict(zip(tsv["id"], tsv["video_link"], strict=True))
    assert links["TEE-RED-S"].split(",") == [
        f"{BASE}/TEE-RED-S/product-page/video-1.mp4",
        f"{BASE}/TEE-RED-S/social/video-2.mp4",
    ]
    assert links['A&B <"odd">'].count(",") == 0

    meta = pd.read_csv(tmp_path / "meta-videos.csv", dtype=str, keep_default_na=False)
    assert list(meta.columns) == ["id", "video[0].url", "video[0].tag[0]", "video[1].url", "video[1].tag[0]"]
    tee = meta.set_index("id").loc["TEE-RED-S"]
    assert tee["video[0].url"].endswith("/product-page/video-1.mp4") and tee["video[0].tag[0]"] == "product-page"
    assert tee["video[1].tag[0]"] == "social"
    odd = meta.set_index("id").loc['A&B <"odd">']
    assert odd["video[1].url"] == "" and odd["video[0].url"].startswith(BASE + "/odd%20sku")
    assert set(meta["id"]) == {"TEE-RED-S", 'A&B <"odd">'}


def test_merchant_lists_at_most_ten_videos_per_item(tmp_path):
    presets = [f"p{i}" for i in range(12)]
    rows = [row("MANY", preset, f"MANY/{preset}/video.mp4") for preset in presets]
    settings = DeliverySettings(merchant={"base_url": BASE, "presets": presets})

    outcomes = deliver(rows, settings, run_id="r", state_dir=tmp_path, open_asset=Path)

    item = ET.parse(tmp_path / "merchant-videos.xml").getroot().find("./channel/item")
    assert len(item.findall(f"{{{G_NS}}}video_link")) == 10
    assert [o.status for o in outcomes].count("delivered") == 10
    left = [o for o in outcomes if o.status == "failed"]
    assert [o.preset for o in left] == ["p10", "p11"] and "at most 10 videos" in left[0].reason


def test_feed_outcomes_name_each_listed_and_left_out_video(tmp_path):
    outcomes = deliver(ROWS, SETTINGS, run_id="r", state_dir=tmp_path, open_asset=Path, targets={"merchant"})

    assert {o.target for o in outcomes} == {"merchant"}
    status = {(o.sku, o.preset): o.status for o in outcomes}
    assert status == {
        ("TEE-RED-S", "product-page"): "delivered",
        ("TEE-RED-S", "social"): "delivered",
        ('A&B <"odd">', "product-page"): "delivered",
        ("LONG-1", "product-page"): "failed",
    }
    assert not (tmp_path / "meta-videos.csv").exists()


def test_without_base_url_only_http_asset_uris_are_listed(tmp_path):
    rows = [row("LOCAL", "product-page", "LOCAL/video.mp4")]
    http = row("CDN", "product-page", "CDN/video.mp4")
    http.assets[0].uri = "https://bucket.example.com/CDN/video.mp4"
    settings = DeliverySettings(meta={})

    write_feeds([*rows, http], settings, dest_dir=tmp_path)

    meta = pd.read_csv(tmp_path / "meta-videos.csv", dtype=str)
    assert meta["id"].tolist() == ["CDN"] and meta["video[0].url"].tolist() == [http.assets[0].uri]
