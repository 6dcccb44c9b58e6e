"""Engine identity from settings alone: fetch and planning key every item without building a pipeline."""

from __future__ import annotations

from pathlib import Path

import pytest

from catalog_connectors import IntakeSettings, load_catalog
from catalog_motion.errors import EngineError
from catalog_motion.planning import plan_items
from catalog_motion.presets import load_presets
from catalog_motion.settings import RunSettings
from generation import registry
from generation.registry import engine_identity, get_engine
from pipeline.batching import batch_states
from pipeline.state import RunContext
from pipeline.steps import fetch_batch

pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.fixture
def no_pipeline_may_load(monkeypatch):
    """Any pipeline load or engine build fails the test (and counts how often one was tried)."""
    import diffusers

    from generation.diffusion import loading

    attempts: list[str] = []

    def refuse(*args, **kwargs):
        attempts.append("load")
        raise AssertionError("a pipeline was loaded")

    monkeypatch.setattr(loading, "load_pipeline", refuse)
    monkeypatch.setattr(diffusers.DiffusionPipeline, "from_pretrained", classmethod(refuse))
    return attempts


def test_fetch_and_planning_construct_no_pipeline(
    small_sample_catalog: Path, tiny_model_settings, tmp_path: Path, no_pipeline_may_load
) -> None:
    """A CPU fetch node keys items for a GPU-only engine (device cuda, no CUDA here) and loads nothing."""
    gpu_settings = tiny_model_settings("wan22") | {"device": "cuda", "dtype": "bfloat16", "profile": "fast"}
    settings = RunSettings(
        intake=IntakeSettings(min_long_side=64), work_dir=str(tmp_path), engines={"wan": gpu_settings}
    )
    presets = {name: p.model_copy(update={"engine": "wan"}) for name, p in load_presets().items()}
    load = load_catalog(str(small_sample_catalog), settings.intake)
    items, _ = plan_items(load.rows, list(presets.values()))
    ctx = RunContext(
        run_id="r",
        catalog=str(small_sample_catalog),
        out=str(tmp_path / "out"),
        work_dir=str(tmp_path),
        settings=settings,
        presets=presets,
        catalog_dir=load.base_dir,
    )
    loads_before, cached_before = dict(registry.LOAD_COUNTS), set(registry._CACHE)
    states = [s for batch in batch_states(items, 100, {}) for s in fetch_batch(batch, ctx)]

    assert states and all(s.status is None and s.item.key for s in states), [(s.status, s.reason) for s in states]
    first_keys = {s.item.key for s in states}  # fetch keys the shared items in place: keep these
    # Another profile is another engine identity, so every item gets another content key.
    draft = ctx.model_copy(
        update={"settings": settings.model_copy(update={"engines": {"wan": gpu_settings | {"profile": "quality"}}})}
    )
    again = [s for batch in batch_states(items, 100, {}) for s in fetch_batch(batch, draft)]
    assert {s.item.key for s in again}.isdisjoint(first_keys) and len(first_keys) == len(states)
    assert no_pipeline_may_load == []
    assert loads_before == registry.LOAD_COUNTS and set(registry._CACHE) == cached_before  # nothing built
    identity = engine_identity("wan", gpu_settings)
    assert identity.startswith("wan/") and "profile:fast" in identity


def test_identity_without_loading_equals_the_built_engines(tiny_model_settings) -> None:
    """The loaded engine reports the identity the fetch node computed; where it runs is not part of it."""
    settings = tiny_model_settings("ltx")
    built = get_engine("ltx", settings, isolation="inline")
    assert built.identity() == engine_identity("ltx", settings)
    assert engine_identity("ltx", settings | {"device": "cuda", "max_batch": 1}) == built.identity()


def test_identity_names_every_setting_that_changes_the_clip(tiny_model_settings, no_pipeline_may_load) -> None:
    base = tiny_model_settings("wan")
    seen = {engine_identity("wan", base)}
    for change in (
        {"profile": "fast"},
        {"steps": 3},
        {"shift": 2.0},
        {"guidance": 2.5},
        {"fp8_layerwise": True},
        {"vae_tiling": True},
        {"max_take_frames": 17},
        {"dtype": "bfloat16"},
    ):
        identity = engine_identity("wan", base | change)
        assert identity not in seen, change
        seen.add(identity)
    assert no_pipeline_may_load == []


def test_hub_identity_is_its_pinned_revision_and_never_downloads(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf-home"))  # nothing cached, nothing reachable
    hub = {"weights": "Wan-AI/Wan2.2-TI2V-5B-Diffusers", "device": "cuda"}
    pinned = engine_identity("wan", hub | {"revision": "abc123"})
    assert pinned.startswith("wan/Wan-AI/Wan2.2-TI2V-5B-Diffusers@abc123/")
    assert "@unpinned/" in engine_identity("wan", hub)


def test_identity_refuses_an_unaccepted_restrictive_licence(tiny_model_settings) -> None:
    settings = tiny_model_settings("svd")
    settings.pop("accept_licence")
    with pytest.raises(EngineError, match=r"svd: the Stability AI Community License restricts .*accept_licence"):
        engine_identity("svd", settings)
    with pytest.raises(EngineError, match="accept_licence: stability-community"):
        get_engine("svd", settings, isolation="inline")
    assert engine_identity("svd", settings | {"accept_licence": "stability-community"}).startswith("svd/")
