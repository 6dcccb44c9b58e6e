"""The ltx2 engine: the real LTX2ImageToVideoPipeline from tiny random components (Gemma 3, connectors,
audio VAE, vocoder), saved and loaded offline; loops closed on the photo by first/last-frame conditioning;
video only; identity and licence answered from settings alone."""

from __future__ import annotations

import json
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
    return save_png(draw_garment(400, 500, patch=(230, 280, 45)), tmp_path_factory.mktemp("ltx2") / "shirt.png")


def _record(monkeypatch, engine) -> list[dict]:
    """Each call: the engine's arguments, the frame conditions LTX2ConditionPipeline received and the audio
    it generated (the real calls still run)."""
    from diffusers import LTX2ConditionPipeline

    calls: list[dict] = []
    outer, inner = type(engine.pipe).__call__, LTX2ConditionPipeline.__call__

    def engine_side(self, *args, **kwargs):
        calls.append({"kwargs": dict(kwargs)})
        return outer(self, *args, **kwargs)

    def pipeline_side(self, *args, **kwargs):
        output = inner(self, *args, **kwargs)
        calls[-1].update(conditions=list(kwargs["conditions"]), audio=output.audio)
        return output

    monkeypatch.setattr(type(engine.pipe), "__call__", engine_side)
    monkeypatch.setattr(LTX2ConditionPipeline, "__call__", pipeline_side)
    return calls


def _request(photo, preset, out, **kw) -> GenerationRequest:
    return GenerationRequest(source_path=str(photo), preset=preset, seed=3, out_path=str(out), **kw)


def test_loads_offline_from_its_saved_folder_and_renders_a_video_only_clip(
    tiny_model_settings, photo, tmp_path, monkeypatch
):
    from diffusers import LTX2ConditionPipeline

    settings = tiny_model_settings("ltx2")
    index = json.loads((Path(settings["weights"]) / "model_index.json").read_text(encoding="utf-8"))
    assert index["_class_name"] == "LTX2ImageToVideoPipeline"
    assert {"text_encoder", "connectors", "audio_vae", "vocoder"} <= set(index)
    engine = get_engine("ltx2", settings, isolation="inline")
    assert isinstance(engine.pipe, LTX2ConditionPipeline)  # the loaded components, one pipeline for every call
    # Model facts from the pipeline itself: tiny VAE 4x temporal (4k+1; LTX-2's own is 8x: 8k+1), grid 32.
    assert engine.pipe.vae_temporal_compression_ratio == 4 and engine.round_frames(10) == 13
    assert engine.size_multiple() == 32 and engine.max_take() == 121
    calls = _record(monkeypatch, engine)
    preset = small_preset("social", width=72, height=128, fps=12, duration_s=1.0, loop=False)

    ref = engine.generate(_request(photo, preset, tmp_path / "social.mkv"))

    facts = probe(ref.path)
    assert (facts.width, facts.height, facts.n_frames) == (72, 128, 12) == (ref.width, ref.height, ref.n_frames)
    assert read_frames(ref.path).std() > 1.0
    # The joint model generated an audio track; the clip keeps none of it.
    assert calls[0]["audio"] is not None and calls[0]["audio"].numel() > 0 and not facts.has_audio
    assert ref.params["audio"].startswith("generated jointly by the model, not kept")
    kwargs = calls[0]["kwargs"]
    nw, nh = ref.params["fit"]["native_size"]
    assert (kwargs["width"], kwargs["height"]) == (nw, nh) and nw % 32 == 0 and nh % 32 == 0 and nh > nw
    assert kwargs["num_frames"] == ref.params["frames_per_take"] == 9  # 1 s at the model's 8 fps, 4k+1
    assert [c.index for c in calls[0]["conditions"]] == [0] and "last_image" not in kwargs
    assert kwargs["guidance_scale"] == kwargs["audio_guidance_scale"] == 3.0 and kwargs["frame_rate"] == 8
    assert kwargs["motion_speed"] == 1.0 and kwargs["stg_scale"] == 0.0  # tiny settings: STG off on CPU
    assert ref.params["pipeline"] == "LTX2ImageToVideoPipeline" and ref.params["licence"]["name"] == "ltx-2-community"


