"""The delivered file's gate: real encodes (publishing.encode, ffmpeg) of real master clips, checked for
container conformance and against their master; and the publish step refusing an encode that fails."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from catalog_motion.media import write_master
from catalog_motion.presets import EncodingSpec, Preset, load_presets
from catalog_motion.types import ClipRef
from publishing.encode import encode_variants
from quality.delivered import black_or_blank_ycbcr, box_factor, check_conformance, check_delivered, compare
from quality.io import QCInputError
from quality.synthetic import camera_frames, draw_garment_photo

W, H, FPS, N = 192, 240, 24, 24


@pytest.fixture(scope="module")
def preset() -> Preset:
    base = load_presets()["product-page"]
    return base.model_copy(update={"width": W, "height": H, "fps": FPS, "duration_s": N / FPS})


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return draw_garment_photo(384, 480, seed=3)


@pytest.fixture(scope="module")
def frames(photo) -> list[np.ndarray]:
    return camera_frames(photo, W, H, N, zoom=0.15)


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("delivered")


def master(root: Path, frames: list[np.ndarray], name: str, suffix: str = ".nut") -> Path:
    return write_master([np.ascontiguousarray(f) for f in frames], root / f"{name}{suffix}", FPS)


def encode(root: Path, clip: Path, preset: Preset, name: str, **spec) -> dict[str, Path]:
    """The production encodes (publishing.encode) of `clip`; `spec` overrides the mp4 encoding."""
    if spec:
        preset = preset.model_copy(update={"encodings": [EncodingSpec(format="mp4-h264", **spec)]})
    ref = ClipRef(path=str(clip), fps=FPS, n_frames=N, width=W, height=H, engine="camera", seed=0)
    return {
        a.kind: Path(a.path) for a in encode_variants(ref, preset, root / f"enc-{name}") if a.kind.startswith("video")
    }


@pytest.fixture(scope="module")
def good(root, frames, preset) -> tuple[Path, dict[str, Path]]:
    clip = master(root, frames, "good")
    return clip, encode(root, clip, preset, "good")


def test_box_factor_and_blank_frames():
    assert box_factor(1080, 1350, 160) == 8 and box_factor(1080, 1920, 160) == 12 and box_factor(192, 240, 160) == 2
    black = np.zeros((3, 20, 20), np.float32)
    black[0] = 16.0
    assert black_or_blank_ycbcr(black)
    rng = np.random.default_rng(0)
    picture = np.stack([rng.uniform(16, 235, (20, 20)), np.full((20, 20), 128.0), np.full((20, 20), 128.0)])
    assert not black_or_blank_ycbcr(picture.astype(np.float32))


def test_compare_finds_a_held_frame_and_ignores_a_still_clip():
    rng = np.random.default_rng(1)
    base = rng.uniform(16, 235, (3, 40, 40)).astype(np.float32)
    moving = [np.roll(base, i, axis=2) for i in range(12)]  # one pixel of motion per frame
    held = list(moving)
    held[6] = moving[5]
    scores = compare(held, moving, fps=12)
    assert [i for i, s in enumerate(scores.out_of_step) if s] == [6] and scores.out_of_step[6] == -1
    still = [base + rng.normal(0, 0.5, base.shape).astype(np.float32) for _ in range(12)]
    assert not any(compare(still[::-1], still, fps=12).out_of_step)  # nothing moves: no frame is out of step


def test_good_encodes_pass_mp4_and_webm(good, preset):
    clip, encodes = good
    assert set(encodes) == {"video", "video_webm"}
    for path in encodes.values():
        report = check_delivered(path, clip, preset)
        assert report.passed, report.reasons
        assert report.scores["delivery_psnr_db"] > preset.qc.delivery_min_psnr_db + 4
        assert report.scores["delivery_out_of_step"] == 0 and report.scores["delivery_frames"] == N
        assert report.limits["delivery_psnr_db"] == preset.qc.delivery_min_psnr_db
        assert len(report.per_frame["delivery_psnr_db"]) == N


def test_lossless_h264_master_is_a_master_too(root, frames, preset, good):
    clip = master(root, frames, "good-mkv", ".mkv")
    report = check_delivered(good[1]["video"], clip, preset)
    assert report.passed, report.reasons


def test_crf_51_fails_delivery(root, good, preset):
    clip, _ = good
    report = check_delivered(encode(root, clip, preset, "crf51", crf=51)["video"], clip, preset)
    assert report.failed_checks == ["delivery"], report.reasons
    assert any("encode PSNR against the master" in r and "dB < limit 38 dB at frame" in r for r in report.reasons)


def _defect(root, preset, frames, name: str, edit) -> tuple[Path, dict[str, Path]]:
    """An encode whose pictures were edited before encoding (what a broken encoder would write)."""
    edited = list(frames)
    edit(edited)
    return encode(root, master(root, edited, name), preset, name)


def test_black_frame_the_master_lacks_fails_delivery(root, good, frames, preset):
    encodes = _defect(root, preset, frames, "black", lambda f: f.__setitem__(10, np.zeros_like(f[10])))
    report = check_delivered(encodes["video"], good[0], preset)
    assert report.failed_checks == ["delivery"]
    assert (
        report.reasons[0]
        == "delivery: black or blank frames the master does not have 1 frames > limit 0 frames at frame 10 (0.42 s)"
    )


def test_frozen_stretch_the_master_lacks_fails_delivery(root, good, frames, preset):
    encodes = _defect(root, preset, frames, "frozen", lambda f: f.__setitem__(slice(8, 20), [frames[8]] * 12))
    report = check_delivered(encodes["video_webm"], good[0], preset)  # webm is checked the same way
    assert report.failed_checks == ["delivery"]
    stepped = [i for i, s in enumerate(report.per_frame["delivery_out_of_step"]) if s]
    assert stepped and stepped[0] == 9 and set(stepped) <= set(range(9, 20))
    assert any("frames out of step with the master" in r and "shows master frame 8" in r for r in report.reasons)


def test_dropped_frames_fail_delivery(root, good, frames, preset):
    # one frame dropped: the container is short (conformance) and the frame count differs (delivery)
    short = _defect(root, preset, frames, "drop", lambda f: f.__delitem__(12))
    report = check_delivered(short["video"], good[0], preset)
    assert report.failed_checks == ["conformance", "delivery"]
    assert "delivery: encode frame count differs from the master's 23 frames < limit 24 frames" in report.reasons
    # dropped and padded back to length: the container conforms, the pictures are a frame ahead
    padded = _defect(root, preset, frames, "drop-pad", lambda f: (f.__delitem__(12), f.append(frames[-1])))
    report = check_delivered(padded["video"], good[0], preset)
    assert report.failed_checks == ["delivery"]
    assert report.per_frame["delivery_out_of_step"][12:14] == [1.0, 1.0]


def test_defects_the_master_has_are_not_the_encoders(root, frames, preset):
    # a black frame and a held stretch in the master itself are the gate's business, not the encode's
    edited = list(frames)
    edited[10] = np.zeros_like(frames[10])
    edited[14:20] = [frames[14]] * 6
    clip = master(root, edited, "faulty-master")
    report = check_delivered(encode(root, clip, preset, "faulty-master")["video"], clip, preset)
    assert report.passed, report.reasons


def test_encode_of_a_different_master_fails(root, good, preset, photo):
    other = master(root, camera_frames(draw_garment_photo(384, 480, seed=5), W, H, N, zoom=0.15), "other")
    report = check_delivered(encode(root, other, preset, "other")["video"], good[0], preset)
    assert report.failed_checks == ["delivery"]
    assert report.scores["delivery_psnr_db"] < 30


def test_wrong_size_fails_conformance(root, good, preset):
    wrong = preset.model_copy(update={"width": 160, "height": 200})
    encodes = encode(root, good[0], wrong, "small", crf=20)  # the encoder resizes to 160x200
    report = check_delivered(encodes["video"], good[0], preset)
    assert "conformance" in report.failed_checks
    assert any(r == "conformance: size is 160x200, expected 192x240" for r in report.reasons)
    assert check_conformance(encodes["video"], preset).failed_checks == ["conformance"]
    assert check_conformance(good[1]["video"], preset).passed


def test_unreadable_encodes_raise_one_line(root, good, preset):
    empty = root / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(QCInputError, match="missing or empty"):
        check_delivered(empty, good[0], preset)
    garbage = root / "garbage.mp4"
    garbage.write_bytes(b"not a video" * 100)
    with pytest.raises(QCInputError, match="garbage.mp4"):
        check_delivered(garbage, good[0], preset)
    with pytest.raises(QCInputError, match="not found"):
        check_delivered(good[1]["video"], root / "gone.nut", preset)


def test_publish_step_refuses_an_encode_that_fails_delivery(tmp_path, photo):
    """The publish step (pipeline.steps.publish_batch) with a real encoder and sink: an item whose encode
    fails the delivered-file gate ends failed with the reason, and nothing of it is stored."""
    from catalog_motion.settings import RunSettings
    from catalog_motion.types import WorkItem
    from pipeline.state import ItemState, RunContext
    from pipeline.steps import publish_batch

    base = load_presets()["product-page"].model_copy(
        update={"width": W, "height": H, "fps": FPS, "duration_s": N / FPS}
    )
    photo_path = tmp_path / "tee.png"
    Image.fromarray(photo).save(photo_path)

    def publish(name: str, crf: int) -> tuple[ItemState, Path]:
        preset = base.model_copy(
            update={"encodings": [EncodingSpec(format="mp4-h264", crf=crf), EncodingSpec(format="poster-jpeg")]}
        )
        out = tmp_path / f"out-{name}"
        out.mkdir()
        settings = RunSettings(
            work_dir=str(tmp_path / f"work-{name}"), sink={"uri": str(out)}, orchestration={"retries": 0}
        )
        ctx = RunContext(
            run_id="r1",
            catalog="catalog.csv",
            out=str(out),
            work_dir=settings.work_dir,
            settings=settings,
            presets={preset.name: preset},
        )
        state = ItemState(item=WorkItem(sku=f"TEE-{name}", preset=preset.name, image=str(photo_path), seed=1))
        clip_dir = ctx.work / "masters" / state.item.sku / preset.name
        clip_dir.mkdir(parents=True)
        clip = write_master(camera_frames(photo, W, H, N, zoom=0.15), clip_dir / "attempt-0.nut", FPS)
        state.clip = ClipRef(path=str(clip), fps=FPS, n_frames=N, width=W, height=H, engine="camera", seed=1)
        return publish_batch([state], ctx)[0], out

    state, out = publish("bad", crf=51)
    assert state.status == "failed"
    assert state.reason.startswith("encode not conformant: video.mp4: delivery: encode PSNR against the master")
    assert state.assets == {} and not any(p.is_file() for p in out.rglob("*"))
    state, out = publish("good", crf=20)  # the same item with the packaged quality publishes
    assert state.status == "published", state.reason
    assert any(p.suffix == ".mp4" for p in out.rglob("*"))


def test_truncated_encode_fails_both(root, good, preset):
    data = good[1]["video"].read_bytes()
    cut = root / "cut.mp4"
    cut.write_bytes(data[: len(data) * 4 // 5])  # the first frames still decode
    report = check_delivered(cut, good[0], preset)
    assert report.failed_checks == ["conformance", "delivery"]
    assert report.scores["delivery_frames"] < N
    assert any(r.startswith("delivery: encode frame count differs from the master's") for r in report.reasons)


def test_heavily_compressed_encode_fails_on_half_size_detail(tmp_path):
    # a 1080x1920 social clip: at crf 44 the 90x160 comparison still reads ~40 dB (passed before); at half
    # size its blocks and wiped texture show. The preset's own crf keeps a wide margin.
    import subprocess

    from catalog_motion.media import MasterClipWriter, ffmpeg_exe
    from quality.calibration import GOOD_GARMENT, SPREAD, PhotoBank, preset_recipe
    from quality.synthetic import MotionRecipe, SceneRenderer

    social = load_presets()["social"]
    n = 30
    preset = social.model_copy(update={"duration_s": n / social.fps})
    bank = PhotoBank()
    w, h = preset.width, preset.height
    photo, mask, plate = bank.items[bank.drawn(int(w * 1.25) // 2 * 2, int(h * 1.25) // 2 * 2, spread=SPREAD["9:16"])]
    recipe = MotionRecipe(**{**preset_recipe(preset, (0.5, 0.5)).__dict__, **GOOD_GARMENT})
    master = tmp_path / "master.nut"
    with MasterClipWriter(master, w, h, preset.fps) as writer:
        for frame in SceneRenderer(photo, mask, recipe, w, h, n, plate=plate):
            writer.write(frame)
    scores = {}
    for crf in (21, 44):
        out = tmp_path / f"crf{crf}.mp4"
        cmd = [ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(master), "-c:v", "libx264", "-preset", "veryfast"]
        tags = ["-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709"]  # as publishing does
        subprocess.run([*cmd, "-crf", str(crf), "-pix_fmt", "yuv420p", *tags, "-an", str(out)], check=True)
        report = check_delivered(out, master, preset, expected_frames=n)
        scores[crf] = (report.passed, report.scores["delivery_psnr_db"], report.scores["delivery_detail_psnr_db"])
        if crf == 44:
            assert report.failed_checks == ["delivery"], report.reasons
            assert "half size (blocking, wiped texture)" in report.reasons[-1] and "limit 41 dB" in report.reasons[-1]
            assert report.limits["delivery_detail_psnr_db"] == 41.0
    assert scores[21][0] and scores[21][2] > 41.0 + 5, scores
    assert scores[44][1] > preset.qc.delivery_min_psnr_db, scores  # what the small comparison saw
