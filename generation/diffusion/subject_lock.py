"""Subject lock: keep prints, logos and text exact by re-projecting the source subject onto frames.

For each generated frame the subject's motion relative to the source photo is estimated as an affine
transform (ECC on a downscaled grey copy, restricted to the subject mask, initialised from the previous
frame). Where the aligned source subject matches the frame closely (small residual: the garment moved
rigidly rather than deforming), the source pixels are warped along that motion and composited with a
feathered mask; elsewhere the generated frame is kept untouched.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np


@dataclass
class LockInfo:
    locked: bool
    residual: float
    matrix: list[list[float]] = field(default_factory=list)
    """2x3 affine in full-resolution pixels mapping frame coordinates to source-reference coordinates."""
    reason: str = ""


def _homog(m: np.ndarray) -> np.ndarray:
    return np.vstack([m, [0.0, 0.0, 1.0]])


class SubjectLock:
    """Stateful per clip: estimates are chained frame to frame."""

    def __init__(
        self,
        reference: np.ndarray,
        mask: np.ndarray,
        *,
        max_residual: float = 0.06,
        analysis_long_side: int = 320,
        max_scale_change: float = 0.25,
    ):
        if reference.shape[:2] != mask.shape[:2]:
            raise ValueError("reference and mask sizes differ")
        self.reference = reference
        self.max_residual = max_residual
        self.max_scale_change = max_scale_change
        h, w = reference.shape[:2]
        self.size = (w, h)
        self.s = min(1.0, analysis_long_side / max(h, w))
        self.small_size = (max(16, round(w * self.s)), max(16, round(h * self.s)))
        self.sx = self.small_size[0] / w
        self.sy = self.small_size[1] / h
        self.ref_small = self._grey(reference)
        hard = cv2.resize(mask.astype(np.float32), self.small_size, interpolation=cv2.INTER_AREA) > 0.5
        # Estimate on a slightly grown mask: the silhouette's edge against the background is the
        # strongest alignment cue on plain garments; the inside alone is often nearly flat.
        grow = max(2, round(0.03 * max(self.small_size)))
        self.mask_small = cv2.dilate(
            hard.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1,) * 2)
        )
        self.mask_inner = hard.astype(np.uint8)
        # Feather inside the silhouette: the outermost pixels (where garment meets generated background,
        # which may have shifted) come from the generated frame.
        hard_full = (mask > 0.5).astype(np.uint8)
        margin = max(2, round(0.012 * max(h, w)))
        inner = cv2.erode(hard_full, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1,) * 2))
        self.feather = cv2.GaussianBlur(inner.astype(np.float32), (0, 0), margin / 2.0)
        self.warp = np.eye(2, 3, dtype=np.float32)
        # small <-> full coordinate maps (pixel centres): x_full = (x_small + 0.5) / sx - 0.5
        self._to_full = np.array(
            [[1 / self.sx, 0, 0.5 / self.sx - 0.5], [0, 1 / self.sy, 0.5 / self.sy - 0.5], [0, 0, 1]]
        )
        self._to_small = np.linalg.inv(self._to_full)

    def _grey(self, rgb: np.ndarray) -> np.ndarray:
        small = cv2.resize(rgb, self.small_size, interpolation=cv2.INTER_AREA)
        return cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0

    def estimate(self, frame: np.ndarray) -> tuple[np.ndarray | None, float, str]:
        """Affine (small coordinates, frame -> reference) and residual; None when alignment failed."""
        target = self._grey(frame)
        warp = self.warp.copy()
        try:
            cv2.findTransformECC(
                target,
                self.ref_small,
                warp,
                cv2.MOTION_AFFINE,
                (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 60, 1e-5),
                self.mask_small,
                3,
            )
        except cv2.error:
            return None, float("inf"), "alignment did not converge"
        linear = warp[:, :2].astype(np.float64)
        scale = float(np.sqrt(abs(np.linalg.det(linear))))
        if abs(scale - 1.0) > self.max_scale_change:
            return None, float("inf"), f"subject scale changed {scale:.2f}x"
        aligned = cv2.warpAffine(
            self.ref_small,
            warp,
            self.small_size,
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REPLICATE,
        )
        weight = cv2.warpAffine(
            self.mask_inner.astype(np.float32), warp, self.small_size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        )
        total = float(weight.sum())
        if total < 16:
            return None, float("inf"), "subject left the frame"
        residual = float((np.abs(aligned - target) * weight).sum() / total)
        return warp, residual, ""

    def apply(self, frame: np.ndarray) -> tuple[np.ndarray, LockInfo]:
        warp, residual, reason = self.estimate(frame)
        if warp is None:
            return frame, LockInfo(False, residual, [], reason)
        self.warp = warp  # next frame starts from here (motion is continuous)
        full = (self._to_full @ _homog(warp.astype(np.float64)) @ self._to_small)[:2]
        if residual > self.max_residual:
            return frame, LockInfo(False, residual, full.round(4).tolist(), "subject deformed beyond the lock limit")
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        source = cv2.warpAffine(self.reference, full, self.size, flags=flags, borderMode=cv2.BORDER_REPLICATE)
        alpha = cv2.warpAffine(
            self.feather, full, self.size, flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0.0
        )
        out = cv2.blendLinear(source, frame, alpha, 1.0 - alpha)
        return out, LockInfo(True, residual, full.round(4).tolist())
