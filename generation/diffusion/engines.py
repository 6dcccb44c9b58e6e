"""The diffusers image-to-video engines: how each maps a preset onto its model's controls (LTX-2 and FramePack have
modules of their own)."""

from __future__ import annotations

from typing import Any, ClassVar

from catalog_motion.presets import Preset
from generation.diffusion.engine import DiffusionEngine
from generation.diffusion.framepack import FramePackEngine
from generation.diffusion.ltx2 import LTX2Engine
from generation.diffusion.settings import CogVideoXSettings, LTXSettings, SVDSettings, WanSettings
from generation.diffusion.timeline import round_to_latent_grid


class WanEngine(DiffusionEngine):
    """Wan 2.1 / 2.2 image-to-video (incl. the 2.2 A14B high/low-noise two-transformer form)."""

    name: ClassVar[str] = "wan"
    pipeline_class: ClassVar[str] = "WanImageToVideoPipeline"
    # Wan 2.2 TI2V-5B is published as a WanPipeline folder (expand_timesteps): the I2V pipeline loads it as is.
    allowed_classes: ClassVar[tuple[str, ...]] = ("WanImageToVideoPipeline", "WanPipeline")
    batchable: ClassVar[bool] = False  # the pipeline encodes one conditioning image per call
    default_area: ClassVar[int] = 480 * 832
    default_fps: ClassVar[float] = 16.0
    default_steps: ClassVar[int] = 40
    default_guidance: ClassVar[float] = 5.0
    recommended_vae_dtype: ClassVar[str | None] = "float32"  # Wan's VAE is documented to need fp32
    settings: WanSettings

    def size_multiple(self) -> int:
        model = self.pipe.transformer if self.pipe.transformer is not None else self.pipe.transformer_2
        return self.pipe.vae_scale_factor_spatial * model.config.patch_size[1]

    def round_frames(self, n: int) -> int:
        return round_to_latent_grid(n, self.pipe.vae_scale_factor_temporal)

    def max_take(self) -> int:
        return 81

    def loop_method(self) -> str:
        mode = self.settings.loop_mode
        if mode == "last_frame" and not self.supports_last_frame():
            from catalog_motion.errors import EngineError

            raise EngineError(
                "wan: loop_mode last_frame needs a first-last-frame checkpoint (Wan 2.2 A14B or Wan 2.1 "
                "FLF2V); this one is plain I2V: set engines.wan.loop_mode: crossfade or auto"
            )
        if mode == "auto":
            mode = "last_frame" if self.supports_last_frame() else "crossfade"
        return mode

    def supports_last_frame(self) -> bool:
        """First-last-frame conditioning: Wan 2.2 A14B (no CLIP branch) and Wan 2.1 FLF2V checkpoints.

        Wan 2.1 I2V encodes both images with CLIP and only the FLF2V transformer (pos_embed_seq_len set)
        accepts two image embeddings; TI2V-5B (expand_timesteps) ignores the last image.
        """
        if self.pipe.config.expand_timesteps:
            return False
        model = self.pipe.transformer
        if self.pipe.image_encoder is None or model is None:
            return True
        return getattr(model.config, "pos_embed_seq_len", None) is not None

    def call_kwargs(self, preset: Preset, amount: float, motion_scale: float) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"guidance_scale": self.attempt_guidance(motion_scale)}
        if getattr(self.pipe, "transformer_2", None) is not None:
            g2 = self.settings.guidance_2 if self.settings.guidance_2 is not None else self.guidance()
            scale = kwargs["guidance_scale"] / self.guidance() if self.guidance() > 0 else 1.0
            kwargs["guidance_scale_2"] = round(max(min(g2, 1.0), g2 * scale), 4)
        return kwargs


