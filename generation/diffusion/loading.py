"""Loading a diffusers pipeline once per worker process, and applying the speed/memory levers.

Every way this can fail becomes an EngineError naming the engine, what is missing and how to fix it;
nothing falls back silently (not to another engine, not to another device, not to a download).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from catalog_motion.errors import EngineError
from generation.diffusion.settings import DiffusionSettings


def torch_dtype(name: str):
    import torch

    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]


MIN_DIFFUSERS = "0.42"
"""The diffusers whose API these engines use (MagCache/TaylorSeer hooks, LTX-2 and FramePack pipelines);
pyproject.toml's lower bound says the same."""


def check_diffusers_version(engine: str) -> None:
    """One clear line when the installed diffusers is older than the API the engines use."""
    from importlib.metadata import version

    from packaging.version import Version

    installed = version("diffusers")
    if Version(installed) < Version(MIN_DIFFUSERS):
        raise EngineError(
            f"{engine}: diffusers {installed} is older than {MIN_DIFFUSERS}, which the engines need; "
            f"pip install 'diffusers>={MIN_DIFFUSERS}'"
        )


def weights_identity(engine: str, settings: DiffusionSettings) -> str:
    """What names the weights without loading them: a local folder's fingerprint (configs and file sizes
    only), a hub id's pinned revision, or 'unpinned'."""
    weights = settings.weights or ""
    if not _is_pathlike(weights):
        return settings.revision or "unpinned"
    folder = Path(weights).expanduser()
    if not folder.is_dir():
        raise EngineError(
            f"{engine}: weights folder {folder} does not exist; point engines.{engine}.weights at a "
            f"folder written by diffusers save_pretrained (or a hub id with a pinned revision)"
        )
    return weights_fingerprint(str(folder))


def check_device(engine: str, device: str, settings: DiffusionSettings) -> None:
    import torch

    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise EngineError(
                f"{engine}: device '{device}' requested but CUDA is not available on this worker (torch "
                f"{torch.__version__}); run it on a GPU worker, or set engines.{engine}.device: cpu for a slow CPU run"
            )
        index = int(device.split(":")[1]) if ":" in device else 0
        if index >= torch.cuda.device_count():
            raise EngineError(
                f"{engine}: device '{device}' does not exist; this worker has "
                f"{torch.cuda.device_count()} CUDA device(s)"
            )
    elif device == "mps" and not torch.backends.mps.is_available():
        raise EngineError(f"{engine}: device 'mps' requested but Apple MPS is not available on this worker")
    if settings.offload != "none" and not device.startswith("cuda"):
        raise EngineError(
            f"{engine}: offload '{settings.offload}' needs a CUDA device (device is '{device}'); "
            f"set engines.{engine}.offload: none"
        )


def _is_pathlike(weights: str) -> bool:
    """Hub ids are exactly 'owner/name'; anything else (absolute, relative, existing) is a folder."""
    return weights.startswith(("/", ".", "~")) or weights.count("/") != 1 or Path(weights).expanduser().exists()


def resolve_weights(
    engine: str, settings: DiffusionSettings, allowed_classes: tuple[str, ...]
) -> tuple[str, dict[str, Any]]:
    """Local folder holding the pipeline (from `weights` or the hub cache) and its model_index.json."""
    weights = settings.weights or ""
    if _is_pathlike(weights):
        folder = Path(weights).expanduser()
        if not folder.is_dir():
            raise EngineError(
                f"{engine}: weights folder {folder} does not exist; point engines.{engine}.weights at a "
                f"folder written by diffusers save_pretrained (or a hub id)"
            )
    else:
        offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}
        try:
            from huggingface_hub import snapshot_download

            folder = Path(snapshot_download(weights, revision=settings.revision, local_files_only=offline))
        except Exception as exc:  # noqa: BLE001 - hub raises many types; all mean "not available"
            hint = (
                f"HF_HUB_OFFLINE=1 and it is not in the local cache; run `hf download {weights}"
                f"{' --revision ' + settings.revision if settings.revision else ''}` where there is network"
                if offline
                else f"download failed ({type(exc).__name__}: {str(exc).splitlines()[0][:120]})"
            )
            raise EngineError(
                f"{engine}: weights '{weights}' unavailable: {hint}, or set engines.{engine}.weights to a local folder"
            ) from None
    index_path = folder / "model_index.json"
    if not index_path.is_file():
        raise EngineError(f"{engine}: {folder} is not a diffusers pipeline folder (no model_index.json)")
    index = json.loads(index_path.read_text(encoding="utf-8"))
    if index.get("_class_name") not in allowed_classes:
        raise EngineError(
            f"{engine}: {folder} holds a {index.get('_class_name')}, not one of "
            f"{', '.join(allowed_classes)}; check engines.{engine}.weights"
        )
    return str(folder), index


