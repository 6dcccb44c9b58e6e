"""Calibration of the QC gate on the labelled clip set (quality/calibration.py).

Good clips (drawn camera moves, a breathing loop, subtle subject sway, and clips rendered by the real
`camera` engine for every packaged preset at two motion amounts) and bad clips with known defects at
several strengths, on a drawn garment and three real photographs (scikit-image). Reports precision,
recall and false-reject rate per defect and strength with the packaged product-page thresholds.

    .venv/bin/python benchmarks/bench_qc_calibration.py
writes benchmarks/results/qc_calibration.json and the table in docs/QUALITY.md (between markers).
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
from quality.calibration import markdown_table, run_calibration, summarise  # noqa: E402

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


def main() -> dict:
    started = time.perf_counter()
    presets = load_presets()
    outcomes = run_calibration(
        presets["product-page"], camera_presets=camera_presets(), camera_renderer=render_with_camera
    )
    summary = summarise(outcomes)
    summary["clips"] = len(outcomes)
    summary["wall_s"] = round(time.perf_counter() - started, 1)
    summary["machine"] = (
        f"{platform.machine()}, {__import__('os').cpu_count()} cores, Python {platform.python_version()}"
    )
    summary["outcomes"] = [
        {
            "name": o.name,
            "defect": o.defect,
            "strength": o.strength,
            "visible": o.visible,
            "passed": o.passed,
            "failed_checks": o.failed_checks,
            "drift": round(o.drift, 4),
            "flicker": round(o.flicker, 5),
        }
        for o in outcomes
    ]
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
    main()
