"""The hostile-input corpus, generated deterministically (nothing large is committed).

`build_photo_corpus(folder)` writes hostile and awkward photo files and returns one `Case` per file;
`hostile_skus()` gives SKU ids meant to break paths, keys and tables; `FORMULAS` are spreadsheet
formula-injection strings; `unsafe_feeds()` malformed XML feeds; `bad_presets()` malformed preset files.
Run as a script (`python -m tests.reliability.hostile.corpus OUT`) to write the photo corpus to a folder.
"""

from __future__ import annotations

import io
import struct
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

MARK = "zzhostile7f3a"
"""Token inside every hostile name: any file found outside the output root carrying it escaped."""
PAYLOAD = b"<script>alert('zzhostile7f3a')</script>"
"""Bytes smuggled inside polyglot files; must never reach a published object."""


@dataclass
class Case:
    name: str
    ref: str  # photo reference as written into the catalog
    expect: str  # "refused" (must end invalid) | "handled" (any recorded outcome, safely)
    payload: bytes | None = None  # bytes that must not survive into published objects


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_with_size(width: int, height: int, *, rows: int | None = None, channels: int = 3) -> bytes:
    """A PNG whose header says `width` x `height`. rows=None: complete (all-black) image data, valid and
    compressing to almost nothing (an 'enormous' but honest image); rows=n: only n rows (a bomb header)."""
    colour = {1: 0, 3: 2, 4: 6}[channels]
    ihdr = struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0)
    n = height if rows is None else rows
    compressor = zlib.compressobj(9)
    line = b"\x00" * (1 + width * channels)
    data = b"".join(compressor.compress(line) for _ in range(n)) + compressor.flush()
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")


def _product(w: int = 120, h: int = 150) -> np.ndarray:
    """A plain studio-like picture: light background, a darker garment-ish block with some texture."""
    rng = np.random.default_rng(5)
    arr = np.full((h, w, 3), 235, np.uint8)
    y0, y1, x0, x1 = h // 5, h * 4 // 5, w // 4, w * 3 // 4
    arr[y0:y1, x0:x1] = (40, 70, 160)
    arr[y0:y1, x0:x1] += rng.integers(0, 25, (y1 - y0, x1 - x0, 1), dtype=np.uint8)
    return arr


