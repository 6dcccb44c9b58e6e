"""The framepack engine through the production path: the real HunyuanVideoFramepackPipeline from tiny random
components, saved with save_pretrained and loaded offline, run on CPU into master clips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from catalog_motion.errors import EngineError
from catalog_motion.media import probe, read_frames
from generation.base import GenerationRequest
from generation.diffusion import loading
from generation.registry import engine_identity, get_engine
from tests.generation.conftest import draw_garment, save_png, small_preset

pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    return save_png(draw_garment(400, 500, patch=(230, 280, 45)), tmp_path_factory.mktemp("fp") / "shirt.png")


def _engine(settings: dict):
    return get_engine("framepack", settings, isolation="inline")


def _request(photo, preset, out, **kw) -> GenerationRequest:
    return GenerationRequest(source_path=str(photo), preset=preset, seed=3, out_path=str(out), **kw)


def test_loads_offline_and_fills_the_presets_frames_and_size(tiny_model_settings, record_calls, photo, tmp_path):
    engine = _engine(tiny_model_settings("framepack"))
    assert type(engine.pipe).__name__ == "HunyuanVideoFramepackPipeline" and len(engine.fingerprint) == 16
    calls = record_calls(engine)
    preset = small_preset("social", width=72, height=128, fps=12, duration_s=1.0, loop=False)
    ref = engine.generate(_request(photo, preset, tmp_path / "social.mkv"))
    facts = probe(ref.path)
    assert (facts.width, facts.height, facts.n_frames) == (72, 128, 12) == (ref.width, ref.height, ref.n_frames)
    assert read_frames(ref.path).std() > 1.0
    (call,) = calls
    kwargs = call["kwargs"]
    # 1 s at the model's 8 fps needs 9 frames: two one-latent sections (4 frames each) after the photo's frame,
    # which the pipeline is asked for as num_frames 2 (it counts sections) and outputs exactly.
    assert ref.params["frames_per_take"] == 9 and call["frames"].shape[1] == 9 and kwargs["num_frames"] == 2
    assert (kwargs["width"], kwargs["height"]) == tuple(ref.params["fit"]["native_size"]) == (32, 48)
    assert kwargs["sampling_type"] == "inverted_anti_drifting" and kwargs["latent_window_size"] == 1
    assert "last_image" not in kwargs  # a non-loop first attempt is free to end where the model takes it
    assert ref.params["licence"]["name"] == "tencent-hunyuan-community"


def test_loop_ends_on_the_source_photo(tiny_model_settings, record_calls, photo, tmp_path):
    engine = _engine(tiny_model_settings("framepack"))
    calls = record_calls(engine)
    preset = small_preset("product-page", width=64, height=80, fps=12, duration_s=1.0)
    assert preset.loop
    ref = engine.generate(_request(photo, preset, tmp_path / "loop.mkv"))
    (call,) = calls
    kwargs = call["kwargs"]
    condition = engine.prepare(_request(photo, preset, tmp_path / "x.mkv")).condition  # the fitted photo
    assert np.array_equal(np.asarray(kwargs["image"]), condition)
    assert np.array_equal(np.asarray(kwargs["last_image"]), condition)
    assert ref.params["loop_method"] == "last_frame" and ref.params["attempt_controls"]["anchored_to_photo"]
    assert kwargs["num_frames"] == 2 and call["frames"].shape[1] == 9  # the 8-frame loop + its closing frame
    assert ref.n_frames == 12 and read_frames(ref.path).shape == (12, 80, 64, 3)


def test_asking_for_less_anchors_the_end_and_lowers_guidance(tiny_model_settings, record_calls, photo, tmp_path):
    engine = _engine(tiny_model_settings("framepack") | {"true_cfg": 3.0})
    calls = record_calls(engine)
    preset = small_preset("social", width=72, height=128, fps=12, duration_s=1.0, loop=False)
    ref = engine.generate(_request(photo, preset, tmp_path / "less.mkv", attempt=1, motion_scale=0.5))
    kwargs = calls[0]["kwargs"]
    assert np.array_equal(np.asarray(kwargs["last_image"]), np.asarray(kwargs["image"]))  # ends on the photo
    assert kwargs["guidance_scale"] == 7.5 and kwargs["true_cfg_scale"] == 2.25  # 10 and 3, x0.75 at half motion
    assert "camera shake" in kwargs["negative_prompt"]  # read by true CFG, on here
    controls = ref.params["attempt_controls"]
    assert controls["anchored_to_photo"] and controls["shift"] == 5.25  # the scheduler's 7 lowered too
    assert controls["take_frame_limit"] == 13 < engine.max_take() == 25


def test_vanilla_sampling_crossfades_loops(tiny_model_settings, record_calls, photo, tmp_path):
    """FramePack-F1 checkpoints sample forward only: the pipeline refuses a last image, so loops crossfade."""
    engine = _engine(tiny_model_settings("framepack") | {"sampling": "vanilla", "loop_blend_frames": 2})
    calls = record_calls(engine)
    preset = small_preset("product-page", width=64, height=80, fps=12, duration_s=1.0)
    ref = engine.generate(_request(photo, preset, tmp_path / "f1.mkv"))
    kwargs = calls[0]["kwargs"]
    assert kwargs["sampling_type"] == "vanilla" and "last_image" not in kwargs
    assert ref.params["loop_method"] == "crossfade" and ref.params["frames_per_take"] == 13 and ref.n_frames == 12


def test_fast_profile_caches_the_transformer_and_still_renders(tiny_model_settings, photo, tmp_path):
    engine = _engine(tiny_model_settings("framepack") | {"profile": "fast"})
    assert engine.pipe.transformer.is_cache_enabled and engine.pipe.vae.use_tiling
    assert {"cache:pab", "vae_tiling"} <= set(engine.levers)
    preset = small_preset("product-page", width=64, height=80, fps=8, duration_s=0.5, loop=False)
    ref = engine.generate(_request(photo, preset, tmp_path / "fast.mkv"))
    assert ref.n_frames == 4 and ref.params["profile"] == "fast" and "profile:fast" in ref.params["identity"]
    # The hooks that would fail at the first denoising step are refused when the settings are read.
    with pytest.raises(EngineError, match=r"invalid engines.framepack settings: cache 'first_block' does not run"):
        _engine(tiny_model_settings("framepack") | {"cache": {"kind": "first_block"}})


def test_identity_without_loading_equals_the_built_engines(tiny_model_settings, monkeypatch):
    settings = tiny_model_settings("framepack")
    built = _engine(settings)

    def refuse(*args, **kwargs):
        raise AssertionError("a pipeline was loaded")

    monkeypatch.setattr(loading, "load_pipeline", refuse)
    assert engine_identity("framepack", settings) == built.identity()
    assert engine_identity("framepack", settings | {"device": "cuda"}) == built.identity()  # placement is not pixels
    assert engine_identity("framepack", settings | {"latent_window_size": 2}) != built.identity()


def test_licence_must_be_accepted_by_name_in_one_line(tiny_model_settings):
    settings = tiny_model_settings("framepack")
    settings.pop("accept_licence")
    for attempt in (lambda: engine_identity("framepack", settings), lambda: _engine(settings)):
        with pytest.raises(EngineError) as caught:
            attempt()
        message = str(caught.value)
        assert "\n" not in message and message.startswith("framepack: the Tencent Hunyuan Community License")
        assert "use in the EU, the UK and South Korea (it grants no rights there)" in message
        assert message.endswith("set engines.framepack.accept_licence: tencent-hunyuan-community to accept it")
    with pytest.raises(EngineError, match="accept_licence: tencent-hunyuan-community"):
        engine_identity("framepack", settings | {"accept_licence": "apache-2.0"})  # another licence's name
