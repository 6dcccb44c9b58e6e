"""Master clips: both formats keep every pixel, the suffix picks the format, conversion is exact."""

from __future__ import annotations

import numpy as np
import pytest

from catalog_motion.errors import PermanentError
from catalog_motion.media import (
    MASTER_SUFFIX,
    MasterClipWriter,
    convert_master,
    probe,
    read_frames,
    write_master,
)
from catalog_motion.settings import OrchestrationSettings


def _frames(n: int = 6, width: int = 66, height: int = 50) -> list[np.ndarray]:
    rng = np.random.default_rng(3)  # noise: any lossy step would change pixels
    return [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(n)]


@pytest.mark.parametrize(("suffix", "codec"), [(".nut", "rawvideo"), (".mkv", "h264")])
def test_master_formats_are_lossless(tmp_path, suffix, codec):
    frames = _frames()
    path = write_master(frames, tmp_path / f"clip{suffix}", fps=24)
    facts = probe(path)
    assert (facts.codec, facts.width, facts.height, facts.n_frames) == (codec, 66, 50, 6)
    assert np.array_equal(read_frames(path), np.stack(frames))
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"clip{suffix}"]  # no temp file left


@pytest.mark.parametrize("suffix", [".nut", ".mkv"])
def test_a_clip_that_fails_mid_way_leaves_no_master_behind(tmp_path, suffix):
    frames = _frames()
    writer = MasterClipWriter(tmp_path / f"clip{suffix}", 66, 50, 24)
    with pytest.raises(ValueError, match="frame must be uint8"), writer:
        writer.write(frames[0])
        writer.write(frames[1][:, :20])  # a wrong-sized frame: the clip is abandoned
    assert list(tmp_path.iterdir()) == []  # neither the master nor its partial file


def test_settings_name_every_master_format():
    allowed = OrchestrationSettings.model_fields["master_format"].annotation.__args__
    assert set(allowed) == set(MASTER_SUFFIX) | {"auto"}
    assert OrchestrationSettings().master_format == "auto"


def test_unknown_master_suffix_is_refused_before_writing(tmp_path):
    with pytest.raises(ValueError, match=r"suffix must be one of \.nut, \.mkv"):
        MasterClipWriter(tmp_path / "clip.mp4", 8, 8, 24)
    assert not list(tmp_path.iterdir())


def test_convert_raw_master_to_compact_lossless(tmp_path):
    # photo-like content (smooth shading, a little grain) compresses losslessly; pure noise would not
    yy, xx = np.mgrid[0:90, 0:120]
    grain = np.random.default_rng(1).integers(0, 3, (90, 120, 1))
    frames = [np.clip(np.stack([xx + t, yy * 2, xx + yy], axis=-1) + grain, 0, 255).astype(np.uint8) for t in range(8)]
    raw = write_master(frames, tmp_path / "raw.nut", fps=24)
    compact = convert_master(raw, tmp_path / "copy.mkv")
    assert probe(compact).codec == "h264"
    assert compact.stat().st_size < raw.stat().st_size
    assert np.array_equal(read_frames(compact), np.stack(frames))


def test_convert_unreadable_master_is_one_line_error(tmp_path):
    bad = tmp_path / "bad.nut"
    bad.write_bytes(b"not a video")
    with pytest.raises(PermanentError, match="cannot convert bad.nut") as caught:
        convert_master(bad, tmp_path / "copy.mkv")
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "copy.mkv").exists() and not (tmp_path / "copy.mkv.partial").exists()


def test_auto_master_format_takes_raw_only_with_room_to_spare():
    from catalog_motion.media import RAW_HEADROOM_BYTES, pick_master_format, raw_master_bytes

    need = 4 * raw_master_bytes(1080, 1920, 180)  # a batch of four social clips: ~4.5 GB
    assert pick_master_format("auto", need, 3 * need + RAW_HEADROOM_BYTES) == "raw"
    assert pick_master_format("auto", need, 3 * need + RAW_HEADROOM_BYTES - 1) == "lossless-h264"
    assert pick_master_format("auto", need, 10**9) == "lossless-h264"  # 1 GB free
    # explicit settings are obeyed whatever the disk says
    assert pick_master_format("raw", need, 0) == "raw"
    assert pick_master_format("lossless-h264", 0, 10**15) == "lossless-h264"
    with pytest.raises(ValueError, match="unknown master format 'png'"):
        pick_master_format("png", need, 10**15)
