"""The builder's own check that each defect is where its recipe says, by pixel comparison with the
defect-free scene (`Recipe.base`) - never by the gate. One number per recipe, in the recipe's own unit
(Lab units, px at 1080p, grey levels, % brightness, frames), written to qc_heldout2_validation.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from skimage.color import deltaE_ciede2000, rgb2lab

from benchmarks.heldout2 import effects as E
from benchmarks.heldout2.recipes import Recipe, recipes
from benchmarks.heldout2.render import FrameContext

ROOT = Path(__file__).resolve().parents[2]
VALIDATION = ROOT / "benchmarks" / "results" / "qc_heldout2_validation.json"


def shown_frame(recipe: Recipe, n_frames: int) -> int:
    return min(n_frames - 1, int(recipe.shown * n_frames))


def _shift_px(a: np.ndarray, b: np.ndarray) -> float:
    """How far b's picture is displaced from a's (phase correlation on grey, px)."""
    ga, gb = (cv2.cvtColor(x, cv2.COLOR_RGB2GRAY).astype(np.float32) for x in (a, b))
    (dx, dy), _ = cv2.phaseCorrelate(ga, gb)
    return float(np.hypot(dx, dy))


def _luma(x: np.ndarray) -> float:
    return float(cv2.cvtColor(x, cv2.COLOR_RGB2GRAY).mean())


def evidence(recipe: Recipe) -> dict[str, Any]:
    """The defect's measured size at its shown frame, against the same frame of its good scene."""
    clip = recipe.make().clip
    base = recipe.base().clip
    n = clip.n_frames
    i = shown_frame(recipe, n)
    frame, ref = clip.render(i), base.render(min(i, base.n_frames - 1))
    sub = base.render_layers(base.t(min(i, base.n_frames - 1)))[1]() > 0.95
    diff = np.abs(frame.astype(np.float32) - ref.astype(np.float32))
    out: dict[str, Any] = {"frame": i, "mean_abs_diff": round(float(diff.mean()), 3)}
    fam = recipe.family
    if fam in ("colour_drift", "combined_drift"):
        step = 4  # every 4th subject pixel is plenty for a mean
        de = deltaE_ciede2000(rgb2lab(ref[::step, ::step]), rgb2lab(frame[::step, ::step]))
        out["subject_dE2000"] = round(float(de[sub[::step, ::step]].mean()), 2)
    if fam in ("morph", "print_melt", "boiling", "glitch", "combined_drift"):
        out["subject_mean_abs_diff"] = round(float(diff[sub].mean()), 2)
    if fam == "boiling":
        out["subject_noise_std"] = round(float((frame.astype(np.float32) - ref)[sub].std()), 2)
    if fam == "hard_cut":
        cut = next(j for j in range(n) if clip.t(j) >= 0.5)
        out["cut_frame"] = cut
        out["jump_px"] = round(_shift_px(clip.render(cut - 1), clip.render(cut)), 1)
        out["good_step_px"] = round(_shift_px(base.render(cut - 1), base.render(cut)), 1)
    if fam == "loop_seam":
        out["seam_px"] = round(_shift_px(clip.render(n - 1), clip.render(0)), 1)
        out["good_seam_px"] = round(_shift_px(base.render(n - 1), base.render(0)), 1)
    if fam == "framing":
        a = clip.render_layers(clip.t(i))[1]()
        p = clip.product
        whole = float(p.alpha.sum()) * clip.camera(clip.t(i)).scale ** 2
        out["garment_outside_frame"] = round(1.0 - float(a.sum()) / whole, 3)
    if fam in ("still_noise", "too_much_motion"):  # change from the first frame (zooms and sways too)
        first, good_first = clip.render(0).astype(np.float32), base.render(0).astype(np.float32)
        out["change_from_first"] = round(float(np.abs(frame - first).mean()), 2)
        out["good_change_from_first"] = round(float(np.abs(ref - good_first).mean()), 2)
    if fam == "print_melt":
        rect = E._print_rect(FrameContext(i, clip.t(i), frame, lambda: sub, clip))
        if rect:
            u0, v0, u1, v1 = rect
            inside = np.zeros(sub.shape, bool)
            inside[v0:v1, u0:u1] = True
            out["print_region_mean_abs_diff"] = round(float(diff[inside].mean()), 2)
            if (~inside).any():
                out["outside_print_mean_abs_diff"] = round(float(diff[~inside].mean()), 3)
    if fam == "flicker":  # frame-to-frame brightness changes over the first second, in %
        lum = np.array([_luma(clip.render(j)) for j in range(0, int(clip.fps))])
        good = np.array([_luma(base.render(j)) for j in range(0, int(clip.fps))])
        out["brightness_step_pct"] = round(float(np.abs(np.diff(lum / lum.mean())).max() * 100), 2)
        out["good_brightness_step_pct"] = round(float(np.abs(np.diff(good / good.mean())).max() * 100), 2)
    if fam in ("flashes", "black_frozen"):
        out["brightness_vs_good"] = round(_luma(frame) / max(1e-6, _luma(ref)), 3)
    if fam == "black_frozen" and recipe.strength.startswith("frozen"):
        out["held_frame_diff"] = round(float(np.abs(clip.render(i).astype(int) - clip.render(i + 1)).mean()), 3)
    return out


def validate(names: list[str] | None = None, path: Path = VALIDATION) -> dict[str, dict[str, Any]]:
    """Evidence for every defect recipe with frames (not the broken files, not delivery-only defects,
    whose evidence is the encode's frame count and PSNR recorded when scored)."""
    out = {}
    for r in recipes():
        if r.label != "defect" or r.base is None or r.family in ("delivered", "short_clip"):
            continue
        if names and r.name not in names:
            continue
        out[r.name] = evidence(r)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    return out


def problems(found: dict[str, dict[str, Any]]) -> list[str]:
    """Recipes whose clip does not show the defect its recipe says (empty: the builder is right)."""
    bad: list[str] = []
    if len(found) < 40:
        bad.append(f"only {len(found)} defects measured")
    for name, ev in found.items():
        checks = [ev["mean_abs_diff"] > 0.0 or "brightness_step_pct" in ev]
        if "subject_dE2000" in ev:
            checks.append(ev["subject_dE2000"] > 1.0)
        if "print_region_mean_abs_diff" in ev:
            checks.append(ev["print_region_mean_abs_diff"] > 3 * ev.get("outside_print_mean_abs_diff", 0.0))
        if "jump_px" in ev:
            checks.append(ev["jump_px"] >= 2.5 and ev["good_step_px"] < 1.5)
        if "seam_px" in ev:
            checks.append(ev["seam_px"] >= 2.5 and ev["good_seam_px"] < 1.0)
        if "brightness_step_pct" in ev:
            checks.append(ev["brightness_step_pct"] > 5 * ev["good_brightness_step_pct"])
        if "garment_outside_frame" in ev:
            checks.append(ev["garment_outside_frame"] > 0.0)
        if name.startswith("still_noise"):
            checks.append(ev["change_from_first"] < ev["good_change_from_first"])  # only its noise changes
        if "held_frame_diff" in ev:
            checks.append(ev["held_frame_diff"] == 0.0)
        if not all(checks):
            bad.append(name)
    return bad
