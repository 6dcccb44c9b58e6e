"""`make gpu-check` runs unchanged on a machine without CUDA: one line saying so, exit 0, configs checked; and every
real-size pipeline it would load on a GPU builds whole here, on the meta device (no memory), through the same code."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "scripts" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gpu_check_on_cpu_says_so_and_exits_0():
    torch = pytest.importorskip("torch")
    result = subprocess.run(
        # -o venv: use this interpreter's environment as it is (no reinstall from inside a test)
        ["make", "-s", "-o", "venv", "gpu-check", f"BIN={Path(sys.executable).parent}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=540,  # on a GPU the whole check runs (under 8 minutes)
    )
    assert result.returncode == 0, result.stderr[-2000:]
    if torch.cuda.is_available():  # a GPU machine: the real check ran and wrote its table
        assert "clips in" in result.stdout
        return
    lines = [line for line in result.stdout.splitlines() if line.startswith("gpu-check:")]
    assert len(lines) == 1 and "no CUDA device on this machine" in lines[0], result.stdout
    # Real-size denoisers built on the meta device, each in its published size range.
    for size in ("wan 16.395B", "wan_ti2v 5.0B", "cogvideox 5.57B", "ltx2 18.876B", "framepack 12.874B"):
        assert size in lines[0], lines[0]
    assert "ltx2, framepack, wan_ti2v, wan, ltx, svd, cogvideox build whole on the meta device" in lines[0]


def test_gpu_check_refuses_an_unknown_engine_in_one_line():
    result = subprocess.run(
        [sys.executable, "scripts/gpu_check.py", "--engines", "wan,sora"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "gpu-check: unknown engine(s) sora; known: ltx2, framepack, wan_ti2v, wan, ltx, svd, cogvideox"
    )


def test_every_real_size_model_has_a_published_size_and_a_plan(gpu_check):
    from benchmarks.bench_engines import REAL_SIZE_MODELS

    assert set(gpu_check.PUBLISHED_B) == set(REAL_SIZE_MODELS) == set(gpu_check.PLAN)
    for model, (steps, estimate_s) in gpu_check.PLAN.items():
        assert 1 <= steps <= 4 and 0 < estimate_s < 8 * 60, model
    counts = gpu_check.check_configs()  # raises unless each denoiser is within its published range
    assert counts["ltx2"] == 18.876 and counts["framepack"] == 12.874 and counts["wan_ti2v"] == 5.0


# Billions of parameters per component at real size: the text encoders at their published architectures
# (Gemma 3 12B; Llama 3 8B without its LM head + CLIP-L text; UMT5-XXL's encoder), the published VAEs.
REAL_COMPONENTS = {
    "ltx2": {
        "transformer": 18.876,
        "text_encoder": 12.203,  # Gemma 3 12B with its SigLIP vision tower
        "connectors": 1.431,
        "vae": 1.222,
        "audio_vae": 0.053,
        "vocoder": 0.056,
    },
    "framepack": {
        "transformer": 12.874,
        "text_encoder": 7.505,  # Llama 3 8B (LlamaModel: no LM head)
        "text_encoder_2": 0.123,  # CLIP ViT-L/14 text
        "image_encoder": 0.428,  # SigLIP so400m/14 at 384 px
        "vae": 0.246,
    },
    "wan_ti2v": {"transformer": 5.0, "text_encoder": 5.681, "vae": 0.705},  # UMT5-XXL encoder; Wan 2.2 VAE
}


@pytest.mark.parametrize("model", sorted(REAL_COMPONENTS))
def test_new_real_size_pipelines_build_whole_on_the_meta_device(gpu_check, model):
    import torch

    from benchmarks.bench_engines import build_real_pipeline

    # The same check `make gpu-check` runs on CPU: pipeline class accepted by the engine, settings valid.
    assert gpu_check.check_pipeline(model) == REAL_COMPONENTS[model]
    pipe = build_real_pipeline(model, "meta")
    dtypes = {name: next(c.parameters()).dtype for name, c in pipe.components.items() if hasattr(c, "parameters")}
    assert dtypes.pop("vae") == (torch.float32 if model == "wan_ti2v" else torch.bfloat16)  # Wan's VAE stays fp32
    assert set(dtypes.values()) == {torch.bfloat16}
    assert all(
        p.device.type == "meta" for c in pipe.components.values() if hasattr(c, "parameters") for p in c.parameters()
    )
    if model == "wan_ti2v":  # published as a WanPipeline folder with expand_timesteps: the photo is latent frame 0
        assert pipe.config.expand_timesteps and pipe.image_encoder is None and pipe.vae.config.z_dim == 48
    if model == "framepack":
        assert pipe.transformer.config.has_image_proj and pipe.transformer.config.has_clean_x_embedder
