"""Defects and good-clip finishes as per-frame effects, and camera paths of v2's own (magnitudes are
stated at 1080p output pixels, in CIE Lab units or in frames, so a recipe's label can say what a viewer
sees). Every effect is a pure function of the frame index: a frame can be re-rendered on its own."""

from __future__ import annotations

import math
from collections.abc import Callable

import cv2
import numpy as np

from benchmarks.heldout2.render import Camera, Clip, FrameContext, View, ease, zoomed


def ramp(t: float, start: float = 0.15, full: float = 0.7) -> float:
    """How far a drifting defect has developed: nothing before `start`, complete from `full`."""
    x = min(1.0, max(0.0, (t - start) / (full - start)))
    return x * x * (3 - 2 * x)


# --- camera paths (v2's reading of each preset's path at motion amount `amount` x `k`) -----------------


def breathing_camera(rest: View, amount: float, k: float, height: int) -> Camera:
    """A slow zoom in and back out once per loop (peak 16 % x amount) with a small rise: periodic."""

    def cam(t: float) -> View:
        s = 0.5 - 0.5 * math.cos(2 * math.pi * t)
        return zoomed(rest, 1 + 0.16 * amount * k * s, 0.0, -0.02 * amount * k * height * s)

    return cam


def orbit_camera(rest: View, amount: float, k: float, width: int) -> Camera:
    """A sideways arc (+-7 % of the width x amount) with a push-in (10 % x amount)."""

    def cam(t: float) -> View:
        e = ease(t)
        return zoomed(rest, 1 + 0.10 * amount * k * e, 0.07 * amount * k * width * (2 * e - 1), 0.0)

    return cam


def backdrop_of(camera: Camera, rest: View, depth: float = 0.35) -> Camera:
    """The backdrop's view for parallax: it moves `depth` as far as the subject does."""

    def cam(t: float) -> View:
        v = camera(t)
        zoom = 1 + depth * (v.scale / rest.scale - 1)
        return View(rest.scale * zoom, rest.cx + depth * (v.cx - rest.cx), rest.cy + depth * (v.cy - rest.cy))

    return cam


def push_camera(rest: View, amount: float, k: float) -> Camera:
    """A push-in towards the detail: 35 % x amount more magnification at the end, eased."""
    return lambda t: zoomed(rest, 1 + 0.35 * amount * k * ease(t))


def still_camera(rest: View) -> Camera:
    return lambda t: rest


def cut_camera(camera: Camera, at: float, shift_frac: float, zoom: float, width: int) -> Camera:
    """A hard cut at clip time `at`: from there the view is moved by shift_frac of the width (and zoomed)."""
    return lambda t: zoomed(camera(t), zoom, shift_frac * width, 0.0) if t >= at else camera(t)


def drifting_camera(camera: Camera, frac: float, height: int) -> Camera:
    """A loop whose view creeps upwards by `frac` of the height over the clip, so it does not close."""
    return lambda t: zoomed(camera(t), 1.0, 0.0, -frac * height * t)


# --- finishes of good clips ----------------------------------------------------------------------


def softness(factor: float = 0.78, blur: float = 0.6) -> Callable[[FrameContext], np.ndarray]:
    """Re-render softness: a round trip through a `factor`x smaller frame and a slight blur."""

    def effect(c: FrameContext) -> np.ndarray:
        h, w = c.frame.shape[:2]
        small = cv2.resize(c.frame, (round(w * factor), round(h * factor)), interpolation=cv2.INTER_AREA)
        return cv2.GaussianBlur(cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC), (0, 0), blur)

    return effect


# --- defects ---------------------------------------------------------------------------------------


def _mix(frame: np.ndarray, other: np.ndarray, weight: np.ndarray | float) -> np.ndarray:
    w = weight if np.isscalar(weight) else weight[:, :, None]
    return np.clip(frame * (1.0 - w) + other * w + 0.5, 0, 255).astype(np.uint8)


def colour_drift(de: float, hue_deg: float = 35.0) -> Callable[[FrameContext], np.ndarray]:
    """The garment's chroma moves by `de` Lab units (a vector in a*b* at `hue_deg`), ramping in."""
    da, db = de * math.cos(math.radians(hue_deg)), de * math.sin(math.radians(hue_deg))

    def effect(c: FrameContext) -> np.ndarray:
        w = ramp(c.t)
        if w <= 0:
            return c.frame
        lab = cv2.cvtColor(c.frame.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
        lab[:, :, 1] += da * w * c.alpha
        lab[:, :, 2] += db * w * c.alpha
        rgb = cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)
        return np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)

    return effect


def morph_into(other: Clip, strength: float) -> Callable[[FrameContext], np.ndarray]:
    """Cross-fade towards another garment seen through the same views, ramping to `strength`."""

    def effect(c: FrameContext) -> np.ndarray:
        w = strength * ramp(c.t)
        if w <= 0:
            return c.frame
        return _mix(c.frame, other.render(c.i, with_effects=False), w)

    return effect


def _print_rect(c: FrameContext) -> tuple[int, int, int, int] | None:
    p = c.clip.product
    if p.print_box is None:
        return None
    v = c.clip.camera(c.t)
    h, w = c.frame.shape[:2]
    x0, y0, x1, y1 = p.print_box
    u0, u1 = (np.array([x0, x1]) - v.cx) * v.scale + w / 2
    v0, v1 = (np.array([y0, y1]) - v.cy) * v.scale + h / 2
    u0, u1, v0, v1 = max(0, int(u0)), min(w, int(u1)), max(0, int(v0)), min(h, int(v1 + 0.15 * (v1 - v0)))
    return (u0, v0, u1, v1) if u1 - u0 > 8 and v1 - v0 > 8 else None


