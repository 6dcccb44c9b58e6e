"""Weight-free garment motion for the `camera` engine: the garment's structure read from its subject mask,
and a smooth anchored displacement field (pendulum sway, hem swing, breathing) turned into one
resampling map per frame.

The model (docs/ENGINES.md, "Garment motion"): the garment hangs from an anchor line (shoulders, a
hanger bar, a waistband: the first mask row as wide as the body) and its hem is the lowest mask row.
At depth s (0 at the anchor, 1 at the hem) the fabric swings sideways by sway x H x s^1.5 (H the
garment's height), lagging the anchor by a phase that grows with s (lower fabric follows later);
parts reaching out past the anchor's width (sleeves, a flared skirt) swing a little more and later.
The hem carries a gentle travelling wave (hem_swing, up and down, twice the sway frequency) and an
optional chest breathing rises and widens the upper body. Every term is zero at t = 0, so the first
frame is the photo, and periodic in the sway period, which a loop preset rounds to a whole number of
periods per clip (frame n equals frame 0 exactly). The field is multiplied by an envelope that is 1 on
the garment (grown by how far it swings) and falls smoothly to 0 over a band of backdrop several
times wider than the swing: past the band nothing but the camera moves, inside it the studio backdrop
and the garment's soft shadow follow the fabric without folding (the band's stretch stays < ~0.4).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from generation.fit import Box

MAP_STEP = 8
"""Output pixels between samples of the per-frame map: the field is smooth over tens of pixels, and a
camera's affine part is reproduced exactly by the bilinear upsampling."""
PHASE_LAG = 0.6  # radians the hem lags the anchor (lower fabric follows ~1/10 of a period later)
LIMB_LAG = 0.3  # extra lag of sleeves / flare reaching past the anchor's width
LIMB_GAIN = 0.15  # and how much further they swing
MIN_ANCHOR_FRACTION = 0.5  # the anchor is the first row holding this share of the body's typical width


@dataclass(frozen=True)
class GarmentMotionSpec:
    """How much the garment moves (MotionSpec's sway / hem_swing / breath, already scaled by "ask for less")."""

    sway: float = 0.0
    """Peak sideways swing of the hem, as a fraction of the garment's height."""
    hem_swing: float = 0.0
    """Peak up/down travelling wave along the hem, as a fraction of the garment's height."""
    breath: float = 0.0
    """Chest rise, as a fraction of the garment's height (on-model photos)."""
    period_s: float = 2.0
    direction: float = 1.0
    """+1: the hem first swings to the right; -1: to the left."""

    @property
    def active(self) -> bool:
        return self.sway > 0.0 or self.hem_swing > 0.0 or self.breath > 0.0


@dataclass(frozen=True)
class GarmentStructure:
    """The garment's structure in source pixel coordinates (x right, y down)."""

    anchor_y: float
    """The line the garment hangs from: shoulders, a hanger bar, a waistband (nothing above it moves)."""
    hem_y: float
    centre_x: float
    core_half_width: float
    """Half the width at the anchor: what reaches further out (sleeves, flare) swings more and later."""
    x0: float
    x1: float
    envelope: np.ndarray
    """Where the field acts (float32 in [0, 1] at the mask's resolution): 1 on the garment grown by its
    swing, falling smoothly to 0 across a band of backdrop."""
    mask_scale: tuple[float, float]
    """Mask pixels per source pixel (x, y)."""

    @property
    def height(self) -> float:
        return max(1.0, self.hem_y - self.anchor_y)

    def as_params(self) -> dict[str, float]:
        return {
            "anchor_y": round(self.anchor_y, 1),
            "hem_y": round(self.hem_y, 1),
            "centre_x": round(self.centre_x, 1),
            "core_half_width": round(self.core_half_width, 1),
        }


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def read_structure(
    mask: np.ndarray, src_w: int, src_h: int, spec: GarmentMotionSpec, threshold: float = 0.5
) -> GarmentStructure | None:
    """The garment's anchor line, hem, centre, body width and motion envelope from its subject mask (any
    resolution; coordinates are scaled to the src_w x src_h photo). None when the mask holds no garment."""
    hard = mask > threshold
    counts = hard.sum(axis=1)
    rows = np.flatnonzero(counts)
    if rows.size < 4:
        return None
    mh, mw = hard.shape
    sx, sy = mw / src_w, mh / src_h
    top, bottom = int(rows[0]), int(rows[-1])
    # Pixel counts, not extents: a bag's two handles or a dress's straps are thin and hang from the anchor.
    typical = float(np.percentile(counts[top : bottom + 1], 75))
    anchor = top + int(np.argmax(counts[top : bottom + 1] >= MIN_ANCHOR_FRACTION * typical))
    cols = np.flatnonzero(hard.any(axis=0))
    x0, x1 = int(cols[0]), int(cols[-1]) + 1
    band_rows = hard[anchor : anchor + max(1, (bottom - anchor) // 20) + 1]
    ys, xs = np.nonzero(band_rows)
    centre = float(np.median(xs)) if xs.size else 0.5 * (x0 + x1)
    core = max(1.0, 0.5 * float(band_rows.sum(axis=1).max()))
    height = max(1.0, bottom + 1 - anchor)
    # Envelope: the garment grown by its largest swing, then a smooth band of backdrop several swings wide.
    reach = height * (spec.sway * (1.0 + LIMB_GAIN) + spec.hem_swing + 2.0 * spec.breath)
    grow = int(math.ceil(reach)) + 2
    band = max(4.0 * reach, 0.04 * height, 3.0)
    grown = cv2.dilate(hard.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1,) * 2))
    distance = cv2.distanceTransform((1 - grown).astype(np.uint8), cv2.DIST_L2, 5)
    envelope = (1.0 - _smoothstep(distance / band)).astype(np.float32)
    return GarmentStructure(
        anchor_y=(anchor + 0.5) / sy - 0.5,
        hem_y=(bottom + 1) / sy - 0.5,
        centre_x=(centre + 0.5) / sx - 0.5,
        core_half_width=core / sx,
        x0=x0 / sx,
        x1=x1 / sx,
        envelope=envelope,
        mask_scale=(sx, sy),
    )


