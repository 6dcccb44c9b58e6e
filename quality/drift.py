"""Subject drift: how far each sampled frame's subject has moved away from the source photo.

Per sampled frame: align globally (quality.align), let a heavily smoothed optical flow absorb the
intended subject motion (fabric sway, parallax), then compare inside the eroded subject mask:

- structure: 1 - SSIM of luminance;
- colour: CIEDE2000 of smoothed colours, scaled by ``colour_de_scale``;
- texture: 1 - correlation of luminance gradients (prints, logos, text, weave);
- deformation: the smooth residual displacement the flow needed, relative to the subject size.

Local defects (a smeared logo, a recoloured pocket) matter as much as global ones, so each component
is the mean of the worst tenth of subject blocks, not a whole-mask mean. Drift of a frame is the largest
component; the clip's drift is its worst sampled frame (the last frame is reported as well).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from skimage.color import deltaE_ciede2000, rgb2lab

from catalog_motion.presets import QCThresholds
from quality.align import Aligner, deformation, warp_to_frame

COMPONENTS = ("structure", "colour", "texture", "deformation", "learned")
BLOCK = 16  # px at work size (~5 % of the long side): the size of a local defect worth catching
WORST_FRACTION = 0.10
# Colour is compared on regions, not edges: chroma subsampling (yuv420p) and resampling bleed colour
# across edges by a pixel or two, which is not a different product.
COLOUR_SIGMA = 3.0
TEXTURE_SIGMA = 1.5  # px at work size: keeps logo strokes and print edges, drops pixel noise and grain
TEXTURE_FLOOR = 2e-3  # mean squared Sobel gradient (luma in [0, 1]) below which a block is flat
RESIDUAL_GAIN = 0.02  # structure (1 - SSIM) the smooth residual flow must remove to be believed
TEXTURE_SHIFTS = (-0.5, 0.0, 0.5)  # px: misregistration the texture check forgives


@dataclass
class DriftResult:
    frames: list[int] = field(default_factory=list)
    drift: list[float] = field(default_factory=list)
    components: dict[str, list[float]] = field(default_factory=lambda: {c: [] for c in COMPONENTS})
    colour_de: list[float] = field(default_factory=list)
    alignment: list[float] = field(default_factory=list)
    shear: list[float] = field(default_factory=list)
    warps: list[np.ndarray] = field(default_factory=list)  # frame -> photo (work coordinates)

    def sustained(self) -> list[float]:
        """Per sample, the median of it and its two neighbours (the two at the ends: their mean).

        Drift that matters persists: it creeps in and stays, or the subject turns into something
        else. A single sample off by a rendering quirk is not drift (a garbled single frame is caught
        by the warping-error and flicker checks, which see every frame)."""
        d = np.asarray(self.drift, dtype=np.float64)
        if d.size < 3:
            return d.tolist()
        out = [float(np.median(d[max(0, i - 1) : i + 2])) for i in range(d.size)]
        out[0], out[-1] = float(d[:2].mean()), float(d[-2:].mean())
        return out

    def worst_index(self) -> int:
        return int(np.argmax(self.sustained())) if self.drift else 0


def sample_indices(n_frames: int, count: int) -> list[int]:
    """Evenly spaced frame indices, first and last included."""
    count = max(2, min(count, n_frames))
    return sorted({int(round(v)) for v in np.linspace(0, n_frames - 1, count)})


def _block_sums(values: np.ndarray) -> np.ndarray:
    h, w = values.shape
    hb, wb = max(1, h // BLOCK), max(1, w // BLOCK)
    bh, bw = min(BLOCK, h), min(BLOCK, w)
    return values[: hb * bh, : wb * bw].reshape(hb, bh, wb, bw).sum(axis=(1, 3))


def _block_worst(
    values: np.ndarray, weight: np.ndarray, fraction: float = WORST_FRACTION, min_coverage: float = 0.5
) -> float:
    """Mean of the worst `fraction` of BLOCKxBLOCK blocks, each block a weighted mean of `values`."""
    h, w = values.shape
    hb, wb = h // BLOCK, w // BLOCK
    if hb == 0 or wb == 0:
        total = weight.sum()
        return float((values * weight).sum() / total) if total > 0 else 0.0
    v = (values[: hb * BLOCK, : wb * BLOCK] * weight[: hb * BLOCK, : wb * BLOCK]).reshape(hb, BLOCK, wb, BLOCK)
    m = weight[: hb * BLOCK, : wb * BLOCK].reshape(hb, BLOCK, wb, BLOCK)
    sums, cover = v.sum(axis=(1, 3)), m.sum(axis=(1, 3))
    keep = cover >= min_coverage * BLOCK * BLOCK
    if not keep.any():
        total = weight.sum()
        return float((values * weight).sum() / total) if total > 0 else 0.0
    block_means = np.sort(sums[keep] / cover[keep])[::-1]
    k = max(1, int(np.ceil(fraction * block_means.size)))
    return float(block_means[:k].mean())


def _ssim_map(a: np.ndarray, b: np.ndarray, sigma: float = 1.5) -> np.ndarray:
    """Per-pixel SSIM (Wang et al. 2004, Gaussian window) of two float images in [0, 1]."""
    c1, c2 = 0.01**2, 0.03**2

    def blur(x: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(x, (0, 0), sigma)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a * mu_a
    var_b = blur(b * b) - mu_b * mu_b
    cov = blur(a * b) - mu_a * mu_b
    return ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))


def _texture(ref_y: np.ndarray, cmp_y: np.ndarray, mask: np.ndarray, sigma: float = 0.0) -> float:
    """1 - gradient agreement on the worst subject blocks (luma in [0, 1], lightly smoothed).

    Agreement 2<g_ref, g_cmp> / (|g_ref|^2 + |g_cmp|^2) is 1 only when edges keep both their place and
    their strength, so a smeared (blurred) logo loses as much as a moved one. Sums per block, so one
    flat pixel cannot dominate; flat blocks (no print, no edge) do not count. `sigma` (>= TEXTURE_SIGMA)
    limits the comparison to the detail the source photo really has. Each block takes its best
    agreement over half-pixel shifts: a fine stripe or weave is not a different print because the
    alignment is off by a fraction of a pixel (parallax, rounding), while a smear or a warp is."""
    sigma = max(sigma, TEXTURE_SIGMA)
    ref_t = cv2.GaussianBlur(ref_y, (0, 0), sigma)
    gx_r, gy_r = cv2.Sobel(ref_t, cv2.CV_32F, 1, 0), cv2.Sobel(ref_t, cv2.CV_32F, 0, 1)
    e_ref = _block_sums((gx_r**2 + gy_r**2) * mask)
    cover = _block_sums(mask)
    full = cover >= 0.5 * BLOCK * BLOCK
    if not full.any():
        return 0.0
    keep = full & (e_ref / np.maximum(cover, 1.0) > TEXTURE_FLOOR)
    if not keep.any():
        return 0.0
    cmp_t = cv2.GaussianBlur(cmp_y, (0, 0), sigma)
    h, w = cmp_t.shape
    best = np.full(e_ref.shape, -np.inf, np.float32)
    for dx in TEXTURE_SHIFTS:
        for dy in TEXTURE_SHIFTS:
            moved = (
                cmp_t
                if dx == dy == 0.0
                else cv2.warpAffine(
                    cmp_t,
                    np.float32([[1, 0, dx], [0, 1, dy]]),
                    (w, h),
                    flags=cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_REFLECT,
                )
            )
            gx_c, gy_c = cv2.Sobel(moved, cv2.CV_32F, 1, 0), cv2.Sobel(moved, cv2.CV_32F, 0, 1)
            dot = _block_sums((gx_r * gx_c + gy_r * gy_c) * mask)
            e_cmp = _block_sums((gx_c**2 + gy_c**2) * mask)
            best = np.maximum(best, 2.0 * dot / (e_ref + e_cmp + 1e-9))
    worst = np.sort(1.0 - best[keep])[::-1]
    return float(min(1.0, max(0.0, worst[: max(1, int(np.ceil(WORST_FRACTION * worst.size)))].mean())))


class DriftScorer:
    """Scores frames of one clip against one source photo (both already at work size)."""

    def __init__(
        self,
        photo_work: np.ndarray,
        photo_detail: np.ndarray,
        mask_work: np.ndarray,
        frame_size: tuple[int, int],
        init: np.ndarray,
        thresholds: QCThresholds,
        source_scale: float = 1.0,
    ):
        """`photo_work` (and its `mask_work`) cover a frame of `frame_size` (w, h) at work scale, whole;
        `photo_detail` is the same photo at DETAIL x that scale; `init` maps frame -> photo (a centred crop)."""
        self.photo = photo_work
        self.w, self.h = frame_size
        self.ph, self.pw = photo_work.shape[:2]
        # A sharper copy of the photo so zoomed-in frames are compared with real detail, not an upscale.
        self.detail_scale = photo_detail.shape[1] / self.pw
        self.source_scale = source_scale  # photo_work px per pixel of the original photo
        self.detail = cv2.GaussianBlur(photo_detail, (0, 0), 0.5 * self.detail_scale)
        self.mask = mask_work.astype(np.float32)
        self.ones = np.ones((self.ph, self.pw), np.float32)
        self.thresholds = thresholds
        self.aligner = Aligner(photo_detail, init, scale=self.detail_scale)
        self.last_warp = init.astype(np.float32)
        area = float((self.mask > 0.5).sum())
        self.subject_size = max(8.0, np.sqrt(area))
        self.flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        self.grid_x, self.grid_y = np.meshgrid(np.arange(self.w, dtype=np.float32), np.arange(self.h, dtype=np.float32))
        erode = max(3, int(round(0.03 * self.subject_size)) | 1)
        self.erode_kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (erode, erode))
        self.encoder = None
        if thresholds.similarity_weights:
            from quality.learned import SimilarityEncoder

            self.encoder = SimilarityEncoder(thresholds.similarity_weights)

    def score(self, frame: np.ndarray) -> dict[str, float]:
        th = self.thresholds
        size = (self.w, self.h)
        warp, rho = self.aligner.align(frame)
        self.last_warp = warp
        if rho < 0.2:  # could not align at all: the frame shows something else
            return {
                "drift": 1.0,
                "structure": 1.0,
                "colour": 1.0,
                "texture": 1.0,
                "deformation": 1.0,
                "learned": 1.0,
                "colour_de": 100.0,
                "alignment": rho,
                "shear": 1.0,
            }
        self.last_warp = warp
        # frame (work) -> photo detail coordinates; pixel centres: x_detail = s * x_work + (s - 1) / 2
        hi = warp * self.detail_scale
        hi[:, 2] += (self.detail_scale - 1.0) / 2.0
        reference = warp_to_frame(self.detail, hi, size)
        valid = warp_to_frame(self.ones, warp, size) > 0.999
        mask = warp_to_frame(self.mask, warp, size)
        mask = cv2.erode((mask > 0.5).astype(np.uint8), self.erode_kernel).astype(np.float32) * valid
        if mask.sum() < 4 * BLOCK * BLOCK:  # subject mostly out of view (a deep close-up): use the view
            mask = valid.astype(np.float32)

        ref_f = cv2.GaussianBlur(reference.astype(np.float32) / 255.0, (0, 0), 1.0)
        ref_y = cv2.cvtColor(ref_f, cv2.COLOR_RGB2GRAY)
        plain_f = cv2.GaussianBlur(frame.astype(np.float32) / 255.0, (0, 0), 1.0)
        plain_y = cv2.cvtColor(plain_f, cv2.COLOR_RGB2GRAY)
        plain_structure = _block_worst(1.0 - _ssim_map(ref_y, plain_y), mask)

        # Smooth residual motion (fabric sway, parallax): optical flow on blurred half-size images, so a
        # periodic weave cannot lock the flow onto a wrong period, then a subject-weighted smoothing.
        half = (max(8, self.w // 2), max(8, self.h // 2))
        small_ref = cv2.resize(
            cv2.GaussianBlur(cv2.cvtColor(reference, cv2.COLOR_RGB2GRAY), (0, 0), 1.5),
            half,
            interpolation=cv2.INTER_AREA,
        )
        small_frm = cv2.resize(
            cv2.GaussianBlur(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), (0, 0), 1.5), half, interpolation=cv2.INTER_AREA
        )
        flow = cv2.resize(self.flow.calc(small_ref, small_frm, None), size, interpolation=cv2.INTER_LINEAR) * 2.0
        sigma = max(2.0, 0.08 * self.subject_size)
        weight = cv2.GaussianBlur(mask, (0, 0), sigma) + 1e-3
        smooth = np.dstack([cv2.GaussianBlur(flow[..., i] * mask, (0, 0), sigma) / weight for i in range(2)])
        compensated = cv2.remap(
            frame,
            self.grid_x + smooth[..., 0],
            self.grid_y + smooth[..., 1],
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REFLECT,
        )
        cmp_f = cv2.GaussianBlur(compensated.astype(np.float32) / 255.0, (0, 0), 1.0)
        cmp_y = cv2.cvtColor(cmp_f, cv2.COLOR_RGB2GRAY)
        structure = _block_worst(1.0 - _ssim_map(ref_y, cmp_y), mask)
        # The residual motion counts (as deformation) only when it explains a real part of the change;
        # otherwise the flow is chasing noise in flat areas and the frame is compared as it is.
        if plain_structure - structure > RESIDUAL_GAIN:
            # worst blocks, like the other components: a print that slides locally is a defect
            deform_px = _block_worst(np.hypot(smooth[..., 0], smooth[..., 1]), mask)
        else:  # the flow did not help (no residual motion, or a flow failure): compare the frame as it is
            structure, cmp_f, cmp_y, deform_px = plain_structure, plain_f, plain_y, 0.0
        structure = min(1.0, max(0.0, structure))
        deformation_score = min(1.0, deform_px / (th.deformation_px_scale * self.subject_size))

        # Colour on regions at half size (the blur removes what the full size would add, at 1/4 the cost).
        lab_ref = rgb2lab(cv2.resize(cv2.GaussianBlur(ref_f, (0, 0), COLOUR_SIGMA), half, interpolation=cv2.INTER_AREA))
        lab_cmp = rgb2lab(cv2.resize(cv2.GaussianBlur(cmp_f, (0, 0), COLOUR_SIGMA), half, interpolation=cv2.INTER_AREA))
        de_map = cv2.resize(deltaE_ciede2000(lab_ref, lab_cmp).astype(np.float32), size, interpolation=cv2.INTER_LINEAR)
        colour_de = _block_worst(de_map, mask)
        colour = min(1.0, colour_de / th.colour_de_scale)

        # Texture may use either version of the frame: a sub-pixel slip of thin logo strokes is not a
        # different print, so the flow is only allowed to help.
        raw_ref, raw_frame = (
            cv2.cvtColor(x, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0 for x in (reference, frame)
        )
        # Where the clip magnifies the photo beyond its own pixels (a close-up of a small photo), the
        # finest detail is the engine's interpolation, not the product: compare at the photo's resolution.
        magnification = self.source_scale / max(float(np.sqrt(abs(np.linalg.det(warp[:, :2])))), 1e-6)
        sigma = float(np.hypot(TEXTURE_SIGMA, 0.5 * magnification)) if magnification > 1.0 else TEXTURE_SIGMA
        texture = _texture(raw_ref, raw_frame, mask, sigma)
        if deform_px > 0 and texture > 0:  # the residual flow was believed: the print may just have moved
            raw_cmp = cv2.cvtColor(compensated, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
            texture = min(texture, _texture(raw_ref, raw_cmp, mask, sigma))
        texture = min(1.0, texture / th.texture_scale)

        shear = deformation(warp)
        learned = 0.0
        if self.encoder is not None:  # optional learned similarity of the subject's view (quality/learned.py)
            ys, xs = np.nonzero(mask > 0)
            if ys.size:
                y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
                cos = self.encoder.similarity(reference[y0:y1, x0:x1], compensated[y0:y1, x0:x1])
                learned = min(1.0, max(0.0, (1.0 - cos) / th.learned_similarity_scale))
        drift = max(structure, colour, texture, deformation_score, learned, min(1.0, shear * 4.0))
        return {
            "drift": drift,
            "structure": structure,
            "colour": colour,
            "texture": texture,
            "deformation": deformation_score,
            "learned": learned,
            "colour_de": colour_de,
            "alignment": rho,
            "shear": shear,
        }


def score_drift(
    frames: np.ndarray,
    photo_work: np.ndarray,
    photo_detail: np.ndarray,
    mask_work: np.ndarray,
    init: np.ndarray,
    thresholds: QCThresholds,
    skip: set[int] | frozenset[int] = frozenset(),
    source_scale: float = 1.0,
) -> DriftResult:
    """Drift of evenly sampled frames; frames in `skip` (black/blank, reported on their own) are not
    sampled, so one engine fault is not also counted as drift."""
    scorer = DriftScorer(
        photo_work, photo_detail, mask_work, (frames.shape[2], frames.shape[1]), init, thresholds, source_scale
    )
    result = DriftResult()
    usable = [i for i in range(len(frames)) if i not in skip] or list(range(len(frames)))
    picks = sorted({usable[i] for i in sample_indices(len(usable), thresholds.drift_sample_frames)})
    for index in picks:
        record(result, index, scorer.score(frames[index]), scorer.last_warp)
    return result


def record(result: DriftResult, index: int, scores: dict[str, float], warp: np.ndarray) -> None:
    """Append one scored frame to `result`."""
    result.frames.append(index)
    result.drift.append(scores["drift"])
    for name in COMPONENTS:
        result.components[name].append(scores[name])
    result.colour_de.append(scores["colour_de"])
    result.alignment.append(scores["alignment"])
    result.shear.append(scores["shear"])
    result.warps.append(warp)
