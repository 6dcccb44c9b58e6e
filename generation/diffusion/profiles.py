"""Named recipes per diffusion engine (`engines.<name>.profile`): quality, fast, draft.

A profile is a partial settings dict laid under what the run configures (a field set in the run's
settings wins), then validated like any settings; its name is part of the engine identity. Published
speed behind each recipe, and what it costs, is in docs/ENGINES.md.
"""

from __future__ import annotations

from typing import Any

from catalog_motion.errors import EngineError

# Compile and FP8 casting only pay on CUDA; on another device the engine refuses them with a clear line.
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
