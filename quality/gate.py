"""The quality gate: one verdict (QCReport) per clip, from drift, flicker and technical checks.

``check_clip`` scores a lossless master clip against its source photo; ``check_encoded`` checks an
encoded delivery file's container. Thresholds come from ``preset.qc`` (QCThresholds in catalog_motion/presets.py).
``failed_checks`` names are stable; quality/verdict.py says which are worth "asking for less" motion.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from catalog_motion.images import read_photo, subject_mask
from catalog_motion.media import ClipReader
from catalog_motion.presets import Preset
from catalog_motion.types import QCReport
from quality.align import warp_to_frame
from quality.drift import DriftResult, DriftScorer, record, sample_indices
from quality.flicker import FlickerMeter, max_flashes_per_second
from quality.io import QCInputError, fit_cover, frames_in_thread
from quality.technical import black_or_blank, conformance, frame_checks

"""Failures that less motion, a shorter clip or a new seed can plausibly fix. The others (black frames,
frozen stretches, flashes, loop seam, conformance) point at an engine or encoder fault: a new seed may
help, less motion rarely does."""

DETAIL_FACTOR = 2  # the photo is kept at twice the work size so zoomed frames meet real detail


def _subject_region(photo_work: np.ndarray, segmenter_weights: str | None = None) -> tuple[np.ndarray, float]:
    """Subject mask at work size; the whole view when no studio subject separates from its border.
    A configured learned segmenter (quality/learned.py) replaces the weight-free studio mask."""
    if segmenter_weights:
        from quality.learned import learned_mask

        mask = learned_mask(photo_work, segmenter_weights) > 0.5
    else:
        mask = subject_mask(photo_work) > 0.5
    coverage = float(mask.mean())
    if coverage < 0.03 or coverage > 0.97:  # not a studio shot (or nothing found): compare the view
        return np.ones(photo_work.shape[:2], np.float32), coverage
    return mask.astype(np.float32), coverage


class _StreamingPass:
    """Drift (sampled frames) and flicker (every pair) scored while the clip is still decoding."""

    def __init__(self, photo: np.ndarray, fps: float, th, n_estimate: int):
        self.photo, self.fps, self.th = photo, fps, th
        self.n_estimate = n_estimate
        self.frames: list[np.ndarray] = []
        self.black: list[bool] = []
        self.drift = DriftResult()
        self.meter = FlickerMeter(fps, th.flicker_long_side)
        self.scorer: DriftScorer | None = None
        self.picks: set[int] = set()
        self.pending = False
        self._mask_warp: np.ndarray | None = None
        self._frame_mask: np.ndarray | None = None

    def _setup(self, frame: np.ndarray) -> None:
        h, w = frame.shape[:2]
        detail, _, self.mismatch = fit_cover(self.photo, w * DETAIL_FACTOR, h * DETAIL_FACTOR)
        photo_work, init, _ = fit_cover(self.photo, w, h)
        self.mask, self.coverage = _subject_region(photo_work, self.th.segmenter_weights)
        self.use_masks = self.mask.mean() < 0.999
        self.size = (w, h)
        self.scorer = DriftScorer(
            photo_work, detail, self.mask, (w, h), init, self.th, source_scale=photo_work.shape[1] / self.photo.shape[1]
        )
        if self.n_estimate >= 2:
            self.picks = set(sample_indices(self.n_estimate, self.th.drift_sample_frames))

    def _score(self, index: int) -> None:
        record(self.drift, index, self.scorer.score(self.frames[index]), self.scorer.last_warp)

    def add(self, frame: np.ndarray) -> None:
        if self.scorer is None:
            self._setup(frame)
        index = len(self.frames)
        self.frames.append(frame)
        is_black = black_or_blank(frame[None])[0]
        self.black.append(is_black)
        if index in self.picks or self.pending:
            # a sampled frame that is black is replaced by the next usable one
            self.pending = is_black
            if not is_black:
                self._score(index)
        subject = None
        if self.use_masks:
            if self._mask_warp is not self.scorer.last_warp:
                self._mask_warp = self.scorer.last_warp
                self._frame_mask = warp_to_frame(self.mask, self._mask_warp, self.size) > 0.5
            subject = self._frame_mask
        self.meter.add(frame, subject, is_black)

    def finish(self):
        usable = [i for i, b in enumerate(self.black) if not b] or list(range(len(self.frames)))
        if not self.drift.frames or self.drift.frames[-1] != usable[-1]:
            self._score(usable[-1])  # the last frame is always compared: late drift matters most
        if len(self.drift.frames) < 2:  # the container misreported its length: compare first and last
            self.drift = DriftResult()
            for i in sorted({usable[0], usable[-1]}):
                self._score(i)
        return self.drift, self.meter.finish()


def check_clip(
    source_path: str | Path, clip_path: str | Path, preset: Preset, *, expected_frames: int | None = None
) -> QCReport:
    """Score a clip against its source photo. Raises QCInputError (a PermanentError) on unreadable input.

    `expected_frames` (e.g. after "ask for less" shortened the clip) turns on an exact frame-count check.
    """
    started = time.perf_counter()
    th = preset.qc
    photo = read_photo(source_path, preset.background)
    stream = ClipReader(clip_path, th.work_long_side)
    fps = stream.fps or float(preset.fps)
    passes = _StreamingPass(photo, fps, th, stream.n_estimate)
    for frame in frames_in_thread(stream):
        passes.add(frame)
    n = len(passes.frames)
    if n < 2:
        raise QCInputError(f"clip {stream.path.name} has {n} frame(s); at least 2 are needed to score motion")
    frames = np.stack(passes.frames)
    width, height = stream.width, stream.height
    drift, flick = passes.finish()
    mismatch, coverage = passes.mismatch, passes.coverage

    scores: dict[str, float] = {
        "n_frames": float(n),
        "fps": fps,
        "width": float(width),
        "height": float(height),
        "aspect_mismatch": mismatch,
        "subject_coverage": coverage,
    }
    per_frame: dict[str, list[float]] = {}
    reasons: list[str] = []
    failed: list[str] = []

    def fail(check: str, reason: str) -> None:
        reasons.append(reason)
        if check not in failed:
            failed.append(check)

    # --- technical -----------------------------------------------------------------------------
    tech = frame_checks(frames, fps, noise=th.frozen_noise, loop=preset.loop)
    black = int(sum(tech.black))
    scores.update(black_frames=float(black), frozen_s=tech.frozen_seconds, loop_seam=tech.loop_seam)
    per_frame["black"] = [float(b) for b in tech.black]
    per_frame["frame_change"] = tech.frame_change
    if (width, height) != (preset.width, preset.height):
        fail("technical", f"clip is {width}x{height}, preset {preset.name} needs {preset.width}x{preset.height}")
    if abs(fps - preset.fps) > 0.01:
        fail("technical", f"clip runs at {fps:g} fps, preset {preset.name} needs {preset.fps}")
    if expected_frames is not None and n != expected_frames:
        fail("technical", f"clip has {n} frames, expected {expected_frames}")
    if black > th.max_black_frames:
        first = tech.black.index(True)
        fail("black_frames", f"{black} black or blank frame(s) (first at frame {first}), allowed {th.max_black_frames}")
    moving = preset.motion.path != "static" and preset.motion.amount > 0
    if moving and tech.frozen_seconds > th.max_frozen_seconds:
        fail("frozen", f"frozen for {tech.frozen_seconds:.2f} s, allowed {th.max_frozen_seconds:g} s")
    if preset.loop and tech.loop_seam > th.max_loop_seam:
        fail(
            "loop_seam",
            f"loop seam (last->first) is {tech.loop_seam:.1f}x a normal frame step, allowed {th.max_loop_seam:g}x",
        )

    # --- drift -----------------------------------------------------------------------------------
    worst = drift.worst_index()
    sustained = drift.sustained()
    scores.update(
        drift=float(sustained[worst]),
        drift_peak=float(max(drift.drift)),
        drift_last=float(sustained[-1]),
        drift_mean=float(np.mean(drift.drift)),
        drift_worst_frame=float(drift.frames[worst]),
        colour_de=float(max(drift.colour_de)),
        alignment_min=float(min(drift.alignment)),
    )
    for name, values in drift.components.items():
        scores[f"drift_{name}"] = float(max(values))
        per_frame[f"drift_{name}"] = [float(v) for v in values]
    per_frame["drift"] = [float(v) for v in sustained]
    per_frame["drift_raw"] = [float(v) for v in drift.drift]
    per_frame["drift_frame"] = [float(i) for i in drift.frames]
    if scores["drift"] > th.max_subject_drift:
        component = max(drift.components, key=lambda c: drift.components[c][worst])
        fail(
            "drift",
            f"subject drift {scores['drift']:.2f} > {th.max_subject_drift:g} at frame "
            f"{drift.frames[worst]} ({component})",
        )

    # --- flicker ---------------------------------------------------------------------------------
    flashes, flash_curve = max_flashes_per_second(frames, fps)
    scores.update(flicker=flick.flicker_index, warp_error=flick.warp_error_clip, flashes_per_s=flashes)
    per_frame["flicker"] = flick.flicker_curve
    per_frame["warp_error"] = flick.warp_error
    per_frame["flashes"] = flash_curve
    if flashes > th.max_flashes_per_second:
        fail("photosensitivity", f"{flashes:g} flashes in one second (WCAG 2.3.1 allows {th.max_flashes_per_second})")
    if flick.flicker_index > th.max_flicker:
        fail("flicker", f"flicker index {flick.flicker_index:.3f} > {th.max_flicker:g}")
    if flick.warp_error_clip > th.max_warp_error:
        fail("warp_error", f"warping error {flick.warp_error_clip:.4f} > {th.max_warp_error:g}")

    return QCReport(
        passed=not failed,
        scores=scores,
        reasons=reasons,
        per_frame=per_frame,
        seconds=time.perf_counter() - started,
        failed_checks=failed,
    )


def check_encoded(
    video_path: str | Path, preset: Preset, *, expected_frames: int | None = None, codec: str | None = None
) -> QCReport:
    """Container conformance of an encoded delivery file: codec (h264 for .mp4, vp9 for .webm unless
    `codec` says), yuv420p, exact size, frame rate, frame count and duration within one frame."""
    started = time.perf_counter()
    path = Path(video_path)
    if not path.exists() or path.stat().st_size == 0:
        raise QCInputError(f"encoded file missing or empty: {path}")
    try:
        scores, reasons = conformance(
            path,
            width=preset.width,
            height=preset.height,
            fps=float(preset.fps),
            n_frames=expected_frames or preset.n_frames,
            codec=codec,
        )
    except (IndexError, OSError, ValueError) as exc:
        raise QCInputError(
            f"cannot probe {path.name}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        ) from None
    except Exception as exc:  # noqa: BLE001 - av.error.* derive from OSError/ValueError in most builds
        raise QCInputError(f"cannot probe {path.name}: {type(exc).__name__}") from None
    return QCReport(
        passed=not reasons,
        scores=scores,
        reasons=reasons,
        seconds=time.perf_counter() - started,
        failed_checks=["conformance"] if reasons else [],
    )
