"""Named profiles (quality, fast, draft): validated recipes per engine, applied to the real (tiny) pipeline,
part of the engine identity; the combinations that would silently degrade a clip are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from catalog_motion.errors import EngineError
from generation.base import GenerationRequest
from generation.diffusion.profiles import PROFILES
from generation.diffusion.settings import parse_settings
from generation.registry import engine_identity, get_engine
from tests.generation.conftest import draw_garment, save_png, small_preset

pytestmark = pytest.mark.filterwarnings("ignore")
DISTILLED = {"path": "lightx2v/Wan2.2-Lightning", "distilled": True}  # a hub id: validated, never fetched here


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    return save_png(draw_garment(300, 375), tmp_path_factory.mktemp("profiles") / "shirt.png")


def _hooks(module, name: str) -> int:
    return sum(
        1
        for m in module.modules()
        if getattr(m, "_diffusers_hook", None) is not None and m._diffusers_hook.get_hook(name) is not None
    )


@pytest.mark.parametrize(("engine", "profile"), [(e, p) for e, recipes in PROFILES.items() for p in recipes])
def test_every_profile_validates_and_is_its_own_identity(engine, profile):
    licence = {"svd": "stability-community", "ltx": "ltxv-open-weights", "cogvideox": "cogvideox"}.get(engine)
    raw = {"weights": "owner/model", "revision": "r1", "accept_licence": licence}
    if (engine, profile) == ("wan", "draft"):
        raw["lora"] = DISTILLED
    settings = parse_settings(engine, raw | {"profile": profile})
    for key, value in PROFILES[engine][profile].items():
        if isinstance(value, dict):
            for sub, subvalue in value.items():
                assert getattr(getattr(settings, key), sub) == subvalue, (key, sub)
        else:
            assert getattr(settings, key) == value, key
    identity = engine_identity(engine, raw | {"profile": profile})
    assert f"profile:{profile}" in identity and identity != engine_identity(engine, raw)


def test_a_set_field_overrides_its_profile():
    settings = parse_settings("ltx", {"weights": "a/b", "profile": "fast", "steps": 12, "cache": {"threshold": 0.1}})
    assert settings.steps == 12 and settings.cache.kind == "first_block" and settings.cache.threshold == 0.1


def test_refused_combinations_say_what_to_change(tiny_model_settings):
    with pytest.raises(EngineError, match="wan: profile 'draft' needs a few-step distillation LoRA"):
        parse_settings("wan", {"weights": "a/b", "profile": "draft"})
    with pytest.raises(EngineError, match="cache 'taylorseer' cannot run on a distilled LoRA"):
        parse_settings(
            "wan", {"weights": "a/b", "profile": "draft", "lora": DISTILLED, "cache": {"kind": "taylorseer"}}
        )
    with pytest.raises(EngineError, match="unknown profile engines.svd.profile 'turbo'; known: quality, fast, draft"):
        parse_settings("svd", {"weights": "a/b", "profile": "turbo"})
    with pytest.raises(EngineError, match="magcache needs cache.mag_ratios"):
        parse_settings("wan", {"weights": "a/b", "cache": {"kind": "magcache"}})
    with pytest.raises(EngineError, match="context_parallel needs a torch.distributed launch"):
        get_engine("ltx", tiny_model_settings("ltx") | {"multi_gpu": "context_parallel"}, isolation="inline")


def test_fast_profile_is_applied_to_the_pipeline(tiny_model_settings, photo, tmp_path, monkeypatch):
    """wan fast on the tiny Wan 2.2 A14B form: TaylorSeer hooks on both experts, VAE tiling on, 20 steps used.
    (compile is the one part left off: torch.compile timings are for `make gpu-check`.)"""
    settings = {k: v for k, v in tiny_model_settings("wan22").items() if k != "steps"}  # the profile's steps
    engine = get_engine("wan", settings | {"profile": "fast", "compile": "none"}, isolation="inline")
    pipe = engine.pipe
    assert pipe.transformer.is_cache_enabled and pipe.transformer_2.is_cache_enabled
    assert (
        _hooks(pipe.transformer, "taylorseer_cache") == _hooks(pipe.transformer_2, "taylorseer_cache") == 4
    )  # attn1+2 x 2 blocks
    assert pipe.vae.use_tiling and {"cache:taylorseer", "vae_tiling"} <= set(engine.levers)
    steps: list[int] = []
    original = type(pipe).__call__
    monkeypatch.setattr(
        type(pipe), "__call__", lambda self, **kw: steps.append(kw["num_inference_steps"]) or original(self, **kw)
    )
    preset = small_preset("product-page", width=32, height=40, fps=8, duration_s=0.5, loop=False)
    ref = engine.generate(
        GenerationRequest(source_path=str(photo), preset=preset, seed=1, out_path=str(tmp_path / "f.mkv"))
    )
    assert steps == [20] and ref.params["steps"] == 20 and ref.params["profile"] == "fast"
    assert "profile:fast" in ref.params["identity"]


def test_draft_profile_casts_the_denoiser_to_fp8(tiny_model_settings, photo, tmp_path):
    import torch

    engine = get_engine("ltx", tiny_model_settings("ltx") | {"profile": "draft"}, isolation="inline")
    weights = {p.dtype for p in engine.pipe.transformer.parameters()}
    assert torch.float8_e4m3fn in weights and "fp8_layerwise" in engine.levers
    assert engine.steps() == 2 and engine.guidance() == 1.0  # tiny settings' steps win over the profile's 8
    preset = small_preset("product-page", width=64, height=80, fps=8, duration_s=0.5, loop=False)
    ref = engine.generate(
        GenerationRequest(source_path=str(photo), preset=preset, seed=1, out_path=str(tmp_path / "d.mkv"))
    )
    assert ref.n_frames == 4 and ref.params["profile"] == "draft" and ref.params["guidance"] == 1.0


def test_wan_draft_loads_the_distilled_lora_into_both_experts(tiny_model_settings, photo, tmp_path):
    """Wan 2.2 A14B draft: one distillation LoRA file, loaded into the high-noise and the low-noise expert."""
    import torch
    from diffusers import WanImageToVideoPipeline
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    from tests.fixtures.tiny_pipelines import _BUILDERS

    donor = _BUILDERS["wan22"]()
    donor.transformer.add_adapter(
        LoraConfig(r=4, lora_alpha=4, init_lora_weights=False, target_modules=["to_q", "to_k", "to_v", "to_out.0"])
    )
    WanImageToVideoPipeline.save_lora_weights(
        str(tmp_path / "lightning"), transformer_lora_layers=get_peft_model_state_dict(donor.transformer)
    )
    settings = tiny_model_settings("wan22")
    base = get_engine("wan", settings, isolation="inline")
    lora = {"path": str(tmp_path / "lightning"), "distilled": True}
    draft = get_engine("wan", settings | {"profile": "draft", "lora": lora, "fp8_layerwise": False}, isolation="inline")
    assert any(lever.startswith("lora:lightning") for lever in draft.levers)
    for expert in ("transformer", "transformer_2"):
        before = dict(getattr(base.pipe, expert).named_parameters())
        after = {n.replace(".base_layer", ""): p for n, p in getattr(draft.pipe, expert).named_parameters()}
        changed = [n for n in before if "to_q" in n and not torch.equal(before[n], after[n])]
        assert changed, f"{expert} did not get the LoRA"
    preset = small_preset("product-page", width=32, height=40, fps=8, duration_s=0.5, loop=False)
    ref = draft.generate(
        GenerationRequest(source_path=str(photo), preset=preset, seed=1, out_path=str(tmp_path / "d.mkv"))
    )
    assert ref.params["guidance"] == 1.0 and ref.params["call"]["guidance_scale_2"] == 1.0
    assert ref.params["profile"] == "draft" and "cache" not in " ".join(draft.levers)
