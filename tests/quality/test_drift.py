"""Drift and full-resolution detail (quality/drift.py): combined components, worst-window drift, the
detail check, close-up registration, smooth deformation allowed, robust to delivery compression."""

from __future__ import annotations

import subprocess

import cv2
import numpy as np
import pytest
from PIL import Image

from catalog_motion.media import ffmpeg_exe, write_master
from catalog_motion.presets import load_presets
from quality import drift
from quality.calibration import _bump_warp, _lab_shift, _move, _ramp, _smear, _sway, preset_recipe
from quality.gate import gather_evidence
from quality.synthetic import (
    MotionRecipe,
    SceneRenderer,
    camera_frames,
    clean_plate,
    draw_fabric_garment,
    draw_garment_photo,
    floral_tile,
    garment_mask,
)


@pytest.fixture(scope="module")
def presets():
    return load_presets()


def _preset(presets, name="product-page", **update):
    base = presets[name]
    update.setdefault("loop", False)
    return base.model_copy(update=update)


def _score(tmp_path, photo, frames, preset, fps=24):
    photo_path = tmp_path / "photo.png"
    Image.fromarray(photo).save(photo_path)
    clip = write_master([np.ascontiguousarray(f) for f in frames], tmp_path / "clip.nut", fps)
    evidence, _ = gather_evidence(photo_path, clip, preset)
    return drift.evaluate(evidence)


def _checks(result):
    return [f.check for f in result.findings]


