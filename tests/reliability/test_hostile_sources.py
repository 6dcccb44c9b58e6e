"""Hostile sources and configuration through the flow: unsafe XML feeds, malformed presets, SKUs only a
binary format can carry (NUL, control characters), and safe_segment's fixed-point property."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from catalog_motion.errors import CatalogMotionError, ConfigError
from catalog_motion.paths import safe_segment
from catalog_motion.presets import load_presets
from publishing.sinks import check_key
from tests.fixtures.http_servers import CountingListener
from tests.reliability.helpers import judge, latest_rows, make_sink, run_flow
from tests.reliability.hostile.corpus import MARK, bad_presets, unsafe_feeds


def _one_line(message: str) -> bool:
    return bool(message.strip()) and "\n" not in message.strip() and "Traceback" not in message


def test_unsafe_xml_feeds_are_refused_whole_without_reading_or_connecting(
    prefect_api, rel_presets_file, tmp_path, rel_results
):
    secret = tmp_path / "host-secret.txt"
    secret.write_text(f"root-password-{MARK}\n", encoding="utf-8")
    listener = CountingListener("127.0.0.2")
    try:
        feeds = unsafe_feeds(secret, listener.url("/"))
        for name, data in feeds.items():
            path = tmp_path / name
            path.write_bytes(data)
            out = tmp_path / f"out-{name}"
            summary, _, error = run_flow(catalog=str(path), out=str(out), presets_file=str(rel_presets_file))
            rel_results.add("hostile_tried")
            assert summary is None and error is not None, f"{name}: the run accepted an unsafe feed"
            message = str(error)
            assert _one_line(message), (name, message)
            assert MARK not in message and "root-password" not in message, (name, message)
            assert not (out / "latest.json").exists()
            rel_results.add("hostile_refused")
            rel_results.case(f"feed:{name}", "refused", message)
    finally:
        listener.close()
    rel_results.add("refused_connections", listener.accepted)
    assert listener.accepted == 0, "an external entity made the parser connect out"


def test_malformed_presets_fail_with_one_clear_line(prefect_api, rel_catalog, tmp_path, rel_results):
    pwned = Path("/tmp") / f"{MARK}-pwned"
    for name, text in bad_presets().items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(text, encoding="utf-8")
        rel_results.add("hostile_tried")
        with pytest.raises(ConfigError) as info:
            load_presets(path)
        assert _one_line(str(info.value)), (name, str(info.value))
        rel_results.add("hostile_refused")
        rel_results.case(f"presets:{name}", "refused", str(info.value))
    # and through the flow, for a few: the run fails before any work, with the same one line
    for name in ("aspect-mismatch", "yaml-python-tag", "anchor-bomb"):
        out = tmp_path / f"out-{name}"
        summary, _, error = run_flow(
            catalog=str(rel_catalog), out=str(out), presets_file=str(tmp_path / f"{name}.yaml")
        )
        assert summary is None and isinstance(error, CatalogMotionError), (name, error)
        assert _one_line(str(error))
        assert not (out / "latest.json").exists()
    assert not pwned.exists(), "a YAML tag executed code"


def test_nul_and_control_character_skus_from_parquet(
    prefect_api, rel_catalog_src, rel_presets_file, tmp_path, rel_results
):
    folder = tmp_path / "catalog"
    shutil.copytree(rel_catalog_src.parent, folder)
    skus = [
        f"{MARK}-nul\x00tail",
        f"{MARK}-\x1b[31mansi",
        f"{MARK}-del\x7f",
        f"{MARK}-" + "€" * 3000,
        f"{MARK}/../../nul\x00/..",
        "..\x00",
    ]
    # One ordinary SKU too: a catalog whose every row is refused is a broken night, not promoted (test_latest_guard)
    names = [*skus, "PLAIN-1"]
    table = pa.table({"sku": names, "image": ["images/tee-red.png"] * len(names), "title": ["=1+1"] * len(names)})
    catalog = folder / "hostile.parquet"
    pq.write_table(table, catalog)
    out = tmp_path / "out"
    summary, _, error = run_flow(catalog=str(catalog), out=str(out), presets_file=str(rel_presets_file))
    rel_results.add("runs")
    assert error is None, repr(error)
    rel_results.add("runs_survived")
    rows = latest_rows(make_sink(str(out)))
    got = {r.sku for r in rows}
    for sku in skus:
        rel_results.add("hostile_tried")
        assert sku in got, f"{sku!r} has no manifest row"
    for row in rows:
        for asset in row.assets:
            assert check_key(asset.key) and Path(asset.uri).resolve().is_relative_to(out.resolve())
            assert "\x00" not in asset.uri and "\x1b" not in asset.uri
    presets = list(load_presets(rel_presets_file).values())
    report = judge(rel_results, catalog, presets, rows, make_sink(str(out)))
    assert report.ok, report.violations


def test_safe_segment_is_a_fixed_point_for_any_input():
    """Object keys require safe_segment(segment) == segment; names like '..' once broke that."""
    rng = random.Random(8)
    alphabet = "._-/\\ \x00\x1b~:*?aZ09é€🎉"
    for _ in range(5000):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 120)))
        segment = safe_segment(value)
        assert safe_segment(segment) == segment, (value, segment)
        assert check_key(f"{segment}/p/video.mp4")
    assert safe_segment("..") != safe_segment(".")  # distinct ids never share a folder
