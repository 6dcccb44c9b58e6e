"""Fitting a photo (or generated frames) to another aspect ratio without distortion.

Shared by the camera engine (framing the source photo) and the diffusion engines (conditioning photo
to the model's native size, then generated frames to the delivery size).

Policy, documented in docs/ENGINES.md: *cover-crop* (never stretch, never letterbox) centred on the
subject and clamped to the picture, then one resize: INTER_AREA when shrinking (anti-aliased), Lanczos
when enlarging (sharpest of OpenCV's filters). Enlarging is flagged by callers in provenance.
"""

from __future__ import annotations

import math
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


def extend_backdrop(
    rgb: np.ndarray, subject: np.ndarray, pad: tuple[int, int, int, int], *, work_long_side: int = 256
) -> np.ndarray:
    """`rgb` on a canvas grown by pad = (left, top, right, bottom) pixels, the new area the studio backdrop
    continued from the photo's border; the photo's own pixels are kept exactly.

    The garment (`subject`, a soft mask at any resolution, dilated) is painted out first by normalised
    convolution, so no garment colour is ever smeared outward. The backdrop is then continued by edge
    replication of a lightly blurred copy (seamless at the border, gradients along the edge carried on)
    fading into a heavily blurred copy (a smooth far field, no streaks), and the border's own grain is
    added back so the texture does not change at the photo's edge. Built once per clip at low resolution
    and resampled once: the clip's frames then read from the canvas at no extra cost.
    """
    left, top, right, bottom = (int(p) for p in pad)
    if min(pad) < 0:
        raise ValueError(f"pad must be >= 0, got {pad}")
    if not any(pad):
        return rgb
    h, w = rgb.shape[:2]
    scale = min(1.0, work_long_side / max(h, w))
    sw, sh = max(8, round(w * scale)), max(8, round(h * scale))
    small = cv2.resize(rgb, (sw, sh), interpolation=cv2.INTER_AREA).astype(np.float32)
    soft = cv2.resize(subject.astype(np.float32), (sw, sh), interpolation=cv2.INTER_AREA)
    grow = max(2, round(0.03 * min(sw, sh)))
    garment = cv2.dilate(
        (soft > 0.1).astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1,) * 2)
    )
    backdrop = (garment == 0).astype(np.float32)
    plate = small
    if garment.any():
        if backdrop.sum() < 1.0:
            fill = np.broadcast_to(np.median(small.reshape(-1, 3), axis=0), small.shape)
        else:
            fill = np.broadcast_to(small[backdrop > 0].mean(axis=0), small.shape).copy()
            # Coarse first, then finer where enough backdrop is near: smooth, and close to it at the edge.
            for frac, enough in ((0.25, 1e-3), (0.03, 0.05)):
                sigma = frac * max(sw, sh)
                num = _smooth(small * backdrop[..., None], sigma)
                den = _smooth(backdrop, sigma)
                est = num / np.maximum(den, 1e-6)[..., None]
                fill = np.where((den > enough)[..., None], est, fill)
        plate = np.where(backdrop[..., None] > 0, small, fill).astype(np.float32)
    near = _smooth(plate, max(1.0, 0.01 * max(sw, sh)))
    far = _smooth(plate, 0.08 * max(sw, sh))
    pl, pt = math.ceil(left * sw / w) + 2, math.ceil(top * sh / h) + 2
    pr, pb = math.ceil(right * sw / w) + 2, math.ceil(bottom * sh / h) + 2
    near = cv2.copyMakeBorder(near, pt, pb, pl, pr, cv2.BORDER_REPLICATE)
    far = cv2.copyMakeBorder(far, pt, pb, pl, pr, cv2.BORDER_REPLICATE)
    xs = np.arange(sw + pl + pr, dtype=np.float32) - pl + 0.5
    ys = np.arange(sh + pt + pb, dtype=np.float32) - pt + 0.5
    dx = np.maximum(0.0, np.maximum(-xs, xs - sw))
    dy = np.maximum(0.0, np.maximum(-ys, ys - sh))
    weight = np.exp(-np.hypot(dx[None, :], dy[:, None]) / (0.05 * min(sw, sh)))
    ext_small = far + (near - far) * weight[..., None]
    out = np.empty((h + top + bottom, w + left + right, 3), np.uint8)
    out[top : top + h, left : left + w] = rgb
    kx, ky = sw / w, sh / h
    grain = _border_grain(rgb)
    rng = np.random.default_rng(0)  # fixed: the same photo always gets the same backdrop
    # Only the four strips around the photo are rendered (canvas pixel X is photo edge coordinate
    # X + 0.5 - left, i.e. small index (X + 0.5 - left) * kx + pl - 0.5).
    for x0, y0, rw, rh in (
        (0, 0, out.shape[1], top),
        (0, top + h, out.shape[1], bottom),
        (0, top, left, h),
        (left + w, top, right, h),
    ):
        if rw <= 0 or rh <= 0:
            continue
        matrix = np.array([[kx, 0.0, (x0 + 0.5 - left) * kx + pl - 0.5], [0.0, ky, (y0 + 0.5 - top) * ky + pt - 0.5]])
        strip = cv2.warpAffine(
            ext_small, matrix, (rw, rh), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE
        )
        if grain > 0.3:
            strip += grain * rng.standard_normal((rh, rw), dtype=np.float32)[..., None]
        out[y0 : y0 + rh, x0 : x0 + rw] = np.clip(strip + 0.5, 0, 255).astype(np.uint8)
    return out


def _smooth(img: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur with edge replication; wide ones on a smaller copy (the result is smooth anyway)."""
    if sigma <= 6.0:
        return cv2.GaussianBlur(img, (0, 0), sigma, borderType=cv2.BORDER_REPLICATE)
    h, w = img.shape[:2]
    f = sigma / 3.0
    small = cv2.resize(img, (max(2, round(w / f)), max(2, round(h / f))), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), 3.0, borderType=cv2.BORDER_REPLICATE)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _border_grain(rgb: np.ndarray) -> float:
    """Noise level (std, 0..255) of the photo's outer band: robust (MAD) high-pass of its luminance."""
    h, w = rgb.shape[:2]
    band = max(4, round(0.02 * min(h, w)))
    strips = [rgb[:band], rgb[-band:], rgb[:, :band].transpose(1, 0, 2), rgb[:, -band:].transpose(1, 0, 2)]
    values = []
    for strip in strips:
        grey = cv2.cvtColor(np.ascontiguousarray(strip), cv2.COLOR_RGB2GRAY).astype(np.float32)
        values.append((grey - cv2.GaussianBlur(grey, (0, 0), 1.0)).ravel())
    hp = np.concatenate(values)
    # MAD ignores the few garment edges in the band; 0.873 is the std a sigma-1 high-pass keeps of white noise.
    return float(1.4826 * np.median(np.abs(hp - np.median(hp))) / 0.873)
