"""Named recipes per diffusion engine (`engines.<name>.profile`): quality, fast, draft.

A profile is a partial settings dict laid under what the run configures (a field set in the run's
settings wins), then validated like any settings; its name is part of the engine identity. Published
speed behind each recipe, and what it costs, is in docs/ENGINES.md.
"""

from __future__ import annotations

from typing import Any

from catalog_motion.errors import EngineError

# Compile and FP8 casting run on any device (the tests run them on CPU) but pay on CUDA: FP8 halves the weight
# memory there, and regional compile is a speed-up only where inductor's GPU kernels beat eager ones.
PROFILES: dict[str, dict[str, dict[str, Any]]] = {
    "wan": {
        "quality": {},
        # TaylorSeer reuses features between full steps; regional compile compiles one block, reused 40 times.
        "fast": {
            "steps": 20,
            "cache": {"kind": "taylorseer", "interval": 4},
            "compile": "regional",
            "vae_tiling": True,
        },
        # 4-step distillation LoRA (both Wan 2.2 experts): no CFG, no cache on top (refused).
        "draft": {"steps": 4, "guidance": 1.0, "guidance_2": 1.0, "shift": 5.0, "fp8_layerwise": True},
    },
    "ltx": {
        "quality": {},
        "fast": {"steps": 20, "cache": {"kind": "first_block", "threshold": 0.05}, "compile": "regional"},
        # LTX's distilled checkpoints run 8 steps without guidance.
        "draft": {"steps": 8, "guidance": 1.0, "fp8_layerwise": True},
    },
    "svd": {
        "quality": {},
        "fast": {"steps": 14, "decode_chunk_size": 8},
        "draft": {"steps": 8, "guidance": 1.0, "min_guidance": 1.0, "decode_chunk_size": 4},
    },
    "cogvideox": {
        "quality": {},
        "fast": {"steps": 30, "cache": {"kind": "pab"}, "vae_tiling": True},
        "draft": {"steps": 15, "use_dynamic_cfg": False, "vae_tiling": True},
    },
    "ltx2": {
        "quality": {},
        # STG and modality guidance each cost one more transformer pass per step: off, 4 passes -> 2.
        "fast": {"steps": 20, "stg_scale": 0.0, "modality_scale": 1.0, "compile": "regional"},
        # For the distilled checkpoint: its 8 published sigmas (diffusers DISTILLED_SIGMA_VALUES), no guidance.
        "draft": {
            "sigmas": [1.0, 0.99375, 0.9875, 0.98125, 0.975, 0.909375, 0.725, 0.421875],
            "guidance": 1.0,
            "stg_scale": 0.0,
            "modality_scale": 1.0,
            "fp8_layerwise": True,
        },
    },
    "framepack": {
        "quality": {},
        # Pyramid Attention Broadcast: the one cache hook the FramePack pipeline runs (the others need a cache
        # context it does not set). No regional compile: the FramePack transformer declares no repeated blocks.
        "fast": {"steps": 20, "cache": {"kind": "pab"}, "vae_tiling": True},
        # Half the steps, FP8 weights; the guidance-distilled checkpoint needs no CFG pass to drop.
        "draft": {"steps": 12, "fp8_layerwise": True, "vae_tiling": True},
    },
}

# Profiles that only make sense with a distillation LoRA: without one, few steps give noise.
NEEDS_DISTILLED_LORA = {("wan", "draft")}


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def with_profile(engine: str, raw: dict[str, Any]) -> dict[str, Any]:
    """`raw` laid over its profile's recipe (raw wins, nested dicts merged); raw itself without a profile."""
    name = raw.get("profile")
    if name is None:
        return dict(raw)
    recipes = PROFILES.get(engine, {})
    if name not in recipes:
        raise EngineError(
            f"{engine}: unknown profile engines.{engine}.profile '{name}'; known: {', '.join(recipes) or 'none'}"
        )
    merged = _merge(recipes[name], raw)
    lora = merged.get("lora") or {}
    if (engine, name) in NEEDS_DISTILLED_LORA and not (isinstance(lora, dict) and lora.get("distilled")):
        raise EngineError(
            f"{engine}: profile '{name}' needs a few-step distillation LoRA: set engines.{engine}.lora.path and "
            f"lora.distilled: true (docs/ENGINES.md names the published ones)"
        )
    return merged


def _yaml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_yaml(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_yaml(v) for v in value) + "]"
    return f"{value:g}" if isinstance(value, float) else str(value)


def describe_profile(engine: str, name: str) -> str:
    """A recipe as docs/ENGINES.md's profile tables write it (a test holds the docs to this)."""
    recipe = PROFILES[engine][name]
    settings = ", ".join(f"`{key}: {_yaml(value)}`" for key, value in recipe.items())
    return settings or "model defaults"
