"""Catalog-like product photos of the held-out set: drawn garments and scikit-image photographs laid out
as products on a studio sweep, 1500-2400 px, each with its exact subject alpha.

Made by this module's own drawing code (nothing here comes from quality/calibration.py or
quality/synthetic.py). Every product keeps its layers (backdrop with the soft shadow, subject colours,
subject alpha) so clips can move the subject apart from the backdrop (parallax, sway) and so a defect
can be confined to the garment or its print.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np

SHIFT = 4  # cv2 fixed-point bits: polygons are placed with 1/16 px precision
Point = tuple[float, float]


@dataclass
class Product:
    """One product photo. `detail` is the print/logo/texture box (x0, y0, x1, y1) in photo pixels."""

    name: str
    backdrop: np.ndarray  # (H, W, 3) uint8: the sweep with the subject's soft shadow
    subject: np.ndarray  # (H, W, 3) uint8: the subject's colours (meaningless where alpha is 0)
    alpha: np.ndarray  # (H, W) float32 in [0, 1]
    detail: tuple[int, int, int, int]
    kind: str  # "drawn" or "photograph"

    @property
    def size(self) -> tuple[int, int]:
        return self.alpha.shape[1], self.alpha.shape[0]

    @property
    def rgb(self) -> np.ndarray:
        return composite(self.subject, self.backdrop, self.alpha)

    @property
    def bbox(self) -> tuple[int, int, int, int]:
        ys, xs = np.nonzero(self.alpha > 0.5)
        return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def composite(fg: np.ndarray, bg: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = alpha.astype(np.float32)
    return cv2.blendLinear(fg, bg, a, 1.0 - a)


# --- drawing helpers -----------------------------------------------------------------------------


def _poly(mask: np.ndarray, points: list[Point], value: int = 255) -> None:
    pts = np.round(np.asarray(points, np.float64) * (1 << SHIFT)).astype(np.int32)
    cv2.fillPoly(mask, [pts], value, lineType=cv2.LINE_AA, shift=SHIFT)


def _ellipse(mask: np.ndarray, centre: Point, axes: Point, angle: float = 0.0, value: int = 255) -> None:
    c = (round(centre[0] * (1 << SHIFT)), round(centre[1] * (1 << SHIFT)))
    a = (round(axes[0] * (1 << SHIFT)), round(axes[1] * (1 << SHIFT)))
    cv2.ellipse(mask, c, a, angle, 0, 360, value, -1, lineType=cv2.LINE_AA, shift=SHIFT)


def _curve(p0: Point, p1: Point, p2: Point, n: int = 24) -> list[Point]:
    """Quadratic Bezier from p0 to p2 pulled towards p1."""
    t = np.linspace(0.0, 1.0, n)[:, None]
    pts = (1 - t) ** 2 * np.asarray(p0) + 2 * (1 - t) * t * np.asarray(p1) + t**2 * np.asarray(p2)
    return [tuple(p) for p in pts]


def _smooth_noise(h: int, w: int, scale: float, rng: np.random.Generator) -> np.ndarray:
    """Zero-mean unit-ish noise with features about `scale` px wide (made small, enlarged)."""
    sh, sw = max(2, int(h / scale)), max(2, int(w / scale))
    small = rng.standard_normal((sh, sw)).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def _fine_noise(h: int, w: int, sigma: float, rng: np.random.Generator) -> np.ndarray:
    noise = rng.standard_normal((h, w)).astype(np.float32)
    return cv2.GaussianBlur(noise, (0, 0), sigma) * (1.0 / max(0.3, 0.28 / sigma))


def backdrop(w: int, h: int, rng: np.random.Generator, floor_at: float = 0.82) -> np.ndarray:
    """Near-white paper sweep: a slightly warm wall curving into a lighter floor, soft vignette, grain."""
    y = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None]
    x = np.linspace(-1.0, 1.0, w, dtype=np.float32)[None, :]
    bend = 1.0 / (1.0 + np.exp(-(y - floor_at) / 0.035))  # the sweep's curve
    level = 241.0 + 7.0 * bend - 5.0 * (x**2) * (1.0 - 0.5 * bend)
    base = np.repeat(level[:, :, None], 3, axis=2) + np.array([1.0, 0.5, -1.5], np.float32)
    base += rng.normal(0.0, 1.1, (h, w, 1)).astype(np.float32)
    return np.clip(base, 0, 255).astype(np.uint8)


def add_shadow(back: np.ndarray, alpha: np.ndarray, strength: float = 0.09) -> np.ndarray:
    """The subject's soft contact shadow on the sweep: its silhouette, offset down-right and blurred."""
    h, w = alpha.shape
    blur = max(6.0, 0.012 * max(h, w))
    m = np.float32([[1, 0, 0.006 * w], [0, 1, 0.012 * h]])
    shadow = cv2.warpAffine(alpha, m, (w, h))
    shadow = cv2.GaussianBlur(shadow, (0, 0), blur)
    return np.clip(back.astype(np.float32) * (1.0 - strength * shadow[:, :, None]), 0, 255).astype(np.uint8)


