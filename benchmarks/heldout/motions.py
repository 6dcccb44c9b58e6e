"""Motions of the held-out clips: each preset's camera path at up to its full motion amount (read as
generation/camera.py defines amount: breathing zooms by up to 8 % x amount, parallax_orbit travels
12 % x amount of the cover width with a ~20 % x amount zoom, a detail push-in starts at 1 + amount and
pushes a further amount / 2), written independently of that engine, and garment deformations of the
kind an image-to-video model makes: anchored sway, hem swing, breathing.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from benchmarks.heldout.photos import Product
from benchmarks.heldout.render import Deform, Pose, View, clamp_view
from catalog_motion.presets import Preset


def ease(t: float) -> float:
    return 0.5 - 0.5 * math.cos(math.pi * min(max(t, 0.0), 1.0))


def smoothstep(a: float, b: float, t: float) -> float:
    x = min(max((t - a) / (b - a), 0.0), 1.0)
    return x * x * (3 - 2 * x)


def subject_centre(product: Product) -> tuple[float, float]:
    x0, y0, x1, y1 = product.bbox
    return (x0 + x1) / 2.0, (y0 + y1) / 2.0


def detail_centre(product: Product) -> tuple[float, float]:
    x0, y0, x1, y1 = product.detail
    return (x0 + x1) / 2.0, (y0 + y1) / 2.0


# --- garment deformations (backward displacement fields in photo pixels) ----------------------------


def _garment_frame(product: Product):
    x0, y0, x1, y1 = product.bbox
    return x0, y0, x1, y1, (x0 + x1) / 2.0, float(y1 - y0), float(x1 - x0)


def sway(product: Product, hem_fraction: float = 0.03, cycles: int = 1, phase: float = 0.0) -> Deform:
    """Side-to-side sway anchored at the shoulders/waistband: zero at the top 12 % of the garment, growing
    smoothly to `hem_fraction` x garment height at the hem; a little lift where it swings out."""
    x0, y0, x1, y1, cx, gh, gw = _garment_frame(product)
    anchor = y0 + 0.12 * gh

    def field(x: np.ndarray, y: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
        w = np.clip((y - anchor) / (y1 - anchor), 0.0, 1.15) ** 1.6
        across = np.exp(-0.5 * ((x - cx) / (0.9 * gw)) ** 2)
        s = math.sin(2 * math.pi * cycles * t + phase)
        dx = hem_fraction * gh * s * w * across
        return dx.astype(np.float32), (0.12 * np.abs(dx)).astype(np.float32)

    return field


def hem_swing(product: Product, hem_fraction: float = 0.025, cycles: int = 1) -> Deform:
    """A wave running along the hem: only the lower 40 % of the garment moves, phase varies across it."""
    x0, y0, x1, y1, cx, gh, gw = _garment_frame(product)
    top = y0 + 0.6 * gh

    def field(x: np.ndarray, y: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
        r = np.clip((y - top) / (y1 - top), 0.0, 1.2)
        w = r * r * (3 - 2 * np.clip(r, 0, 1))
        phase = 2 * math.pi * cycles * t - math.pi * (x - x0) / gw
        dx = hem_fraction * gh * w * np.sin(phase)
        dy = 0.3 * hem_fraction * gh * w * np.cos(phase)
        return dx.astype(np.float32), dy.astype(np.float32)

    return field


def breathe(product: Product, expansion: float = 0.012, cycles: int = 1) -> Deform:
    """The chest rising and falling: a radial swell of up to `expansion` around the upper torso."""
    x0, y0, x1, y1, cx, gh, gw = _garment_frame(product)
    cy, r0 = y0 + 0.35 * gh, 0.3 * gh

    def field(x: np.ndarray, y: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
        e = expansion * math.sin(math.pi * cycles * t) ** 2
        g = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * r0 * r0))
        return (-e * (x - cx) * g).astype(np.float32), (-e * (y - cy) * g).astype(np.float32)

    return field


def combine(*fields: Deform) -> Deform:
    def field(x: np.ndarray, y: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
        dx, dy = np.zeros_like(x), np.zeros_like(y)
        for f in fields:
            a, b = f(x, y, t)
            dx += a
            dy += b
        return dx, dy

    return field


# --- camera paths ---------------------------------------------------------------------------------


def camera_motion(
    product: Product,
    preset: Preset,
    scale: float = 1.0,
    deform: Deform | None = None,
    shift: Callable[[float], tuple[float, float, float]] | None = None,
) -> Callable[[float], Pose]:
    """The preset's camera path over `product` at `scale` x its motion amount. `shift(t)` -> (dx, dy as
    fractions of the frame, zoom factor) is added to the view (jump cuts and seams use it)."""
    w, h = preset.width, preset.height
    amount = preset.motion.amount * scale
    path = preset.motion.path
    sx, sy = subject_centre(product)
    fx, fy = detail_centre(product) if preset.motion.focus == "detail" else (sx, sy)
    pw, ph = product.size
    cover_w = w / max(w / pw, h / ph)  # photo pixels across the frame at zoom 1

    def pose(t: float) -> Pose:
        ddx, ddy, dz = shift(t) if shift else (0.0, 0.0, 1.0)
        subject_view = None
        if path == "breathing":
            # in and out once per clip, with a slight vertical float; both periodic in t
            zoom = 1.0 + 0.08 * amount * math.sin(math.pi * t) ** 2
            view = View(sx, sy - 0.004 * amount * ph * math.sin(2 * math.pi * t), zoom)
        elif path == "parallax_orbit":
            p, s = ease(t), 2 * ease(t) - 1
            zoom = (1.0 + 0.18 * amount) * (1.0 + 0.05 * amount * p)
            travel = 0.1 * amount * cover_w
            view = View(sx - 0.5 * travel * s, sy, zoom, angle=0.6 * amount * s)
            subject_view = View(
                sx - 0.5 * travel * s + travel * s * 0.8, sy, zoom * (1 + 0.025 * amount * p), 0.6 * amount * s
            )
        elif path == "push_in":
            p = ease(t)
            if preset.motion.focus == "detail":
                zoom = (1.0 + amount) * (1.0 + 0.45 * amount * p)
                view = View(fx + 0.02 * cover_w * amount * p, fy, zoom)
            else:
                zoom = 1.0 + 0.55 * amount * p
                view = View(sx + (fx - sx) * p, sy + (fy - sy) * p, zoom)
        else:  # pan or static
            p = 2 * ease(t) - 1
            travel = 0.1 * amount * cover_w
            view = View(sx + travel * p, sy, 1.0 + 0.3 * amount)
        view = View(
            view.cx + ddx * cover_w / view.zoom, view.cy + ddy * cover_w / view.zoom, view.zoom * dz, view.angle
        )
        view = clamp_view(view, product, w, h)
        if subject_view is not None:
            subject_view = View(
                subject_view.cx + ddx * cover_w, subject_view.cy, subject_view.zoom * dz, subject_view.angle
            )
        return Pose(view, subject_view, deform, t)

    return pose


def still_motion(product: Product, preset: Preset) -> Callable[[float], Pose]:
    """No motion at all: the photo's cover framing (or the close-up's opening framing) held."""
    moving = camera_motion(product, preset)
    first = moving(0.0)
    return lambda t: Pose(first.view, first.subject_view, None, t)