def weights_fingerprint(folder: str) -> str:
    """Short hash of a pipeline folder's index: model_index, component configs, weight file names and sizes.

    Cheap (no weight bytes are read) and changes whenever the checkpoint does.
    """
    root = Path(folder)
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if not path.is_file() or any(part.startswith(".") for part in path.relative_to(root).parts):
            continue
        rel = path.relative_to(root).as_posix()
        if path.suffix == ".json" or path.name.endswith((".index.json",)):
            digest.update(rel.encode() + b"\0" + path.read_bytes())
        elif path.suffix in {".safetensors", ".bin", ".pt", ".gguf"}:
            digest.update(f"{rel}\0{path.stat().st_size}".encode())
    return digest.hexdigest()[:16]


def load_pipeline(engine: str, pipeline_cls, settings: DiffusionSettings, folder: str, vae_dtype: str | None):
    """from_pretrained on the resolved local folder (never the network), moved to the device."""
    dtype: Any = torch_dtype(settings.dtype)
    if vae_dtype:
        # Loaded straight in its own dtype: a VAE read in bf16 and cast up to fp32 keeps only bf16 precision.
        dtype = {"default": dtype, "vae": torch_dtype(vae_dtype)}
    try:
        pipe = pipeline_cls.from_pretrained(folder, dtype=dtype, local_files_only=True)
    except Exception as exc:  # noqa: BLE001 - diffusers/transformers raise many types here
        raise EngineError(
            f"{engine}: cannot load {pipeline_cls.__name__} from {folder}: "
            f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
        ) from None
    for component in pipe.components.values():
        if hasattr(component, "eval"):
            component.eval()  # dropout off: identical calls must give identical clips
    pipe.set_progress_bar_config(disable=True)
    return pipe


def vae_supports_tiling(pipe) -> bool:
    """Tiled decoding exists (ModelMixin.enable_tiling raises unless the VAE implements it)."""
    vae = getattr(pipe, "vae", None)
    return vae is not None and hasattr(vae, "use_tiling")


def denoiser(pipe):
    return getattr(pipe, "transformer", None) or getattr(pipe, "unet", None)


