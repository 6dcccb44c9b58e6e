"""Drawn test photos for the generation tests (known subject, known texture, known geometry)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from catalog_motion.presets import Preset, load_presets


def save_png(rgb: np.ndarray, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ok = cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok, path
    return path


def draw_garment(
    width: int = 800,
    height: int = 1000,
    *,
    subject_center: tuple[float, float] | None = None,
    patch: tuple[int, int, int] | None = None,
    background_grid: bool = False,
) -> np.ndarray:
    """A studio product photo: light background, a dark blue 'shirt' (body + sleeves) with soft shading.

    `patch` = (x, y, size): a high-contrast checkerboard print inside the shirt (the known detail).
    `background_grid`: faint lines on the background so background motion is measurable.
    """
    rgb = np.full((height, width, 3), 236, np.uint8)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    rgb = (rgb.astype(np.float32) - 6.0 * yy[..., None] / height).astype(np.uint8)  # studio falloff
    if background_grid:
        step = max(8, width // 24)
        rgb[(xx.astype(int) % step) < 2] -= 8
        rgb[(yy.astype(int) % step) < 2] -= 8
    cx, cy = subject_center or (width / 2.0, height / 2.0)
    bw, bh = 0.42 * width, 0.62 * height
    body = np.array(
        [
            [cx - bw / 2, cy - bh / 2],
            [cx + bw / 2, cy - bh / 2],
            [cx + bw / 2 + 0.12 * width, cy - bh / 4],
            [cx + bw / 2, cy - bh / 8],
            [cx + bw / 2, cy + bh / 2],
            [cx - bw / 2, cy + bh / 2],
            [cx - bw / 2, cy - bh / 8],
            [cx - bw / 2 - 0.12 * width, cy - bh / 4],
        ],
        np.int32,
    )
    cv2.fillPoly(rgb, [body], (38, 58, 140), lineType=cv2.LINE_AA)
    # Gentle fabric shading so the shirt is not a flat colour (but has little gradient energy).
    shade = (8 * np.sin(xx / (0.07 * width))).astype(np.int16)
    inside = np.zeros((height, width), np.uint8)
    cv2.fillPoly(inside, [body], 1)
    rgb = np.where(inside[..., None] > 0, np.clip(rgb.astype(np.int16) + shade[..., None], 0, 255), rgb).astype(
        np.uint8
    )
    if patch is not None:
        px, py, size = patch
        cell = max(2, size // 8)
        board = ((np.indices((size, size)) // cell).sum(axis=0) % 2).astype(np.uint8)
        colours = np.where(board[..., None] > 0, np.array([245, 210, 40], np.uint8), np.array([20, 20, 20], np.uint8))
        rgb[py : py + size, px : px + size] = colours
    return rgb


def small_preset(name: str, **update) -> Preset:
    """A packaged preset shrunk for fast tests (same aspect and motion; size and duration reduced)."""
    base = load_presets()[name]
    sizes = {"product-page": (272, 340), "social": (216, 384), "close-up": (256, 256)}
    w, h = sizes[name]
    fields = {"width": w, "height": h, "duration_s": 1.0, "fps": 24}
    motion = update.pop("motion", None)
    fields.update(update)
    preset = base.model_copy(update=fields)
    if motion:
        preset = preset.model_copy(update={"motion": base.motion.model_copy(update=motion)})
    return Preset.model_validate(preset.model_dump())  # re-validate: geometry must stay consistent


@pytest.fixture
def gen_photo(tmp_path: Path) -> Path:
    """A 800x1000 shirt photo with a checkerboard print at (460, 560) size 90 (centre 505, 605)."""
    return save_png(draw_garment(patch=(460, 560, 90)), tmp_path / "shirt.png")


@pytest.fixture
def record_calls(monkeypatch):
    """Wrap a pipeline class's __call__ to record kwargs and outputs (the real call still runs)."""

    def install(engine, before=None):
        calls: list[dict] = []
        cls = type(engine.pipe)
        original = cls.__call__

        def recording(self, *args, **kwargs):
            entry = {"kwargs": dict(kwargs)}
            calls.append(entry)
            if before is not None:
                before(kwargs)
            output = original(self, *args, **kwargs)
            entry["frames"] = np.asarray(output.frames)
            return output

        monkeypatch.setattr(cls, "__call__", recording)
        return calls

    return install
