"""A deterministic image-to-video "model" whose failure depends on what it is asked for, behind the real
Wan engine (generation.diffusion.engines.WanEngine.from_pipeline), registered as engine `drift-wan`.

`DriftPipeline` answers the same call as WanImageToVideoPipeline. Its frames are the conditioning image
under a slow zoom (camera-like motion the gate accepts) plus a non-rigid warp of the garment whose
amplitude grows with the position in the take, the guidance and the scheduler's flow shift; given a
`last_image` the warp returns to zero at the take's end (first/last-frame anchoring). So the first
attempt drifts past the gate and an attempt that asks for less (lower guidance and shift, shorter
anchored takes) passes: the test is about the engine's ask-for-less mapping, not about a model.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import cv2
import numpy as np

from generation.diffusion.engines import WanEngine
from generation.registry import register_engine

WARP_PX = 3.0  # warp amplitude (native pixels) at the end of a 12-frame take, guidance 5, shift 5


class DriftPipeline:
    """Stands in for WanImageToVideoPipeline (Wan 2.2 A14B form: first/last-frame capable)."""

    def __init__(self) -> None:
        from diffusers import FlowMatchEulerDiscreteScheduler

        self.scheduler = FlowMatchEulerDiscreteScheduler(shift=5.0)
        self.vae_scale_factor_spatial = 8
        self.vae_scale_factor_temporal = 4
        self.transformer = SimpleNamespace(config=SimpleNamespace(patch_size=(1, 2, 2)))
        self.transformer_2 = None
        self.image_encoder = None
        self.config = SimpleNamespace(expand_timesteps=False)
        self.components: dict[str, Any] = {}
        self.calls: list[dict[str, Any]] = []

    def set_progress_bar_config(self, **_: Any) -> None:
        pass

    def to(self, *_: Any, **__: Any) -> DriftPipeline:
        return self

    def __call__(self, *, image, num_frames, guidance_scale, height, width, generator, **kw: Any):
        shift = float(self.scheduler.config.shift)
        anchored = kw.get("last_image") is not None
        self.calls.append(
            {"guidance_scale": guidance_scale, "shift": shift, "num_frames": num_frames, "anchored": anchored}
        )
        steps = kw.get("num_inference_steps", 2)
        callback = kw.get("callback_on_step_end")
        for i in range(steps):
            if callback is not None:
                callback(self, i, 0, {})
        base = np.asarray(image.convert("RGB").resize((width, height)), np.float32) / 255.0
        rng = np.random.default_rng(generator.initial_seed())
        phase = rng.uniform(0, 2 * np.pi)
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        strength = (guidance_scale / 5.0) * (shift / 5.0)
        frames = []
        for t in range(num_frames):
            amp = WARP_PX * strength * t / 12.0
            if anchored:
                amp *= 1.0 - t / max(1, num_frames - 1)  # pulled back onto the last image
            zoom = 1.0 + 0.006 * t / max(1, num_frames - 1)
            cx, cy = width / 2.0, height / 2.0
            map_x = (xx - cx) / zoom + cx + amp * np.sin(yy / 9.0 + phase)
            map_y = (yy - cy) / zoom + cy + amp * np.cos(xx / 11.0 + phase)
            frames.append(cv2.remap(base, map_x, map_y, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE))
        return SimpleNamespace(frames=np.stack(frames)[None])


class DriftWanEngine(WanEngine):
    """The production Wan engine around a DriftPipeline (same name, settings and ask-for-less mapping)."""


def make_drift_engine(settings: dict[str, Any]) -> WanEngine:
    return DriftWanEngine.from_pipeline(DriftPipeline(), {"device": "cpu", "dtype": "float32", **settings})


register_engine("drift-wan", isolation="inline")(make_drift_engine)