def apply_levers(engine: str, pipe, settings: DiffusionSettings, device: str) -> list[str]:
    """Turn on the configured levers; returns their names (provenance). Unsupported lever -> EngineError."""
    import torch

    applied: list[str] = []
    model = denoiser(pipe)
    if settings.lora is not None:
        try:
            import peft  # noqa: F401
        except ImportError:
            raise EngineError(f"{engine}: engines.{engine}.lora needs the peft package (pip install peft)") from None
        try:
            kwargs = {"weight_name": settings.lora.weight_name} if settings.lora.weight_name else {}
            pipe.load_lora_weights(settings.lora.path, adapter_name="catalog", **kwargs)
            adapters = ["catalog"]
            if getattr(pipe, "transformer_2", None) is not None:
                # Wan 2.2 A14B: the low-noise expert gets its own copy (or its own file) of the LoRA.
                name_2 = settings.lora.weight_name_2 or settings.lora.weight_name
                pipe.load_lora_weights(
                    settings.lora.path,
                    adapter_name="catalog_2",
                    load_into_transformer_2=True,
                    **({"weight_name": name_2} if name_2 else {}),
                )
                adapters.append("catalog_2")
            pipe.set_adapters(adapters, [settings.lora.scale] * len(adapters))
            if settings.lora.fuse:
                components = ["transformer", "transformer_2"] if len(adapters) > 1 else None
                pipe.fuse_lora(
                    adapter_names=adapters, lora_scale=1.0, **({"components": components} if components else {})
                )
        except Exception as exc:  # noqa: BLE001
            raise EngineError(
                f"{engine}: cannot load LoRA {settings.lora.path}: {str(exc).splitlines()[0][:200]}"
            ) from None
        applied.append(f"lora:{Path(settings.lora.path).name}@{settings.lora.scale:g}")
    if settings.offload == "model":
        pipe.enable_model_cpu_offload(device=device)
        applied.append("offload:model")
    elif settings.offload == "sequential":
        pipe.enable_sequential_cpu_offload(device=device)
        applied.append("offload:sequential")
    elif settings.offload == "group":
        for component in pipe.components.values():
            if isinstance(component, torch.nn.Module):
                if hasattr(component, "enable_group_offload"):
                    component.enable_group_offload(torch.device(device), offload_type="leaf_level", use_stream=True)
                else:  # transformers text/image encoders
                    from diffusers.hooks import apply_group_offloading

                    apply_group_offloading(
                        component, onload_device=torch.device(device), offload_type="leaf_level", use_stream=True
                    )
        applied.append("offload:group")
    else:
        pipe.to(device)
    if settings.vae_tiling:
        if not vae_supports_tiling(pipe):
            raise EngineError(
                f"{engine}: this model's VAE has no tiled decoding; unset engines.{engine}.vae_tiling"
                + (" and use decode_chunk_size" if engine == "svd" else "")
            )
        pipe.vae.enable_tiling()
        applied.append("vae_tiling")
    if settings.attention_backend:
        try:
            model.set_attention_backend(settings.attention_backend)
        except Exception as exc:  # noqa: BLE001
            raise EngineError(
                f"{engine}: attention backend '{settings.attention_backend}' unusable here: "
                f"{str(exc).splitlines()[0][:160]}"
            ) from None
        applied.append(f"attention:{settings.attention_backend}")
    if settings.fp8_layerwise:
        for module in _denoisers(pipe):
            if not hasattr(module, "enable_layerwise_casting"):
                raise EngineError(
                    f"{engine}: fp8_layerwise is not supported by {type(module).__name__}; "
                    f"unset engines.{engine}.fp8_layerwise"
                )
            module.enable_layerwise_casting(
                storage_dtype=torch.float8_e4m3fn, compute_dtype=torch_dtype(settings.dtype)
            )
        applied.append("fp8_layerwise")
    if settings.cache.kind != "none":
        for module in _denoisers(pipe):
            kind = _enable_cache(engine, pipe, module, settings)
        applied.append(kind)
    if settings.multi_gpu == "context_parallel":
        applied.append(_enable_context_parallel(engine, model))
    elif settings.multi_gpu == "model_per_gpu":
        applied.append("multi_gpu:model_per_gpu")
    if settings.compile == "regional":
        if not getattr(model, "_repeated_blocks", None):
            raise EngineError(
                f"{engine}: compile 'regional' is not supported by {type(model).__name__} (no repeated "
                f"blocks declared); use engines.{engine}.compile: full"
            )
        # A cache hook decides each step outside the graph (diffusers marks it torch.compiler.disable), so a
        # block holding a hooked module compiles with that break; without a hook the block is one graph.
        fullgraph = settings.cache.kind == "none"
        for module in _denoisers(pipe):
            module.compile_repeated_blocks(fullgraph=fullgraph)
        applied.append("compile:regional")
    elif settings.compile == "full":
        for module in _denoisers(pipe):
            module.compile(fullgraph=False)
        applied.append("compile:full")
    return applied


