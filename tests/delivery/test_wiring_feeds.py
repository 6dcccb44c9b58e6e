"""Wiring of the feeds: a real catalog_run with `delivery: {merchant, meta}` writes the feed files next to its
manifest in the sink (and under latest/), records one outcome per listed video, shows them as a Prefect table
artifact and in the run summary; a broken delivery never takes the publish outcomes with it."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.flows.helpers import artifacts, manifest_rows, run_flow, task_runs
from tests.reliability.conftest import TINY_PRESETS

G_NS = "{http://base.google.com/ns/1.0}"
BASE_URL = "https://cdn.example.com/motion"


@pytest.fixture(scope="module")
def tiny_presets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("wiring_presets") / "presets.yaml"
    path.write_text(yaml.safe_dump(TINY_PRESETS), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tiny_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 SKUs over 2 photos at 120x150 (TEE-RED-S/-M share one)."""
    from catalog_connectors.samples import draw_sample_catalog

    return draw_sample_catalog(
        tmp_path_factory.mktemp("wiring_catalog"), size=(120, 150), photos=["tee-red", "hoodie-logo"]
    )


def _settings(path: Path, delivery: dict) -> Path:
    body = {"orchestration": {"retries": 1, "retry_delay_s": 0.05}, "delivery": delivery}
    path.write_text(yaml.safe_dump(body), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def feeds_run(prefect_api, tiny_catalog, tiny_presets, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wiring_feeds")
    out = tmp / "out"
    settings = _settings(
        tmp / "settings.yaml",
        {
            "merchant": {"base_url": BASE_URL, "presets": ["product-page", "close-up"]},
            "meta": {"base_url": BASE_URL, "presets": ["product-page"]},
        },
    )
    summary, flow_run_id = run_flow(
        catalog=str(tiny_catalog), out=str(out), settings_file=str(settings), presets_file=str(tiny_presets)
    )
    return summary, flow_run_id, out


def test_feeds_are_published_next_to_the_manifest(feeds_run):
    summary, _, out = feeds_run
    run_id = summary["run_id"]
    rows = manifest_rows(out, run_id)
    published = {(r.sku, r.preset): r for r in rows if r.status == "published"}
    assert len(published) == 6, [(r.sku, r.preset, r.status, r.reason) for r in rows]
    for base in (out / "runs" / run_id, out / "latest"):
        xml = ET.parse(base / "merchant-videos.xml").getroot()
        assert xml.tag == "rss" and xml.get("version") == "2.0"
        items = {i.find(f"{G_NS}id").text: [v.text for v in i.findall(f"{G_NS}video_link")] for i in xml.iter("item")}
        assert set(items) == {sku for sku, _ in published}
        for sku, links in items.items():
            keys = [published[(sku, p)].assets[0].key for p in ("product-page", "close-up")]
            assert links == [f"{BASE_URL}/{key}" for key in keys]
        tsv = pd.read_csv(base / "merchant-videos.tsv", sep="\t")
        assert sorted(tsv["id"]) == sorted(items) and all(len(v.split(",")) == 2 for v in tsv["video_link"])
        meta = pd.read_csv(base / "meta-videos.csv")
        assert sorted(meta["id"]) == sorted(items)
        assert all(url.startswith(BASE_URL) and url.endswith(".mp4") for url in meta["video[0].url"])
        assert set(meta["video[0].tag[0]"]) == {"product-page"}
    # the feeds are bookkeeping next to the manifest, not delivery state
    assert not (out / "delivery" / "merchant-videos.xml").exists()


def test_feed_outcomes_in_the_summary_and_as_a_prefect_table(feeds_run):
    summary, flow_run_id, _ = feeds_run
    delivery = summary["delivery"]
    assert delivery["ok"] and delivery["error"] is None
    assert delivery["counts"] == {"merchant": {"delivered": 6}, "meta": {"delivered": 3}}
    assert len(delivery["feeds"]) == 6  # 3 files, each under runs/<id>/ and latest/
    runs = task_runs(flow_run_id, expect_at_least=1)
    deliver = [r for r in runs if r.name.startswith("deliver [")]
    assert len(deliver) == 1 and deliver[0].state.is_completed()
    found = {a.key: a for a in artifacts(flow_run_id)}
    assert "delivery-outcomes" in found and "delivery-summary" in found
    assert "merchant" in str(found["delivery-outcomes"].data) and "listed in" in str(found["delivery-outcomes"].data)


def test_a_failed_delivery_leaves_the_run_published(prefect_api, tiny_catalog, tiny_presets, tmp_path):
    """A Shopify delivery without its token: the deliver task fails, the run and its manifest stand."""
    out = tmp_path / "out"
    settings = _settings(
        tmp_path / "settings.yaml",
        {"shopify": {"shop": "http://127.0.0.1:9", "token_env": "CATALOG_MOTION_TEST_NO_SUCH_TOKEN"}},
    )
    summary, flow_run_id = run_flow(
        catalog=str(tiny_catalog),
        out=str(out),
        settings_file=str(settings),
        presets_file=str(tiny_presets),
        presets=["product-page"],
    )
    assert summary["promoted"] and summary["counts"]["total"]["published"] == 3
    assert (out / "latest" / "manifest.json").exists()
    delivery = summary["delivery"]
    assert not delivery["ok"] and delivery["counts"] == {}
    assert delivery["error"] == (
        "Shopify token missing: set $CATALOG_MOTION_TEST_NO_SUCH_TOKEN or delivery.shopify.token_secret_block"
    )
    deliver = [r for r in task_runs(flow_run_id) if r.name.startswith("deliver [")]
    assert len(deliver) == 1 and deliver[0].state.is_failed()
    shutil.rmtree(out, ignore_errors=True)
