"""Validated settings of the diffusion engines (RunSettings.engines[<name>]).

One pydantic model per engine (common fields in `DiffusionSettings`); unknown keys are refused so a
typo never silently falls back to a default. Defaults follow each model's published usage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from catalog_motion.errors import EngineError
from generation.diffusion.profiles import with_profile

Dtype = Literal["float32", "bfloat16", "float16"]

CACHE_KINDS = ("none", "first_block", "faster", "pab", "taylorseer", "magcache")
PROFILE_NAMES = ("quality", "fast", "draft")


class LoraSettings(BaseModel):
    """A LoRA adapter loaded on top of the base weights (e.g. a few-step distillation LoRA)."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(description="Local folder/file or hub id of the LoRA weights")
    weight_name: str | None = Field(default=None, description="File name inside `path` when it holds several")
    scale: float = Field(default=1.0, ge=0.0, le=4.0, description="Adapter strength")
    fuse: bool = Field(default=True, description="Fuse into the base weights after loading (faster inference)")
    distilled: bool = Field(
        default=False,
        description="A few-step distillation LoRA (e.g. Wan 2.2 Lightning/LightX2V): its own step schedule, so no "
        "cache hook may run on top of it",
    )
    weight_name_2: str | None = Field(
        default=None,
        description="LoRA file for Wan 2.2 A14B's low-noise expert (transformer_2); None loads `weight_name` into "
        "both experts. Ignored by single-transformer models",
    )