def fabric_shading(alpha: np.ndarray, rng: np.random.Generator, folds: int = 6) -> np.ndarray:
    """Multiplicative light on a garment: soft vertical folds, a top-lit gradient, darker towards the outline."""
    h, w = alpha.shape
    x = np.arange(w, dtype=np.float32)[None, :]
    y = np.arange(h, dtype=np.float32)[:, None]
    light = np.ones((h, w), np.float32) * (1.04 - 0.08 * y / h)
    xs = np.nonzero(alpha.max(axis=0) > 0.5)[0]
    x0, x1 = (xs.min(), xs.max()) if xs.size else (0, w)
    for _ in range(folds):
        cx = rng.uniform(x0, x1)
        width = rng.uniform(0.01, 0.035) * w
        depth = rng.uniform(0.04, 0.1)
        y_start = rng.uniform(0.3, 0.7) * h
        ramp = np.clip((y - y_start) / (0.2 * h), 0.0, 1.0)
        light -= depth * ramp * np.exp(-0.5 * ((x - cx) / width) ** 2)
    hard = (alpha > 0.5).astype(np.uint8)
    dist = cv2.distanceTransform(hard, cv2.DIST_L2, 5)
    light *= 1.0 - 0.16 * np.exp(-dist / (0.012 * max(h, w)))
    return light


def paint(colour_rgb: tuple[int, int, int], alpha: np.ndarray, rng: np.random.Generator, texture: np.ndarray):
    """A garment's colour image: base colour x shading x (1 + texture)."""
    shade = fabric_shading(alpha, rng) * (1.0 + texture)
    img = np.asarray(colour_rgb, np.float32)[None, None, :] * shade[:, :, None]
    return img


def _finish(img: np.ndarray) -> np.ndarray:
    return np.clip(img, 0, 255).astype(np.uint8)


def weave(h: int, w: int, rng: np.random.Generator, period: float = 5.0, amount: float = 0.035) -> np.ndarray:
    x = np.arange(w, dtype=np.float32)[None, :]
    y = np.arange(h, dtype=np.float32)[:, None]
    grid = np.sin(2 * np.pi * x / period) * np.sin(2 * np.pi * y / period)
    return amount * grid + 0.025 * _fine_noise(h, w, 0.8, rng) + 0.03 * _smooth_noise(h, w, 90, rng)


