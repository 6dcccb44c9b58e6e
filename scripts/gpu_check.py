"""`make gpu-check`: every diffusion engine at real size on one CUDA GPU, in minutes, with no download.

Each model's pipeline is built at its published size with random weights (benchmarks/bench_engines.py
`build_real_pipeline`: configs in code, tokenizers in memory; weights do not change the cost), wrapped by the
production engine (`DiffusionEngine.from_pipeline`) and asked for one clip per packaged preset, then checked by
the real QC gate and encoded as the preset says. Models: the engines wan (2.1 I2V 14B), svd, ltx, cogvideox,
ltx2, framepack, and wan_ti2v (Wan 2.2 TI2V-5B, a configuration of the wan engine). Per clip it reports seconds
(measured with a few steps, extrapolated to the engine's default steps), peak GPU memory, the share of the
pipeline call outside the denoising loop, and the non-generative share of wall time (model load amortised over
the presets, QC, encode; publishing is a file copy here). Results: --out (default out/gpu-check.json).

A model starts only if its estimated time (PLAN) fits in what is left of --budget-s, and no clip starts after
the budget is spent, so the whole check stays under 8 minutes; what did not fit is listed with the command that
runs it.

Without CUDA it says so in one line, checks that every real-size configuration and pipeline builds (on the meta
device, no memory) and exits 0, so it runs unchanged anywhere.

    .venv/bin/python scripts/gpu_check.py [--steps N] [--engines ltx2,wan_ti2v] [--budget-s 450] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never downloads
os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("PYTORCH_CUDA_ALLOC_CONF", "expandable_segments:True")

from benchmarks.bench_engines import (  # noqa: E402
    REAL_SIZE_MODELS,
    REAL_SIZE_SETTINGS,
    build_real_pipeline,
    engine_of,
    real_size_parameter_counts,
)

# Published denoiser sizes (billions of parameters) the real-size configs must reproduce. wan: the 14B DiT plus
# its CLIP image branch; ltx2: 19B with its audio stream; framepack: HunyuanVideo's 13B plus the image projection.
PUBLISHED_B = {
    "wan": (14.0, 17.0),
    "wan_ti2v": (4.8, 5.2),
    "svd": (1.4, 1.6),
    "ltx": (1.8, 2.1),
    "cogvideox": (5.0, 6.0),
    "ltx2": (18.5, 19.5),
    "framepack": (12.5, 13.2),
}

# Per model, in run order (the newest engines first): denoising steps measured, and the seconds expected on one
# H200 for load (random init on the GPU, ~10-15 s) + the three presets' clips + QC and encodes (~4 s a clip on 16
# cores: 1-2 s QC and ~6 s of encodes per clip on 2 cores, benchmarks/results/qc.json and publish.json).
# Step times are published speeds scaled to the H200 (~1.3x an H100, ~3x an RTX 4090, ~2.5x an A100); unmeasured
# here, so every row records its actual seconds next to the estimate to recalibrate this table.
PLAN: dict[str, tuple[int, float]] = {
    # LTX-2 19B, 768x512, 121-frame takes (4 takes): ~2.5 s a step with CFG + STG + modality guidance (4 passes
    # of ~5k video tokens); video + audio decode ~3 s a take; Gemma 3 12B + 19B to initialise.
    "ltx2": (2, 75.0),
    # FramePack 13B, 640x640, 36-frame sections (13 sections): ~0.6 s a frame at 25 steps on an H100 (the
    # FramePack README's 1.5-2.5 s a frame on a 4090) = ~0.7 s a section-step; HunyuanVideo VAE ~2 s a section.
    "framepack": (2, 85.0),
    # Wan 2.2 TI2V-5B, 704x1280, 121-frame takes (4 takes): a 4090 does 50 steps of 121 frames in < 9 min
    # (~10 s a step with CFG), ~3 s here; fp32 VAE decode at 720p ~8 s a take.
    "wan_ti2v": (2, 85.0),
    # Wan 2.1 I2V 14B, 480x832, 81-frame takes (4 takes): 30 steps ~5 min on an H100 (~10 s a step), ~8 s here:
    # one step measured.
    "wan": (1, 85.0),
    # LTX-Video 2B: near real time on an H100 (the LTX-Video paper); mostly QC and encodes.
    "ltx": (4, 35.0),
    # SVD-XT 1.5B, 576x1024, 25-frame takes (6 takes): ~180 s a clip at 25 steps on an A100 (model card).
    "svd": (2, 65.0),
    # CogVideoX-5B, 49-frame takes (~6 takes): 50 steps in 97 s on an A100 (~2 s a step, ~0.8 s here); its VAE
    # decode is the slow part (~8 s a take).
    "cogvideox": (2, 80.0),
}


def check_configs() -> dict[str, float]:
    """Billions of parameters per model's real-size denoiser; raises if one is not its published size."""
    counts = real_size_parameter_counts()
    for model, billions in counts.items():
        lo, hi = PUBLISHED_B[model]
        if not lo <= billions <= hi:
            raise SystemExit(f"gpu-check: {model}'s real-size config has {billions}B parameters, not {lo}-{hi}B")
    return counts


