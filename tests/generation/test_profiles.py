"""Named profiles (quality, fast, draft): validated recipes per engine, applied to the real (tiny) pipeline,
part of the engine identity; the combinations that would silently degrade a clip are refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from catalog_motion.errors import EngineError
from catalog_motion.media import read_frames
from generation.base import GenerationRequest
from generation.diffusion import loading
from generation.diffusion.profiles import NEEDS_DISTILLED_LORA, PROFILES, describe_profile
from generation.diffusion.settings import LICENCES, parse_settings
from generation.registry import engine_identity, get_engine
from tests.fixtures.tiny_pipelines import TINY_ENGINES, tiny_engine_name
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
    licence = LICENCES[engine].name if LICENCES[engine].restricts else None  # restrictive ones must be accepted
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


def test_wan_draft_loads_the_distilled_lora_into_both_experts(tiny_model_settings, photo, tmp_path):
    """Wan 2.2 A14B draft: one distillation LoRA file, loaded into the high-noise and the low-noise expert."""
    import torch

    lora_dir = _tiny_lora("wan22", tmp_path / "lightning")
    settings = tiny_model_settings("wan22")
    base = get_engine("wan", settings, isolation="inline")
    lora = {"path": str(lora_dir), "distilled": True}
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


# ----- every (engine, profile) for real: tiny model loaded offline, one clip, the recipe seen on the pipeline -----

VARIANT = {tiny_engine_name(v): v for v in reversed(TINY_ENGINES)}
"""Engine -> its first tiny variant (wan: the 2.1 form; the 2.2 A14B experts are covered by the LoRA test below)."""
CASES = [(engine, profile) for engine, recipes in PROFILES.items() for profile in recipes]
CACHE_HOOKS = {
    "first_block": "fbc_leader_block_hook",
    "faster": "faster_cache_denoiser",
    "pab": "pyramid_attention_broadcast",
    "taylorseer": "taylorseer_cache",
    "magcache": "mag_cache_leader_block_hook",
}
"""diffusers 0.42's hook names (diffusers/hooks/*.py): what each cache kind registers on the denoiser."""
CALL_NAMES = {"min_guidance": "min_guidance_scale", "guidance_2": "guidance_scale_2"}


def _denoisers(pipe) -> list:
    return [m for m in (loading.denoiser(pipe), getattr(pipe, "transformer_2", None)) if m is not None]


def _tiny_lora(variant: str, dest: Path) -> Path:
    """A random rank-4 LoRA on the tiny model's attention projections, saved like a published one."""
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    from tests.fixtures.tiny_pipelines import _BUILDERS

    donor = _BUILDERS[variant]()
    donor.transformer.add_adapter(
        LoraConfig(r=4, lora_alpha=4, init_lora_weights=False, target_modules=["to_q", "to_k", "to_v", "to_out.0"])
    )
    type(donor).save_lora_weights(str(dest), transformer_lora_layers=get_peft_model_state_dict(donor.transformer))
    return dest


def _record(pipe, monkeypatch) -> list[dict]:
    """Each pipeline call's kwargs and the scheduler it ran with (the real call still runs)."""
    calls: list[dict] = []
    cls = type(pipe)
    original = cls.__call__

    def recording(self, *args, **kwargs):
        calls.append({"kwargs": dict(kwargs), "scheduler": dict(self.scheduler.config)})
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, "__call__", recording)
    return calls


PROFILE_PRESET = small_preset("product-page", width=64, height=80, fps=8, duration_s=0.5, loop=False)