class SVDEngine(DiffusionEngine):
    """Stable Video Diffusion (XT): image-only conditioning with explicit motion controls."""

    name: ClassVar[str] = "svd"
    pipeline_class: ClassVar[str] = "StableVideoDiffusionPipeline"
    allowed_classes: ClassVar[tuple[str, ...]] = ("StableVideoDiffusionPipeline",)
    text_conditioned: ClassVar[bool] = False
    default_area: ClassVar[int] = 576 * 1024
    default_fps: ClassVar[float] = 7.0
    default_steps: ClassVar[int] = 25
    default_guidance: ClassVar[float] = 3.0
    settings: SVDSettings

    def size_multiple(self) -> int:
        # The pipeline itself insists on multiples of 8; the UNet's downsampling may ask for more (64 for XT).
        return max(8, self.pipe.vae_scale_factor * 2 ** (len(self.pipe.unet.config.block_out_channels) - 1))

    def max_take(self) -> int:
        return int(self.pipe.unet.config.num_frames)

    def call_kwargs(self, preset: Preset, amount: float, motion_scale: float) -> dict[str, Any]:
        lo, hi = self.settings.motion_bucket_range
        return {
            "motion_bucket_id": int(round(lo + amount * (hi - lo))),
            # Less noise on the conditioning image keeps the subject closer to the photo ("ask for less").
            "noise_aug_strength": round(self.settings.noise_aug_strength * motion_scale, 6),
            "fps": max(1, int(round(self.model_fps()))),
            "min_guidance_scale": self.settings.min_guidance,
            "max_guidance_scale": self.guidance(),
            "decode_chunk_size": self.settings.decode_chunk_size,
        }


class LTXEngine(DiffusionEngine):
    """LTX-Video image-to-video."""

    name: ClassVar[str] = "ltx"
    pipeline_class: ClassVar[str] = "LTXImageToVideoPipeline"
    allowed_classes: ClassVar[tuple[str, ...]] = ("LTXImageToVideoPipeline", "LTXPipeline")
    default_area: ClassVar[int] = 704 * 480
    default_fps: ClassVar[float] = 25.0
    default_steps: ClassVar[int] = 50
    default_guidance: ClassVar[float] = 3.0
    settings: LTXSettings

    def size_multiple(self) -> int:
        # The pipeline checks multiples of 32 whatever the VAE; 32 is also the real model's grid.
        return max(32, self.pipe.vae_spatial_compression_ratio * self.pipe.transformer_spatial_patch_size)

    def round_frames(self, n: int) -> int:
        return round_to_latent_grid(n, self.pipe.vae_temporal_compression_ratio)

    def max_take(self) -> int:
        return 121

    def call_kwargs(self, preset: Preset, amount: float, motion_scale: float) -> dict[str, Any]:
        return {
            "guidance_scale": self.attempt_guidance(motion_scale),
            "frame_rate": int(round(self.model_fps())),
            "decode_timestep": self.settings.decode_timestep,
            # Less decoder noise: fewer invented details on the garment when asking for less.
            "decode_noise_scale": round(self.settings.decode_noise_scale * motion_scale, 6),
        }


class CogVideoXEngine(DiffusionEngine):
    """CogVideoX image-to-video (1.0: fixed 720x480; 1.5: any size)."""

    name: ClassVar[str] = "cogvideox"
    pipeline_class: ClassVar[str] = "CogVideoXImageToVideoPipeline"
    allowed_classes: ClassVar[tuple[str, ...]] = ("CogVideoXImageToVideoPipeline",)
    default_area: ClassVar[int] = 768 * 1360
    default_steps: ClassVar[int] = 50
    default_guidance: ClassVar[float] = 6.0
    settings: CogVideoXSettings

    def fixed_size(self) -> tuple[int, int] | None:
        config = self.pipe.transformer.config
        if config.use_learned_positional_embeddings:
            f = self.pipe.vae_scale_factor_spatial
            return config.sample_width * f, config.sample_height * f
        return None

    def size_multiple(self) -> int:
        return self.pipe.vae_scale_factor_spatial * self.pipe.transformer.config.patch_size

    def round_frames(self, n: int) -> int:
        return round_to_latent_grid(n, self.pipe.vae_scale_factor_temporal)

    def max_take(self) -> int:
        return int(self.pipe.transformer.config.sample_frames)

    def model_fps(self) -> float:
        if self.settings.fps:
            return self.settings.fps
        return 8.0 if self.pipe.transformer.config.patch_size_t is None else 16.0

    def call_kwargs(self, preset: Preset, amount: float, motion_scale: float) -> dict[str, Any]:
        # The dynamic (cosine) CFG schedule raises guidance mid-denoising: off when asking for less.
        return {
            "guidance_scale": self.attempt_guidance(motion_scale),
            "use_dynamic_cfg": self.settings.use_dynamic_cfg and motion_scale >= 1,
        }


ENGINE_CLASSES: dict[str, type[DiffusionEngine]] = {
    cls.name: cls for cls in (WanEngine, SVDEngine, LTXEngine, CogVideoXEngine, FramePackEngine, LTX2Engine)
}
