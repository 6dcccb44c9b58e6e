"""Sizes sharing one photo are generated once and published per SKU: one SKU's failed publish is that
SKU's outcome, not its siblings'. The stage functions run directly (no Prefect)."""

from __future__ import annotations

from pathlib import Path

import yaml
from PIL import Image

from catalog_motion.presets import load_presets
from catalog_motion.settings import RunSettings
from catalog_motion.types import ManifestRow, WorkItem
from pipeline.recording import state_rows
from pipeline.state import ItemState, RunContext
from pipeline.steps import check_batch, fetch_batch, generate_batch, publish_batch
from quality.synthetic import draw_garment_photo
from tests.flows.conftest import SMALL_PRESETS


def _run_item(tmp_path: Path, skus: list[str], blocked: list[str]) -> tuple[ItemState, dict[str, ManifestRow], Path]:
    """One shared-photo item through fetch → generate → check → publish into a local folder in which a
    plain file sits where each `blocked` SKU's folder should go (so only those SKUs cannot be stored)."""
    presets_file = tmp_path / "presets.yaml"
    presets_file.write_text(yaml.safe_dump({"presets": {"product-page": SMALL_PRESETS["presets"]["product-page"]}}))
    preset = load_presets(presets_file)["product-page"]
    photo = tmp_path / "tee.png"
    Image.fromarray(draw_garment_photo(432, 540, seed=4)).save(photo)
    out = tmp_path / "out"
    out.mkdir()
    for sku in blocked:
        (out / sku).write_text("a file where the SKU's folder should go")
    settings = RunSettings(work_dir=str(tmp_path / "work"), sink={"uri": str(out)}, orchestration={"retries": 0})
    ctx = RunContext(
        run_id="r1",
        catalog="catalog.csv",
        out=str(out),
        work_dir=settings.work_dir,
        settings=settings,
        presets={preset.name: preset},
    )
    states = [ItemState(item=WorkItem(sku=skus[0], skus=skus, preset=preset.name, image=str(photo), seed=7))]
    for stage in (fetch_batch, generate_batch, check_batch):
        states = stage(states, ctx)
    assert states[0].status is None and states[0].qc is not None and states[0].qc.passed, states[0].qc
    states = publish_batch(states, ctx)
    return states[0], {row.sku: row for row in state_rows(states[0])}, out


def test_one_skus_publish_failure_leaves_its_siblings_published(tmp_path):
    state, rows, out = _run_item(tmp_path, ["TEE-S", "TEE-M", "TEE-L"], blocked=["TEE-M"])
    assert state.status == "published"
    assert state.clip.path.endswith("attempt-0.nut")  # master_format auto: raw, the disk has room
    assert set(rows) == {"TEE-S", "TEE-M", "TEE-L"}
    assert rows["TEE-M"].status == "failed" and "publishing failed" in rows["TEE-M"].reason
    assert rows["TEE-M"].assets == [] and rows["TEE-M"].video is None
    for sku in ("TEE-S", "TEE-L"):
        assert rows[sku].status == "published", rows[sku].reason
        assert rows[sku].video and (out / sku).is_dir()
        assert all(asset.key.startswith(f"{sku}/") for asset in rows[sku].assets)


def test_every_sku_failing_fails_the_item(tmp_path):
    state, rows, _ = _run_item(tmp_path, ["A", "B"], blocked=["A", "B"])
    assert state.status == "failed" and state.clip is not None
    assert [(r.sku, r.status) for r in rows.values()] == [("A", "failed"), ("B", "failed")]
    assert all("publishing failed" in r.reason and not r.assets for r in rows.values())
