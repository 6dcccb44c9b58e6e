"""The foundation gate on labelled synthetic clips: good camera moves pass, each defect fails for its reason."""

from __future__ import annotations

import subprocess

import cv2
import numpy as np
import pytest

from catalog_motion.media import ffmpeg_exe
from quality.delivered import check_conformance
from quality.gate import check_clip
from quality.io import QCInputError
from quality.review import add_to_review_queue, read_review_queue
from quality.synthetic import camera_frames, draw_garment_photo, garment_mask
from quality.verdict import REGENERATE_CHECKS
from tests.fixtures.quality_clips import QC_H, QC_N, QC_W


@pytest.fixture()
def still_preset(qc_presets):
    # a push-in preset: the drawn clips below zoom by up to 8 %, within what it asks for (quality.motion)
    preset = qc_presets["product-page"]
    motion = preset.motion.model_copy(update={"path": "push_in", "amount": 0.5})
    return preset.model_copy(update={"loop": False, "motion": motion})


def _push(photo, n=QC_N, **kw):
    kw.setdefault("zoom", 0.08)
    return camera_frames(photo, QC_W, QC_H, n, **kw)


def test_camera_push_in_passes(qc_photo_path, qc_photo_array, qc_write_clip, still_preset):
    report = check_clip(qc_photo_path, qc_write_clip(_push(qc_photo_array, zoom=0.08)), still_preset)
    assert report.passed, report.reasons
    assert report.failed_checks == [] and report.reasons == []
    assert 0.0 <= report.scores["drift"] < still_preset.qc.max_subject_drift
    assert len(report.per_frame["flicker"]) == QC_N - 1
    assert report.per_frame["drift_frame"][0] == 0 and report.per_frame["drift_frame"][-1] == QC_N - 1


def test_breathing_loop_passes(qc_photo_path, qc_photo_array, qc_write_clip, qc_presets):
    preset = qc_presets["product-page"]
    assert preset.loop
    report = check_clip(qc_photo_path, qc_write_clip(_push(qc_photo_array, zoom=0.02, path="breathing")), preset)
    assert report.passed, report.reasons
    assert report.scores["loop_seam"] < preset.qc.max_loop_seam


def test_colour_shift_on_subject_fails_drift(qc_photo_path, qc_photo_array, qc_write_clip, still_preset):
    shifted = qc_photo_array.copy()
    hsv = cv2.cvtColor(qc_photo_array, cv2.COLOR_RGB2HSV)
    hsv[..., 0] = (hsv[..., 0].astype(int) + 15) % 180
    mask = garment_mask(qc_photo_array)
    shifted[mask] = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[mask]
    # the colour creeps in over the clip (a slow drift, worst at the end)
    a, b = _push(qc_photo_array), _push(shifted)
    frames = [
        np.clip((1 - t) * x.astype(float) + t * y, 0, 255).astype(np.uint8)
        for t, x, y in zip(np.linspace(0, 1, QC_N), a, b, strict=False)
    ]
    report = check_clip(qc_photo_path, qc_write_clip(frames), still_preset)
    assert not report.passed
    assert "drift" in report.failed_checks
    assert report.scores["drift_colour"] > still_preset.qc.max_subject_drift
    assert report.scores["drift_last"] >= report.scores["drift_mean"]


