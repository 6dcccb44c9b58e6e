"""Draw the README pictures: a frame strip of every published variant of one SKU, an animated preview of
the same variants side by side, and the garment-motion figure of docs/ENGINES.md.

Usage: python scripts/make_readme_picture.py OUT_DIR [--sku SKU] [--dest docs/img/variants.png]
                                             [--preview docs/img/variants.webp]
       python scripts/make_readme_picture.py --field PHOTO [--dest docs/img/garment-field.png]
Reads OUT_DIR/latest/manifest.json (written by `catalog-motion run`), samples frames from each variant's
MP4 and lays them out one row per preset; the preview plays the three variants side by side (animated
WebP, each variant looping at its own length). --field draws the garment motion model (generation/garment.py)
on one photo: frames a quarter period apart with the displacement field as arrows, anchor line and hem.
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
    strips = []
    for row in _variant_rows(out_dir, sku):
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


PREVIEW_HEIGHT = 300
PREVIEW_FPS = 12
PREVIEW_SECONDS = 6.0  # the longest variant (social); shorter ones loop within it


def _variant_rows(out_dir: Path, sku: str | None) -> list[dict]:
    manifest = json.loads((out_dir / "latest" / "manifest.json").read_text())
    rows = [r for r in manifest["rows"] if r["status"] in ("published", "skipped") and r.get("video")]
    if not rows:
        raise SystemExit(f"no published video in {out_dir}")
    sku = sku or rows[0]["sku"]
    order = {"product-page": 0, "social": 1, "close-up": 2}
    return sorted((r for r in rows if r["sku"] == sku), key=lambda r: (order.get(r["preset"], 9), r["preset"]))


def build_preview(out_dir: Path, sku: str | None) -> list[np.ndarray]:
    """Frames of the animated preview: every variant of one SKU side by side at PREVIEW_FPS."""
    from catalog_motion.media import probe

    clips = []
    for row in _variant_rows(out_dir, sku):
        frames = read_frames(row["video"], long_side=2 * PREVIEW_HEIGHT)
        fps = probe(row["video"], count_frames=False).fps
        clips.append((row["preset"], [_fit_height(f, PREVIEW_HEIGHT) for f in frames], fps))
    out = []
    for k in range(round(PREVIEW_SECONDS * PREVIEW_FPS)):
        t = k / PREVIEW_FPS
        tiles = []
        for name, frames, fps in clips:
            tile = frames[int(t * fps) % len(frames)]
            tiles += [_label(tile, name), np.full((PREVIEW_HEIGHT, GAP, 3), 255, np.uint8)]
        out.append(np.concatenate(tiles[:-1], axis=1))
    return out


def build_field_figure(photo_path: Path, columns: int = 4, height: int = 420, arrows: int = 18) -> np.ndarray:
    """The garment motion model on one photo: frames a quarter period apart (no camera move), each with the
    fabric's displacement drawn as arrows (x6 for visibility), the anchor line (green) and the hem (red)."""
    from catalog_motion.images import read_photo, subject_mask
    from catalog_motion.presets import load_presets
    from generation.garment import GarmentMotion, GarmentMotionSpec, read_structure

    photo = read_photo(photo_path)
    scale = height / photo.shape[0]
    small = cv2.resize(photo, (round(photo.shape[1] * scale), height), interpolation=cv2.INTER_AREA)
    h, w = small.shape[:2]
    m = load_presets()["product-page"].motion
    spec = GarmentMotionSpec(sway=m.sway, hem_swing=m.hem_swing, breath=m.breath, period_s=m.sway_period_s)
    structure = read_structure(subject_mask(small), w, h, spec)
    if structure is None:
        raise SystemExit(f"no studio garment found in {photo_path}")
    period = 48
    motion = GarmentMotion(structure, spec, period, 24.0, loop=True)
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    ax, ay = np.meshgrid(np.linspace(0.05 * w, 0.95 * w, arrows), np.linspace(0.05 * h, 0.95 * h, arrows))
    ax, ay = ax.astype(np.float32).ravel(), ay.astype(np.float32).ravel()
    tiles = []
    for c in range(columns):
        i = round(c * period / columns) + period // 8  # an eighth in, so the first tile already moves
        dx, dy = motion.displacement(gx, gy, i)
        frame = cv2.remap(small, gx - dx, gy - dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        adx, ady = motion.displacement(ax, ay, i)
        for x, y, u, v in zip(ax, ay, adx, ady, strict=True):
            if abs(u) + abs(v) > 0.05:
                tip = (round(float(x + 6 * u)), round(float(y + 6 * v)))
                cv2.arrowedLine(frame, (round(float(x)), round(float(y))), tip, (20, 20, 20), 1, cv2.LINE_AA, 0, 0.3)
        for yline, colour in ((structure.anchor_y, (40, 170, 60)), (structure.hem_y, (210, 50, 50))):
            cv2.line(frame, (0, round(yline)), (w - 1, round(yline)), colour, 1, cv2.LINE_AA)
        tiles += [_label(frame, f"t={i / period:.2f} T"), np.full((h, GAP, 3), 255, np.uint8)]
    return np.concatenate(tiles[:-1], axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path, nargs="?")
    parser.add_argument("--sku")
    parser.add_argument("--dest", type=Path, default=None)
    parser.add_argument("--preview", type=Path, default=Path("docs/img/variants.webp"))
    parser.add_argument("--field", type=Path, help="draw the garment-motion figure of this photo instead")
    args = parser.parse_args()
    if args.field is not None:
        dest = args.dest or Path("docs/img/garment-field.png")
        image = build_field_figure(args.field)
    elif args.out_dir is not None:
        dest = args.dest or Path("docs/img/variants.png")
        image = build_strip(args.out_dir, args.sku)
        from PIL import Image

        frames = [Image.fromarray(f) for f in build_preview(args.out_dir, args.sku)]
        args.preview.parent.mkdir(parents=True, exist_ok=True)
        frames[0].save(
            args.preview,
            save_all=True,
            append_images=frames[1:],
            duration=round(1000 / PREVIEW_FPS),
            loop=0,
            quality=70,
            method=4,
        )
        print(args.preview)
    else:
        parser.error("give OUT_DIR (a finished run) or --field PHOTO")
    dest.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(dest), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    print(dest)


if __name__ == "__main__":
    main()
