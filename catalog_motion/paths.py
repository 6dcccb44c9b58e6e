"""Safe file-system and object-key names for untrusted ids (SKUs come from brands' catalogs)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_SEGMENT = 80


def safe_segment(value: str) -> str:
    """One path segment for `value`: readable where possible, never a separator, '..', NUL or empty.

    Characters outside [A-Za-z0-9._-] become '_'; when anything was changed (or the name is long) a
    short hash of the original is appended so two different SKUs never share a folder.
    """
    # "x", not "_", for names with nothing usable ('..', '.'): "_-<hash>" would itself be rewritten
    # (leading '_' is stripped), and object keys require safe_segment(segment) == segment.
    cleaned = _UNSAFE.sub("_", value).strip("._") or "x"
    if cleaned != value or len(cleaned) > MAX_SEGMENT:
        digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:10]
        cleaned = f"{cleaned[: MAX_SEGMENT - 11]}-{digest}"
    return cleaned


def within(root: Path, *segments: str) -> Path:
    """`root / segments`, guaranteed to stay inside `root` (raises ValueError otherwise)."""
    root = root.resolve()
    target = root.joinpath(*segments).resolve()
    if target != root and root not in target.parents:
        raise ValueError(f"path escapes output root: {'/'.join(segments)!r}")
    return target
