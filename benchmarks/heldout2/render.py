"""Frames of a v2 clip, each a pure function of its index: a camera view of the photo's layers (subject
and backdrop may move apart for parallax), an optional anchored deformation of the garment, then the
recipe's effects. Nothing here is shared with generation/ or benchmarks/heldout/."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import cv2
import numpy as np

from benchmarks.heldout2.photos import Product, product


@dataclass(frozen=True)
class View:
    """Output px per photo px (`scale`) and the photo point at the frame centre (`cx`, `cy`)."""

    scale: float
    cx: float
    cy: float


@dataclass(frozen=True)
class Warp:
    """The garment's own motion at one instant, in photo px (0 at the anchor line)."""

    sway_px: float = 0.0  # sideways shift of the hem, growing from the anchor line
    hem_px: float = 0.0  # up/down amplitude of a wave travelling along the hem
    hem_phase: float = 0.0
    breath: float = 0.0  # relative expansion of the chest region


Camera = Callable[[float], View]
Deform = Callable[[float], Warp]
Effect = Callable[["FrameContext"], np.ndarray]


class FrameContext:
    """What an effect sees: the rendered frame, where it is in the clip and (computed when first asked)
    the subject's coverage in the frame, HxW float32 in [0, 1]."""

    def __init__(self, i: int, t: float, frame: np.ndarray, alpha: Callable[[], np.ndarray], clip: Clip):
        self.i, self.t, self.frame, self.clip = i, t, frame, clip
        self._alpha = alpha

    @cached_property
    def alpha(self) -> np.ndarray:
        return self._alpha()


