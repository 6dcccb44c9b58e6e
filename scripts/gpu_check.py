"""`make gpu-check`: every diffusion engine at real size on one CUDA GPU, in minutes, with no download.

Each engine's pipeline is built at its published size with random weights (benchmarks/bench_engines.py
`build_real_pipeline`: configs in code; weights do not change the cost), wrapped by the production engine
(`DiffusionEngine.from_pipeline`) and asked for one clip per packaged preset, then checked by the real QC gate
and encoded as the preset says. Per clip it reports seconds (measured with --steps steps, extrapolated to the
engine's default steps), peak GPU memory, the share of the pipeline call outside the denoising loop, and the
non-generative share of wall time (model load amortised over the presets, QC, encode; publishing is a file
copy here). Results: --out (default out/gpu-check.json).

Without CUDA it says so in one line, checks that every real-size configuration builds (on the meta device,
no memory) and exits 0, so it runs unchanged anywhere.

    .venv/bin/python scripts/gpu_check.py [--steps 4] [--engines wan,ltx] [--budget-s 450] [--out PATH]
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

from benchmarks.bench_engines import ENGINES, build_real_pipeline, real_size_parameter_counts  # noqa: E402

# Published denoiser sizes (billions of parameters) the real-size configs must reproduce.
PUBLISHED_B = {"wan": (14.0, 17.0), "svd": (1.4, 1.6), "ltx": (1.8, 2.1), "cogvideox": (5.0, 6.0)}


def check_configs() -> dict[str, float]:
    """Billions of parameters per engine's real-size denoiser; raises if one is not its published size."""
    counts = real_size_parameter_counts()
    for engine, billions in counts.items():
        lo, hi = PUBLISHED_B[engine]
        if not lo <= billions <= hi:
            raise SystemExit(f"gpu-check: {engine}'s real-size config has {billions}B parameters, not {lo}-{hi}B")
    return counts


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


def run_cuda(engines: list[str], steps: int, budget_s: float) -> list[dict[str, Any]]:
    import gc

    import torch

    from catalog_motion.presets import load_presets
    from generation.diffusion.engines import ENGINE_CLASSES
    from tests.generation.conftest import draw_garment, save_png

    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    presets = load_presets()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        photo = save_png(draw_garment(1080, 1350, patch=(560, 760, 140)), work / "photo.png")
        for name in engines:
            if time.perf_counter() - started > budget_s:
                rows.append({"engine": name, "skipped": f"time budget {budget_s:.0f} s spent"})
                continue
            load_started = time.perf_counter()
            pipe = build_real_pipeline(name, "cuda")
            engine = ENGINE_CLASSES[name].from_pipeline(pipe, {"device": "cuda", "dtype": "bfloat16", "steps": steps})
            load_s = time.perf_counter() - load_started
            for preset_name, preset in presets.items():
                row = clip_row(engine, preset_name, preset, photo, work, steps, load_s / len(presets))
                rows.append({"engine": name, "load_s": round(load_s, 2), **row})
                print(json.dumps(rows[-1]), flush=True)
            del engine, pipe
            gc.collect()
            torch.cuda.empty_cache()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4, help="denoising steps measured (extrapolated to defaults)")
    parser.add_argument("--engines", default=",".join(ENGINES), help="comma-separated engines")
    parser.add_argument("--budget-s", type=float, default=450.0, help="start no new engine after this many seconds")
    parser.add_argument("--out", default=str(ROOT / "out" / "gpu-check.json"))
    args = parser.parse_args(argv)
    engines = [e for e in args.engines.split(",") if e]
    unknown = sorted(set(engines) - set(ENGINES))
    if unknown:
        print(f"gpu-check: unknown engine(s) {', '.join(unknown)}; known: {', '.join(ENGINES)}", file=sys.stderr)
        return 2
    import torch

    counts = check_configs()
    result: dict[str, Any] = {"torch": torch.__version__, "parameters_b": counts, "steps": args.steps}
    if not torch.cuda.is_available():
        print(
            f"gpu-check: no CUDA device on this machine (torch {torch.__version__}); real-size configs check out "
            f"({', '.join(f'{k} {v}B' for k, v in counts.items())}); nothing timed: run `make gpu-check` on a GPU"
        )
        return 0
    result["device"] = torch.cuda.get_device_name(0)
    started = time.perf_counter()
    result["clips"] = run_cuda(engines, args.steps, args.budget_s)
    result["wall_s"] = round(time.perf_counter() - started, 1)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(f"gpu-check: {len(result['clips'])} clips in {result['wall_s']} s on {result['device']}; {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
