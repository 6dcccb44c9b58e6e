"""Scoring set v2 once with the packaged presets' thresholds, and its report.

Each clip is built (build.py), its files are checked against its recipe (size, frame rate, frame count,
duration: a mismatch is a broken recipe and stops the run), then scored through the gate's public entry
points only: ``quality.gate.check_clip`` against the photo and, where it has a delivery encode,
``quality.delivered.check_delivered`` against its master. A clip is rejected when either fails; a file
the gate refuses with its clear bad-input error (a PermanentError) is rejected as unreadable; any other
exception is a crash and counts against the gate (a missed defect, or a false reject). Clip files are
deleted once scored. Nothing here feeds back into a threshold."""

from __future__ import annotations

import json
import os
import platform
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results" / "qc_heldout2.json"


def clip_facts(recipe_name: str, root: Path) -> tuple[Any, dict[str, Any]]:
    """Build the recipe and check its files are what the recipe says (RuntimeError when not)."""
    from benchmarks.heldout2.build import build
    from benchmarks.heldout2.recipes import presets, recipes
    from catalog_motion.media import probe

    recipe = next(r for r in recipes() if r.name == recipe_name)
    preset = presets()[recipe.preset]
    built = build(recipe, root)
    plan = recipe.make()
    facts: dict[str, Any] = {"bytes": built.master.stat().st_size}
    if plan.broken:
        return built, facts
    master = probe(built.master)
    facts.update(width=master.width, height=master.height, fps=float(master.fps), n_frames=master.n_frames,
                 duration_s=round(master.duration_s, 3))  # fmt: skip
    want_frames = built.n_frames
    wrong = []
    if (master.width, master.height) != (preset.width, preset.height):
        wrong.append(f"size {master.width}x{master.height}")
    if float(master.fps) != float(preset.fps):
        wrong.append(f"fps {master.fps}")
    if master.n_frames != want_frames:
        wrong.append(f"{master.n_frames} frames, recipe wrote {want_frames}")
    if built.delivered is not None:
        enc = probe(built.delivered)
        fed = len((plan.delivery.feed or (lambda n: list(range(n))))(want_frames))
        facts.update(encode_frames=enc.n_frames, encode_duration_s=round(enc.duration_s, 3))
        if enc.n_frames != fed:
            wrong.append(f"encode has {enc.n_frames} frames, {fed} were fed")
    if wrong:
        raise RuntimeError(f"recipe {recipe.name}: the built file is not what the recipe says: {'; '.join(wrong)}")
    return built, facts


def score_one(name: str, root: str) -> dict[str, Any]:
    """Build, check and score recipe `name` under `root`; its clip files are removed afterwards."""
    from benchmarks.heldout2.recipes import presets, recipes
    from catalog_motion.errors import PermanentError
    from quality.delivered import check_delivered
    from quality.gate import check_clip

    recipe = next(r for r in recipes() if r.name == name)
    preset = presets()[recipe.preset]
    row: dict[str, Any] = {k: getattr(recipe, k) for k in
                           ("name", "label", "family", "strength", "visible", "preset", "product", "note")}  # fmt: skip
    started = time.perf_counter()
    built, facts = clip_facts(name, Path(root))
    row.update(build_s=round(time.perf_counter() - started, 2), facts=facts)
    failed: list[str] = []
    reasons: list[str] = []
    crashes: list[str] = []
    seconds = 0.0
    try:
        jobs = [("clip", lambda: check_clip(built.photo, built.clip, preset))]
        if built.delivered is not None:
            jobs.append(("delivered", lambda: check_delivered(built.delivered, built.master, preset)))
        for what, job in jobs:
            try:
                report = job()
            except PermanentError as exc:  # the gate's clear bad-input error: an unreadable clip is rejected
                failed.append("input")
                reasons.append(f"{what}: {exc}")
                continue
            except Exception as exc:  # noqa: BLE001 - a crash is the gate's failure, recorded, never a pass
                crashes.append(f"{what}: {type(exc).__name__}: {exc}"[:400])
                continue
            failed += [c for c in report.failed_checks if c not in failed]
            reasons += [f"{what}: {r}" for r in report.reasons]
            seconds += report.seconds
    finally:
        for path in {built.master, built.clip, built.delivered}:
            if path is not None:
                Path(path).unlink(missing_ok=True)
    rejected = bool(failed)
    row.update(rejected=rejected, failed_checks=failed, reasons=reasons, crashes=crashes, seconds=round(seconds, 3))
    # a crash is never counted in the gate's favour: a good clip that crashes is a false reject, a
    # defective one a miss
    row["correct"] = (not rejected and not crashes) if recipe.label == "good" else (rejected and not crashes)
    return row


def run_set(workers: int | None = None, root: Path | None = None) -> list[dict[str, Any]]:
    """Every recipe built and scored (`workers` processes, default 2); rows in recipe order."""
    from benchmarks.heldout2.build import CACHE
    from benchmarks.heldout2.recipes import recipes

    names = [r.name for r in recipes()]
    workers = workers or int(os.environ.get("HELDOUT2_WORKERS", "2"))
    root = root or CACHE
    if workers <= 1:
        return [score_one(n, str(root)) for n in names]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(score_one, names, [str(root)] * len(names)))


