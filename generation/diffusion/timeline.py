"""Time-axis work on generated frames: planning takes, stitching chained takes, closing loops, retiming.

Pure numpy/OpenCV functions (no torch), tested on clips whose right answer is known.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np


def round_to_latent_grid(n: int, t: int) -> int:
    """Smallest n' >= n with n' = k*t + 1 (the latent-frame grids of causal video VAEs)."""
    return max(1, -(-(n - 1) // t)) * t + 1 if n > 1 else 1


@dataclass(frozen=True)
class TakePlan:
    """How many model frames to generate and how they become one clip."""

    frames_per_take: int
    n_takes: int
    overlap: int
    needed: int
    """Model frames the clip uses after stitching (loop presets: the loop length plus the blend frames)."""
    loop_frames: int | None = None
    """Loop length in model frames when the preset loops, else None."""
    loop_method: str | None = None

    @property
    def stitched_frames(self) -> int:
        return self.n_takes * self.frames_per_take - (self.n_takes - 1) * self.overlap


def plan_takes(
    duration_s: float,
    model_fps: float,
    max_take: int,
    round_frames: Callable[[int], int],
    *,
    loop: bool = False,
    loop_method: str = "crossfade",
    loop_blend: int = 6,
    overlap: int = 4,
    max_takes: int = 4,
    engine: str = "engine",
) -> TakePlan:
    """Frames per take and number of takes covering `duration_s` at the model's rate.

    `round_frames(n)` returns the smallest frame count >= n the model accepts (e.g. 4k+1 for Wan); it
    must not exceed `max_take` for any n <= max_take. Raises ValueError (turned into EngineError by the
    caller) when more than `max_takes` takes would be needed.
    """
    if loop:
        loop_frames = max(2, round(duration_s * model_fps))
        # last_frame: the model ends on the first frame again, which is then dropped (L + 1 frames);
        # crossfade: L + blend frames, the tail is blended over the head.
        needed = loop_frames + (1 if loop_method == "last_frame" else loop_blend)
    else:
        loop_frames = None
        needed = max(2, math.ceil(duration_s * model_fps) + 1)  # +1: the last instant needs a frame after it
    first = round_frames(needed)
    if first <= max_take:
        return TakePlan(first, 1, 0, needed, loop_frames, loop_method if loop else None)
    if loop and loop_method == "last_frame":
        raise ValueError(f"{engine}: a last-frame loop must fit in one take ({needed} > {max_take} frames)")
    per_take = max_take  # the longest count the model accepts within max_take
    while per_take > 2 and round_frames(per_take) != per_take:
        per_take -= 1
    if per_take <= overlap + 1:
        raise ValueError(f"{engine}: takes of {per_take} frames cannot overlap by {overlap}")
    n_takes = math.ceil((needed - overlap) / (per_take - overlap))
    if n_takes > max_takes:
        raise ValueError(
            f"{engine}: {duration_s:g} s needs {n_takes} chained takes of {per_take} frames at {model_fps:g} fps, "
            f"more than max_takes={max_takes}"
        )
    return TakePlan(per_take, n_takes, overlap, needed, loop_frames, loop_method if loop else None)


def crossfade_weights(n: int) -> np.ndarray:
    """Weights of the incoming clip over an n-frame overlap: eased 0 -> 1, excluding both ends."""
    t = (np.arange(n, dtype=np.float32) + 1.0) / (n + 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * t)


def stitch_takes(takes: list[np.ndarray], overlap: int) -> np.ndarray:
    """Join takes where take k+1 started from take k's frame at -overlap: crossfade the shared span.

    Each take is uint8 (F, H, W, 3). Take k+1's first `overlap` frames cover the same instants as take k's
    last `overlap` frames (it was conditioned on the first of them), so blending them hides the seam:
    position continuity from the shared start frame, velocity continuity from the eased crossfade.
    """
    if not takes:
        raise ValueError("no takes to stitch")
    out = takes[0].astype(np.float32)
    for take in takes[1:]:
        if overlap:
            w = crossfade_weights(overlap)[:, None, None, None]
            blended = out[-overlap:] * (1.0 - w) + take[:overlap].astype(np.float32) * w
            out = np.concatenate([out[:-overlap], blended, take[overlap:].astype(np.float32)])
        else:
            out = np.concatenate([out, take.astype(np.float32)])
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def close_loop(frames: np.ndarray, loop_frames: int) -> np.ndarray:
    """Make frames[0:loop_frames] a seamless loop using the extra frames after it.

    frames has loop_frames + b frames. Output frame j (j < b) blends the generated frame j with frame
    loop_frames + j (which follows frame loop_frames - 1 in generated time), weight ramping from the tail
    to the head. So output[loop_frames - 1] -> output[0] is a step the model itself generated.
    """
    n = len(frames)
    blend = n - loop_frames
    if blend < 1:
        raise ValueError(f"close_loop needs extra frames after the loop ({n} frames for a loop of {loop_frames})")
    out = frames[:loop_frames].astype(np.float32)
    w = ((np.arange(blend, dtype=np.float32)) / blend)[:, None, None, None]  # 0 at j=0: pure tail
    out[:blend] = frames[loop_frames:].astype(np.float32) * (1.0 - w) + out[:blend] * w
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def retime_positions(n_out: int, fps_out: float, fps_in: float, loop_frames: int | None = None) -> np.ndarray:
    """Fractional source-frame position of each output frame.

    Loops map the output period exactly onto the loop length (a tiny speed change rather than a seam).
    """
    if loop_frames:
        return np.arange(n_out, dtype=np.float64) * loop_frames / n_out
    return np.arange(n_out, dtype=np.float64) * fps_in / fps_out


class Retimer:
    """Frames at fractional positions of a clip, by optical-flow warping (or a plain blend).

    Flow (DIS) is computed once per neighbouring pair, on a downscaled copy, and cached.
    """

    def __init__(
        self, frames: np.ndarray, *, method: str = "flow", loop_frames: int | None = None, flow_long_side: int = 320
    ):
        self.frames = frames
        self.method = method
        self.loop = loop_frames
        self.n = loop_frames or len(frames)
        self._flows: dict[int, np.ndarray] = {}
        h, w = frames.shape[1:3]
        self._scale = min(1.0, flow_long_side / max(h, w))
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM) if method == "flow" else None
        grid_y, grid_x = np.mgrid[0:h, 0:w].astype(np.float32)
        self._grid = (grid_x, grid_y)

    def _next(self, i: int) -> int:
        return (i + 1) % self.n if self.loop else min(i + 1, len(self.frames) - 1)

    def _flow(self, i: int) -> np.ndarray:
        if i not in self._flows:
            a, b = self.frames[i], self.frames[self._next(i)]
            h, w = a.shape[:2]
            size = (max(8, round(w * self._scale)), max(8, round(h * self._scale)))
            ga = cv2.cvtColor(cv2.resize(a, size, interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)
            gb = cv2.cvtColor(cv2.resize(b, size, interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)
            flow = self._dis.calc(ga, gb, None)
            flow = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR) / self._scale
            self._flows[i] = flow
        return self._flows[i]

    def at(self, position: float) -> np.ndarray:
        if self.loop:
            position = position % self.n
        position = min(max(position, 0.0), len(self.frames) - 1.0)
        i = int(math.floor(position))
        w = position - i
        if w < 1e-4:
            return self.frames[i]
        j = self._next(i)
        a, b = self.frames[i], self.frames[j]
        if self.method == "blend":
            return cv2.addWeighted(a, 1.0 - w, b, w, 0.0)
        flow = self._flow(i)
        gx, gy = self._grid
        # Backward warps approximating the in-between instant: a pulled forward, b pulled back.
        wa = cv2.remap(
            a, gx - w * flow[..., 0], gy - w * flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        wb = cv2.remap(
            b,
            gx + (1 - w) * flow[..., 0],
            gy + (1 - w) * flow[..., 1],
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
        return cv2.addWeighted(wa, 1.0 - w, wb, w, 0.0)
