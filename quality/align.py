"""Global alignment of a clip frame to the source photo, so the intended camera motion is not drift.

ECC (enhanced correlation coefficient) on an image pyramid estimates an affine map from frame
coordinates to photo coordinates; each frame starts from its predecessor's estimate, and ORB + RANSAC
re-initialises it when ECC does not converge (a large first zoom, an aspect mismatch).
"""

from __future__ import annotations

import cv2
import numpy as np

IDENTITY = np.eye(2, 3, dtype=np.float32)
# Light smoothing before ECC (pixel noise out, print and weave kept: sub-pixel accuracy needs them).
ALIGN_SIGMA = 1.0


def _gray(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0


def _ecc(
    template: np.ndarray, moving: np.ndarray, init: np.ndarray, iterations: int = 60, mask: np.ndarray | None = None
) -> tuple[np.ndarray, float]:
    """Coarse-to-fine ECC; returns (warp, correlation) with warp mapping template -> moving coordinates.
    `mask` (uint8, template size) limits the fit to those template pixels."""
    warp = init.astype(np.float32).copy()
    levels = 2 if min(template.shape) >= 128 else 1
    pyramid_t, pyramid_m, pyramid_k = [template], [moving], [mask]
    for _ in range(levels - 1):
        pyramid_t.append(cv2.pyrDown(pyramid_t[-1]))
        pyramid_m.append(cv2.pyrDown(pyramid_m[-1]))
        small = pyramid_k[-1]
        pyramid_k.append(
            None if small is None else cv2.resize(small, pyramid_t[-1].shape[::-1], interpolation=cv2.INTER_NEAREST)
        )
    scale = 2.0 ** (levels - 1)
    warp[:, 2] /= scale
    rho = -1.0
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, iterations, 1e-5)
    for level in range(levels - 1, -1, -1):
        try:
            rho, warp = cv2.findTransformECC(
                pyramid_t[level], pyramid_m[level], warp, cv2.MOTION_AFFINE, criteria, pyramid_k[level], 3
            )
        except cv2.error:
            return init.astype(np.float32), -1.0
        if level:
            warp[:, 2] *= 2.0
    return warp, float(rho)


def _orb_init(frame_gray: np.ndarray, photo_gray: np.ndarray) -> np.ndarray | None:
    orb = cv2.ORB_create(nfeatures=1500, scaleFactor=1.2, nlevels=6, edgeThreshold=15, patchSize=15)
    a = (frame_gray * 255).astype(np.uint8)
    b = (photo_gray * 255).astype(np.uint8)
    ka, da = orb.detectAndCompute(a, None)
    kb, db = orb.detectAndCompute(b, None)
    if da is None or db is None or len(ka) < 8 or len(kb) < 8:
        return None
    matches = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True).match(da, db)
    if len(matches) < 8:
        return None
    src = np.float32([ka[m.queryIdx].pt for m in matches])
    dst = np.float32([kb[m.trainIdx].pt for m in matches])
    warp, inliers = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=3.0)
    if warp is None or inliers is None or inliers.sum() < 8:
        return None
    return warp.astype(np.float32)


class Aligner:
    """Aligns successive frames of one clip to one photo (keeps the last estimate as the next start).

    The photo may be sharper than the frames (`scale` x their resolution): at a 1.5x push-in the frame
    shows detail that a frame-sized photo has lost, and the fit is more exact against the sharp copy.
    Warps come back in frame-sized photo coordinates either way."""

    def __init__(
        self, photo_rgb: np.ndarray, init: np.ndarray | None = None, min_correlation: float = 0.6, scale: float = 1.0
    ):
        self.photo_gray = cv2.GaussianBlur(_gray(photo_rgb), (0, 0), ALIGN_SIGMA * scale)
        self.min_correlation = min_correlation
        self.scale = scale
        self.last = self._to_photo(IDENTITY if init is None else init)

    def _to_photo(self, warp: np.ndarray) -> np.ndarray:
        out = warp.astype(np.float32) * self.scale
        out[:, 2] += (self.scale - 1.0) / 2.0  # pixel centres
        return out

    def _from_photo(self, warp: np.ndarray) -> np.ndarray:
        out = warp.astype(np.float32).copy()
        out[:, 2] -= (self.scale - 1.0) / 2.0
        return out / self.scale

    def align(self, frame_rgb: np.ndarray, region: np.ndarray | None = None) -> tuple[np.ndarray, float]:
        """Affine map (2x3, frame -> photo coordinates at frame scale) and its ECC correlation (-1 when it
        failed). `region` (uint8 mask, frame size) restricts the fit to those frame pixels."""
        frame_gray = cv2.GaussianBlur(_gray(frame_rgb), (0, 0), ALIGN_SIGMA)
        warp, rho = _ecc(frame_gray, self.photo_gray, self.last, mask=region)
        if rho < self.min_correlation:
            seeded = _orb_init(frame_gray, self.photo_gray)
            if seeded is not None:
                warp2, rho2 = _ecc(frame_gray, self.photo_gray, seeded)
                if rho2 > rho:
                    warp, rho = warp2, rho2
        if rho >= self.min_correlation:
            self.last = warp
        return self._from_photo(warp), rho


def warp_to_frame(image: np.ndarray, warp: np.ndarray, size: tuple[int, int], border_value=0) -> np.ndarray:
    """Sample `image` (photo coordinates) at the frame grid through `warp` (frame -> photo)."""
    return cv2.warpAffine(
        image,
        warp,
        size,
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=border_value,
    )


def deformation(warp: np.ndarray) -> float:
    """How far an affine map is from a similarity (shear/anisotropic scale): 0 for pure zoom/pan/rotate."""
    a = warp[:, :2].astype(np.float64)
    s = np.linalg.svd(a, compute_uv=False)
    return float(abs(s[0] / max(s[1], 1e-9) - 1.0))