def print_melt(frac: float, smear: bool = False, grow: bool = True) -> Callable[[FrameContext], np.ndarray]:
    """The print/text sags downwards by up to `frac` of the garment's height (columns at different
    rates: melting), or (smear) is dragged down by a motion blur of that length; ramps in."""

    def effect(c: FrameContext) -> np.ndarray:
        w = ramp(c.t) if grow else 1.0
        rect = _print_rect(c)
        if w <= 0 or rect is None:
            return c.frame
        u0, v0, u1, v1 = rect
        sag = frac * c.clip.product.height * c.clip.camera(c.t).scale * w  # output px
        out = c.frame.copy()
        region = c.frame[v0:v1, u0:u1]
        if smear:
            k = max(1, int(round(sag)))
            kernel = np.zeros((2 * k + 1, 1), np.float32)
            kernel[: k + 1] = 1.0 / (k + 1)  # each pixel takes the colours above it
            out[v0:v1, u0:u1] = cv2.filter2D(region, -1, kernel, borderType=cv2.BORDER_REPLICATE)
            return out
        hh, ww = region.shape[:2]
        x = np.arange(ww, dtype=np.float32)
        depth = sag * (0.55 + 0.45 * np.sin(2 * np.pi * x / max(8.0, 0.18 * ww)))
        prof = (np.arange(hh, dtype=np.float32) / hh)[:, None]
        my = (np.arange(hh, dtype=np.float32)[:, None] - depth[None, :] * prof).astype(np.float32)
        mx = np.broadcast_to(x[None, :], (hh, ww)).astype(np.float32)
        out[v0:v1, u0:u1] = cv2.remap(region, mx, np.clip(my, 0, hh - 1), cv2.INTER_LINEAR)
        return out

    return effect


def boiling(grey: float, grain_px: float = 2.0) -> Callable[[FrameContext], np.ndarray]:
    """Fresh grain every frame on the fabric (std `grey` levels, `grain_px` blobs): texture that boils."""

    def effect(c: FrameContext) -> np.ndarray:
        h, w = c.frame.shape[:2]
        rng = np.random.default_rng(1000 + c.i)
        small = rng.normal(0, 1, (int(h / grain_px), int(w / grain_px))).astype(np.float32)
        noise = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
        noise *= grey / max(1e-6, float(noise.std()))
        return np.clip(c.frame + (noise * c.alpha)[:, :, None] + 0.5, 0, 255).astype(np.uint8)

    return effect


def glitch(start: int, n: int, shift_frac: float, blocky: bool = False) -> Callable[[FrameContext], np.ndarray]:
    """Frames start..start+n-1 knocked sideways by shift_frac of the width (and blocky, channels swapped)."""

    def effect(c: FrameContext) -> np.ndarray:
        if not start <= c.i < start + n:
            return c.frame
        h, w = c.frame.shape[:2]
        out = np.roll(c.frame, int(round(shift_frac * w)), axis=1)
        if blocky:
            small = cv2.resize(out, (w // 24, h // 24), interpolation=cv2.INTER_AREA)
            out = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)[:, :, ::-1]
        return np.ascontiguousarray(out)

    return effect


def faint_noise(grey: float) -> Callable[[FrameContext], np.ndarray]:
    """Per-pixel sensor-like noise over the whole frame (what a still with 'motion' looks like)."""

    def effect(c: FrameContext) -> np.ndarray:
        rng = np.random.default_rng(5000 + c.i)
        noise = rng.normal(0, grey, c.frame.shape[:2]).astype(np.float32)
        return np.clip(c.frame + noise[:, :, None] + 0.5, 0, 255).astype(np.uint8)

    return effect


def gain(of_frame: Callable[[int, float], float]) -> Callable[[FrameContext], np.ndarray]:
    """Multiply each frame by of_frame(i, t): flicker, pumping, flashes, black frames."""

    def effect(c: FrameContext) -> np.ndarray:
        g = of_frame(c.i, c.t)
        if g == 1.0:
            return c.frame
        return np.clip(c.frame.astype(np.float32) * g + 0.5, 0, 255).astype(np.uint8)

    return effect


def random_flicker(amount: float) -> Callable[[int, float], float]:
    return lambda i, t: 1.0 + amount * float(np.clip(np.random.default_rng(7000 + i).normal(), -2.5, 2.5))


def pumping(amount: float, hz: float, fps: float) -> Callable[[int, float], float]:
    return lambda i, t: 1.0 + amount * math.sin(2 * math.pi * hz * i / fps)


def flashes(per_s: float, fps: float, level: float, start: int, count: int) -> Callable[[int, float], float]:
    """`count` one-frame flashes to `level` x brightness, `per_s` a second, from frame `start`."""
    step = max(1, round(fps / per_s))
    hits = {start + k * step for k in range(count)}
    return lambda i, t: level if i in hits else 1.0


def black(frames: set[int]) -> Callable[[int, float], float]:
    return lambda i, t: 0.0 if i in frames else 1.0


def blur(sigma_of: Callable[[float], float]) -> Callable[[FrameContext], np.ndarray]:
    """A softening that grows with t (part of combined drift: detail lost on the way)."""

    def effect(c: FrameContext) -> np.ndarray:
        s = sigma_of(c.t)
        if s <= 0.05:
            return c.frame
        soft = cv2.GaussianBlur(c.frame, (0, 0), s)
        return _mix(c.frame, soft, c.alpha)

    return effect
