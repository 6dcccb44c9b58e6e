"""Technical checks on decoded frames (black/blank, frozen, loop seam) and on an encoded file's container."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from catalog_motion.media import probe


@dataclass
class FrameChecks:
    black: list[bool]  # per frame: black (ffmpeg blackdetect-like) or blank (flat, any colour)
    frame_change: list[float]  # per pair: mean |RGB difference| in [0, 1]
    frozen_seconds: float  # longest stretch without visible change
    loop_seam: float  # last->first change / median consecutive change (0 when not a loop)


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
    longest = 0
    n = len(frames)
    start = 0
    while start < n - 1:
        end = start
        while end + 1 < n and _change(frames[start], frames[end + 1]) < noise:
            end += 1
        longest = max(longest, end - start)
        start = end + 1 if end > start else start + 1
    return longest / fps if fps > 0 else 0.0


def loop_seam_ratio(frames: np.ndarray, changes: np.ndarray, noise: float) -> float:
    seam = float(np.abs(frames[-1].astype(np.int16) - frames[0].astype(np.int16)).mean() / 255.0)
    typical = float(np.median(changes)) if changes.size else 0.0
    return seam / max(typical, noise)


def frame_checks(frames: np.ndarray, fps: float, *, noise: float, loop: bool) -> FrameChecks:
    changes = frame_changes(frames)
    return FrameChecks(
        black=black_or_blank(frames),
        frame_change=changes.tolist(),
        frozen_seconds=longest_frozen(frames, fps, noise),
        loop_seam=loop_seam_ratio(frames, changes, noise) if loop else 0.0,
    )


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
