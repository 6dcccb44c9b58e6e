"""QC report cost per clip (issue #20 target: <= 0.2 s of CPU per clip).

Masters rendered by the real `camera` engine at the packaged presets' real sizes (product-page 1080x1350
4 s 24 fps, social 1080x1920 6 s 30 fps) from a drawn 2160x2700 photo, as raw NUT (the default master
format) and, for product-page, also as lossless H.264 (`master_format: lossless-h264`). Each is QC-checked
once for real (`check_clip_with_frames`, as the pipeline calls it); the report step is then timed as the
pipeline runs it: `write_clip_material` at check time, from the frames the gate decoded (source thumbnail,
filmstrip, and for a clip that did not pass a preview MP4), plus that clip's share of
`build_report_index` at the end of the run (its page and its run-page row). A "failed" clip is the same
master with its report marked failed (the report's cost does not depend on which check failed).
CPU = time.process_time() (all threads of this process; the step starts no subprocess), best of --repeat.

    .venv/bin/python benchmarks/bench_report.py [--repeat 5]
writes benchmarks/results/report.json and prints a summary.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from catalog_motion.media import convert_master  # noqa: E402
from catalog_motion.presets import Preset, load_presets  # noqa: E402
from quality.gate import check_clip_with_frames  # noqa: E402
from quality.report import ReportEntry, build_report_index, write_clip_material  # noqa: E402
from quality.synthetic import draw_garment_photo  # noqa: E402
from quality.table import qc_rows  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "report.json"
TARGET_CPU_S = 0.2


def render(tmp: Path, preset: Preset) -> tuple[Path, Path]:
    from generation.base import GenerationRequest
    from generation.registry import get_engine

    photo = tmp / "photo.png"
    if not photo.exists():
        Image.fromarray(draw_garment_photo(2160, 2700, seed=2)).save(photo)
    master = tmp / f"{preset.name}.nut"
    get_engine("camera").generate(
        GenerationRequest(source_path=str(photo), preset=preset, seed=0, out_path=str(master))
    )
    return photo, master


def measure(tmp: Path, name: str, photo: Path, master: Path, preset: Preset, repeat: int) -> dict:
    report, frames = check_clip_with_frames(photo, master, preset)
    failed = report.model_copy(
        update={
            "passed": False,
            "reasons": ["drift: subject drift (colour 0.90) 0.4 > limit 0.25 at frame 40 (1.67 s)"],
            "failed_checks": ["drift"],
        }
    )
    out: dict = {
        "clip": f"{preset.width}x{preset.height}, {preset.duration_s:g} s, {preset.fps:g} fps, {master.suffix}"
    }
    for kind, rep in (
        ("passed", report.model_copy(update={"passed": True, "reasons": [], "failed_checks": []})),
        ("failed", failed),
    ):
        material, pages, walls = [], [], []
        for i in range(repeat):
            root = tmp / f"report-{name}-{kind}-{i}"
            clip_dir = root / "clips" / f"S--{name}--0"
            started, wall = time.process_time(), time.perf_counter()
            write_clip_material(ReportEntry("S", preset.name, photo, master, rep), clip_dir, frames)
            material.append(time.process_time() - started)
            walls.append(time.perf_counter() - wall)
            rows = qc_rows(
                [({"sku": "S", "preset": preset.name, "attempt": 0, "report": str(clip_dir / "index.html")}, rep)]
            )
            started = time.process_time()
            build_report_index(
                rows, root, title="bench", outcomes=[{"sku": "S", "preset": preset.name, "status": "rejected"}]
            )
            pages.append(time.process_time() - started)
        total = min(material) + min(pages)
        out[kind] = {
            "cpu_s_per_clip": round(total, 3),
            "material_cpu_s": round(min(material), 3),
            "pages_cpu_s": round(min(pages), 4),
            "material_wall_s": round(min(walls), 3),
            "meets_target": total <= TARGET_CPU_S,
        }
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement; the best is reported")
    args = parser.parse_args(argv)
    presets = load_presets()
    clips = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for name in ("product-page", "social"):
            photo, master = render(tmp, presets[name])
            clips[f"{name} (raw master)"] = measure(tmp, name, photo, master, presets[name], args.repeat)
            if name == "product-page":
                mkv = convert_master(master, tmp / f"{name}.mkv")
                clips[f"{name} (lossless H.264 master)"] = measure(tmp, f"{name}-mkv", photo, mkv, presets[name], 2)
            master.unlink()
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "target_cpu_s_per_clip": TARGET_CPU_S,
        "note": "per clip = write_clip_material (check time) + its build_report_index share (end of run); "
        f"CPU via time.process_time, best of {args.repeat}; the material is made from the gate's own work-size "
        "decode (no second decode of the master). Before #20 (matplotlib curves + PNG filmstrip per clip) the "
        "step took 0.7-0.9 s per demo clip.",
        "clips": clips,
        "load_average_at_end": [round(v, 2) for v in os.getloadavg()],
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2), encoding="utf-8")
    for name, clip in clips.items():
        print(
            f"{name}: {clip['clip']}: passed {clip['passed']['cpu_s_per_clip']} s, failed (with preview) "
            f"{clip['failed']['cpu_s_per_clip']} s CPU per clip (target {TARGET_CPU_S} s)"
        )
    print(f"-> {RESULTS.relative_to(ROOT)} (load average {result['load_average_at_end']})")
    return result


if __name__ == "__main__":
    main()
