"""fetch_photo on local files: sniffing, limits, EXIF orientation, colour normalisation, idempotence."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from catalog_connectors import IntakeSettings, fetch_photo
from catalog_motion.errors import IntakeError
from tests.catalog.photo_factory import bomb_png, jpeg_bytes, marker_image, matrix_icc, png_bytes

SWAPPED_RG = dict(
    red_xyz=(0.3851, 0.7169, 0.0971), green_xyz=(0.4361, 0.2225, 0.0139), blue_xyz=(0.1431, 0.0606, 0.7141)
)


def _pixels(path: str) -> np.ndarray:
    with Image.open(path) as im:
        assert im.mode == "RGB" and im.format == "PNG"
        return np.asarray(im)


def test_sample_photo_normalised_and_idempotent(sample_catalog: Path, tmp_path: Path) -> None:
    settings = IntakeSettings()
    a = fetch_photo("images/tee-red.png", tmp_path / "p", settings, base_dir=sample_catalog.parent)
    b = fetch_photo(str(sample_catalog.parent / "images/tee-red.png"), tmp_path / "p", settings)
    c = fetch_photo((sample_catalog.parent / "images/tee-red.png").as_uri(), tmp_path / "p", settings)
    assert a == b == c
    assert (a.width, a.height, a.flags, a.source_format) == (1600, 2000, [], "PNG")
    assert Path(a.path).name == f"{a.sha256}.png"
    assert hashlib.sha256(Path(a.path).read_bytes()).hexdigest() == a.sha256
    assert [p.name for p in (tmp_path / "p").iterdir()] == [f"{a.sha256}.png"]  # no temp files left
    original = np.asarray(Image.open(sample_catalog.parent / "images/tee-red.png").convert("RGB"))
    assert np.array_equal(_pixels(a.path), original)


def test_exif_orientation_applied(tmp_path: Path) -> None:
    im = marker_image(60, 40)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: must be turned 90 degrees clockwise to display
    (tmp_path / "rot.jpg").write_bytes(jpeg_bytes(im, exif=exif.tobytes()))
    got = fetch_photo("rot.jpg", tmp_path / "out", IntakeSettings(), base_dir=tmp_path)
    assert (got.width, got.height) == (40, 60)
    assert "exif-rotated:6" in got.flags
    px = _pixels(got.path)
    assert px[5, 35, 0] > 180 and px[5, 35, 1] < 80  # the red corner moved to the top-right
    assert px[5, 5, 0] < 160


def test_cmyk_16bit_palette_alpha_icc(tmp_path: Path) -> None:
    settings = IntakeSettings(min_long_side=16)
    cmyk = Image.new("CMYK", (32, 32), (0, 255, 255, 0))  # pure red in CMYK
    (tmp_path / "cmyk.jpg").write_bytes(jpeg_bytes(cmyk))
    got = fetch_photo("cmyk.jpg", tmp_path / "o", settings, base_dir=tmp_path)
    assert "cmyk" in got.flags
    r, g, b = _pixels(got.path)[16, 16]
    assert r > 200 and g < 60 and b < 60

    grey16 = Image.fromarray(np.full((32, 32), 65535 // 2, np.uint16))
    (tmp_path / "g16.png").write_bytes(png_bytes(grey16))
    got = fetch_photo("g16.png", tmp_path / "o", settings, base_dir=tmp_path)
    assert "16-bit: reduced to 8-bit" in got.flags
    assert abs(int(_pixels(got.path)[0, 0, 0]) - 128) <= 1

    rgba = Image.new("RGBA", (32, 32), (0, 0, 255, 255))
    rgba.paste((0, 0, 0, 0), (0, 0, 16, 32))  # left half fully transparent
    (tmp_path / "a.png").write_bytes(png_bytes(rgba))
    got = fetch_photo("a.png", tmp_path / "o", settings, base_dir=tmp_path, background="#ff0000")
    px = _pixels(got.path)
    assert tuple(px[10, 4]) == (255, 0, 0) and tuple(px[10, 28]) == (0, 0, 255)
    assert "alpha: flattened on background" in got.flags

    pal = Image.new("P", (32, 32), 1)
    pal.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    pal.info["transparency"] = 0
    pal.paste(0, (0, 0, 8, 8))
    (tmp_path / "p.png").write_bytes(png_bytes(pal, transparency=0))
    got = fetch_photo("p.png", tmp_path / "o", settings, base_dir=tmp_path)
    px = _pixels(got.path)
    assert "palette" in got.flags and tuple(px[2, 2]) == (255, 255, 255) and tuple(px[20, 20]) == (10, 200, 30)

    # An embedded profile whose red primary is sRGB's green: the stored red must come out green.
    red = Image.new("RGB", (32, 32), (255, 0, 0))
    (tmp_path / "icc.png").write_bytes(png_bytes(red, icc_profile=matrix_icc(**SWAPPED_RG)))
    got = fetch_photo("icc.png", tmp_path / "o", settings, base_dir=tmp_path)
    r, g, b = _pixels(got.path)[1, 1]
    assert "icc-converted" in got.flags and g > 200 and r < 60


def test_small_photo_flagged_not_refused(tmp_path: Path) -> None:
    (tmp_path / "s.png").write_bytes(png_bytes(marker_image(100, 80)))
    got = fetch_photo("s.png", tmp_path / "o", IntakeSettings(min_long_side=512), base_dir=tmp_path)
    assert got.flags == ["small: long side 100 px < 512"]


@pytest.mark.parametrize(
    ("name", "content", "settings", "reason"),
    [
        ("fake.jpg", b"<html>not a photo</html>", {}, "not an image"),
        ("bomb.png", bomb_png(), {}, "over max_pixels"),
        ("bomb2.png", bomb_png(10_000, 10_000), {}, "10000x10000 = 100000000 pixels, over max_pixels"),
        ("trunc.png", png_bytes(marker_image(400, 300).effect_spread(5))[:600], {}, "truncated or corrupt"),
        ("big.png", png_bytes(marker_image()), {"max_bytes": 100}, "over max_bytes 100"),
        ("a.bmp", b"", {}, "not an image"),
    ],
)
def test_refusals(tmp_path: Path, name: str, content: bytes, settings: dict, reason: str) -> None:
    (tmp_path / name).write_bytes(content)
    with pytest.raises(IntakeError, match=reason) as info:
        fetch_photo(name, tmp_path / "o", IntakeSettings(**settings), base_dir=tmp_path)
    assert "\n" not in info.value.reason


def test_format_allow_list_and_scheme_allow_list(tmp_path: Path) -> None:
    buf = io.BytesIO()
    marker_image().save(buf, format="GIF")
    (tmp_path / "x.png").write_bytes(buf.getvalue())  # a GIF named .png: content decides
    with pytest.raises(IntakeError, match="format GIF is not accepted"):
        fetch_photo("x.png", tmp_path / "o", IntakeSettings(allowed_formats=["PNG", "JPEG"]), base_dir=tmp_path)
    got = fetch_photo("x.png", tmp_path / "o", IntakeSettings(min_long_side=8), base_dir=tmp_path)
    assert got.source_format == "GIF"
    with pytest.raises(IntakeError, match="scheme 'ftp' is not allowed"):
        fetch_photo("ftp://example.com/x.png", tmp_path / "o", IntakeSettings())
    with pytest.raises(IntakeError, match="scheme 'file' is not allowed"):
        fetch_photo("x.png", tmp_path / "o", IntakeSettings(allowed_schemes=["https"]), base_dir=tmp_path)
    with pytest.raises(IntakeError, match="photo not found: missing.png") as missing:
        fetch_photo("missing.png", tmp_path / "o", IntakeSettings(), base_dir=tmp_path)
    assert f"resolved to {tmp_path / 'missing.png'}, relative paths are relative to the catalog" in str(missing.value)


def test_fetch_step_gives_each_item_its_own_outcome(sample_catalog: Path, tmp_path: Path) -> None:
    """One unreadable photo is that item's `invalid` outcome; its neighbours in the batch are fetched."""
    from catalog_motion.presets import load_presets
    from catalog_motion.settings import RunSettings
    from catalog_motion.types import WorkItem
    from pipeline.state import ItemState, RunContext
    from pipeline.steps import fetch_batch

    (tmp_path / "bad.jpg").write_bytes(b"nope")
    refs = ["images/tee-red.png", "images/hoodie-logo.jpg", str(tmp_path / "bad.jpg")]
    preset = load_presets()["social"]
    settings = RunSettings(intake=IntakeSettings(download_concurrency=2), work_dir=str(tmp_path / "o"))
    ctx = RunContext(
        run_id="r",
        catalog=str(sample_catalog),
        out=str(tmp_path / "out"),
        work_dir=str(tmp_path / "o"),
        settings=settings,
        presets={preset.name: preset},
        catalog_dir=str(sample_catalog.parent),
    )
    states = fetch_batch(
        [
            ItemState(item=WorkItem(sku=f"S{i}", skus=[f"S{i}"], preset=preset.name, image=ref))
            for i, ref in enumerate(refs)
        ],
        ctx,
    )
    assert [s.status for s in states] == [None, None, "invalid"]
    assert all(Path(s.item.source_path).is_file() and s.item.key for s in states[:2])
    assert states[2].reason == "not an image (content is not a recognised photo format)"


def test_local_roots_confine_paths(tmp_path: Path) -> None:
    import os

    base = tmp_path / "catalog"
    (base / "images").mkdir(parents=True)
    (base / "images" / "ok.png").write_bytes(png_bytes(marker_image()))
    (tmp_path / "outside.png").write_bytes(png_bytes(marker_image(70, 40)))
    (base / "images" / "link.png").symlink_to(tmp_path / "outside.png")  # a symlink escaping the root
    inside = IntakeSettings(local_roots=[str(base)], min_long_side=16)
    assert fetch_photo("images/ok.png", tmp_path / "o", inside, base_dir=base).width == 60
    dotdot = os.path.relpath(tmp_path / "outside.png", base)
    for ref in (dotdot, str(tmp_path / "outside.png"), "images/link.png"):
        with pytest.raises(IntakeError, match="outside the allowed local folders"):
            fetch_photo(ref, tmp_path / "o", inside, base_dir=base)
    # Without local_roots the same paths are read (the operator's own catalog).
    assert fetch_photo(dotdot, tmp_path / "o", IntakeSettings(min_long_side=16), base_dir=base).width == 70
