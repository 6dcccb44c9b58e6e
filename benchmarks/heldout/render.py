"""Rendering held-out clips frame by frame at the preset's real size: a camera view over the photo, an
optional separate subject layer (parallax), an optional smooth garment deformation, then per-frame
effects. Frames are produced one at a time (`Clip.frames()`), so a 180-frame 1080x1920 clip is never
held in memory.

Coordinates: a `View` is a window on the photo (centre in photo pixels, zoom relative to the photo
scaled to *cover* the output frame, rotation in degrees). Deformations are backward displacement
fields in photo pixels: the output samples the photo at p + d(p), evaluated on a coarse grid and
enlarged (they are smooth by construction; the melt defect asks for a finer grid).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from benchmarks.heldout.photos import Product


@dataclass(frozen=True)
class View:
    cx: float
    cy: float
    zoom: float = 1.0
    angle: float = 0.0


Deform = Callable[[np.ndarray, np.ndarray, float], tuple[np.ndarray, np.ndarray]]
"""(x, y photo-pixel grids, t in [0, 1]) -> (dx, dy) backward displacement in photo pixels."""


@dataclass(frozen=True)
class Pose:
    view: View
    subject_view: View | None = None  # a subject layer moving apart from the backdrop (parallax)
    deform: Deform | None = None
    t: float = 0.0


def cover_scale(product: Product, width: int, height: int) -> float:
    pw, ph = product.size
    return max(width / pw, height / ph)


def clamp_view(view: View, product: Product, width: int, height: int) -> View:
    """The view moved (not resized) so its window stays on the photo: no reflected borders."""
    pw, ph = product.size
    s = cover_scale(product, width, height) * view.zoom
    half_w, half_h = width / s / 2.0, height / s / 2.0
    cx = min(max(view.cx, half_w), pw - half_w) if 2 * half_w <= pw else pw / 2.0
    cy = min(max(view.cy, half_h), ph - half_h) if 2 * half_h <= ph else ph / 2.0
    return replace(view, cx=cx, cy=cy)


def view_matrix(view: View, product: Product, width: int, height: int) -> np.ndarray:
    """2x3 affine: output pixel (u, v) -> photo pixel (x, y) (pixel centres)."""
    s = cover_scale(product, width, height) * view.zoom
    a = math.radians(view.angle)
    c, si = math.cos(a) / s, math.sin(a) / s
    # x = cx + c*(u + .5 - W/2) - si*(v + .5 - H/2) - .5, likewise y
    ou, ov = 0.5 - width / 2.0, 0.5 - height / 2.0
    return np.array(
        [
            [c, -si, view.cx - 0.5 + c * ou - si * ov],
            [si, c, view.cy - 0.5 + si * ou + c * ov],
        ],
        np.float64,
    )


class Renderer:
    """Renders one product at one output size; the grids and layers it needs are made once.

    Images are warped as 4-channel arrays (OpenCV's 4-channel warps are about twice as fast as its
    3-channel ones); `prepare` pads a photo-sized RGB image, `render` returns RGB."""

    GRID = 8  # output pixels per deformation sample

    def __init__(self, product: Product, width: int, height: int):
        self.product = product
        self.width, self.height = width, height
        self.rgb = product.rgb
        self.alpha8 = np.round(product.alpha * 255).astype(np.uint8)
        self.image = self.prepare(self.rgb)
        self._layers: tuple[np.ndarray, np.ndarray] | None = None

    @staticmethod
    def prepare(rgb: np.ndarray, fourth: np.ndarray | None = None) -> np.ndarray:
        a = fourth if fourth is not None else np.full(rgb.shape[:2], 255, np.uint8)
        return np.dstack([rgb, a])

    def matrix(self, view: View) -> np.ndarray:
        return view_matrix(view, self.product, self.width, self.height)

    def _maps(self, m: np.ndarray, deform: Deform, t: float, grid: int) -> tuple[np.ndarray, np.ndarray]:
        gw, gh = self.width // grid + 2, self.height // grid + 2
        u = (np.arange(gw, dtype=np.float32) * grid)[None, :]
        v = (np.arange(gh, dtype=np.float32) * grid)[:, None]
        x = (m[0, 0] * u + m[0, 1] * v + m[0, 2]).astype(np.float32)
        y = (m[1, 0] * u + m[1, 1] * v + m[1, 2]).astype(np.float32)
        dx, dy = deform(x, y, t)
        # enlarge the coarse map: sample k*grid of the big map is coarse sample k
        big = (gw - 1) * grid + 1, (gh - 1) * grid + 1
        mx = cv2.resize(x + dx, big, interpolation=cv2.INTER_LINEAR)[: self.height, : self.width]
        my = cv2.resize(y + dy, big, interpolation=cv2.INTER_LINEAR)[: self.height, : self.width]
        return mx, my

    def warp(self, image: np.ndarray, pose: Pose, grid: int | None = None) -> np.ndarray:
        """`image` (photo-sized, any channels) seen through the pose's main view and deformation."""
        m = self.matrix(pose.view)
        if pose.deform is None:
            return cv2.warpAffine(
                image,
                m,
                (self.width, self.height),
                flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                borderMode=cv2.BORDER_REPLICATE,
            )
        mx, my = self._maps(m, pose.deform, pose.t, grid or self.GRID)
        return cv2.remap(image, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    def render(self, pose: Pose, image: np.ndarray | None = None, grid: int | None = None) -> np.ndarray:
        """RGB frame of `image` (4-channel, `prepare`d; default the photo) through `pose`."""
        image = self.image if image is None else image
        if pose.subject_view is None:
            return cv2.cvtColor(self.warp(image, pose, grid), cv2.COLOR_RGBA2RGB)
        # Parallax: the backdrop through the main view, the subject layer through its own view.
        if self._layers is None:
            self._layers = (self.prepare(self.product.backdrop), self.prepare(self.product.subject, self.alpha8))
        backdrop, subject = self._layers
        if image is not self.image:
            subject = self.prepare(image[:, :, :3], self.alpha8)
        out = cv2.cvtColor(self.warp(backdrop, replace(pose, deform=None)), cv2.COLOR_RGBA2RGB)
        layer = self.warp(subject, replace(pose, view=pose.subject_view), grid)
        ys, xs = np.nonzero(layer[::8, ::8, 3])
        if xs.size:  # blend only the subject's box
            x0, y0 = max(0, xs.min() * 8 - 8), max(0, ys.min() * 8 - 8)
            x1, y1 = min(self.width, xs.max() * 8 + 16), min(self.height, ys.max() * 8 + 16)
            box = layer[y0:y1, x0:x1]
            alpha = box[:, :, 3].astype(np.float32) * (1.0 / 255.0)
            fg = cv2.cvtColor(box, cv2.COLOR_RGBA2RGB)
            out[y0:y1, x0:x1] = cv2.blendLinear(fg, out[y0:y1, x0:x1], alpha, 1.0 - alpha)
        return out

    def subject_alpha(self, pose: Pose) -> np.ndarray:
        """The subject's alpha in this frame (float32 0..1)."""
        view_pose = pose if pose.subject_view is None else replace(pose, view=pose.subject_view)
        return self.warp(self.alpha8, view_pose).astype(np.float32) * (1.0 / 255.0)


Effect = Callable[[int, np.ndarray, "Clip", Pose], np.ndarray]


@dataclass
class Clip:
    """A clip as a recipe: frame i is `motion(timeline(i))` rendered, then each effect in turn."""

    product: Product
    width: int
    height: int
    fps: float
    n_frames: int
    motion: Callable[[float], Pose]
    loop: bool = False
    timeline: Callable[[int], float] | None = None
    effects: list[Effect] = field(default_factory=list)
    grid: int | None = None
    _renderer: Renderer | None = None

    @property
    def renderer(self) -> Renderer:
        if self._renderer is None:
            self._renderer = Renderer(self.product, self.width, self.height)
        return self._renderer

    def time_of(self, i: int) -> float:
        if self.timeline is not None:
            return self.timeline(i)
        # loops: frame n (one past the last) would equal frame 0, so the seam is one ordinary step
        return i / self.n_frames if self.loop else i / max(1, self.n_frames - 1)

    def pose(self, i: int) -> Pose:
        return self.motion(self.time_of(i))

    def frame(self, i: int) -> np.ndarray:
        pose = self.pose(i)
        out = self.renderer.render(pose, grid=self.grid)
        for effect in self.effects:
            out = effect(i, out, self, pose)
        return out

    def frames(self) -> Iterator[np.ndarray]:
        for i in range(self.n_frames):
            yield self.frame(i)
