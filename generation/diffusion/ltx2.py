"""The LTX-2 image-to-video engine (Lightricks LTX-2 through diffusers' LTX2 pipelines).

LTX-2 is a joint audio-video model: one transformer denoises video and audio latents together, and
diffusers 0.42's LTX2 pipelines have no switch to skip the audio stream. The engine keeps the video
only: the audio waveform the pipeline returns is never read, so the master clip (and every encode) has
no audio track; the audio guidance terms follow the video's, so guidance 1 really runs without CFG.

Every call goes through `LTX2ConditionPipeline` (built from the loaded components, no second copy of
the weights): `image` conditions latent frame 0 exactly as `LTX2ImageToVideoPipeline` does, and
`last_image` adds a keyframe condition on the last latent frame, which closes loops on the source
photo and anchors "ask for less" takes to it.
"""

from __future__ import annotations

import functools
from typing import Any, ClassVar

from catalog_motion.presets import Preset
from catalog_motion.types import ClipRef
from generation.diffusion.engine import DiffusionEngine, Prepared
from generation.diffusion.settings import LTX2Settings
from generation.diffusion.timeline import round_to_latent_grid


@functools.cache
def first_last_frame_pipeline_class() -> type:
    """`LTX2ConditionPipeline` called like the other engines' pipelines (`image`, optional `last_image`).

    Built on first use so that importing this module (engine registration) does not import diffusers.
    """
    from diffusers import LTX2ConditionPipeline
    from diffusers.pipelines.ltx2.pipeline_ltx2_condition import LTX2VideoCondition

    class LTX2FirstLastFramePipeline(LTX2ConditionPipeline):
        """Frame conditions from `image` (latent frame 0) and `last_image` (the last latent frame)."""

        def __call__(self, image=None, last_image=None, image_crf: int | None = None, **kwargs):
            if isinstance(image, list) or isinstance(last_image, list):
                raise ValueError("LTX2FirstLastFramePipeline takes one `image` (and `last_image`) per call")
            conditions = [LTX2VideoCondition(frames=image, index=0, strength=1.0, crf=image_crf)]
            if last_image is not None:
                conditions.append(LTX2VideoCondition(frames=last_image, index=-1, strength=1.0, crf=image_crf))
            return super().__call__(conditions=conditions, **kwargs)

    return LTX2FirstLastFramePipeline


def first_last_frame_pipeline(pipe):
    """The LTX-2 pipeline `pipe` as a first/last-frame pipeline sharing its components (and offload hooks)."""
    cls = first_last_frame_pipeline_class()
    if isinstance(pipe, cls):
        return pipe
    wrapped = cls(**pipe.components)
    for hook_state in ("_all_hooks", "_offload_device", "_offload_gpu_id"):
        if hasattr(pipe, hook_state):
            setattr(wrapped, hook_state, getattr(pipe, hook_state))
    wrapped.set_progress_bar_config(disable=True)
    return wrapped


class LTX2Engine(DiffusionEngine):
    """LTX-2 image-to-video: 8k+1 frames, sizes in multiples of 32, first/last-frame loops."""

    name: ClassVar[str] = "ltx2"
    pipeline_class: ClassVar[str] = "LTX2ImageToVideoPipeline"
    # Lightricks/LTX-2 is published as one LTX2Pipeline folder; every LTX-2 pipeline loads the same components.
    allowed_classes: ClassVar[tuple[str, ...]] = ("LTX2ImageToVideoPipeline", "LTX2ConditionPipeline", "LTX2Pipeline")
    batchable: ClassVar[bool] = False  # each conditioning image is re-compressed (H.264 CRF) on its own
    default_area: ClassVar[int] = 768 * 512
    default_fps: ClassVar[float] = 24.0
    default_steps: ClassVar[int] = 30
    default_guidance: ClassVar[float] = 3.0
    settings: LTX2Settings

    def __init__(self, settings: LTX2Settings):
        super().__init__(settings)
        self.pipe = first_last_frame_pipeline(self.pipe)

    @classmethod
    def from_pipeline(cls, pipe, raw_settings: dict[str, Any], label: str = "in-memory") -> DiffusionEngine:
        return super().from_pipeline(first_last_frame_pipeline(pipe), raw_settings, label)

    def size_multiple(self) -> int:
        # The pipeline checks multiples of 32 whatever the VAE; 32 is also the real VAE's compression.
        return max(32, self.pipe.vae_spatial_compression_ratio * self.pipe.transformer_spatial_patch_size)

    def round_frames(self, n: int) -> int:
        return round_to_latent_grid(n, self.pipe.vae_temporal_compression_ratio)

    def max_take(self) -> int:
        return 121  # LTX-2's published clip length (about 5 s at 24 fps) and the pipeline's default

    def steps(self) -> int:
        # A custom sigma schedule (the distilled checkpoint's) is its own step count.
        return len(self.settings.sigmas) if self.settings.sigmas else super().steps()

    def loop_method(self) -> str:
        return self.settings.loop_mode

    def supports_last_frame(self) -> bool:
        return True

    def call_kwargs(self, preset: Preset, amount: float, motion_scale: float) -> dict[str, Any]:
        s = self.settings
        guidance = self.attempt_guidance(motion_scale)
        calmer = 0.5 + 0.5 * motion_scale if motion_scale < 1 else 1.0
        kwargs: dict[str, Any] = {
            "guidance_scale": guidance,
            "audio_guidance_scale": guidance,  # the audio is dropped: no extra CFG for it
            "guidance_rescale": s.guidance_rescale,
            "audio_guidance_rescale": s.guidance_rescale,
            "stg_scale": s.stg_scale,
            "audio_stg_scale": s.stg_scale,
            "spatio_temporal_guidance_blocks": list(s.stg_blocks),
            "modality_scale": s.modality_scale,
            "audio_modality_scale": s.modality_scale,
            "frame_rate": self.model_fps(),
            # The positional embeddings see frame_rate / motion_speed: below 1 the model moves less per frame.
            "motion_speed": round(s.motion_speed * calmer, 6),
            "decode_timestep": s.decode_timestep,
            # Less decoder noise: fewer invented details on the garment (a timestep-conditioned VAE only).
            "decode_noise_scale": round(s.decode_noise_scale * motion_scale, 6),
            "image_crf": s.image_crf,
        }
        if s.sigmas:
            kwargs["sigmas"] = list(s.sigmas)
        return kwargs

    def finish(self, p: Prepared, native, *, batch: int, events: list[str]) -> ClipRef:
        ref = super().finish(p, native, batch=batch, events=events)
        ref.params["audio"] = "generated jointly by the model, not kept (video-only clip)"
        return ref
