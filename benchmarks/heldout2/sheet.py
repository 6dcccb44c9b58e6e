"""The contact sheet of set v2's visible defects (docs/img/heldout2-defects.webp): one labelled frame per
visible defect strength, rendered by the recipes themselves. Where one frame cannot show the defect, the
tile says how it is shown: a cut or loop seam as the frames either side blended (a double image), flicker
and flashes as stripes of consecutive frames, a delivery encode decoded from a short encode at its crf."""

from __future__ import annotations

import tempfile
from pathlib import Path

import cv2
import numpy as np

from benchmarks.heldout2.recipes import Recipe, recipes
from benchmarks.heldout2.validate import shown_frame

ROOT = Path(__file__).resolve().parents[2]
SHEET = ROOT / "docs" / "img" / "heldout2-defects.webp"
TILE_W, TILE_H, LABEL_H = 240, 300, 44


def _stripes(frames: list[np.ndarray]) -> np.ndarray:
    out = frames[0].copy()
    w = out.shape[1]
    for k, f in enumerate(frames):
        out[:, k * w // len(frames) : (k + 1) * w // len(frames)] = f[
            :, k * w // len(frames) : (k + 1) * w // len(frames)
        ]
    return out


def _encoded(recipe: Recipe, i: int) -> np.ndarray:
    """Frame i of the clip as it comes out of an H.264 encode at the recipe's crf (a 12-frame encode)."""
    from benchmarks.heldout2.build import H264Writer
    from catalog_motion.media import read_frames

    plan = recipe.make()
    clip = plan.clip
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tile.mp4"
        enc = H264Writer(path, clip.width, clip.height, clip.fps, plan.delivery.crf)
        for j in range(max(0, i - 6), i + 6):
            enc.write(clip.render(j))
        enc.close()
        return read_frames(path)[6]


def tile_picture(recipe: Recipe) -> tuple[np.ndarray, str]:
    """The picture of one visible defect and how it is shown."""
    if recipe.family == "unreadable":
        return np.full((TILE_H, TILE_W, 3), 90, np.uint8), "no picture: unreadable file"
    plan = recipe.make()
    clip = plan.clip
    i = shown_frame(recipe, clip.n_frames)
    fam = recipe.family
    if fam == "hard_cut":
        cut = next(j for j in range(clip.n_frames) if clip.t(j) >= 0.5)
        return cv2.addWeighted(clip.render(cut - 1), 0.5, clip.render(cut), 0.5, 0), "frames either side of the cut"
    if fam == "loop_seam":
        last, first = clip.render(clip.n_frames - 1), clip.render(0)
        return cv2.addWeighted(last, 0.5, first, 0.5, 0), "last and first frame blended"
    if fam in ("flicker", "flashes"):
        return _stripes([clip.render(i + k) for k in range(4)]), "4 consecutive frames as stripes"
    if fam == "delivered":
        if plan.delivery.feed is None:
            return _encoded(recipe, i), f"decoded at crf {plan.delivery.crf}"
        return clip.render(i), "timing defect: frames missing"
    if fam == "short_clip":
        return clip.render(clip.n_frames - 1), f"last frame ({clip.n_frames} frames)"
    return clip.render(i), f"frame {i}"


def _fit(img: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    s = min(TILE_W / w, TILE_H / h)
    small = cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    out = np.full((TILE_H, TILE_W, 3), 255, np.uint8)
    y, x = (TILE_H - small.shape[0]) // 2, (TILE_W - small.shape[1]) // 2
    out[y : y + small.shape[0], x : x + small.shape[1]] = small
    return out


def _label(lines: list[str]) -> np.ndarray:
    band = np.full((LABEL_H, TILE_W, 3), 255, np.uint8)
    for k, line in enumerate(lines):
        cv2.putText(band, line[:38], (4, 14 + 14 * k), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (20, 20, 20), 1, cv2.LINE_AA)
    return band


def write_sheet(path: Path = SHEET, columns: int = 8) -> Path:
    tiles = []
    for r in recipes():
        if r.label != "defect" or not r.visible:
            continue
        picture, how = tile_picture(r)
        tiles.append(np.vstack([_fit(picture), _label([f"{r.family} {r.strength}", f"{r.preset} {r.product}", how])]))
    blank = np.full_like(tiles[0], 255)
    tiles += [blank] * (-len(tiles) % columns)
    rows = [np.hstack(tiles[k : k + columns]) for k in range(0, len(tiles), columns)]
    sheet = np.vstack(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_WEBP_QUALITY, 88])
    return path
