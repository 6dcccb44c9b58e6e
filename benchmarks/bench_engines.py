"""Generation engines benchmark: the camera engine at delivery size, and the diffusion engines per lever.

Camera: each packaged preset at full size from the sample dress photo (1600x2000, garment motion on where
the preset asks for it; best of --reps runs): seconds per clip, rendered frames per second, and the ratio
to a bare cv2.remap loop of the same frame count and size measured right after each run (targets, 2 CPU
cores: social 6 s 1080x1920 <= 2.5 s, product-page and close-up 4 s <= 2 s).

Diffusion, with CUDA: each engine's real-size architecture is built from its published configuration
with random weights (weights do not change the cost) straight on the GPU, wrapped by the production
engine (`DiffusionEngine.from_pipeline`), and one product-page clip is generated per lever:
  bf16        baseline (Wan VAE in fp32)
  compile     torch.compile of the denoiser's repeated blocks (first run = compile, reported apart)
  cache       FirstBlockCache (threshold 0.05)
  offload     model CPU offload
reporting seconds per clip (measured with --steps steps and extrapolated to the model's default
steps), peak GPU memory, and the share of the pipeline call spent outside the denoising loop
(text/image encoding, VAE encode/decode).

Without CUDA it says so, and runs the same measurements on the tiny random pipelines of
tests/fixtures/tiny_pipelines.py on CPU (levers that need CUDA are listed as not applicable), so the
script keeps working under `make bench`. Those numbers say nothing about GPU speed.

    .venv/bin/python benchmarks/bench_engines.py [--reps 2] [--steps 4] [--engines wan,svd] [--quick]
writes benchmarks/results/engines.json and prints a summary.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # benchmarks never download
os.environ.setdefault("TQDM_DISABLE", "1")

RESULTS = ROOT / "benchmarks" / "results" / "engines.json"
ENGINES = ("wan", "svd", "ltx", "cogvideox")
LEVERS = ("bf16", "compile", "cache", "offload")


# ----- camera engine -------------------------------------------------------------------------------
CAMERA_TARGET_S = {"product-page": 2.0, "social": 2.5, "close-up": 2.0}  # issue #16, 2 cores, garment motion on


def bare_remap_seconds(source, out_w: int, out_h: int, n_frames: int) -> float:
    """A bare cv2.remap loop of `n_frames` frames at out_w x out_h from `source` (a slight zoom, one
    precomputed float map, nothing written): what one resample per frame costs on this machine, now."""
    import cv2
    import numpy as np

    h, w = source.shape[:2]
    scale = min(w / out_w, h / out_h) * 0.97
    xs = (np.arange(out_w, dtype=np.float32) - out_w / 2) * scale + w / 2
    ys = (np.arange(out_h, dtype=np.float32) - out_h / 2) * scale + h / 2
    grid = np.dstack(np.meshgrid(xs, ys)).astype(np.float32)
    started = time.perf_counter()
    for _ in range(n_frames):
        cv2.remap(source, grid, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return time.perf_counter() - started


def bench_camera(reps: int, quick: bool) -> list[dict[str, Any]]:
    """Each packaged preset rendered from the sample dress (1600x2000, garment motion on where the preset
    asks for it), best of `reps`, each rep followed by a bare cv2.remap loop of the same frame count and
    size: the ratio of the two is what survives a shared, noisy machine. The best rep's CPU time (this
    process, every thread; and the master writer's ffmpeg) and the load average say how noisy it was."""
    import resource

    from catalog_connectors.samples import draw_sample_catalog
    from catalog_motion.images import read_photo
    from catalog_motion.presets import load_presets
    from generation.base import GenerationRequest
    from generation.registry import get_engine

    def cpu_seconds() -> tuple[float, float]:
        """This process's CPU time (every thread) and its children's (the master's ffmpeg), so far."""
        child = resource.getrusage(resource.RUSAGE_CHILDREN)
        return time.process_time(), child.ru_utime + child.ru_stime

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        draw_sample_catalog(Path(tmp), photos=["dress-print"])
        photo = Path(tmp) / "images" / "dress-print.png"
        source = read_photo(photo)
        engine = get_engine("camera", {})
        for name, preset in load_presets().items():
            scale = 0.25 if quick else 1.0
            best, best_bare = float("inf"), float("inf")
            best_cpu, best_child = float("inf"), float("inf")
            load_before = os.getloadavg()[0]
            for rep in range(reps):
                request = GenerationRequest(
                    source_path=str(photo),
                    preset=preset,
                    seed=0,
                    duration_scale=scale,
                    out_path=str(Path(tmp) / f"{name}-{rep}.nut"),
                )
                started, (cpu0, child0) = time.perf_counter(), cpu_seconds()
                ref = engine.generate(request)
                wall, (cpu1, child1) = time.perf_counter() - started, cpu_seconds()
                if wall < best:
                    best, best_cpu, best_child = wall, cpu1 - cpu0, child1 - child0
                Path(ref.path).unlink()
                best_bare = min(best_bare, bare_remap_seconds(source, preset.width, preset.height, ref.n_frames))
            garment = ref.params.get("garment", {})
            target = CAMERA_TARGET_S.get(name)
            rows.append(
                {
                    "preset": name,
                    "size": f"{preset.width}x{preset.height}",
                    "path": preset.motion.path,
                    "garment_motion": bool(garment.get("active")),
                    "sway": garment.get("sway", 0.0),
                    "frames": ref.n_frames,
                    "clip_s": round(ref.n_frames / preset.fps, 3),
                    "seconds": round(best, 3),
                    "fps": round(ref.n_frames / best, 1),
                    "seconds_per_4s_clip": round(best * 4.0 / (ref.n_frames / preset.fps), 3),
                    "bare_remap_seconds": round(best_bare, 3),
                    "ratio_to_bare_remap": round(best / best_bare, 2),
                    "target_s": target if not quick else None,
                    "met": (best <= target) if target and not quick else None,
                    "cpu_s": round(best_cpu, 3),
                    "ffmpeg_cpu_s": round(best_child, 3),
                    "reps": reps,
                    "load_average_1m": round(os.getloadavg()[0], 2),
                    "load_average_1m_before": round(load_before, 2),
                }
            )
    return rows


