"""QC gate speed at delivery size, delivered-file check included (issue #15 targets).

Two clips, each rendered by the `camera` engine from a drawn 2160x2700 studio photo (quality/synthetic.py)
at the packaged preset's real size, duration and rate, then encoded to the preset's H.264 delivery:
- product-page: 1080x1350, 4 s, 24 fps - target 1.5 s for the whole gate;
- social: 1080x1920, 6 s, 30 fps - target 2.5 s.
"Whole gate" = `check_clip` on the master + `check_delivered` on the mp4 against the master, one after the
other, as the pipeline runs them. Each check is also timed on its own (frames per second), on the evidence
the gate gathered once (decode, drift and flicker run while decoding, so they are timed together).

    .venv/bin/python benchmarks/bench_qc.py [--repeat 3]
writes benchmarks/results/qc.json and prints a summary.
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

from catalog_motion.media import read_frames  # noqa: E402
from catalog_motion.presets import Preset, load_presets  # noqa: E402
from quality.delivered import check_delivered  # noqa: E402
from quality.gate import _evaluators, check_clip, flicker_result, gather_evidence  # noqa: E402
from quality.synthetic import draw_garment_photo  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "qc.json"
TARGETS_S = {"product-page": 1.5, "social": 2.5}


def render(tmp: Path, preset: Preset) -> tuple[Path, Path, Path]:
    """(photo, master, delivery mp4) for `preset`: the master from the real camera engine, the mp4 from the
    real publishing encoder (the preset's H.264 settings, BT.709)."""
    from generation.base import GenerationRequest
    from generation.registry import get_engine
    from publishing.encode import encode_variants

    photo_path = tmp / "photo.png"
    if not photo_path.exists():
        Image.fromarray(draw_garment_photo(2160, 2700, seed=2)).save(photo_path)
    master = tmp / f"{preset.name}.nut"
    ref = get_engine("camera").generate(
        GenerationRequest(source_path=str(photo_path), preset=preset, seed=0, out_path=str(master))
    )
    h264 = preset.model_copy(update={"encodings": [e for e in preset.encodings if e.format == "mp4-h264"]})
    (asset,) = encode_variants(ref, h264, tmp / f"{preset.name}-encodes")
    return photo_path, master, Path(asset.path)


def best_of(repeat: int, fn):
    times, value = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - started)
    return min(times), value


def measure(tmp: Path, preset: Preset, repeat: int) -> dict:
    photo, master, mp4 = render(tmp, preset)
    n = preset.n_frames
    gate_s, report = best_of(repeat, lambda: check_clip(photo, master, preset, expected_frames=n))
    delivered_s, delivered = best_of(repeat, lambda: check_delivered(mp4, master, preset, expected_frames=n))

    decode_s, _ = best_of(repeat, lambda: read_frames(master, preset.qc.work_long_side))
    gather_s, (evidence, flick) = best_of(repeat, lambda: gather_evidence(photo, master, preset))
    checks_s: dict[str, float] = {}
    for evaluate in _evaluators():
        seconds, _ = best_of(repeat, lambda e=evaluate: e(evidence))
        checks_s[evaluate.__module__.rsplit(".", 1)[-1]] = round(seconds, 4)
    seconds, _ = best_of(repeat, lambda: flicker_result(evidence, flick))
    checks_s["flashes (and flicker verdicts)"] = round(seconds, 4)
    total = gate_s + delivered_s
    w, h = evidence.size
    return {
        "clip": f"{preset.width}x{preset.height}, {n} frames, {preset.fps} fps, camera engine; work size {w}x{h}",
        "target_s": TARGETS_S[preset.name],
        "whole_gate_s": round(total, 3),
        "meets_target": total <= TARGETS_S[preset.name],
        "check_clip_master_s": round(gate_s, 3),
        "check_delivered_mp4_s": round(delivered_s, 3),
        "verdicts": {
            "master": report.passed,
            "master_reasons": report.reasons,
            "delivered": delivered.passed,
            "delivered_reasons": delivered.reasons,
        },
        "stages_s": {
            "decode master (work size)": round(decode_s, 3),
            "decode + drift + flicker (streamed)": round(gather_s, 3),
            **checks_s,
        },
        "frames_per_s": {
            "decode master": round(n / decode_s, 1),
            "decode + drift + flicker (streamed)": round(n / gather_s, 1),
            **{name: round(n / max(s, 1e-6), 1) for name, s in checks_s.items()},
            "delivered-file check": round(n / delivered_s, 1),
        },
        "drift_sampled_frames": len(evidence.drift.frames),
        "full_resolution_frames": len(evidence.full_frames),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the best is reported")
    args = parser.parse_args(argv)
    presets = load_presets()
    with tempfile.TemporaryDirectory() as tmp_name:
        clips = {name: measure(Path(tmp_name), presets[name], args.repeat) for name in TARGETS_S}
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "note": "whole gate = check_clip on the master + check_delivered on the H.264 delivery, best of "
        f"{args.repeat}; stages timed one after another",
        "clips": clips,
        "load_average_at_end": [round(v, 2) for v in os.getloadavg()],
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2), encoding="utf-8")
    for name, clip in clips.items():
        print(f"{name}: {clip['clip']}")
        print(
            f"  whole gate {clip['whole_gate_s']:.2f} s (master {clip['check_clip_master_s']:.2f} s + delivered "
            f"{clip['check_delivered_mp4_s']:.2f} s; target {clip['target_s']} s) verdicts {clip['verdicts']}"
        )
        print("  frames/s: " + ", ".join(f"{k} {v}" for k, v in clip["frames_per_s"].items()))
    print(f"-> {RESULTS.relative_to(ROOT)} (load average {result['load_average_at_end']})")
    return result


if __name__ == "__main__":
    main()
