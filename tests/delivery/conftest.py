"""Delivery test set-up: small real MP4 clips and published manifest rows for the sample catalog's SKUs."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from catalog_motion.media import ffmpeg_exe
from catalog_motion.types import Asset, ManifestRow, sha256_file

# The sample catalog (samples/catalog/catalog.csv): SKU -> Shopify product (its item group).
SAMPLE_SKUS = {
    "TEE-RED-S": "TEE-CLASSIC",
    "TEE-RED-M": "TEE-CLASSIC",
    "TEE-NAVY-M": "TEE-CLASSIC",
    "DRS-FLORAL-M": "DRS-FLORAL",
    "HOOD-LOGO-L": "HOOD-LOGO",
    "JEAN-INDIGO-32": "JEAN-STRAIGHT",
    "SCF-KNIT-OS": "SCF-KNIT",
    "BAG-TOTE-TAN": "BAG-TOTE",
}
COLOURS = ["red", "red", "navy", "purple", "gray", "blue", "yellow", "tan", "green", "white"]


def make_clip(path: Path, colour: str, preset: str = "product-page") -> Path:
    """A real 0.5 s H.264 MP4 (64x80, faststart): small, since its size is not the point here."""
    path.parent.mkdir(parents=True, exist_ok=True)
    size = "64x80" if preset != "social" else "48x84"
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", f"color=c={colour}:s={size}:d=0.5:r=8",
         "-c:v", "libx264", "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(path)],
        check=True,
    )  # fmt: skip
    return path


def published_row(sku: str, preset: str, clip: Path, root: Path) -> ManifestRow:
    key = clip.relative_to(root).as_posix()
    asset = Asset(
        kind="video", uri=str(clip), size=clip.stat().st_size, sha256=sha256_file(clip), content_type="video/mp4",
        key=key,
    )  # fmt: skip
    return ManifestRow(sku=sku, preset=preset, status="published", video=str(clip), assets=[asset])


@pytest.fixture(scope="module")
def sample_rows(tmp_path_factory) -> tuple[Path, list[ManifestRow]]:
    """(sink root, one published product-page row per sample SKU); TEE-RED-S/-M share one clip, as they
    share a photo."""
    root = tmp_path_factory.mktemp("published")
    rows = []
    for index, sku in enumerate(SAMPLE_SKUS):
        owner = "TEE-RED" if sku.startswith("TEE-RED") else sku
        clip = root / owner / "product-page" / "video.mp4"
        if not clip.exists():
            make_clip(clip, COLOURS[index])
        rows.append(published_row(sku, "product-page", clip, root))
    return root, rows