# ----- real-size architectures (published configs) -------------------------------------------------
# Real-size models: the engines, plus Wan 2.2 TI2V-5B (a configuration of `wan`, docs/ENGINES.md).
REAL_SIZE_MODELS = ("wan", "wan_ti2v", "svd", "ltx", "cogvideox", "ltx2", "framepack")
# Engine settings a model needs besides its pipeline (TI2V-5B: 720p at 24 fps, 121-frame takes, as published).
REAL_SIZE_SETTINGS: dict[str, dict[str, Any]] = {
    "wan_ti2v": {"native_area": 704 * 1280, "fps": 24, "max_take_frames": 121},
}


def engine_of(model: str) -> str:
    """The registered engine that runs a real-size model (wan_ti2v is the wan engine)."""
    return "wan" if model == "wan_ti2v" else model


def _t5_xxl_config(umt5: bool):
    from transformers import T5Config, UMT5Config

    cls = UMT5Config if umt5 else T5Config
    return cls(
        vocab_size=256384 if umt5 else 32128,
        d_model=4096,
        d_kv=64,
        d_ff=10240,
        num_layers=24,
        num_heads=64,
        feed_forward_proj="gated-gelu",
        relative_attention_num_buckets=32,
    )


def _clip_vit_h(with_projection: bool):
    from transformers import CLIPVisionConfig, CLIPVisionModel, CLIPVisionModelWithProjection

    config = CLIPVisionConfig(
        hidden_size=1280,
        intermediate_size=5120,
        num_hidden_layers=32,
        num_attention_heads=16,
        patch_size=14,
        image_size=224,
        projection_dim=1024,
        hidden_act="gelu",
    )
    return (CLIPVisionModelWithProjection if with_projection else CLIPVisionModel)(config)