def test_loop_preset_ends_on_the_source_photo_by_last_frame_conditioning(
    tiny_model_settings, photo, tmp_path, monkeypatch
):
    settings = tiny_model_settings("ltx2")
    preset = small_preset("product-page", width=64, height=80, fps=12, duration_s=1.0)
    assert preset.loop
    engine = get_engine("ltx2", settings, isolation="inline")
    calls = _record(monkeypatch, engine)

    ref = engine.generate(_request(photo, preset, tmp_path / "loop.mkv"))

    kwargs = calls[0]["kwargs"]
    assert ref.params["loop_method"] == "last_frame" and ref.params["attempt_controls"]["anchored_to_photo"]
    assert np.array_equal(np.asarray(kwargs["last_image"]), np.asarray(kwargs["image"]))
    first, last = calls[0]["conditions"]
    assert (first.index, last.index) == (0, -1) and first.strength == last.strength == 1.0
    assert kwargs["num_frames"] == 9  # an 8-frame loop at 8 fps + the closing frame (dropped: it repeats frame 0)
    assert read_frames(ref.path).shape == (12, 80, 64, 3)

    fade = get_engine("ltx2", settings | {"loop_mode": "crossfade"}, isolation="inline")
    ref = fade.generate(_request(photo, preset, tmp_path / "fade.mkv"))
    assert ref.params["loop_method"] == "crossfade" and "last_image" not in calls[-1]["kwargs"]
    assert [c.index for c in calls[-1]["conditions"]] == [0]


def test_ask_for_less_slows_the_motion_and_anchors_every_take_on_the_photo(
    tiny_model_settings, photo, tmp_path, monkeypatch
):
    settings = tiny_model_settings("ltx2") | {"sigmas": [1.0, 0.6]}  # a custom schedule: its length is the steps
    engine = get_engine("ltx2", settings, isolation="inline")
    calls = _record(monkeypatch, engine)
    preset = small_preset("product-page", width=64, height=80, fps=12, duration_s=0.5, loop=False)
    full = engine.call_kwargs(preset, preset.motion.amount, 1.0)

    ref = engine.generate(_request(photo, preset, tmp_path / "less.mkv", attempt=1, motion_scale=0.5))

    less = calls[0]["kwargs"]
    assert less["motion_speed"] == 0.75 < full["motion_speed"] == 1.0
    assert less["guidance_scale"] == less["audio_guidance_scale"] == 2.25 < full["guidance_scale"]
    assert less["decode_noise_scale"] == 0.0125 < full["decode_noise_scale"] == 0.025
    assert less["sigmas"] == [1.0, 0.6] and less["num_inference_steps"] == 2 == ref.params["steps"]
    assert all(
        np.array_equal(np.asarray(c["kwargs"]["last_image"]), np.asarray(calls[0]["kwargs"]["image"])) for c in calls
    )
    controls = ref.params["attempt_controls"]
    assert controls["anchored_to_photo"] and controls["motion_speed"] == 0.75 and controls["calm_negative"]


def test_identity_without_loading_equals_the_built_engines(tiny_model_settings, monkeypatch):
    settings = tiny_model_settings("ltx2")
    with monkeypatch.context() as patched:
        patched.setattr(loading, "load_pipeline", lambda *a, **k: pytest.fail("a pipeline was loaded"))
        identity = engine_identity("ltx2", settings)
        draft = engine_identity(
            "ltx2", {"weights": "Lightricks/LTX-2", "revision": "r1", "profile": "draft"} | _accept()
        )
    assert identity.startswith("ltx2/tiny-ltx2") and "/steps2/cfg3/" in identity
    assert "/steps8/cfg1/" in draft and "profile:draft" in draft  # the distilled schedule's 8 sigmas, no CFG
    assert get_engine("ltx2", settings, isolation="inline").identity() == identity


def _accept() -> dict:
    return {"accept_licence": "ltx-2-community"}


def test_the_community_licence_must_be_accepted_by_name_in_one_line(tiny_model_settings):
    settings = tiny_model_settings("ltx2")
    settings.pop("accept_licence")
    expected = (
        "ltx2: the LTX-2 Community License restricts commercial use by entities with USD 10M or more annual revenue "
        "(they need a paid licence from Lightricks); read https://huggingface.co/Lightricks/LTX-2 and set "
        "engines.ltx2.accept_licence: ltx-2-community to accept it"
    )
    for attempt in (
        lambda: engine_identity("ltx2", settings),
        lambda: get_engine("ltx2", settings, isolation="inline"),
    ):
        with pytest.raises(EngineError) as caught:
            attempt()
        assert str(caught.value) == expected and "\n" not in str(caught.value)
    with pytest.raises(EngineError, match="accept_licence: ltx-2-community"):
        engine_identity("ltx2", settings | {"accept_licence": "ltxv-open-weights"})  # LTX-Video's is another licence


def test_inconsistent_settings_are_refused_in_one_line():
    base = {"weights": "Lightricks/LTX-2"} | _accept()
    with pytest.raises(EngineError, match=r"^ltx2: invalid engines.ltx2 settings: stg_scale above 0 needs stg_blocks"):
        engine_identity("ltx2", base | {"stg_blocks": []})
    with pytest.raises(EngineError, match="steps 4 disagrees with the 8 sigmas; unset steps"):
        engine_identity("ltx2", base | {"profile": "draft", "steps": 4})
    with pytest.raises(EngineError, match="engines.ltx2.audio"):
        engine_identity("ltx2", base | {"audio": True})  # no audio option: the clip is video only
