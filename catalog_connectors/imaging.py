"""Decoding an untrusted photo file into a normalised sRGB RGB image, with its facts.

The format comes from the content (Pillow's sniffing), never from the name. The pixel count is checked
from the header before any pixel is decoded, so a decompression bomb costs nothing. EXIF orientation is
applied; CMYK, 16-bit, palette, grey and alpha photos and embedded ICC profiles all end as sRGB RGB, with
alpha laid over the preset's background colour.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageColor, ImageOps, UnidentifiedImageError

from catalog_motion.errors import IntakeError
from catalog_motion.settings import IntakeSettings

_SRGB = ImageCms.createProfile("sRGB")


def decode_photo(
    path: Path, settings: IntakeSettings, *, background: str = "#ffffff"
) -> tuple[Image.Image, list[str], str]:
    """Open `path` and return (RGB image, flags, source format). Raises `IntakeError` with the reason."""
    try:
        bg = ImageColor.getrgb(background)[:3]
    except ValueError:
        raise IntakeError(f"background colour {background!r} is not a colour") from None
    flags: list[str] = []
    try:
        with warnings.catch_warnings():
            # Our own max_pixels check decides; Pillow's bomb warning would only be noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
    except UnidentifiedImageError:
        raise IntakeError("not an image (content is not a recognised photo format)") from None
    except Image.DecompressionBombError as exc:
        raise IntakeError(f"photo refused before decoding: over max_pixels {settings.max_pixels} ({exc})") from None
    except FileNotFoundError:
        raise IntakeError(f"photo file not found: {path}") from None
    except OSError as exc:
        raise IntakeError(f"cannot read photo: {exc}") from None
    with im:
        fmt = im.format or "unknown"
        if fmt not in settings.allowed_formats:
            raise IntakeError(f"image format {fmt} is not accepted (allowed: {', '.join(settings.allowed_formats)})")
        w, h = im.size
        if w <= 0 or h <= 0:
            raise IntakeError(f"photo has an empty size {w}x{h}")
        if w * h > settings.max_pixels:
            raise IntakeError(f"photo is {w}x{h} = {w * h} pixels, over max_pixels {settings.max_pixels}")
        if getattr(im, "n_frames", 1) > 1:
            flags.append("multi-frame: first frame used")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                im.load()
        except (OSError, SyntaxError, ValueError) as exc:
            detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise IntakeError(f"photo is truncated or corrupt: {detail}") from None
        except Image.DecompressionBombError as exc:
            raise IntakeError(f"photo refused as a decompression bomb: {exc}") from None
        orientation = im.getexif().get(0x0112, 1)
        if orientation not in (None, 1):
            im = ImageOps.exif_transpose(im)
            flags.append(f"exif-rotated:{orientation}")
        rgb = _to_srgb(im, bg, flags)
    long_side = max(rgb.size)
    if long_side < settings.min_long_side:
        flags.append(f"small: long side {long_side} px < {settings.min_long_side}")
    return rgb, flags, fmt


def _to_srgb(im: Image.Image, bg: tuple[int, int, int], flags: list[str]) -> Image.Image:
    mode = im.mode
    icc = im.info.get("icc_profile")
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16-bit grey: scale to 8 bits from the real range of the type (not Pillow's clipping convert).
        arr = np.asarray(im, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or arr.max() > 255 else 255.0
        im = Image.fromarray(np.clip(arr / top * 255 + 0.5, 0, 255).astype(np.uint8), "L")
        flags.append("16-bit: reduced to 8-bit")
        mode = "L"
    elif mode == "F":
        arr = np.asarray(im, dtype=np.float64)
        top = 1.0 if arr.max() <= 1.0 else 255.0
        im = Image.fromarray(np.clip(arr / top * 255 + 0.5, 0, 255).astype(np.uint8), "L")
        mode = "L"
    elif mode in ("RGB;16", "RGBA;16"):
        flags.append("16-bit: reduced to 8-bit")
    if mode == "P" or mode == "PA":
        flags.append("palette")
        im = im.convert("RGBA" if ("transparency" in im.info or mode == "PA") else "RGB")
        mode = im.mode
    if mode == "1":
        im = im.convert("L")
        mode = "L"
    if mode == "CMYK":
        flags.append("cmyk")
    alpha = None
    if mode in ("RGBA", "LA", "La", "RGBa"):
        if mode in ("La", "RGBa"):  # premultiplied: un-premultiply first
            im = im.convert(mode.upper())
        alpha = im.getchannel("A")
        im = im.convert("RGB" if mode.startswith("RGB") else "L")
        mode = im.mode
    if icc:
        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            im = ImageCms.profileToProfile(im, src, _SRGB, outputMode="RGB")
            flags.append("icc-converted")
        except (ImageCms.PyCMSError, OSError, ValueError):
            flags.append("icc-unreadable: assumed sRGB")
            im = im.convert("RGB")
    elif mode != "RGB":
        im = im.convert("RGB")
    if alpha is not None:
        extrema = alpha.getextrema()
        if extrema[0] < 255:
            flags.append("alpha: flattened on background")
            base = Image.new("RGB", im.size, bg)
            base.paste(im, (0, 0), alpha)
            im = base
    return im