def _siglip_so400m(image_size: int):
    """SigLIP so400m/14 (Gemma 3's vision tower at 896 px; FramePack's image encoder at 384 px)."""
    from transformers import SiglipVisionConfig

    return SiglipVisionConfig(
        hidden_size=1152,
        intermediate_size=4304,
        num_hidden_layers=27,
        num_attention_heads=16,
        image_size=image_size,
        patch_size=14,
    )


def _gemma3_12b():
    """Gemma 3 12B (LTX-2's text encoder): 48 layers of width 3840, which are LTX-2's caption_channels 3840 and
    its connectors' text_proj_in_factor 49 (every layer's hidden state plus the embeddings)."""
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration, Gemma3TextConfig

    text = Gemma3TextConfig(
        vocab_size=262208,
        hidden_size=3840,
        intermediate_size=15360,
        num_hidden_layers=48,
        num_attention_heads=16,
        num_key_value_heads=8,
        head_dim=256,
        query_pre_attn_scalar=256,
        sliding_window=1024,
        max_position_embeddings=131072,
    )
    config = Gemma3Config(
        text_config=text,
        vision_config=_siglip_so400m(896),
        mm_tokens_per_image=256,
        boi_token_index=255999,
        eoi_token_index=256000,
        image_token_index=262144,
    )
    return Gemma3ForConditionalGeneration(config)


def _llama3_8b():
    """Llama 3 8B (HunyuanVideo's LLaVA-Llama-3 text encoder, FramePack's first text encoder; LlamaModel as
    the pipeline takes it). Token ids 0-2 are the in-memory tokenizer's specials."""
    from transformers import LlamaConfig, LlamaModel

    return LlamaModel(
        LlamaConfig(
            vocab_size=128320,
            hidden_size=4096,
            intermediate_size=14336,
            num_hidden_layers=32,
            num_attention_heads=32,
            num_key_value_heads=8,
            max_position_embeddings=8192,
            pad_token_id=0,
            bos_token_id=1,
            eos_token_id=2,
        )
    )


def _clip_l_text():
    """CLIP ViT-L/14's text encoder (FramePack's second text encoder; pooled output only). Token ids 0/1 are
    the in-memory tokenizer's start/end tokens."""
    from transformers import CLIPTextConfig, CLIPTextModel

    return CLIPTextModel(
        CLIPTextConfig(
            vocab_size=49408,
            hidden_size=768,
            intermediate_size=3072,
            num_hidden_layers=12,
            num_attention_heads=12,
            max_position_embeddings=77,
            projection_dim=768,
            hidden_act="quick_gelu",
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
        )
    )


