"""Every diffusion engine through the production path: real pipeline classes with tiny random weights,
saved with save_pretrained, loaded offline by `get_engine`, run on CPU into real master clips."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import numpy as np
import pytest

from catalog_motion.errors import EngineError, PermanentError
from catalog_motion.media import probe, read_frames
from generation.base import GenerationRequest
from generation.registry import get_engine
from tests.fixtures.tiny_pipelines import TINY_ENGINES, tiny_engine_name
from tests.generation.conftest import draw_garment, save_png, small_preset

pytestmark = pytest.mark.filterwarnings("ignore")


def inline_engine(name: str, settings: dict | None = None):
    """The engine built in this process: these tests reach into its pipeline (recorded calls, injected
    OOM, prepare/finish), which a process-isolated engine keeps in its worker. test_process_isolated_*
    below runs the same engine the production way (isolation 'auto': in a worker process)."""
    return get_engine(name, settings, isolation="inline")


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def diff_photo(tmp_path_factory) -> Path:
    return save_png(draw_garment(400, 500, patch=(230, 280, 45)), tmp_path_factory.mktemp("photo") / "shirt.png")


def _request(photo, preset, out, seed=5, **kw) -> GenerationRequest:
    return GenerationRequest(source_path=str(photo), preset=preset, seed=seed, out_path=str(out), **kw)


def _social():
    return small_preset("social", width=72, height=128, fps=12, duration_s=1.0, loop=False, motion={"amount": 0.5})


@pytest.mark.parametrize("variant", TINY_ENGINES)
def test_engine_end_to_end_from_saved_tiny_model(variant, tiny_model_settings, record_calls, diff_photo, tmp_path):
    settings = tiny_model_settings(variant)
    name = tiny_engine_name(variant)
    engine = inline_engine(name, settings)
    assert inline_engine(name, dict(settings)) is engine  # loaded once, reused
    calls = record_calls(engine)
    preset = _social()
    ref = engine.generate(_request(diff_photo, preset, tmp_path / "a.mkv"))
    again = engine.generate(_request(diff_photo, preset, tmp_path / "b.mkv"))
    other = engine.generate(_request(diff_photo, preset, tmp_path / "c.mkv", seed=6))
    frames, frames_again, frames_other = (read_frames(r.path) for r in (ref, again, other))
    facts = probe(ref.path)
    assert (facts.width, facts.height, facts.n_frames) == (72, 128, 12) == (ref.width, ref.height, ref.n_frames)
    assert np.array_equal(frames, frames_again)  # fixed seed: identical clip
    assert np.abs(frames.astype(int) - frames_other).mean() > 0.5  # another seed: another clip
    assert frames.std() > 1.0

    kwargs = calls[0]["kwargs"]
    params = ref.params
    nw, nh = params["fit"]["native_size"]
    assert (kwargs["width"], kwargs["height"]) == (nw, nh)
    # num_frames is what the pipeline is asked for that outputs frames_per_take (FramePack counts sections by it)
    assert kwargs["num_frames"] == engine.pipeline_num_frames(params["frames_per_take"])
    assert kwargs["num_inference_steps"] == 2
    assert kwargs["generator"].initial_seed() == 5 and calls[2]["kwargs"]["generator"].initial_seed() == 6
    assert calls[0]["frames"].shape[1] == params["frames_per_take"]
    if name == "svd":
        assert kwargs["motion_bucket_id"] == 128  # amount 0.5 on 1..255
        assert kwargs["noise_aug_strength"] == pytest.approx(0.02) and kwargs["fps"] == 4  # model fps setting
        assert "prompt" not in kwargs
    else:
        assert kwargs["prompt"].startswith(preset.motion.prompt) and "orbit" in kwargs["prompt"]
        assert kwargs["negative_prompt"]
    if variant == "wan22":
        assert kwargs["guidance_scale_2"] == kwargs["guidance_scale"] == 5.0
    if name == "ltx":
        assert kwargs["frame_rate"] == 8 and kwargs["guidance_scale"] == 3.0
    if name == "cogvideox":
        assert (nw, nh) == (32, 32) and params["fit"]["mode"] == "pad" and kwargs["use_dynamic_cfg"] is True
    else:
        assert params["fit"]["mode"] == "cover" and nh > nw  # native size follows the 9:16 preset
    for key, value in {"engine": name, "dtype": "float32", "steps": 2, "seed": 5, "device": "cpu"}.items():
        assert params[key] == value, key
    assert len(params["weights_fingerprint"]) == 16 and params["identity"] == engine.identity()
    assert 0.0 <= params["outside_denoise_share"] <= 1.0


def test_svd_ask_for_less_lowers_motion_and_noise(tiny_model_settings, record_calls, diff_photo, tmp_path):
    engine = inline_engine("svd", tiny_model_settings("svd"))
    calls = record_calls(engine)
    preset = small_preset(
        "product-page", width=64, height=80, fps=12, duration_s=0.5, loop=False, motion={"amount": 0.5}
    )
    ref = engine.generate(_request(diff_photo, preset, tmp_path / "less.mkv", motion_scale=0.5, duration_scale=0.5))
    kwargs = calls[0]["kwargs"]
    assert kwargs["motion_bucket_id"] == int(round(1 + 0.25 * 254))
    assert kwargs["noise_aug_strength"] == pytest.approx(0.01)
    assert ref.n_frames == 3 and ref.params["amount"] == 0.25


def test_chained_takes_condition_on_previous_take(tiny_model_settings, record_calls, diff_photo, tmp_path):
    settings = tiny_model_settings("ltx") | {"max_take_frames": 9, "overlap_frames": 4}
    engine = inline_engine("ltx", settings)
    calls = record_calls(engine)
    preset = small_preset("product-page", width=64, height=80, fps=12, duration_s=2.0, loop=False)
    ref = engine.generate(_request(diff_photo, preset, tmp_path / "chain.mkv"))
    assert ref.params["takes"] == len(calls) == 3  # 17 model frames from 9-frame takes sharing 4
    assert len(set(ref.params["take_seeds"])) == 3
    for previous, current in zip(calls, calls[1:], strict=False):
        expected = np.clip(np.rint(previous["frames"][0][-4] * 255), 0, 255).astype(np.uint8)
        assert np.array_equal(np.asarray(current["kwargs"]["image"]), expected)
    assert read_frames(ref.path).shape == (24, 80, 64, 3)


def test_loops_use_last_frame_where_supported(tiny_model_settings, record_calls, diff_photo, tmp_path):
    preset = small_preset("product-page", width=64, height=80, fps=12, duration_s=1.0)
    assert preset.loop
    a14b = inline_engine("wan", tiny_model_settings("wan22"))
    calls = record_calls(a14b)
    ref = a14b.generate(_request(diff_photo, preset, tmp_path / "flf.mkv"))
    kwargs = calls[0]["kwargs"]
    assert ref.params["loop_method"] == "last_frame"
    assert np.array_equal(np.asarray(kwargs["last_image"]), np.asarray(kwargs["image"]))
    assert kwargs["num_frames"] == 9  # 8-frame loop at 8 fps + the closing frame
    plain = inline_engine("wan", tiny_model_settings("wan"))
    calls = record_calls(plain)
    ref = plain.generate(_request(diff_photo, preset, tmp_path / "fade.mkv"))
    assert ref.params["loop_method"] == "crossfade" and "last_image" not in calls[0]["kwargs"]
    with pytest.raises(EngineError, match="last_frame needs a first-last-frame checkpoint"):
        inline_engine("wan", tiny_model_settings("wan") | {"loop_mode": "last_frame"}).generate(
            _request(diff_photo, preset, tmp_path / "x.mkv")
        )


def test_batch_is_one_forward_pass_and_isolates_bad_items(tiny_model_settings, record_calls, diff_photo, tmp_path):
    engine = inline_engine("ltx", tiny_model_settings("ltx"))
    calls = record_calls(engine)
    preset = small_preset("product-page", width=64, height=80, fps=12, duration_s=1.0, loop=False)
    photo2 = save_png(draw_garment(300, 420), tmp_path / "second.png")
    requests = [
        _request(diff_photo, preset, tmp_path / "b0.mkv", seed=1),
        _request(tmp_path / "missing.png", preset, tmp_path / "b1.mkv", seed=2),
        _request(photo2, preset, tmp_path / "b2.mkv", seed=3),
        _request(diff_photo, preset, tmp_path / "b3.mkv", seed=4),
    ]
    results = engine.generate_batch(requests)
    assert isinstance(results[1], PermanentError) and "not found" in str(results[1])
    assert len(calls) == 1 and len(calls[0]["kwargs"]["image"]) == 3
    assert [g.initial_seed() for g in calls[0]["kwargs"]["generator"]] == [1, 3, 4]
    for i in (0, 2, 3):
        assert results[i].params["batch_size"] == 3
    single = engine.generate(requests[2].model_copy(update={"out_path": str(tmp_path / "single.mkv")}))
    diff = np.abs(read_frames(single.path).astype(int) - read_frames(results[2].path)).mean()
    assert diff < 2.0  # batching changes float rounding only


def test_injected_oom_splits_the_batch(tiny_model_settings, record_calls, diff_photo, tmp_path):
    class FakeOOM(RuntimeError):
        pass

    engine = inline_engine("cogvideox", tiny_model_settings("cogvideox"))

    def explode_on_batches(kwargs):
        if isinstance(kwargs["image"], list):
            raise FakeOOM("CUDA out of memory. Tried to allocate 20.00 GiB")

    calls = record_calls(engine, before=explode_on_batches)
    engine.oom_types = (FakeOOM,)
    preset = small_preset("product-page", width=64, height=80, fps=12, duration_s=1.0, loop=False)
    results = engine.generate_batch([_request(diff_photo, preset, tmp_path / f"o{i}.mkv", seed=i) for i in range(2)])
    assert all(not isinstance(r, Exception) for r in results), results
    assert any("split batch 2" in e for e in results[0].params["oom_events"])
    assert len(calls) == 3  # the failed pair, then each item alone


def test_model_loads_once_per_worker_process(tiny_model_settings, diff_photo, tmp_path):
    settings = tiny_model_settings("cogvideox")
    preset = small_preset("product-page", width=64, height=80, fps=12, duration_s=0.5, loop=False)
    jobs = [
        ("cogvideox", settings, _request(diff_photo, preset, tmp_path / f"w{i}.mkv", seed=i).model_dump())
        for i in range(6)
    ]
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        from tests.generation._workers import generate_in_worker

        results = pool.map(generate_in_worker, jobs, chunksize=1)
    pids = [pid for pid, _, _ in results]
    assert len(set(pids)) <= 2
    assert all(count == 1 for _, count, _ in results)  # never reloaded, however many items a worker ran
    assert max(pids.count(pid) for pid in set(pids)) >= 3
    assert all(Path(path).is_file() for _, _, path in results)


def test_clear_errors_for_misconfiguration(tiny_model_settings, tmp_path, monkeypatch, diff_photo):
    import torch

    with pytest.raises(EngineError, match="wan: no weights configured; set engines.wan.weights"):
        inline_engine("wan", {})
    with pytest.raises(EngineError, match="weights folder .* does not exist"):
        inline_engine("wan", {"weights": str(tmp_path / "nope"), "device": "cpu"})
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(EngineError, match="HF_HUB_OFFLINE=1 and it is not in the local cache"):
        inline_engine("wan", {"weights": "Wan-AI/Wan2.1-I2V-14B-480P-Diffusers", "device": "cpu"})
    svd = tiny_model_settings("svd")
    with pytest.raises(EngineError, match="holds a StableVideoDiffusionPipeline"):
        inline_engine("wan", {"weights": svd["weights"], "device": "cpu", "dtype": "float32"})
    missing_device = "cuda:99" if torch.cuda.is_available() else "cuda"
    with pytest.raises(EngineError, match="CUDA is not available|does not exist"):
        inline_engine("svd", svd | {"device": missing_device})
    with pytest.raises(EngineError, match="offload 'model' needs a CUDA device"):
        inline_engine("svd", svd | {"offload": "model"})
    with pytest.raises(EngineError, match="engines.ltx.steps"):
        inline_engine("ltx", tiny_model_settings("ltx") | {"steps": 0})
    with pytest.raises(EngineError, match="engines.svd.decode_chunk"):
        inline_engine("svd", svd | {"decode_chunk": 4})  # typo of decode_chunk_size: refused, not ignored
    with pytest.raises(EngineError, match="no tiled decoding"):
        inline_engine("svd", svd | {"vae_tiling": True})
    with pytest.raises(EngineError, match="compile 'regional' is not supported"):
        inline_engine("svd", svd | {"compile": "regional"})
    engine = inline_engine("cogvideox", tiny_model_settings("cogvideox") | {"max_takes": 1})
    preset = small_preset("product-page", width=64, height=80, fps=12, duration_s=3.0, loop=False)
    with pytest.raises(EngineError, match="max_takes"):
        engine.generate(_request(diff_photo, preset, tmp_path / "long.mkv"))


WEIGHTS_DIR = os.environ.get("CATALOG_MOTION_WEIGHTS_DIR")


@pytest.mark.weights
@pytest.mark.skipif(
    not WEIGHTS_DIR,
    reason="real weights: set CATALOG_MOTION_WEIGHTS_DIR to a folder of <engine>/ diffusers checkpoints",
)
@pytest.mark.parametrize("name", ["wan", "svd", "ltx", "cogvideox"])
def test_real_weights(name, diff_photo, tmp_path):
    folder = Path(WEIGHTS_DIR) / name
    if not folder.is_dir():
        pytest.skip(f"no {name}/ under CATALOG_MOTION_WEIGHTS_DIR")
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    engine = inline_engine(
        name,
        {"weights": str(folder), "device": device, "steps": 4, "dtype": "bfloat16" if device == "cuda" else "float32"},
    )
    preset = small_preset("product-page", width=320, height=400, fps=12, duration_s=1.0, loop=False)
    ref = engine.generate(_request(diff_photo, preset, tmp_path / "real.mkv"))
    frames = read_frames(ref.path)
    assert frames.shape == (12, 400, 320, 3) and frames.std() > 5


def test_subject_lock_through_engine_geometry(tiny_model_settings, tmp_path):
    """finish() on native frames whose subject moved by a known shift: the delivery clip gets the
    source photo's exact print back, moved by the same shift scaled to delivery pixels."""
    import cv2

    settings = tiny_model_settings("ltx") | {"native_area": 160 * 192, "subject_lock": True}
    engine = inline_engine("ltx", settings)
    photo = save_png(draw_garment(600, 750, patch=(320, 380, 70)), tmp_path / "print.png")
    preset = small_preset("product-page", width=240, height=300, fps=8, duration_s=1.0, loop=False)
    prepared = engine.prepare(_request(photo, preset, tmp_path / "lock.mkv"))
    nw, nh = prepared.native
    n = prepared.plan.needed
    shifts = [(0.5 * i, 0.25 * i) for i in range(n)]
    native = []
    for dx, dy in shifts:
        moved = cv2.warpAffine(
            prepared.condition, np.float32([[1, 0, dx], [0, 1, dy]]), (nw, nh), borderMode=cv2.BORDER_REPLICATE
        )
        native.append(cv2.GaussianBlur(moved, (0, 0), 1.2))  # the generator smears the print
    native = np.stack(native)
    ref = engine.finish(prepared, native, batch=1, events=[])
    lock = ref.params["subject_lock"]
    assert lock["locked_frames"] == ref.n_frames == 8
    frames = read_frames(ref.path)
    scale = preset.width / prepared.delivery_box.width
    reference = prepared.reference
    # The same frames without the lock (finish() locks only when a reference was prepared).
    prepared.reference = None
    prepared.request = prepared.request.model_copy(update={"out_path": str(tmp_path / "plain.mkv")})
    plain = read_frames(engine.finish(prepared, native, batch=1, events=[]).path)
    for j in (3, 7):  # output frame j sits at model position j (8 fps both)
        dx, dy = shifts[j]
        truth = cv2.warpAffine(
            reference, np.float32([[1, 0, dx * scale], [0, 1, dy * scale]]), (240, 300), borderMode=cv2.BORDER_REPLICATE
        )
        region = (slice(130, 190), slice(110, 170))  # inside the garment, around the print
        err_locked = np.abs(frames[j][region].astype(int) - truth[region]).mean()
        err_plain = np.abs(plain[j][region].astype(int) - truth[region]).mean()
        assert err_locked < 0.5 * err_plain, (j, err_locked, err_plain)