def twill(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    x = np.arange(w, dtype=np.float32)[None, :]
    y = np.arange(h, dtype=np.float32)[:, None]
    lines = np.sin(2 * np.pi * (x + 0.5 * y) / 7.0)
    slub = _smooth_noise(h, w, 3.0, rng) * 0.5 + 0.5 * rng.standard_normal((h, 1)).astype(np.float32)
    return 0.06 * lines + 0.03 * slub + 0.06 * _smooth_noise(h, w, 160, rng)


def fleece(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    return 0.05 * _fine_noise(h, w, 1.3, rng) + 0.025 * _smooth_noise(h, w, 60, rng)


# --- garments (coordinates are fractions of the canvas; one drawer fits any canvas) ------------------


def _px(points: list[Point], w: int, h: int) -> list[Point]:
    return [(fx * w, fy * h) for fx, fy in points]


def top_alpha(w: int, h: int, sleeve_reach: float = 0.09, hood: bool = True, body=(0.34, 0.66)) -> np.ndarray:
    """Silhouette of a top: body from the shoulders to the hem, sleeves angled out to `sleeve_reach`
    (fraction of the width from the edge where the cuff sits), optional hood."""
    m = np.zeros((h, w), np.uint8)
    left, r = body
    _poly(m, _px([(left, 0.28), (r, 0.28), (r + 0.015, 0.8), (left - 0.015, 0.8)], w, h))
    cuff_y = 0.66 if sleeve_reach > 0.06 else 0.42
    _poly(
        m,
        _px(
            [
                (left + 0.02, 0.28),
                (left - 0.06, 0.31),
                (sleeve_reach, cuff_y - 0.03),
                (sleeve_reach + 0.075, cuff_y + 0.02),
                (left, 0.46),
            ],
            w,
            h,
        ),
    )
    rr = 1.0 - sleeve_reach
    _poly(
        m, _px([(r - 0.02, 0.28), (r + 0.06, 0.31), (rr, cuff_y - 0.03), (rr - 0.075, cuff_y + 0.02), (r, 0.46)], w, h)
    )
    if hood:
        _ellipse(m, (0.5 * w, 0.25 * h), (0.12 * w, 0.085 * h))
    return m


def draw_hoodie(w: int, h: int, rng: np.random.Generator, sleeve_reach: float = 0.09, text: str = "ATLAS"):
    """Heather-green hoodie: wide sleeves, kangaroo pocket, ribbed cuffs and hem, drawstrings, a big
    white chest text logo."""
    m = top_alpha(w, h, sleeve_reach=sleeve_reach)
    alpha = cv2.GaussianBlur(m.astype(np.float32) / 255.0, (0, 0), 0.8)
    img = paint((92, 122, 104), alpha, rng, fleece(h, w, rng))
    dark = np.zeros((h, w), np.uint8)
    _ellipse(dark, (0.5 * w, 0.262 * h), (0.07 * w, 0.05 * h))  # the hood's opening
    img[dark > 0] *= 0.45
    rib = np.zeros((h, w), np.uint8)
    _poly(rib, _px([(0.322, 0.765), (0.678, 0.765), (0.675, 0.8), (0.325, 0.8)], w, h))
    ribs = 1.0 + 0.08 * np.sin(2 * np.pi * np.arange(w, dtype=np.float32) / 9.0)[None, :]
    img *= np.where(rib[:, :, None] > 0, 0.9 * ribs[:, :, None], 1.0)
    pocket = np.zeros((h, w), np.uint8)
    _poly(pocket, _px([(0.4, 0.6), (0.6, 0.6), (0.64, 0.74), (0.36, 0.74)], w, h))
    edge = cv2.morphologyEx(pocket, cv2.MORPH_GRADIENT, np.ones((5, 5), np.uint8))
    img[edge > 0] *= 0.75
    for sx in (0.47, 0.53):  # drawstrings with aglets
        cv2.line(
            img,
            (int(sx * w), int(0.3 * h)),
            (int((sx + (sx - 0.5) * 0.3) * w), int(0.42 * h)),
            (235, 232, 225),
            max(3, w // 300),
            cv2.LINE_AA,
        )
        _ellipse(dark, ((sx + (sx - 0.5) * 0.3) * w, 0.425 * h), (0.004 * w, 0.008 * h))
    logo = np.zeros((h, w), np.uint8)
    scale = w / 420.0
    thick = max(6, int(w / 150))
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_DUPLEX, scale, thick)
    org = (int(0.5 * w - tw / 2), int(0.5 * h))
    cv2.putText(logo, text, org, cv2.FONT_HERSHEY_DUPLEX, scale, 255, thick, cv2.LINE_AA)
    small = "EST. 1987"
    (sw, sh), _ = cv2.getTextSize(small, cv2.FONT_HERSHEY_SIMPLEX, scale * 0.35, max(2, thick // 3))
    cv2.putText(
        logo,
        small,
        (int(0.5 * w - sw / 2), int(0.5 * h + 1.9 * sh)),
        cv2.FONT_HERSHEY_SIMPLEX,
        scale * 0.35,
        255,
        max(2, thick // 3),
        cv2.LINE_AA,
    )
    a = logo.astype(np.float32)[:, :, None] / 255.0
    img = img * (1 - a) + np.array([238, 236, 228], np.float32) * a
    detail = (org[0] - 10, org[1] - th - 10, org[0] + tw + 10, int(0.5 * h + 2.5 * sh))
    return _finish(img), alpha, detail


def draw_striped_shirt(w: int, h: int, rng: np.random.Generator, sleeve_reach: float = 0.14):
    """Long-sleeve shirt in navy/white stripes (stripes follow each sleeve), collar, button placket."""
    m = top_alpha(w, h, sleeve_reach=sleeve_reach, hood=False, body=(0.35, 0.65))
    collar = np.zeros((h, w), np.uint8)
    _poly(collar, _px([(0.43, 0.26), (0.5, 0.31), (0.46, 0.335), (0.41, 0.285)], w, h))
    _poly(collar, _px([(0.57, 0.26), (0.5, 0.31), (0.54, 0.335), (0.59, 0.285)], w, h))
    m = np.maximum(m, collar)
    alpha = cv2.GaussianBlur(m.astype(np.float32) / 255.0, (0, 0), 0.8)
    period = max(18.0, w / 60.0)
    y = np.arange(h, dtype=np.float32)[:, None]
    x = np.arange(w, dtype=np.float32)[None, :]

    def stripes(coord: np.ndarray) -> np.ndarray:
        # anti-aliased square wave: navy where the phase is in the first 40 %
        phase = (coord / period) % 1.0
        return np.clip((np.abs(phase - 0.2) - 0.2) * period * -1.0 + 0.5, 0.0, 1.0)

    navy = stripes(y + 0 * x)
    for side in (-1, 1):  # sleeves: stripes across the sleeve's axis
        angle = np.deg2rad(28.0) * side
        sleeve = np.zeros((h, w), np.uint8)
        body_edge = 0.35 if side < 0 else 0.65
        reach = sleeve_reach if side < 0 else 1 - sleeve_reach
        _poly(
            sleeve,
            _px(
                [
                    (body_edge, 0.28),
                    (body_edge - side * 0.07, 0.31),
                    (reach, 0.63),
                    (reach + side * 0.075, 0.68),
                    (body_edge, 0.46),
                ],
                w,
                h,
            ),
        )
        along = y * np.cos(angle) - x * np.sin(angle)
        navy = np.where(sleeve > 0, stripes(along), navy)
    texture = weave(h, w, rng, period=4.0, amount=0.02)
    white, blue = np.array([244, 243, 238], np.float32), np.array([30, 42, 84], np.float32)
    base = white * (1 - navy[:, :, None]) + blue * navy[:, :, None]
    img = base * (fabric_shading(alpha, rng) * (1 + texture))[:, :, None]
    placket = (np.abs(x - 0.5 * w) < 0.012 * w) & (y > 0.31 * h) & (y < 0.79 * h)
    img[np.broadcast_to(placket, (h, w))] *= 0.93
    for k in range(6):
        _button(img, (0.5 * w, (0.345 + k * 0.075) * h), 0.006 * w)
    return _finish(img), alpha, (int(0.36 * w), int(0.33 * h), int(0.64 * w), int(0.6 * h))


def _button(img: np.ndarray, centre: Point, radius: float) -> None:
    m = np.zeros(img.shape[:2], np.uint8)
    _ellipse(m, centre, (radius, radius))
    a = m.astype(np.float32)[:, :, None] / 255.0
    img[:] = img * (1 - a) + np.array([225, 220, 205], np.float32) * a
    for dx in (-0.3, 0.3):
        cv2.circle(
            img,
            (int(centre[0] + dx * radius), int(centre[1])),
            max(1, int(radius * 0.18)),
            (90, 85, 80),
            -1,
            cv2.LINE_AA,
        )


def draw_jeans(w: int, h: int, rng: np.random.Generator):
    """Five-pocket indigo jeans: twill, fading on the thighs, orange double stitching, rivets, belt loops."""
    m = np.zeros((h, w), np.uint8)
    _poly(
        m,
        _px(
            [
                (0.31, 0.16),
                (0.69, 0.16),
                (0.71, 0.34),
                (0.7, 0.91),
                (0.53, 0.91),
                (0.505, 0.36),
                (0.495, 0.36),
                (0.47, 0.91),
                (0.3, 0.91),
                (0.29, 0.34),
            ],
            w,
            h,
        ),
    )
    alpha = cv2.GaussianBlur(m.astype(np.float32) / 255.0, (0, 0), 0.8)
    fade = np.clip(_smooth_noise(h, w, 0.06 * w, rng), -1, 1)
    y = np.arange(h, dtype=np.float32)[:, None]
    thigh = np.exp(-0.5 * ((y - 0.45 * h) / (0.09 * h)) ** 2)
    texture = twill(h, w, rng) + 0.1 * thigh * (0.6 + 0.4 * fade)
    img = paint((50, 76, 128), alpha, rng, texture)
    thread = (214, 150, 62)
    lw = max(2, w // 500)

    def stitch(points: list[Point]) -> None:
        pts = np.asarray(_px(points, w, h), np.float32)
        seg = np.cumsum(np.r_[0, np.linalg.norm(np.diff(pts, axis=0), axis=1)])
        dash = max(6.0, w / 180.0)
        for s in np.arange(0, seg[-1], 2 * dash):
            a = np.array([np.interp(s, seg, pts[:, 0]), np.interp(s, seg, pts[:, 1])])
            b = np.array([np.interp(s + dash, seg, pts[:, 0]), np.interp(s + dash, seg, pts[:, 1])])
            cv2.line(img, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), thread, lw, cv2.LINE_AA)

    for off in (0.0, 0.006):
        stitch([(0.31, 0.175 + off), (0.69, 0.175 + off)])
        stitch([(0.31, 0.2 + off), (0.69, 0.2 + off)])
        stitch([(0.305 + off, 0.36), (0.31 + off, 0.9)])
        stitch([(0.695 - off, 0.36), (0.69 - off, 0.9)])
        stitch(_curve((0.33 + off, 0.21), (0.36 + off, 0.29), (0.42 + off, 0.215)))
        stitch(_curve((0.67 - off, 0.21), (0.64 - off, 0.29), (0.58 - off, 0.215)))
        stitch(_curve((0.515 + off, 0.21), (0.515 + off, 0.33), (0.5, 0.345)))
        stitch([(0.3 + off * 0.5, 0.895), (0.47, 0.895)])
        stitch([(0.53, 0.895), (0.7 - off * 0.5, 0.895)])
    for bx in (0.34, 0.43, 0.57, 0.66):  # belt loops
        cv2.rectangle(
            img,
            (int((bx - 0.008) * w), int(0.16 * h)),
            (int((bx + 0.008) * w), int(0.215 * h)),
            (40, 62, 108),
            -1,
            cv2.LINE_AA,
        )
    for rx, ry in ((0.36, 0.215), (0.64, 0.215)):
        cv2.circle(img, (int(rx * w), int(ry * h)), max(3, w // 220), (190, 160, 95), -1, cv2.LINE_AA)
    cv2.circle(img, (int(0.5 * w), int(0.185 * h)), max(5, w // 120), (175, 170, 160), -1, cv2.LINE_AA)
    return _finish(img), alpha, (int(0.31 * w), int(0.16 * h), int(0.69 * w), int(0.36 * h))


def draw_floral_dress(w: int, h: int, rng: np.random.Generator, base=(34, 44, 92)):
    """Sleeveless A-line dress on a deep blue ground with a large floral print (petals, centres, leaves)."""
    m = np.zeros((h, w), np.uint8)
    neck = _curve((0.4, 0.22), (0.5, 0.3), (0.6, 0.22))
    hem = _curve((0.76, 0.83), (0.5, 0.86), (0.24, 0.83))
    outline = neck + [(0.62, 0.23), (0.63, 0.33), (0.6, 0.44)] + hem + [(0.4, 0.44), (0.37, 0.33), (0.38, 0.23)]
    _poly(m, _px(outline, w, h))
    for sx in (0.395, 0.605):  # straps
        _poly(m, _px([(sx - 0.012, 0.16), (sx + 0.012, 0.16), (sx + 0.015, 0.235), (sx - 0.015, 0.235)], w, h))
    alpha = cv2.GaussianBlur(m.astype(np.float32) / 255.0, (0, 0), 0.8)
    img = paint(base, alpha, rng, weave(h, w, rng, period=4.0, amount=0.02))
    petals = [(214, 58, 70), (240, 128, 96), (246, 206, 92), (240, 236, 226), (200, 110, 170)]
    layer = np.zeros((h, w, 3), np.float32)
    cover = np.zeros((h, w), np.uint8)
    ys, xs = np.nonzero(m > 0)
    for _ in range(int(60 * (w * h) / (1600 * 2400))):
        i = rng.integers(len(xs))
        cx, cy = float(xs[i]), float(ys[i])
        r = rng.uniform(0.035, 0.07) * w
        colour = petals[rng.integers(len(petals))]
        k = int(rng.integers(5, 7))
        turn = rng.uniform(0, 360)
        # each flower is drawn in its own small window (a full-canvas mask per petal is far too slow)
        x0, y0 = max(0, int(cx - 2 * r)), max(0, int(cy - 2 * r))
        x1, y1 = min(w, int(cx + 2 * r) + 1), min(h, int(cy + 2 * r) + 1)
        sub_layer, sub_cover = layer[y0:y1, x0:x1], cover[y0:y1, x0:x1]
        lx, ly = cx - x0, cy - y0
        shapes: list[tuple[Point, Point, float, tuple]] = []
        for leaf in range(2):
            a = np.deg2rad(turn + 140 * leaf + 20)
            shapes.append(
                (
                    (lx + 1.1 * r * np.cos(a), ly + 1.1 * r * np.sin(a)),
                    (0.55 * r, 0.2 * r),
                    np.rad2deg(a),
                    (58, 122, 78),
                )
            )
        for p in range(k):
            a = np.deg2rad(turn + p * 360.0 / k)
            shade = 0.85 + 0.15 * (p % 2)
            shapes.append(
                (
                    (lx + 0.5 * r * np.cos(a), ly + 0.5 * r * np.sin(a)),
                    (0.5 * r, 0.26 * r),
                    np.rad2deg(a),
                    tuple(c * shade for c in colour),
                )
            )
        shapes.append(((lx, ly), (0.18 * r, 0.18 * r), 0.0, (120, 60, 30)))
        for centre, axes, angle, fill in shapes:
            single = np.zeros(sub_cover.shape, np.uint8)
            _ellipse(single, centre, axes, angle)
            _stamp(sub_layer, sub_cover, single, fill)
    a = (cover.astype(np.float32) / 255.0 * (m > 0))[:, :, None]
    shade = fabric_shading(alpha, rng)[:, :, None]
    img = img * (1 - a) + layer * shade * a
    return _finish(img), alpha, (int(0.3 * w), int(0.45 * h), int(0.7 * w), int(0.75 * h))


def _stamp(layer: np.ndarray, cover: np.ndarray, single: np.ndarray, colour) -> None:
    a = single.astype(np.float32)[:, :, None] / 255.0
    layer[:] = layer * (1 - a) + np.asarray(colour, np.float32) * a
    np.maximum(cover, single, out=cover)


def draw_skirt(w: int, h: int, rng: np.random.Generator):
    """Pleated midi skirt in rust: the morph target of the jeans (same canvas, another garment)."""
    m = np.zeros((h, w), np.uint8)
    _poly(
        m,
        _px(
            [(0.36, 0.16), (0.64, 0.16), (0.78, 0.84)]
            + _curve((0.78, 0.84), (0.5, 0.87), (0.22, 0.84))
            + [(0.36, 0.16)],
            w,
            h,
        ),
    )
    alpha = cv2.GaussianBlur(m.astype(np.float32) / 255.0, (0, 0), 0.8)
    x = np.arange(w, dtype=np.float32)[None, :]
    pleats = 0.09 * np.sin(2 * np.pi * (x - 0.5 * w) / (0.035 * w))
    img = paint((176, 84, 48), alpha, rng, pleats + weave(h, w, rng, 4.0, 0.02))
    return _finish(img), alpha, (int(0.35 * w), int(0.2 * h), int(0.65 * w), int(0.5 * h))


# --- photographs from scikit-image, laid out as products ----------------------------------------


def _skimage(name: str) -> np.ndarray:
    import skimage.data

    if name == "motorcycle":
        return skimage.data.stereo_motorcycle()[0]
    return getattr(skimage.data, name)()


def _place(img: np.ndarray, target_w: int) -> np.ndarray:
    h, w = img.shape[:2]
    size = (target_w, round(h * target_w / w))
    return cv2.resize(img, size, interpolation=cv2.INTER_LANCZOS4 if target_w > w else cv2.INTER_AREA)


def framed_print(w: int, h: int, rng: np.random.Generator, photo: str = "rocket"):
    """Wall art: a photograph behind a white mat in a thin black frame."""
    pic = _place(_skimage(photo), int(0.6 * w))
    ph, pw = pic.shape[:2]
    mat = int(0.05 * w)
    frame = int(0.022 * w)
    fw, fh = pw + 2 * (mat + frame), ph + 2 * (mat + frame)
    x0, y0 = (w - fw) // 2, int(0.44 * h - fh / 2)
    img = np.zeros((h, w, 3), np.float32)
    img[y0 : y0 + fh, x0 : x0 + fw] = (26, 24, 22)
    img[y0 + frame : y0 + fh - frame, x0 + frame : x0 + fw - frame] = (246, 244, 238)
    py, px = y0 + frame + mat, x0 + frame + mat
    img[py : py + ph, px : px + pw] = pic
    alpha = np.zeros((h, w), np.float32)
    alpha[y0 : y0 + fh, x0 : x0 + fw] = 1.0
    return _finish(img), alpha, (px, py, px + pw, py + ph)


def tote_bag(w: int, h: int, rng: np.random.Generator, photo: str = "motorcycle"):
    """Natural canvas tote with webbing handles and a photographic print (printed: a little faded)."""
    m = np.zeros((h, w), np.uint8)
    _poly(m, _px([(0.24, 0.34), (0.76, 0.34), (0.79, 0.86), (0.21, 0.86)], w, h))
    handles = np.zeros((h, w), np.uint8)
    for cx in (0.4, 0.6):
        cv2.ellipse(
            handles,
            (int(cx * w), int(0.34 * h)),
            (int(0.07 * w), int(0.16 * h)),
            0,
            180,
            360,
            255,
            max(8, int(0.022 * w)),
            cv2.LINE_AA,
        )
    m = np.maximum(m, handles)
    alpha = cv2.GaussianBlur(m.astype(np.float32) / 255.0, (0, 0), 0.8)
    img = paint((214, 198, 166), alpha, rng, weave(h, w, rng, period=6.0, amount=0.05))
    pic = _place(_skimage(photo), int(0.44 * w)).astype(np.float32)
    ph, pw = pic.shape[:2]
    px, py = int(0.5 * w - pw / 2), int(0.58 * h - ph / 2)
    region = img[py : py + ph, px : px + pw]
    ink = 0.88 * pic + 0.12 * 235.0  # printed on canvas: lifted blacks
    img[py : py + ph, px : px + pw] = ink * (region / np.maximum(region.mean(axis=(0, 1)), 1.0))
    return _finish(img), alpha, (px, py, px + pw, py + ph)


def print_tee(w: int, h: int, rng: np.random.Generator, photo: str = "hubble_deep_field"):
    """Long-sleeve black tee with a square photographic chest print."""
    m = top_alpha(w, h, sleeve_reach=0.2, hood=False, body=(0.33, 0.67))
    neck = np.zeros((h, w), np.uint8)
    _ellipse(neck, (0.5 * w, 0.27 * h), (0.07 * w, 0.035 * h))
    m[neck > 0] = 0
    alpha = cv2.GaussianBlur(m.astype(np.float32) / 255.0, (0, 0), 0.8)
    img = paint((40, 40, 44), alpha, rng, weave(h, w, rng, 5.0, 0.05) + 0.3)
    src = _skimage(photo)
    side = min(src.shape[:2])
    pic = _place(src[:side, :side], int(0.26 * w)).astype(np.float32)
    ph, pw = pic.shape[:2]
    px, py = int(0.5 * w - pw / 2), int(0.36 * h)
    img[py : py + ph, px : px + pw] = 0.92 * pic + 10.0
    return _finish(img), alpha, (px, py, px + pw, py + ph)


# --- the catalogue ---------------------------------------------------------------------------------

Drawer = Callable[[int, int, np.random.Generator], tuple[np.ndarray, np.ndarray, tuple[int, int, int, int]]]

PRODUCTS: dict[str, tuple[int, int, Drawer, str]] = {
    # name: (width, height, drawer, kind)
    "floral-dress": (1600, 2400, draw_floral_dress, "drawn"),
    "hoodie": (1760, 2200, draw_hoodie, "drawn"),
    "jeans": (1500, 2250, draw_jeans, "drawn"),
    "striped-shirt": (1800, 2250, draw_striped_shirt, "drawn"),
    "rocket-print": (1600, 2000, framed_print, "photograph"),
    "moto-tote": (1800, 2250, tote_bag, "photograph"),
    "hubble-tee": (1800, 2250, print_tee, "photograph"),
    # a wide garment (sleeves out): fine in 4:5, cut off when cover-cropped to 9:16
    "wide-shirt": (2000, 2000, lambda w, h, rng: draw_striped_shirt(w, h, rng, sleeve_reach=0.05), "drawn"),
    # morph targets: another garment on the same canvas as the one it replaces
    "skirt-on-jeans-canvas": (1500, 2250, draw_skirt, "drawn"),
    "hoodie-on-tee-canvas": (1800, 2250, lambda w, h, rng: draw_hoodie(w, h, rng, 0.12, "NORD"), "drawn"),
}


@cache
def product(name: str) -> Product:
    """The product photo `name` (PRODUCTS), drawn once per process; deterministic (seeded by name)."""
    w, h, drawer, kind = PRODUCTS[name]
    rng = np.random.default_rng(sum(map(ord, name)) * 7919)
    subject, alpha, detail = drawer(w, h, rng)
    back = add_shadow(backdrop(w, h, rng), alpha)
    return Product(name, back, subject, alpha.astype(np.float32), detail, kind)