def denoiser_config(model: str) -> tuple[str, dict[str, Any]]:
    """Class name and config of each model's published denoiser (diffusers class defaults where they match)."""
    return {
        # Wan2.1-I2V-14B: the 14B DiT with 36 input channels and the CLIP image cross-attention branch.
        "wan": ("WanTransformer3DModel", {"in_channels": 36, "image_dim": 1280, "added_kv_proj_dim": 5120}),
        # Wan2.2-TI2V-5B: 30 layers x 24 heads x 128 on the 48-channel VAE latents, no image branch.
        "wan_ti2v": (
            "WanTransformer3DModel",
            {
                "num_attention_heads": 24,
                "attention_head_dim": 128,
                "in_channels": 48,
                "out_channels": 48,
                "ffn_dim": 14336,
                "num_layers": 30,
            },
        ),
        # stable-video-diffusion-img2vid-xt: the class defaults are its UNet.
        "svd": ("UNetSpatioTemporalConditionModel", {}),
        # LTX-Video 0.9.x (2B): the class defaults.
        "ltx": ("LTXVideoTransformer3DModel", {}),
        # CogVideoX-5b-I2V: 42 layers x 48 heads, image latents concatenated (32 channels), learned positions.
        "cogvideox": (
            "CogVideoXTransformer3DModel",
            {
                "num_attention_heads": 48,
                "num_layers": 42,
                "in_channels": 32,
                "use_rotary_positional_embeddings": True,
                "use_learned_positional_embeddings": True,
            },
        ),
        # Lightricks/LTX-2 (19B: 48 joint blocks, video 32 x 128 wide, audio 32 x 64): the class defaults.
        "ltx2": ("LTX2VideoTransformer3DModel", {}),
        # lllyasviel/FramePackI2V_HY: HunyuanVideo's 13B DiT (the class defaults) + SigLIP image projection and
        # the clean-latent (context) embedder.
        "framepack": (
            "HunyuanVideoFramepackTransformer3DModel",
            {"has_image_proj": True, "image_proj_dim": 1152, "has_clean_x_embedder": True},
        ),
    }[model]


def real_size_parameter_counts() -> dict[str, float]:
    """Billions of denoiser parameters, built on the meta device (no memory): checks the configs."""
    import diffusers
    import torch

    counts = {}
    for model in REAL_SIZE_MODELS:
        cls_name, config = denoiser_config(model)
        with torch.device("meta"):
            denoiser = getattr(diffusers, cls_name)(**config)
        counts[model] = round(sum(p.numel() for p in denoiser.parameters()) / 1e9, 3)
    return counts


def _real_modules(model: str) -> dict[str, Any]:
    """The model's networks at real size with random weights, in the current default device and dtype."""
    import diffusers

    cls_name, config = denoiser_config(model)
    modules: dict[str, Any] = {"unet" if model == "svd" else "transformer": getattr(diffusers, cls_name)(**config)}
    if model == "wan":
        from transformers import UMT5EncoderModel

        modules |= {"text_encoder": UMT5EncoderModel(_t5_xxl_config(umt5=True)), "image_encoder": _clip_vit_h(False)}
    elif model == "wan_ti2v":
        from transformers import UMT5EncoderModel

        modules["text_encoder"] = UMT5EncoderModel(_t5_xxl_config(umt5=True))
    elif model in {"ltx", "cogvideox"}:
        from transformers import T5EncoderModel

        modules["text_encoder"] = T5EncoderModel(_t5_xxl_config(umt5=False))
        # The class defaults are LTX-Video 0.9's and CogVideoX's VAEs.
        modules["vae"] = diffusers.AutoencoderKLLTXVideo() if model == "ltx" else diffusers.AutoencoderKLCogVideoX()
    elif model == "svd":
        modules["image_encoder"] = _clip_vit_h(with_projection=True)
        modules["vae"] = diffusers.AutoencoderKLTemporalDecoder(
            block_out_channels=(128, 256, 512, 512), layers_per_block=2, down_block_types=("DownEncoderBlock2D",) * 4
        )
    elif model == "ltx2":
        from diffusers.pipelines.ltx2 import LTX2TextConnectors
        from diffusers.pipelines.ltx2.vocoder import LTX2Vocoder

        # Connectors, video VAE, audio VAE and vocoder: the class defaults are LTX-2's published configs.
        modules |= {
            "text_encoder": _gemma3_12b(),
            "connectors": LTX2TextConnectors(),
            "vae": diffusers.AutoencoderKLLTX2Video(),
            "audio_vae": diffusers.AutoencoderKLLTX2Audio(),
            "vocoder": LTX2Vocoder(),
        }
    elif model == "framepack":
        from transformers import SiglipVisionModel

        modules |= {
            "text_encoder": _llama3_8b(),
            "text_encoder_2": _clip_l_text(),
            "image_encoder": SiglipVisionModel(_siglip_so400m(384)),
            "vae": diffusers.AutoencoderKLHunyuanVideo(),  # the class defaults are HunyuanVideo's VAE
        }
    return modules


