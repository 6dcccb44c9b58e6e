"""Technical checks on decoded frames and on an encoded file's container.

`evaluate(evidence)` (the gate calls it) holds a decoded clip to its preset: `technical` (size, frame
rate), `duration` (length against the preset, not the engine's own count; a file whose decoding stopped
early), `black_frames`, `frozen` and, for loop presets, `loop_seam`. `conformance` probes a delivery file.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from catalog_motion.media import probe
from catalog_motion.presets import Preset
from quality.evidence import CheckResult, ClipEvidence, Finding


def black_or_blank(
    frames: np.ndarray, pix_th: float = 0.10, pic_th: float = 0.98, flat_std: float = 0.01
) -> list[bool]:
    """Black: >= `pic_th` of pixels darker than `pix_th` (ffmpeg blackdetect defaults). Blank: a flat
    frame of any colour (luma std < `flat_std`) - what NaN/inf outputs of a generator usually become."""
    out = []
    for frame in frames:
        gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        dark = np.count_nonzero(gray < pix_th * 255) >= pic_th * gray.size
        _, std = cv2.meanStdDev(gray)
        out.append(bool(dark or float(std[0, 0]) < flat_std * 255))
    return out


def frame_changes(frames: np.ndarray) -> np.ndarray:
    """Mean absolute RGB change between consecutive frames, in [0, 1]."""
    return np.array([_change(a, b) for a, b in zip(frames[:-1], frames[1:], strict=True)])


def _change(a: np.ndarray, b: np.ndarray) -> float:
    return sum(cv2.mean(cv2.absdiff(a, b))[:3]) / 3.0 / 255.0


def longest_frozen(frames: np.ndarray, fps: float, noise: float) -> float:
    """Seconds of the longest stretch whose *first and last* frames differ by less than `noise`.

    Comparing across the stretch, not neighbour to neighbour, keeps a slow camera (a breathing loop
    at its turning point moves a few hundredths of a pixel per frame) from looking frozen, while a
    held frame, or a generator stuck on one image with faint noise, is caught."""
    return frozen_stretch(frames, fps, noise)[0]


def frozen_stretch(frames: np.ndarray, fps: float, noise: float) -> tuple[float, int]:
    """(seconds, first frame) of the longest frozen stretch (see `longest_frozen`)."""
    longest, where = 0, 0
    n = len(frames)
    start = 0
    while start < n - 1:
        end = start
        while end + 1 < n and _change(frames[start], frames[end + 1]) < noise:
            end += 1
        if end - start > longest:
            longest, where = end - start, start
        start = end + 1 if end > start else start + 1
    return (longest / fps if fps > 0 else 0.0), where


def loop_seam_ratio(frames: np.ndarray, changes: np.ndarray, noise: float) -> float:
    seam = float(np.abs(frames[-1].astype(np.int16) - frames[0].astype(np.int16)).mean() / 255.0)
    typical = float(np.median(changes)) if changes.size else 0.0
    return seam / max(typical, noise)


# --- loop seam --------------------------------------------------------------------------------------
SEAM_MOTION_FLOOR_PCT = 0.05  # per-frame camera step (% of the long side) below which a loop is "still"
SEAM_PAIRS = 16  # consecutive steps sampled for the typical low-passed picture step


def _low_pass(frames: np.ndarray, long_side: int) -> np.ndarray:
    """Frames shrunk by a whole factor to about `long_side` (box averages: OpenCV's fast path, ~3x
    quicker than a fractional area resize)."""
    h, w = frames.shape[1:3]
    factor = max(1, math.ceil(max(w, h) / long_side))
    sw, sh = max(1, w // factor), max(1, h // factor)
    crop = frames[:, : sh * factor, : sw * factor]
    return np.stack([cv2.resize(f, (sw, sh), interpolation=cv2.INTER_AREA) for f in crop])


def picture_seam(frames: np.ndarray, long_side: int, noise: float) -> tuple[float, float, float]:
    """(ratio, seam step, typical step) of the last->first change on low-passed frames.

    Frames are shrunk to `long_side` with area averaging first: the encoder's sharper first frame and its
    compression noise live in fine detail, a seam (the picture not coming back) moves the whole frame.
    Steps are mean absolute RGB differences in [0, 1]; the typical step is the median consecutive one,
    floored at `noise` so a nearly still loop is not judged on what is left of the compression noise."""
    n = len(frames)
    # the median of a few evenly spaced consecutive steps is the typical step (cheaper than all of them)
    starts = sorted({int(round(v)) for v in np.linspace(0, n - 2, min(SEAM_PAIRS, n - 1))})
    picked = sorted({0, n - 1, *starts, *(i + 1 for i in starts)})
    small = dict(zip(picked, _low_pass(frames[picked], long_side), strict=True))
    steps = [_change(small[i], small[i + 1]) for i in starts]
    seam = _change(small[n - 1], small[0])
    typical = float(np.median(steps)) if steps else 0.0
    return seam / max(typical, noise), seam, typical


def camera_seam(
    frames: list[int], warps: list[np.ndarray], n_frames: int, size: tuple[int, int]
) -> tuple[float, float, float]:
    """(ratio, seam step, typical step) of the camera's last->first move, from the drift alignment's warps
    (frame -> photo; alignment ignores compression noise and brightness), in % of the long side.

    The seam step is the corner travel between the last and the first frame; the typical step is the
    median per-frame corner travel between consecutive samples, floored at SEAM_MOTION_FLOOR_PCT. Zero
    when the first or last frame was not aligned."""
    from quality.motion import camera_extent

    if len(frames) < 3 or frames[0] != 0 or frames[-1] != n_frames - 1:
        return 0.0, 0.0, 0.0
    seam = camera_extent([warps[-1], warps[0]], size)[0]
    per_frame = [
        camera_extent([warps[k], warps[k + 1]], size)[0] / max(1, frames[k + 1] - frames[k])
        for k in range(len(frames) - 1)
    ]
    typical = float(np.median(per_frame))
    return seam / max(typical, SEAM_MOTION_FLOOR_PCT), seam, typical


SEAM_REGISTER_LONG_SIDE = 160  # px: frames registered directly for the seam (ECC on blurred grey)


def _register(a: np.ndarray, b: np.ndarray) -> np.ndarray | None:
    """Affine map from grey frame `b` to grey frame `a` (ECC, identity start), or None when ECC fails."""
    warp = np.eye(2, 3, dtype=np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 60, 1e-5)
    try:
        _, warp = cv2.findTransformECC(a, b, warp, cv2.MOTION_AFFINE, criteria, None, 5)
    except cv2.error:
        return None
    return warp


def _corner_travel_pct(warp: np.ndarray, w: int, h: int) -> float:
    corners = np.array([[-0.5, -0.5], [w - 0.5, -0.5], [-0.5, h - 0.5], [w - 0.5, h - 0.5]], np.float64)
    moved = corners @ warp[:, :2].T.astype(np.float64) + warp[:, 2].astype(np.float64)
    return 100.0 * float(np.linalg.norm(moved - corners, axis=1).max()) / max(w, h)


def direct_seam(frames: np.ndarray) -> tuple[float, float, float]:
    """(ratio, seam step, typical step) of the camera's last->first move measured on the frames alone: the
    last frame registered directly onto the first (no photo, no drift samples), against the two steps
    beside the seam (n-2 -> n-1 and 0 -> 1, where a loop moves as it should across it), in % of the long
    side; the typical step is floored at SEAM_MOTION_FLOOR_PCT. Zero when a registration fails."""
    n = len(frames)
    if n < 4:
        return 0.0, 0.0, 0.0
    h, w = frames.shape[1:3]
    scale = min(1.0, SEAM_REGISTER_LONG_SIDE / max(h, w))
    size = (max(8, int(round(w * scale))), max(8, int(round(h * scale))))

    def grey(i: int) -> np.ndarray:
        g = cv2.cvtColor(cv2.resize(frames[i], size, interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)
        return cv2.GaussianBlur(g.astype(np.float32), (0, 0), 1.0)

    first, second, before, last = grey(0), grey(1), grey(n - 2), grey(n - 1)
    warps = [_register(first, last), _register(last, before), _register(second, first)]
    if any(m is None for m in warps):
        return 0.0, 0.0, 0.0
    seam, *beside = (_corner_travel_pct(m, *size) for m in warps)
    typical = float(np.median(beside))
    return seam / max(typical, SEAM_MOTION_FLOOR_PCT), seam, typical


def expected_codec(path: Path) -> str:
    return {"webm": "vp9", "mkv": "h264"}.get(path.suffix.lower().lstrip("."), "h264")


def conformance(
    video_path: str | Path,
    *,
    width: int,
    height: int,
    fps: float,
    n_frames: int,
    codec: str | None = None,
    pix_fmt: str = "yuv420p",
) -> tuple[dict[str, float], list[str]]:
    """Scores and failure reasons for an encoded file against what the preset asks for."""
    path = Path(video_path)
    facts = probe(path)
    codec = codec or expected_codec(path)
    reasons: list[str] = []
    frame_s = 1.0 / fps
    expected_duration = n_frames / fps
    scores = {
        "width": float(facts.width),
        "height": float(facts.height),
        "fps": float(facts.fps),
        "n_frames": float(facts.n_frames),
        "duration_s": float(facts.duration_s),
        "duration_error_s": abs(float(facts.duration_s) - expected_duration),
    }
    if facts.codec != codec:
        reasons.append(f"codec is {facts.codec}, expected {codec}")
    if facts.pix_fmt != pix_fmt:
        reasons.append(f"pixel format is {facts.pix_fmt}, expected {pix_fmt}")
    if (facts.width, facts.height) != (width, height):
        reasons.append(f"size is {facts.width}x{facts.height}, expected {width}x{height}")
    if abs(float(facts.fps) - fps) > 0.01:
        reasons.append(f"frame rate is {float(facts.fps):.3f}, expected {fps:g}")
    if facts.n_frames != n_frames:
        reasons.append(f"has {facts.n_frames} frames, expected {n_frames}")
    if scores["duration_error_s"] > frame_s + 1e-6:
        reasons.append(f"duration is {facts.duration_s:.3f} s, expected {expected_duration:.3f} s within one frame")
    scores["conformant"] = 0.0 if reasons else 1.0
    return scores, reasons


# --- the gate's technical checks ---------------------------------------------------------------------
def shortest_fraction(preset: Preset) -> float:
    """Shortest allowed length as a fraction of the preset's duration: what its "ask for less" policy may
    plan for the last attempt, less the `min_duration_fraction` slack."""
    policy = preset.ask_for_less
    return preset.qc.min_duration_fraction * policy.duration_factor ** (policy.max_attempts - 1)


def duration_findings(
    n_frames: int,
    fps: float,
    *,
    preset_name: str,
    preset_frames: int,
    preset_seconds: float,
    min_fraction: float,
    max_fraction: float,
    n_estimate: int = 0,
    decode_error: str | None = None,
) -> list[Finding]:
    """Length against the preset (not the engine's own count), and a file that stopped decoding early.

    "Ask for less" may shorten a clip on purpose, so anything down to `min_fraction` of the preset's
    duration passes; more than `max_fraction` of it (plus one frame of rounding) fails too."""
    out: list[Finding] = []
    fps = fps if fps > 0 else float(preset_frames) / preset_seconds
    expected = max(n_estimate, 0)
    # A container that announced more frames than decoded (MP4 states its count; Matroska its duration,
    # rounded: one frame of slack) or a decoder that stopped with an error: the file is cut short.
    if decode_error or (expected and n_frames < expected - 1):
        of = expected if expected > n_frames else preset_frames
        why = f" ({decode_error})" if decode_error else ""
        out.append(
            Finding(
                "duration",
                f"file is truncated after {n_frames} of {of} frames{why}; frames decoded",
                float(n_frames),
                float(of),
                frame=n_frames,
                fps=fps,
                above=False,
            )
        )
    seconds = n_frames / fps
    shortest = min_fraction * preset_seconds
    # the frame count decides: a clip of ceil(shortest * fps) frames passes however the division rounds
    needed = max(2, math.ceil(shortest * fps - 1e-6))
    if n_frames < needed and not out:  # a truncated file is reported once, as truncated
        out.append(
            Finding(
                "duration",
                f"clip is {seconds:.2f} s ({n_frames} frames), preset {preset_name} needs {preset_seconds:.2f} s "
                f"({preset_frames} frames); length",
                seconds,
                shortest,
                above=False,
                unit="s",
            )
        )
    longest = max_fraction * preset_seconds
    if n_frames > math.floor(longest * fps + 1e-6) + 1:
        out.append(
            Finding(
                "duration",
                f"clip is {seconds:.2f} s ({n_frames} frames), preset {preset_name} needs {preset_seconds:.2f} s "
                f"({preset_frames} frames); length",
                seconds,
                longest,
                unit="s",
            )
        )
    return out


def evaluate(evidence: ClipEvidence) -> CheckResult:
    """technical (size, fps), duration, black_frames, frozen and loop_seam of one decoded clip."""
    preset, th = evidence.preset, evidence.thresholds
    frames, fps, n = evidence.frames, evidence.fps, evidence.n_frames
    black = list(evidence.black) if len(evidence.black) == n else black_or_blank(frames)
    changes = frame_changes(frames)
    frozen_s, frozen_at = frozen_stretch(frames, fps, th.frozen_noise)
    result = CheckResult(
        scores={
            "black_frames": float(sum(black)),
            "frozen_s": frozen_s,
            "duration_s": n / fps if fps > 0 else 0.0,
            "duration_fraction": (n / fps) / preset.duration_s if fps > 0 else 0.0,
        },
        per_frame={"black": [float(b) for b in black], "frame_change": changes.tolist()},
        limits={
            "black_frames": float(th.max_black_frames),
            "min_duration_s": shortest_fraction(preset) * preset.duration_s,
            "max_duration_s": th.max_duration_fraction * preset.duration_s,
        },
    )
    find = result.findings
    if (evidence.width, evidence.height) != (preset.width, preset.height):
        which, value, limit = (
            ("width", evidence.width, preset.width)
            if evidence.width != preset.width
            else ("height", evidence.height, preset.height)
        )
        find.append(
            Finding(
                "technical",
                f"clip is {evidence.width}x{evidence.height}, preset {preset.name} needs "
                f"{preset.width}x{preset.height}; {which}",
                float(value),
                float(limit),
                above=value > limit,
                unit="px",
            )
        )
    if abs(fps - preset.fps) > 0.01:
        find.append(
            Finding(
                "technical",
                f"frame rate differs from preset {preset.name}'s",
                fps,
                float(preset.fps),
                above=fps > preset.fps,
                unit="fps",
            )
        )
    short = duration_findings(
        n,
        fps,
        preset_name=preset.name,
        preset_frames=preset.n_frames,
        preset_seconds=preset.duration_s,
        min_fraction=shortest_fraction(preset),
        max_fraction=th.max_duration_fraction,
        n_estimate=evidence.n_estimate,
        decode_error=evidence.decode_error,
    )
    find.extend(short)
    if sum(black) > th.max_black_frames:
        find.append(
            Finding(
                "black_frames",
                "black or blank frames",
                float(sum(black)),
                float(th.max_black_frames),
                black.index(True),
                fps,
            )
        )
    if evidence.moving:
        result.limits["frozen_s"] = th.max_frozen_seconds
        if frozen_s > th.max_frozen_seconds:
            find.append(
                Finding(
                    "frozen",
                    "frozen stretch (no visible change)",
                    frozen_s,
                    th.max_frozen_seconds,
                    frozen_at,
                    fps,
                    unit="s",
                )
            )
    result.scores["loop_seam"] = 0.0  # not a loop: no seam (a QC-table column for every clip)
    if preset.loop:
        picture, seam, typical = picture_seam(frames, th.loop_seam_long_side, th.loop_seam_noise)
        drift = evidence.drift
        camera, camera_step, camera_typical = camera_seam(drift.frames, drift.warps, n, evidence.size)
        direct, direct_step, _ = direct_seam(frames)
        worst = max(picture, camera, direct)
        result.scores.update(
            loop_seam=worst,
            loop_seam_picture=picture,
            loop_seam_camera=camera,
            loop_seam_direct=direct,
            loop_seam_step=seam,
            loop_seam_camera_pct=camera_step,
            loop_seam_direct_pct=direct_step,
        )
        result.limits["loop_seam"] = th.max_loop_seam
        # a cut-short clip cannot loop: its fault is reported once, as `duration`
        if worst > th.max_loop_seam and not short:
            if direct >= max(picture, camera):
                what = (
                    f"the last frame does not come back to the first (moved {direct_step:.2f} % of the long "
                    "side, registered directly; x the steps beside the seam)"
                )
            elif camera >= picture:
                what = "camera jump between the last and first frame (x a normal frame step)"
            else:
                what = "picture change between the last and first frame, low-passed (x a normal frame step)"
            find.append(Finding("loop_seam", f"loop seam: {what}", worst, th.max_loop_seam, n - 1, fps, unit="x"))
    return result
