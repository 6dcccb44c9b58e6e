"""Framing: the `camera` engine keeps the whole garment (mask extent plus a margin) inside every frame.

A drawn hoodie with wide sleeves in a 4:5 studio photo is rendered (real master clips, decoded back) for
the social cut (9:16), the product page (4:5) and a push-in. The garment is measured two ways: the SOURCE
photo's subject mask mapped into every frame through the engine's own windows (reproduced with
`plan_camera` and checked against the clip's params), and the subject mask segmented from every decoded
frame. The backdrop revealed past the photo must continue it without a seam or a smear of garment.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from catalog_motion.images import read_photo, subject_mask
from catalog_motion.media import read_frames
from generation.base import GenerationRequest
from generation.camera import ANALYSIS_LONG_SIDE, FramingSpec, make_camera_engine, plan_clip
from generation.fit import Box, extend_backdrop
from generation.focus import garment_extent
from tests.generation.conftest import save_png, small_preset

QC_MARGIN = 0.025  # the quality gate's framing margin (fraction of each frame side)
GARMENT = np.array([60, 88, 76], np.uint8)  # dark green fleece


def draw_hoodie(width: int = 800, height: int = 1000, *, cut_bottom: bool = False) -> np.ndarray:
    """A studio photo of a hoodie whose sleeves reach 5 % from the photo's sides (too wide for 9:16).

    The backdrop has a vertical falloff, a horizontal vignette and sensor grain, so a seam, a streak or a
    change of texture where the engine continues it would show. `cut_bottom`: the body tapers and runs off
    the photo's bottom edge (a long tunic cut by the photo; narrow enough for the studio mask to still work).
    """
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    falloff = 238.0 - 14.0 * yy / height - 10.0 * ((xx / width - 0.5) * 2.0) ** 2
    grain = np.random.default_rng(3).normal(0.0, 1.6, (height, width)).astype(np.float32)
    rgb = np.repeat((falloff + grain)[..., None], 3, axis=2)
    rgb[..., 2] += 3.0  # a slightly cool grey
    garment = np.zeros((height, width), np.uint8)
    w, h = width, height
    hem = (0.42 * w, 0.58 * w, h + 40) if cut_bottom else (0.27 * w, 0.73 * w, 0.86 * h)
    body = [(0.27 * w, 0.3 * h), (0.73 * w, 0.3 * h), (hem[1], hem[2]), (hem[0], hem[2])]
    left_sleeve = [(0.27 * w, 0.3 * h), (0.32 * w, 0.42 * h), (0.15 * w, 0.8 * h), (0.05 * w, 0.77 * h)]
    right_sleeve = [(w - x, y) for x, y in left_sleeve]
    for poly in (body, left_sleeve, right_sleeve):
        cv2.fillPoly(garment, [np.array(poly, np.int32)], 1, lineType=cv2.LINE_8)
    cv2.ellipse(garment, (w // 2, int(0.25 * h)), (int(0.13 * w), int(0.12 * h)), 0, 0, 360, 1, -1)
    shade = 10.0 * np.sin(xx / (0.05 * w))[..., None]
    rgb = np.where(garment[..., None] > 0, GARMENT.astype(np.float32) + shade, rgb)
    rgb = np.clip(rgb + 0.5, 0, 255).astype(np.uint8)
    cv2.putText(rgb, "NORD", (int(0.36 * w), int(0.5 * h)), cv2.FONT_HERSHEY_SIMPLEX, w / 400, (235, 235, 225), 3)
    return rgb


@pytest.fixture
def hoodie(tmp_path: Path) -> Path:
    return save_png(draw_hoodie(), tmp_path / "hoodie.png")


def _render(photo: Path, preset, out: Path, settings: dict | None = None, **kw):
    engine = make_camera_engine(settings or {})
    request = GenerationRequest(source_path=str(photo), preset=preset, seed=3, out_path=str(out), **kw)
    ref = engine.generate(request)
    return ref, read_frames(ref.path)


def _engine_plan(photo: Path, preset, ref, framing: FramingSpec | None):
    """The engine's windows for every frame, reproduced from the same inputs and checked against params."""
    source = read_photo(str(photo), preset.background)
    h, w = source.shape[:2]
    scale = min(1.0, ANALYSIS_LONG_SIDE / max(h, w))
    small = cv2.resize(source, (max(8, round(w * scale)), max(8, round(h * scale))), interpolation=cv2.INTER_AREA)
    scales = {"motion_scale": ref.params["motion_scale"], "duration_scale": ref.params["duration_scale"]}
    plan, _, _ = plan_clip(preset, w, h, subject_mask(small), framing=framing, **scales)
    assert plan.poses[0].main.as_list() == ref.params["crop_first"]
    assert plan.poses[len(plan.poses) // 2].main.as_list() == ref.params["crop_mid"]
    assert plan.poses[-1].main.as_list() == ref.params["crop_last"]
    return plan, source


def _outside_share(mask: np.ndarray, box: Box, margin: float, free_bottom: bool = False) -> float:
    """Share of the source mask's mass outside `box` shrunk by `margin` x its sides (source edge coords);
    `free_bottom`: no limit at the bottom (the photo itself cuts the garment there, so may the frame)."""
    h, w = mask.shape
    mx, my = margin * box.width, margin * box.height
    xs, ys = np.arange(w) + 0.5, np.arange(h) + 0.5  # pixel centres in edge coordinates
    inside_x = (xs >= box.x0 + mx) & (xs <= box.x1 - mx)
    inside_y = (ys >= box.y0 + my) & (free_bottom | (ys <= box.y1 - my))
    inside = float(mask[np.ix_(inside_y, inside_x)].sum())
    return 1.0 - inside / float(mask.sum())


def _band_share(frame: np.ndarray, margin: float) -> float:
    """Share of the garment segmented in a frame that lies in the frame's outer margin band (or is cut)."""
    mask = subject_mask(frame)
    h, w = mask.shape
    bx, by = max(1, round(margin * w)), max(1, round(margin * h))
    inner = float(mask[by : h - by, bx : w - bx].sum())
    return 1.0 - inner / max(float(mask.sum()), 1e-6)


CASES = {
    "social": ("social", {}),
    "product-page": ("product-page", {}),
    "push-in": ("product-page", {"motion": {"path": "push_in", "amount": 0.5}}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_whole_garment_stays_inside_every_frame(hoodie, tmp_path, case):
    name, update = CASES[case]
    preset = small_preset(name, duration_s=0.5, **update)
    ref, frames = _render(hoodie, preset, tmp_path / f"{case}.nut")
    plan, source = _engine_plan(hoodie, preset, ref, FramingSpec())
    source_mask = subject_mask(source)
    framing = ref.params["framing"]
    assert framing["margin"] >= QC_MARGIN and framing["motion_limited_to"] == 1.0
    assert len(plan.poses) == len(frames) == 12
    for i, (pose, frame) in enumerate(zip(plan.poses, frames, strict=True)):
        garment_window = pose.subject or pose.main  # the layer that draws the garment
        assert _outside_share(source_mask, garment_window, QC_MARGIN) < 1e-3, (case, i)
        assert _band_share(frame, QC_MARGIN) < 2e-3, (case, i)

    if case == "product-page":
        # The still garment fits the 4:5 cover crop; its swinging sleeves need a zoom-out of ~1.5 % only.
        assert ref.params["garment"]["active"] is True
        assert framing["fit"] == "contain" and 1.0 < framing["zoom_out"] < 1.03
    else:
        assert framing["fit"] == "contain" and framing["zoom_out"] > 1.0 and framing["revealed"] is True
        assert ref.params["zoom_range"][0] < 1.0  # wider than the cover crop
    if case == "push-in":
        assert ref.params["zoom_range"][1] / ref.params["zoom_range"][0] == pytest.approx(1.3, rel=0.01)

    # Today's cover framing (engines.camera.framing: cover) cuts the sleeves off: the measure is real.
    if case != "product-page":
        cover_ref, cover_frames = _render(hoodie, preset, tmp_path / f"{case}-cover.nut", {"framing": "cover"})
        cover_plan, _ = _engine_plan(hoodie, preset, cover_ref, None)
        worst = max(_outside_share(source_mask, p.subject or p.main, QC_MARGIN) for p in cover_plan.poses)
        assert worst > 0.02, worst
        assert max(_band_share(f, QC_MARGIN) for f in cover_frames) > 0.01
        assert cover_ref.params["framing"]["fit"] == "cover"


def test_revealed_backdrop_has_no_seam_no_streaks_and_no_garment(hoodie, tmp_path):
    preset = small_preset("social", duration_s=0.25, motion={"path": "static"})
    ref, frames = _render(hoodie, preset, tmp_path / "static.nut")
    frame = frames[0].astype(np.float32)
    x0, y0, x1, y1 = ref.params["crop_first"]
    src_w, src_h = ref.params["source_size"]
    out_h, out_w = frame.shape[:2]
    top = (0.0 - y0) * out_h / (y1 - y0)  # output rows where the photo's top and bottom edges land
    bottom = (src_h - y0) * out_h / (y1 - y0)
    assert top > 8 and out_h - bottom > 8  # backdrop revealed above and below the photo
    grey = frame.mean(axis=2)
    cols = slice(0, out_w)  # the garment is well inside: these rows are backdrop across the width
    rows = grey[:, cols].mean(axis=1)

    def jump(edge: float) -> float:
        r = int(round(edge))
        return abs(float(rows[r : r + 3].mean() - rows[r - 3 : r].mean()))

    natural = np.abs(np.diff(rows[int(top) + 6 : int(top) + 40])).mean() * 3  # the backdrop's own gradient
    assert jump(top) < natural + 1.0, (jump(top), natural)
    assert jump(bottom) < natural + 1.0, (jump(bottom), natural)

    def texture(band: np.ndarray) -> float:
        return float(np.std(band - cv2.GaussianBlur(band, (0, 0), 1.0)))

    revealed, photo = grey[1 : int(top) - 1], grey[int(top) + 2 : int(top) + 12]
    assert 0.5 < texture(revealed) / texture(photo) < 2.0  # the grain carries on: no smooth patch

    def streakiness(band: np.ndarray) -> float:
        # Edge replication draws streaks: pixel-to-pixel change across them, almost none along them.
        return float(np.diff(band, axis=1).std() / max(np.diff(band, axis=0).std(), 1e-6))

    assert 0.6 < streakiness(revealed) < 1.6, streakiness(revealed)
    assert 0.6 < streakiness(photo) < 1.6  # isotropic grain in the photo itself
    # No garment colour smeared into the revealed area (the hood is near the photo's top edge).
    backdrop = np.median(frame[int(top) + 2 : int(top) + 6].reshape(-1, 3), axis=0)
    assert np.abs(frame[: int(top) - 1] - backdrop).max() < 25.0
    # The revealed band is not a stretched copy of the photo's edge row: it varies smoothly with height.
    assert np.abs(np.diff(rows[1 : int(top) - 1])).max() < 2.0


def test_extend_backdrop_keeps_the_photo_and_continues_its_gradient():
    rgb = draw_hoodie(400, 500)
    mask = (np.abs(rgb.astype(np.int16) - GARMENT).sum(axis=2) < 60).astype(np.float32)
    out = extend_backdrop(rgb, mask, (30, 40, 50, 60))
    assert out.shape == (600, 480, 3)
    assert np.array_equal(out[40:540, 30:430], rgb)  # the photo's own pixels untouched
    # Left of the photo the vertical falloff continues row by row (edge replication, blurred).
    grey, src = out.mean(axis=2), rgb.astype(np.float32).mean(axis=2)
    left = grey[40:540, 5:25].mean(axis=1)
    edge = cv2.GaussianBlur(src[:, :6].mean(axis=1, keepdims=True), (0, 0), 6.0).ravel()
    assert np.abs(left - edge)[20:-20].max() < 3.0
    assert left[-20:].mean() < left[:20].mean() - 8  # darker at the bottom, as the photo is
    # The garment (sleeves 5 % from the sides) never leaks out: the ext stays backdrop-bright.
    assert out[:, :30].mean(axis=2).min() > 200 and out[:, 430:].mean(axis=2).min() > 200
    assert extend_backdrop(rgb, mask, (0, 0, 0, 0)) is rgb
    with pytest.raises(ValueError, match="pad"):
        extend_backdrop(rgb, mask, (-1, 0, 0, 0))


def test_loop_stays_exact_and_render_deterministic_when_zoomed_out(hoodie, tmp_path):
    preset = small_preset("product-page", motion={"path": "push_in", "amount": 0.8})
    assert preset.loop
    ref_a, frames = _render(hoodie, preset, tmp_path / "a.nut")
    ref_b, frames_b = _render(hoodie, preset, tmp_path / "b.nut")
    assert np.array_equal(frames, frames_b) and ref_a.params == ref_b.params
    assert ref_a.params["framing"]["revealed"] is True
    mad = lambda a, b: float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())  # noqa: E731
    steps = [mad(frames[i], frames[i + 1]) for i in range(len(frames) - 1)]
    assert max(mad(f, frames[0]) for f in frames) > 2.5 * max(steps)  # it travels
    assert mad(frames[-1], frames[0]) <= 1.5 * max(steps) + 0.05  # and the frame after the last is the first


def test_motion_is_reduced_when_zooming_out_is_capped(hoodie, tmp_path):
    preset = small_preset("product-page", duration_s=0.5, loop=False, motion={"path": "pan", "amount": 1.0})
    settings = {"max_motion_zoom_out": 1.0}
    ref, frames = _render(hoodie, preset, tmp_path / "pan.nut", settings)
    framing = ref.params["framing"]
    assert 0.0 < framing["motion_limited_to"] < 1.0
    assert ref.params["amount"] == pytest.approx(framing["motion_limited_to"], abs=1e-3)
    plan, source = _engine_plan(hoodie, preset, ref, FramingSpec(0.04, 1.0))
    source_mask = subject_mask(source)
    assert max(_outside_share(source_mask, p.main, QC_MARGIN) for p in plan.poses) < 1e-3
    assert ref.params["crop_first"][0] < ref.params["crop_last"][0]  # still pans
    free, _ = _render(hoodie, preset, tmp_path / "pan-free.nut")  # default cap: full motion, zoomed out more
    assert free.params["framing"]["motion_limited_to"] == 1.0
    assert free.params["framing"]["zoom_out"] > framing["zoom_out"]


def test_photo_that_cuts_the_garment_shows_no_backdrop_past_the_cut(tmp_path):
    photo = save_png(draw_hoodie(cut_bottom=True), tmp_path / "cut.png")
    preset = small_preset("social", duration_s=0.5)
    ref, _ = _render(photo, preset, tmp_path / "cut.nut")
    framing = ref.params["framing"]
    assert framing["photo_cuts"] == ["bottom"] and framing["fit"] == "contain"
    plan, source = _engine_plan(photo, preset, ref, FramingSpec())
    src_h = source.shape[0]
    for pose in plan.poses:
        for layer in (pose.main, pose.subject):
            assert layer is None or layer.y1 <= src_h + 0.5  # the hem stays cut by the frame's bottom edge
    # Sides and top still keep the margin; the frame's bottom edge is the photo's.
    mask = subject_mask(source)
    assert max(_outside_share(mask, p.subject or p.main, QC_MARGIN, free_bottom=True) for p in plan.poses) < 1e-3
    assert min(p.main.y1 for p in plan.poses) > src_h - 1.0


def test_close_up_may_crop_and_photos_without_studio_subject_keep_cover(hoodie, tmp_path):
    close = small_preset("close-up", duration_s=0.5)
    ref, _ = _render(hoodie, close, tmp_path / "close.nut")
    assert ref.params["framing"]["fit"] == "cover" and "detail" in ref.params["framing"]["kept_cover"]
    assert ref.params["zoom_range"][0] > 1.0  # tighter than the cover crop: the garment is cropped
    # A lifestyle-like photo: texture everywhere, no studio backdrop to find a subject on.
    noise = np.random.default_rng(1).integers(0, 255, (100, 80, 3), dtype=np.uint8)
    busy = save_png(cv2.resize(noise, (800, 1000), interpolation=cv2.INTER_NEAREST), tmp_path / "busy.png")
    preset = small_preset("social", duration_s=0.5)
    ref, frames = _render(busy, preset, tmp_path / "busy.nut")
    assert ref.params["framing"]["kept_cover"] == "no studio subject"
    _, cover_frames = _render(busy, preset, tmp_path / "busy-cover.nut", {"framing": "cover"})
    assert np.array_equal(frames, cover_frames)  # exactly today's framing
    assert garment_extent(np.ones((64, 48), np.float32), 800, 1000) is None
    assert garment_extent(np.zeros((64, 48), np.float32), 800, 1000) is None


def test_a_garment_grazing_the_border_is_not_cut_a_hem_running_off_is():
    mask = np.zeros((200, 160), np.float32)
    mask[40:180, 40:120] = 1.0  # body
    mask[60:70, 0:40] = 1.0  # a sleeve tip touching the left border along 7 % of the garment's height
    mask[150:200, 60:100] = 1.0  # a hem running off the bottom along 50 % of the garment's width
    extent = garment_extent(mask, 800, 1000)
    assert extent is not None and extent.cut == (False, False, False, True)
    assert (extent.x0, extent.y0, extent.x1, extent.y1) == (0.0, 200.0, 600.0, 1000.0)  # scaled to the photo


def test_sample_hoodie_on_social_zooms_out_and_params_say_so(tmp_path):
    """The sample hoodie's sleeves do not fit 9:16 at the cover crop: the engine zooms out (revealing
    backdrop past the photo) rather than cutting them, keeps the full motion and records it."""
    from catalog_connectors.samples import draw_sample_catalog
    from catalog_motion.presets import load_presets

    draw_sample_catalog(tmp_path, photos=["hoodie-logo"])
    photo = next((tmp_path / "images").glob("hoodie-logo.*"))
    preset = load_presets()["social"]  # full size: the garment's width against 1080 px is the point
    ref, _ = _render(photo, preset, tmp_path / "social.nut", duration_scale=0.1)
    framing = ref.params["framing"]
    assert framing["fit"] == "contain" and framing["zoom_out"] > 1.1 and framing["revealed"] is True
    assert framing["motion_limited_to"] == 1.0 and ref.params["amount"] == preset.motion.amount
    assert ref.params["garment"]["active"] is True and ref.params["zoom_range"][0] < 1.0
    frames = read_frames(ref.path, 640)
    assert max(_band_share(f, QC_MARGIN) for f in frames) < 2e-3  # the sleeves stay whole in every frame
    cover, _ = _render(photo, preset, tmp_path / "cover.nut", {"framing": "cover"}, duration_scale=0.1)
    assert max(_band_share(f, QC_MARGIN) for f in read_frames(cover.path, 640)) > 0.01  # cover would cut them