def floral_photo(width: int, height: int, seed: int = 5, tile_frac: float = 0.15) -> np.ndarray:
    """A dress printed with a large repeating floral tile (exact repeats: ambiguous for feature matching)."""
    rng = np.random.default_rng(seed)
    t = max(16, int(width * tile_frac))
    cloth = floral_tile(width, height, rng, t)
    mask = np.zeros((height, width), np.uint8)
    cv2.ellipse(mask, (width // 2, int(height * 0.55)), (int(width * 0.42), int(height * 0.43)), 0, 0, 360, 255, -1)
    m = cv2.GaussianBlur(mask.astype(np.float32) / 255, (0, 0), 1.0)[..., None]
    return np.clip(244 * (1 - m) + cloth * m, 0, 255).astype(np.uint8)


def closeup_frames(photo, size, n, focus, z0=1.12, push=0.12):
    """A close-up: starts tight on a detail (zoom z0 over a cover crop) and pushes in by `push`."""
    ph, pw = photo.shape[:2]
    base = max(size / pw, size / ph)
    frames = []
    for i in range(n):
        p = 0.5 - 0.5 * np.cos(np.pi * i / (n - 1))
        scale = base * z0 * (1 + push * p)
        tx = min(0.0, max(size - pw * scale, size / 2 - focus[0] * pw * scale))
        ty = min(0.0, max(size - ph * scale, size / 2 - focus[1] * ph * scale))
        m = np.array([[scale, 0, tx], [0, scale, ty]], np.float32)
        frames.append(cv2.warpAffine(photo, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT))
    return frames


# --- 1. combined drift ---------------------------------------------------------------------------


def test_components_combine_so_moderate_drift_everywhere_fails(presets):
    th = presets["product-page"].qc
    moderate = {"structure": 0.18, "colour": 0.17, "texture": 0.16, "deformation": 0.0, "learned": 0.0, "shear": 0.0}
    combined = drift.combine(moderate, th.drift_combine_p)
    assert max(moderate.values()) < th.max_subject_drift < combined  # today: max = 0.18 passes
    assert drift.dominant(moderate, th.drift_combine_p) == ["structure", "colour", "texture"]
    alone = {**dict.fromkeys(moderate, 0.0), "colour": 0.2}
    assert drift.combine(alone, th.drift_combine_p) == pytest.approx(0.2)  # one component keeps its value


def test_moderately_off_subject_fails_with_its_dominant_components(tmp_path, presets):
    photo = draw_garment_photo(384, 480, seed=3)
    mask = garment_mask(photo)
    # slightly recoloured (median dE 2.5) and a slightly softened print: neither fails alone
    changed = cv2.GaussianBlur(_lab_shift(photo, mask, 2.5), (0, 0), 2.1)
    frames = camera_frames(changed, 192, 240, 24, zoom=0.1)
    result = _score(tmp_path, photo, frames, _preset(presets, width=192, height=240, duration_s=1.0))
    scores = result.scores
    components = [scores[f"drift_{c}"] for c in ("structure", "colour", "texture")]
    assert max(components) < 0.25 < scores["drift"], scores
    reason = next(f.reason for f in result.findings if f.check == "drift")
    assert reason.startswith("drift: subject drift (") and "limit 0.25" in reason
    assert "colour 0." in reason and "texture 0." in reason, reason


# --- 2. worst-window drift -----------------------------------------------------------------------


@pytest.mark.parametrize(("glitch", "fails"), [(range(19, 24), True), (range(21, 22), False)])
def test_brief_glitch_counts_but_one_odd_frame_does_not(tmp_path, presets, glitch, fails):
    photo = draw_garment_photo(384, 480, seed=3)
    other = draw_garment_photo(384, 480, seed=11)
    frames = camera_frames(photo, 192, 240, 48, zoom=0.1)
    wrong = camera_frames(other, 192, 240, 48, zoom=0.1)
    for i in glitch:  # 5 frames (0.21 s) of another garment, or a single odd frame
        frames[i] = wrong[i]
    preset = _preset(presets, width=192, height=240, duration_s=2.0)
    preset = preset.model_copy(update={"qc": preset.qc.model_copy(update={"drift_sample_frames": 12})})
    result = _score(tmp_path, photo, frames, preset)
    assert 21 in result.per_frame["drift_frame"]  # the glitch hits one regular sample (every ~4 frames)
    assert ("drift" in _checks(result)) is fails, result.scores
    assert result.scores["drift_peak"] > 0.5  # the sample saw it either way
    assert result.scores["drift_confirm_frames"] >= 2  # its neighbours were scored to confirm it


# --- 3. detail at full resolution ------------------------------------------------------------------


@pytest.fixture(scope="module")
def big_photo():
    return draw_garment_photo(1080, 1350, seed=3)


def test_smeared_logo_fails_detail_at_full_resolution(tmp_path, presets, big_photo):
    smeared = _smear(big_photo, garment_mask(big_photo), 6)  # a 13 px drip at 1080 px: 3 px at work size
    frames = camera_frames(smeared, 1080, 1350, 12, zoom=0.1)
    result = _score(tmp_path, big_photo, frames, _preset(presets, duration_s=0.5))
    assert "drift" not in _checks(result)  # the 256x320 work frames hide it
    assert "detail" in _checks(result), result.scores
    reason = next(f.reason for f in result.findings if f.check == "detail")
    assert reason.startswith("detail: fine detail lost at full resolution") and "at frame" in reason


def test_blurred_print_fails_detail(tmp_path, presets, big_photo):
    region = np.zeros(big_photo.shape[:2], np.float32)
    cv2.ellipse(region, (540, 702), (300, 200), 0, 0, 360, 1.0, -1)
    region = cv2.GaussianBlur(region, (0, 0), 10)[..., None]
    blurred = (big_photo * (1 - region) + cv2.GaussianBlur(big_photo, (0, 0), 4.0) * region).astype(np.uint8)
    result = _score(
        tmp_path, big_photo, camera_frames(blurred, 1080, 1350, 12, zoom=0.1), _preset(presets, duration_s=0.5)
    )
    assert _checks(result) == ["detail"], result.scores


def test_soft_rerender_compressed_and_zoomed_passes_detail(tmp_path, presets, big_photo):
    frames = [cv2.GaussianBlur(f, (0, 0), 1.5) for f in camera_frames(big_photo, 1080, 1350, 12, zoom=0.3)]
    master = write_master(frames, tmp_path / "soft.nut", 24)
    encoded = tmp_path / "soft.mp4"
    cmd = [ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(master), "-c:v", "libx264", "-pix_fmt", "yuv420p"]
    subprocess.run([*cmd, "-crf", "26", "-preset", "veryfast", str(encoded)], check=True)
    photo_path = tmp_path / "photo.png"
    Image.fromarray(big_photo).save(photo_path)
    evidence, _ = gather_evidence(photo_path, encoded, _preset(presets, duration_s=0.5))
    result = drift.evaluate(evidence)
    assert result.findings == [], result.scores
    assert 0.0 < result.scores["detail"] < 0.5 * result.limits["detail"]


# --- 4. close-up registration ------------------------------------------------------------------------


def test_closeup_push_in_on_a_floral_print_passes(tmp_path, presets):
    photo = floral_photo(768, 960)
    preset = _preset(presets, "close-up", width=320, height=320, duration_s=1.0)
    result = _score(tmp_path, photo, closeup_frames(photo, 320, 24, (0.4, 0.6)), preset)
    assert result.findings == [], result.scores  # today: "subject drift 1.00" at frame 0
    assert result.scores["alignment_min"] > 0.9 and result.scores["drift"] < 0.15


# --- 5. smooth, anchored deformation passes; a local bump fails ----------------------------------


@pytest.fixture(scope="module")
def small_photo():
    return draw_garment_photo(384, 480, seed=3)


@pytest.mark.parametrize("amount", [0.03, 0.04])
def test_anchored_sway_of_a_few_percent_passes(tmp_path, presets, small_photo, amount):
    frames = _move(_sway(small_photo, garment_mask(small_photo), 24, amount), 192, 240, 0.05)
    result = _score(tmp_path, small_photo, frames, _preset(presets, width=192, height=240, duration_s=1.0))
    assert result.findings == [], result.scores  # today: deformation alone reaches 0.75-1.0
    assert 0.0 < result.scores["drift_deformation"] < 0.15


def test_local_bump_on_the_print_fails(tmp_path, presets, small_photo):
    mask = garment_mask(small_photo)
    frames = _move(_ramp(small_photo, lambda t: _bump_warp(small_photo, mask, 0.06 * t), 24), 192, 240)
    result = _score(tmp_path, small_photo, frames, _preset(presets, width=192, height=240, duration_s=1.0))
    assert "drift" in _checks(result)
    assert "deformation" in next(f.reason for f in result.findings if f.check == "drift")


def test_smooth_part_explains_anchored_sway_not_a_bump():
    h, w = 120, 100
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    mask = np.ones((h, w), np.float32)
    sway = np.dstack([4.0 * yy / h, np.zeros_like(yy)])  # grows from the shoulders to the hem
    bump = np.exp(-((xx - 50) ** 2 + (yy - 60) ** 2) / (2 * 8.0**2))
    local = np.dstack([4.0 * bump, 2.0 * bump]).astype(np.float32)
    assert np.abs(sway - drift.smooth_part(sway, mask)).max() < 1e-3
    assert np.hypot(*(local - drift.smooth_part(local, mask)).transpose(2, 0, 1)).max() > 2.5


# --- 6. robust to delivery compression -----------------------------------------------------------------


def test_crf20_encode_scores_drift_near_its_master(tmp_path, presets, big_photo):
    preset = _preset(presets, duration_s=1.0)
    photo_path = tmp_path / "photo.png"
    Image.fromarray(big_photo).save(photo_path)
    master = write_master(camera_frames(big_photo, 1080, 1350, 24, zoom=0.15), tmp_path / "m.nut", 24)
    encoded = tmp_path / "e.mp4"
    subprocess.run(
        [ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(master), "-c:v", "libx264", "-pix_fmt", "yuv420p"]
        + ["-crf", "20", "-preset", "veryfast", str(encoded)],
        check=True,
    )
    scores = [drift.evaluate(gather_evidence(photo_path, p, preset)[0]).scores for p in (master, encoded)]
    keys = ("drift", "drift_structure", "drift_colour", "drift_texture", "colour_de")
    shown = [{k: round(s[k], 3) for k in keys} for s in scores]
    assert scores[1]["drift"] <= 2.5 * scores[0]["drift"], shown  # today: 3.5x here (colour), ~6x on 4 s
    assert scores[1]["drift_colour"] < 0.02
    assert scores[1]["drift"] < 0.5 * preset.qc.max_subject_drift


# --- 7. frames that show more than the photo (an engine zoomed out past it) --------------------------------


def _camera_clip(tmp_path, photo, preset):
    """The real `camera` engine's master of `photo` for `preset`, and its framing record."""
    from generation.base import GenerationRequest
    from generation.registry import get_engine

    source = tmp_path / "source.png"
    Image.fromarray(photo).save(source)
    ref = get_engine("camera").generate(
        GenerationRequest(source_path=str(source), preset=preset, seed=0, out_path=str(tmp_path / "camera.nut"))
    )
    return ref.path, ref.params["framing"]


@pytest.fixture(scope="module")
def sleeves_photo():
    """A drawn garment whose sleeves reach the photo's left and right sides: every contain-framed clip
    zooms out past the photo and shows a band of extended backdrop."""
    photo = draw_garment_photo(384, 480, seed=3)
    cols = np.nonzero(garment_mask(photo).any(axis=0))[0]
    assert cols[0] <= 2 and cols[-1] >= photo.shape[1] - 3
    return photo


ZOOMED_OUT = {
    "product-page": ("product-page", 432, 540, None),  # 4:5 breathing loop, zoom-out ~1.11
    "social": ("social", 306, 544, None),  # 9:16 parallax orbit, zoom-out ~2
    "push-in": ("product-page", 432, 540, "push_in"),  # a subject push-in, zoom-out ~1.3
}


def _zoomed_out_preset(presets, case):
    name, w, h, path = ZOOMED_OUT[case]
    update = {"width": w, "height": h, "duration_s": 1.5}
    if path:
        update["motion"] = presets[name].motion.model_copy(update={"path": path, "amount": 0.35, "focus": "subject"})
        update["loop"] = False
    return presets[name].model_copy(update=update)


@pytest.mark.parametrize("case", sorted(ZOOMED_OUT))
def test_camera_clips_zoomed_out_past_the_photo_pass_drift_and_detail(tmp_path, presets, sleeves_photo, case):
    preset = _zoomed_out_preset(presets, case)
    clip, framing = _camera_clip(tmp_path, sleeves_photo, preset)
    assert framing["fit"] == "contain" and framing["revealed"] and framing["zoom_out"] > 1.05, framing
    evidence, _ = gather_evidence(tmp_path / "source.png", clip, preset)
    result = drift.evaluate(evidence)
    # before: product-page drift 0.98 (texture, deformation, shear 0.44: ECC fitted a 1.107 x 0.998 scale)
    # and detail 0.31; a push-in drift 0.11
    assert result.findings == [], result.scores
    assert result.scores["drift"] < 0.1 and result.scores["detail"] < 0.05, result.scores
    assert result.scores["alignment_min"] > 0.98
    assert max(evidence.drift.shear) < 0.02  # the frame's own scale, not an anisotropic fit of it
    scale = np.sqrt(abs(np.linalg.det(evidence.drift.warps[0][:, :2])))
    assert scale > 1.05  # the first registration found the zoomed-out placement (frame px -> photo px)


def test_zoomed_out_clip_with_a_colour_shift_still_fails_drift(tmp_path, presets, sleeves_photo):
    preset = _zoomed_out_preset(presets, "product-page")
    shifted = _lab_shift(sleeves_photo, garment_mask(sleeves_photo), 8.0)  # median dE 8 on the garment
    clip, framing = _camera_clip(tmp_path, shifted, preset)
    assert framing["revealed"], framing
    photo_path = tmp_path / "photo.png"
    Image.fromarray(sleeves_photo).save(photo_path)
    result = drift.evaluate(gather_evidence(photo_path, clip, preset)[0])
    assert "drift" in _checks(result), result.scores
    assert "colour" in next(f.reason for f in result.findings if f.check == "drift")
    assert result.scores["alignment_min"] > 0.95  # failed for its colour, not for a lost alignment


def test_template_search_finds_a_frame_that_shows_the_photo_smaller():
    from quality.align import _template_inits

    photo = cv2.cvtColor(draw_garment_photo(256, 320, seed=3), cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    # the photo shown at 0.6x in the middle of a frame of its own size, on a flat backdrop like its border
    true = np.float32([[1 / 0.6, 0, -60], [0, 1 / 0.6, -80]])  # frame -> photo
    frame = cv2.warpAffine(
        photo, true, (256, 320), flags=cv2.INTER_AREA | cv2.WARP_INVERSE_MAP, borderValue=float(photo[0, 0])
    )
    best = _template_inits(frame, photo)[0]
    assert best[0, 0] == pytest.approx(1 / 0.6, rel=0.05)
    centre = best @ np.array([128.0, 160.0, 1.0])
    assert np.allclose(centre, true @ np.array([128.0, 160.0, 1.0]), atol=6.0), best


# --- 7. fine repetitive fabric, hem swing and parallax: good motion passes --------------------------------


def fabric_clip(fabric: str, preset, n: int, **motion) -> tuple[np.ndarray, list[np.ndarray]]:
    """(photo, frames): the drawn garment in `fabric`, moved by `preset`'s camera path and `motion`
    (garment sway, hem swing, parallax), as the calibration set renders it."""
    w, h = preset.width, preset.height
    photo, mask = draw_fabric_garment(int(w * 1.25) // 2 * 2, int(h * 1.25) // 2 * 2, fabric, spread=0.8)
    recipe = MotionRecipe(**{**preset_recipe(preset, (0.5, 0.5)).__dict__, **motion})
    renderer = SceneRenderer(photo, mask, recipe, w, h, n, plate=clean_plate(photo, mask))
    return photo, list(renderer)


def test_knit_hem_swing_passes_detail_at_full_resolution(tmp_path, presets):
    preset = _preset(presets, duration_s=1.0)
    photo, frames = fabric_clip("knit", preset, 24, sway=0.035, hem_wave=0.01)
    result = _score(tmp_path, photo, frames, preset)
    # today 0.17 here (0.27 on the 4 s clip: rejected): patches were registered by a translation only,
    # and a swinging hem stretches and turns them
    assert result.findings == [] and result.scores["detail"] < 0.1, result.scores


def test_fine_texture_blocks_are_told_from_print_and_edges():
    photo, mask = draw_fabric_garment(432, 540, "check", spread=0.8)
    gray = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    small = cv2.resize(gray, (216, 270), interpolation=cv2.INTER_AREA)  # checks ~4 px: at the work size
    fine = drift.fine_blocks(small)
    inner = cv2.erode(mask.astype(np.uint8), np.ones((41, 41), np.uint8))[::2, ::2]
    inside = drift._block_sums(inner.astype(np.float32)) >= drift.BLOCK**2
    assert fine[inside].mean() > 0.9  # the checks inside the garment
    logo = draw_garment_photo(432, 540, seed=3)  # a text logo, a ring and stripes: not fine texture
    logo_y = cv2.resize(cv2.cvtColor(logo, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0, (216, 270))
    assert drift.fine_blocks(logo_y).mean() < 0.2


def test_patch_registration_absorbs_a_smooth_bend_not_a_smear():
    rng = np.random.default_rng(1)
    window = cv2.GaussianBlur(rng.random((160, 160)).astype(np.float32), (0, 0), 2.0)
    bend = np.float32([[1.04, 0.03, 30.0], [-0.02, 0.98, 34.0]])  # a hem's local stretch and turn
    patch = cv2.warpAffine(window, bend, (96, 96), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
    found = drift.register_patch(patch, window, 32, 32, affine=True)
    assert np.abs(found - bend).max() < 0.05
    back = cv2.warpAffine(window, found, (96, 96), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
    assert max(drift.patch_loss(back, patch, 1.5)) < 0.02
    smeared = cv2.blur(patch, (1, 15))  # a vertical drip: no affine map explains it
    shift = drift.register_patch(smeared, window, 32, 32, affine=True)
    again = cv2.warpAffine(window, shift, (96, 96), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
    assert max(drift.patch_loss(again, smeared, 1.5)) > 0.2
