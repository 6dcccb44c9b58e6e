"""Every encode is probed: codec, profile, pix_fmt, size, frame rate, duration, faststart, colour tags, audio."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest
from PIL import Image

from catalog_motion.errors import PermanentError
from catalog_motion.media import mp4_top_level_atoms, probe, read_frames
from catalog_motion.presets import EncodingSpec
from catalog_motion.types import ClipRef, sha256_file
from publishing.encode import encode_variants

from .conftest import small_preset


def assert_conforms(path, preset, clip, *, codec, profile, audio=None):
    facts = probe(path)
    assert facts.codec == codec
    assert facts.profile == profile
    assert facts.pix_fmt == "yuv420p"
    assert (facts.width, facts.height) == (preset.width, preset.height)
    assert facts.fps == Fraction(preset.fps)
    expected = clip.n_frames / clip.fps
    assert abs(facts.duration_s - expected) <= 1.0 / preset.fps + 1e-6, (facts.duration_s, expected)
    assert facts.n_frames == round(expected * preset.fps)
    assert (facts.color_space, facts.color_primaries, facts.color_trc, facts.color_range) == (
        "bt709",
        "bt709",
        "bt709",
        "tv",
    )
    assert facts.has_audio == (audio is not None)
    assert facts.audio_codec == audio
    return facts


def keyframe_indices_and_idr(path):
    """Indices of keyframe packets, and whether each keyframe carries an IDR slice (NAL type 5)."""
    keys, idr = [], []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        packets = [p for p in container.demux(stream) if p.size]
        packets.sort(key=lambda p: p.pts)  # presentation order (B-frames reorder decode order)
        for index, packet in enumerate(packets):
            if packet.is_keyframe:
                keys.append(index)
                data, types, pos = bytes(packet), set(), 0
                while pos + 4 <= len(data):  # MP4 stores length-prefixed NAL units
                    size = int.from_bytes(data[pos : pos + 4], "big")
                    types.add(data[pos + 4] & 0x1F)
                    pos += 4 + size
                idr.append(5 in types)
    return keys, idr


@pytest.mark.parametrize("master_suffix", [".nut", ".mkv"])
def test_product_page_variants_conform(pub_masters, tmp_path, master_suffix):
    """Both master formats (raw rgb24 NUT, lossless H.264) give the same conforming variants."""
    preset = small_preset("product-page", 160, 200)
    clip = pub_masters(160, 200, 24, 24, suffix=master_suffix)
    assets = encode_variants(clip, preset, tmp_path)
    assert [a.kind for a in assets] == ["video", "video_webm", "poster_jpeg", "poster_webp"]
    mp4, webm, jpeg, webp = (a.path for a in assets)
    assert_conforms(mp4, preset, clip, codec="h264", profile="High")
    assert mp4_top_level_atoms(mp4).index("moov") < mp4_top_level_atoms(mp4).index("mdat")
    assert_conforms(webm, preset, clip, codec="vp9", profile="Profile 0")
    assert probe(webm).container.startswith("matroska")
    first = next(iter(read_frames(clip.path)))
    for poster, fmt, tolerance in ((jpeg, "JPEG", 6.0), (webp, "WEBP", 8.0)):
        with Image.open(poster) as image:
            assert image.format == fmt and image.size == (preset.width, preset.height) and image.mode == "RGB"
            error = np.abs(np.asarray(image, dtype=np.float32) - first.astype(np.float32)).mean()
        assert error < tolerance, f"{fmt} poster is not the first frame (mean abs error {error:.1f})"
    # Encoded video reproduces the master (right matrix/range round trip: a BT.601 mix-up shifts colours).
    decoded = read_frames(mp4)
    assert decoded.shape == (clip.n_frames, preset.height, preset.width, 3)
    master = read_frames(clip.path)
    assert (
        np.abs(decoded.astype(np.float32).mean(axis=(0, 1, 2)) - master.astype(np.float32).mean(axis=(0, 1, 2))).max()
        < 2.0
    )
    assert np.abs(decoded[5].astype(np.float32) - master[5]).mean() < 8.0
    # No stray temp files left behind.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["poster.jpg", "poster.webp", "video.mp4", "video.webm"]


def test_encodes_are_deterministic(pub_masters, tmp_path):
    """Content-addressed publishing relies on identical inputs giving identical bytes."""
    preset = small_preset("product-page", 160, 200)
    clip = pub_masters(160, 200, 24, 24)
    first = [sha256_file(a.path) for a in encode_variants(clip, preset, tmp_path / "a")]
    second = [sha256_file(a.path) for a in encode_variants(clip, preset, tmp_path / "b")]
    assert first == second


def test_social_closed_gop_under_reels_limits(pub_masters, tmp_path):
    preset = small_preset("social", 144, 256, duration_s=3.0)
    clip = pub_masters(144, 256, 30, 90)
    (video, poster) = encode_variants(clip, preset, tmp_path)
    facts = assert_conforms(video.path, preset, clip, codec="h264", profile="High")
    keys, idr = keyframe_indices_and_idr(video.path)
    assert keys == [0, 60]  # gop_s 2.0 at 30 fps, no scene-cut keyframes
    assert all(idr), "every keyframe must be an IDR (closed GOP)"
    assert b"open_gop=0" in open(video.path, "rb").read()
    assert facts.bit_rate and facts.bit_rate <= 25_000_000
    assert poster.kind == "poster_jpeg"


def test_silent_aac_when_a_channel_needs_it(pub_masters, tmp_path):
    preset = small_preset("social", 144, 256, encodings=[EncodingSpec(format="mp4-h264", audio="silent-aac")])
    clip = pub_masters(144, 256, 30, 30)
    (video,) = encode_variants(clip, preset, tmp_path)
    assert_conforms(video.path, preset, clip, codec="h264", profile="High", audio="aac")
    with av.open(video.path) as container:
        audio = container.streams.audio[0]
        samples = np.concatenate([f.to_ndarray().ravel() for f in container.decode(audio)])
    assert np.abs(samples).max() == 0.0, "the audio track must be silent"
    assert abs(len(samples) / 2 / 48000 - 1.0) < 0.1


def test_resizes_master_to_delivery_size_with_lanczos(pub_masters, tmp_path):
    preset = small_preset("close-up", 128, 128)
    clip = pub_masters(256, 256, 24, 24)  # master twice the delivery size
    assets = encode_variants(clip, preset, tmp_path)
    for asset in assets:
        if asset.kind.startswith("video"):
            facts = probe(asset.path)
            assert (facts.width, facts.height) == (128, 128)
    reference = np.asarray(
        Image.fromarray(next(iter(read_frames(clip.path)))).resize((128, 128), Image.Resampling.LANCZOS),
        dtype=np.float32,
    )
    decoded = read_frames(assets[0].path)[0].astype(np.float32)
    assert np.abs(decoded - reference).mean() < 8.0


def test_frame_rate_conversion_keeps_duration(pub_masters, tmp_path):
    """A 16 fps model clip delivered at the preset's 24 fps keeps its length, CFR."""
    preset = small_preset("product-page", 160, 200, encodings=[EncodingSpec(format="mp4-h264")])
    clip = pub_masters(160, 200, 16, 32)
    (video,) = encode_variants(clip, preset, tmp_path)
    facts = probe(video.path)
    assert facts.fps == 24 and abs(facts.duration_s - 2.0) <= 1 / 24 and facts.n_frames == 48