def test_lora_adapter_loads_and_changes_output(tiny_model_settings, tmp_path, diff_photo):
    """A LoRA saved by diffusers' own save_lora_weights is loaded through engines.<name>.lora."""
    from diffusers import LTXImageToVideoPipeline
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    from tests.fixtures.tiny_pipelines import _BUILDERS

    pipe = _BUILDERS["ltx"]()
    pipe.transformer.add_adapter(
        LoraConfig(r=4, lora_alpha=4, init_lora_weights=False, target_modules=["to_q", "to_k", "to_v", "to_out.0"])
    )
    LTXImageToVideoPipeline.save_lora_weights(
        str(tmp_path / "lora"), transformer_lora_layers=get_peft_model_state_dict(pipe.transformer)
    )
    settings = tiny_model_settings("ltx")
    preset = small_preset("product-page", width=64, height=80, fps=12, duration_s=1.0, loop=False)
    base = inline_engine("ltx", settings)
    adapted = inline_engine("ltx", settings | {"lora": {"path": str(tmp_path / "lora"), "scale": 1.0}})
    assert "lora:lora@1#" in adapted.identity() and adapted.identity() != base.identity()
    plain = base.generate(_request(diff_photo, preset, tmp_path / "plain.mkv"))
    styled = adapted.generate(_request(diff_photo, preset, tmp_path / "lora.mkv"))
    assert styled.params["lora"] == {"path": str(tmp_path / "lora"), "scale": 1.0}
    assert "lora:lora@1" in styled.params["levers"]
    assert np.abs(read_frames(plain.path).astype(int) - read_frames(styled.path)).mean() > 0.5
    with pytest.raises(EngineError, match="cannot load LoRA"):
        inline_engine("ltx", settings | {"lora": {"path": str(tmp_path / "no-such-lora")}})