def test_replaced_subject_fails_drift(qc_photo_path, qc_photo_array, qc_write_clip, still_preset):
    other = draw_garment_photo(384, 480, seed=11)
    frames = _push(qc_photo_array)[: QC_N // 2] + _push(other)[QC_N // 2 :]
    report = check_clip(qc_photo_path, qc_write_clip(frames), still_preset)
    assert "drift" in report.failed_checks
    assert report.scores["drift"] > 0.5
    assert report.scores["drift_worst_frame"] >= QC_N // 2


def test_black_frames_fail(qc_photo_path, qc_photo_array, qc_write_clip, still_preset):
    frames = _push(qc_photo_array)
    frames[7] = np.zeros_like(frames[7])
    frames[8] = np.full_like(frames[8], 128)  # a flat grey frame: what a NaN output often becomes
    report = check_clip(qc_photo_path, qc_write_clip(frames), still_preset)
    assert "black_frames" in report.failed_checks
    assert report.scores["black_frames"] == 2
    assert report.per_frame["black"][7] == 1.0 and report.per_frame["black"][0] == 0.0


def test_brightness_flicker_fails(qc_photo_path, qc_photo_array, qc_write_clip, still_preset):
    frames = [
        np.clip(f.astype(float) * (1.04 if i % 2 else 1.0), 0, 255).astype(np.uint8)
        for i, f in enumerate(_push(qc_photo_array))
    ]
    report = check_clip(qc_photo_path, qc_write_clip(frames), still_preset)
    assert "flicker" in report.failed_checks
    assert report.scores["flicker"] > still_preset.qc.max_flicker
    assert "drift" not in report.failed_checks  # a global gain of 4 % is flicker, not a different product


def test_frozen_stretch_fails(qc_photo_path, qc_photo_array, qc_write_clip, still_preset):
    frames = _push(qc_photo_array)
    frames[4:20] = [frames[4]] * 16  # 15 frame steps without change = 0.625 s at 24 fps
    report = check_clip(qc_photo_path, qc_write_clip(frames), still_preset)
    assert "frozen" in report.failed_checks
    assert report.scores["frozen_s"] == pytest.approx(15 / 24, abs=1e-6)


def test_flashes_fail_photosensitivity(qc_photo_path, qc_photo_array, qc_write_clip, still_preset):
    frames = _push(qc_photo_array)
    for i in range(0, QC_N, 4):  # dark for 2 frames every 4: 6 flashes per second at 24 fps
        frames[i] = (frames[i] * 0.3).astype(np.uint8)
        frames[i + 1] = (frames[i + 1] * 0.3).astype(np.uint8)
    report = check_clip(qc_photo_path, qc_write_clip(frames), still_preset)
    assert "photosensitivity" in report.failed_checks
    assert report.scores["flashes_per_s"] > 3


def test_loop_seam_fails_for_a_loop_preset(qc_photo_path, qc_photo_array, qc_write_clip, qc_presets):
    report = check_clip(qc_photo_path, qc_write_clip(_push(qc_photo_array, zoom=0.3)), qc_presets["product-page"])
    assert "loop_seam" in report.failed_checks
    assert not set(report.failed_checks) & {"drift", "flicker"}


def _encode(master, out, *, size=None, fps=None, pix_fmt="yuv420p"):
    cmd = [ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(master)]
    if size:
        cmd += ["-vf", f"scale={size[0]}:{size[1]}"]
    if fps:
        cmd += ["-r", str(fps)]
    cmd += [
        "-c:v",
        "libx264",
        "-pix_fmt",
        pix_fmt,
        "-crf",
        "20",
        "-preset",
        "veryfast",
        "-movflags",
        "+faststart",
        str(out),
    ]
    subprocess.run(cmd, check=True)
    return out


def test_check_conformance_of_the_container(tmp_path, qc_photo_array, qc_write_clip, still_preset):
    master = qc_write_clip(_push(qc_photo_array))
    good = check_conformance(_encode(master, tmp_path / "good.mp4"), still_preset)
    assert good.passed, good.reasons
    assert good.scores["n_frames"] == QC_N and good.scores["duration_error_s"] <= 1 / 24
    wrong = check_conformance(_encode(master, tmp_path / "bad.mp4", size=(160, 200), pix_fmt="yuv444p"), still_preset)
    assert not wrong.passed and wrong.failed_checks == ["conformance"]
    assert any("size is 160x200" in r for r in wrong.reasons)
    assert any("pixel format is yuv444p" in r for r in wrong.reasons)
    # the lossless master itself is not a delivery file: RGB, not yuv420p
    assert not check_conformance(master, still_preset, codec="h264").passed


def test_encoded_clip_scores_like_its_master(tmp_path, qc_photo_path, qc_photo_array, still_preset):
    # As in production: a delivery-size encode, scored at a smaller work size (chroma subsampling and
    # compression noise stay below the metrics' scale).
    from catalog_motion.media import write_master

    preset = still_preset.model_copy(
        update={"width": 384, "height": 480, "qc": still_preset.qc.model_copy(update={"work_long_side": 240})}
    )
    master = write_master(camera_frames(qc_photo_array, 384, 480, QC_N, zoom=0.08), tmp_path / "m.mkv", 24)
    from_master = check_clip(qc_photo_path, master, preset)
    encoded = check_clip(qc_photo_path, _encode(master, tmp_path / "enc.mp4"), preset)
    assert from_master.passed and encoded.passed, (from_master.reasons, encoded.reasons)
    assert abs(encoded.scores["drift"] - from_master.scores["drift"]) < 0.1


def test_review_queue_records_rejected_clip(tmp_path, qc_photo_path, qc_photo_array, qc_write_clip, still_preset):
    frames = _push(qc_photo_array)
    frames[3] = np.zeros_like(frames[3])
    clip = qc_write_clip(frames)
    report = check_clip(qc_photo_path, clip, still_preset)
    root = tmp_path / "review"
    folder = add_to_review_queue(
        root, sku="SKU/../1", preset="product-page", source_path=qc_photo_path, clip_path=clip, report=report
    )
    assert folder.is_relative_to(root.resolve())
    assert (folder / "filmstrip.png").stat().st_size > 0 and (folder / "qc_report.json").exists()
    strip = cv2.imread(str(folder / "filmstrip.png"))
    assert strip.shape[0] == 160 and strip.shape[1] > 8 * 100
    add_to_review_queue(root, sku="SKU-2", preset="social", source_path=qc_photo_path, clip_path=clip, report=report)
    rows = read_review_queue(root)
    assert [r["sku"] for r in rows] == ["SKU/../1", "SKU-2"]
    assert "black" in rows[0]["reason"] and rows[0]["failed_checks"] == "black_frames"


def test_review_queue_keeps_raw_masters_as_compact_exact_copies(tmp_path, qc_photo_path, qc_photo_array, still_preset):
    from catalog_motion.media import probe, read_frames, write_master

    frames = _push(qc_photo_array)
    frames[2] = np.zeros_like(frames[2])
    raw = write_master(frames, tmp_path / "attempt-0.nut", fps=still_preset.fps)
    report = check_clip(qc_photo_path, raw, still_preset)
    folder = add_to_review_queue(
        tmp_path / "review", sku="SKU-3", preset="product-page", source_path=qc_photo_path, clip_path=raw, report=report
    )
    copy = folder / "clip.mkv"
    assert probe(copy).codec == "h264" and copy.stat().st_size < raw.stat().st_size
    assert np.array_equal(read_frames(copy), read_frames(raw))
    assert read_review_queue(tmp_path / "review")[0]["clip"].endswith("clip.mkv")


def test_regenerate_checks_are_named():
    assert {"drift", "flicker"} <= REGENERATE_CHECKS and "black_frames" not in REGENERATE_CHECKS


def test_bad_inputs_are_clear_errors(tmp_path, qc_photo_path, qc_photo_array, qc_write_clip, still_preset):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(range(256)) * 4)
    one = qc_write_clip(_push(qc_photo_array)[:1], name="one")
    for path, words in (
        (empty, "empty"),
        (corrupt, "decode"),
        (one, "at least 2"),
        (tmp_path / "nope.mkv", "not found"),
    ):
        with pytest.raises(QCInputError, match=words) as info:
            check_clip(qc_photo_path, path, still_preset)
        assert "\n" not in str(info.value)
    not_a_photo = tmp_path / "photo.png"
    not_a_photo.write_text("hello")
    with pytest.raises(QCInputError, match="cannot read source photo"):
        check_clip(not_a_photo, one, still_preset)
