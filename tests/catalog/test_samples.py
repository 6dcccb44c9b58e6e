"""The sample catalog: deterministic, big enough, with the hard cases present."""

from __future__ import annotations

import csv
import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from catalog_connectors.samples import CSV_COLUMNS, draw_sample_catalog

REPO = Path(__file__).resolve().parents[2]


def _rows(csv_path: Path) -> list[dict[str, str]]:
    with open(csv_path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_full_sample_catalog_shape(sample_catalog: Path) -> None:
    rows = _rows(sample_catalog)
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) >= 6 and len({r["sku"] for r in rows}) == len(rows)
    photos = {r["image"] for r in rows}
    assert len(photos) >= 6
    for ref in photos:
        with Image.open(sample_catalog.parent / ref) as im:
            assert max(im.size) >= 1500 and im.mode == "RGB"
            assert im.size[1] > im.size[0]  # portrait
    # Two size variants of one colour share one photo.
    by_photo: dict[str, list[str]] = {}
    for r in rows:
        by_photo.setdefault(r["image"], []).append(r["sku"])
    assert sorted(by_photo["images/tee-red.png"]) == ["TEE-RED-M", "TEE-RED-S"]
    assert {Path(p).suffix for p in photos} == {".png", ".jpg"}


def _hf_energy(path: Path, box: tuple[int, int, int, int]) -> float:
    """Mean absolute Laplacian over a crop of the subject: fine textures score high, plain colours low."""
    gray = np.asarray(Image.open(path).convert("L").crop(box), np.float32)
    lap = np.abs(4 * gray[1:-1, 1:-1] - gray[:-2, 1:-1] - gray[2:, 1:-1] - gray[1:-1, :-2] - gray[1:-1, 2:])
    return float(lap.mean())


def test_hard_cases_are_really_there(sample_catalog: Path) -> None:
    images = sample_catalog.parent / "images"
    plain = _hf_energy(images / "tee-red.png", (650, 900, 950, 1300))
    denim = _hf_energy(images / "jeans-denim.png", (600, 900, 750, 1300))
    knit = _hf_energy(images / "scarf-knit.jpg", (780, 900, 930, 1300))
    assert denim > 10 * plain and knit > 10 * plain, (plain, denim, knit)
    # The subject stands out from a light studio background in every photo.
    for photo in images.iterdir():
        arr = np.asarray(Image.open(photo).convert("RGB"), np.float32)
        corner = arr[:100, :100].mean()
        assert 200 < corner < 250, photo.name
        centre = arr[900:1100, 700:900].mean(axis=(0, 1))
        assert np.abs(centre - arr[:100, :100].mean(axis=(0, 1))).max() > 25, photo.name
    # The logo is off-white on grey: bright pixels inside the chest area.
    hoodie = np.asarray(Image.open(images / "hoodie-logo.jpg").convert("L"))[620:960, 520:1080]
    assert (hoodie > 215).mean() > 0.02


def test_drawing_is_deterministic_and_subsettable(tmp_path: Path) -> None:
    a = draw_sample_catalog(tmp_path / "a", size=(160, 200), photos=["tee-red", "dress-print"])
    b = draw_sample_catalog(tmp_path / "b", size=(160, 200), photos=["tee-red", "dress-print"])
    assert _digests(a.parent) == _digests(b.parent)
    assert [r["sku"] for r in _rows(a)] == ["TEE-RED-S", "TEE-RED-M", "DRS-FLORAL-M"]
    with Image.open(a.parent / "images/tee-red.png") as im:
        assert im.size == (160, 200)


def test_small_sample_catalog(small_sample_catalog: Path) -> None:
    rows = _rows(small_sample_catalog)
    assert [r["sku"] for r in rows] == ["TEE-RED-S", "TEE-RED-M", "HOOD-LOGO-L"]
    for r in rows:
        assert (small_sample_catalog.parent / r["image"]).is_file()


def test_unknown_photo_is_refused(tmp_path: Path) -> None:
    import pytest

    with pytest.raises(ValueError, match="unknown sample photo"):
        draw_sample_catalog(tmp_path, photos=["nope"])


def test_script_draws_catalog(tmp_path: Path) -> None:
    out = tmp_path / "cat"
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts/draw_sample_catalog.py"), str(out), "--size", "160x200"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert (out / "catalog.csv").is_file() and len(list((out / "images").iterdir())) >= 6
    bad = subprocess.run(
        [sys.executable, str(REPO / "scripts/draw_sample_catalog.py")], capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 2 and "usage" in bad.stderr
    with Image.open(out / "images/tee-red.png") as im:
        assert im.size == (160, 200)
