"""Temporal discontinuities the sampled drift cannot see: jump cuts, short glitches and boiling texture.

- cut: one consecutive pair changes far more than its neighbouring pairs, and the clip does not come back
  (a different take or framing from frame t+1 on).
- glitch: a short run of frames (1-6) that shows something else (a garbled, recoloured or warped subject)
  and then returns: every frame is compared with the photo through the drift alignment at low resolution,
  and the worst short window is set against the frames just before and after it.
- boiling: fine texture inside the subject that is re-synthesised frame to frame. Native-resolution patches
  of the subject from consecutive full-size frames are aligned (phase correlation) and their high-frequency
  temporal residual is measured against the patches' own texture energy.

Comparisons at low resolution forgive a one-pixel local displacement (each pixel is compared with the
range of its 3x3 neighbourhood in the other image), so smooth sway, hem swing and parallax are not change.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from quality.evidence import CheckResult, ClipEvidence, Finding

LOW_LONG_SIDE = 160  # px (half the work size): cuts and glitches change the subject; fine detail is boiling's
CUT_NEIGHBOURS = 4  # pairs each side that make a pair's local baseline
RETURN_FRAMES = 6  # a change undone within this many frames is a glitch, not a cut
GLITCH_MAX_FRAMES = 6  # longest run of frames a glitch may span
BRACKET_MAX_FRAMES = 4  # longest run the frames-only glitch test brackets (longer ones drift sees)
GLITCH_CONTEXT = 6  # frames each side of a window that make its baseline
GLITCH_BLOCK = 8  # px at low resolution (~5 % of the long side): the smallest glitch worth catching
GLITCH_WORST_FRACTION = 0.25  # of the subject's blocks that score a frame
PATCH = 128  # px at full resolution: boiling patches (a phase-correlation friendly size)
MIN_PATCH = 32  # px: the smallest patch, for small deliveries
PATCHES_PER_PAIR = 6  # most textured subject patches scored per pair
PATCH_CANDIDATES = 24  # candidate patch centres spread over the subject per pair
# px at full resolution: the band (detail of ~6-12 px period: weave, print grain, knit) where boiling shows
# at 1080p; finer than that, a camera move's resampling and the encoder's quantisation change every frame
BAND_FINE_SIGMA = 1.0
BAND_COARSE_SIGMA = 2.0
MIN_TEXTURE_STD = 0.5 / 255.0  # band std below which a patch has no texture to boil


# --- low-resolution change maps -------------------------------------------------------------------


def low_res(frames: np.ndarray, long_side: int = LOW_LONG_SIDE) -> np.ndarray:
    """(N, h, w, 3) uint8 -> (N, h', w', 3) uint8 with long side `long_side` (area filter)."""
    n, h, w = frames.shape[:3]
    scale = min(1.0, long_side / max(h, w))
    size = (max(8, int(round(w * scale))), max(8, int(round(h * scale))))
    if size == (w, h):
        return np.ascontiguousarray(frames)
    # an exact 2x reduction is a 2x2 mean, which bilinear resampling computes fastest
    interp = cv2.INTER_LINEAR if (w, h) == (2 * size[0], 2 * size[1]) else cv2.INTER_AREA
    out = np.empty((n, size[1], size[0], 3), np.uint8)
    for i, frame in enumerate(frames):
        out[i] = cv2.resize(frame, size, interpolation=interp)
    return out


_KERNEL = np.ones((3, 3), np.uint8)
CHANGE_UNIT = 6 * 255  # 2 directions x 3 channels of 8-bit levels: tolerant_diff's sum -> a mean in [0, 1]


def _ranges(stack: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """3x3 neighbourhood max and min of every frame of an (N, h, w, 3) uint8 stack, in one morphology
    call each on the stack seen as one tall image (rows at frame borders mix neighbours; callers drop
    them)."""
    n, h, w = stack.shape[:3]
    tall = stack.reshape(n * h, w, 3)
    return cv2.dilate(tall, _KERNEL).reshape(stack.shape), cv2.erode(tall, _KERNEL).reshape(stack.shape)


def tolerant_diff(
    a: np.ndarray,
    b: np.ndarray,
    ranges_a: tuple[np.ndarray, np.ndarray] | None = None,
    ranges_b: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Per-pixel change between uint8 images (or stacks of the same shape) that forgives a one-pixel
    displacement: how far each value of `a` lies outside the range of `b`'s 3x3 neighbourhood, plus the
    same of `b` against `a`, halved and averaged over the channels, in [0, 1] (a pixel's sum saturates at
    one full level step each way). (..., h, w, 3) uint8 -> (..., h, w) float32."""
    hi_a, lo_a = ranges_a if ranges_a is not None else _ranges(a.reshape((-1,) + a.shape[-3:]))
    hi_b, lo_b = ranges_b if ranges_b is not None else _ranges(b.reshape((-1,) + b.shape[-3:]))
    shape = a.shape
    tall = (int(np.prod(shape[:-2])), shape[-2], shape[-1])
    parts = []
    # saturating uint8 subtraction is max(x - y, 0); a value cannot be both above the max and below the
    # min, so the two one-sided excesses combine exactly with a bitwise or
    for x, hi, lo in ((a, hi_b, lo_b), (b, hi_a, lo_a)):
        x2, hi2, lo2 = (np.ascontiguousarray(v).reshape(tall) for v in (x, hi, lo))
        parts.append(cv2.bitwise_or(cv2.subtract(x2, hi2), cv2.subtract(lo2, x2)))
    # the two directions add in 8 bits (saturating only where a pixel changed by half the range both ways)
    total = cv2.add(parts[0], parts[1]).astype(np.float32)
    return cv2.transform(total, np.full((1, 3), 1.0 / CHANGE_UNIT, np.float32)).reshape(shape[:-1])


