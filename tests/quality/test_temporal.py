"""Jump cuts, short glitches and boiling texture (quality/temporal.py) on labelled synthetic clips.

Unit tests build ClipEvidence directly (real alignment of the frames to the photo, as the gate does);
the end-to-end tests go through quality.gate.check_clip on written clips.
"""

from __future__ import annotations

import subprocess

import cv2
import numpy as np
import pytest

from catalog_motion.images import subject_mask
from catalog_motion.media import ffmpeg_exe, read_frames, work_size
from catalog_motion.presets import load_presets
from quality import temporal
from quality.align import Aligner
from quality.drift import DriftResult, sample_indices
from quality.evidence import ClipEvidence
from quality.io import fit_cover
from quality.synthetic import camera_frames, draw_garment_photo, garble, garment_mask

W, H, N, FPS = 160, 200, 48, 24
TEMPORAL_CHECKS = {"cut", "glitch", "boiling"}


# --- helpers ---------------------------------------------------------------------------------------


def make_evidence(photo, frames, preset, *, full: tuple[int, ...] = (), black: tuple[int, ...] = ()) -> ClipEvidence:
    """ClipEvidence as the gate builds it: work-size frames (long side 320), the photo covering them, its
    subject mask, drift samples with ECC warps (quality.align), full-size frames at `full`."""
    frames = [np.ascontiguousarray(f) for f in frames]
    fh, fw = frames[0].shape[:2]
    ww, wh = work_size(fw, fh, 320)
    work = np.stack([f if f.shape[1] == ww else cv2.resize(f, (ww, wh), interpolation=cv2.INTER_AREA) for f in frames])
    photo_work, init, mismatch = fit_cover(photo, ww, wh)
    detail, _, _ = fit_cover(photo, ww * 2, wh * 2)
    mask = (subject_mask(photo_work) > 0.5).astype(np.float32)
    if not 0.03 <= mask.mean() <= 0.97:
        mask = np.ones_like(mask)
    aligner = Aligner(detail, init, scale=detail.shape[1] / photo_work.shape[1])
    drift = DriftResult()
    for i in sample_indices(len(work), 24):
        if i in black:
            continue
        warp, _ = aligner.align(work[i])
        drift.frames.append(i)
        drift.warps.append(warp)
        drift.drift.append(0.0)
    return ClipEvidence(
        preset=preset,
        fps=FPS,
        frames=work,
        black=[i in black for i in range(len(work))],
        width=fw,
        height=fh,
        photo=photo,
        photo_work=photo_work,
        mask_work=mask,
        subject_coverage=float(mask.mean()),
        aspect_mismatch=mismatch,
        drift=drift,
        full_frames={i: frames[i] for i in full},
    )


def sway(frames, amplitude_px: float, period: float):
    """Fabric sway anchored at the top: horizontal displacement growing towards the hem, sinusoidal in time."""
    h, w = frames[0].shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    profile = np.clip((yy - 0.2 * h) / (0.7 * h), 0, 1) ** 2
    out = []
    for i, f in enumerate(frames):
        dx = (amplitude_px * profile * np.sin(2 * np.pi * i / period)).astype(np.float32)
        out.append(cv2.remap(f, xx - dx, yy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT))
    return out


def h264(frames, tmp_path, crf: int, name: str = "clip"):
    """A real libx264 encode (yuv420p) of `frames`, decoded back to RGB."""
    h, w = frames[0].shape[:2]
    path = tmp_path / f"{name}-crf{crf}.mp4"
    cmd = [ffmpeg_exe(), "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}"]
    cmd += ["-r", str(FPS), "-i", "-", "-c:v", "libx264", "-crf", str(crf), "-preset", "veryfast"]
    cmd += ["-pix_fmt", "yuv420p", str(path)]
    subprocess.run(cmd, input=b"".join(np.ascontiguousarray(f).tobytes() for f in frames), check=True)
    return list(read_frames(path))


def recoloured(photo):
    """The photo with the garment's hue turned by 80 degrees."""
    hsv = cv2.cvtColor(photo, cv2.COLOR_RGB2HSV)
    hsv[..., 0] = (hsv[..., 0].astype(int) + 40) % 180
    out = photo.copy()
    mask = garment_mask(photo)
    out[mask] = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[mask]
    return out


