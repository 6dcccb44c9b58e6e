"""Publishing test helpers: small presets and synthetic lossless master clips (textured, moving)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from catalog_motion.media import write_master
from catalog_motion.presets import Preset, load_presets
from catalog_motion.types import ClipRef


def small_preset(name: str, width: int, height: int, duration_s: float = 1.0, **update) -> Preset:
    """A packaged preset shrunk for fast tests (same encodings, fps and aspect unless overridden)."""
    base = load_presets()[name]
    return base.model_copy(update={"width": width, "height": height, "duration_s": duration_s, **update})


def synthetic_frames(width: int, height: int, n: int, seed: int = 0):
    """Photo-like frames: smooth colour gradients + fixed fine texture, shifting one pixel per frame."""
    rng = np.random.default_rng(seed)
    texture = rng.integers(-18, 18, size=(height, width + n, 1), dtype=np.int16)
    yy, xx = np.mgrid[0:height, 0 : width + n]
    base = np.stack(
        [60 + 120 * xx / (width + n), 90 + 100 * yy / height, 160 - 60 * (xx + yy) / (width + n + height)], axis=-1
    ).astype(np.int16)
    canvas = np.clip(base + texture, 0, 255).astype(np.uint8)
    for t in range(n):
        yield np.ascontiguousarray(canvas[:, t : t + width])


def make_master(path: Path, width: int, height: int, fps: float, n: int, seed: int = 0) -> ClipRef:
    write_master(synthetic_frames(width, height, n, seed), path, fps)
    return ClipRef(path=str(path), fps=fps, n_frames=n, width=width, height=height, engine="camera", seed=seed)


@pytest.fixture(scope="session")
def pub_masters(tmp_path_factory):
    """Factory of cached master clips: pub_masters(width, height, fps, n, seed=0, suffix=".nut") -> ClipRef.

    suffix picks the master format: ".nut" raw rgb24 (the pipeline's default), ".mkv" lossless H.264."""
    root = tmp_path_factory.mktemp("pub-masters")
    cache: dict[tuple, ClipRef] = {}

    def get(width: int, height: int, fps: float, n: int, seed: int = 0, suffix: str = ".nut") -> ClipRef:
        key = (width, height, fps, n, seed, suffix)
        if key not in cache:
            cache[key] = make_master(root / f"m-{width}x{height}-{fps}-{n}-{seed}{suffix}", width, height, fps, n, seed)
        return cache[key]

    return get
