"""Subject drift: how far each sampled frame's subject has moved away from the source photo; and the
"detail" check: the garment's print, logo and text compared at the clip's full resolution.

Per sampled frame: align globally (quality.align), let a heavily smoothed optical flow absorb the
intended subject motion (fabric sway, parallax), then compare inside the eroded subject mask:

- structure: 1 - SSIM of luminance;
- colour: CIEDE2000 of smoothed colours above an imperceptible floor, scaled by ``colour_de_scale``;
- texture: 1 - correlation of luminance gradients (prints, logos, text, weave);
- deformation: the part of the residual flow that is not smooth (a print sliding or bending locally),
  relative to the subject size; smooth, anchored motion (sway, hem swing, breathing) is allowed a
  much larger amplitude.

Local defects (a smeared logo, a recoloured pocket) matter as much as global ones, so each component
is the mean of the worst tenth of subject blocks, not a whole-mask mean. Drift of a frame combines
the components (an L-p norm, ``drift_combine_p``), so a subject that is moderately off in structure,
colour and texture at once fails although no component alone would. The clip's drift is its worst
short window (``drift_window_s``): a sample that scores high is confirmed by its neighbouring frames,
so a brief glitch counts while a single odd frame does not.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from skimage.color import deltaE_ciede2000, rgb2lab

from catalog_motion.presets import QCThresholds
from quality.align import Aligner, deformation, warp_to_frame
from quality.evidence import CheckResult, ClipEvidence, Finding
from quality.io import fit_cover

COMPONENTS = ("structure", "colour", "texture", "deformation", "learned")
COMBINED = (*COMPONENTS, "shear")  # what the frame's drift combines (shear scaled x SHEAR_GAIN)
# Anchored garment sway is itself a shear (x moves in proportion to the height below the shoulders), and
# a close-up magnifies it: the global fit absorbs part of it as anisotropy. Shear is weighted like the
# smooth part of the deformation (deformation_smooth_scale), not like a local bend: 0.25 of anisotropy
# (a quarter of the view sheared) reaches the drift limit alone; the calibration set's close-up with 3.5 %
# sway measures 0.10.
SHEAR_GAIN = 1.0
DETAIL_FACTOR = 2  # the drift scorer's photo copy is twice the work size (zoomed frames meet real detail)
CONFIRM_FRACTION = 0.5  # samples above this fraction of the drift limit are confirmed by their neighbours
BLOCK = 16  # px at work size (~5 % of the long side): the size of a local defect worth catching
WORST_FRACTION = 0.10
# Colour is compared on regions, not edges: chroma subsampling (yuv420p) and resampling bleed colour
# across edges by a pixel or two, which is not a different product.
COLOUR_SIGMA = 3.0
TEXTURE_SIGMA = 1.5  # px at work size: keeps logo strokes and print edges, drops pixel noise and grain
TEXTURE_FLOOR = 2e-3  # mean squared Sobel gradient (luma in [0, 1]) below which a block is flat
RESIDUAL_GAIN = 0.02  # structure (1 - SSIM) the smooth residual flow must remove to be believed
TEXTURE_SHIFTS = (-0.5, 0.0, 0.5)  # px: misregistration the texture check forgives
# Fine repetitive texture (twill, small checks, knit) at work size: blocks whose gradient energy at a
# COARSE_SIGMA blur is below FINE_RATIO of that at TEXTURE_SIGMA (scaled as an edge's would be) are
# compared at COARSE_SIGMA, where aliasing and codec noise are gone (`fine_blocks`).
COARSE_SIGMA = 3.0
FINE_RATIO = 0.15
EDGE_PX = 2  # px at work size: comparisons keep this far inside the photo's edge (resampling, chroma bleed)


@dataclass
class DriftResult:
    frames: list[int] = field(default_factory=list)
    drift: list[float] = field(default_factory=list)
    components: dict[str, list[float]] = field(default_factory=lambda: {c: [] for c in COMPONENTS})
    colour_de: list[float] = field(default_factory=list)
    alignment: list[float] = field(default_factory=list)
    shear: list[float] = field(default_factory=list)
    warps: list[np.ndarray] = field(default_factory=list)  # frame -> photo (work coordinates)
    # frames scored to confirm a high sample (its window's neighbours): index -> that frame's scores
    extra: dict[int, dict[str, float]] = field(default_factory=dict)
    scorer: DriftScorer | None = field(default=None, repr=False)  # the scorer that made it, for extra frames


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


def _gradients(y: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    t = cv2.GaussianBlur(y, (0, 0), sigma)
    return cv2.Sobel(t, cv2.CV_32F, 1, 0), cv2.Sobel(t, cv2.CV_32F, 0, 1)


def fine_blocks(ref_y: np.ndarray, sigma: float = TEXTURE_SIGMA) -> np.ndarray:
    """Blocks (bool, BLOCK grid) whose detail is fine repetitive texture (twill, small checks, knit,
    weave): their gradient energy all but vanishes between a `sigma` and a COARSE_SIGMA blur, while an
    edge, a logo or a print keeps a good part of it. At work size such texture is close to the pixel
    grid, so resampling aliases it and the codec's noise re-draws it: compared there, a good clip reads
    as changed texture. Those blocks are compared at COARSE_SIGMA (the garment's shape and shading); the
    full-resolution detail and boiling checks judge the texture itself."""
    gx, gy = _gradients(ref_y, sigma)
    cx, cy = _gradients(ref_y, COARSE_SIGMA)
    fine = _block_sums(gx**2 + gy**2)
    coarse = _block_sums(cx**2 + cy**2) * (COARSE_SIGMA / sigma)  # a step edge's energy falls as 1 / sigma
    return coarse < FINE_RATIO * fine


def _pixels(blocks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A BLOCK-grid map brought to pixels (`shape`), edge blocks extended."""
    h, w = shape
    out = np.repeat(np.repeat(blocks, BLOCK, axis=0), BLOCK, axis=1)
    pad_y, pad_x = max(0, h - out.shape[0]), max(0, w - out.shape[1])
    return np.pad(out, ((0, pad_y), (0, pad_x)), mode="edge")[:h, :w]


def _agreement(ref_y: np.ndarray, cmp_y: np.ndarray, mask: np.ndarray, sigma: float):
    """(per-block best gradient agreement over TEXTURE_SHIFTS, per-block reference energy) after a
    `sigma` blur."""
    gx_r, gy_r = _gradients(ref_y, sigma)
    e_ref = _block_sums((gx_r**2 + gy_r**2) * mask)
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
    return best, e_ref


def _texture(
    ref_y: np.ndarray, cmp_y: np.ndarray, mask: np.ndarray, sigma: float = 0.0, fine: np.ndarray | None = None
) -> float:
    """1 - gradient agreement on the worst subject blocks (luma in [0, 1], lightly smoothed).

    Agreement 2<g_ref, g_cmp> / (|g_ref|^2 + |g_cmp|^2) is 1 only when edges keep both their place and
    their strength, so a smeared (blurred) logo loses as much as a moved one. Sums per block, so one
    flat pixel cannot dominate; flat blocks (no print, no edge) do not count. `sigma` (>= TEXTURE_SIGMA)
    limits the comparison to the detail the source photo really has. Each block takes its best
    agreement over half-pixel shifts: a fine stripe or weave is not a different print because the
    alignment is off by a fraction of a pixel (parallax, rounding), while a smear or a warp is.
    `fine` (`fine_blocks`) marks blocks of fine repetitive texture: compared at COARSE_SIGMA (a block
    that is flat there has nothing to compare)."""
    sigma = max(sigma, TEXTURE_SIGMA)
    best, e_ref = _agreement(ref_y, cmp_y, mask, sigma)
    cover = _block_sums(mask)
    full = cover >= 0.5 * BLOCK * BLOCK
    if not full.any():
        return 0.0
    keep = full & (e_ref / np.maximum(cover, 1.0) > TEXTURE_FLOOR)
    if not keep.any():
        return 0.0
    if fine is not None and (fine & keep).any():
        coarse_sigma = max(sigma, COARSE_SIGMA)
        coarse, e_coarse = _agreement(ref_y, cmp_y, mask, coarse_sigma)
        # at the coarse scale such a block is often flat (only the texture was there): nothing to compare
        flat = e_coarse / np.maximum(cover, 1.0) <= TEXTURE_FLOOR * sigma / coarse_sigma
        best = np.where(fine, np.where(flat, 1.0, coarse), best)
    worst = np.sort(1.0 - best[keep])[::-1]
    return float(min(1.0, max(0.0, worst[: max(1, int(np.ceil(WORST_FRACTION * worst.size)))].mean())))


def combine(components: dict[str, float], p: float) -> float:
    """One drift score from components in [0, 1]: their L-p norm, capped at 1. p = 2 (root-sum-square)
    makes three components at 0.15 score 0.26, while one alone keeps its own value."""
    values = np.array([components.get(c, 0.0) for c in COMBINED], np.float64)
    if "shear" in components:
        values[-1] = min(1.0, components["shear"] * SHEAR_GAIN)
    return float(min(1.0, (np.abs(values) ** p).sum() ** (1.0 / p)))


def dominant(components: dict[str, float], p: float, share: float = 0.2) -> list[str]:
    """Components carrying at least `share` of the combined score's p-th power, largest first."""
    scaled = {c: components.get(c, 0.0) for c in COMBINED}
    scaled["shear"] = min(1.0, scaled["shear"] * SHEAR_GAIN)
    total = sum(v**p for v in scaled.values())
    if total <= 0:
        return []
    ranked = sorted(scaled, key=lambda c: -scaled[c])
    return [c for c in ranked if scaled[c] ** p >= share * total] or ranked[:1]


def smooth_part(flow: np.ndarray, mask: np.ndarray, step: int = 4) -> np.ndarray:
    """The low-order (quadratic in x and y) field that best fits `flow` (h, w, 2) inside `mask`.

    Intended garment motion is smooth and anchored: sway that grows from the shoulders or waistband
    towards the hem, a hem swing, breathing (a scale) are all close to a quadratic field over the
    subject; a print that slides or bends locally is not. Fitted on every `step`-th pixel (weighted
    least squares), evaluated everywhere."""
    h, w = mask.shape
    ys, xs = np.mgrid[0:h:step, 0:w:step]
    weight = mask[::step, ::step].ravel()
    if weight.sum() < 12:
        return np.zeros_like(flow)

    def basis(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        u, v = 2.0 * x / max(1, w - 1) - 1.0, 2.0 * y / max(1, h - 1) - 1.0
        return np.stack([np.ones_like(u), u, v, u * u, u * v, v * v], axis=-1)

    a = basis(xs.ravel().astype(np.float64), ys.ravel().astype(np.float64))
    aw = a * weight[:, None]
    targets = flow[::step, ::step].reshape(-1, 2).astype(np.float64)
    coef, *_ = np.linalg.lstsq(aw.T @ a + 1e-6 * np.eye(a.shape[1]), aw.T @ targets, rcond=None)
    gy, gx = np.mgrid[0:h, 0:w]
    return (basis(gx.astype(np.float64), gy.astype(np.float64)) @ coef).astype(np.float32)


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
        self.edge_kernel = np.ones((2 * EDGE_PX + 1, 2 * EDGE_PX + 1), np.uint8)
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
                "deform_px": 0.0,
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
        inside = warp_to_frame(self.ones, warp, size) > 0.999
        # Past the photo's edge (a frame zoomed out past it shows added backdrop) there is nothing to
        # compare: the reference is the frame itself there, so no blur or flow sees a false edge, and the
        # comparisons keep a few px inside the photo.
        reference = np.where(inside[..., None], reference, frame)
        valid = cv2.erode(inside.astype(np.uint8), self.edge_kernel).astype(bool) if not inside.all() else inside
        mask = warp_to_frame(self.mask, warp, size)
        mask = cv2.erode((mask > 0.5).astype(np.uint8), self.erode_kernel).astype(np.float32) * valid
        if mask.sum() < 4 * BLOCK * BLOCK:  # subject mostly out of view (a deep close-up): use the view
            mask = valid.astype(np.float32)

        ref_f = cv2.GaussianBlur(reference.astype(np.float32) / 255.0, (0, 0), 1.0)
        ref_y = cv2.cvtColor(ref_f, cv2.COLOR_RGB2GRAY)
        plain_f = cv2.GaussianBlur(frame.astype(np.float32) / 255.0, (0, 0), 1.0)
        plain_y = cv2.cvtColor(plain_f, cv2.COLOR_RGB2GRAY)
        fine = fine_blocks(cv2.cvtColor(reference, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0)
        fine_px = _pixels(fine, ref_y.shape) if fine.any() else None

        def structure_loss(cmp_y: np.ndarray) -> float:
            # fine repetitive texture is compared for structure at COARSE_SIGMA (see fine_blocks)
            loss = 1.0 - _ssim_map(ref_y, cmp_y)
            if fine_px is not None:
                extra = np.sqrt(COARSE_SIGMA**2 - 1.0)
                coarse = 1.0 - _ssim_map(
                    cv2.GaussianBlur(ref_y, (0, 0), extra), cv2.GaussianBlur(cmp_y, (0, 0), extra), COARSE_SIGMA
                )
                loss = np.where(fine_px, coarse, loss)
            return _block_worst(loss, mask)

        plain_structure = structure_loss(plain_y)

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
        flow = self.flow.calc(small_ref, small_frm, None)
        # Smoothed at the flow's own half size (the field is smooth over >= 2 px, so nothing is lost) and
        # only then brought to the frame: a quarter of the cost of the wide blurs.
        sigma = max(1.0, 0.04 * self.subject_size)
        mask_half = cv2.resize(mask, half, interpolation=cv2.INTER_AREA)
        weight = cv2.GaussianBlur(mask_half, (0, 0), sigma) + 1e-3
        smooth = np.dstack([cv2.GaussianBlur(flow[..., i] * mask_half, (0, 0), sigma) / weight for i in range(2)])
        smooth = cv2.resize(smooth, size, interpolation=cv2.INTER_LINEAR) * 2.0
        compensated = cv2.remap(
            frame,
            self.grid_x + smooth[..., 0],
            self.grid_y + smooth[..., 1],
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REFLECT,
        )
        cmp_f = cv2.GaussianBlur(compensated.astype(np.float32) / 255.0, (0, 0), 1.0)
        cmp_y = cv2.cvtColor(cmp_f, cv2.COLOR_RGB2GRAY)
        structure = structure_loss(cmp_y)
        # The residual motion counts (as deformation) only when it explains a real part of the change;
        # otherwise the flow is chasing noise in flat areas and the frame is compared as it is.
        if plain_structure - structure > RESIDUAL_GAIN:
            # Worst blocks, like the other components: a print that slides locally is a defect. The part
            # of the residual motion a quadratic field explains (anchored sway, hem swing, breathing) is
            # allowed a much larger amplitude than the rest (a local bend or slide of the print).
            fitted = smooth_part(smooth, mask)
            local_px = _block_worst(np.hypot(*(smooth - fitted).transpose(2, 0, 1)), mask)
            smooth_px = _block_worst(np.hypot(smooth[..., 0], smooth[..., 1]), mask)
        else:  # the flow did not help (no residual motion, or a flow failure): compare the frame as it is
            structure, cmp_f, cmp_y, local_px, smooth_px = plain_structure, plain_f, plain_y, 0.0, 0.0
        structure = min(1.0, max(0.0, structure))
        # Displacements are in frame pixels, the subject's size in photo pixels: a push-in or close-up that
        # shows the garment 1.5x larger shows its sway 1.5x larger too.
        zoom = 1.0 / max(float(np.sqrt(abs(np.linalg.det(warp[:, :2])))), 1e-6)
        seen_size = self.subject_size * zoom
        deformation_score = min(
            1.0,
            max(
                local_px / (th.deformation_px_scale * seen_size),
                smooth_px / (th.deformation_smooth_scale * seen_size),
            ),
        )
        deform_px = max(local_px, smooth_px)

        # Colour on regions at half size (the blur removes what the full size would add, at 1/4 the cost).
        lab_ref = rgb2lab(cv2.resize(cv2.GaussianBlur(ref_f, (0, 0), COLOUR_SIGMA), half, interpolation=cv2.INTER_AREA))
        lab_cmp = rgb2lab(cv2.resize(cv2.GaussianBlur(cmp_f, (0, 0), COLOUR_SIGMA), half, interpolation=cv2.INTER_AREA))
        de_map = cv2.resize(deltaE_ciede2000(lab_ref, lab_cmp).astype(np.float32), size, interpolation=cv2.INTER_LINEAR)
        colour_de = _block_worst(de_map, mask)
        # Below the floor a difference is invisible (compression and chroma subsampling reach ~1.5 in dark
        # regions of a good encode); above it, the scale.
        colour = min(1.0, max(0.0, colour_de - th.colour_de_floor) / th.colour_de_scale)

        # Texture may use either version of the frame: a sub-pixel slip of thin logo strokes is not a
        # different print, so the flow is only allowed to help.
        raw_ref, raw_frame = (
            cv2.cvtColor(x, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0 for x in (reference, frame)
        )
        # Where the clip magnifies the photo beyond its own pixels (a close-up of a small photo), the
        # finest detail is the engine's interpolation, not the product: compare at the photo's resolution.
        magnification = self.source_scale / max(float(np.sqrt(abs(np.linalg.det(warp[:, :2])))), 1e-6)
        sigma = float(np.hypot(TEXTURE_SIGMA, 0.5 * magnification)) if magnification > 1.0 else TEXTURE_SIGMA
        texture = _texture(raw_ref, raw_frame, mask, sigma, fine)
        if deform_px > 0 and texture > 0:  # the residual flow was believed: the print may just have moved
            raw_cmp = cv2.cvtColor(compensated, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
            texture = min(texture, _texture(raw_ref, raw_cmp, mask, sigma, fine))
        texture = min(1.0, texture / th.texture_scale)

        shear = deformation(warp)
        learned = 0.0
        if self.encoder is not None:  # optional learned similarity of the subject's view (quality/learned.py)
            ys, xs = np.nonzero(mask > 0)
            if ys.size:
                y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
                cos = self.encoder.similarity(reference[y0:y1, x0:x1], compensated[y0:y1, x0:x1])
                learned = min(1.0, max(0.0, (1.0 - cos) / th.learned_similarity_scale))
        out = {
            "structure": structure,
            "colour": colour,
            "texture": texture,
            "deformation": deformation_score,
            "learned": learned,
            "shear": shear,
        }
        out["drift"] = combine(out, th.drift_combine_p)
        out.update(colour_de=colour_de, alignment=rho, deform_px=deform_px)
        return out

    def score_near(self, frame: np.ndarray, warp: np.ndarray) -> dict[str, float]:
        """Score a frame next to one already scored (`warp`: that frame's frame -> photo map), leaving the
        tracking state as it was (confirmation frames are scored out of order)."""
        saved_aligner, saved_warp = self.aligner.last.copy(), self.last_warp
        self.aligner.last = self.aligner._to_photo(warp)
        try:
            return self.score(frame)
        finally:
            self.aligner.last, self.last_warp = saved_aligner, saved_warp


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


# --- the gate's drift check ------------------------------------------------------------------------


def scorer_for(evidence: ClipEvidence) -> DriftScorer:
    """The scorer that made `evidence.drift` (for confirmation frames), or an equivalent new one."""
    if evidence.drift.scorer is not None:
        return evidence.drift.scorer
    w, h = evidence.size
    detail, _, _ = fit_cover(evidence.photo, w * DETAIL_FACTOR, h * DETAIL_FACTOR)
    init = evidence.drift.warps[0] if evidence.drift.warps else fit_cover(evidence.photo, w, h)[1]
    return DriftScorer(
        evidence.photo_work,
        detail,
        evidence.mask_work,
        (w, h),
        init,
        evidence.thresholds,
        source_scale=evidence.photo_work.shape[1] / evidence.photo.shape[1],
    )


def window_offset(fps: float, window_s: float) -> int:
    """Frames between a sample and each neighbour that confirms it (half a window, at least 1)."""
    return max(1, int(window_s * fps / 2.0))


def windowed_drift(evidence: ClipEvidence) -> list[float]:
    """Per drift sample, its window's drift: the median of the sample and its two neighbours `k` frames
    away (the smaller of two at the clip's ends). Neighbours are scored only for samples above
    CONFIRM_FRACTION of the limit; the others keep their own value (they cannot fail).

    Why a median of three frames: a defect a shopper notices lasts a few frames, so it shows in at
    least two of them (counted, even when it falls between regular samples and hits only one); one odd
    frame (a rendering quirk) does not decide the clip - the frame-to-frame checks (warping error, cuts)
    see every frame and report it."""
    result, th = evidence.drift, evidence.thresholds
    k = window_offset(evidence.fps, th.drift_window_s)
    sampled = dict(zip(result.frames, result.drift, strict=True))
    index_of = {f: j for j, f in enumerate(result.frames)}
    scorer: DriftScorer | None = None
    out: list[float] = []
    for frame, value in zip(result.frames, result.drift, strict=True):
        if value <= CONFIRM_FRACTION * th.max_subject_drift:
            out.append(value)
            continue
        values = [value]
        for nb in (frame - k, frame + k):
            if not 0 <= nb < evidence.n_frames or evidence.black[nb]:
                continue
            if nb in sampled:
                values.append(sampled[nb])
                continue
            if nb not in result.extra:
                scorer = scorer or scorer_for(evidence)
                near = result.warps[index_of[frame]]
                result.extra[nb] = scorer.score_near(evidence.frames[nb], near)
            values.append(result.extra[nb]["drift"])
        out.append(float(np.median(values)) if len(values) == 3 else float(min(values)))
    return out


def evaluate(evidence: ClipEvidence) -> CheckResult:
    """The drift check (worst window of combined drift) and the full-resolution detail check."""
    result = drift_check(evidence)
    return result.merge(detail_check(evidence))


def drift_check(evidence: ClipEvidence) -> CheckResult:
    th, drift = evidence.thresholds, evidence.drift
    windowed = windowed_drift(evidence)
    worst = int(np.argmax(windowed))
    r = CheckResult(
        scores=dict(
            drift=float(windowed[worst]),
            drift_peak=float(max(drift.drift)),
            drift_last=float(windowed[-1]),
            drift_mean=float(np.mean(drift.drift)),
            drift_worst_frame=float(drift.frames[worst]),
            colour_de=float(max(drift.colour_de)),
            alignment_min=float(min(drift.alignment)),
            drift_confirm_frames=float(len(drift.extra)),
        ),
        limits={"drift": th.max_subject_drift},
    )
    for name, values in drift.components.items():
        r.scores[f"drift_{name}"] = float(max(values))
        r.per_frame[f"drift_{name}"] = [float(v) for v in values]
    r.per_frame["drift"] = [float(v) for v in windowed]
    r.per_frame["drift_raw"] = [float(v) for v in drift.drift]
    r.per_frame["drift_frame"] = [float(i) for i in drift.frames]
    if r.scores["drift"] > th.max_subject_drift:
        parts = {c: drift.components[c][worst] for c in COMPONENTS}
        parts["shear"] = drift.shear[worst]
        named = dominant(parts, th.drift_combine_p)
        shown = ", ".join(f"{c} {min(1.0, parts[c] * (SHEAR_GAIN if c == 'shear' else 1.0)):.2f}" for c in named)
        r.findings.append(
            Finding(
                "drift",
                f"subject drift ({shown})",
                r.scores["drift"],
                th.max_subject_drift,
                drift.frames[worst],
                evidence.fps,
            )
        )
    return r


# --- detail: the print, logo and text at full resolution ---------------------------------------------


def _affine3(m: np.ndarray) -> np.ndarray:
    return np.vstack([np.asarray(m, np.float64).reshape(2, 3), [0.0, 0.0, 1.0]])


def _rescale(sx: float, sy: float) -> np.ndarray:
    """Pixel-centre map from a grid `s` times finer to the coarser one: x_coarse = (x + 0.5) / s - 0.5."""
    return np.array([[1 / sx, 0, 0.5 / sx - 0.5], [0, 1 / sy, 0.5 / sy - 0.5], [0, 0, 1]], np.float64)


def full_frame_to_photo(evidence: ClipEvidence, index: int) -> np.ndarray:
    """3x3 map from full-resolution frame pixels to full-resolution photo pixels for frame `index`
    (the work-size warp, scaled at both ends; photo_work covers a work frame as fit_cover does)."""
    w, h = evidence.size
    pw_h, pw_w = evidence.photo_work.shape[:2]
    ph, pw = evidence.photo.shape[:2]
    frame_to_work = _rescale(evidence.width / w, evidence.height / h)
    work_to_photo = np.linalg.inv(_rescale(pw / pw_w, ph / pw_h))  # photo_work px -> photo px
    return work_to_photo @ _affine3(evidence.warp_at(index)) @ frame_to_work


def detail_map(evidence: ClipEvidence) -> np.ndarray:
    """Where the garment's finest detail is (print, logo, text), photo_work coordinates: luma gradient
    energy inside the eroded subject mask."""
    gray = cv2.cvtColor(evidence.photo_work, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    gray = cv2.GaussianBlur(gray, (0, 0), 0.7)
    energy = cv2.Sobel(gray, cv2.CV_32F, 1, 0) ** 2 + cv2.Sobel(gray, cv2.CV_32F, 0, 1) ** 2
    mask = (evidence.mask_work > 0.5).astype(np.uint8)
    size = max(8.0, float(np.sqrt(mask.sum())))
    erode = max(3, int(round(0.04 * size)) | 1)
    inner = cv2.erode(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (erode, erode)))
    return energy * (inner if inner.any() else mask)


def pick_patches(
    energy_frame: np.ndarray, patch_work: float, count: int, allowed: np.ndarray | None = None
) -> list[tuple[float, float]]:
    """Centres (work px) of the `count` most detailed non-overlapping patches of side `patch_work`;
    `allowed` (bool, frame size) marks the centres that may be picked."""
    h, w = energy_frame.shape
    side = max(3, int(round(patch_work)) | 1)
    summed = cv2.boxFilter(energy_frame, -1, (side, side), normalize=True, borderType=cv2.BORDER_CONSTANT)
    if allowed is not None:
        summed = summed * allowed
    half = patch_work / 2.0
    y0, y1 = int(np.ceil(half)), int(np.floor(h - half))
    x0, x1 = int(np.ceil(half)), int(np.floor(w - half))
    if y1 <= y0 or x1 <= x0:
        return []
    inside = np.zeros_like(summed)
    inside[y0:y1, x0:x1] = summed[y0:y1, x0:x1]
    floor = 0.05 * float(inside.max())
    out: list[tuple[float, float]] = []
    for _ in range(count):
        _, best, _, (x, y) = cv2.minMaxLoc(inside)
        if best <= max(floor, 1e-6):
            break
        out.append((float(x), float(y)))
        r = int(np.ceil(patch_work))
        inside[max(0, y - r) : y + r + 1, max(0, x - r) : x + r + 1] = 0.0
    return out


def window_inside_photo(evidence: ClipEvidence, warp: np.ndarray, half_work: float, pad_photo: float) -> np.ndarray:
    """Frame pixels (bool, work size) around which a square window of half side `half_work` work px,
    plus `pad_photo` px of the full-resolution photo, maps wholly inside the photo: a detail patch there
    has a reference, while one that straddles the photo's edge would compare added backdrop with nothing."""
    w, h = evidence.size
    pw_h, pw_w = evidence.photo_work.shape[:2]
    pad = pad_photo * pw_w / evidence.photo.shape[1]  # in photo_work px
    hx = half_work * (abs(warp[0, 0]) + abs(warp[0, 1])) + pad
    hy = half_work * (abs(warp[1, 0]) + abs(warp[1, 1])) + pad
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    x = warp[0, 0] * xs + warp[0, 1] * ys + warp[0, 2]
    y = warp[1, 0] * xs + warp[1, 1] * ys + warp[1, 2]
    return (x - hx >= -0.5) & (x + hx <= pw_w - 0.5) & (y - hy >= -0.5) & (y + hy <= pw_h - 0.5)


def _gray01(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0


def patch_loss(reference: np.ndarray, frame: np.ndarray, sigma: float) -> tuple[float, float]:
    """(edge loss, structure loss) of a frame patch against the photo's (grey, [0, 1], same grid).

    Edge loss: 1 - 2<g_ref, g_frame> / (|g_ref|^2 + |g_frame|^2) of gradients after a `sigma` blur - 0
    only when edges keep their place and strength (a smear or melted text loses both). Structure
    loss: 1 - mean SSIM (window sigma max(1.5, sigma))."""
    a = cv2.GaussianBlur(reference, (0, 0), sigma) if sigma > 0 else reference
    b = cv2.GaussianBlur(frame, (0, 0), sigma) if sigma > 0 else frame
    gxa, gya = cv2.Sobel(a, cv2.CV_32F, 1, 0), cv2.Sobel(a, cv2.CV_32F, 0, 1)
    gxb, gyb = cv2.Sobel(b, cv2.CV_32F, 1, 0), cv2.Sobel(b, cv2.CV_32F, 0, 1)
    dot = float((gxa * gxb + gya * gyb).sum())
    energy = float((gxa**2 + gya**2).sum() + (gxb**2 + gyb**2).sum())
    edge = 1.0 - 2.0 * dot / energy if energy > 1e-9 else 0.0
    structure = 1.0 - float(_ssim_map(a, b, max(1.5, sigma)).mean())
    return float(np.clip(edge, 0.0, 1.0)), float(np.clip(structure, 0.0, 1.0))


PATCH_AFFINE_LIMIT = 0.08  # largest local stretch, shear or turn (of the patch) registration may absorb
PATCH_REFINE_FRACTION = 0.25  # patches scoring above this share of max_detail_loss are registered affinely


def register_patch(patch: np.ndarray, window: np.ndarray, dx: int, dy: int, *, affine: bool = False) -> np.ndarray:
    """2x3 map from `patch` into `window` (its reference, larger by a margin each side), both blurred:
    the integer shift (`dx`, `dy`) refined by ECC to a sub-pixel translation, or with `affine` to an
    affine map. A garment that sways, swings or moves against its backdrop (parallax) bends smoothly,
    so over one patch its motion is close to an affine map the global alignment does not see; a smear
    or melted text is not affine and stays. An affine fit that stretches, shears or turns the patch by
    more than PATCH_AFFINE_LIMIT is not believed (the translation is returned)."""
    shift = np.array([[1, 0, dx], [0, 1, dy]], np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 1e-4)
    try:
        _, shift = cv2.findTransformECC(patch, window, shift, cv2.MOTION_TRANSLATION, criteria, None, 1)
    except cv2.error:
        return shift  # keep the integer shift
    if not affine:
        return shift
    try:
        _, bent = cv2.findTransformECC(patch, window, shift.copy(), cv2.MOTION_AFFINE, criteria, None, 1)
    except cv2.error:
        return shift
    return shift if float(np.abs(bent[:, :2] - np.eye(2)).max()) > PATCH_AFFINE_LIMIT else bent


def _patch_reference(window: np.ndarray, m: np.ndarray, side: int) -> np.ndarray:
    return cv2.warpAffine(
        window, m, (side, side), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT
    )


def frame_detail(evidence: ClipEvidence, index: int, energy: np.ndarray) -> tuple[float, float, float]:
    """(loss, edge loss, structure loss) of frame `index`'s worst detail patch at full resolution."""
    th = evidence.thresholds
    full = evidence.full_frames[index]
    fh, fw = full.shape[:2]
    w, h = evidence.size
    sf = fw / w
    side = min(th.detail_patch_px, fw, fh)
    margin = side // 2  # local misregistration the patch may have (sway, the work-size warp's error)
    m_full = full_frame_to_photo(evidence, index)
    photo_px = float(np.sqrt(abs(np.linalg.det(m_full[:2, :2]))))  # photo px per frame px
    # a frame that magnifies the photo shows interpolation below the photo's pixel: compare above it
    sigma = float(np.hypot(th.detail_softness_px, 0.5 / photo_px)) if photo_px < 1.0 else th.detail_softness_px
    warp = evidence.warp_at(index)
    energy_frame = warp_to_frame(energy, warp, evidence.size)
    worst = (0.0, 0.0, 0.0)
    ph, pw = evidence.photo.shape[:2]
    allowed = window_inside_photo(evidence, warp, (side + 2 * margin) / (2 * sf), 2 + 3 * max(1.0, photo_px))
    for cx, cy in pick_patches(energy_frame, side / sf, th.detail_patches, allowed):
        x0 = int(np.clip(round((cx + 0.5) * sf - 0.5 - side / 2), 0, fw - side))
        y0 = int(np.clip(round((cy + 0.5) * fh / h - 0.5 - side / 2), 0, fh - side))
        big = side + 2 * margin
        window_to_photo = m_full @ np.array([[1, 0, x0 - margin], [0, 1, y0 - margin], [0, 0, 1]], np.float64)
        corners = window_to_photo @ np.array([[0, big, 0, big], [0, 0, big, big], [1, 1, 1, 1]], np.float64)
        pad = 2 + int(3 * max(1.0, photo_px))
        rx0, ry0 = int(np.floor(corners[0].min())) - pad, int(np.floor(corners[1].min())) - pad
        rx1, ry1 = int(np.ceil(corners[0].max())) + pad, int(np.ceil(corners[1].max())) + pad
        if rx0 < 0 or ry0 < 0 or rx1 > pw or ry1 > ph:
            continue  # the window reaches past the photo (an engine's outpainted border): no reference
        roi = _gray01(evidence.photo[ry0:ry1, rx0:rx1])
        if photo_px > 1.0:  # the frame shrinks the photo: anti-alias as a camera would
            roi = cv2.GaussianBlur(roi, (0, 0), 0.5 * np.sqrt(photo_px**2 - 1.0))
        to_roi = np.array([[1, 0, -rx0], [0, 1, -ry0], [0, 0, 1]], np.float64) @ window_to_photo
        ref_window = cv2.warpAffine(
            roi, to_roi[:2].astype(np.float32), (big, big), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        )
        patch = _gray01(full[y0 : y0 + side, x0 : x0 + side])
        # local registration: best integer shift (blurred, so fine texture cannot alias), then sub-pixel
        blur_ref = cv2.GaussianBlur(ref_window, (0, 0), max(2.0, sigma))
        blur_patch = cv2.GaussianBlur(patch, (0, 0), max(2.0, sigma))
        if float(blur_patch.std()) < 1e-3:
            continue
        score = cv2.matchTemplate(blur_ref, blur_patch, cv2.TM_CCOEFF_NORMED)
        _, _, _, (dx, dy) = cv2.minMaxLoc(score)
        shift = register_patch(blur_patch, blur_ref, dx, dy)
        edge, structure = patch_loss(_patch_reference(ref_window, shift, side), patch, sigma)
        loss = max(edge, structure)
        if loss > PATCH_REFINE_FRACTION * th.max_detail_loss:  # a lost patch, or one the garment bends
            bent = register_patch(blur_patch, blur_ref, dx, dy, affine=True)
            edge_b, structure_b = patch_loss(_patch_reference(ref_window, bent, side), patch, sigma)
            if max(edge_b, structure_b) < loss:
                edge, structure, loss = edge_b, structure_b, max(edge_b, structure_b)
        if loss > worst[0]:
            worst = (loss, edge, structure)
    return worst


def detail_check(evidence: ClipEvidence) -> CheckResult:
    """Fine detail of the print, logo and text at the clip's full resolution, on the kept full-size
    frames: each frame's worst patch; of two consecutive frames the better (one odd frame is not a
    smeared logo); the clip's value is the worst pair."""
    th = evidence.thresholds
    r = CheckResult(limits={"detail": th.max_detail_loss})
    usable = sorted(i for i in evidence.full_frames if i < evidence.n_frames and not evidence.black[i])
    if not usable or not evidence.drift.frames:
        return r
    energy = detail_map(evidence)
    per_frame = {i: frame_detail(evidence, i, energy) for i in usable}
    pairs = [(i, i + 1) for i in usable if i + 1 in per_frame] or [(i, i) for i in usable]
    values = []
    for a, b in pairs:
        better = a if per_frame[a][0] <= per_frame[b][0] else b
        values.append((per_frame[better][0], better))
    loss, frame = max(values)
    r.scores.update(
        detail=float(loss),
        detail_edge=float(per_frame[frame][1]),
        detail_structure=float(per_frame[frame][2]),
        detail_worst_frame=float(frame),
    )
    r.per_frame["detail"] = [float(per_frame[i][0]) for i in usable]
    r.per_frame["detail_frame"] = [float(i) for i in usable]
    if loss > th.max_detail_loss:
        edge, structure = per_frame[frame][1], per_frame[frame][2]
        what = "edges and text" if edge >= structure else "structure"
        r.findings.append(
            Finding(
                "detail", f"fine detail lost at full resolution ({what})", loss, th.max_detail_loss, frame, evidence.fps
            )
        )
    return r
