"""Fixtures of the orchestration tests: small presets (fast), bad-input catalogs, flow runs."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
import yaml

SMALL_PRESETS = {
    "presets": {
        "product-page": {
            "aspect": "4:5",
            "width": 216,
            "height": 270,
            "duration_s": 1.0,
            "fps": 12,
            "loop": True,
            "motion": {"path": "breathing", "amount": 0.25, "focus": "subject"},
            "encodings": [{"format": "mp4-h264", "crf": 23, "preset": "veryfast"}, {"format": "poster-jpeg"}],
        },
        "close-up": {
            "aspect": "1:1",
            "width": 216,
            "height": 216,
            "duration_s": 1.0,
            "fps": 12,
            "motion": {"path": "push_in", "amount": 0.35, "focus": "detail"},
            "encodings": [{"format": "mp4-h264", "crf": 23, "preset": "veryfast"}, {"format": "poster-jpeg"}],
        },
    }
}


@pytest.fixture(scope="session")
def flows_presets_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two small derived presets (216 px, 1 s) so flow tests stay fast."""
    path = tmp_path_factory.mktemp("flows_presets") / "presets.yaml"
    path.write_text(yaml.safe_dump(SMALL_PRESETS), encoding="utf-8")
    return path


def write_catalog(path: Path, rows: list[dict[str, str]]) -> Path:
    fields = ["sku", "image", "title", "color", "item_group_id", "updated_at"]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k, "") for k in fields})
    return path


def copy_catalog(src_csv: Path, dest_dir: Path) -> Path:
    """A private copy of a sample catalog (tests may edit it)."""
    shutil.copytree(src_csv.parent, dest_dir, dirs_exist_ok=True)
    return dest_dir / src_csv.name


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture
def flows_catalog(small_sample_catalog: Path, tmp_path: Path) -> Path:
    """A private copy of the small sample catalog (3 SKUs, two share a photo)."""
    return copy_catalog(small_sample_catalog, tmp_path / "catalog")


@pytest.fixture
def flows_bad_catalog(small_sample_catalog: Path, tmp_path: Path) -> Path:
    """Good rows plus: a missing image file, a file that is not an image, a duplicate SKU, an empty row."""
    path = copy_catalog(small_sample_catalog, tmp_path / "bad_catalog")
    (path.parent / "images" / "not-an-image.png").write_text("this is text, not a PNG\n", encoding="utf-8")
    rows = read_rows(path)
    rows += [
        {"sku": "MISSING-PHOTO", "image": "images/does-not-exist.png", "title": "ghost"},
        {"sku": "NOT-IMAGE", "image": "images/not-an-image.png", "title": "text file"},
        {"sku": rows[-1]["sku"], "image": rows[-1]["image"], "title": "duplicate of the last good row"},
        {},
    ]
    return write_catalog(path, rows)