def engine_settings(model: str, steps: int) -> dict[str, Any]:
    """The engine settings a real-size model runs with on the GPU (the same on every machine)."""
    return {"device": "cuda", "dtype": "bfloat16", "steps": steps, **REAL_SIZE_SETTINGS.get(model, {})}


def check_pipeline(model: str) -> dict[str, float]:
    """Build `model`'s whole real-size pipeline on the meta device (no memory) and check that its engine takes
    that pipeline class and its settings; billions of parameters per component."""
    from generation.diffusion.engines import ENGINE_CLASSES
    from generation.diffusion.settings import parse_settings

    pipe = build_real_pipeline(model, "meta")
    engine = ENGINE_CLASSES[engine_of(model)]
    if type(pipe).__name__ not in engine.allowed_classes:
        raise SystemExit(
            f"gpu-check: {model} builds a {type(pipe).__name__}; the {engine.name} engine takes "
            f"{', '.join(engine.allowed_classes)}"
        )
    parse_settings(engine.name, {"weights": "random-weights", **engine_settings(model, PLAN[model][0])})
    return {
        name: round(sum(p.numel() for p in component.parameters()) / 1e9, 3)
        for name, component in pipe.components.items()
        if hasattr(component, "parameters")
    }


def clip_row(engine, name: str, preset, photo: Path, work: Path, steps: int, load_share_s: float) -> dict[str, Any]:
    import torch

    from generation.base import GenerationRequest
    from publishing.encode import encode_variants
    from quality.gate import check_clip

    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    ref = engine.generate(
        GenerationRequest(source_path=str(photo), preset=preset, seed=0, out_path=str(work / f"{name}.mkv"))
    )
    generate_s = time.perf_counter() - started
    peak = torch.cuda.max_memory_allocated() / 2**30
    started = time.perf_counter()
    report = check_clip(photo, ref.path, preset, expected_frames=ref.n_frames)
    qc_s = time.perf_counter() - started
    started = time.perf_counter()
    encode_variants(ref, preset, work / f"{name}-enc")
    encode_s = time.perf_counter() - started
    timings = ref.params["timings"]
    denoise = timings.get("denoise_s", 0.0)
    full_steps = engine.default_steps
    per_step = denoise / max(1, steps * ref.params["takes"])
    at_default = generate_s - denoise + per_step * full_steps * ref.params["takes"]
    wall = load_share_s + generate_s + qc_s + encode_s
    return {
        "preset": name,
        "seconds_per_clip_measured": round(generate_s, 2),
        "seconds_per_clip_at_default_steps": round(at_default, 2),
        "steps_measured": steps,
        "default_steps": full_steps,
        "peak_gpu_gib": round(peak, 2),
        "outside_denoise_share": ref.params.get("outside_denoise_share"),
        "qc_s": round(qc_s, 2),
        "encode_s": round(encode_s, 2),
        "non_generative_share": round((load_share_s + qc_s + encode_s) / wall, 4),
        "native_size": ref.params["fit"]["native_size"],
        "frames_per_take": ref.params["frames_per_take"],
        "takes": ref.params["takes"],
        "qc_passed": report.passed,  # random weights draw noise: a failed gate is expected here
    }


