"""The embedded default engine `camera`: deterministic, weight-free camera motion over a still photo.

Each frame is one float affine resample (sub-pixel smooth, eased curves) of a single working copy of
the photo, made once at a scale where the most zoomed-in frame maps ~1:1 (INTER_AREA when shrinking,
Lanczos when the photo is too small), so no frame ever up-scales a crop or aliases. Frames stream
straight into the lossless master clip, written on a thread while the next frame renders; the clip is
never held in memory.

Framing keeps the whole garment (its mask's extent plus a margin) inside every frame for every preset
but a detail close-up: when the preset's aspect or the motion would cut it, the windows zoom out past the
cover crop and what lies past the photo is the studio backdrop continued from its border
(`generation.fit.extend_backdrop`, built once per clip); past `max_motion_zoom_out` the motion is
reduced instead. `params["framing"]` records what was done.

Garment motion (`motion.sway`, `hem_swing`, `breath`; generation/garment.py) moves the fabric too: its
anchored displacement field joins the camera's matrix in one map per frame, so a frame is still one
resample of the working copy, and framing keeps the box the swinging garment sweeps inside every frame.
`params["garment"]` records the amounts, the period and the structure read from the mask.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
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
from generation.fit import Box, affine_for_box, cover_size, extend_backdrop
from generation.focus import FocusPoint, GarmentExtent, detail_focus, garment_extent, subject_center
from generation.garment import (
    GarmentMotion,
    GarmentMotionSpec,
    MapBuilder,
    outline_points,
    read_structure,
)

IDENTITY = "camera/3"
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
    framing: Literal["contain", "cover"] = Field(
        default="contain",
        description="contain: every preset but a detail close-up keeps the whole garment (its mask's extent plus "
        "`framing_margin`) inside every frame, zooming out past the cover crop (the revealed area is the studio "
        "backdrop continued from the photo's border) and limiting the motion when needed; cover: always "
        "cover-crop to the preset's aspect (garment parts may leave the frame).",
    )
    framing_margin: float = Field(
        default=0.04,
        ge=0.0,
        le=0.2,
        description="Room kept between the garment's extent and each frame edge, as a fraction of that frame "
        "side; above the quality gate's framing margin so a clip the engine framed passes that check.",
    )
    max_motion_zoom_out: float = Field(
        default=1.35,
        ge=1.0,
        le=3.0,
        description="How much further than the still frame needs the camera may zoom out to keep the requested "
        "motion with the garment inside; past it the motion is reduced instead (the garment stays large).",
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
    framing: dict[str, Any] = field(default_factory=dict)
    """What framing did (params['framing']): fit, zoom_out, motion_limited_to, margin, garment_box, ..."""

    @property
    def min_window_width(self) -> float:
        """Smallest window width over every layer and frame (drives the working-copy scale)."""
        widths = [p.main.width for p in self.poses] + [p.subject.width for p in self.poses if p.subject]
        return min(widths)


@dataclass(frozen=True)
class FramingSpec:
    """How much room the garment keeps (engines.camera framing settings), for `plan_camera`."""

    margin: float = 0.04
    max_motion_zoom_out: float = 1.35


class _Stage:
    """Where windows may go: inside the photo, or past it only as far as the garment's margin needs.

    Inactive (no garment to keep whole) it is today's cover framing: windows clamped inside the photo.
    """

    def __init__(self, src_w: int, src_h: int, garment: GarmentExtent | None, margin: float):
        self.src_w, self.src_h, self.garment, self.margin = src_w, src_h, garment, margin

    def centre_range(self, size: float, axis: int) -> tuple[float, float]:
        """Interval the window centre may take along `axis` (0 = x, 1 = y) for a window of `size`."""
        src = float(self.src_w if axis == 0 else self.src_h)
        e0, e1 = 0.0, src
        cut0 = cut1 = False
        g = self.garment
        if g is not None:
            g0, g1 = (g.x0, g.x1) if axis == 0 else (g.y0, g.y1)
            cut0, cut1 = g.cut[axis], g.cut[axis + 2]
            # The canvas grows past the photo only where the garment's margin needs it (never on a cut side).
            if not cut0:
                e0 = min(e0, g0 - self.margin * size)
            if not cut1:
                e1 = max(e1, g1 + self.margin * size)
        lo, hi = e0 + size / 2.0, e1 - size / 2.0
        if lo <= hi:
            return lo, hi
        # Wider than the canvas: cover it all, flush with the side the photo cuts the garment on (if one).
        if cut0 and not cut1:
            return lo, lo
        if cut1 and not cut0:
            return hi, hi
        return hi, lo

    def place(self, cx: float, cy: float, w: float, h: float) -> Box:
        x_lo, x_hi = self.centre_range(w, 0)
        y_lo, y_hi = self.centre_range(h, 1)
        cx, cy = min(max(cx, x_lo), x_hi), min(max(cy, y_lo), y_hi)
        return Box(cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0)

    def holds(self, pose: FramePose) -> bool:
        """True when the garment's extent plus the margin lies inside the frame (the layer drawing it),
        and no layer shows backdrop past a side where the photo cuts the garment."""
        g = self.garment
        if g is None:
            return True
        tol = 0.5 * g.pixel  # the extent is only known to a mask pixel
        win = pose.subject or pose.main
        mx, my = self.margin * win.width, self.margin * win.height
        need = (win.x0 + mx - tol, win.y0 + my - tol, win.x1 - mx + tol, win.y1 - my + tol)
        have = (g.x0, g.y0, g.x1, g.y1)
        limits = (0.0, 0.0, float(self.src_w), float(self.src_h))
        for side in range(4):
            low = side < 2
            if g.cut[side]:
                for layer in (pose.main, pose.subject):
                    if layer is None:
                        continue
                    edge = (layer.x0, layer.y0, layer.x1, layer.y1)[side]
                    if (edge < limits[side] - tol) if low else (edge > limits[side] + tol):
                        return False
            elif (need[side] > have[side]) if low else (need[side] < have[side]):
                return False
        return True


def plan_camera(
    preset: Preset,
    src_w: int,
    src_h: int,
    mask: np.ndarray | None,
    detail: FocusPoint | None = None,
    *,
    motion_scale: float = 1.0,
    duration_scale: float = 1.0,
    framing: FramingSpec | None = None,
    garment_reach: Box | None = None,
    single_layer: bool = False,
) -> CameraPlan:
    """Every frame's crop window(s) for `preset` over a src_w x src_h photo; pure geometry, no pixels.

    `mask` is the subject mask at any resolution (coordinates are rescaled); `detail` is a focus point in
    source pixel coordinates for focus="detail" (computed by the caller with `detail_focus`). With
    `framing`, every preset but a detail close-up keeps the garment's whole extent plus the margin inside
    every frame: the windows zoom out past the cover crop when the aspect cannot hold the garment (the
    renderer fills what lies past the photo with backdrop), then further for the requested motion up to
    `max_motion_zoom_out`, and past that the motion is reduced. `plan.framing` records what was done.
    `garment_reach`: the box (source pixels) the garment sweeps when its fabric moves (garment motion),
    kept inside the frames as the garment is. `single_layer`: parallax_orbit as one camera following
    the subject layer's orbit (garment motion renders one map per frame; the backdrop stays with it).
    """
    motion = preset.motion
    requested = motion.amount * motion_scale
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

    garment = None
    reason = "engines.camera.framing is cover"
    if framing is not None:
        reason = "detail focus may crop"
        if motion.focus != "detail":
            garment = garment_extent(mask, src_w, src_h) if mask is not None else None
            reason = "no studio subject" if garment is None else ""
            if garment is not None and garment_reach is not None:
                # The swinging fabric must stay inside too (never past a side the photo cuts).
                c = garment.cut
                garment = replace(
                    garment,
                    x0=garment.x0 if c[0] else min(garment.x0, garment_reach.x0),
                    y0=garment.y0 if c[1] else min(garment.y0, garment_reach.y0),
                    x1=garment.x1 if c[2] else max(garment.x1, garment_reach.x1),
                    y1=garment.y1 if c[3] else max(garment.y1, garment_reach.y1),
                )
    margin = framing.margin if framing is not None else 0.0
    stage = _Stage(src_w, src_h, garment, margin)

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

    path = motion.path
    fx, fy = focus.x + 0.5, focus.y + 0.5

    def build(scale: float, amount: float) -> list[FramePose]:
        """The path at `amount`, every window `scale` times the cover crop's size (motion is relative to it)."""
        cw, ch = cover_w * scale, cover_h * scale

        def window(zoom: float, cx: float, cy: float, clamp: bool = True) -> Box:
            w, h = cw / zoom, ch / zoom
            if clamp:
                return stage.place(cx, cy, w, h)
            return Box(cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0)

        poses: list[FramePose] = []
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
                lo, hi = stage.centre_range(cw / zoom, 0)
                travel = min(0.12 * amount * cw, (hi - lo) / 2.0)
                centre = min(max(base[0], lo + travel), hi - travel)
                poses.append(FramePose(window(zoom, centre + swing(i) * travel, base[1])))
            elif path == "parallax_orbit":
                s = swing(i)
                zoom_bg = (1.0 + 0.2 * amount) * (1.0 + 0.06 * amount * p)
                zoom_fg = zoom_bg * (1.0 + 0.03 * amount * p)  # the nearer layer grows a little faster
                travel = 0.12 * amount * cw
                if single_layer:
                    poses.append(FramePose(window(zoom_fg, base[0] + 0.4 * travel * s, base[1])))
                    continue
                bg = window(zoom_bg, base[0] - 0.6 * travel * s, base[1])
                # The subject layer is not clamped: what it uncovers is filled from the clean background plate.
                fg = window(zoom_fg, bg.center[0] + travel * s, bg.center[1], clamp=False)
                poses.append(FramePose(bg, fg))
            else:  # pragma: no cover - MotionSpec validates the path
                raise EngineError(f"camera: unknown camera path {path!r}")
        return poses

    scale, factor = 1.0, 1.0
    poses = build(1.0, requested)
    if garment is not None and not all(stage.holds(p) for p in poses):
        found = _fit_garment(build, stage, requested, framing.max_motion_zoom_out)
        if found is None:
            # Nothing fits (the photo cuts the garment on opposite sides and the aspect needs more room).
            stage = _Stage(src_w, src_h, None, 0.0)
            poses = build(1.0, requested)
            reason = "the photo cuts the garment on opposite sides; kept the cover crop"
        else:
            scale, factor, poses = found
    cut = garment is not None and stage.garment is None
    record: dict[str, Any] = {
        "fit": "contain" if scale > 1.0 + 1e-9 else "cover",
        "zoom_out": round(scale, 4),
        "motion_limited_to": round(factor, 4),
        "margin": margin,
    }
    if garment is not None and not cut:
        record["garment_box"] = Box(garment.x0, garment.y0, garment.x1, garment.y1).as_list(1)
        record["photo_cuts"] = [
            side for side, c in zip(("left", "top", "right", "bottom"), garment.cut, strict=True) if c
        ]
    if reason:
        record["kept_cover"] = reason
    return CameraPlan(path, requested * factor, preset.loop, n, poses, focus, base, record)


