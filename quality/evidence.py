"""What every check of the gate reads (ClipEvidence) and what it returns (CheckResult, Finding).

The gate (quality/gate.py) decodes a clip once, scores drift on sampled frames while it decodes, and
hands one ``ClipEvidence`` to each check module's ``evaluate(evidence) -> CheckResult``. Checks are
plain functions of arrays underneath, so each is testable on frames made in a test.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    from catalog_motion.presets import Preset, QCThresholds


@dataclass(frozen=True)
class Finding:
    """One failed check: its stable name (a ``failed_checks`` entry), what was measured, the limit it
    crossed and where. `above`: the value must stay at or below the limit (False: at or above it)."""

    check: str
    message: str  # what was measured, in words: "subject drift (structure)"
    value: float
    limit: float
    frame: int | None = None
    fps: float | None = None
    above: bool = True
    unit: str = ""

    @property
    def reason(self) -> str:
        op = ">" if self.above else "<"
        where = ""
        if self.frame is not None:
            where = f" at frame {self.frame}"
            if self.fps:
                where += f" ({self.frame / self.fps:.2f} s)"
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.check}: {self.message} {self.value:.4g}{unit} {op} limit {self.limit:.4g}{unit}{where}"


@dataclass
class CheckResult:
    """Scores (flat names, also QC-table columns), per-frame curves, the limits that applied (for
    ``qc --json`` and the report) and the findings (empty when every check passed)."""

    scores: dict[str, float] = field(default_factory=dict)
    per_frame: dict[str, list[float]] = field(default_factory=dict)
    limits: dict[str, float] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    def merge(self, other: CheckResult) -> CheckResult:
        self.scores.update(other.scores)
        self.per_frame.update(other.per_frame)
        self.limits.update(other.limits)
        self.findings.extend(other.findings)
        return self


@dataclass(frozen=True)
class WorkFrames:
    """Every frame of a clip at the gate's work size, as the gate decoded them: the report's filmstrip and
    preview are made from these, so a clip is decoded once per check (a lossless-H.264 master has one
    keyframe: a second pass for 8 thumbnails would decode it all again)."""

    frames: np.ndarray  # (N, h, w, 3) uint8 RGB
    fps: float


@dataclass
class ClipEvidence:
    """One decoded clip and its source photo, as every check sees them.

    Coordinates: `frames` are at work size (long side ``qc.work_long_side``); `photo_work` is the photo
    scaled to *cover* a work-size frame (quality.io.fit_cover), `mask_work` its subject mask (float32
    0/1, photo_work coordinates). `warps[k]` maps frame `drift.frames[k]` (work pixels) to photo_work
    pixels; `warp_at(i)` interpolates for any frame. `full_frames` holds full-resolution RGB frames at
    `detail_indices` (evenly spaced frames and, for each, the next frame: pairs for texture stability)."""

    preset: Preset
    fps: float
    frames: np.ndarray  # (N, h, w, 3) uint8, work size
    black: list[bool]
    width: int  # full size of the clip
    height: int
    photo: np.ndarray  # full-resolution source photo, RGB uint8
    photo_work: np.ndarray
    mask_work: np.ndarray
    subject_coverage: float
    aspect_mismatch: float
    drift: Any  # quality.drift.DriftResult (not imported: drift.py imports this module)
    full_frames: dict[int, np.ndarray] = field(default_factory=dict)
    n_estimate: int = 0  # frames the container announced
    decode_error: str | None = None  # set when decoding stopped early (a truncated or corrupt file)
    kind: Literal["master", "encoded"] = "master"

    @property
    def thresholds(self) -> QCThresholds:
        return self.preset.qc

    @property
    def n_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        """(w, h) of a work-size frame."""
        return int(self.frames.shape[2]), int(self.frames.shape[1])

    @property
    def moving(self) -> bool:
        """True when the preset asks for motion."""
        return self.preset.motion.path != "static" and self.preset.motion.amount > 0

    def warp_at(self, index: int) -> np.ndarray:
        """Frame `index` -> photo_work affine map, linearly interpolated between the drift samples."""
        frames, warps = self.drift.frames, self.drift.warps
        if not frames:
            raise ValueError("no drift samples: the gate scores at least two frames")
        order = np.argsort(frames)
        xs = np.asarray(frames)[order]
        stack = np.stack([warps[k] for k in order]).reshape(len(xs), 6)
        out = np.array([np.interp(index, xs, stack[:, j]) for j in range(6)], np.float32)
        return out.reshape(2, 3)

    def subject_mask_at(self, index: int) -> np.ndarray:
        """The photo's subject mask as frame `index` shows it (bool, work frame size)."""
        from quality.align import warp_to_frame

        return warp_to_frame(self.mask_work.astype(np.float32), self.warp_at(index), self.size) > 0.5