def change(a: np.ndarray, b: np.ndarray) -> float:
    """Mean tolerant change between two low-resolution uint8 frames, in [0, 1]."""
    return float(tolerant_diff(a, b)[1:-1].mean())


# --- cut -------------------------------------------------------------------------------------------


@dataclass
class CutResult:
    pair_change: np.ndarray  # per pair t -> t+1: mean tolerant change (NaN where a black frame is involved)
    ratio: np.ndarray  # per pair: change / max(local baseline, floor)
    cut_pairs: list[int]  # pairs t whose change is a persistent jump (frames t | t+1)

    @property
    def worst(self) -> tuple[float, int | None]:
        """(ratio, pair) of the worst persistent jump; (0, None) when there is none."""
        if self.cut_pairs:
            t = max(self.cut_pairs, key=lambda p: self.ratio[p])
            return float(self.ratio[t]), t
        return 0.0, None


def pair_changes(
    low: np.ndarray,
    skip: set[int] | frozenset[int] = frozenset(),
    ranges: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Tolerant change of every consecutive pair of a uint8 stack; NaN for pairs touching a frame in
    `skip`."""
    if len(low) < 2:
        return np.zeros(0)
    hi, lo = ranges if ranges is not None else _ranges(low)
    d = tolerant_diff(low[1:], low[:-1], (hi[1:], lo[1:]), (hi[:-1], lo[:-1]))
    out = np.array([cv2.mean(x[1:-1])[0] for x in d])
    for t in skip:
        for p in (t - 1, t):
            if 0 <= p < out.size:
                out[p] = np.nan
    return out


def _window_medians(values: np.ndarray, lo: np.ndarray, hi: np.ndarray, min_count: int = 1) -> np.ndarray:
    """Median of the finite values in values[lo[k]:hi[k]] for every k (windows at most 16 long); NaN where
    fewer than `min_count` are finite."""
    n = values.size
    width = int(max(1, (hi - lo).max(initial=1)))
    padded = np.concatenate([values.astype(np.float64), np.full(width, np.nan)])
    idx = lo[:, None] + np.arange(width)[None, :]
    rows = padded[np.minimum(idx, n + width - 1)]
    rows[idx >= hi[:, None]] = np.nan
    rows.sort(axis=1)  # NaN last
    count = np.isfinite(rows).sum(axis=1)
    k = np.arange(lo.size)
    # odd count: the middle value; even count: the mean of the two middle values
    lower = rows[k, np.maximum((count - 1) // 2, 0)]
    upper = rows[k, np.minimum(count // 2, width - 1)]
    mid = np.where(count % 2 == 1, lower, 0.5 * (lower + upper))
    mid[count < min_count] = np.nan
    return mid


def local_ratio(changes: np.ndarray, floor: float, neighbours: int = CUT_NEIGHBOURS, side: str = "both") -> np.ndarray:
    """Each pair's change over the median change of the `neighbours` pairs on each side (itself excluded;
    `side` "before" or "after": that side only), the baseline never below `floor`, so a still clip's noise
    or a breathing loop's turning point (tiny baseline) needs a real jump to count. 0 for pairs without a
    value."""
    n = changes.size
    if n == 0:
        return np.zeros(0)
    t = np.arange(n)
    # the pair itself is replaced by NaN inside a window spanning both sides
    masked = changes.astype(np.float64)
    if side == "before":
        base = _window_medians(masked, np.maximum(t - neighbours, 0), t)
    elif side == "after":
        base = _window_medians(masked, t + 1, np.minimum(t + 1 + neighbours, n))
    else:
        lo, hi = np.maximum(t - neighbours, 0), np.minimum(t + 1 + neighbours, n)
        width = 2 * neighbours + 1
        padded = np.concatenate([masked, np.full(width, np.nan)])
        idx = lo[:, None] + np.arange(width)[None, :]
        rows = padded[idx]
        rows[(idx >= hi[:, None]) | (idx == t[:, None])] = np.nan
        flat = rows.reshape(-1)
        base = _window_medians(flat, np.arange(n) * width, np.arange(n) * width + width)
    base = np.nan_to_num(base, nan=0.0)
    out = np.where(np.isfinite(changes), np.nan_to_num(changes) / np.maximum(base, floor), 0.0)
    return out


def returns_within(low: np.ndarray, t: int, jump: float, frames: int = RETURN_FRAMES) -> bool:
    """True when the jump between frames t and t+1 is undone within `frames` frames: some frame up to t
    looks like some frame from t+1 on, at most `frames` apart besides the pair itself (a glitch: whatever
    the frames in between show, the clip comes back). A cut stays cut."""
    n = len(low)
    for span in range(1, frames + 1):
        for j in range(span + 1):  # frame t - j against frame t + 1 + (span - j)
            a, b = t - j, t + 1 + span - j
            if a >= 0 and b < n and change(low[a], low[b]) < 0.5 * jump:
                return True
    return False


def detect_cuts(
    low: np.ndarray,
    limit: float,
    floor: float,
    skip: set[int] | frozenset[int] = frozenset(),
    ranges: tuple[np.ndarray, np.ndarray] | None = None,
) -> CutResult:
    """Pairs whose change exceeds `limit` x their local baseline (floored at `floor`) and is not undone."""
    changes = pair_changes(low, skip, ranges)
    ratio = local_ratio(changes, floor)
    cuts = [int(t) for t in np.nonzero(ratio > limit)[0] if not returns_within(low, int(t), float(changes[t]))]
    return CutResult(pair_change=changes, ratio=ratio, cut_pairs=cuts)


# --- glitch ----------------------------------------------------------------------------------------


def scale_warps(warps: np.ndarray, frame_factor: float, photo_factor: float) -> np.ndarray:
    """Frame -> photo affine maps at work size (N, 2, 3), for a frame `frame_factor` x and a photo
    `photo_factor` x smaller (pixel centres)."""

    def shrink(f: float) -> np.ndarray:  # small px -> work px
        return np.array([[f, 0, (f - 1) / 2], [0, f, (f - 1) / 2], [0, 0, 1]], np.float64)

    full = np.concatenate([warps.astype(np.float64), np.tile([[[0.0, 0.0, 1.0]]], (len(warps), 1, 1))], axis=1)
    out = np.linalg.inv(shrink(photo_factor)) @ full @ shrink(frame_factor)
    return out[:, :2].astype(np.float32)


def photo_residuals(
    low: np.ndarray,
    photo_low: np.ndarray,
    mask_low: np.ndarray,
    warps_low: list[np.ndarray],
    skip: set[int] | frozenset[int] = frozenset(),
    ranges: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Per frame: mean tolerant change of the subject against the photo seen through that frame's warp
    (low resolution; NaN for frames in `skip`). `photo_low` (uint8) and `mask_low` (float32 0/1) share
    coordinates; `warps_low[i]` maps frame i (low-res px) to them."""
    n, h, w = low.shape[:3]
    # photo and mask warped together (one call per frame); outside the photo the mask is 0
    rgba = np.dstack([photo_low, (mask_low > 0.5).astype(np.uint8) * 255])
    warped = np.empty((n, h, w, 4), np.uint8)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    for i in range(n):
        warped[i] = cv2.warpAffine(rgba, warps_low[i], (w, h), flags=flags, borderMode=cv2.BORDER_CONSTANT)
    refs = np.ascontiguousarray(warped[..., :3])
    d = tolerant_diff(low, refs, ranges, None)
    m = (warped[..., 3] > 127).astype(np.float32)
    # blocks: a glitch may garble part of the subject (a swollen print, a melted logo); score each frame
    # by the mean of its worst subject blocks
    hb, wb = h // GLITCH_BLOCK, w // GLITCH_BLOCK
    crop = (slice(None), slice(0, hb * GLITCH_BLOCK), slice(0, wb * GLITCH_BLOCK))
    shape = (n, hb, GLITCH_BLOCK, wb, GLITCH_BLOCK)
    block_d = (d[crop] * m[crop]).reshape(shape).sum(axis=(2, 4))
    block_m = m[crop].reshape(shape).sum(axis=(2, 4))
    inside = block_m >= 0.5 * GLITCH_BLOCK * GLITCH_BLOCK
    out = np.zeros(n)
    whole = d.reshape(n, -1).mean(axis=1)
    for i in range(n):
        values = block_d[i][inside[i]] / block_m[i][inside[i]]
        if values.size < 4:  # subject (almost) out of view: compare the view
            out[i] = whole[i]
            continue
        k = max(1, int(np.ceil(GLITCH_WORST_FRACTION * values.size)))
        out[i] = float(np.partition(values, values.size - k)[-k:].mean())
    for i in skip:
        if 0 <= i < n:
            out[i] = np.nan
    return out


