"""The embedded default engine `camera`: deterministic, weight-free camera motion over a still photo.

Each frame is one float affine resample (sub-pixel smooth, eased curves) of a single working copy of
the photo, made once at a scale where the most zoomed-in frame maps ~1:1 (INTER_AREA when shrinking,
Lanczos when the photo is too small), so no frame ever up-scales a crop or aliases. Frames stream
straight into the lossless master clip; the clip is never held in memory.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from catalog_motion.errors import EngineError, PermanentError
from catalog_motion.images import read_photo, subject_mask
from catalog_motion.media import MasterClipWriter
from catalog_motion.presets import Preset
from catalog_motion.types import ClipRef
from generation.base import Engine, GenerationRequest
from generation.fit import Box, affine_for_box, clamp_center, cover_size
from generation.focus import FocusPoint, detail_focus, subject_center

IDENTITY = "camera/1"
"""Bump when rendering changes: it is part of every work item's content key."""

ANALYSIS_LONG_SIDE = 512  # subject mask and focus search run on a copy this size (fast, ample for framing)


class CameraSettings(BaseModel):
    """Settings of the `camera` engine (RunSettings.engines['camera'])."""

    model_config = ConfigDict(extra="forbid")

    interpolation: Literal["linear", "cubic"] = Field(
        default="linear",
        description="Per-frame resampling filter. The working copy is pre-scaled so frames never enlarge it; "
        "linear is ~2x faster than cubic and indistinguishable at these ratios.",
    )
    max_upscale: float = Field(
        default=6.0,
        ge=1.0,
        le=16.0,
        description="Refuse photos that would need more than this many output pixels per source pixel "
        "(such a clip would look soft); smaller enlargements are done with Lanczos and flagged in params.",
    )


def _ease(t: float) -> float:
    """Cosine ease in/out on [0, 1]: zero velocity at both ends, so clips start and settle gently."""
    return 0.5 - 0.5 * math.cos(math.pi * min(max(t, 0.0), 1.0))


@dataclass(frozen=True)
class FramePose:
    """Crop windows (source edge coordinates) of one frame: background/main layer and optional subject layer."""

    main: Box
    subject: Box | None = None


@dataclass(frozen=True)
class CameraPlan:
    path: str
    amount: float
    loop: bool
    n_frames: int
    poses: list[FramePose]
    focus: FocusPoint
    base_center: tuple[float, float]

    @property
    def min_window_width(self) -> float:
        """Smallest window width over every layer and frame (drives the working-copy scale)."""
        widths = [p.main.width for p in self.poses] + [p.subject.width for p in self.poses if p.subject]
        return min(widths)


