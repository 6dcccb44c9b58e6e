"""Framing: the subject the source photo shows stays inside every frame, with a margin.

Clips are rendered from drawn garment photos with known camera maps, so the evidence's frame -> photo
warps are exact (what the gate's alignment measures on a real clip)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from catalog_motion.images import subject_mask
from catalog_motion.presets import Preset, load_presets
from quality.drift import DriftResult
from quality.evidence import ClipEvidence
from quality.framing import PhotoSubject, evaluate, runs_to_border, subject_outside
from quality.io import fit_cover

N = 12


def hoodie_photo(width: int = 400, height: int = 500, *, span: float = 0.84, legs: bool = False) -> np.ndarray:
    """A 4:5 studio photo of a hoodie with outstretched sleeves spanning `span` of the width; `legs`
    adds trouser legs that run off the photo's bottom border (the photo itself cuts the subject)."""
    img = np.full((height, width, 3), 240, np.uint8)
    cx, w, h = width / 2, width, height
    s = span / 2 * w
    body = np.array(
        [
            [cx - 0.22 * w, 0.22 * h],
            [cx - s, 0.55 * h],
            [cx - s + 0.06 * w, 0.62 * h],
            [cx - 0.2 * w, 0.42 * h],
            [cx - 0.2 * w, 0.9 * h],
            [cx + 0.2 * w, 0.9 * h],
            [cx + 0.2 * w, 0.42 * h],
            [cx + s - 0.06 * w, 0.62 * h],
            [cx + s, 0.55 * h],
            [cx + 0.22 * w, 0.22 * h],
        ],
        np.int32,
    )
    cv2.fillPoly(img, [body], (60, 80, 140))
    cv2.ellipse(img, (int(cx), int(0.2 * h)), (int(0.12 * w), int(0.1 * h)), 0, 0, 360, (60, 80, 140), -1)
    if legs:
        for x in (cx - 0.12 * w, cx + 0.05 * w):
            cv2.rectangle(img, (int(x), int(0.88 * h)), (int(x + 0.07 * w), h), (50, 50, 60), -1)
    garment = img[..., 0] < 200
    weave = np.random.default_rng(0).normal(0, 8, img.shape)
    return np.where(garment[..., None], np.clip(img + weave, 0, 255), img).astype(np.uint8)


def push_in_warps(zoom: float, size: tuple[int, int], init: np.ndarray) -> list[np.ndarray]:
    """Frame -> photo maps of a push-in by `zoom` toward the frame centre, from the cover framing."""
    w, h = size
    cx, cy = (w - 1) / 2, (h - 1) / 2
    out = []
    for i in range(N):
        s = 1.0 / (1 + zoom * i / (N - 1))
        zoomed = np.array([[s, 0, cx - s * cx], [0, s, cy - s * cy], [0, 0, 1]])
        out.append((np.vstack([init, [0, 0, 1]]) @ zoomed)[:2].astype(np.float32))
    return out


def evidence(photo: np.ndarray, preset: Preset, zoom: float = 0.0) -> ClipEvidence:
    w, h = preset.width, preset.height
    photo_work, init, mismatch = fit_cover(photo, w, h)
    mask = (subject_mask(photo_work) > 0.5).astype(np.float32)
    drift = DriftResult()
    frames = []
    for i, warp in enumerate(push_in_warps(zoom, (w, h), init)):
        drift.frames.append(i)
        drift.warps.append(warp)
        frames.append(cv2.warpAffine(photo_work, warp, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP))
    return ClipEvidence(
        preset=preset,
        fps=float(preset.fps),
        frames=np.stack(frames),
        black=[False] * N,
        width=w,
        height=h,
        photo=photo,
        photo_work=photo_work,
        mask_work=mask,
        subject_coverage=float(mask.mean()),
        aspect_mismatch=mismatch,
        drift=drift,
    )


@pytest.fixture(scope="module")
def presets() -> dict[str, Preset]:
    packaged = load_presets()
    sizes = {"social": (144, 256), "product-page": (192, 240), "close-up": (192, 192)}
    return {name: packaged[name].model_copy(update={"width": w, "height": h}) for name, (w, h) in sizes.items()}