def _save(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def build_photo_corpus(folder: Path) -> list[Case]:
    """Write the photo corpus into `folder` (relative refs) and describe each case."""
    folder.mkdir(parents=True, exist_ok=True)
    rgb = Image.fromarray(_product(), "RGB")
    jpeg = _save(rgb, "JPEG", quality=90)
    png = _save(rgb, "PNG")
    files: dict[str, tuple[bytes, str, bytes | None]] = {
        # refusals
        "bomb.png": (png_with_size(100_000, 100_000, rows=4), "refused", None),
        "enormous.png": (png_with_size(10_000, 9_000, channels=1), "refused", None),
        "truncated.jpg": (jpeg[: len(jpeg) // 2], "refused", None),
        "truncated.png": (png[: len(png) // 3], "refused", None),
        "empty.png": (b"", "refused", None),
        "svg-as-image.png": (
            b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="100" height="100">'
            b'<image href="file:///etc/passwd"/><script>alert(1)</script></svg>',
            "refused",
            None,
        ),
        "html-as-image.jpg": (
            b"<!doctype html><html><body><img src=x onerror=alert(1)></body></html>",
            "refused",
            None,
        ),
        "text.png": (b"just text " * 20, "refused", None),
        "pdf-as-image.png": (b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n", "refused", None),
        # accepted after normalisation (odd but legitimate), checked for safe handling
        "polyglot-jpeg-html.jpg": (jpeg + PAYLOAD, "handled", PAYLOAD),
        "polyglot-png-zip.png": (png + b"PK\x03\x04" + PAYLOAD, "handled", PAYLOAD),
        "one-pixel.png": (_save(Image.new("RGB", (1, 1), (90, 30, 30)), "PNG"), "handled", None),
        "cmyk.jpg": (_save(rgb.convert("CMYK"), "JPEG", quality=90), "handled", None),
        "sixteen-bit.png": (_save(Image.fromarray(_product()[..., 0].astype(np.uint16) * 257), "PNG"), "handled", None),
        "alpha.png": (
            _save(Image.fromarray(np.dstack([_product(), np.full((150, 120), 128, np.uint8)]), "RGBA"), "PNG"),
            "handled",
            None,
        ),
        "animated.gif": (b"", "handled", None),  # filled below
    }
    frames = [Image.fromarray(np.roll(_product(), 8 * i, axis=1), "RGB").convert("P") for i in range(3)]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    files["animated.gif"] = (buf.getvalue(), "handled", None)
    cases = []
    for name, (data, expect, payload) in files.items():
        (folder / name).write_bytes(data)
        cases.append(Case(name=name, ref=f"{folder.name}/{name}", expect=expect, payload=payload))
    # references that try to read this machine's files
    cases += [
        Case("abs-etc-passwd", "/etc/passwd", "refused"),
        Case("dotdot-etc-passwd", "../../../../../../../../etc/passwd", "refused"),
        Case("file-uri-etc-shadow", "file:///etc/shadow", "refused"),
        Case("file-uri-remote-host", "file://evil.example/share/x.png", "refused"),
        Case("proc-self-environ", "/proc/self/environ", "refused"),
        Case("dev-zero", "/dev/zero", "refused"),
        Case("gopher-scheme", "gopher://127.0.0.1:70/_x", "refused"),
        Case("javascript-scheme", "javascript:alert(1)", "refused"),
        Case("data-uri", "data:image/png;base64,iVBORw0KGgo=", "refused"),
    ]
    return cases


FORMULAS = [
    '=HYPERLINK("http://evil.example","x")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]


def hostile_skus() -> list[str]:
    """SKU ids aimed at paths, object keys and tables (each carries MARK where it can)."""
    return [
        f"../../{MARK}-escape",
        f"..\\..\\{MARK}-win",
        f"/{MARK}/abs",
        f"{MARK}/a/b/c",
        "..",
        ".",
        f"{MARK}-nul\x00tail",
        f"{MARK}-" + "L" * 4000,
        f"{MARK}-unicodé-✓-🎉",
        f"{MARK}-\u202eRTL",
        f"{MARK} spaced name ",
        f"{MARK}-%2e%2e%2f",
        f"{MARK}-newline\nsecond",
        *[f"{formula}{MARK}" for formula in FORMULAS],
    ]


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rss xmlns:g="http://base.google.com/ns/1.0" version="2.0"><channel>
<item><g:id>&lol9;</g:id><g:image_link>http://example.com/a.jpg</g:image_link></item>
</channel></rss>
"""


def unsafe_feeds(secret_file: Path, listener_url: str) -> dict[str, bytes]:
    """Merchant XML feeds that must be refused whole: entity expansion, external entities (file and
    network), a parameter-entity DTD fetch, and plain malformed XML."""
    rss_item = (
        '<rss xmlns:g="http://base.google.com/ns/1.0" version="2.0"><channel><item>'
        "<g:id>{id}</g:id><g:image_link>http://example.com/a.jpg</g:image_link></item></channel></rss>"
    )
    return {
        "billion-laughs.xml": BILLION_LAUGHS,
        "xxe-file.xml": (
            f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file://{secret_file}">]>' + rss_item.format(id="&x;")
        ).encode(),
        "xxe-network.xml": (
            f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "{listener_url}">]>' + rss_item.format(id="&x;")
        ).encode(),
        "xxe-parameter-dtd.xml": (
            f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY % d SYSTEM "{listener_url}dtd"> %d;]>'
            + rss_item.format(id="a")
        ).encode(),
        "malformed.xml": b"<rss><channel><item><g:id>unclosed",
        "quadratic-blowup.xml": (
            b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "'
            + b"A" * 50_000
            + b'">]>'
            + rss_item.format(id="&a;" * 2000).encode()
        ),
    }


def bad_presets() -> dict[str, str]:
    """Preset files that must each fail with one clear line naming the problem."""
    base = "presets:\n  p:\n    aspect: '4:5'\n    width: 96\n    height: 120\n    duration_s: 1\n    fps: 12\n"
    return {
        "not-yaml": "presets: [unclosed\n  - {",
        "not-a-mapping": "- just\n- a list\n",
        "no-presets-key": "something: else\n",
        "aspect-mismatch": base.replace("height: 120", "height: 100"),
        "odd-size": base.replace("width: 96", "width: 95").replace("height: 120", "height: 118.75"),
        "negative-duration": base.replace("duration_s: 1", "duration_s: -1"),
        "huge-duration": base.replace("duration_s: 1", "duration_s: 1e9"),
        "unknown-field": base + "    rm_rf: /\n",
        "bad-engine-type": base + "    engine: {nested: true}\n",
        "name-mismatch": base + "    name: other\n",
        "yaml-python-tag": "presets: !!python/object/apply:os.system "
        "['echo zzhostile7f3a > /tmp/zzhostile7f3a-pwned']\n",
        "anchor-bomb": "a: &a ['x','x','x','x','x','x','x','x','x']\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
        "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\npresets: [*d,*d,*d]\n",
        "no-video-encoding": base + "    encodings: [{format: poster-jpeg}]\n",
    }


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "hostile-corpus")
    for case in build_photo_corpus(target / "photos"):
        print(f"{case.expect:8s} {case.name}")