@dataclass
class Clip:
    product_name: str
    width: int
    height: int
    fps: float
    n_frames: int
    camera: Camera
    loop: bool = False
    backdrop_camera: Camera | None = None  # parallax: the backdrop seen from another view
    deform: Deform | None = None
    effects: list[Effect] = field(default_factory=list)
    time_of: Callable[[int], float] | None = None  # frame -> clip time in [0, 1] (default: evenly spaced)
    layers: Product | None = None  # render another product's layers under this clip's views (morphs)

    @property
    def product(self) -> Product:
        return self.layers or product(self.product_name)

    def t(self, i: int) -> float:
        if self.time_of is not None:
            return self.time_of(i)
        # a loop's frame n would be frame 0 again; a plain clip ends on its last frame
        return i / self.n_frames if self.loop else i / max(1, self.n_frames - 1)

    @cached_property
    def _layers(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The subject premultiplied by its alpha, the alpha (uint8), the clean backdrop, the flat photo."""
        p = self.product
        premult = (p.subject * p.alpha[:, :, None] + 0.5).astype(np.uint8)
        return premult, (p.alpha * 255.0 + 0.5).astype(np.uint8), p.backdrop, p.rgb

    def render(self, i: int, with_effects: bool = True) -> np.ndarray:
        t = self.t(i)
        frame, alpha = self.render_layers(t)
        if with_effects:
            for effect in self.effects:
                frame = effect(FrameContext(i, t, frame, alpha, self))
        return frame

    def render_layers(self, t: float) -> tuple[np.ndarray, Callable[[], np.ndarray]]:
        """The frame at clip time t (before effects), and how to get the subject's coverage in it."""
        premult, alpha8, back, flat = self._layers
        size = (self.width, self.height)
        warp = self.deform(t) if self.deform else None
        view = self.camera(t)
        if warp is None:
            m = self._matrix(view)
            flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP

            def move(img: np.ndarray, border: int = cv2.BORDER_CONSTANT) -> np.ndarray:
                return cv2.warpAffine(img, m, size, flags=flags, borderMode=border)
        else:
            mx, my = _deformed_maps(view, self.width, self.height, self.product, warp)

            def move(img: np.ndarray, border: int = cv2.BORDER_CONSTANT) -> np.ndarray:
                return cv2.remap(img, mx, my, cv2.INTER_LINEAR, borderMode=border)

        if self.backdrop_camera is None and warp is None:
            return move(flat, cv2.BORDER_REPLICATE), lambda: move(alpha8).astype(np.float32) / 255.0
        a = move(alpha8)
        bm = self._matrix(self.backdrop_camera(t) if self.backdrop_camera else view)
        bg = cv2.warpAffine(back, bm, size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                            borderMode=cv2.BORDER_REPLICATE)  # fmt: skip
        frame = cv2.add(move(premult), cv2.multiply(bg, cv2.merge([255 - a] * 3), scale=1.0 / 255.0))
        return frame, lambda: a.astype(np.float32) / 255.0

    def _matrix(self, view: View) -> np.ndarray:
        """Output px -> photo px (for WARP_INVERSE_MAP)."""
        s = 1.0 / view.scale
        return np.float32([[s, 0, view.cx - self.width / 2 * s], [0, s, view.cy - self.height / 2 * s]])


def _deformed_maps(view: View, width: int, height: int, p: Product, w: Warp) -> tuple[np.ndarray, np.ndarray]:
    """Sampling maps pulled back by the garment's displacement (small, so -d is its inverse); the smooth
    displacement is computed on a quarter-size grid and scaled up."""
    u = (np.arange(width, dtype=np.float32) - width / 2) / view.scale + view.cx
    v = (np.arange(height, dtype=np.float32) - height / 2) / view.scale + view.cy
    qx, qy = np.meshgrid(u[::4], v[::4])
    dx, dy = _displacement(qx, qy, p, w)
    dx = cv2.resize(dx, (width, height), interpolation=cv2.INTER_LINEAR)
    dy = cv2.resize(dy, (width, height), interpolation=cv2.INTER_LINEAR)
    return (u[None, :] - dx).astype(np.float32), (v[:, None] - dy).astype(np.float32)


def _displacement(mx: np.ndarray, my: np.ndarray, p: Product, w: Warp) -> tuple[np.ndarray, np.ndarray]:
    """The garment's displacement (photo px) at photo points (mx, my): 0 above the anchor line."""
    x0, _, x1, y1 = p.box
    span = max(1.0, y1 - p.anchor_y)
    reach = np.clip((my - p.anchor_y) / span, 0.0, 1.0)  # 0 on the anchor line, 1 at the hem
    dx = w.sway_px * reach**1.6
    dx = dx + np.zeros_like(mx)
    dy = np.zeros_like(mx)
    if w.hem_px:
        dy = dy + w.hem_px * reach**3 * np.sin(2 * np.pi * (mx - x0) / (x1 - x0) * 1.5 - w.hem_phase)
    if w.breath:
        cx, cy = (x0 + x1) / 2, p.anchor_y + 0.25 * span
        g = np.exp(-(((my - cy) / (0.22 * span)) ** 2)).astype(np.float32)
        dx = dx + w.breath * (mx - cx) * g
        dy = dy + w.breath * (my - cy) * g
    return dx.astype(np.float32), dy.astype(np.float32)


# --- camera views -------------------------------------------------------------------------------


def fit_view(p: Product, width: int, height: int, focus: str = "subject", fill: float = 0.84) -> View:
    """The resting view: the whole garment inside `fill` of the frame, or (detail) a crop of its print."""
    x0, y0, x1, y1 = p.box
    if focus == "detail":
        scale = width / (0.5 * p.width)
        return View(scale, float(p.detail[0]), float(p.detail[1]))
    scale = min(fill * width / p.width, fill * height / p.height)
    return View(scale, (x0 + x1) / 2, (y0 + y1) / 2)


def ease(t: float) -> float:
    return 0.5 - 0.5 * math.cos(math.pi * min(1.0, max(0.0, t)))


def zoomed(view: View, zoom: float, dx: float = 0.0, dy: float = 0.0) -> View:
    """`view` magnified by `zoom` and moved by (dx, dy) output px."""
    s = view.scale * zoom
    return View(s, view.cx + dx / s, view.cy + dy / s)