def test_subject_outside_counts_points_past_the_inner_band():
    # 10x10 frame, 10 % margin of the short side: the inner band is x, y in [0.5, 8.5]
    points = np.array([[5, 5], [0, 5], [9, 5], [5, 9.2], [4, 4]], np.float64)
    fraction, side = subject_outside(points, (10, 10), 0.1)
    assert fraction == pytest.approx(3 / 5)
    assert side in ("left", "right", "bottom")
    assert subject_outside(points, (10, 10), 0.0) == (0.0, "")  # every point is on a pixel of the frame
    # leaving by a side the photo already cut does not count
    cut = np.zeros((5, 4), bool)
    cut[:, 0] = True  # left
    fraction, side = subject_outside(points[:2], (10, 10), 0.1, cut[:2])
    assert (fraction, side) == (0.0, "")
    assert subject_outside(np.empty((0, 2)), (10, 10), 0.1) == (0.0, "")


def test_runs_to_border_marks_what_the_photo_itself_cut():
    mask = np.zeros((12, 12), bool)
    mask[4:11, 4:7] = True  # a leg running off the bottom (its last row lost to the mask's clean-up)
    mask[3, 3:9] = True  # a bar across it that does not
    runs = runs_to_border(mask)
    assert runs["bottom"][4:11, 4:7].all() and runs["bottom"][3, 4:7].all()  # the bar's part over the leg
    assert not runs["bottom"][3, [3, 7, 8]].any()
    assert not runs["left"].any() and not runs["top"].any() and not runs["right"].any()


def test_hoodie_cover_cropped_to_9_16_fails_framing(presets):
    # A 4:5 photo cover-cropped to 9:16 loses 15 % of its width each side: the sleeves are outside in
    # every frame, however the camera moves.
    report = evaluate(evidence(hoodie_photo(), presets["social"], zoom=0.05))
    assert [f.check for f in report.findings] == ["framing"]
    per_frame = report.per_frame["framing_outside"]
    assert min(per_frame) > report.limits["max_subject_outside"]  # every frame
    finding = report.findings[0]
    assert finding.value == pytest.approx(max(per_frame)) and finding.value > 0.03
    assert finding.frame == N - 1  # the push-in cuts deepest at its end
    assert "left side" in finding.reason or "right side" in finding.reason
    assert finding.reason.startswith("framing: subject area outside the frame")
    assert "limit 0.02" in finding.reason and f"at frame {N - 1}" in finding.reason


def test_push_in_that_keeps_the_subject_inside_passes(presets):
    report = evaluate(evidence(hoodie_photo(), presets["product-page"], zoom=0.08))
    assert report.findings == []
    assert report.scores["framing_outside"] == 0.0
    # the same push-in, pushed much further, cuts the hood and hem: the check sees it
    deep = evaluate(evidence(hoodie_photo(), presets["product-page"], zoom=0.4))
    assert [f.check for f in deep.findings] == ["framing"]


def test_close_up_crops_the_subject_on_purpose(presets):
    report = evaluate(evidence(hoodie_photo(), presets["close-up"], zoom=0.4))
    assert report.scores["framing_outside"] > 0.05  # measured, reported ...
    assert report.findings == []  # ... but a detail crop is what the preset asked for
    not_detail = presets["close-up"].model_copy(
        update={"motion": presets["close-up"].motion.model_copy(update={"focus": "subject"})}
    )
    assert [f.check for f in evaluate(evidence(hoodie_photo(), not_detail, zoom=0.4)).findings] == ["framing"]


def test_subject_cut_by_the_photos_own_border_passes(presets):
    # The legs run off the photo's bottom: the frame's bottom edge (and margin, and a push-in that
    # crops a little more of them) cuts only what the photo already cut.
    photo = hoodie_photo(legs=True)
    ev = evidence(photo, presets["product-page"], zoom=0.08)
    assert 0.05 < ev.mask_work.mean() < 0.5  # the studio mask found the subject, legs included
    assert ev.mask_work[-1].any()
    report = evaluate(ev)
    assert report.findings == [], [f.reason for f in report.findings]
    # without the exemption the same frames would fail, by the bottom
    subject = PhotoSubject(ev.mask_work)
    fraction, side, _ = subject.outside(ev.warp_at(N - 1), ev.size, 0.02, photo_cut=False)
    assert fraction > 0.01 and side == "bottom"


def test_no_studio_subject_means_nothing_to_frame(presets):
    ev = evidence(hoodie_photo(), presets["social"])
    ev.mask_work = np.ones_like(ev.mask_work)  # the gate's "compare the whole view" mask
    report = evaluate(ev)
    assert report.findings == [] and report.scores["framing_outside"] == 0.0


