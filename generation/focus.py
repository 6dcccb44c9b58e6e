"""Where the camera aims: the subject's box, its centre, and the most textured detail inside it.

Pure functions on arrays (no I/O), so they are tested on drawn images whose answer is known.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class FocusPoint:
    x: float
    y: float
    score: float = 0.0
    """Mean gradient energy of the chosen window (0 when the point is a fallback)."""
    method: str = "subject"


def subject_box(mask: np.ndarray, threshold: float = 0.5) -> tuple[int, int, int, int] | None:
    """Bounding box (x0, y0, x1, y1), exclusive end, of mask > threshold; None when the mask is empty."""
    ys, xs = np.nonzero(mask > threshold)
    if xs.size == 0:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def subject_center(mask: np.ndarray, threshold: float = 0.5) -> FocusPoint:
    """Centre of the subject's bounding box (the frame centre when no subject was found).

    The box centre, not the centroid: framing a garment should keep its whole silhouette balanced,
    and a heavy sleeve would pull a centroid sideways.
    """
    h, w = mask.shape[:2]
    box = subject_box(mask, threshold)
    if box is None:
        return FocusPoint(w / 2.0, h / 2.0, 0.0, "center")
    x0, y0, x1, y1 = box
    return FocusPoint((x0 + x1) / 2.0, (y0 + y1) / 2.0, 0.0, "subject")


def detail_focus(
    rgb: np.ndarray,
    mask: np.ndarray,
    window_frac: float = 0.2,
    work_long_side: int = 384,
    min_inside: float = 0.85,
) -> FocusPoint:
    """Centre of the most textured/printed region INSIDE the subject.

    Gradient energy (squared Sobel magnitude of luminance) is averaged over a square window of
    `window_frac` x the image's short side, counting only pixels well inside the subject (the mask is
    eroded so the silhouette's own edge against the background does not win). Windows that are less than
    `min_inside` subject are not candidates. Falls back to the subject centre when nothing qualifies.
    """
    if rgb.shape[:2] != mask.shape[:2]:
        raise ValueError(f"mask {mask.shape[:2]} does not match image {rgb.shape[:2]}")
    h, w = mask.shape[:2]
    scale = min(1.0, work_long_side / max(h, w))
    sw, sh = max(8, int(round(w * scale))), max(8, int(round(h * scale)))
    small = cv2.resize(rgb, (sw, sh), interpolation=cv2.INTER_AREA) if scale < 1.0 else rgb
    small_mask = cv2.resize(mask.astype(np.float32), (sw, sh), interpolation=cv2.INTER_AREA)
    gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)
    energy = gx * gx + gy * gy
    hard = (small_mask > 0.5).astype(np.uint8)
    erode = max(1, int(round(0.02 * min(sw, sh))))
    inner = cv2.erode(hard, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * erode + 1, 2 * erode + 1)))
    win = max(3, int(round(window_frac * min(sw, sh))) | 1)
    inside = cv2.boxFilter(hard.astype(np.float32), -1, (win, win), borderType=cv2.BORDER_CONSTANT)
    local = cv2.boxFilter(energy * inner, -1, (win, win), borderType=cv2.BORDER_CONSTANT)
    half = win // 2
    valid = inside >= min_inside
    # A window must lie wholly inside the picture to be framed.
    valid[:half, :] = False
    valid[sh - half :, :] = False
    valid[:, :half] = False
    valid[:, sw - half :] = False
    if not valid.any() or float(local[valid].max()) <= 1e-8:
        return subject_center(mask)
    scores = np.where(valid, local, -1.0)
    iy, ix = np.unravel_index(int(np.argmax(scores)), scores.shape)
    # Pixel centres map back as (i + 0.5) / scale - 0.5 (identity when scale is 1).
    return FocusPoint(float((ix + 0.5) / scale - 0.5), float((iy + 0.5) / scale - 0.5), float(scores[iy, ix]), "detail")


MIN_SUBJECT_AREA = 0.002
"""Below this fraction of the photo the mask found no studio subject (framing falls back to cover)."""
MAX_SUBJECT_AREA = 0.9
"""Above it the 'subject' is the whole picture (a lifestyle shot): nothing to keep whole, cover framing."""
MIN_CUT_CONTACT = 0.1
"""A photo border the garment touches along at least this fraction of the garment's extent there cuts it
(a hem, legs, a scarf running off); a shorter contact (a sleeve tip grazing the border) does not, and the
garment keeps its margin on that side too."""


@dataclass(frozen=True)
class GarmentExtent:
    """The garment's bounding box in source edge coordinates, and the photo sides that already cut it.

    A garment the photo itself cuts (cropped at the hem, a scarf running off the picture) gets no margin on
    that side: the frame edge stays flush with the photo edge there, so no backdrop appears past a cut edge.
    A garment that only grazes a border (`MIN_CUT_CONTACT`) is not cut there: cutting the rest of it off
    to keep one sleeve tip flush would lose more than a backdrop past that tip shows.
    """

    x0: float
    y0: float
    x1: float
    y1: float
    cut: tuple[bool, bool, bool, bool]
    """Photo cuts the garment on its left, top, right, bottom side."""
    area: float
    """Fraction of the photo the garment covers."""
    pixel: float = 1.0
    """Size of one mask pixel in photo pixels: the extent is known to about this precision."""


def garment_extent(mask: np.ndarray, src_w: int, src_h: int, threshold: float = 0.5) -> GarmentExtent | None:
    """Extent of mask > threshold scaled to a src_w x src_h photo; None when the photo has no studio subject
    (mask ~empty or ~everything, or the photo cuts the subject on every side)."""
    hard = mask > threshold
    area = float(hard.mean())
    box = subject_box(mask, threshold)
    if box is None or not MIN_SUBJECT_AREA <= area <= MAX_SUBJECT_AREA:
        return None
    mh, mw = mask.shape[:2]
    x0, y0, x1, y1 = box

    def cuts(edge: np.ndarray, extent: int) -> bool:  # the outer two mask lines of one border
        return float(edge.any(axis=0).sum()) >= MIN_CUT_CONTACT * extent

    cut = (
        cuts(hard[y0:y1, :2].T, y1 - y0),
        cuts(hard[:2, x0:x1], x1 - x0),
        cuts(hard[y0:y1, -2:].T, y1 - y0),
        cuts(hard[-2:, x0:x1], x1 - x0),
    )
    if all(cut):
        return None
    sx, sy = src_w / mw, src_h / mh
    return GarmentExtent(x0 * sx, y0 * sy, x1 * sx, y1 * sy, cut, area, max(sx, sy))
