"""Scoring the held-out set once with the packaged presets' thresholds, and its report.

Each clip is built (benchmarks/heldout/build.py), scored by ``quality.gate.check_clip`` against its photo
and - where it has a delivery encode - by ``quality.delivered.check_delivered`` against its master; a
clip is rejected when either fails. Its files are deleted once scored (a social master is ~1.1 GB).

Nothing here feeds back into a threshold: the set is scored, summarised and reported.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results" / "qc_heldout.json"


def score_one(name: str, root: str) -> dict[str, Any]:
    """Build and score the recipe `name` under `root`; its clip files are removed afterwards."""
    from benchmarks.heldout.build import build
    from benchmarks.heldout.recipes import presets, recipes
    from quality.gate import check_clip

    recipe = next(r for r in recipes() if r.name == name)
    preset = presets()[recipe.preset]
    row: dict[str, Any] = {
        "name": recipe.name,
        "label": recipe.label,
        "family": recipe.family,
        "strength": recipe.strength,
        "visible": recipe.visible,
        "preset": recipe.preset,
        "product": recipe.product,
        "note": recipe.note,
    }
    started = time.perf_counter()
    built = build(recipe, Path(root))
    row["build_s"] = round(time.perf_counter() - started, 2)
    try:
        failed: list[str] = []
        reasons: list[str] = []
        seconds = 0.0
        try:
            report = check_clip(built.photo, built.clip, preset)
            failed += report.failed_checks
            reasons += report.reasons
            seconds += report.seconds
        except Exception as exc:  # noqa: BLE001 - an unreadable clip is a rejection with its reason
            failed.append("input")
            reasons.append(f"input: {type(exc).__name__}: {exc}")
        if built.delivered is not None:
            from quality.delivered import check_delivered

            try:
                delivered = check_delivered(built.delivered, built.master, preset)
                failed += [c for c in delivered.failed_checks if c not in failed]
                reasons += [f"delivered: {r}" for r in delivered.reasons]
                seconds += delivered.seconds
            except Exception as exc:  # noqa: BLE001
                failed.append("input")
                reasons.append(f"delivered input: {type(exc).__name__}: {exc}")
        row.update(passed=not failed, failed_checks=failed, reasons=reasons, seconds=round(seconds, 3))
    finally:
        for path in {built.master, built.clip, built.delivered}:
            if path is not None:
                Path(path).unlink(missing_ok=True)
    return row


def run_heldout(workers: int | None = None, root: Path | None = None) -> list[dict[str, Any]]:
    """Every recipe built and scored (`workers` processes, default 2); rows in recipe order."""
    from benchmarks.heldout.recipes import recipes

    names = [r.name for r in recipes()]
    workers = workers or int(os.environ.get("HELDOUT_WORKERS", "2"))
    own = root is None
    root = Path(tempfile.mkdtemp(prefix="qc-heldout-")) if own else root
    try:
        if workers <= 1:
            return [score_one(n, str(root)) for n in names]
        with ProcessPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(score_one, names, [str(root)] * len(names)))
    finally:
        if own:
            shutil.rmtree(root, ignore_errors=True)


def _rate(rows: list[dict], rejected: bool) -> float | None:
    if not rows:
        return None
    hits = sum((not r["passed"]) == rejected for r in rows)
    return round(hits / len(rows), 4)


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    good = [r for r in rows if r["label"] == "good"]
    bad = [r for r in rows if r["label"] == "defect"]
    visible = [r for r in bad if r["visible"]]
    families: dict[str, dict[str, Any]] = {}
    for fam in dict.fromkeys(r["family"] for r in bad):
        clips = [r for r in bad if r["family"] == fam]
        vis = [r for r in clips if r["visible"]]
        strengths = {}
        for r in clips:
            s = strengths.setdefault(r["strength"], {"visible": r["visible"], "clips": 0, "rejected": 0})
            s["clips"] += 1
            s["rejected"] += int(not r["passed"])
        families[fam] = {
            "clips": len(clips),
            "recall": _rate(clips, True),
            "visible_clips": len(vis),
            "visible_recall": _rate(vis, True),
            "strengths": strengths,
        }
    confusion: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in rows:
        key = "good" if r["label"] == "good" else r["family"]
        for check in r["failed_checks"] or ["(passed)"]:
            confusion[key][check] += 1
    false_rejects = [r["name"] for r in good if not r["passed"]]
    missed_visible = [r["name"] for r in visible if r["passed"]]
    return {
        "good_clips": len(good),
        "good_passed": _rate(good, False),
        "false_reject_rate": _rate(good, True),
        "false_rejects": false_rejects,
        "defective_clips": len(bad),
        "defective_rejected": _rate(bad, True),
        "visible_defective_clips": len(visible),
        "visible_rejected": _rate(visible, True),
        "missed_visible": missed_visible,
        "families": families,
        "confusion": {k: dict(v) for k, v in confusion.items()},
        "gate_seconds_mean": round(sum(r["seconds"] for r in rows) / max(1, len(rows)), 3),
    }


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"


def markdown_table(summary: dict[str, Any]) -> str:
    """The held-out numbers as markdown: headline rates, one row per family and strength, the confusion."""
    lines = [
        f"Good clips: {summary['good_clips']}, passed {_pct(summary['good_passed'])} "
        f"(false-reject rate {_pct(summary['false_reject_rate'])}). Defective clips: {summary['defective_clips']}, "
        f"rejected {_pct(summary['defective_rejected'])}; visible ones: {summary['visible_defective_clips']}, "
        f"rejected {_pct(summary['visible_rejected'])}.",
        "",
        "| defect family | strength | visible at 1080p | clips | rejected | family recall (visible) |",
        "|---|---|---|---|---|---|",
    ]
    for fam, f in summary["families"].items():
        for strength, s in f["strengths"].items():
            lines.append(
                f"| {fam} | {strength} | {'yes' if s['visible'] else 'no'} | {s['clips']} | {s['rejected']} | "
                f"{_pct(f['recall'])} ({_pct(f['visible_recall'])}) |"
            )
    checks = sorted({c for row in summary["confusion"].values() for c in row})
    lines += ["", "Confusion (clips per label x check that fired; a clip can fire several):", ""]
    lines.append("| label | " + " | ".join(checks) + " |")
    lines.append("|---|" + "---|" * len(checks))
    for label, row in summary["confusion"].items():
        lines.append(f"| {label} | " + " | ".join(str(row.get(c, 0) or "") for c in checks) + " |")
    return "\n".join(lines)


def main(workers: int | None = None, results: Path = RESULTS) -> dict[str, Any]:
    started = time.perf_counter()
    rows = run_heldout(workers)
    summary = summarise(rows)
    summary["wall_s"] = round(time.perf_counter() - started, 1)
    summary["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version()}
    results.parent.mkdir(parents=True, exist_ok=True)
    tmp = results.with_suffix(".tmp")
    tmp.write_text(json.dumps({"summary": summary, "clips": rows}, indent=2) + "\n", encoding="utf-8")
    tmp.replace(results)
    return summary