def test_framing_costs_little_per_clip(presets):
    import time

    ev = evidence(hoodie_photo(640, 800), presets["social"].model_copy(update={"width": 180, "height": 320}))
    ev.drift.frames = list(range(24))
    ev.drift.warps = ev.drift.warps + [ev.drift.warps[-1]] * (24 - N)
    started = time.perf_counter()
    evaluate(ev)
    assert time.perf_counter() - started < 0.1  # 24 sampled frames at 180x320 work size: ~15 ms


def test_the_gate_reports_framing_on_real_clips(tmp_path, presets):
    # end to end: clips rendered by a camera over the photo, the warps measured by the gate's alignment
    from PIL import Image

    from catalog_motion.media import write_master
    from quality.gate import check_clip
    from quality.synthetic import camera_frames

    photo = hoodie_photo(480, 600)
    photo_path = tmp_path / "hoodie.png"
    Image.fromarray(photo).save(photo_path)

    def gate(preset: Preset, zoom: float, name: str):
        frames = camera_frames(photo, preset.width, preset.height, 24, zoom=zoom)
        clip = write_master(frames, tmp_path / f"{name}.mkv", preset.fps)
        return check_clip(photo_path, clip, preset.model_copy(update={"duration_s": 24 / preset.fps}))

    social = gate(presets["social"], 0.05, "social")
    assert "framing" in social.failed_checks, social.reasons
    reason = next(r for r in social.reasons if r.startswith("framing:"))
    assert "side" in reason and "limit" in reason and "at frame" in reason
    assert social.scores["framing_outside"] > 0.03 and social.limits["max_subject_outside"] == 0.02
    page = gate(presets["product-page"], 0.08, "page")
    assert "framing" not in page.failed_checks and page.scores["framing_outside"] < 0.01, page.reasons
    close = gate(presets["close-up"], 0.4, "close")
    assert "framing" not in close.failed_checks and close.scores["framing_outside"] > 0.01


def _wide_garment_social_clip(tmp_path, cut: float):
    """A social (9:16) clip, small, of a wide garment whose narrow outstretched sleeves stick out of the
    frame by `cut` of the garment's width on each side in every frame (negative: room to spare)."""
    from PIL import Image

    from catalog_motion.media import MasterClipWriter
    from quality.calibration import preset_recipe
    from quality.synthetic import MotionRecipe, SceneRenderer, clean_plate, draw_wide_garment_photo, garment_mask

    social = load_presets()["social"]
    preset = social.model_copy(
        update={
            "width": 112,
            "height": 200,
            "fps": 24,
            "duration_s": 1.0,
            "motion": social.motion.model_copy(update={"amount": social.motion.amount * 0.25}),
        }
    )
    pw, ph = 320, 400
    start_zoom = 1 + 0.2 * preset.motion.amount
    shown = (112 / 200) / (pw / ph) / start_zoom  # share of the photo's width the frame shows
    photo = draw_wide_garment_photo(pw, ph, seed=4, reach=shown / (1 - 2 * cut))
    mask = garment_mask(photo)
    recipe = MotionRecipe(**{**preset_recipe(preset, (0.5, 0.5)).__dict__, "sway": 0.02})
    renderer = SceneRenderer(photo, mask, recipe, 112, 200, 24, plate=clean_plate(photo, mask))
    photo_path, clip = tmp_path / f"wide-{cut}.png", tmp_path / f"wide-{cut}.nut"
    Image.fromarray(photo).save(photo_path)
    with MasterClipWriter(clip, 112, 200, 24) as writer:
        for frame in renderer:
            writer.write(frame)
    return photo_path, clip, preset


def test_sleeve_tips_cut_off_in_every_frame_fail_on_reach_not_area(tmp_path):
    # the sleeves are narrow: 1.5 % of the garment's area is outside (under the 2 % area limit, which
    # passed it before), but they reach 10 % of the garment's width past the frame's inner band
    from quality.gate import check_clip

    photo, clip, preset = _wide_garment_social_clip(tmp_path, 0.04)
    report = check_clip(photo, clip, preset)
    assert report.scores["framing_outside"] < preset.qc.max_subject_outside
    assert "framing" in report.failed_checks, report.reasons
    reason = next(r for r in report.reasons if r.startswith("framing:"))
    assert "cut off by the frame" in reason and "limit 0.09" in reason and "at frame" in reason
    assert report.limits["max_subject_overhang"] == preset.qc.max_subject_overhang

    photo, clip, preset = _wide_garment_social_clip(tmp_path, -0.04)  # the same garment, whole in frame
    report = check_clip(photo, clip, preset)
    assert "framing" not in report.failed_checks, report.reasons