def garbled(frame, seed: int):
    """The middle of the frame (the garment) shuffled in 8-px tiles."""
    rng = np.random.default_rng(seed)
    out = frame.copy()
    h, w = frame.shape[:2]
    y0, y1, x0, x1 = int(0.3 * h), int(0.8 * h), int(0.25 * w), int(0.75 * w)
    b = 8
    rows, cols = (y1 - y0) // b, (x1 - x0) // b
    tiles = [
        frame[y0 + r * b : y0 + (r + 1) * b, x0 + c * b : x0 + (c + 1) * b].copy()
        for r in range(rows)
        for c in range(cols)
    ]
    rng.shuffle(tiles)
    for k, tile in enumerate(tiles):
        r, c = divmod(k, cols)
        out[y0 + r * b : y0 + (r + 1) * b, x0 + c * b : x0 + (c + 1) * b] = tile
    return out


def wobbled(frame):
    """The frame warped by a strong horizontal wobble (a melting subject)."""
    h, w = frame.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    dx = (0.05 * w * np.sin(yy / (0.06 * h))).astype(np.float32)
    return cv2.remap(frame, xx + dx, yy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def checks(result) -> list[str]:
    return [f.check for f in result.findings]


# --- fixtures --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def preset():
    base = load_presets()["product-page"]
    return base.model_copy(update={"width": W, "height": H, "fps": FPS, "duration_s": N / FPS})


@pytest.fixture(scope="module")
def photo():
    return draw_garment_photo(384, 480, seed=3)


@pytest.fixture(scope="module")
def push(photo):
    return camera_frames(photo, W, H, N, zoom=0.2)


# --- pure functions --------------------------------------------------------------------------------


def test_tolerant_diff_forgives_one_pixel_of_motion_not_three(photo):
    small = cv2.resize(photo, (W, H), interpolation=cv2.INTER_AREA)
    one = np.roll(small, 1, axis=1)
    three = np.roll(small, 3, axis=1)
    plain = float(np.abs(one.astype(float) - small).mean()) / 255
    assert temporal.change(small, small) == 0.0
    assert temporal.change(small, one) < 0.1 * plain  # a one-pixel move is (almost) no change
    assert temporal.change(small, three) > 5 * temporal.change(small, one)


def test_local_ratio_floors_a_still_baseline():
    changes = np.full(20, 1e-5)
    changes[10] = 5e-4  # 50x its neighbours, but compression-noise small
    ratio = temporal.local_ratio(changes, floor=0.002)
    assert ratio[10] == pytest.approx(0.25)
    changes[10] = 0.02
    assert temporal.local_ratio(changes, floor=0.002)[10] == pytest.approx(10.0)
    before = temporal.local_ratio(np.array([0.001, 0.001, 0.001, 0.05, 0.05, 0.05]), 0.002, side="before")
    assert before[3] == pytest.approx(25.0) and before[5] == pytest.approx(0.05 / 0.0255)


def test_worst_glitch_needs_an_excursion_that_comes_back():
    base = np.full(40, 0.003)
    jumps = np.full(39, 100.0)  # abrupt everywhere: the photo ratio decides
    glitch = base.copy()
    glitch[20:23] = 0.05
    found = temporal.worst_glitch(glitch, jumps, jumps, floor=0.004)
    assert (found.start, found.length) == (20, 3)
    assert found.score == pytest.approx(0.05 / 0.004)
    drift = base.copy()
    drift[20:] = 0.05  # sets in and stays: drift, not a glitch
    assert temporal.worst_glitch(drift, jumps, jumps, floor=0.004).score < 2
    smooth = np.full(39, 0.5)  # the same excursion reached smoothly (a sway): no jumps in or out
    assert temporal.worst_glitch(glitch, smooth, smooth, floor=0.004).score <= 0.5


def test_patch_incoherence_rigid_motion_vs_resynthesis():
    rng = np.random.default_rng(0)
    texture = cv2.GaussianBlur(rng.normal(0.5, 0.1, (200, 200)).astype(np.float32), (0, 0), 1.2)
    a = texture[20:148, 20:148]
    moved = cv2.warpAffine(texture, np.float32([[1, 0, 1.4], [0, 1, -0.6]]), (200, 200), flags=cv2.INTER_CUBIC)
    b = moved[20:148, 20:148]
    other = cv2.GaussianBlur(rng.normal(0.5, 0.1, (128, 128)).astype(np.float32), (0, 0), 1.2)
    rigid, std = temporal.patch_incoherence(a, b)
    assert rigid < 0.02 and std > temporal.MIN_TEXTURE_STD
    assert temporal.patch_incoherence(a, other)[0] > 0.8


# --- good motion passes ----------------------------------------------------------------------------


def _good_clips(photo, push, tmp_path):
    still = camera_frames(photo, W, H, N, zoom=0.0)
    return {
        "push_in": push,
        "pan": camera_frames(photo, W, H, N, zoom=0.12, pan=0.3),
        "breathing": camera_frames(photo, W, H, N, zoom=0.1, path="breathing"),
        "anchored_sway": sway(still, 0.03 * W, period=24),
        "diffusion_softness": [cv2.GaussianBlur(f, (0, 0), 1.0) for f in push],
        "h264_crf23": h264(push, tmp_path, 23),
    }


def test_good_motion_passes(photo, push, preset, tmp_path):
    th = preset.qc
    for name, frames in _good_clips(photo, push, tmp_path).items():
        result = temporal.evaluate(make_evidence(photo, frames, preset))
        assert result.findings == [], (name, [f.reason for f in result.findings])
        # with room to spare, so the limits are not balanced on these clips
        assert result.scores["cut_peak_ratio"] < 0.5 * th.max_cut_ratio, name
        assert result.scores["glitch"] < 0.5 * th.max_glitch_ratio, name
        assert set(result.limits) == TEMPORAL_CHECKS


def test_fast_hem_swing_is_not_a_glitch(photo, preset):
    # a vigorous swing (5 % of the width, two per second) strays far from the photo, but smoothly
    frames = sway(camera_frames(photo, W, H, N, zoom=0.0), 0.05 * W, period=12)
    result = temporal.evaluate(make_evidence(photo, frames, preset))
    assert result.findings == [], [f.reason for f in result.findings]


# --- cut -------------------------------------------------------------------------------------------


def test_jump_cut_fails_with_its_frame(photo, push, preset):
    other_take = camera_frames(photo, W, H, N, zoom=0.4, focus=(0.5, 0.4))
    frames = push[:30] + other_take[30:]
    result = temporal.evaluate(make_evidence(photo, frames, preset))
    assert checks(result) == ["cut"]
    cut = result.findings[0]
    assert cut.frame == 30 and cut.value > cut.limit == preset.qc.max_cut_ratio
    assert cut.reason.startswith("cut: jump cut between frames 29 and 30")
    assert "> limit 4 x at frame 30 (1.25 s)" in cut.reason


def test_small_reframing_jump_is_a_cut(photo, push, preset):
    # the same take jumps sideways by ~4 % of the width in one frame and stays there
    frames = push[:20] + [np.roll(f, int(0.04 * W), axis=1) for f in push[20:]]
    result = temporal.evaluate(make_evidence(photo, frames, preset))
    assert checks(result) == ["cut"] and result.findings[0].frame == 20


def test_black_frame_is_not_also_a_cut_or_glitch(photo, push, preset):
    frames = list(push)
    frames[25] = np.zeros_like(frames[25])
    result = temporal.evaluate(make_evidence(photo, frames, preset, black=(25,)))
    assert result.findings == [], [f.reason for f in result.findings]


# --- glitch ----------------------------------------------------------------------------------------


def _with_glitch(push, photo, kind: str, start: int, length: int):
    frames = list(push)
    other = camera_frames(recoloured(photo), W, H, N, zoom=0.2) if kind == "recolour" else None
    for i in range(start, start + length):
        if kind == "recolour":
            frames[i] = other[i]
        elif kind == "garble":
            frames[i] = garbled(frames[i], seed=i)
        elif kind == "shuffle":  # quality.synthetic's garble: every frame shuffled differently
            alpha = garment_mask(frames[i]).astype(np.float32)
            frames[i] = garble(frames[i], alpha, np.random.default_rng(i), block=8)
        else:
            frames[i] = wobbled(frames[i])
    return frames


@pytest.mark.parametrize(
    ("kind", "start", "length"),
    [("recolour", 13, 3), ("garble", 30, 4), ("wobble", 21, 2), ("recolour", 37, 6), ("shuffle", 26, 2)],
)
def test_short_glitch_between_drift_samples_fails(photo, push, preset, kind, start, length):
    frames = _with_glitch(push, photo, kind, start, length)
    result = temporal.evaluate(make_evidence(photo, frames, preset))
    assert checks(result) == ["glitch"], [f.reason for f in result.findings]
    glitch = result.findings[0]
    assert glitch.frame == start  # the whole run is named
    assert glitch.value > glitch.limit == preset.qc.max_glitch_ratio
    assert glitch.reason.startswith(f"glitch: short glitch (frames {start}-{start + length - 1}, {length / FPS:.2f} s)")
    assert f"> limit 3 x at frame {glitch.frame} ({glitch.frame / FPS:.2f} s)" in glitch.reason


def test_single_garbled_frame_is_a_glitch_not_a_cut(photo, push, preset):
    frames = _with_glitch(push, photo, "recolour", 17, 1)
    result = temporal.evaluate(make_evidence(photo, frames, preset))
    assert checks(result) == ["glitch"]
    assert "(frame 17, 0.04 s)" in result.findings[0].reason


# --- boiling (full resolution) ---------------------------------------------------------------------

FULL_W, FULL_H, FULL_N = 1080, 1350, 8
FULL_PAIRS = (0, 1, 3, 4, 6, 7)


@pytest.fixture(scope="module")
def full_photo():
    return draw_garment_photo(1296, 1620, seed=5)


@pytest.fixture(scope="module")
def full_push(full_photo):
    # 8 frames of a slow push-in (the per-frame motion of a 12 % push over 4 s)
    return camera_frames(full_photo, FULL_W, FULL_H, FULL_N, zoom=0.01)


@pytest.fixture(scope="module")
def full_preset():
    return load_presets()["product-page"].model_copy(update={"fps": FPS, "duration_s": FULL_N / FPS})


def boiled(frames, std_levels: float, seed: int = 0):
    """Grain re-drawn independently every frame on the garment (what a person sees as boiling fabric)."""
    rng = np.random.default_rng(seed)
    out = []
    for f in frames:
        grain = cv2.GaussianBlur(rng.normal(0, 1, f.shape[:2]).astype(np.float32), (0, 0), 0.8)
        grain *= std_levels / grain.std()
        out.append(np.clip(f + (grain * garment_mask(f))[..., None], 0, 255).astype(np.uint8))
    return out


def test_boiling_on_full_resolution_fabric_fails(full_photo, full_push, full_preset):
    result = temporal.evaluate(make_evidence(full_photo, boiled(full_push, 6.0), full_preset, full=FULL_PAIRS))
    assert "boiling" in checks(result)
    boil = next(f for f in result.findings if f.check == "boiling")
    assert boil.frame in (0, 3, 6) and boil.value > boil.limit == full_preset.qc.max_boiling
    assert boil.reason.startswith(f"boiling: fine texture re-synthesised between frames {boil.frame} and")
    assert f"at frame {boil.frame}" in boil.reason
    # fainter grain (3/255) still fails; 1.5/255 (below what a person sees) passes
    assert (
        temporal.evaluate(make_evidence(full_photo, boiled(full_push, 3.0), full_preset, full=FULL_PAIRS)).scores[
            "boiling"
        ]
        > full_preset.qc.max_boiling
    )
    faint = temporal.evaluate(make_evidence(full_photo, boiled(full_push, 1.5), full_preset, full=FULL_PAIRS))
    assert "boiling" not in checks(faint)


def test_full_resolution_good_clips_do_not_boil(full_photo, full_push, full_preset, tmp_path):
    limit = full_preset.qc.max_boiling
    still = camera_frames(full_photo, FULL_W, FULL_H, FULL_N, zoom=0.0)
    clips = {
        "push_in": full_push,
        "sway": sway(still, 12, period=8),
        "softness": [cv2.GaussianBlur(f, (0, 0), 1.0) for f in full_push],
        "h264_crf20": h264(full_push, tmp_path, 20, "full"),
        "h264_crf26": h264(full_push, tmp_path, 26, "full"),
    }
    for name, frames in clips.items():
        result = temporal.evaluate(make_evidence(full_photo, frames, full_preset, full=FULL_PAIRS))
        assert result.scores["boiling"] < 0.75 * limit, (name, result.scores["boiling"])
        assert len(result.per_frame["boiling"]) == 3 and result.findings == [], name


# --- end to end through the gate -------------------------------------------------------------------


def test_gate_reports_a_jump_cut(qc_photo_path, qc_photo_array, qc_write_clip, qc_presets):
    from quality.gate import check_clip
    from tests.fixtures.quality_clips import QC_H, QC_N, QC_W

    preset = qc_presets["product-page"].model_copy(update={"loop": False})
    good = camera_frames(qc_photo_array, QC_W, QC_H, QC_N, zoom=0.15)
    report = check_clip(qc_photo_path, qc_write_clip(good, "good"), preset)
    assert not TEMPORAL_CHECKS & set(report.failed_checks), report.reasons
    assert {"cut", "glitch", "boiling"} <= set(report.limits)
    other = camera_frames(qc_photo_array, QC_W, QC_H, QC_N, zoom=0.45, focus=(0.5, 0.35))
    report = check_clip(qc_photo_path, qc_write_clip(good[:12] + other[12:], "cut"), preset)
    assert "cut" in report.failed_checks
    assert any(r.startswith("cut: jump cut between frames 11 and 12") for r in report.reasons), report.reasons


def _render_product_page(tmp_path, post):
    """A product-page clip at its real size (1080x1350, 96 frames) of the drawn garment swaying under the
    preset's breathing camera, each frame passed through `post(i, frame)`; (photo path, clip path, preset)."""
    from PIL import Image

    from catalog_motion.media import MasterClipWriter
    from quality.calibration import GOOD_GARMENT, SPREAD, PhotoBank, preset_recipe
    from quality.synthetic import MotionRecipe, SceneRenderer

    preset = load_presets()["product-page"]
    w, h = preset.width, preset.height
    bank = PhotoBank()
    photo, mask, plate = bank.items[bank.drawn(int(w * 1.25) // 2 * 2, int(h * 1.25) // 2 * 2, spread=SPREAD["4:5"])]
    recipe = MotionRecipe(**{**preset_recipe(preset, (0.5, 0.5)).__dict__, **GOOD_GARMENT})
    renderer = SceneRenderer(photo, mask, recipe, w, h, preset.n_frames, loop=True, plate=plate)
    photo_path, clip = tmp_path / "photo.png", tmp_path / "clip.nut"
    Image.fromarray(photo).save(photo_path)
    with MasterClipWriter(clip, w, h, preset.fps) as writer:
        for i in range(preset.n_frames):
            writer.write(post(i, renderer.frame(i)[0]))
    return photo_path, clip, preset


def test_short_glitch_on_a_drift_sample_is_caught_from_the_frames_alone(tmp_path):
    # 3 frames knocked 1 % sideways, starting on a drift sample: the alignment follows the knocked frame,
    # so the photo comparison saw nothing (glitch 0.34 before); the frames around the run show the jump
    from quality.gate import check_clip

    start = sample_indices(96, 12)[6]

    def knocked(i, frame):
        if not start <= i < start + 3:
            return frame
        shift = np.float32([[1, 0, 0.01 * frame.shape[1]], [0, 1, 0]])
        return cv2.warpAffine(frame, shift, frame.shape[1::-1], borderMode=cv2.BORDER_REFLECT)

    photo, clip, preset = _render_product_page(tmp_path, knocked)
    report = check_clip(photo, clip, preset)
    assert "glitch" in report.failed_checks, report.reasons
    reason = next(r for r in report.reasons if r.startswith("glitch:"))
    assert f"frames {start}-{start + 2}" in reason and "limit 3" in reason
    assert report.scores["glitch_bracket"] > preset.qc.max_glitch_ratio > report.scores["glitch_photo"]


def test_bracket_glitch_passes_smooth_motion_and_finds_the_run():
    photo = draw_garment_photo(256, 320, seed=3)
    good = np.stack(camera_frames(photo, 128, 160, 48, zoom=0.12))
    assert temporal.bracket_glitch(good, 0.002, 3.0).score < 1.5
    bad = good.copy()
    for i in (20, 21):
        bad[i] = np.roll(good[i], 6, axis=1)  # 4 % of the width
    found = temporal.bracket_glitch(bad, 0.002, 3.0)
    assert found.score > 3.0 and (found.start, found.length) == (20, 2)