def _wan_vae(model: str):
    """Wan's VAEs in fp32, as Wan recommends: 2.1's (the class defaults) or 2.2's 48-channel 16x one."""
    import diffusers

    if model == "wan":
        return diffusers.AutoencoderKLWan()
    return diffusers.AutoencoderKLWan(
        base_dim=160,
        decoder_base_dim=256,
        z_dim=48,
        is_residual=True,
        in_channels=12,
        out_channels=12,
        patch_size=2,
        scale_factor_spatial=16,
        scale_factor_temporal=4,
        # The published per-channel statistics only rescale latents; with random weights any values cost the same.
        latents_mean=[0.0] * 48,
        latents_std=[1.0] * 48,
    )


def build_real_pipeline(model: str, device: str):
    """The model's pipeline at real size with random weights, built directly on `device` in bf16 (the Wan VAEs
    in fp32). On the meta device nothing is allocated: that checks every configuration without a GPU."""
    import diffusers
    import torch
    from transformers import CLIPImageProcessor
    from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil

    from tests.fixtures.tiny_pipelines import _BUILDERS, _gemma_tokenizer, _t5_tokenizer

    # FramePack's Llama and CLIP tokenizers, built in memory by the tiny fixture (before any weights exist here).
    tiny_framepack = _BUILDERS["framepack"]() if model == "framepack" else None
    previous = torch.get_default_dtype()
    with torch.device(device):
        torch.set_default_dtype(torch.bfloat16)
        try:
            modules = _real_modules(model)
        finally:
            torch.set_default_dtype(previous)
        if model in {"wan", "wan_ti2v"}:
            modules["vae"] = _wan_vae(model)
    clip_224 = {"crop_size": {"height": 224, "width": 224}, "size": {"shortest_edge": 224}}
    if model == "wan":
        return diffusers.WanImageToVideoPipeline(
            **modules,
            tokenizer=_t5_tokenizer(),
            image_processor=CLIPImageProcessor(**clip_224),
            scheduler=diffusers.UniPCMultistepScheduler(
                prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0
            ),
        )
    if model == "wan_ti2v":
        # Published as a WanPipeline folder; the wan engine loads it as this I2V pipeline (no CLIP branch).
        return diffusers.WanImageToVideoPipeline(
            **modules,
            tokenizer=_t5_tokenizer(),
            expand_timesteps=True,
            scheduler=diffusers.UniPCMultistepScheduler(
                prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=5.0
            ),
        )
    if model == "svd":
        return diffusers.StableVideoDiffusionPipeline(
            **modules,
            feature_extractor=CLIPImageProcessor(**clip_224),
            scheduler=diffusers.EulerDiscreteScheduler(
                prediction_type="v_prediction",
                use_karras_sigmas=True,
                timestep_type="continuous",
                sigma_max=700.0,
                sigma_min=0.002,
            ),
        )
    if model == "ltx":
        return diffusers.LTXImageToVideoPipeline(
            **modules, tokenizer=_t5_tokenizer(), scheduler=diffusers.FlowMatchEulerDiscreteScheduler()
        )
    if model == "cogvideox":
        return diffusers.CogVideoXImageToVideoPipeline(
            **modules,
            tokenizer=_t5_tokenizer(),
            scheduler=diffusers.CogVideoXDDIMScheduler(
                prediction_type="v_prediction", rescale_betas_zero_snr=True, timestep_spacing="trailing"
            ),
        )
    if model == "ltx2":
        return diffusers.LTX2ImageToVideoPipeline(
            **modules,
            tokenizer=_gemma_tokenizer(),
            # LTX-2's resolution-dependent (dynamic) shift, as published.
            scheduler=diffusers.FlowMatchEulerDiscreteScheduler(
                use_dynamic_shifting=True,
                base_shift=0.95,
                max_shift=2.05,
                base_image_seq_len=1024,
                max_image_seq_len=4096,
            ),
        )
    if model == "framepack":
        return diffusers.HunyuanVideoFramepackPipeline(
            **modules,
            tokenizer=tiny_framepack.tokenizer,
            tokenizer_2=tiny_framepack.tokenizer_2,
            feature_extractor=SiglipImageProcessorPil(size={"height": 384, "width": 384}),
            scheduler=diffusers.FlowMatchEulerDiscreteScheduler(shift=7.0),
        )
    raise ValueError(f"no real-size pipeline for {model!r}; known: {', '.join(REAL_SIZE_MODELS)}")