@pytest.mark.parametrize(("engine_name", "profile"), CASES)
def test_every_profile_runs_its_recipe_on_the_loaded_pipeline(
    engine_name, profile, tiny_model_settings, photo, tmp_path, monkeypatch
):
    """Each recipe through from_pretrained offline, at the profile's own steps: the call gets its steps, guidance
    and shift; the cache hook sits on the denoiser; regional compile compiled the repeated blocks (and gives the
    eager clip); FP8 weights stay float8 between calls; VAE tiling is on."""
    import torch

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    variant = VARIANT[engine_name]
    recipe = PROFILES[engine_name][profile]
    # The recipe's own steps; `quality` sets none (model defaults), so there the run's steps win (2, the tiny
    # settings'), which is also how a run overrides any profile field.
    raw = {k: v for k, v in tiny_model_settings(variant).items() if k != "steps" or not recipe} | {"profile": profile}
    if (engine_name, profile) in NEEDS_DISTILLED_LORA:
        raw["lora"] = {"path": str(_tiny_lora(variant, tmp_path / "lora")), "distilled": True}
    engine = get_engine(engine_name, raw, isolation="inline")
    pipe, models = engine.pipe, _denoisers(engine.pipe)
    calls = _record(pipe, monkeypatch)
    request = GenerationRequest(source_path=str(photo), preset=PROFILE_PRESET, seed=3, out_path=str(tmp_path / "p.mkv"))
    ref = engine.generate(request)

    kwargs = calls[0]["kwargs"]
    assert kwargs["num_inference_steps"] == engine.steps() == ref.params["steps"]
    if "steps" in recipe:
        assert engine.steps() == recipe["steps"]
    elif not recipe:
        assert engine.steps() == tiny_model_settings(variant)["steps"]
    elif "sigmas" not in recipe:  # a sigma schedule sets its own step count
        assert engine.steps() == type(engine).default_steps
    if "guidance" in recipe:
        assert ref.params["guidance"] == recipe["guidance"]
        assert kwargs.get("guidance_scale", kwargs.get("max_guidance_scale", recipe["guidance"])) == recipe["guidance"]
    if "shift" in recipe:
        assert calls[0]["scheduler"][engine.shift_key()] == recipe["shift"]
    for key, value in recipe.items():
        if CALL_NAMES.get(key, key) in kwargs and key not in {"steps", "guidance"}:
            assert kwargs[CALL_NAMES.get(key, key)] == value, key
        assert getattr(engine.settings, key) == value or isinstance(value, dict), key

    kind = recipe.get("cache", {}).get("kind", "none")
    for model in models:
        assert getattr(model, "is_cache_enabled", False) == (kind != "none")  # SVD's UNet has no cache mixin
        for other, hook in CACHE_HOOKS.items():
            assert (_hooks(model, hook) > 0) == (other == kind), (other, type(model).__name__)
        blocks = [m for m in model.modules() if type(m).__name__ in (getattr(model, "_repeated_blocks", None) or ())]
        compiled = [m for m in blocks if getattr(m, "_compiled_call_impl", None) is not None]
        assert len(compiled) == (len(blocks) if recipe.get("compile") == "regional" else 0)
        stored = {p.dtype for p in model.parameters()}
        assert (torch.float8_e4m3fn in stored) == bool(recipe.get("fp8_layerwise")), stored
    assert bool(getattr(pipe.vae, "use_tiling", False)) == bool(recipe.get("vae_tiling"))
    if "lora" in raw:
        assert any(lever.startswith("lora:lora") for lever in engine.levers)

    frames = read_frames(ref.path)
    assert frames.shape == (4, 80, 64, 3) and frames.std() > 1.0
    assert ref.params["profile"] == profile and f"profile:{profile}" in ref.params["identity"]
    if recipe.get("compile") == "regional":
        eager = get_engine(engine_name, raw | {"compile": "none"}, isolation="inline")
        eager_ref = eager.generate(request.model_copy(update={"out_path": str(tmp_path / "eager.mkv")}))
        diff = np.abs(frames.astype(int) - read_frames(eager_ref.path).astype(int))
        assert diff.mean() <= 0.5 and diff.max() <= 8, (diff.mean(), diff.max())


def test_magcache_skips_blocks_with_given_ratios(tiny_model_settings, photo, tmp_path, monkeypatch):
    """MagCache on the tiny Wan: its hooks sit on the blocks and, with ratios saying every step changes nothing
    (all 1.0), it reuses the cached residual after the retention steps, so the clip differs from the uncached
    one. Real ratios come from a calibration run (diffusers 0.42 ships Flux's only; docs/ENGINES.md)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    raw = {k: v for k, v in tiny_model_settings("wan").items() if k != "steps"} | {"steps": 6}
    cached = get_engine("wan", raw | {"cache": {"kind": "magcache", "mag_ratios": [1.0] * 6}}, isolation="inline")
    model = cached.pipe.transformer
    assert model.is_cache_enabled and _hooks(model, CACHE_HOOKS["magcache"]) == 1 and "cache:magcache" in cached.levers
    assert _hooks(model, "mag_cache_block_hook") == 1  # the tail block's hook (2 blocks: leader + tail)
    request = GenerationRequest(source_path=str(photo), preset=PROFILE_PRESET, seed=3, out_path=str(tmp_path / "m.mkv"))
    with_cache = read_frames(cached.generate(request).path).astype(int)
    plain = get_engine("wan", raw, isolation="inline")
    without = read_frames(plain.generate(request.model_copy(update={"out_path": str(tmp_path / "n.mkv")})).path)
    assert np.abs(with_cache - without.astype(int)).mean() > 0.0  # some block work was reused, not recomputed
    assert "cache:magcache" in cached.identity() and cached.identity() != plain.identity()


def _engine_section(doc: str, engine: str) -> str:
    """docs/ENGINES.md's `### `engine`` section, up to the next level-3 heading."""
    start = doc.index(f"### `{engine}`")
    rest = doc[start + 4 :]
    ends = [i for i in (rest.find("\n### "), rest.find("\n## ")) if i >= 0]
    return rest[: min(ends)] if ends else rest


def test_engines_doc_profile_rows_are_the_profiles():
    """Each engine table's `profile` rows say exactly what PROFILES holds, so the docs cannot drift."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "ENGINES.md").read_text(encoding="utf-8")
    checked = set()
    for engine, recipes in PROFILES.items():
        if f"### `{engine}`" not in doc or "| profile `" not in _engine_section(doc, engine):
            continue  # an engine documented in its own format (framepack, ltx2 in this release)
        rows = {
            line.split("|")[1].strip(): line.split("|")[2].strip()
            for line in _engine_section(doc, engine).splitlines()
            if line.startswith("| profile `")
        }
        assert rows == {f"profile `{name}`": describe_profile(engine, name) for name in recipes}, engine
        checked.add(engine)
    assert {"wan", "svd", "ltx", "cogvideox"} <= checked