def plan_camera(
    preset: Preset,
    src_w: int,
    src_h: int,
    mask: np.ndarray | None,
    detail: FocusPoint | None = None,
    *,
    motion_scale: float = 1.0,
    duration_scale: float = 1.0,
) -> CameraPlan:
    """Every frame's crop window(s) for `preset` over a src_w x src_h photo; pure geometry, no pixels.

    `mask` is the subject mask at any resolution (coordinates are rescaled); `detail` is a focus point in
    source pixel coordinates for focus="detail" (computed by the caller with `detail_focus`).
    """
    motion = preset.motion
    amount = motion.amount * motion_scale
    n = max(2, round(preset.duration_s * duration_scale * preset.fps))
    out_w, out_h = preset.width, preset.height
    cover_w, cover_h = cover_size(src_w, src_h, out_w, out_h)

    def to_source(point: FocusPoint) -> FocusPoint:
        if mask is None:
            return point
        mh, mw = mask.shape[:2]
        sx, sy = src_w / mw, src_h / mh
        return FocusPoint((point.x + 0.5) * sx - 0.5, (point.y + 0.5) * sy - 0.5, point.score, point.method)

    if motion.focus == "center" or mask is None:
        subject = FocusPoint((src_w - 1) / 2.0, (src_h - 1) / 2.0, 0.0, "center")
    else:
        subject = to_source(subject_center(mask))
    focus = subject
    if motion.focus == "detail" and detail is not None:
        focus = detail
    base = (subject.x + 0.5, subject.y + 0.5)  # edge coordinates from here on

    def window(zoom: float, cx: float, cy: float, clamp: bool = True) -> Box:
        w, h = cover_w / zoom, cover_h / zoom
        if clamp:
            cx, cy = clamp_center(cx, cy, w, h, src_w, src_h)
        return Box(cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0)

    def progress(i: int) -> float:
        # Loop presets go out and back along a cosine: frame n (the one after the last) equals frame 0.
        if preset.loop:
            return 0.5 - 0.5 * math.cos(2.0 * math.pi * i / n)
        return _ease(i / (n - 1))

    def swing(i: int) -> float:
        # -1..1 lateral phase: periodic for loops, an eased sweep otherwise.
        if preset.loop:
            return math.sin(2.0 * math.pi * i / n)
        return 2.0 * _ease(i / (n - 1)) - 1.0

    poses: list[FramePose] = []
    path = motion.path
    fx, fy = focus.x + 0.5, focus.y + 0.5
    for i in range(n):
        p = progress(i)
        if path == "static" or amount <= 0.0:
            poses.append(FramePose(window(1.0, *base)))
        elif path == "breathing":
            breathe = 0.5 - 0.5 * math.cos(2.0 * math.pi * i / n)  # always periodic: in and out
            poses.append(FramePose(window(1.0 + 0.08 * amount * breathe, *base)))
        elif path == "push_in":
            if motion.focus == "detail":
                # A close-up starts already tight on the detail and keeps pushing into it.
                z0 = 1.0 + amount
                zoom = z0 * (1.0 + 0.5 * amount * p)
                poses.append(FramePose(window(zoom, fx, fy)))
            else:
                zoom = 1.0 + 0.6 * amount * p
                poses.append(FramePose(window(zoom, base[0] + (fx - base[0]) * p, base[1] + (fy - base[1]) * p)))
        elif path == "pan":
            zoom = 1.0 + 0.3 * amount
            w = cover_w / zoom
            lo, hi = w / 2.0, src_w - w / 2.0
            travel = min(0.12 * amount * cover_w, (hi - lo) / 2.0)
            centre = min(max(base[0], lo + travel), hi - travel)
            poses.append(FramePose(window(zoom, centre + swing(i) * travel, base[1])))
        elif path == "parallax_orbit":
            s = swing(i)
            zoom_bg = (1.0 + 0.2 * amount) * (1.0 + 0.06 * amount * p)
            zoom_fg = zoom_bg * (1.0 + 0.03 * amount * p)  # the nearer layer grows a little faster
            travel = 0.12 * amount * cover_w
            bg = window(zoom_bg, base[0] - 0.6 * travel * s, base[1])
            # The subject layer is not clamped: what it uncovers is filled from the clean background plate.
            fg = window(zoom_fg, bg.center[0] + travel * s, bg.center[1], clamp=False)
            poses.append(FramePose(bg, fg))
        else:  # pragma: no cover - MotionSpec validates the path
            raise EngineError(f"camera: unknown camera path {path!r}")
    return CameraPlan(path, amount, preset.loop, n, poses, focus, base)


