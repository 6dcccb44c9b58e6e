"""Safe file-system and object-key names for untrusted ids (SKUs come from brands' catalogs)."""

from __future__ import annotations

import hashlib
import os
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


def is_uri(location: str) -> bool:
    """True for `scheme://...` locations (s3://, https://, shopify://, file://), which name no folder to
    resolve against."""
    return "://" in location


def absolute_location(location: str, base: str | Path | None = None) -> str:
    """`location` as an absolute local path (``~`` expanded, relative to `base`, default the current
    folder, and normalised), or unchanged when it is a URI.

    Called once where a run's inputs enter (CLI arguments, flow parameters, settings files) so that no
    stage depends on the process's working directory.
    """
    if is_uri(location):
        return location
    path = os.path.expanduser(location)
    return os.path.abspath(os.path.join(os.path.expanduser(base), path) if base is not None else path)