def test_shared_engine_is_safe_across_threads(tiny_model_settings, diff_photo, tmp_path):
    """A thread-pool task runner shares one engine per process: concurrent calls give the same clips."""
    from concurrent.futures import ThreadPoolExecutor

    # LTX's flow-matching scheduler keeps a step index: unguarded concurrent calls corrupt each other.
    engine = inline_engine("ltx", tiny_model_settings("ltx"))
    preset = small_preset("product-page", width=64, height=80, fps=12, duration_s=1.0, loop=False)
    serial = [
        read_frames(engine.generate(_request(diff_photo, preset, tmp_path / f"s{i}.mkv", seed=i)).path)
        for i in range(4)
    ]
    with ThreadPoolExecutor(4) as pool:
        refs = list(
            pool.map(lambda i: engine.generate(_request(diff_photo, preset, tmp_path / f"t{i}.mkv", seed=i)), range(4))
        )
    for i, ref in enumerate(refs):
        assert np.array_equal(read_frames(ref.path), serial[i]), i


def test_process_isolated_engine_matches_inline(tiny_model_settings, diff_photo, tmp_path):
    """The production default for diffusion engines (isolation 'auto' -> a worker process owning the
    model) renders the same clip as the engine built in this process."""
    from generation.worker import ProcessEngine

    settings = tiny_model_settings("ltx")
    preset = small_preset("product-page", width=64, height=80, fps=12, duration_s=1.0, loop=False)
    proxy = get_engine("ltx", settings)
    assert isinstance(proxy, ProcessEngine) and proxy.enforces_timeouts
    try:
        inline = inline_engine("ltx", settings)
        assert proxy.identity() == inline.identity()
        got = proxy.generate(_request(diff_photo, preset, tmp_path / "proxy.mkv", timeout_s=300))
        want = inline.generate(_request(diff_photo, preset, tmp_path / "inline.mkv"))
        assert proxy.worker_pid not in (None, os.getpid())
        assert np.array_equal(read_frames(got.path), read_frames(want.path))
        assert got.params["identity"] == want.params["identity"] and got.params["seed"] == 5
    finally:
        proxy.close()
