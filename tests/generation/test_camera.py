"""The `camera` engine end to end: real master clips written through ffmpeg and decoded back."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from catalog_motion.errors import EngineError, PermanentError
from catalog_motion.media import probe, read_frames
from catalog_motion.presets import load_presets
from generation.base import GenerationRequest
from generation.registry import LOAD_COUNTS, clear_engine_cache, get_engine
from tests.generation.conftest import draw_garment, save_png, small_preset


def _render(photo: Path, preset, out: Path, **kw):
    engine = get_engine("camera", {})
    ref = engine.generate(GenerationRequest(source_path=str(photo), preset=preset, seed=7, out_path=str(out), **kw))
    return ref, read_frames(ref.path)


def _shift(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Translation of b relative to a by phase correlation (grey, windowed)."""
    ga = cv2.cvtColor(a, cv2.COLOR_RGB2GRAY).astype(np.float64)
    gb = cv2.cvtColor(b, cv2.COLOR_RGB2GRAY).astype(np.float64)
    window = cv2.createHanningWindow(ga.shape[::-1], cv2.CV_64F)
    (dx, dy), _ = cv2.phaseCorrelate(ga, gb, window)
    return dx, dy


def _mad(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def test_registered_cached_and_bad_settings_rejected():
    clear_engine_cache()
    before = LOAD_COUNTS.get("camera", 0)
    first = get_engine("camera", {})
    assert get_engine("camera", {}) is first
    assert LOAD_COUNTS["camera"] == before + 1
    assert first.identity() == "camera/3"
    with pytest.raises(EngineError, match="engines.camera.interpolation"):
        get_engine("camera", {"interpolation": "nearest"})
    with pytest.raises(EngineError, match="not registered"):
        get_engine("no-such-engine", {})


def test_deterministic_and_described(gen_photo, tmp_path):
    preset = small_preset("social", duration_s=0.5, motion={"sway": 0.0, "hem_swing": 0.0})
    ref_a, frames_a = _render(gen_photo, preset, tmp_path / "a.mkv")
    ref_b, frames_b = _render(gen_photo, preset, tmp_path / "b.mkv")
    assert np.array_equal(frames_a, frames_b)
    assert ref_a.params == ref_b.params
    assert frames_a.shape == (12, 384, 216, 3)
    assert (ref_a.n_frames, ref_a.width, ref_a.height, ref_a.fps) == (12, 216, 384, 24.0)
    assert ref_a.params["path"] == "parallax_orbit" and ref_a.params["engine"] == "camera"
    assert len(ref_a.params["crop_first"]) == 4 and "subject_crop_last" in ref_a.params
    facts = probe(ref_a.path)
    assert (facts.width, facts.height, facts.n_frames) == (216, 384, 12)


def test_loop_is_seamless(gen_photo, tmp_path):
    for path in ("breathing", "push_in", "pan"):
        preset = small_preset("product-page", motion={"path": path, "amount": 0.9})
        assert preset.loop
        _, frames = _render(gen_photo, preset, tmp_path / f"{path}.mkv")
        n = len(frames)
        steps = [_mad(frames[i], frames[i + 1]) for i in range(n - 1)]
        seam = _mad(frames[-1], frames[0])  # the frame after the last is the first again
        assert max(_mad(f, frames[0]) for f in frames) > 2.5 * max(steps), path  # it travels, not jitters
        assert seam <= 1.5 * max(steps) + 0.05, (path, seam, max(steps))
        # Extrapolating the last two frames lands on the first.
        predicted = np.clip(2.0 * frames[-1].astype(np.float32) - frames[-2], 0, 255)
        assert _mad(predicted, frames[0]) <= 1.5 * max(steps) + 0.05, path


def test_pan_moves_smoothly_and_as_planned(tmp_path):
    photo = save_png(draw_garment(1000, 1000, background_grid=True), tmp_path / "wide.png")
    preset = small_preset("product-page", loop=False, motion={"path": "pan", "amount": 0.8})
    ref, frames = _render(photo, preset, tmp_path / "pan.mkv")
    dxs = [_shift(frames[i], frames[i + 1])[0] for i in range(len(frames) - 1)]
    # The window travels right, so content moves left in every step: one direction, no jumps.
    assert all(dx <= 0.05 for dx in dxs), dxs
    assert max(abs(dx) for dx in dxs) < 6.0
    jerk = np.abs(np.diff(dxs))
    assert jerk.max() < 1.0, dxs
    # Eased: slow at both ends, fastest in the middle.
    assert abs(dxs[0]) < abs(dxs[len(dxs) // 2]) > abs(dxs[-1])
    first, last = ref.params["crop_first"], ref.params["crop_last"]
    expected = (last[0] - first[0]) * preset.width / (first[2] - first[0])
    assert -sum(dxs) == pytest.approx(expected, rel=0.1)
    assert expected > 10


def test_static_is_still_and_motion_scale_asks_for_less(gen_photo, tmp_path):
    static = small_preset("product-page", motion={"path": "static", "sway": 0.0, "hem_swing": 0.0})
    _, frames = _render(gen_photo, static, tmp_path / "static.mkv")
    assert all(np.array_equal(f, frames[0]) for f in frames)
    preset = small_preset("close-up", duration_s=1.0)
    full, _ = _render(gen_photo, preset, tmp_path / "full.mkv")
    less, frames_less = _render(gen_photo, preset, tmp_path / "less.mkv", motion_scale=0.5, duration_scale=0.5)
    assert less.n_frames == len(frames_less) == 12 and full.n_frames == 24
    assert less.params["amount"] == pytest.approx(full.params["amount"] / 2)
    span = lambda ref: ref.params["zoom_range"][1] / ref.params["zoom_range"][0]  # noqa: E731
    assert 1.0 < span(less) < span(full)


def test_close_up_pushes_in_on_the_print(tmp_path):
    # Print off-centre, low on the shirt: the close-up must land there, not on the subject centre.
    photo = save_png(draw_garment(800, 1000, patch=(300, 640, 80)), tmp_path / "print.png")  # centre (340, 680)
    preset = small_preset("close-up")
    ref, frames = _render(photo, preset, tmp_path / "close.mkv")
    focus = ref.params["focus"]
    assert focus["method"] == "detail"
    assert 300 <= focus["x"] < 380 and 640 <= focus["y"] < 720, focus
    x0, y0, x1, y1 = ref.params["crop_last"]
    assert x0 <= 340 <= x1 and y0 <= 680 <= y1
    assert ref.params["zoom_range"][0] > 1.0  # a close-up starts tighter than the full cover crop

    def energy(frame):
        grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float32)
        return float(np.abs(cv2.Laplacian(grey, cv2.CV_32F)).mean())

    assert energy(frames[-1]) > energy(frames[0])  # the print fills more of the frame as we push in
    # The print is in the centre third of the last frame.
    yellow = (frames[-1][..., 0] > 180) & (frames[-1][..., 2] < 120)
    ys, xs = np.nonzero(yellow)
    assert xs.size > 0
    h, w = frames[-1].shape[:2]
    assert w / 4 < xs.mean() < 3 * w / 4 and h / 4 < ys.mean() < 3 * h / 4


def test_aspect_fit_keeps_shapes_round_and_frames_the_subject(tmp_path):
    rgb = np.full((500, 1200, 3), 240, np.uint8)  # landscape photo, subject (a disc) off to the right
    cv2.circle(rgb, (850, 250), 150, (30, 30, 160), -1, lineType=cv2.LINE_AA)
    photo = save_png(rgb, tmp_path / "disc.png")
    preset = small_preset("product-page", motion={"path": "static"})
    ref, frames = _render(photo, preset, tmp_path / "disc.mkv")
    dark = frames[0][..., 0] < 128
    ys, xs = np.nonzero(dark)
    assert (xs.max() - xs.min() + 1) / (ys.max() - ys.min() + 1) == pytest.approx(1.0, abs=0.04)
    assert abs(xs.mean() - preset.width / 2) < 0.05 * preset.width  # cover-crop centred on the subject
    x0, y0, x1, y1 = ref.params["crop_first"]
    assert (x1 - x0) / (y1 - y0) == pytest.approx(4 / 5, rel=1e-3) and y1 - y0 == pytest.approx(500)
    assert ref.params["upscaled"] is False


def test_small_photo_is_enlarged_and_flagged_tiny_photo_refused(tmp_path):
    small = save_png(draw_garment(120, 150), tmp_path / "small.png")
    preset = small_preset("product-page", duration_s=0.25)
    ref, frames = _render(small, preset, tmp_path / "small.mkv")
    assert ref.params["upscaled"] is True and ref.params["upscale_factor"] > 2.0
    assert "enlarged" in ref.params["note"]
    assert frames.shape[1:] == (340, 272, 3)
    tiny = save_png(draw_garment(30, 36), tmp_path / "tiny.png")
    with pytest.raises(PermanentError, match="too small"):
        _render(tiny, preset, tmp_path / "tiny.mkv")
    assert not (tmp_path / "tiny.mkv").exists()


def test_bad_source_is_a_clear_permanent_error(tmp_path):
    preset = small_preset("product-page", duration_s=0.25)
    with pytest.raises(PermanentError, match="not found"):
        _render(tmp_path / "missing.png", preset, tmp_path / "x.mkv")
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"this is not a png")
    with pytest.raises(PermanentError, match="not a readable image"):
        _render(junk, preset, tmp_path / "y.mkv")
    assert not list(tmp_path.glob("*.mkv"))


def test_parallax_moves_subject_and_background_differently(tmp_path):
    photo = save_png(draw_garment(900, 1600, background_grid=True), tmp_path / "grid.png")
    preset = small_preset("social", loop=False, motion={"amount": 0.8, "sway": 0.0, "hem_swing": 0.0})
    _, frames = _render(photo, preset, tmp_path / "orbit.mkv")
    h, w = frames[0].shape[:2]
    subject = (slice(int(0.4 * h), int(0.6 * h)), slice(int(0.3 * w), int(0.7 * w)))
    background = (slice(0, int(0.12 * h)), slice(0, w))
    fg_dx, _ = _shift(frames[0][subject], frames[-1][subject])
    bg_dx, _ = _shift(frames[0][background], frames[-1][background])
    assert abs(fg_dx - bg_dx) > 3.0, (fg_dx, bg_dx)
    assert np.sign(fg_dx) != np.sign(bg_dx)


def test_full_size_product_page(gen_photo, tmp_path):
    preset = load_presets()["product-page"]
    ref, _ = _render(gen_photo, preset, tmp_path / "full.mkv", duration_scale=0.25)
    facts = probe(ref.path)
    assert (facts.width, facts.height, facts.n_frames) == (1080, 1350, 24)
    assert facts.codec == "libx264rgb" or facts.codec.startswith("h264")
    assert ref.params["upscaled"] is True  # an 800x1000 photo is smaller than 1080x1350


def test_frames_written_on_the_background_thread_keep_their_order_and_their_errors(tmp_path):
    from catalog_motion.media import MasterClipWriter
    from generation.camera import _FrameSink

    # More frames than the ring holds: a buffer is only reused once its frame is in the master.
    with MasterClipWriter(tmp_path / "order.nut", 64, 48, 24) as writer, _FrameSink(writer, 64, 48) as sink:
        for k in range(10):
            frame = sink.buffer()
            frame[:] = 20 * k
            sink.write(frame)
    frames = read_frames(tmp_path / "order.nut")
    assert [int(f.mean()) for f in frames] == [20 * k for k in range(10)]

    # A write that fails on the thread fails the clip here, and leaves no master behind.
    failing = pytest.raises(ValueError, match="frame must be uint8 48x64x3")
    with failing, MasterClipWriter(tmp_path / "bad.nut", 64, 48, 24) as writer, _FrameSink(writer, 64, 48) as sink:
        sink.buffer()
        sink.write(np.zeros((48, 63, 3), np.uint8))
        for _ in range(4):
            sink.write(sink.buffer())
    assert not list(tmp_path.glob("bad.nut*"))


@pytest.mark.parametrize("sample", ["dress-print", "hoodie-logo"])
def test_close_up_moves_the_fabric_gently_and_keeps_the_print_for_the_gate(tmp_path, sample):
    from catalog_connectors.samples import draw_sample_catalog
    from quality.gate import check_clip

    draw_sample_catalog(tmp_path, photos=[sample])
    photo = next((tmp_path / "images").glob(f"{sample}.*"))
    preset = load_presets()["close-up"]  # full size: the print's detail at delivery resolution is the point
    request = GenerationRequest(source_path=str(photo), preset=preset, seed=7, out_path=str(tmp_path / "close.nut"))
    ref = get_engine("camera", {}).generate(request)
    assert ref.params["garment"]["active"] is True and ref.params["garment"]["sway"] == preset.motion.sway > 0
    report = check_clip(photo, ref.path, preset, expected_frames=ref.n_frames)  # the gate's defaults
    assert report.passed, (sample, report.reasons)
    assert report.scores["detail"] < 0.1, report.scores["detail"]  # prints and text keep their structure
