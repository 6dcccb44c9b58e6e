"""Check "motion": a clip moves at least a visible share of what its preset asks for, and not much more.

Camera motion comes from the drift alignment's warps (frame -> photo): each sampled frame's map is
turned into a map onto the first usable frame, and its extent is how far the frame's corners travel,
in % of the frame's long side (a zoom moves the corners, a pan moves everything; rotation counts too).
The preset's request is turned into the same unit from the `camera` engine's geometry per path
(generation/camera.py: breathing zooms 8 % x amount and back, push_in zooms 60 % x amount, or 50 %
for a detail close-up, pan travels 12 % x amount of the cover width each way, parallax_orbit moves
its subject layer 0.4 and its background 0.6 of that travel and zooms 6-9 % x amount).

Local motion (fabric sway, a generator that animates the garment but not the camera) is the 90th
percentile, inside the subject, of DIS optical flow from the first usable frame to a few sampled
frames at low resolution minus the flow the camera warps predict, in the same unit. A clip passes
the minimum when either kind of motion reaches it, so a still with faint noise (neither) fails.

Limits: the maximum (camera motion only; local motion is the drift checks' business) is
`max_motion_margin` x the preset's nominal extent + `max_motion_slack_pct`. The minimum is
`min_motion_fraction` x the nominal extent x the smallest motion scale "ask for less" can reach with
the preset's policy (motion_factor ** (max_attempts - 1); 0.25 with the defaults), so a retry with
less motion never fails for having less motion. Static presets (path static or amount 0) skip it.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from catalog_motion.presets import Preset
from quality.evidence import CheckResult, ClipEvidence, Finding

FLOW_LONG_SIDE = 96  # local motion is a large-scale effect: flow at ~1/3 of the work size is ample and cheap
FLOW_SAMPLES = 8  # frames compared with the first usable one
MIN_ALIGNMENT = 0.2  # samples the aligner could not place (drift fails them) say nothing about the camera


def _corners(w: float, h: float) -> np.ndarray:
    return np.array([[0.0, 0.0], [w - 1.0, 0.0], [0.0, h - 1.0], [w - 1.0, h - 1.0]])


def _invert(warp: np.ndarray) -> np.ndarray:
    return cv2.invertAffineTransform(np.asarray(warp, np.float64).reshape(2, 3))


def _apply(warp: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ warp[:, :2].T + warp[:, 2]


def camera_extent(warps: list[np.ndarray], size: tuple[int, int]) -> tuple[float, int]:
    """Largest corner travel of any frame relative to the first, in % of the long side, and which warp.

    `warps` map frames (work pixels, `size` = (w, h)) to one common photo coordinate system; frame k's
    corners are carried through photo coordinates into the first frame: W0^-1(Wk(c)) - c."""
    if len(warps) < 2:
        return 0.0, 0
    w, h = size
    corners = _corners(w, h)
    back = _invert(warps[0])
    travel = []
    for warp in warps:
        in_photo = _apply(np.asarray(warp, np.float64).reshape(2, 3), corners)
        travel.append(float(np.linalg.norm(_apply(back, in_photo) - corners, axis=1).max()))
    k = int(np.argmax(travel))
    return 100.0 * travel[k] / max(w, h), k


def _ease(t: float) -> float:
    return 0.5 - 0.5 * math.cos(math.pi * min(max(t, 0.0), 1.0))


def _layers(path: str, amount: float, loop: bool, focus: str, t: float) -> list[tuple[float, float]]:
    """(zoom, horizontal window centre in cover widths) of each camera layer at clip phase t in [0, 1),
    as generation/camera.py plans them (clamping to the photo's edge aside)."""
    a = amount
    progress = 0.5 - 0.5 * math.cos(2 * math.pi * t) if loop else _ease(t)
    swing = math.sin(2 * math.pi * t) if loop else 2 * _ease(t) - 1
    if path == "static" or a <= 0:
        return [(1.0, 0.0)]
    if path == "breathing":  # always periodic
        return [(1.0 + 0.08 * a * (0.5 - 0.5 * math.cos(2 * math.pi * t)), 0.0)]
    if path == "push_in":
        if focus == "detail":
            return [((1.0 + a) * (1.0 + 0.5 * a * progress), 0.0)]
        return [(1.0 + 0.6 * a * progress, 0.0)]
    if path == "pan":
        return [(1.0 + 0.3 * a, 0.12 * a * swing)]
    if path == "parallax_orbit":
        zoom_bg = (1.0 + 0.2 * a) * (1.0 + 0.06 * a * progress)
        zoom_fg = zoom_bg * (1.0 + 0.03 * a * progress)
        travel = 0.12 * a
        return [(zoom_fg, 0.4 * travel * swing), (zoom_bg, -0.6 * travel * swing)]
    raise ValueError(f"unknown camera path {path!r}")


def nominal_extent(
    path: str, amount: float, *, loop: bool, focus: str, size: tuple[int, int], steps: int = 65
) -> tuple[float, float]:
    """(smallest, largest) camera-layer extent, in % of the long side, that the `camera` engine renders
    for this request: the same corner-travel measure as `camera_extent`, on the planned geometry."""
    w, h = size
    corners = _corners(w, h) - np.array([(w - 1) / 2.0, (h - 1) / 2.0])
    start = _layers(path, amount, loop, focus, 0.0)
    peaks = [0.0] * len(start)
    for i in range(steps):
        t = i / steps if loop or path == "breathing" else i / (steps - 1)
        for j, ((z, cx), (z0, cx0)) in enumerate(zip(_layers(path, amount, loop, focus, t), start, strict=True)):
            # frame t pixel q (from the centre) shows the photo point that frame 0 shows at q*z0/z + shift
            shift = np.array([(cx - cx0) * z0 * w, 0.0])
            moved = corners * (z0 / z) + shift - corners
            peaks[j] = max(peaks[j], float(np.linalg.norm(moved, axis=1).max()))
    return 100.0 * min(peaks) / max(w, h), 100.0 * max(peaks) / max(w, h)


def lowest_motion_scale(preset: Preset) -> float:
    """The smallest motion scale "ask for less" reaches for this preset (the last attempt's)."""
    policy = preset.ask_for_less
    return float(policy.motion_factor ** (policy.max_attempts - 1))


def motion_limits(preset: Preset, size: tuple[int, int]) -> tuple[float, float, float, float]:
    """(nominal low, nominal high, minimum, maximum) motion in % of the long side for `preset`."""
    th, motion = preset.qc, preset.motion
    low, high = nominal_extent(motion.path, motion.amount, loop=preset.loop, focus=motion.focus, size=size)
    minimum = th.min_motion_fraction * low * lowest_motion_scale(preset)
    maximum = th.max_motion_margin * high + th.max_motion_slack_pct
    return low, high, minimum, maximum


def _small_gray(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return cv2.cvtColor(cv2.resize(frame, size, interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)


def local_motion(
    frames: np.ndarray,
    reference: int,
    targets: list[int],
    warp_at,
    subject: np.ndarray,
    long_side: int = FLOW_LONG_SIDE,
) -> tuple[float, int]:
    """Largest subject motion the camera does not explain, in % of the long side, and at which frame.

    Per target frame: DIS flow reference -> target at `long_side`, minus the displacement the camera
    warps predict (reference pixel -> photo -> target pixel), 90th percentile of its length inside the
    `subject` (bool, frame size, as the reference shows it)."""
    h, w = frames.shape[1:3]
    scale = min(1.0, long_side / max(w, h))
    sw, sh = max(8, round(w * scale)), max(8, round(h * scale))
    sx, sy = sw / w, sh / h
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
    ref = _small_gray(frames[reference], (sw, sh))
    inside = cv2.resize(subject.astype(np.uint8), (sw, sh), interpolation=cv2.INTER_NEAREST) > 0
    if inside.sum() < 16:
        inside = np.ones_like(inside)
    # reference grid in work pixels (pixel centres of the small image)
    gx, gy = np.meshgrid((np.arange(sw) + 0.5) / sx - 0.5, (np.arange(sh) + 0.5) / sy - 0.5)
    grid = np.stack([gx[inside], gy[inside]], axis=1)
    in_photo = _apply(np.asarray(warp_at(reference), np.float64).reshape(2, 3), grid)
    best, where = 0.0, reference
    for k in targets:
        flow = dis.calc(ref, _small_gray(frames[k], (sw, sh)), None)
        measured = np.stack([flow[..., 0][inside] / sx, flow[..., 1][inside] / sy], axis=1)
        predicted = _apply(_invert(warp_at(k)), in_photo) - grid
        residual = np.linalg.norm(measured - predicted, axis=1)
        value = float(np.percentile(residual, 90)) if residual.size else 0.0
        if value > best:
            best, where = value, k
    return 100.0 * best / max(w, h), where


def evaluate(evidence: ClipEvidence) -> CheckResult:
    """Check "motion": camera extent and local motion against the preset's minimum and maximum."""
    preset = evidence.preset
    size = evidence.size
    result = CheckResult()
    low, high, minimum, maximum = motion_limits(preset, size)
    drift = evidence.drift
    usable = [
        (i, warp)
        for i, warp, rho in zip(drift.frames, drift.warps, drift.alignment or [1.0] * len(drift.frames), strict=True)
        if rho >= MIN_ALIGNMENT and not (i < len(evidence.black) and evidence.black[i])
    ]
    usable.sort(key=lambda item: item[0])
    camera, k = camera_extent([w for _, w in usable], size)
    camera_frame = usable[k][0] if usable else 0
    frames_ok = [i for i in range(evidence.n_frames) if not (i < len(evidence.black) and evidence.black[i])]
    local, local_frame = 0.0, 0
    if evidence.moving and len(frames_ok) >= 2 and usable:
        reference = frames_ok[0]
        picks = np.linspace(0, len(frames_ok) - 1, min(FLOW_SAMPLES, len(frames_ok) - 1) + 1).round().astype(int)
        targets = sorted({frames_ok[p] for p in picks[1:]})
        local, local_frame = local_motion(
            evidence.frames, reference, targets, evidence.warp_at, evidence.subject_mask_at(reference)
        )
    result.scores.update(
        motion_camera_pct=camera,
        motion_local_pct=local,
        motion_nominal_pct=high,
        motion_frame=float(camera_frame),
    )
    result.limits.update(min_motion_pct=minimum if evidence.moving else 0.0, max_motion_pct=maximum)
    if camera > maximum:
        result.findings.append(
            Finding(
                "motion",
                f"camera moves more than preset {preset.name} asks ({preset.motion.path} {preset.motion.amount:g}: "
                f"{high:.2f} % nominal); corner travel",
                camera,
                maximum,
                frame=camera_frame,
                fps=evidence.fps,
                unit="%",
            )
        )
    if evidence.moving and max(camera, local) < minimum:
        result.findings.append(
            Finding(
                "motion",
                f"clip barely moves: preset {preset.name} asks for {preset.motion.path} {preset.motion.amount:g} "
                f"({low:.2f} % nominal); largest camera or subject motion",
                max(camera, local),
                minimum,
                frame=camera_frame if camera >= local else local_frame,
                fps=evidence.fps,
                above=False,
                unit="%",
            )
        )
    return result
