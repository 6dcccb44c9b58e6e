"""Loading as documented: tiny pipelines loaded in bfloat16 on CPU through the production path, each
component's dtype asserted (Wan's VAE stays float32), and the diffusers version check's one line."""

from __future__ import annotations

import importlib.metadata

import pytest

from catalog_motion.errors import EngineError
from generation.diffusion import loading
from generation.registry import get_engine
from tests.fixtures.tiny_pipelines import TINY_ENGINES, tiny_engine_name

pytestmark = pytest.mark.filterwarnings("ignore")

# Component -> dtype when the engine loads with dtype bfloat16 (None: the component holds no weights).
EXPECTED = {
    "wan": {"transformer": "bfloat16", "text_encoder": "bfloat16", "image_encoder": "bfloat16", "vae": "float32"},
    "wan22": {"transformer": "bfloat16", "transformer_2": "bfloat16", "text_encoder": "bfloat16", "vae": "float32"},
    "wan_ti2v": {"transformer": "bfloat16", "text_encoder": "bfloat16", "vae": "float32"},
    "svd": {"unet": "bfloat16", "image_encoder": "bfloat16", "vae": "bfloat16"},
    "ltx": {"transformer": "bfloat16", "text_encoder": "bfloat16", "vae": "bfloat16"},
    "cogvideox": {"transformer": "bfloat16", "text_encoder": "bfloat16", "vae": "bfloat16"},
    # LTX-2: every component in the load dtype (diffusers' LTX-2 docs load the whole pipeline in bf16).
    "ltx2": {
        "transformer": "bfloat16",
        "text_encoder": "bfloat16",
        "connectors": "bfloat16",
        "vae": "bfloat16",
        "audio_vae": "bfloat16",
        "vocoder": "bfloat16",
    },
    "framepack": {
        "transformer": "bfloat16",
        "text_encoder": "bfloat16",
        "text_encoder_2": "bfloat16",
        "image_encoder": "bfloat16",
        "vae": "bfloat16",
    },
}


def _dtypes(module) -> set[str]:
    """Parameter dtypes, leaving out the modules a model declares to stay fp32 (`_keep_in_fp32_modules`:
    e.g. Wan's time embedding and norms, by diffusers' design)."""
    keep = getattr(module, "_keep_in_fp32_modules", None) or []
    return {
        str(p.dtype).removeprefix("torch.")
        for name, p in module.named_parameters()
        if not any(part in keep for part in name.split("."))
    }


@pytest.mark.parametrize("variant", TINY_ENGINES)
def test_bf16_load_puts_each_component_in_its_documented_dtype(variant, tiny_model_settings):
    engine = get_engine(
        tiny_engine_name(variant), tiny_model_settings(variant) | {"dtype": "bfloat16"}, isolation="inline"
    )
    modules = {name: c for name, c in engine.pipe.components.items() if hasattr(c, "parameters")}
    assert set(EXPECTED[variant]) == set(modules), sorted(modules)
    for name, want in EXPECTED[variant].items():
        assert _dtypes(modules[name]) == {want}, (variant, name, _dtypes(modules[name]))


def test_wan_vae_override_and_fp32_everywhere(tiny_model_settings):
    bf16_vae = get_engine(
        "wan", tiny_model_settings("wan") | {"dtype": "bfloat16", "vae_dtype": "bfloat16"}, isolation="inline"
    )
    assert _dtypes(bf16_vae.pipe.vae) == {"bfloat16"}  # an explicit vae_dtype wins over the recommendation
    fp32 = get_engine("wan", tiny_model_settings("wan"), isolation="inline")
    assert all(_dtypes(c) == {"float32"} for c in fp32.pipe.components.values() if hasattr(c, "parameters"))


def test_an_old_diffusers_is_refused_in_one_line(monkeypatch):
    real = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "0.35.2" if name == "diffusers" else real(name))
    with pytest.raises(EngineError) as caught:
        loading.check_diffusers_version("wan")
    message = str(caught.value)
    assert message == (
        "wan: diffusers 0.35.2 is older than 0.42, which the engines need; pip install 'diffusers>=0.42'"
    )
    monkeypatch.setattr(importlib.metadata, "version", real)
    loading.check_diffusers_version("wan")  # the installed one passes


def test_pyproject_lower_bound_is_the_version_the_code_needs():
    import tomllib
    from pathlib import Path

    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text(encoding="utf-8"))
    deps = [d for group in project["project"].get("optional-dependencies", {}).values() for d in group]
    deps += project["project"].get("dependencies", [])
    assert f"diffusers>={loading.MIN_DIFFUSERS}" in [d.replace(" ", "") for d in deps]