def _fit_garment(
    build: Callable[[float, float], list[FramePose]], stage: _Stage, amount: float, max_motion_zoom_out: float
) -> tuple[float, float, list[FramePose]] | None:
    """Smallest zoom-out keeping the garment inside every frame at the requested motion, within
    `max_motion_zoom_out` of the zoom-out the still frame needs; else the most motion that fits there.

    Returns (scale, motion factor, poses), or None when even a still frame cannot hold the garment.
    """

    def holds(scale: float, factor: float) -> list[FramePose] | None:
        poses = build(scale, amount * factor)
        return poses if all(stage.holds(p) for p in poses) else None

    # The still frame's zoom-out: grow until it holds, then bisect (windows are ~monotone in scale).
    lo, hi = 1.0, 1.0
    while holds(hi, 0.0) is None:
        lo, hi = hi, hi * 1.25
        if hi > 8.0:
            return None
    for _ in range(12):
        if hi - lo < 1e-4:
            break
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if holds(mid, 0.0) is not None else (mid, hi)
    still = hi
    cap = still * max_motion_zoom_out
    if holds(cap, 1.0) is not None:
        lo, hi = still, cap
        if holds(still, 1.0) is not None:
            hi = still
        for _ in range(12):
            if hi - lo < 1e-4:
                break
            mid = 0.5 * (lo + hi)
            lo, hi = (lo, mid) if holds(mid, 1.0) is not None else (mid, hi)
        return hi, 1.0, holds(hi, 1.0) or build(hi, amount)
    # Even the largest allowed zoom-out cannot hold the full motion: keep the most motion over a few scales.
    best: tuple[float, float] = (still, 0.0)
    for step in range(5):
        scale = still * max_motion_zoom_out ** (step / 4)
        lo_f, hi_f = 0.0, 1.0
        for _ in range(8):
            mid = 0.5 * (lo_f + hi_f)
            lo_f, hi_f = (mid, hi_f) if holds(scale, mid) is not None else (lo_f, mid)
        if lo_f > best[1] + 1e-6:
            best = (scale, lo_f)
    scale, factor = best
    return scale, factor, holds(scale, factor) or build(scale, 0.0)


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
        framing = None
        if self.settings.framing == "contain":
            framing = FramingSpec(self.settings.framing_margin, self.settings.max_motion_zoom_out)
        plan, motion, garment_params = plan_clip(
            preset,
            src_w,
            src_h,
            mask,
            detail,
            motion_scale=request.motion_scale,
            duration_scale=request.duration_scale,
            framing=framing,
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
        # Windows past the photo (a zoom-out that keeps the garment whole) read from a canvas grown by the
        # backdrop once per clip, so each frame is still one resample of one picture.
        pad = _reveal(plan, work_w, work_h, kx, ky)
        off_x, off_y = pad[0], pad[1]
        if any(pad):
            if layered:
                plate = extend_backdrop(plate, mask, pad)
            else:
                work = extend_backdrop(work, mask, pad)

        flags = self._flags | cv2.WARP_INVERSE_MAP
        maps = MapBuilder(out_w, out_h) if motion is not None else None
        out = Path(request.out_path)
        with MasterClipWriter(out, out_w, out_h, preset.fps) as writer, _FrameSink(writer, out_w, out_h) as sink:
            for i, pose in enumerate(plan.poses):
                frame = sink.buffer()
                matrix = affine_for_box(scaled(pose.main), out_w, out_h)
                matrix[:, 2] += (off_x, off_y)
                if maps is not None:
                    # Camera and fabric in one map: each pixel is still one resample of the working copy.
                    grid = maps.build(matrix, (kx, ky, off_x, off_y), motion, i)
                    cv2.remap(work, grid, None, self._flags, dst=frame, borderMode=cv2.BORDER_REFLECT)
                elif layered:
                    cv2.warpAffine(plate, matrix, (out_w, out_h), dst=frame, flags=flags, borderMode=cv2.BORDER_REFLECT)
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
                    cv2.warpAffine(work, matrix, (out_w, out_h), dst=frame, flags=flags, borderMode=cv2.BORDER_REFLECT)
                sink.write(frame)

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
            "framing": {**plan.framing, "revealed": bool(any(pad))},
            "garment": garment_params,
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


class _FrameSink:
    """Frames handed to the master writer on one background thread while the next frame renders.

    Writing a raw master is a pipe copy that ffmpeg drains on the other core; done inline it stalls the
    renderer (~1/3 of a social clip's wall time). A ring of preallocated frames bounds the memory
    (`depth` frames) and avoids a fresh 6 MB allocation per frame; a write's error is raised here.
    """

    def __init__(self, writer: MasterClipWriter, width: int, height: int, depth: int = 3):
        self._writer = writer
        self._ring = [np.empty((height, width, 3), np.uint8) for _ in range(depth)]
        self._pending: list[Future[None] | None] = [None] * depth
        self._next = 0
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="master-writer")

    def buffer(self) -> np.ndarray:
        """The next free frame buffer (waits for its previous write, raising that write's error)."""
        slot = self._next % len(self._ring)
        pending, self._pending[slot] = self._pending[slot], None
        if pending is not None:
            pending.result()
        return self._ring[slot]

    def write(self, frame: np.ndarray) -> None:
        """Queue `frame` (the buffer last returned by `buffer`) for writing, in order."""
        slot = self._next % len(self._ring)
        self._pending[slot] = self._pool.submit(self._writer.write, frame)
        self._next += 1

    def __enter__(self) -> _FrameSink:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._pool.shutdown(wait=True, cancel_futures=exc_type is not None)
        if exc_type is None:
            for pending in self._pending:
                if pending is not None:
                    pending.result()