def test_bad_master_is_a_one_line_permanent_error(tmp_path):
    bad = tmp_path / "broken.mkv"
    bad.write_bytes(b"not a video")
    preset = small_preset("product-page", 160, 200)
    clip = ClipRef(path=str(bad), fps=24, n_frames=24, width=160, height=200, engine="camera", seed=0)
    with pytest.raises(PermanentError) as info:
        encode_variants(clip, preset, tmp_path / "out")
    assert "\n" not in str(info.value) and "broken.mkv" in str(info.value)


def test_full_size_product_page_mp4(pub_masters, tmp_path):
    """One full-size check: 1080x1350 at the packaged product-page settings."""
    from catalog_motion.presets import load_presets

    preset = load_presets()["product-page"]
    preset = preset.model_copy(update={"duration_s": 1.0, "encodings": [preset.encodings[0]]})
    clip = pub_masters(1080, 1350, 24, 24)
    (video,) = encode_variants(clip, preset, tmp_path)
    facts = assert_conforms(video.path, preset, clip, codec="h264", profile="High")
    assert mp4_top_level_atoms(video.path)[:2] == ["ftyp", "moov"]
    assert facts.bit_rate <= 6_000_000 * 1.5


def test_full_size_social_within_reels_limits(pub_masters, tmp_path):
    """One full-size 9:16 check: 1080x1920, closed 2 s GOPs, peak 1 s bitrate within Meta's 25 Mbit/s."""
    from catalog_motion.presets import load_presets

    preset = load_presets()["social"]
    preset = preset.model_copy(update={"duration_s": 1.0, "encodings": [preset.encodings[0]]})
    clip = pub_masters(1080, 1920, 30, 30, seed=3)  # noisy texture: a hard case for the rate cap
    (video,) = encode_variants(clip, preset, tmp_path)
    assert_conforms(video.path, preset, clip, codec="h264", profile="High")
    keys, idr = keyframe_indices_and_idr(video.path)
    assert keys == [0] and all(idr)
    with av.open(video.path) as container:
        total_bits = sum(p.size for p in container.demux(container.streams.video[0])) * 8
    assert total_bits / preset.duration_s <= 12_000_000 * 1.1 <= 25_000_000  # maxrate 12 Mbit/s, VBV 1 s


def test_rejected_encoder_option_is_a_one_line_error_and_leaves_nothing(pub_masters, tmp_path):
    preset = small_preset("product-page", 160, 200, encodings=[EncodingSpec(format="mp4-h264", preset="warpspeed")])
    with pytest.raises(PermanentError) as info:
        encode_variants(pub_masters(160, 200, 24, 24), preset, tmp_path)
    assert "video.mp4" in str(info.value) and "\n" not in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_audio_option_only_for_mp4():
    with pytest.raises(ValueError, match="only supported for mp4-h264"):
        EncodingSpec(format="webm-vp9", audio="silent-aac")


@pytest.mark.parametrize("master_suffix", [".nut", ".mkv"])
def test_odd_sized_master_with_padded_rows(pub_masters, tmp_path, master_suffix):
    """A master whose decoded rows carry alignment padding (odd width) is cropped, then scaled, exactly."""
    preset = small_preset("product-page", 160, 200, encodings=[EncodingSpec(format="mp4-h264")])
    clip = pub_masters(150, 186, 24, 12, suffix=master_suffix)
    (video,) = encode_variants(clip, preset, tmp_path)
    facts = probe(video.path)
    assert (facts.width, facts.height, facts.n_frames) == (160, 200, 12)
    reference = np.asarray(
        Image.fromarray(read_frames(clip.path)[0]).resize((160, 200), Image.Resampling.LANCZOS), dtype=np.float32
    )
    decoded = read_frames(video.path)[0].astype(np.float32)
    assert np.abs(decoded - reference).mean() < 8.0  # padding bytes would show as a skewed, striped image