@dataclass
class GlitchResult:
    residual: np.ndarray  # per frame: subject change against the photo (worst blocks)
    score: float  # worst window: min(photo ratio, jump into it, jump out of it)
    start: int | None  # first frame of the glitching run (the worst window, grown over frames as far off)
    length: int
    photo_ratio: float = 0.0  # that window's mean residual / its context baseline (floored)


def _side_medians(values: np.ndarray, context: int) -> tuple[np.ndarray, np.ndarray]:
    """before[k]: median of the finite values in [k - context, k); after[k]: in [k, k + context);
    NaN with fewer than two. k = 0..n."""
    n = values.size
    k = np.arange(n + 1)
    before = _window_medians(values, np.maximum(k - context, 0), k, min_count=2)
    after = _window_medians(values, np.minimum(k, n), np.minimum(k + context, n), min_count=2)
    return before, after


def worst_glitch(
    residual: np.ndarray,
    jump_in: np.ndarray,
    jump_out: np.ndarray,
    floor: float,
    max_len: int = GLITCH_MAX_FRAMES,
    context: int = GLITCH_CONTEXT,
) -> GlitchResult:
    """The short window (1..`max_len` frames) that stands out most from the frames around it.

    Photo ratio: the window's mean `residual` over its baseline, the larger of the median residual of the
    `context` frames before it and of those after it (only the side that exists at the clip's ends), never
    below `floor`; drift that sets in and stays raises the after side, so only an excursion that comes
    back scores high. A glitch also starts and ends abruptly: the change of the pair into the window over
    the pairs before it (`jump_in`, per pair: local_ratio side "before") and of the pair out of it over
    the pairs after it (`jump_out`, side "after") must be as large, so a fast sway or hem swing, which
    strays from the photo smoothly, does not count. Score = min(photo ratio, jump in, jump out)."""
    n = residual.size
    before, after = _side_medians(residual, context)
    finite = np.isfinite(residual)
    filled = np.where(finite, residual, 0.0)
    bad = np.concatenate([[0], np.cumsum(~finite)])
    sums = np.concatenate([[0.0], np.cumsum(filled)])
    # index k: the pair k-1 -> k; a window at the clip's start or end has no jump on that side
    into = np.concatenate([[np.inf], np.nan_to_num(jump_in, nan=0.0), [np.inf]])
    out_of = np.concatenate([[np.inf], np.nan_to_num(jump_out, nan=0.0), [np.inf]])
    best = GlitchResult(residual=residual, score=0.0, start=None, length=0)
    for length in range(1, min(max_len, n) + 1):
        s = np.arange(0, n - length + 1)
        e = s + length
        mean = (sums[e] - sums[s]) / length
        base = np.fmax(before[s], after[e])  # NaN only when neither side exists
        ratio = mean / np.maximum(np.nan_to_num(base, nan=np.inf), floor)
        ratio[(bad[e] - bad[s]) > 0] = 0.0
        score = np.minimum(ratio, np.minimum(into[s], out_of[e]))
        score[(s == 0) & (e == n)] = 0.0  # the whole clip is not a glitch
        k = int(np.argmax(score))
        if score[k] > best.score:
            best = GlitchResult(residual, float(score[k]), int(s[k]), length, float(ratio[k]))
    if best.start is not None:  # the run of frames that glitch: grow the window over frames as far off
        a, b = best.start, best.start + best.length
        level = 0.5 * float(np.mean(residual[a:b]))
        while b - a < max_len and ((a > 0 and residual[a - 1] >= level) or (b < n and residual[b] >= level)):
            if a > 0 and residual[a - 1] >= level and (b >= n or residual[a - 1] >= residual[b]):
                a -= 1
            else:
                b += 1
        best.start, best.length = a, b - a
    return best


