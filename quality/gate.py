"""The quality gate: one verdict (QCReport) per clip, from every check module's findings.

``check_clip`` decodes a clip once (``gather_evidence``: work-size frames, a few full-size ones, drift and
flicker scored while decoding) and hands the ``ClipEvidence`` to each check module's ``evaluate``; the
delivered encodes are checked against the master by ``quality.delivered.check_delivered``. Thresholds come
from ``preset.qc`` (QCThresholds in catalog_motion/presets.py). ``failed_checks`` names are stable;
quality/verdict.py says which are worth "asking for less" motion.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from catalog_motion.images import read_photo, subject_mask
from catalog_motion.media import ClipReader
from catalog_motion.presets import Preset
from catalog_motion.types import QCReport
from quality import drift, framing, motion, technical, temporal
from quality.align import warp_to_frame
from quality.drift import DETAIL_FACTOR, DriftResult, DriftScorer, record, sample_indices
from quality.evidence import CheckResult, ClipEvidence, Finding, WorkFrames
from quality.flicker import FlickerMeter, FlickerResult, max_flashes_per_second
from quality.io import QCInputError, fit_cover, frames_in_thread
from quality.technical import black_or_blank


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
    """Drift (sampled frames) and flicker (every pair) scored while the clip is still decoding; a few
    frames kept at full resolution for the fine-detail checks."""

    def __init__(self, photo: np.ndarray, fps: float, th, n_estimate: int):
        self.photo, self.fps, self.th = photo, fps, th
        self.n_estimate = n_estimate
        self.frames: list[np.ndarray] = []
        self.full_frames: dict[int, np.ndarray] = {}
        self.black: list[bool] = []
        self.drift = DriftResult()
        self.meter = FlickerMeter(fps, th.flicker_long_side)
        self.scorer: DriftScorer | None = None
        self.picks: set[int] = set()
        self.pending = False
        self._mask_warp: np.ndarray | None = None
        self._frame_mask: np.ndarray | None = None
        self.detail_indices = detail_indices(n_estimate, th.detail_frames)

    def _setup(self, frame: np.ndarray) -> None:
        h, w = frame.shape[:2]
        detail, _, self.mismatch = fit_cover(self.photo, w * DETAIL_FACTOR, h * DETAIL_FACTOR)
        photo_work, init, _ = fit_cover(self.photo, w, h)
        self.photo_work = photo_work
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
        self.drift.scorer = self.scorer  # drift.evaluate scores a high sample's neighbours with it

    def add(self, frame: np.ndarray, full: np.ndarray | None = None) -> None:
        if self.scorer is None:
            self._setup(frame)
        index = len(self.frames)
        self.frames.append(frame)
        if full is not None:
            self.full_frames[index] = full
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


def detail_indices(n_frames: int, pairs: int) -> set[int]:
    """Evenly spaced frames and each one's successor: the frames kept at full resolution."""
    if n_frames < 2 or pairs <= 0:
        return set()
    starts = np.linspace(0, n_frames - 2, min(pairs, n_frames - 1))
    return {i for s in starts for i in (int(round(s)), int(round(s)) + 1)}


def gather_evidence(
    source_path: str | Path, clip_path: str | Path, preset: Preset
) -> tuple[ClipEvidence, FlickerResult]:
    """Decode the clip once (work size, plus a few full-size frames) and score drift and flicker on the
    way; raises QCInputError (a PermanentError) on unreadable input."""
    th = preset.qc
    photo = read_photo(source_path, preset.background)
    stream = ClipReader(clip_path, th.work_long_side)
    fps = stream.fps or float(preset.fps)
    passes = _StreamingPass(photo, fps, th, stream.n_estimate)
    for frame, full in frames_in_thread(stream.with_full_size(passes.detail_indices)):
        passes.add(frame, full)
    n = len(passes.frames)
    if n < 2:
        raise QCInputError(f"clip {stream.path.name} has {n} frame(s); at least 2 are needed to score motion")
    drift, flick = passes.finish()
    evidence = ClipEvidence(
        preset=preset,
        fps=fps,
        frames=np.stack(passes.frames),
        black=passes.black,
        width=stream.width,
        height=stream.height,
        photo=photo,
        photo_work=passes.photo_work,
        mask_work=passes.mask,
        subject_coverage=passes.coverage,
        aspect_mismatch=passes.mismatch,
        drift=drift,
        full_frames=passes.full_frames,
        n_estimate=stream.n_estimate,
        decode_error=stream.decode_error,
    )
    return evidence, flick


