"""Calibration of the QC gate on the labelled clip set the thresholds are fitted on (quality/calibration.py).

Good clips (camera moves of every preset up to its full amount, garment sway / hem swing / breathing,
parallax, re-render softness, a real libx264 round trip at crf 20-26, and clips rendered by the real
`camera` engine for every packaged preset) and defective clips of every family at several strengths,
on drawn garments and three photographs shipped with scikit-image. Reports recall per family and
strength (and by the expected check), the false-reject rate and the confusion table.

    .venv/bin/python benchmarks/bench_qc_calibration.py          # small clips (minutes)
    .venv/bin/python benchmarks/bench_qc_calibration.py --full   # + clips at the presets' real sizes
writes benchmarks/results/qc_calibration.json (every clip's scores included, to fit thresholds on) and
the tables in docs/QUALITY.md (between markers).
"""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from catalog_motion.presets import Preset, load_presets  # noqa: E402
from quality.calibration import markdown_table, outcome_row, run_calibration, summarise  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "qc_calibration.json"
DOC = ROOT / "docs" / "QUALITY.md"
BEGIN, END = "<!-- calibration:begin -->", "<!-- calibration:end -->"
CAMERA_SIZES = {"4:5": (256, 320), "9:16": (180, 320), "1:1": (320, 320)}  # QC work size of 1080p clips


def camera_presets() -> dict:
    """The packaged presets at QC work size (what the gate sees of a 1080p clip), full duration."""
    out = {}
    for name, preset in load_presets().items():
        w, h = CAMERA_SIZES[preset.aspect]
        out[name] = preset.model_copy(update={"width": w, "height": h})
    return out


def render_with_camera(source: Path, preset: Preset, out: Path, motion_scale: float) -> Path:
    """The calibration's `ClipRenderer`: the real `camera` engine, seed 0."""
    from generation.base import GenerationRequest
    from generation.registry import get_engine

    ref = get_engine("camera").generate(
        GenerationRequest(source_path=str(source), preset=preset, seed=0, out_path=str(out), motion_scale=motion_scale)
    )
    return Path(ref.path)


def main(full: bool = False) -> dict:
    started = time.perf_counter()
    presets = load_presets()
    outcomes = run_calibration(
        presets["product-page"],
        presets=presets,
        full=full,
        camera_presets=camera_presets(),
        camera_renderer=render_with_camera,
        on_outcome=lambda o: print(
            f"{'pass' if o.passed else 'FAIL'} {o.name} {','.join(o.failed_checks)}", flush=True
        ),
    )
    summary = summarise(outcomes)
    summary["clips"] = len(outcomes)
    summary["full"] = full
    summary["wall_s"] = round(time.perf_counter() - started, 1)
    summary["machine"] = (
        f"{platform.machine()}, {__import__('os').cpu_count()} cores, Python {platform.python_version()}"
    )
    summary["outcomes"] = [outcome_row(o) for o in outcomes]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(summary, indent=2), encoding="utf-8")
    table = markdown_table(summary)
    if DOC.exists():
        text = DOC.read_text(encoding="utf-8")
        if BEGIN in text and END in text:
            head, rest = text.split(BEGIN, 1)
            _, tail = rest.split(END, 1)
            DOC.write_text(f"{head}{BEGIN}\n{table}\n{END}{tail}", encoding="utf-8")
    print(table)
    print(f"{len(outcomes)} clips in {summary['wall_s']} s -> {RESULTS.relative_to(ROOT)}")
    return summary


if __name__ == "__main__":
    main(full="--full" in sys.argv[1:])