# ----- diffusion engines -------------------------------------------------------------------------
def _lever_settings(lever: str, cuda: bool) -> dict[str, Any] | str:
    """Settings for a lever, or the reason it does not apply here."""
    if lever == "bf16":
        return {"dtype": "bfloat16"} if cuda else {}
    if lever == "compile":
        return {"compile": "regional"} if cuda else "torch.compile timings need CUDA"
    if lever == "cache":
        return {"cache": {"kind": "first_block", "threshold": 0.05}}
    if lever == "offload":
        return {"offload": "model"} if cuda else "offload needs CUDA"
    raise ValueError(lever)


def _run_clip(engine, preset, photo: Path, out: Path, steps: int, full_steps: int) -> dict[str, Any]:
    import torch

    from generation.base import GenerationRequest

    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    ref = engine.generate(GenerationRequest(source_path=str(photo), preset=preset, seed=0, out_path=str(out)))
    wall = time.perf_counter() - started
    timings = ref.params["timings"]
    denoise, call = timings.get("denoise_s", 0.0), timings.get("call_s", 0.0)
    per_step = denoise / max(1, steps * ref.params["takes"])
    return {
        "wall_s": round(wall, 3),
        "call_s": round(call, 3),
        "denoise_s": round(denoise, 3),
        "outside_denoise_share": ref.params.get("outside_denoise_share"),
        "seconds_per_clip_at_default_steps": round(wall - denoise + per_step * full_steps * ref.params["takes"], 3),
        "peak_gpu_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None,
        "native_size": ref.params["fit"]["native_size"],
        "frames_per_take": ref.params["frames_per_take"],
        "takes": ref.params["takes"],
        "levers": ref.params["levers"],
    }