class CacheSettings(BaseModel):
    """A diffusers cache hook that reuses transformer computations between denoising steps."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["none", "first_block", "faster", "pab", "taylorseer", "magcache"] = Field(
        default="none",
        description="none | first_block (FirstBlockCache) | faster (FasterCache) | "
        "pab (Pyramid Attention Broadcast) | taylorseer (TaylorSeerCache) | magcache (MagCache)",
    )
    threshold: float = Field(default=0.05, gt=0.0, le=1.0, description="FirstBlockCache / MagCache threshold")
    mag_ratios: list[float] | None = Field(
        default=None,
        description="MagCache's per-step magnitude ratios, calibrated once per model and step count "
        "(MagCacheConfig(calibrate=True) prints them); required for kind magcache",
    )
    interval: int = Field(default=5, ge=1, le=50, description="TaylorSeer: full computation every this many steps")


class DiffusionSettings(BaseModel):
    """Settings shared by every diffusers image-to-video engine."""

    model_config = ConfigDict(extra="forbid")

    profile: Literal["quality", "fast", "draft"] | None = Field(
        default=None,
        description="Named recipe (generation/diffusion/profiles.py, docs/ENGINES.md): quality, fast or draft; "
        "fields set here override it. Part of the engine identity",
    )
    accept_licence: str | None = Field(
        default=None,
        description="Name of the model licence you accept (required for licences that restrict regions or "
        "revenue, e.g. 'ltx-2-community'; docs/ENGINES.md lists them)",
    )
    weights: str | None = Field(
        default=None,
        description="Local folder saved by diffusers `save_pretrained`, or a Hugging Face hub id (read from the "
        "local cache only when HF_HUB_OFFLINE=1). Required.",
    )
    revision: str | None = Field(default=None, description="Hub revision (commit hash recommended) for a hub id")
    dtype: Dtype = Field(default="bfloat16", description="Weights/compute dtype of the denoiser and text encoder")
    vae_dtype: Dtype | None = Field(default=None, description="VAE dtype; None uses the model's recommendation")
    device: str = Field(default="cuda", description="cuda, cuda:N or cpu (cpu is for tests; minutes per clip)")
    offload: Literal["none", "model", "group", "sequential"] = Field(
        default="none",
        description="CPU offload: model (whole components), group (blocks, streamed), "
        "sequential (leaf modules; slowest, least memory). Needs a CUDA device.",
    )
    vae_tiling: bool = Field(default=False, description="Decode the VAE in tiles (less peak memory)")
    compile: Literal["none", "regional", "full"] = Field(
        default="none", description="torch.compile the denoiser: regional (repeated blocks; fast to compile) or full"
    )
    attention_backend: str | None = Field(
        default=None, description="diffusers attention backend, e.g. flash, _native_cudnn, sage; None = default"
    )
    cache: CacheSettings = Field(default_factory=CacheSettings)
    lora: LoraSettings | None = None
    shift: float | None = Field(
        default=None,
        gt=0.0,
        le=20.0,
        description="Flow-matching scheduler shift (timestep skew toward high noise); None = the model's. "
        "'Ask for less' lowers it",
    )
    fp8_layerwise: bool = Field(
        default=False,
        description="Store the denoiser's weights in float8_e4m3fn and upcast per layer to `dtype` "
        "(~half the weight memory; a small quality cost)",
    )
    multi_gpu: Literal["none", "context_parallel", "model_per_gpu"] = Field(
        default="none",
        description="none | context_parallel (one clip split across the node's GPUs, Ulysses, needs "
        "torch.distributed launch) | model_per_gpu (one worker and model per GPU, items spread across them)",
    )
    steps: int | None = Field(default=None, ge=1, le=200, description="Denoising steps; None = model default")
    guidance: float | None = Field(default=None, ge=0.0, le=30.0, description="Guidance scale; None = model default")
    native_area: int | None = Field(
        default=None,
        ge=256,
        le=4096 * 4096,
        description="Pixel area generated by the model (width x height chosen to match the preset's aspect); "
        "None = the model's native area. Ignored by models with a fixed size.",
    )
    fps: float | None = Field(
        default=None, gt=0.0, le=60.0, description="Frame rate the model generates at; None = the model's native rate"
    )
    max_take_frames: int | None = Field(
        default=None,
        ge=2,
        le=1024,
        description="Longest take the model holds well; longer presets are chained takes. None = model default",
    )
    max_takes: int = Field(default=4, ge=1, le=16, description="Refuse presets needing more chained takes than this")
    overlap_frames: int = Field(
        default=4, ge=1, le=32, description="Frames two chained takes share; they are crossfaded over this span"
    )
    loop_blend_frames: int = Field(
        default=6, ge=2, le=48, description="Extra frames generated and crossfaded to close a loop seamlessly"
    )
    max_batch: int = Field(default=4, ge=1, le=64, description="Items of one preset per forward pass")
    subject_lock: bool = Field(
        default=False,
        description="Re-project the source photo's subject onto frames where its measured drift is small, so "
        "prints, logos and text stay exact",
    )
    subject_lock_max_residual: float = Field(
        default=0.06,
        gt=0.0,
        le=1.0,
        description="Lock a frame only when the aligned subject differs from the source by at most this mean "
        "absolute error (0..1 intensity): above it the garment really moved, and the generated pixels stay",
    )
    max_sequence_length: int | None = Field(
        default=None, ge=8, le=1024, description="Text tokens; None = the pipeline default"
    )
    interpolation: Literal["flow", "blend"] = Field(
        default="flow",
        description="How model frames are retimed to the preset fps: optical-flow warping or a "
        "plain crossfade of neighbouring frames",
    )

    @model_validator(mode="after")
    def _cache_not_on_distilled(self) -> DiffusionSettings:
        if self.lora is not None and self.lora.distilled and self.cache.kind != "none":
            raise ValueError(
                f"cache '{self.cache.kind}' cannot run on a distilled LoRA (its few steps leave nothing to reuse "
                "and it degrades the clip); set cache.kind: none or drop lora.distilled"
            )
        if self.cache.kind == "magcache" and not self.cache.mag_ratios:
            raise ValueError("cache kind magcache needs cache.mag_ratios calibrated for this model and step count")
        return self

    @field_validator("device")
    @classmethod
    def _device_syntax(cls, value: str) -> str:
        if not (
            value == "cpu" or value == "mps" or value == "cuda" or (value.startswith("cuda:") and value[5:].isdigit())
        ):
            raise ValueError("must be cpu, mps, cuda or cuda:N")
        return value


class WanSettings(DiffusionSettings):
    guidance_2: float | None = Field(
        default=None,
        ge=0.0,
        le=30.0,
        description="Guidance of the low-noise transformer (Wan 2.2 A14B two-transformer form); None = guidance",
    )
    loop_mode: Literal["auto", "last_frame", "crossfade"] = Field(
        default="auto",
        description="Close loops by conditioning the last frame on the first (Wan FLF2V), or "
        "by crossfading extra frames; auto picks last_frame where the model supports it",
    )


class SVDSettings(DiffusionSettings):
    dtype: Dtype = Field(default="float16", description="SVD-XT ships fp16 weights")
    noise_aug_strength: float = Field(
        default=0.02,
        ge=0.0,
        le=1.0,
        description="Noise added to the conditioning image at motion_scale 1; scaled down by 'ask for less'",
    )
    motion_bucket_range: tuple[int, int] = Field(
        default=(1, 255), description="motion_bucket_id for motion amount 0 and 1 (SVD's default 127 ~ 0.5)"
    )
    min_guidance: float = Field(default=1.0, ge=0.0, le=30.0, description="Guidance at the first frame")
    decode_chunk_size: int | None = Field(
        default=None, ge=1, le=64, description="Frames decoded at once; lower = less VAE memory"
    )

    @field_validator("motion_bucket_range")
    @classmethod
    def _bucket_range(cls, value: tuple[int, int]) -> tuple[int, int]:
        lo, hi = value
        if not (0 <= lo <= hi <= 1023):
            raise ValueError("must be two ids 0 <= low <= high <= 1023")
        return value


class LTXSettings(DiffusionSettings):
    decode_timestep: float = Field(default=0.05, ge=0.0, le=1.0, description="LTX 0.9.1+ decoder timestep")
    decode_noise_scale: float = Field(default=0.025, ge=0.0, le=1.0, description="LTX 0.9.1+ decoder noise")


class LTX2Settings(DiffusionSettings):
    loop_mode: Literal["last_frame", "crossfade"] = Field(
        default="last_frame",
        description="Close loops by conditioning the last latent frame on the source photo (LTX2ConditionPipeline), "
        "or by crossfading extra frames",
    )
    guidance_rescale: float = Field(
        default=0.7, ge=0.0, le=1.0, description="LTX-2 guidance rescale (against over-saturation at high CFG)"
    )
    stg_scale: float = Field(
        default=1.0,
        ge=0.0,
        le=10.0,
        description="Spatio-temporal guidance (one more transformer pass per step); 0 = off",
    )
    stg_blocks: list[int] = Field(
        default=[29], description="Transformer blocks STG perturbs ([29] is Lightricks' value for LTX-2.0)"
    )
    modality_scale: float = Field(
        default=3.0,
        ge=1.0,
        le=10.0,
        description="Modality-isolation guidance (one more transformer pass per step, audio cross-attention off); "
        "1 = off",
    )
    motion_speed: float = Field(
        default=1.0,
        gt=0.0,
        le=4.0,
        description="Motion speed relative to real time (positional embeddings see frame_rate / motion_speed); "
        "'ask for less' lowers it",
    )
    sigmas: list[float] | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Custom sigma schedule (e.g. the 8 published values of the distilled checkpoint); its length is "
        "the step count. None = the pipeline's schedule for `steps`",
    )
    image_crf: int | None = Field(
        default=None,
        ge=0,
        le=51,
        description="H.264 CRF the conditioning photo is re-compressed at before encoding (the model was trained "
        "on compressed frames); None = the model's (33 for LTX-2), 0 = none",
    )
    decode_timestep: float = Field(
        default=0.05, ge=0.0, le=1.0, description="Decoder timestep (only a timestep-conditioned VAE uses it)"
    )
    decode_noise_scale: float = Field(
        default=0.025,
        ge=0.0,
        le=1.0,
        description="Decoder noise (only a timestep-conditioned VAE uses it); 'ask for less' lowers it",
    )

    @model_validator(mode="after")
    def _consistent(self) -> LTX2Settings:
        if self.stg_scale > 0 and not self.stg_blocks:
            raise ValueError("stg_scale above 0 needs stg_blocks (e.g. [29]); set stg_scale: 0 to turn STG off")
        if self.sigmas and self.steps is not None and self.steps != len(self.sigmas):
            raise ValueError(f"steps {self.steps} disagrees with the {len(self.sigmas)} sigmas; unset steps")
        return self


class CogVideoXSettings(DiffusionSettings):
    use_dynamic_cfg: bool = Field(default=True, description="CogVideoX's cosine guidance schedule")


class FramePackSettings(DiffusionSettings):
    latent_window_size: int = Field(
        default=9,
        ge=1,
        le=33,
        description="Latent frames per FramePack section (the pipeline's latent_window_size); 9 is the released "
        "checkpoints' window: 36 frames (1.2 s at 30 fps) per section",
    )
    max_sections: int = Field(
        default=6,
        ge=1,
        le=64,
        description="Longest take in sections (6 x 36 + 1 = 217 frames, 7.2 s at 30 fps); FramePack's memory does "
        "not grow with it, its time does",
    )
    sampling: Literal["inverted_anti_drifting", "vanilla"] = Field(
        default="inverted_anti_drifting",
        description="inverted_anti_drifting (FramePackI2V_HY: sections from the end back to the photo; takes a "
        "last image, so loops end on the photo) or vanilla (FramePack-F1 checkpoints; loops are crossfaded)",
    )
    true_cfg: float = Field(
        default=1.0,
        ge=1.0,
        le=30.0,
        description="Real classifier-free guidance with the negative prompt (the pipeline's true_cfg_scale); "
        "1 = off, as published (the checkpoint is guidance-distilled; above 1 doubles the transformer's work)",
    )

    @model_validator(mode="after")
    def _cache_the_pipeline_runs(self) -> FramePackSettings:
        reason = FRAMEPACK_UNUSABLE_CACHES.get(self.cache.kind)
        if reason:
            raise ValueError(
                f"cache '{self.cache.kind}' does not run in HunyuanVideoFramepackPipeline ({reason}); "
                "set cache.kind: pab or none"
            )
        return self


FRAMEPACK_UNUSABLE_CACHES = {
    # diffusers 0.42: these hooks keep state per cache context, and the FramePack pipeline opens none.
    "first_block": "its transformer call opens no cache context",
    "taylorseer": "its transformer call opens no cache context",
    "magcache": "its transformer call opens no cache context",
    "faster": "FasterCache skips an unconditional batch, and the checkpoint is guidance-distilled",
}


@dataclass(frozen=True)
class Licence:
    """A model family's licence as the manifest's provenance records it."""

    name: str  # what `accept_licence` must say
    title: str
    url: str
    restricts: str = ""  # what it restricts (regions, revenue); "" = permissive, nothing to accept


LICENCES: dict[str, Licence] = {
    "wan": Licence("apache-2.0", "Apache License 2.0", "https://huggingface.co/Wan-AI/Wan2.2-TI2V-5B-Diffusers"),
    "svd": Licence(
        "stability-community",
        "Stability AI Community License",
        "https://huggingface.co/stabilityai/stable-video-diffusion-img2vid-xt",
        "commercial use above USD 1M annual revenue (needs an enterprise licence)",
    ),
    "ltx": Licence(
        "ltxv-open-weights",
        "LTX-Video Open Weights License",
        "https://huggingface.co/Lightricks/LTX-Video",
        "commercial use by companies above its revenue threshold",
    ),
    "cogvideox": Licence(
        "cogvideox",
        "CogVideoX License",
        "https://huggingface.co/THUDM/CogVideoX-5b-I2V",
        "commercial use (registration and usage limits of the 5B licence)",
    ),
    "ltx2": Licence(
        "ltx-2-community",
        "LTX-2 Community License",
        "https://huggingface.co/Lightricks/LTX-2",
        "commercial use by entities with USD 10M or more annual revenue (they need a paid licence from Lightricks)",
    ),
    # FramePackI2V_HY is a fine-tune of HunyuanVideo, so HunyuanVideo's licence governs its weights.
    "framepack": Licence(
        "tencent-hunyuan-community",
        "Tencent Hunyuan Community License",
        "https://huggingface.co/tencent/HunyuanVideo/blob/main/LICENSE",
        "use in the EU, the UK and South Korea (it grants no rights there) and services above 100 million "
        "monthly active users (they need a separate licence from Tencent)",
    ),
}


SETTINGS_MODELS: dict[str, type[DiffusionSettings]] = {
    "wan": WanSettings,
    "svd": SVDSettings,
    "ltx": LTXSettings,
    "cogvideox": CogVideoXSettings,
    "ltx2": LTX2Settings,
    "framepack": FramePackSettings,
}


def parse_settings(engine: str, raw: dict[str, Any] | None) -> DiffusionSettings:
    """Validate `RunSettings.engines[engine]` laid over its profile; one-line EngineError naming the field."""
    model = SETTINGS_MODELS[engine]
    try:
        settings = model.model_validate(with_profile(engine, raw or {}))
    except ValidationError as exc:
        first = exc.errors()[0]
        message = first["msg"].removeprefix("Value error, ")
        if not first["loc"]:
            raise EngineError(f"{engine}: invalid engines.{engine} settings: {message}") from None
        where = ".".join(str(p) for p in first["loc"])
        raise EngineError(f"{engine}: invalid setting engines.{engine}.{where}: {message}") from None
    if not settings.weights:
        raise EngineError(
            f"{engine}: no weights configured; set engines.{engine}.weights to a local diffusers folder or a hub id "
            f"(see docs/ENGINES.md for the recommended checkpoint)"
        )
    return settings


def check_licence(engine: str, settings: DiffusionSettings) -> Licence:
    """The engine's model licence; EngineError unless a restrictive one is accepted by name."""
    licence = LICENCES[engine]
    if licence.restricts and settings.accept_licence != licence.name:
        raise EngineError(
            f"{engine}: the {licence.title} restricts {licence.restricts}; read {licence.url} and set "
            f"engines.{engine}.accept_licence: {licence.name} to accept it"
        )
    return licence
