"""One frame of each visible defect family next to its source photo (docs/images/heldout/<family>.jpg),
taken from the very file the gate scores (the delivered encode for delivery families)."""

from __future__ import annotations

import math
import shutil
import tempfile
from pathlib import Path

import cv2
import numpy as np

from benchmarks.heldout.build import build
from benchmarks.heldout.recipes import Recipe, presets, recipes
from catalog_motion.images import read_photo
from catalog_motion.media import iter_frames

DOC_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images" / "heldout"
WIDTH = 540  # each panel's width


def shown_frame(recipe: Recipe) -> int:
    """The frame that shows the defect best (where it is fully developed or where it happens)."""
    pr = presets()[recipe.preset]
    n, fps = pr.n_frames, pr.fps
    return {
        "boiling": n // 2,
        "jump_cut": math.ceil(0.55 * (n - 1)),
        "glitch": int(0.6 * n),
        "flashes": round(fps),
        "black_frames": 40 if recipe.preset == "product-page" else 100,
        "frozen": round(2.0 * fps),
        "still_noise": n // 2,
        "short": n // 2 - 1,
        "cutoff": n // 2,
        "flicker": 3,
        "delivered_blocking": n // 2,
        "delivered_stutter": 45,
        "delivered_black": 30 if recipe.preset == "product-page" else 90,
    }.get(recipe.family, n - 1)


def _panel(rgb: np.ndarray, height: int) -> np.ndarray:
    return cv2.resize(rgb, (round(rgb.shape[1] * height / rgb.shape[0]), height), interpolation=cv2.INTER_AREA)


def write_family_frames(out_dir: Path = DOC_IMAGES) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    chosen: dict[str, Recipe] = {}
    for r in recipes():
        if r.label == "defect" and r.visible:
            chosen[r.family] = r  # the last (strongest) visible strength of each family
    root = Path(tempfile.mkdtemp(prefix="qc-heldout-frames-"))
    written = []
    try:
        for family, recipe in chosen.items():
            built = build(recipe, root)
            index = shown_frame(recipe)
            source = built.delivered if family.startswith("delivered") else built.clip
            frame = None
            for i, f in enumerate(iter_frames(source)):
                frame = f
                if i >= index:
                    break
            height = round(WIDTH * frame.shape[0] / frame.shape[1])
            photo = _panel(read_photo(built.photo), height)
            gap = np.full((height, 12, 3), 255, np.uint8)
            sheet = np.hstack([photo, gap, _panel(frame, height)])
            path = out_dir / f"{family}.jpg"
            cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 82])
            written.append(path)
            for p in {built.master, built.clip, built.delivered}:
                if p is not None:
                    Path(p).unlink(missing_ok=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return written


if __name__ == "__main__":
    for p in write_family_frames():
        print(p)