def _denoisers(pipe) -> list:
    """The denoiser(s): Wan 2.2 A14B has two experts, and every lever applies to both."""
    found = [denoiser(pipe), getattr(pipe, "transformer_2", None)]
    return [m for m in found if m is not None]


def _enable_context_parallel(engine: str, model) -> str:
    """Ulysses context parallelism: one clip's sequence split across the node's GPUs (torchrun launch)."""
    import torch

    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        raise EngineError(
            f"{engine}: multi_gpu context_parallel needs a torch.distributed launch (torchrun --nproc-per-node N); "
            f"set engines.{engine}.multi_gpu: model_per_gpu to run one model per GPU instead"
        )
    from diffusers import ContextParallelConfig

    world = torch.distributed.get_world_size()
    model.enable_parallelism(config=ContextParallelConfig(ulysses_degree=world))
    return f"multi_gpu:context_parallel:ulysses{world}"


def _enable_cache(engine: str, pipe, model, settings: DiffusionSettings) -> str:
    from diffusers.hooks import (
        FasterCacheConfig,
        FirstBlockCacheConfig,
        MagCacheConfig,
        PyramidAttentionBroadcastConfig,
        TaylorSeerCacheConfig,
    )

    kind = settings.cache.kind
    configs = {
        "first_block": lambda: FirstBlockCacheConfig(threshold=settings.cache.threshold),
        "faster": lambda: FasterCacheConfig(
            spatial_attention_block_skip_range=2,
            spatial_attention_timestep_skip_range=(-1, 681),
            current_timestep_callback=lambda: pipe.current_timestep,
        ),
        "pab": lambda: PyramidAttentionBroadcastConfig(
            spatial_attention_block_skip_range=2,
            spatial_attention_timestep_skip_range=(100, 800),
            current_timestep_callback=lambda: pipe.current_timestep,
        ),
        # diffusers' default patterns ("^blocks.*attn", full match) miss Wan's attn1/attn2: name them all.
        "taylorseer": lambda: TaylorSeerCacheConfig(
            cache_interval=settings.cache.interval, cache_identifiers=list(_ATTENTION_BLOCKS)
        ),
        "magcache": lambda: MagCacheConfig(
            threshold=settings.cache.threshold,
            mag_ratios=settings.cache.mag_ratios,
            num_inference_steps=settings.steps or 50,
        ),
    }
    if not hasattr(model, "enable_cache"):
        raise EngineError(
            f"{engine}: cache hook '{kind}' is not supported by {type(model).__name__}; "
            f"set engines.{engine}.cache.kind: none"
        )
    try:
        model.enable_cache(configs[kind]())
    except Exception as exc:  # noqa: BLE001
        raise EngineError(
            f"{engine}: cache hook '{kind}' is not supported by {type(model).__name__}: "
            f"{str(exc).splitlines()[0][:160]}"
        ) from None
    if not any(_hooked(m) for m in model.modules()):
        raise EngineError(
            f"{engine}: cache hook '{kind}' matched no block of {type(model).__name__} (it would run uncached); "
            f"set engines.{engine}.cache.kind to another kind or none"
        )
    return f"cache:{kind}"


_ATTENTION_BLOCKS = (
    r"^blocks\.\d+\.attn\d*$",
    r"^transformer_blocks\.\d+\.attn\d*$",
    r"^single_transformer_blocks\.\d+\.attn\d*$",
    r"^temporal_transformer_blocks\.\d+\.attn\d*$",
)
"""Attention modules of the DiT families (Wan, LTX, CogVideoX, Hunyuan/FramePack): where TaylorSeer caches."""


def _hooked(module) -> bool:
    registry = getattr(module, "_diffusers_hook", None)
    return registry is not None and bool(registry.hooks)
