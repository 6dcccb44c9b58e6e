"""Fitting a photo (or generated frames) to another aspect ratio without distortion.

Shared by the camera engine (framing the source photo) and the diffusion engines (conditioning photo
to the model's native size, then generated frames to the delivery size).

Policy, documented in docs/ENGINES.md: *cover-crop* (never stretch, never letterbox) centred on the
subject and clamped to the picture, then one resize: INTER_AREA when shrinking (anti-aliased), Lanczos
when enlarging (sharpest of OpenCV's filters). Enlarging is flagged by callers in provenance.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Box:
    """A crop window in source pixel coordinates (floats; x1/y1 exclusive edges)."""

    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    @property
    def center(self) -> tuple[float, float]:
        return (self.x0 + self.x1) / 2.0, (self.y0 + self.y1) / 2.0

    def as_list(self, ndigits: int = 2) -> list[float]:
        return [round(float(v), ndigits) for v in (self.x0, self.y0, self.x1, self.y1)]


def cover_size(src_w: int, src_h: int, out_w: int, out_h: int) -> tuple[float, float]:
    """Largest window of aspect out_w:out_h that fits inside a src_w x src_h picture."""
    scale = min(src_w / out_w, src_h / out_h)
    return out_w * scale, out_h * scale


def clamp_center(cx: float, cy: float, win_w: float, win_h: float, src_w: int, src_h: int) -> tuple[float, float]:
    """Move a window's centre the least so the window stays inside the picture."""
    cx = min(max(cx, win_w / 2.0), src_w - win_w / 2.0)
    cy = min(max(cy, win_h / 2.0), src_h - win_h / 2.0)
    return cx, cy


def cover_crop_box(
    src_w: int, src_h: int, out_w: int, out_h: int, center: tuple[float, float] | None = None, zoom: float = 1.0
) -> Box:
    """Crop window of the output aspect, `zoom` times tighter than the cover size, centred near `center`."""
    if zoom < 1.0:
        raise ValueError(f"zoom must be >= 1 (a crop cannot be wider than the cover size), got {zoom}")
    cw, ch = cover_size(src_w, src_h, out_w, out_h)
    cw, ch = cw / zoom, ch / zoom
    cx, cy = center if center is not None else (src_w / 2.0, src_h / 2.0)
    # Pixel centres run 0..w-1, window edges -0.5..w-0.5: centres are clamped in edge coordinates.
    cx, cy = clamp_center(cx + 0.5, cy + 0.5, cw, ch, src_w, src_h)
    return Box(cx - cw / 2.0, cy - ch / 2.0, cx + cw / 2.0, cy + ch / 2.0)


def crop_resize(rgb: np.ndarray, box: Box, out_w: int, out_h: int) -> np.ndarray:
    """Resample `box` of `rgb` to out_w x out_h with one filter suited to the direction of the resize."""
    ratio = box.width / out_w  # source pixels per output pixel
    if ratio > 1.0:
        # Shrink: INTER_AREA on the integer-aligned crop avoids aliasing; sub-pixel offset is negligible.
        x0, y0 = int(round(box.x0)), int(round(box.y0))
        x1, y1 = max(x0 + 1, int(round(box.x1))), max(y0 + 1, int(round(box.y1)))
        return cv2.resize(rgb[y0:y1, x0:x1], (out_w, out_h), interpolation=cv2.INTER_AREA)
    matrix = affine_for_box(box, out_w, out_h)
    return cv2.warpAffine(
        rgb, matrix, (out_w, out_h), flags=cv2.INTER_LANCZOS4 | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT
    )


def affine_for_box(box: Box, out_w: int, out_h: int) -> np.ndarray:
    """2x3 matrix mapping output pixel centres to source coordinates (for WARP_INVERSE_MAP)."""
    sx = box.width / out_w
    sy = box.height / out_h
    # Output pixel i covers [i, i+1) in edge coordinates; its centre i+0.5 maps to x0 + (i+0.5)*sx,
    # which is source pixel index x0 + (i+0.5)*sx - 0.5.
    return np.array([[sx, 0.0, box.x0 + 0.5 * sx - 0.5], [0.0, sy, box.y0 + 0.5 * sy - 0.5]], dtype=np.float64)


def fit_cover(
    rgb: np.ndarray, out_w: int, out_h: int, center: tuple[float, float] | None = None
) -> tuple[np.ndarray, Box]:
    """Cover-crop `rgb` to out_w:out_h around `center` and resize it; returns the image and the crop box."""
    h, w = rgb.shape[:2]
    box = cover_crop_box(w, h, out_w, out_h, center)
    return crop_resize(rgb, box, out_w, out_h), box