def bench_diffusion(engines: list[str], levers: list[str], steps: int, quick: bool) -> list[dict[str, Any]]:
    import torch

    from catalog_motion.presets import load_presets
    from generation.diffusion.engines import ENGINE_CLASSES
    from generation.registry import clear_engine_cache, get_engine
    from tests.fixtures.tiny_pipelines import write_tiny_model
    from tests.generation.conftest import draw_garment, save_png

    cuda = torch.cuda.is_available()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        photo = save_png(draw_garment(1600, 2000, patch=(820, 1150, 160)), tmp / "photo.png")
        base = load_presets()["product-page"].model_copy(update={"loop": False})
        if not cuda:  # tiny models: a small delivery size keeps it quick
            base = base.model_copy(update={"width": 216, "height": 270, "duration_s": 1.0 if quick else 2.0})
        for name in engines:
            cls = ENGINE_CLASSES[name]
            tiny_settings = None if cuda else write_tiny_model(name, tmp / f"tiny-{name}")
            for lever in levers:
                row: dict[str, Any] = {"engine": name, "lever": lever, "scale": "real" if cuda else "tiny"}
                extra = _lever_settings(lever, cuda)
                if isinstance(extra, str):
                    rows.append(row | {"skipped": extra})
                    continue
                try:
                    if cuda:
                        pipe = build_real_pipeline(name, "cuda")
                        engine = cls.from_pipeline(pipe, {"device": "cuda", "steps": steps, **extra})
                        full_steps = cls.default_steps
                    else:
                        clear_engine_cache()
                        engine = get_engine(name, tiny_settings | {"steps": steps} | extra)
                        full_steps = steps
                    first = _run_clip(engine, base, photo, tmp / f"{name}-{lever}-0.mkv", steps, full_steps)
                    second = _run_clip(engine, base, photo, tmp / f"{name}-{lever}-1.mkv", steps, full_steps)
                    row |= second | {
                        "first_run_wall_s": first["wall_s"],
                        "steps_measured": steps,
                        "default_steps": full_steps,
                    }
                except Exception as exc:  # noqa: BLE001 - a lever a model does not support is a result too
                    row["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
                rows.append(row)
                engine = pipe = None  # noqa: F841 - free the model before the next lever
                if cuda:
                    torch.cuda.empty_cache()
    return rows


def _print_camera(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        print(
            f"camera {row['preset']:13s} {row['size']:9s} {row['path']:15s} {row['frames']:4d} frames "
            f"{row['seconds']:6.2f} s ({row['fps']:6.1f} fps; {row['seconds_per_4s_clip']:.2f} s per 4 s clip; "
            f"{row['ratio_to_bare_remap']:.2f}x a bare cv2.remap loop; garment motion {row['garment_motion']}; "
            f"CPU {row.get('cpu_s', float('nan')):.2f} s + ffmpeg {row.get('ffmpeg_cpu_s', float('nan')):.2f} s; "
            f"load {row['load_average_1m']})"
        )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--steps", type=int, default=None, help="denoising steps measured (default 4 CUDA, 2 CPU)")
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--levers", default=",".join(LEVERS))
    parser.add_argument("--quick", action="store_true", help="shorter clips")
    parser.add_argument("--skip-camera", action="store_true")
    parser.add_argument(
        "--camera-only", action="store_true", help="only the camera engine; other results in the file are kept"
    )
    args = parser.parse_args(argv)
    if args.camera_only:
        kept = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
        kept["camera"] = bench_camera(args.reps, args.quick)
        kept["camera_when"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(kept, indent=2))
        _print_camera(kept["camera"])
        return kept

    import torch

    cuda = torch.cuda.is_available()
    result: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "torch": torch.__version__,
            "cuda": cuda,
            "gpu": torch.cuda.get_device_name(0) if cuda else None,
        },
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if not args.skip_camera:
        result["camera"] = bench_camera(args.reps, args.quick)
    result["real_size_denoiser_params_billion"] = real_size_parameter_counts()
    if not cuda:
        note = (
            "CUDA is not available: the diffusion benchmark needs a CUDA GPU for meaningful numbers. Running the "
            "same measurements with tiny random pipelines on CPU so the script stays working; these numbers say "
            "nothing about GPU speed."
        )
        print(note)
        result["diffusion_note"] = note
    steps = args.steps or (4 if cuda else 2)
    result["diffusion"] = bench_diffusion(
        [e for e in args.engines.split(",") if e], [lv for lv in args.levers.split(",") if lv], steps, args.quick
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))

    _print_camera(result.get("camera", []))
    print("real-size denoisers (B params):", result["real_size_denoiser_params_billion"])
    for row in result["diffusion"]:
        head = f"{row['engine']:10s} {row['lever']:8s} [{row['scale']}]"
        if "skipped" in row or "error" in row:
            print(f"{head} {row.get('skipped') or row.get('error')}")
        else:
            mem = f", peak {row['peak_gpu_gib']} GiB" if row["peak_gpu_gib"] is not None else ""
            print(
                f"{head} {row['wall_s']:.2f} s/clip at {row['steps_measured']} steps "
                f"(~{row['seconds_per_clip_at_default_steps']:.1f} s at {row['default_steps']}), "
                f"outside denoise {row['outside_denoise_share']:.0%}{mem}"
            )
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    return result


if __name__ == "__main__":
    main()
