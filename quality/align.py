"""Global alignment of a clip frame to the source photo, so the intended camera motion is not drift.

ECC (enhanced correlation coefficient) on an image pyramid estimates an affine map from frame
coordinates to photo coordinates; each frame starts from its predecessor's estimate, and ORB + RANSAC
re-initialises it when ECC does not converge (a large first zoom, an aspect mismatch). When both fail
(a close-up framing a detail of a repetitive print, where ORB's matches are ambiguous), multi-scale
template matching of the whole frame in the photo finds the crop before the alignment gives up.
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
    `mask` (uint8, *moving* size: OpenCV's inputMask) marks the moving image's pixels that may be used;
    ECC warps it with the current estimate at every iteration, so only template pixels that map there
    count (a frame's band of backdrop past the photo, a few px of the photo's edge)."""
    warp = init.astype(np.float32).copy()
    levels = 2 if min(template.shape) >= 128 else 1
    pyramid_t, pyramid_m, pyramid_k = [template], [moving], [mask]
    for _ in range(levels - 1):
        pyramid_t.append(cv2.pyrDown(pyramid_t[-1]))
        pyramid_m.append(cv2.pyrDown(pyramid_m[-1]))
        small = pyramid_k[-1]
        pyramid_k.append(
            None if small is None else cv2.resize(small, pyramid_m[-1].shape[::-1], interpolation=cv2.INTER_NEAREST)
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


TEMPLATE_LONG_SIDE = 96  # px: the frame's long side at the template search (the layout, not the weave)
# frame -> photo scales searched, ~6 % apart: 1 = a cover crop, 0.3 = a 3.3x close-up, above 1 a frame
# that shows the whole photo smaller than itself (an engine that zooms out to keep the garment whole
# and fills the rest with backdrop; the camera engine goes to ~2x for a 4:5 photo in a 9:16 clip, 2.7x
# with motion)
TEMPLATE_SCALES = tuple(float(s) for s in np.geomspace(3.0, 0.3, 40))


def _template_inits(
    frame_gray: np.ndarray, photo_gray: np.ndarray, base: float = 1.0, keep: int = 3
) -> list[np.ndarray]:
    """Candidate frame -> photo scale-and-shift maps from multi-scale template matching (the best
    `keep`, best first). `base`: photo pixels per frame pixel of a cover crop. Both are shrunk so the
    frame's long side is TEMPLATE_LONG_SIDE px at a cover crop: a close-up of a large print is found by
    its layout of motifs, not by its weave. Where the frame fits in the photo it is searched there;
    where it does not (a zoomed-out frame), the photo is searched in the frame, the frame's border
    replicated outward along an axis where the photo is the larger (a contain-framed frame's border is
    backdrop, like the photo's)."""
    fh, fw = frame_gray.shape
    shrink = TEMPLATE_LONG_SIDE / (max(fh, fw) * base)
    photo_small = cv2.resize(photo_gray, None, fx=shrink, fy=shrink, interpolation=cv2.INTER_AREA)
    sh, sw = photo_small.shape
    photo_flat = float(photo_small.std()) < 1e-3
    found: list[tuple[float, np.ndarray]] = []
    for scale in TEMPLATE_SCALES:
        tw, th = int(round(fw * shrink * base * scale)), int(round(fh * shrink * base * scale))
        if tw < 12 or th < 12 or tw > 4 * sw or th > 4 * sh:
            continue
        template = cv2.resize(frame_gray, (tw, th), interpolation=cv2.INTER_AREA)
        if float(template.std()) < 1e-3:
            continue
        if tw <= sw and th <= sh:  # the frame is a crop of the photo: frame small q -> photo small q + (x, y)
            score = cv2.matchTemplate(photo_small, template, cv2.TM_CCOEFF_NORMED)
            _, best, _, (x, y) = cv2.minMaxLoc(score)
        else:  # the frame shows more than the photo along some axis: photo small p -> frame small p + (-x, -y)
            if photo_flat:
                continue
            px, py = max(0, sw - tw), max(0, sh - th)
            canvas = cv2.copyMakeBorder(template, py, py, px, px, cv2.BORDER_REPLICATE)
            score = cv2.matchTemplate(canvas, photo_small, cv2.TM_CCOEFF_NORMED)
            _, best, _, (x, y) = cv2.minMaxLoc(score)
            x, y = px - x, py - y
        # frame pixel centre u -> small frame (u + 0.5) * tw / fw - 0.5, + (x, y) in the small photo, then
        # back to photo pixels (/ shrink, pixel centres)
        ax, ay = tw / (fw * shrink), th / (fh * shrink)
        warp = np.array([[ax, 0, 0.5 * ax + x / shrink - 0.5], [0, ay, 0.5 * ay + y / shrink - 0.5]], np.float32)
        found.append((float(best), warp))
    found.sort(key=lambda item: -item[0])
    return [w for _, w in found[:keep]]


class Aligner:
    """Aligns successive frames of one clip to one photo (keeps the last estimate as the next start).

    The photo may be sharper than the frames (`scale` x their resolution): at a 1.5x push-in the frame
    shows detail that a frame-sized photo has lost, and the fit is more exact against the sharp copy.
    Warps come back in frame-sized photo coordinates either way."""

    def __init__(
        self, photo_rgb: np.ndarray, init: np.ndarray | None = None, min_correlation: float = 0.6, scale: float = 1.0
    ):
        self.photo_gray = cv2.GaussianBlur(_gray(photo_rgb), (0, 0), ALIGN_SIGMA * scale)
        # ECC uses only frame pixels that map inside the photo, a band in from its edge: a frame may show
        # more than the photo (backdrop an engine added around it), and within the smoothing's reach of
        # the edge the frame mixes in that backdrop where the photo mixes in its own reflection.
        band = int(np.ceil(3.0 * ALIGN_SIGMA * scale)) + 1
        self.photo_mask = np.zeros(self.photo_gray.shape, np.uint8)
        self.photo_mask[band:-band, band:-band] = 1
        self.min_correlation = min_correlation
        self.scale = scale
        self.last = self._to_photo(IDENTITY if init is None else init)
        self.first = True  # no frame aligned yet: the start is only a guess

    def _to_photo(self, warp: np.ndarray) -> np.ndarray:
        out = warp.astype(np.float32) * self.scale
        out[:, 2] += (self.scale - 1.0) / 2.0  # pixel centres
        return out

    def _from_photo(self, warp: np.ndarray) -> np.ndarray:
        out = warp.astype(np.float32).copy()
        out[:, 2] -= (self.scale - 1.0) / 2.0
        return out / self.scale

    def align(self, frame_rgb: np.ndarray) -> tuple[np.ndarray, float]:
        """Affine map (2x3, frame -> photo coordinates at frame scale) and its ECC correlation (-1 when it
        failed), fitted on the frame pixels that map inside the photo."""
        frame_gray = cv2.GaussianBlur(_gray(frame_rgb), (0, 0), ALIGN_SIGMA)
        photo, mask = self.photo_gray, self.photo_mask
        warp, rho = _ecc(frame_gray, photo, self.last, mask=mask)
        if rho < self.min_correlation:
            seeded = _orb_init(frame_gray, photo)
            if seeded is not None:
                warp2, rho2 = _ecc(frame_gray, photo, seeded, mask=mask)
                if rho2 > rho:
                    warp, rho = warp2, rho2
        # The first frame (nothing tracked yet) or a lost track: also find the crop by its layout. On
        # a repetitive print ECC from a centred crop can settle on a wrong, merely similar place; a frame
        # zoomed out past the photo is found at a scale ECC from a cover crop does not reach.
        if self.first or rho < self.min_correlation:
            for seeded in _template_inits(frame_gray, photo, self.scale):
                warp2, rho2 = _ecc(frame_gray, photo, seeded, mask=mask)
                if rho2 > rho + 1e-3:
                    warp, rho = warp2, rho2
        if rho >= self.min_correlation:
            self.first = False
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