def clean_plate(rgb: np.ndarray, mask: np.ndarray, work_long_side: int = 256) -> np.ndarray:
    """The photo with the subject painted out (background only), for what a moving subject uncovers.

    Studio backgrounds are near-uniform, so inpainting a small copy and enlarging it is enough; outside
    the (dilated) subject the original pixels are kept.
    """
    h, w = rgb.shape[:2]
    scale = min(1.0, work_long_side / max(h, w))
    sw, sh = max(8, int(w * scale)), max(8, int(h * scale))
    small = cv2.resize(rgb, (sw, sh), interpolation=cv2.INTER_AREA)
    hard = (cv2.resize(mask, (sw, sh), interpolation=cv2.INTER_AREA) > 0.2).astype(np.uint8)
    grow = max(2, int(0.03 * min(sw, sh)))
    hard = cv2.dilate(hard, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1)))
    painted = cv2.inpaint(small, hard, 5, cv2.INPAINT_TELEA)
    painted = cv2.GaussianBlur(painted, (0, 0), 2.0)
    big = cv2.resize(painted, (w, h), interpolation=cv2.INTER_CUBIC)
    weight = cv2.GaussianBlur(hard.astype(np.float32), (0, 0), 1.5)
    weight = cv2.resize(weight, (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.blendLinear(big, rgb, weight, 1.0 - weight)


class CameraEngine(Engine):
    name = "camera"

    def __init__(self, settings: CameraSettings):
        self.settings = settings
        self._flags = cv2.INTER_LINEAR if settings.interpolation == "linear" else cv2.INTER_CUBIC

    def identity(self) -> str:
        return IDENTITY if self.settings.interpolation == "linear" else f"{IDENTITY}+cubic"

    def generate(self, request: GenerationRequest) -> ClipRef:
        started = time.perf_counter()
        preset = request.preset
        source = read_photo(request.source_path, preset.background)
        src_h, src_w = source.shape[:2]
        out_w, out_h = preset.width, preset.height

        analysis_scale = min(1.0, ANALYSIS_LONG_SIDE / max(src_h, src_w))
        small = (
            source
            if analysis_scale >= 1.0
            else cv2.resize(
                source,
                (max(8, round(src_w * analysis_scale)), max(8, round(src_h * analysis_scale))),
                interpolation=cv2.INTER_AREA,
            )
        )
        mask = subject_mask(small)
        detail = None
        if preset.motion.focus == "detail":
            found = detail_focus(small, mask)
            sx, sy = src_w / small.shape[1], src_h / small.shape[0]
            detail = FocusPoint((found.x + 0.5) * sx - 0.5, (found.y + 0.5) * sy - 0.5, found.score, found.method)
        plan = plan_camera(
            preset, src_w, src_h, mask, detail, motion_scale=request.motion_scale, duration_scale=request.duration_scale
        )

        # One working copy where the tightest window maps 1:1 onto the output: every frame then shrinks
        # it by a ratio >= 1 (no enlarging a crop, little aliasing at the ratios used, <= ~1.6).
        upscale = out_w / plan.min_window_width  # output pixels per source pixel at the tightest frame
        if upscale > self.settings.max_upscale:
            raise PermanentError(
                f"source photo {src_w}x{src_h} is too small for {preset.name} ({out_w}x{out_h}): it would be "
                f"enlarged {upscale:.1f}x (limit {self.settings.max_upscale:g}x, engines.camera.max_upscale)"
            )
        k = upscale
        work_w, work_h = max(1, round(src_w * k)), max(1, round(src_h * k))
        kx, ky = work_w / src_w, work_h / src_h
        if k < 1.0:
            work = cv2.resize(source, (work_w, work_h), interpolation=cv2.INTER_AREA)
        elif k > 1.0:
            work = cv2.resize(source, (work_w, work_h), interpolation=cv2.INTER_LANCZOS4)
        else:
            work = source
        del source

        def scaled(box: Box) -> Box:
            return Box(box.x0 * kx, box.y0 * ky, box.x1 * kx, box.y1 * ky)

        layered = plan.poses[0].subject is not None
        if layered:
            work_mask = cv2.resize(mask, (work_w, work_h), interpolation=cv2.INTER_LINEAR)
            plate = clean_plate(work, work_mask)
            ys, xs = np.nonzero(work_mask > 1e-3)
            subject_bounds = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) if xs.size else None

        flags = self._flags | cv2.WARP_INVERSE_MAP
        out = Path(request.out_path)
        with MasterClipWriter(out, out_w, out_h, preset.fps) as writer:
            for pose in plan.poses:
                if layered:
                    m_bg = affine_for_box(scaled(pose.main), out_w, out_h)
                    frame = cv2.warpAffine(plate, m_bg, (out_w, out_h), flags=flags, borderMode=cv2.BORDER_REFLECT)
                    m_fg = affine_for_box(scaled(pose.subject), out_w, out_h)
                    roi = _subject_roi(m_fg, subject_bounds, out_w, out_h)
                    if roi is not None:
                        # Only the subject's box needs the second layer: warp and blend just there.
                        x0, y0, x1, y1 = roi
                        m_roi = m_fg.copy()
                        m_roi[:, 2] += m_roi[:, 0] * x0 + m_roi[:, 1] * y0
                        size = (x1 - x0, y1 - y0)
                        fg = cv2.warpAffine(work, m_roi, size, flags=flags, borderMode=cv2.BORDER_REFLECT)
                        alpha = cv2.warpAffine(
                            work_mask,
                            m_roi,
                            size,
                            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                            borderMode=cv2.BORDER_CONSTANT,
                            borderValue=0.0,
                        )
                        frame[y0:y1, x0:x1] = cv2.blendLinear(fg, frame[y0:y1, x0:x1], alpha, 1.0 - alpha)
                else:
                    matrix = affine_for_box(scaled(pose.main), out_w, out_h)
                    frame = cv2.warpAffine(work, matrix, (out_w, out_h), flags=flags, borderMode=cv2.BORDER_REFLECT)
                writer.write(frame)

        cover_w = cover_size(src_w, src_h, out_w, out_h)[0]
        zooms = [cover_w / p.main.width for p in plan.poses]  # 1.0 = the whole cover-crop
        mid = plan.poses[len(plan.poses) // 2]
        params: dict[str, Any] = {
            "engine": "camera",
            "identity": self.identity(),
            "path": plan.path,
            "amount": round(plan.amount, 4),
            "preset_amount": preset.motion.amount,
            "motion_scale": request.motion_scale,
            "duration_scale": request.duration_scale,
            "duration_s": round(plan.n_frames / preset.fps, 4),
            "loop": plan.loop,
            "focus": {
                "mode": preset.motion.focus,
                "method": plan.focus.method,
                "x": round(float(plan.focus.x), 1),
                "y": round(float(plan.focus.y), 1),
                "score": round(float(plan.focus.score), 6),
            },
            "zoom_range": [round(float(min(zooms)), 4), round(float(max(zooms)), 4)],
            "crop_first": plan.poses[0].main.as_list(),
            "crop_mid": mid.main.as_list(),
            "crop_last": plan.poses[-1].main.as_list(),
            "source_size": [src_w, src_h],
            "cover_width": round(cover_w, 2),
            "working_scale": round(float(k), 5),
            "upscale_factor": round(float(upscale), 4),
            "upscaled": bool(upscale > 1.0),
            "interpolation": self.settings.interpolation,
        }
        if layered:
            params["subject_crop_first"] = plan.poses[0].subject.as_list()
            params["subject_crop_last"] = plan.poses[-1].subject.as_list()
        if upscale > 1.0:
            params["note"] = (
                f"source photo {src_w}x{src_h} is smaller than the clip needs; enlarged {upscale:.2f}x with Lanczos"
            )
        return ClipRef(
            path=str(out),
            fps=float(preset.fps),
            n_frames=plan.n_frames,
            width=out_w,
            height=out_h,
            engine="camera",
            seed=request.seed,
            attempt=request.attempt,
            params=params,
            seconds=round(time.perf_counter() - started, 4),
        )


def _subject_roi(
    matrix: np.ndarray, bounds: tuple[int, int, int, int] | None, out_w: int, out_h: int
) -> tuple[int, int, int, int] | None:
    """Output-pixel box covering the subject layer (matrix maps output -> working coordinates)."""
    if bounds is None:
        return None
    sx, sy, tx, ty = matrix[0, 0], matrix[1, 1], matrix[0, 2], matrix[1, 2]
    bx0, by0, bx1, by1 = bounds
    x0 = int(math.floor((bx0 - 1 - tx) / sx)) - 1
    x1 = int(math.ceil((bx1 + 1 - tx) / sx)) + 1
    y0 = int(math.floor((by0 - 1 - ty) / sy)) - 1
    y1 = int(math.ceil((by1 + 1 - ty) / sy)) + 1
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(out_w, x1), min(out_h, y1)
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def make_camera_engine(settings: dict[str, Any]) -> CameraEngine:
    """The `camera` engine for `settings` (engines.camera); EngineError naming the first invalid one."""
    try:
        return CameraEngine(CameraSettings.model_validate(settings or {}))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "settings"
        raise EngineError(f"camera: invalid setting engines.camera.{where}: {first['msg']}") from None