def plan_clip(
    preset: Preset,
    src_w: int,
    src_h: int,
    mask: np.ndarray,
    detail: FocusPoint | None = None,
    *,
    motion_scale: float = 1.0,
    duration_scale: float = 1.0,
    framing: FramingSpec | None = None,
) -> tuple[CameraPlan, GarmentMotion | None, dict[str, Any]]:
    """What the engine renders: the camera plan (framed around the garment as far as its fabric swings),
    the garment's motion (None when there is none) and params['garment']."""
    motion, garment_params = garment_motion_for(preset, mask, src_w, src_h, motion_scale, duration_scale)
    reach = motion.swept_box(outline_points(mask, src_w, src_h)) if motion is not None else None
    plan = plan_camera(
        preset,
        src_w,
        src_h,
        mask,
        detail,
        motion_scale=motion_scale,
        duration_scale=duration_scale,
        framing=framing,
        garment_reach=reach,
        single_layer=motion is not None,
    )
    return plan, motion, garment_params


def garment_motion_for(
    preset: Preset, mask: np.ndarray, src_w: int, src_h: int, motion_scale: float = 1.0, duration_scale: float = 1.0
) -> tuple[GarmentMotion | None, dict[str, Any]]:
    """The garment's motion for this preset (None when it asks for none or the photo has no studio
    garment) and what to record of it in params['garment']."""
    m = preset.motion
    spec = GarmentMotionSpec(
        sway=m.sway * motion_scale,
        hem_swing=m.hem_swing * motion_scale,
        breath=m.breath * motion_scale,
        period_s=m.sway_period_s,
        direction=1.0 if m.sway_direction == "right" else -1.0,
    )
    if not spec.active:
        return None, {"active": False, "reason": "the preset asks for no garment motion"}
    if garment_extent(mask, src_w, src_h) is None:
        return None, {"active": False, "reason": "no studio garment in the photo"}
    structure = read_structure(mask, src_w, src_h, spec)
    if structure is None:
        return None, {"active": False, "reason": "no studio garment in the photo"}
    n = max(2, round(preset.duration_s * duration_scale * preset.fps))
    motion = GarmentMotion(structure, spec, n, preset.fps, preset.loop)
    return motion, {
        "active": True,
        "sway": round(spec.sway, 5),
        "hem_swing": round(spec.hem_swing, 5),
        "breath": round(spec.breath, 5),
        "period_s": round(motion.period_s, 4),
        "direction": m.sway_direction,
        **structure.as_params(),
    }


def _reveal(plan: CameraPlan, work_w: int, work_h: int, kx: float, ky: float) -> tuple[int, int, int, int]:
    """Working-copy pixels (left, top, right, bottom) the main layer's windows reach past the photo."""
    x0 = min(p.main.x0 for p in plan.poses) * kx
    y0 = min(p.main.y0 for p in plan.poses) * ky
    x1 = max(p.main.x1 for p in plan.poses) * kx - work_w
    y1 = max(p.main.y1 for p in plan.poses) * ky - work_h
    # +2: the resampling filter's support past the outermost window edge.
    return tuple(math.ceil(v) + 2 if v > 1e-3 else 0 for v in (-x0, -y0, x1, y1))  # type: ignore[return-value]


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
