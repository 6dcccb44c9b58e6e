"""Temporal stability: motion-compensated warping error, a luminance flicker index and WCAG flashes.

Consecutive frames are registered with DIS optical flow (fast preset, work size) in both directions;
pixels failing the forward-backward consistency test of Lai et al. (2018) are occluded and left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

SRGB_TO_Y = np.array([0.2126, 0.7152, 0.0722], np.float32)


@dataclass
class FlickerResult:
    warp_error: list[float] = field(default_factory=list)  # per pair t -> t+1
    luma_change: dict[str, list[float]] = field(default_factory=dict)  # per pair, per region (log ratio)
    flicker_index: float = 0.0
    flicker_curve: list[float] = field(default_factory=list)  # per pair high-passed |change|
    warp_error_clip: float = 0.0


def _occlusion(forward: np.ndarray, backward: np.ndarray, grid_x: np.ndarray, grid_y: np.ndarray) -> np.ndarray:
    """Non-occluded mask for frame t (Lai et al. 2018 forward-backward test), in OpenCV ops for speed."""
    map_x, map_y = grid_x + forward[..., 0], grid_y + forward[..., 1]
    back_at = cv2.remap(backward, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    fu, fv = cv2.split(forward)
    bu, bv = cv2.split(back_at)
    ou, ov = cv2.split(backward)
    mismatch = (fu + bu) ** 2 + (fv + bv) ** 2 > 0.01 * (fu * fu + fv * fv + bu * bu + bv * bv) + 0.5
    grad = np.zeros(forward.shape[:2], np.float32)
    for c in (fu, fv):
        gx = cv2.Sobel(c, cv2.CV_32F, 1, 0, ksize=1, scale=0.5)  # central differences
        gy = cv2.Sobel(c, cv2.CV_32F, 0, 1, ksize=1, scale=0.5)
        grad += gx * gx + gy * gy
    motion_edge = grad > 0.01 * (ou * ou + ov * ov) + 0.002
    h, w = forward.shape[:2]
    inside = (map_x >= 0) & (map_x <= w - 1) & (map_y >= 0) & (map_y <= h - 1)
    return ~(mismatch | motion_edge) & inside


def high_pass_index(changes: np.ndarray, fps: float, window_s: float = 0.5) -> tuple[float, np.ndarray]:
    """Flicker index of a series of per-pair log-luminance changes.

    The brightness trajectory (cumulative change) minus its Gaussian-smoothed self (sigma ~ 2 frames)
    keeps only fast wobble; the index is twice the RMS of that wobble over the worst `window_s`, so an
    alternating brightness step of p (peak to peak) scores about p."""
    if changes.size == 0:
        return 0.0, np.zeros(0)
    level = np.concatenate([[0.0], np.cumsum(changes)])
    padded = np.pad(level, 6, mode="reflect")
    kernel = cv2.getGaussianKernel(13, 2.0).ravel()
    smooth = np.convolve(padded, kernel, mode="same")[6:-6]
    wobble = level - smooth
    window = max(3, int(round(window_s * fps)))
    sq = wobble**2
    if sq.size <= window:
        worst = float(np.sqrt(sq.mean()))
    else:
        worst = float(np.sqrt(np.convolve(sq, np.ones(window) / window, mode="valid").max()))
    return 2.0 * worst, np.abs(wobble)


class FlickerMeter:
    """Consumes frames one by one (as they are decoded) and scores each consecutive pair.

    Flow runs on frames shrunk to `long_side` (flicker is a large-area effect; DIS at this size costs
    ~1 ms a pair). `add(frame, subject_mask, skip)`: `subject_mask` (bool, frame size) splits subject
    and background; a pair touching a skipped frame (black/blank, reported on its own) counts as no change."""

    def __init__(self, fps: float, long_side: int = 192):
        self.fps = fps
        self.long_side = long_side
        self.dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
        self.result = FlickerResult(luma_change={"subject": [], "background": []})
        self._prev: tuple[np.ndarray, np.ndarray, np.ndarray | None, bool] | None = None
        self._grid: tuple[np.ndarray, np.ndarray] | None = None
        self._size: tuple[int, int] | None = None

    def _shrink(self, frame: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
        if self._size is None:
            h, w = frame.shape[:2]
            scale = min(1.0, self.long_side / max(h, w))
            self._size = (max(8, int(round(w * scale))), max(8, int(round(h * scale))))
            gw, gh = self._size
            self._grid = np.meshgrid(np.arange(gw, dtype=np.float32), np.arange(gh, dtype=np.float32))
        if frame.shape[1] != self._size[0]:
            frame = cv2.resize(frame, self._size, interpolation=cv2.INTER_AREA)
            if mask is not None:
                mask = cv2.resize(mask.astype(np.uint8), self._size, interpolation=cv2.INTER_NEAREST) > 0
        return frame, mask

    def add(self, frame: np.ndarray, subject_mask: np.ndarray | None = None, skip: bool = False) -> None:
        frame, subject_mask = self._shrink(frame, subject_mask)
        gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        prev, self._prev = self._prev, (frame, gray, subject_mask, skip)
        if prev is None:
            return
        result = self.result
        p_frame, p_gray, p_mask, p_skip = prev
        if skip or p_skip:
            result.warp_error.append(0.0)
            for name in result.luma_change:
                result.luma_change[name].append(0.0)
            return
        grid_x, grid_y = self._grid
        forward = self.dis.calc(p_gray, gray, None)
        backward = self.dis.calc(gray, p_gray, None)
        valid = _occlusion(forward, backward, grid_x, grid_y)
        nxt = frame.astype(np.float32) / 255.0
        cur = p_frame.astype(np.float32) / 255.0
        warped = cv2.remap(
            nxt, grid_x + forward[..., 0], grid_y + forward[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        if valid.sum() < 0.05 * valid.size:  # flow failed almost everywhere (a cut): no compensation
            valid = np.ones_like(valid)
            warped = nxt
        diff = cv2.subtract(warped, cur)
        err = cv2.transform(cv2.multiply(diff, diff), np.full((1, 3), 1.0 / 3.0, np.float32))
        result.warp_error.append(float(err[valid].mean()))
        y_cur = cv2.transform(cur, SRGB_TO_Y[None, :])
        y_nxt = cv2.transform(warped, SRGB_TO_Y[None, :])
        regions = {"background": valid, "subject": valid}
        if p_mask is not None:
            regions = {"subject": valid & p_mask, "background": valid & ~p_mask}
        for name, region in regions.items():
            if region.sum() < 0.02 * valid.size:
                region = valid
            a, b = float(y_cur[region].mean()), float(y_nxt[region].mean())
            result.luma_change[name].append(float(np.log((b + 0.02) / (a + 0.02))))

    def finish(self) -> FlickerResult:
        result = self.result
        curves = []
        index = 0.0
        for series in result.luma_change.values():
            value, curve = high_pass_index(np.asarray(series), self.fps)
            curves.append(curve)
            index = max(index, value)
        result.flicker_index = index
        result.flicker_curve = np.max(np.stack(curves), axis=0)[1:].tolist() if curves else []
        errors = np.asarray(result.warp_error)
        # worst pair after a 3-pair median: one flow failure is not flicker, a burst is
        if errors.size >= 3:
            med = np.array([np.median(errors[max(0, i - 1) : i + 2]) for i in range(errors.size)])
            result.warp_error_clip = float(med.max())
        else:
            result.warp_error_clip = float(errors.max()) if errors.size else 0.0
        return result


_LINEAR_LUT = np.array(
    [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in np.arange(256) / 255.0], np.float32
)


def relative_luminance(frames: np.ndarray, long_side: int = 96) -> np.ndarray:
    """WCAG relative luminance (linear sRGB), (N, h, w) float32 in [0, 1], on frames shrunk to
    `long_side` (flashes concern a quarter of the screen, so fine detail does not matter)."""
    n, h, w = frames.shape[:3]
    scale = min(1.0, long_side / max(h, w))
    size = (max(4, int(w * scale)), max(4, int(h * scale)))
    small = np.stack([cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames])
    return _LINEAR_LUT[small] @ SRGB_TO_Y


def count_transitions(series: np.ndarray, min_change: float = 0.1, dark_below: float = 0.8) -> list[int]:
    """Frame indices where a region's luminance reverses by >= `min_change` with the darker state < 0.8."""
    events: list[int] = []
    if series.size == 0:
        return events
    low = high = ext = float(series[0])
    direction = 0  # +1 rising (ext = running max), -1 falling (ext = running min), 0 not yet known
    for i, value in enumerate(series[1:].tolist(), start=1):
        if direction == 0:
            low, high = min(low, value), max(high, value)
            if value >= low + min_change and low < dark_below:
                events.append(i)
                direction, ext = 1, value
            elif value <= high - min_change and value < dark_below:
                events.append(i)
                direction, ext = -1, value
        elif direction == 1:
            if value > ext:
                ext = value
            elif value <= ext - min_change and value < dark_below:
                events.append(i)
                direction, ext = -1, value
        else:
            if value < ext:
                ext = value
            elif value >= ext + min_change and ext < dark_below:
                events.append(i)
                direction, ext = 1, value
    return events


def max_flashes_per_second(frames: np.ndarray, fps: float) -> tuple[float, list[float]]:
    """Most WCAG general flashes in any 1 s window, over any quarter-screen region; and a per-frame curve.

    A flash is a pair of opposing transitions; a region is a 2x2 cell window of a 4x4 grid (25 % of the
    frame, the WCAG area bound)."""
    lum = relative_luminance(frames)
    n, h, w = lum.shape
    cells = lum[:, : h // 4 * 4, : w // 4 * 4].reshape(n, 4, h // 4, 4, w // 4).mean(axis=(2, 4))
    window = max(1, int(round(fps)))
    worst = 0.0
    curve = np.zeros(n)
    for i in range(3):
        for j in range(3):
            series = cells[:, i : i + 2, j : j + 2].mean(axis=(1, 2))
            events = np.zeros(n)
            for e in count_transitions(series):
                events[e] = 1
            in_window = np.convolve(events, np.ones(window), mode="full")[:n] / 2.0
            curve = np.maximum(curve, in_window)
            worst = max(worst, float(in_window.max()))
    return worst, curve.tolist()
