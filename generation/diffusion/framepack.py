"""The `framepack` engine: FramePack (HunyuanVideo-based) image-to-video through diffusers'
HunyuanVideoFramepackPipeline.

FramePack generates a clip in sections of `latent_window_size` latent frames, packing the frames already
made into a fixed-size context, so memory does not grow with the clip's length. Its inverted
anti-drifting sampling generates the sections from the end back to the photo, which is why the clip's
last frame can be conditioned too: loop presets end on the source photo (a seamless loop), and asking for
less anchors a non-loop clip's end on it as well.
"""

from __future__ import annotations

from typing import Any, ClassVar

from catalog_motion.presets import Preset
from generation.diffusion.engine import DiffusionEngine
from generation.diffusion.settings import FramePackSettings

ANTI_DRIFTING = "inverted_anti_drifting"


class FramePackEngine(DiffusionEngine):
    """FramePack I2V (lllyasviel/FramePackI2V_HY; FramePack-F1 with `sampling: vanilla`)."""

    name: ClassVar[str] = "framepack"
    pipeline_class: ClassVar[str] = "HunyuanVideoFramepackPipeline"
    allowed_classes: ClassVar[tuple[str, ...]] = ("HunyuanVideoFramepackPipeline",)
    default_area: ClassVar[int] = 640 * 640  # FramePack's resolution-640 buckets
    default_fps: ClassVar[float] = 30.0  # the published clips and the reference demo write 30 fps
    default_steps: ClassVar[int] = 25  # the FramePack demo's default
    default_guidance: ClassVar[float] = 10.0  # distilled guidance ("Distilled CFG Scale") of the FramePack demo
    settings: FramePackSettings

    # ----- model facts, read from the pipeline ----------------------------------------------------
    def size_multiple(self) -> int:
        # The pipeline checks multiples of 16; the VAE and the transformer's patches set the real grid.
        return max(16, self.pipe.vae_scale_factor_spatial * self.pipe.transformer.config.patch_size)

    def _section_frames(self) -> int:
        """Output frames each section adds (latent window x the VAE's temporal compression)."""
        return self.settings.latent_window_size * self.pipe.vae_scale_factor_temporal

    def round_frames(self, n: int) -> int:
        # The pipeline outputs sections x window x temporal ratio + 1 frames (the photo's own frame first).
        per = self._section_frames()
        sections = max(1, -(-(n - 1) // per))
        return sections * per + 1

    def pipeline_num_frames(self, frames: int) -> int:
        """`num_frames` selects a section count: ceil(num_frames / window frames). The largest value that
        gives the sections of `frames` output frames."""
        sections = (frames - 1) // self._section_frames()
        window = (self.settings.latent_window_size - 1) * self.pipe.vae_scale_factor_temporal + 1
        return sections * window

    def max_take(self) -> int:
        return self.settings.max_sections * self._section_frames() + 1

    def supports_last_frame(self) -> bool:
        """Only inverted anti-drifting sampling takes a last image (the pipeline refuses it otherwise)."""
        return self.settings.sampling == ANTI_DRIFTING

    def loop_method(self) -> str:
        return "last_frame" if self.supports_last_frame() else "crossfade"

    # ----- the preset onto the model's controls ---------------------------------------------------
    def attempt_true_cfg(self, motion_scale: float) -> float:
        """Real CFG (with the negative prompt) for an attempt: lowered with the guidance; 1 (off) stays 1."""
        cfg = self.settings.true_cfg
        return cfg if cfg <= 1.0 or motion_scale >= 1 else round(max(1.0, cfg * (0.5 + 0.5 * motion_scale)), 4)

    def call_kwargs(self, preset: Preset, amount: float, motion_scale: float) -> dict[str, Any]:
        return {
            "guidance_scale": self.attempt_guidance(motion_scale),
            "true_cfg_scale": self.attempt_true_cfg(motion_scale),
            "latent_window_size": self.settings.latent_window_size,
            "sampling_type": self.settings.sampling,
        }