@dataclass
class BracketGlitch:
    score: float  # min(jump into, jump out of the run) / max(change across it, local step, floor)
    start: int | None
    length: int


def plain_change(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute RGB change between two uint8 frames, in [0, 1] (no displacement forgiven)."""
    return sum(cv2.mean(cv2.absdiff(a, b))[:3]) / (3.0 * 255.0)


def bracket_glitch(
    low: np.ndarray,
    floor: float,
    limit: float,
    skip: set[int] | frozenset[int] = frozenset(),
    max_len: int = BRACKET_MAX_FRAMES,
    neighbours: int = CUT_NEIGHBOURS,
) -> BracketGlitch:
    """The worst run of 1..`max_len` frames that jumps away and comes back, judged by the frames only (no
    photo, no alignment): the frames just before and just after the run (s-1 and e) look alike while the
    jumps into and out of it are large. Score = min(change s-1 -> s, change e-1 -> e) / max(change s-1 ->
    e, the local step (median pair change around the run), `floor`). Changes are plain mean absolute
    differences: the one-pixel tolerance of the cut check would forgive a run knocked a pixel or two
    sideways. Smooth motion scores <= ~1: the change across a run is at least as large as one step of it.
    Only runs whose jumps could exceed `limit` are compared across; pairs touching a frame in `skip`
    (black frames) count as no change."""
    n = len(low)
    best = BracketGlitch(0.0, None, 0)
    if n < 3:
        return best
    c = np.array([plain_change(low[i], low[i + 1]) for i in range(n - 1)])
    for i in skip:
        c[max(0, i - 1) : i + 1] = 0.0
    t = np.arange(c.size)
    before = np.nan_to_num(_window_medians(c, np.maximum(t - neighbours, 0), t), nan=0.0)
    after = np.nan_to_num(_window_medians(c, t + 1, np.minimum(t + 1 + neighbours, c.size)), nan=0.0)
    for length in range(1, min(max_len, n - 2) + 1):
        s = np.arange(1, n - length)  # the run is frames s .. s+length-1; s-1 and s+length exist
        e = s + length
        jump = np.minimum(c[s - 1], c[e - 1])
        base = np.maximum(np.maximum(before[s - 1], after[e - 1]), floor)
        for k in np.nonzero(jump / base > min(limit, 1.0))[0]:  # (runs that could not fail: their score is reported)
            across = plain_change(low[s[k] - 1], low[e[k]])
            score = float(jump[k] / max(across, base[k]))
            if score > best.score:
                best = BracketGlitch(score, int(s[k]), length)
    return best


# --- boiling ---------------------------------------------------------------------------------------


def _gray(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) * (1.0 / 255.0)


def _band_pass(gray: np.ndarray) -> np.ndarray:
    return cv2.GaussianBlur(gray, (0, 0), BAND_FINE_SIGMA) - cv2.GaussianBlur(gray, (0, 0), BAND_COARSE_SIGMA)


_HANN: dict[int, np.ndarray] = {}


def patch_incoherence(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(incoherence, texture std) of two co-located grey patches (float32, same square size) from
    consecutive frames.

    The small motion between them is found by phase correlation and split between both (each moved half
    way with the same cubic filter, so interpolation softens both alike). Incoherence = |hp(a) - hp(b)|^2 /
    (|hp(a)|^2 + |hp(b)|^2) over the inner patch, hp the band-pass of _band_pass: 0 when the fine
    texture moved rigidly, ~1 when it was re-synthesised independently."""
    size = a.shape[0]
    hann = _HANN.get(size)
    if hann is None:
        hann = _HANN[size] = cv2.createHanningWindow((size, size), cv2.CV_32F)
    (dx, dy), _ = cv2.phaseCorrelate(a, b, hann)
    if abs(dx) > size / 4 or abs(dy) > size / 4:  # no reliable match: compare as they are
        dx = dy = 0.0
    half_a = np.float32([[1, 0, dx / 2], [0, 1, dy / 2]])
    half_b = np.float32([[1, 0, -dx / 2], [0, 1, -dy / 2]])
    wa = cv2.warpAffine(a, half_a, (size, size), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    wb = cv2.warpAffine(b, half_b, (size, size), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    m = max(2, size // 16)  # border dropped after alignment (reflected pixels)
    ha, hb = _band_pass(wa)[m:-m, m:-m], _band_pass(wb)[m:-m, m:-m]
    energy = float((ha * ha).mean() + (hb * hb).mean())
    if energy <= 0:
        return 0.0, 0.0
    d = ha - hb
    return float((d * d).mean()) / energy, float(np.sqrt(energy / 2))


def patch_centres(mask: np.ndarray, count: int = PATCH_CANDIDATES, border: int = 0) -> list[tuple[int, int]]:
    """Up to `count` (x, y) positions spread evenly over the True pixels of `mask` that lie at least
    `border` px from its edge (a grid coarse enough to give about `count` positions)."""
    if border > 0:
        k = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * border + 1, 2 * border + 1))
        mask = cv2.erode(mask.astype(np.uint8), k) > 0
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return []
    step = max(1, int(np.sqrt(ys.size / count)))
    keep = (ys % step == step // 2) & (xs % step == step // 2)
    ys, xs = ys[keep], xs[keep]
    if ys.size > count:
        pick = np.linspace(0, ys.size - 1, count).round().astype(int)
        ys, xs = ys[pick], xs[pick]
    return list(zip(xs.tolist(), ys.tolist(), strict=True))


def pair_boiling(
    frame_a: np.ndarray,
    frame_b: np.ndarray,
    subject: np.ndarray,
    patches: int = PATCHES_PER_PAIR,
    candidates: int = PATCH_CANDIDATES,
) -> tuple[float, int]:
    """Boiling of one consecutive full-resolution pair: the mean incoherence of the `patches` most
    textured of `candidates` patches spread over `subject` (bool, any size; rescaled to the frame), and
    how many patches had texture to judge (0: nothing textured, score 0). Patches are PATCH px, or
    smaller (down to MIN_PATCH) where the subject is too small for them (a small delivery size)."""
    h, w = frame_a.shape[:2]
    sh, sw = subject.shape[:2]
    fx, fy = w / sw, h / sh
    size, centres = PATCH, []
    while size >= MIN_PATCH:
        border = int(np.ceil(size / 2 / min(fx, fy))) + 1  # subject px: the patch lies inside the subject
        centres = patch_centres(subject, candidates, border)
        if len(centres) >= 2:
            break
        size //= 2
    textured: list[tuple[float, int, int]] = []
    for cx, cy in centres:
        x0 = int(round((cx + 0.5) * fx)) - size // 2
        y0 = int(round((cy + 0.5) * fy)) - size // 2
        if x0 < 0 or y0 < 0 or x0 + size > w or y0 + size > h:
            continue
        # ranking only: a Laplacian of the 8-bit grey patch is a cheap stand-in for the band's energy
        gray = cv2.cvtColor(frame_a[y0 : y0 + size, x0 : x0 + size], cv2.COLOR_RGB2GRAY)
        std = float(cv2.meanStdDev(cv2.Laplacian(gray, cv2.CV_16S))[1][0, 0])
        textured.append((std, x0, y0))
    values = []
    for _, x0, y0 in sorted(textured, reverse=True)[:patches]:
        a = _gray(frame_a[y0 : y0 + size, x0 : x0 + size])
        b = _gray(frame_b[y0 : y0 + size, x0 : x0 + size])
        value, std = patch_incoherence(a, b)
        if std >= MIN_TEXTURE_STD:
            values.append(value)
    if not values:
        return 0.0, 0
    return float(np.mean(values)), len(values)


def detail_pairs(full_frames: dict[int, np.ndarray]) -> list[int]:
    """Indices i with both i and i + 1 among the full-resolution frames."""
    return sorted(i for i in full_frames if i + 1 in full_frames)


# --- the check -------------------------------------------------------------------------------------


def all_warps(evidence: ClipEvidence) -> np.ndarray:
    """evidence.warp_at(i) for every frame at once, (N, 2, 3) float32."""
    xs = np.asarray(evidence.drift.frames, np.float64)
    order = np.argsort(xs)
    stack = np.stack([evidence.drift.warps[k] for k in order]).reshape(len(xs), 6).astype(np.float64)
    at = np.arange(evidence.n_frames, dtype=np.float64)
    out = np.stack([np.interp(at, xs[order], stack[:, j]) for j in range(6)], axis=1)
    return out.reshape(-1, 2, 3).astype(np.float32)


def _cut_check(evidence: ClipEvidence, cuts: CutResult, result: CheckResult) -> None:
    th = evidence.thresholds
    score, pair = cuts.worst
    result.scores["cut"] = score
    result.scores["cut_peak_ratio"] = float(cuts.ratio.max()) if cuts.ratio.size else 0.0
    result.per_frame["cut_ratio"] = [float(v) for v in cuts.ratio]
    if pair is not None:
        message = f"jump cut between frames {pair} and {pair + 1}: change vs neighbouring pairs"
        result.findings.append(Finding("cut", message, score, th.max_cut_ratio, pair + 1, evidence.fps, unit="x"))


def _glitch_check(
    evidence: ClipEvidence, low: np.ndarray, ranges, cuts: CutResult, skip: set[int], result: CheckResult
) -> None:
    th, fps, n = evidence.thresholds, evidence.fps, len(low)
    result.scores["glitch"] = 0.0
    if len(evidence.drift.frames) < 1:
        return
    frame_factor = evidence.frames.shape[2] / low.shape[2]
    ph, pw = evidence.photo_work.shape[:2]
    small = (max(8, int(round(pw / frame_factor))), max(8, int(round(ph / frame_factor))))
    photo_low = cv2.resize(evidence.photo_work, small, interpolation=cv2.INTER_AREA)
    mask_low = cv2.resize(evidence.mask_work.astype(np.float32), small, interpolation=cv2.INTER_AREA)
    photo_factor = pw / small[0]
    warps = list(scale_warps(all_warps(evidence), frame_factor, photo_factor))
    residual = photo_residuals(low, photo_low, mask_low, warps, skip, ranges)
    # A cut is reported once: the warps interpolated across it are wrong up to the next drift sample, so
    # the frames around a cut are left out of the glitch search.
    spacing = int(np.ceil(n / max(1, len(evidence.drift.frames) - 1)))
    for t in cuts.cut_pairs:
        residual[max(0, t - spacing) : t + spacing + 2] = np.nan
    jump_in = local_ratio(cuts.pair_change, th.cut_change_floor, side="before")
    jump_out = local_ratio(cuts.pair_change, th.cut_change_floor, side="after")
    glitch = worst_glitch(residual, jump_in, jump_out, th.glitch_residual_floor)
    # frames only: a run that falls on a drift sample bends the alignment toward it, which hides it from
    # the photo comparison; the frames around it still show that the clip jumped away and came back
    bracket = bracket_glitch(low, th.cut_change_floor, th.max_glitch_ratio, skip)
    result.scores["glitch_photo"] = glitch.score
    result.scores["glitch_bracket"] = bracket.score
    result.scores["glitch"] = max(glitch.score, bracket.score)
    result.per_frame["glitch_residual"] = [float(v) if np.isfinite(v) else 0.0 for v in residual]
    if glitch.start is not None and glitch.score > th.max_glitch_ratio and glitch.score >= bracket.score:
        s, length = glitch.start, glitch.length
        span = f"frame {s}" if length == 1 else f"frames {s}-{s + length - 1}"
        message = (
            f"short glitch ({span}, {length / fps:.2f} s): subject change against the photo and the jumps "
            "into and out of it vs the frames around it"
        )
        result.findings.append(Finding("glitch", message, glitch.score, th.max_glitch_ratio, s, fps, unit="x"))
    elif bracket.start is not None and bracket.score > th.max_glitch_ratio:
        s, length = bracket.start, bracket.length
        span = f"frame {s}" if length == 1 else f"frames {s}-{s + length - 1}"
        message = (
            f"short glitch ({span}, {length / fps:.2f} s): the jumps into and out of it vs the change "
            f"between frames {s - 1} and {s + length} around it"
        )
        result.findings.append(Finding("glitch", message, bracket.score, th.max_glitch_ratio, s, fps, unit="x"))


def _boiling_check(evidence: ClipEvidence, skip: set[int], result: CheckResult) -> None:
    th = evidence.thresholds
    pairs = [i for i in detail_pairs(evidence.full_frames) if i not in skip and i + 1 not in skip]
    per_pair = [
        pair_boiling(evidence.full_frames[i], evidence.full_frames[i + 1], evidence.subject_mask_at(i))[0]
        for i in pairs
    ]
    result.per_frame["boiling"] = per_pair
    result.per_frame["boiling_frame"] = [float(i) for i in pairs]
    result.scores["boiling"] = result.scores["boiling_peak"] = 0.0
    if not per_pair:
        return
    order = np.argsort(per_pair)[::-1]
    # the second worst pair: one pair across an encoder's keyframe is not boiling, two are
    k = int(order[1] if len(order) >= 2 else order[0])
    boil, at = float(per_pair[k]), pairs[k]
    result.scores["boiling"] = boil
    result.scores["boiling_peak"] = float(per_pair[order[0]])
    if boil > th.max_boiling:
        message = (
            f"fine texture re-synthesised between frames {at} and {at + 1} "
            "(temporal residual of fine detail / its energy, second-worst detail pair)"
        )
        result.findings.append(Finding("boiling", message, boil, th.max_boiling, at, evidence.fps))


def evaluate(evidence: ClipEvidence) -> CheckResult:
    """Cut, glitch and boiling checks of one clip (see the module docstring). Frames flagged black are
    left out (black_frames reports them)."""
    th = evidence.thresholds
    result = CheckResult(limits={"cut": th.max_cut_ratio, "glitch": th.max_glitch_ratio, "boiling": th.max_boiling})
    skip = {i for i, b in enumerate(evidence.black) if b}
    low = low_res(evidence.frames)
    ranges = _ranges(low)
    cuts = detect_cuts(low, th.max_cut_ratio, th.cut_change_floor, skip, ranges)
    _cut_check(evidence, cuts, result)
    _glitch_check(evidence, low, ranges, cuts, skip, result)
    _boiling_check(evidence, skip, result)
    return result
