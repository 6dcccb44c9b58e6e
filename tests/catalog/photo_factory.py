"""Builders for awkward photo files (used by the intake tests)."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image


def png_bytes(im: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="PNG", **kw)
    return buf.getvalue()


def jpeg_bytes(im: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=95, **kw)
    return buf.getvalue()


def marker_image(w: int = 60, h: int = 40) -> Image.Image:
    """Grey with a red block in the top-left corner, so rotations can be told apart."""
    arr = np.full((h, w, 3), 128, np.uint8)
    arr[: h // 4, : w // 4] = (220, 20, 20)
    return Image.fromarray(arr, "RGB")


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny PNG whose header claims a gigantic size (a decompression bomb's signature)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _s15(v: float) -> bytes:
    return struct.pack(">i", int(round(v * 65536)))


def matrix_icc(red_xyz, green_xyz, blue_xyz, white_xyz=(0.9642, 1.0, 0.8249), gamma: float = 2.2) -> bytes:
    """A minimal ICC v2 RGB matrix/TRC display profile with the given (D50) primaries."""

    def xyz(v):
        return b"XYZ \x00\x00\x00\x00" + b"".join(_s15(c) for c in v)

    curv = b"curv\x00\x00\x00\x00" + struct.pack(">I", 1) + struct.pack(">H", int(gamma * 256)) + b"\x00\x00"
    text = b"test profile\x00"
    desc = b"desc\x00\x00\x00\x00" + struct.pack(">I", len(text)) + text + b"\x00" * 12 + b"\x00" * 67
    cprt = b"text\x00\x00\x00\x00" + b"none\x00"
    tags = [
        (b"desc", desc),
        (b"cprt", cprt),
        (b"wtpt", xyz(white_xyz)),
        (b"rXYZ", xyz(red_xyz)),
        (b"gXYZ", xyz(green_xyz)),
        (b"bXYZ", xyz(blue_xyz)),
        (b"rTRC", curv),
        (b"gTRC", curv),
        (b"bTRC", curv),
    ]
    table_len = 4 + 12 * len(tags)
    offset = 128 + table_len
    table, body = b"", b""
    for sig, data in tags:
        while (offset + len(body)) % 4:
            body += b"\x00"
        table += sig + struct.pack(">II", offset + len(body), len(data))
        body += data
    total = 128 + table_len + len(body)
    header = bytearray(128)
    struct.pack_into(">I", header, 0, total)
    header[8:12] = bytes([2, 0x10, 0, 0])
    header[12:16], header[16:20], header[20:24] = b"mntr", b"RGB ", b"XYZ "
    header[36:40] = b"acsp"
    header[68:80] = b"".join(_s15(c) for c in (0.9642, 1.0, 0.8249))
    return bytes(header) + struct.pack(">I", len(tags)) + table + body