class GarmentMotion:
    """The displacement field of one garment over one clip: `displacement(x, y, i)` in source pixels."""

    def __init__(self, structure: GarmentStructure, spec: GarmentMotionSpec, n_frames: int, fps: float, loop: bool):
        self.structure, self.spec = structure, spec
        self.n_frames, self.fps = n_frames, fps
        period_frames = max(2.0, spec.period_s * fps)
        if loop:
            # A whole number of periods per clip: frame n (the one after the last) is frame 0 again.
            cycles = max(1, round(n_frames / period_frames))
            period_frames = n_frames / cycles
        self.period_frames = period_frames

    @property
    def period_s(self) -> float:
        return self.period_frames / self.fps

    def envelope_at(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The envelope sampled at source points (bilinear; 0 outside the photo)."""
        s = self.structure
        mx = ((x + 0.5) * s.mask_scale[0] - 0.5).astype(np.float32)
        my = ((y + 0.5) * s.mask_scale[1] - 0.5).astype(np.float32)
        shape = np.shape(x)
        mx, my = mx.reshape(1, -1) if mx.ndim < 2 else mx, my.reshape(1, -1) if my.ndim < 2 else my
        out = cv2.remap(s.envelope, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
        return out.reshape(shape)

    def displacement(self, x: np.ndarray, y: np.ndarray, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Where the fabric at source point (x, y) has moved by frame `i` (dx, dy in source pixels)."""
        g, spec = self.structure, self.spec
        theta = 2.0 * math.pi * i / self.period_frames
        h = g.height
        depth = np.clip((y - g.anchor_y) / h, 0.0, 1.0)
        limb = _smoothstep((np.abs(x - g.centre_x) - g.core_half_width) / (0.25 * h))
        weight = self.envelope_at(x, y)
        dx = np.zeros_like(x, dtype=np.float32)
        dy = np.zeros_like(y, dtype=np.float32)
        if spec.sway > 0.0:
            phase = PHASE_LAG * depth + LIMB_LAG * limb
            # sin(theta - phase) + sin(phase): a swing lagging with depth, zero at the first frame.
            # Normalised so the hem's peak swing is `sway` x H; linear in depth (a swing about the anchor)
            # keeps the local shear of a print at its smallest for that swing.
            swing = (np.sin(theta - phase) + np.sin(phase)) / (1.0 + math.sin(PHASE_LAG))
            reach = depth * (1.0 + LIMB_GAIN * limb)
            dx = (spec.direction * spec.sway * h) * reach * swing
            # Pendulum arc: swinging out lifts the fabric a little (length from the anchor, floored).
            dy = -(dx * dx) / (2.0 * np.maximum(depth * h, 0.3 * h))
        if spec.hem_swing > 0.0:
            k = 2.0 * math.pi / max(8.0, g.x1 - g.x0)  # one wave across the garment: gentle local slope
            u = k * (x - g.x0)
            dy = dy + (0.5 * spec.hem_swing * h) * depth**3 * (np.sin(2.0 * theta - u) + np.sin(u))
        if spec.breath > 0.0:
            rise = spec.breath * h * (0.5 - 0.5 * math.cos(theta))
            chest = np.exp(-(((y - (g.anchor_y + 0.25 * h)) / (0.15 * h)) ** 2))
            dy = dy - rise * chest
            dx = dx + 0.5 * rise * chest * np.clip((x - g.centre_x) / g.core_half_width, -1.5, 1.5)
        return (weight * dx).astype(np.float32), (weight * dy).astype(np.float32)

    def swept_box(self, points: np.ndarray) -> Box:
        """Bounding box, in source pixels, of `points` ((N, 2) x, y on the garment) over every frame."""
        x, y = points[:, 0].astype(np.float32), points[:, 1].astype(np.float32)
        lo_x, lo_y, hi_x, hi_y = float(x.min()), float(y.min()), float(x.max()), float(y.max())
        for i in range(self.n_frames):
            dx, dy = self.displacement(x, y, i)
            lo_x, hi_x = min(lo_x, float((x + dx).min())), max(hi_x, float((x + dx).max()))
            lo_y, hi_y = min(lo_y, float((y + dy).min())), max(hi_y, float((y + dy).max()))
        return Box(lo_x, lo_y, hi_x, hi_y)


def outline_points(mask: np.ndarray, src_w: int, src_h: int, threshold: float = 0.5, step: int = 2) -> np.ndarray:
    """Source-pixel (x, y) of the garment's outline pixels (every `step`-th), for `GarmentMotion.swept_box`."""
    hard = (mask > threshold).astype(np.uint8)
    edge = hard - cv2.erode(hard, np.ones((3, 3), np.uint8))
    ys, xs = np.nonzero(edge[::step, ::step])
    mh, mw = hard.shape
    return np.stack([(xs * step + 0.5) * src_w / mw - 0.5, (ys * step + 0.5) * src_h / mh - 0.5], axis=1)


class MapBuilder:
    """Per-frame resampling maps (output pixel -> canvas pixel) for camera matrix + garment displacement.

    The map is computed on a grid every MAP_STEP output pixels (with one sample beyond each edge) and
    enlarged bilinearly: exact for the camera's affine part, and the garment field is smooth at that scale.
    """

    def __init__(self, out_w: int, out_h: int, step: int = MAP_STEP):
        self.out_w, self.out_h, self.step = out_w, out_h, step
        gw, gh = math.ceil(out_w / step) + 2, math.ceil(out_h / step) + 2
        # Sample j sits at output pixel (j - 1) * step + (step - 1) / 2; enlarged by `step`, output pixel i
        # is row/column i + step of the enlargement (cv2.resize's half-pixel centres).
        px = (np.arange(gw + 1, dtype=np.float64) - 1.0) * step + (step - 1) / 2.0
        py = (np.arange(gh + 1, dtype=np.float64) - 1.0) * step + (step - 1) / 2.0
        self.gx, self.gy = np.meshgrid(px[:gw], py[:gh])
        self.size = (gw * step, gh * step)

    def build(
        self,
        matrix: np.ndarray,
        to_source: tuple[float, float, float, float],
        motion: GarmentMotion | None,
        i: int,
    ) -> np.ndarray:
        """(out_h, out_w, 2) float32 map. `matrix`: 2x3 output pixel -> canvas pixel; `to_source`:
        (kx, ky, off_x, off_y) with canvas = (source + 0.5) * k - 0.5 + off."""
        cx = matrix[0, 0] * self.gx + matrix[0, 1] * self.gy + matrix[0, 2]
        cy = matrix[1, 0] * self.gx + matrix[1, 1] * self.gy + matrix[1, 2]
        if motion is not None:
            kx, ky, ox, oy = to_source
            sx = (cx - ox + 0.5) / kx - 0.5
            sy = (cy - oy + 0.5) / ky - 0.5
            # Backward map: the output shows what the fabric carried there (first order in the small field).
            dx, dy = motion.displacement(sx.astype(np.float32), sy.astype(np.float32), i)
            cx = cx - dx * kx
            cy = cy - dy * ky
        coarse = np.dstack([cx, cy]).astype(np.float32)
        full = cv2.resize(coarse, self.size, interpolation=cv2.INTER_LINEAR)
        s = self.step
        return full[s : s + self.out_h, s : s + self.out_w]