def run_cuda(models: list[str], steps: int | None, budget_s: float) -> tuple[list[dict], list[dict]]:
    """One row per clip, and one per model: its estimate next to its actual seconds, or why it did not run."""
    import gc

    import torch

    from catalog_motion.presets import load_presets
    from generation.diffusion.engines import ENGINE_CLASSES
    from tests.generation.conftest import draw_garment, save_png

    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    summary: list[dict[str, Any]] = []
    presets = load_presets()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        photo = save_png(draw_garment(1080, 1350, patch=(560, 760, 140)), work / "photo.png")
        for model in models:
            model_steps, estimate_s = PLAN[model]
            model_steps = steps or model_steps
            head = {"engine": engine_of(model), "model": model}
            left = budget_s - (time.perf_counter() - started)
            if estimate_s > left:
                summary.append(
                    head
                    | {
                        "skipped": f"its estimated {estimate_s:.0f} s does not fit in the {max(0, left):.0f} s "
                        f"left of --budget-s {budget_s:.0f}; run `make gpu-check GPU_CHECK_ARGS='--engines "
                        f"{model}'`"
                    }
                )
                print(json.dumps(summary[-1]), flush=True)
                continue
            model_started = time.perf_counter()
            actual: dict[str, Any] = {"steps": model_steps, "estimate_s": estimate_s}
            engine = pipe = None
            try:
                pipe = build_real_pipeline(model, "cuda")
                engine = ENGINE_CLASSES[engine_of(model)].from_pipeline(pipe, engine_settings(model, model_steps))
                load_s = time.perf_counter() - model_started
                skipped = []
                for preset_name, preset in presets.items():
                    if time.perf_counter() - started > budget_s:  # an estimate was low: overrun by one clip at most
                        skipped.append(preset_name)
                        continue
                    row = clip_row(engine, preset_name, preset, photo, work, model_steps, load_s / len(presets))
                    rows.append(head | {"load_s": round(load_s, 2), **row})
                    print(json.dumps(rows[-1]), flush=True)
                if skipped:
                    actual["skipped"] = f"presets {', '.join(skipped)}: --budget-s {budget_s:.0f} spent"
            except Exception as exc:  # noqa: BLE001 - one model failing (an OOM, a pipeline bug) must not hide the rest
                actual["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
            actual["actual_s"] = round(time.perf_counter() - model_started, 1)
            summary.append(head | actual)
            print(json.dumps(summary[-1]), flush=True)
            engine = pipe = None  # noqa: F841 - free the model before the next one
            gc.collect()
            torch.cuda.empty_cache()
    return rows, summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--steps", type=int, default=None, help="denoising steps measured for every model (default: PLAN's per model)"
    )
    parser.add_argument("--engines", default=",".join(PLAN), help="comma-separated models, run in this order")
    parser.add_argument(
        "--budget-s", type=float, default=450.0, help="seconds for all models: one starts only if its estimate fits"
    )
    parser.add_argument("--out", default=str(ROOT / "out" / "gpu-check.json"))
    args = parser.parse_args(argv)
    models = [e for e in args.engines.split(",") if e]
    unknown = sorted(set(models) - set(REAL_SIZE_MODELS), key=models.index)
    if unknown:
        print(f"gpu-check: unknown engine(s) {', '.join(unknown)}; known: {', '.join(PLAN)}", file=sys.stderr)
        return 2
    import torch

    counts = check_configs()
    result: dict[str, Any] = {"torch": torch.__version__, "parameters_b": counts, "plan": PLAN, "steps": args.steps}
    if not torch.cuda.is_available():
        for model in models:
            check_pipeline(model)
        print(
            f"gpu-check: no CUDA device on this machine (torch {torch.__version__}); real-size configs check out "
            f"({', '.join(f'{k} {v}B' for k, v in counts.items())}) and {', '.join(models)} build whole on the "
            f"meta device; nothing timed: run `make gpu-check` on a GPU"
        )
        return 0
    result["device"] = torch.cuda.get_device_name(0)
    started = time.perf_counter()
    result["clips"], result["models"] = run_cuda(models, args.steps, args.budget_s)
    result["wall_s"] = round(time.perf_counter() - started, 1)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(f"gpu-check: {len(result['clips'])} clips in {result['wall_s']} s on {result['device']}; {out}")
    failed = [m for m in result["models"] if "error" in m]
    for row in result["models"]:
        if "error" in row or "skipped" in row:
            print(f"gpu-check: {row['model']}: {row.get('error') or row['skipped']}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