def _rate(hits: int, n: int) -> float | None:
    return round(hits / n, 4) if n else None


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    good = [r for r in rows if r["label"] == "good"]
    bad = [r for r in rows if r["label"] == "defect"]
    visible = [r for r in bad if r["visible"]]
    families: dict[str, dict[str, Any]] = {}
    for fam in dict.fromkeys(r["family"] for r in bad):
        clips = [r for r in bad if r["family"] == fam]
        vis = [r for r in clips if r["visible"]]
        strengths: dict[str, dict[str, Any]] = {}
        for r in clips:
            s = strengths.setdefault(r["strength"], {"visible": r["visible"], "clips": 0, "rejected": 0})
            s["clips"] += 1
            s["rejected"] += int(r["correct"])
        for s in strengths.values():
            s["recall"] = _rate(s["rejected"], s["clips"])
        families[fam] = {
            "clips": len(clips),
            "rejected": sum(r["correct"] for r in clips),
            "recall": _rate(sum(r["correct"] for r in clips), len(clips)),
            "visible_clips": len(vis),
            "visible_rejected": sum(r["correct"] for r in vis),
            "visible_recall": _rate(sum(r["correct"] for r in vis), len(vis)),
            "strengths": strengths,
        }
    checks: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in rows:
        key = "good" if r["label"] == "good" else r["family"]
        for check in r["failed_checks"] or (["(crash)"] if r["crashes"] else ["(passed)"]):
            checks[key][check] += 1
    outcome = {
        kind: {"passed": sum(not r["rejected"] and not r["crashes"] for r in group),
               "rejected": sum(r["rejected"] for r in group),
               "crashed": sum(bool(r["crashes"]) and not r["rejected"] for r in group)}
        for kind, group in (("good", good), ("defect, visible", visible),
                            ("defect, not visible", [r for r in bad if not r["visible"]]))
    }  # fmt: skip
    good_passed = sum(r["correct"] for r in good)
    return {
        "clips": len(rows),
        "good_clips": len(good),
        "good_passed": good_passed,
        "good_pass_rate": _rate(good_passed, len(good)),
        "false_reject_rate": _rate(len(good) - good_passed, len(good)),
        "false_rejects": [r["name"] for r in good if not r["correct"]],
        "defective_clips": len(bad),
        "defective_rejected": sum(r["correct"] for r in bad),
        "defective_recall": _rate(sum(r["correct"] for r in bad), len(bad)),
        "visible_defective_clips": len(visible),
        "visible_rejected": sum(r["correct"] for r in visible),
        "visible_recall": _rate(sum(r["correct"] for r in visible), len(visible)),
        "missed_visible": [r["name"] for r in visible if not r["correct"]],
        "crashes": [r["name"] for r in rows if r["crashes"]],
        "families": families,
        "confusion": outcome,
        "checks_fired": {k: dict(v) for k, v in checks.items()},
        "gate_seconds_mean": round(sum(r["seconds"] for r in rows) / max(1, len(rows)), 3),
    }


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"


def markdown_table(summary: dict[str, Any]) -> str:
    """Set v2's numbers as markdown: headline rates, one row per family and strength, the confusions."""
    s = summary
    lines = [
        f"Good clips: {s['good_clips']}, passed {s['good_passed']} ({_pct(s['good_pass_rate'])}; false-reject "
        f"rate {_pct(s['false_reject_rate'])}). Defective clips: {s['defective_clips']}, rejected "
        f"{s['defective_rejected']} ({_pct(s['defective_recall'])}); visible at 1080p: "
        f"{s['visible_defective_clips']}, rejected {s['visible_rejected']} ({_pct(s['visible_recall'])}).",
        "",
        "| defect family | strength | visible at 1080p | clips | rejected | recall | family recall (visible) |",
        "|---|---|---|---|---|---|---|",
    ]
    for fam, f in s["families"].items():
        for strength, row in f["strengths"].items():
            lines.append(
                f"| {fam} | {strength} | {'yes' if row['visible'] else 'no'} | {row['clips']} | {row['rejected']} | "
                f"{_pct(row['recall'])} | {_pct(f['recall'])} ({_pct(f['visible_recall'])}) |"
            )
    lines += ["", "Confusion (clips by label and outcome):", "", "| label | passed | rejected | crashed |",
              "|---|---|---|---|"]  # fmt: skip
    for kind, row in s["confusion"].items():
        lines.append(f"| {kind} | {row['passed']} | {row['rejected']} | {row['crashed']} |")
    fired = sorted({c for row in s["checks_fired"].values() for c in row})
    lines += ["", "Checks that fired (clips per label x check; a clip can fire several):", ""]
    lines.append("| label | " + " | ".join(fired) + " |")
    lines.append("|---|" + "---|" * len(fired))
    for label, row in s["checks_fired"].items():
        lines.append(f"| {label} | " + " | ".join(str(row.get(c, "") or "") for c in fired) + " |")
    return "\n".join(lines)


def main(workers: int | None = None, results: Path = RESULTS) -> dict[str, Any]:
    started = time.perf_counter()
    rows = run_set(workers)
    summary = summarise(rows)
    summary["wall_s"] = round(time.perf_counter() - started, 1)
    summary["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version()}
    results.parent.mkdir(parents=True, exist_ok=True)
    tmp = results.with_suffix(".tmp")
    tmp.write_text(json.dumps({"summary": summary, "clips": rows}, indent=2) + "\n", encoding="utf-8")
    tmp.replace(results)
    results.with_suffix(".md").write_text(markdown_table(summary) + "\n", encoding="utf-8")
    return summary
