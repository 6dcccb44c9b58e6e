"""Labelled synthetic clips for testing and calibrating the gate: a product photo, a camera move, defects.

Good clips move the camera over the photo (zoom, pan, breathing loop) or sway the subject slightly;
bad clips inject one known defect at a chosen strength. Everything is deterministic per seed.
"""

from __future__ import annotations

import cv2
import numpy as np


def draw_garment_photo(width: int = 512, height: int = 640, seed: int = 0) -> np.ndarray:
    """A studio product photo: a T-shirt-like garment with a fabric weave, a striped print and a text logo
    on an off-white sweep."""
    rng = np.random.default_rng(seed)
    img = np.empty((height, width, 3), np.float32)
    ramp = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    img[:] = (246 - 8 * ramp) * np.ones(3, np.float32)  # soft studio gradient, near white
    cx, cy = width / 2, height * 0.52
    sw, sh = width * 0.30, height * 0.36
    body = np.array(
        [
            [cx - sw, cy - sh * 0.8],
            [cx - sw * 1.7, cy - sh * 0.45],
            [cx - sw * 1.35, cy - sh * 0.15],
            [cx - sw * 0.95, cy - sh * 0.35],
            [cx - sw * 0.95, cy + sh],
            [cx + sw * 0.95, cy + sh],
            [cx + sw * 0.95, cy - sh * 0.35],
            [cx + sw * 1.35, cy - sh * 0.15],
            [cx + sw * 1.7, cy - sh * 0.45],
            [cx + sw, cy - sh * 0.8],
            [cx + sw * 0.35, cy - sh * 0.8],
            [cx, cy - sh * 0.62],
            [cx - sw * 0.35, cy - sh * 0.8],
        ],
        np.int32,
    )
    mask = np.zeros((height, width), np.uint8)
    cv2.fillPoly(mask, [body], 255, lineType=cv2.LINE_AA)
    hue = rng.uniform(0, 1)
    base = np.array(cv2.cvtColor(np.uint8([[[hue * 179, 150, 170]]]), cv2.COLOR_HSV2RGB)[0, 0], np.float32)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    weave = 10 * np.sin(xx * 0.9) * np.sin(yy * 0.9) + rng.normal(0, 6, (height, width)).astype(np.float32)
    shade = 1.0 - 0.25 * ((xx - cx) / (sw * 1.7)) ** 2
    cloth = base[None, None, :] * shade[..., None] + weave[..., None]
    stripes = ((yy - cy) // max(4, height // 40)) % 2 == 0
    band = (np.abs(yy - (cy + sh * 0.45)) < sh * 0.18) & stripes
    accent = np.array([30, 30, 40], np.float32) if base.mean() > 110 else np.array([235, 230, 220], np.float32)
    cloth[band] = accent + weave[band][:, None]
    garment = mask.astype(np.float32)[..., None] / 255.0
    img = img * (1 - garment) + cloth * garment
    # chest logo: text and a ring, the kind of detail that melts first in generated video
    scale = width / 512
    img = np.clip(img, 0, 255).astype(np.uint8)
    cv2.putText(
        img,
        "CM-26",
        (int(cx - 62 * scale), int(cy - sh * 0.05)),
        cv2.FONT_HERSHEY_DUPLEX,
        1.2 * scale,
        tuple(float(c) for c in accent),
        max(1, int(2 * scale)),
        cv2.LINE_AA,
    )
    cv2.circle(
        img,
        (int(cx), int(cy + sh * 0.2)),
        int(22 * scale),
        tuple(float(c) for c in accent),
        max(1, int(3 * scale)),
        cv2.LINE_AA,
    )
    # soft contact shadow under the garment
    shadow = np.zeros((height, width), np.float32)
    cv2.ellipse(shadow, (int(cx), int(cy + sh * 1.02)), (int(sw * 1.1), int(sh * 0.05)), 0, 0, 360, 1.0, -1)
    shadow = cv2.GaussianBlur(shadow, (0, 0), 6 * scale) * (1 - garment[..., 0])
    img = img.astype(np.float32) * (1 - 0.25 * shadow)[..., None]
    return np.clip(img, 0, 255).astype(np.uint8)


def garment_mask(photo: np.ndarray) -> np.ndarray:
    """Where the garment is in a `draw_garment_photo` image (for defect injection), bool HxW."""
    lab = cv2.cvtColor(photo, cv2.COLOR_RGB2LAB).astype(np.float32)
    background = np.median(np.concatenate([lab[:4].reshape(-1, 3), lab[-4:].reshape(-1, 3)]), axis=0)
    return np.linalg.norm(lab - background, axis=2) > 18


def camera_frames(
    photo: np.ndarray,
    out_w: int,
    out_h: int,
    n: int,
    *,
    zoom: float = 0.1,
    pan: float = 0.0,
    path: str = "push_in",
    focus: tuple[float, float] = (0.5, 0.5),
) -> list[np.ndarray]:
    """Camera moves over `photo` with sub-pixel affine warps from the full-size photo.

    push_in zooms by `zoom` (0.1 = 10 %) toward `focus`; pan shifts by `pan` of the width; breathing
    zooms in and out and ends where it began (a loop)."""
    ph, pw = photo.shape[:2]
    base = max(out_w / pw, out_h / ph)
    frames = []
    # Anti-alias like a careful camera engine: blur by the downscale factor before resampling.
    smooth = cv2.GaussianBlur(photo, (0, 0), 0.5 / base) if base < 0.8 else photo
    for i in range(n):
        u = i / max(1, n - 1)
        # breathing has period n (frame n would equal frame 0); other paths ease in and out
        s = 0.5 - 0.5 * np.cos(2 * np.pi * i / n) if path == "breathing" else 0.5 - 0.5 * np.cos(np.pi * u)
        scale = base * (1 + zoom * s)
        fx, fy = focus[0] * pw, focus[1] * ph
        # keep the focus point at the same relative place on screen while zooming
        tx = out_w * focus[0] - fx * scale + pan * out_w * (s - 0.5)
        ty = out_h * focus[1] - fy * scale
        # a camera never looks past the photo's edge
        tx = min(0.0, max(out_w - pw * scale, tx))
        ty = min(0.0, max(out_h - ph * scale, ty))
        m = np.array([[scale, 0, tx], [0, scale, ty]], np.float32)
        frames.append(cv2.warpAffine(smooth, m, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT))
    return frames