def flicker_result(evidence: ClipEvidence, flick: FlickerResult) -> CheckResult:
    """Flicker index, warping error and WCAG 2.3.1 flashes (the flow ran while decoding)."""
    th, fps = evidence.thresholds, evidence.fps
    flashes, flash_curve = max_flashes_per_second(evidence.frames, fps)
    result = CheckResult(
        scores={"flicker": flick.flicker_index, "warp_error": flick.warp_error_clip, "flashes_per_s": flashes},
        per_frame={"flicker": flick.flicker_curve, "warp_error": flick.warp_error, "flashes": flash_curve},
        limits={
            "flicker": th.max_flicker,
            "warp_error": th.max_warp_error,
            "flashes_per_s": float(th.max_flashes_per_second),
        },
    )
    if flashes > th.max_flashes_per_second:
        at = int(np.argmax(flash_curve)) if flash_curve else None
        result.findings.append(
            Finding(
                "photosensitivity",
                "flashes in one second (WCAG 2.3.1)",
                flashes,
                th.max_flashes_per_second,
                at,
                fps,
                unit="/s",
            )
        )
    if flick.flicker_index > th.max_flicker:
        curve = flick.flicker_curve
        at = int(np.argmax(curve)) + 1 if curve else None
        result.findings.append(Finding("flicker", "flicker index", flick.flicker_index, th.max_flicker, at, fps))
    if flick.warp_error_clip > th.max_warp_error:
        errors = flick.warp_error
        at = int(np.argmax(errors)) if errors else None
        result.findings.append(
            Finding("warp_error", "warping error", flick.warp_error_clip, th.max_warp_error, at, fps)
        )
    return result


def _evaluators() -> list[Callable[[ClipEvidence], CheckResult]]:
    """Every check module's evaluate(evidence), in the order their reasons are listed."""
    return [technical.evaluate, motion.evaluate, drift.evaluate, temporal.evaluate, framing.evaluate]


def check_clip(
    source_path: str | Path, clip_path: str | Path, preset: Preset, *, expected_frames: int | None = None
) -> QCReport:
    """Score a clip against its source photo. Raises QCInputError (a PermanentError) on unreadable input.

    `expected_frames` (the frames the engine says it wrote) turns on an exact frame-count check; the
    duration check holds the clip to the preset either way."""
    return check_clip_with_frames(source_path, clip_path, preset, expected_frames=expected_frames)[0]


def check_clip_with_frames(
    source_path: str | Path, clip_path: str | Path, preset: Preset, *, expected_frames: int | None = None
) -> tuple[QCReport, WorkFrames]:
    """`check_clip`, also handing back the work-size frames it decoded (for quality.report's material)."""
    started = time.perf_counter()
    evidence, flick = gather_evidence(source_path, clip_path, preset)
    result = CheckResult(
        scores={
            "n_frames": float(evidence.n_frames),
            "fps": evidence.fps,
            "width": float(evidence.width),
            "height": float(evidence.height),
            "aspect_mismatch": evidence.aspect_mismatch,
            "subject_coverage": evidence.subject_coverage,
        }
    )
    if expected_frames is not None and evidence.n_frames != expected_frames:
        result.findings.append(
            Finding(
                "technical",
                "frames in the clip (the engine wrote a different count)",
                evidence.n_frames,
                expected_frames,
                above=evidence.n_frames > expected_frames,
            )
        )
    for evaluate in _evaluators():
        result.merge(evaluate(evidence))
    result.merge(flicker_result(evidence, flick))
    failed: list[str] = []
    for finding in result.findings:
        if finding.check not in failed:
            failed.append(finding.check)
    report = QCReport(
        passed=not result.findings,
        scores=result.scores,
        reasons=[f.reason for f in result.findings],
        per_frame=result.per_frame,
        limits=result.limits,
        seconds=time.perf_counter() - started,
        failed_checks=failed,
    )
    return report, WorkFrames(evidence.frames, evidence.fps)
