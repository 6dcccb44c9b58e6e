"""Draw the README picture: a frame strip of every published variant of one SKU.

Usage: python scripts/make_readme_picture.py OUT_DIR [--sku SKU] [--dest docs/img/variants.png]
Reads OUT_DIR/latest/manifest.json (written by `catalog-motion run`), samples frames from each variant's
MP4 and lays them out one row per preset, the source photo first.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from catalog_motion.media import read_frames

ROW_HEIGHT = 260
FRAMES_PER_ROW = 4
GAP = 8


def _fit_height(image: np.ndarray, height: int) -> np.ndarray:
    scale = height / image.shape[0]
    return cv2.resize(image, (max(1, round(image.shape[1] * scale)), height), interpolation=cv2.INTER_AREA)


def _label(image: np.ndarray, text: str) -> np.ndarray:
    out = image.copy()
    cv2.rectangle(out, (0, 0), (min(out.shape[1], 12 + 11 * len(text)), 26), (20, 20, 20), -1)
    cv2.putText(out, text, (6, 19), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def build_strip(out_dir: Path, sku: str | None) -> np.ndarray:
    manifest = json.loads((out_dir / "latest" / "manifest.json").read_text())
    rows = [r for r in manifest["rows"] if r["status"] in ("published", "skipped") and r.get("video")]
    if not rows:
        raise SystemExit(f"no published video in {out_dir}")
    sku = sku or rows[0]["sku"]
    order = {"product-page": 0, "social": 1, "close-up": 2}
    rows = sorted((r for r in rows if r["sku"] == sku), key=lambda r: (order.get(r["preset"], 9), r["preset"]))
    strips = []
    for row in rows:
        frames = read_frames(row["video"])
        picks = np.linspace(0, len(frames) - 1, FRAMES_PER_ROW).round().astype(int)
        tiles = [_fit_height(frames[i], ROW_HEIGHT) for i in picks]
        tiles[0] = _label(tiles[0], f"{row['preset']}  {frames.shape[2]}x{frames.shape[1]}")
        for i, tile in zip(picks[1:], tiles[1:], strict=False):
            tile[:] = _label(tile, f"t={i / max(1, len(frames) - 1) * 100:.0f}%")
        spacer = np.full((ROW_HEIGHT, GAP, 3), 255, np.uint8)
        strips.append(np.concatenate([x for tile in tiles for x in (tile, spacer)][:-1], axis=1))
    width = max(s.shape[1] for s in strips)
    canvas = [np.pad(s, ((0, GAP), (0, width - s.shape[1]), (0, 0)), constant_values=255) for s in strips]
    return np.concatenate(canvas, axis=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--sku")
    parser.add_argument("--dest", type=Path, default=Path("docs/img/variants.png"))
    args = parser.parse_args()
    image = build_strip(args.out_dir, args.sku)
    args.dest.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.dest), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    print(args.dest)


if __name__ == "__main__":
    main()
