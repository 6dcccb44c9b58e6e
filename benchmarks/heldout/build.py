"""Materialising a held-out recipe as files: the source photo (PNG), the lossless master (streamed into
catalog_motion.media.MasterClipWriter, one frame at a time) and, where the recipe has a delivery, the
libx264 encode made from the same frames in the same pass (fed what `Delivery.frame_map` says)."""

from __future__ import annotations

import subprocess
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from benchmarks.heldout.photos import product
from benchmarks.heldout.recipes import Plan, Recipe, presets
from catalog_motion.media import MasterClipWriter, ffmpeg_exe

X264_PRESET = "veryfast"  # the delivery encoder's speed preset here (the packaged one is medium; time budget)


@dataclass
class Built:
    photo: Path
    master: Path
    clip: Path  # what check_clip scores (the master, or the encode for a round trip)
    delivered: Path | None
    n_frames: int


def photo_path(name: str, root: Path) -> Path:
    """The product's PNG under root/photos (drawn once per folder)."""
    path = root / "photos" / f"{name}.png"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".partial.png")
        cv2.imwrite(str(tmp), cv2.cvtColor(product(name).rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 1])
        tmp.replace(path)
    return path


class H264Writer:
    """RGB frames piped into ffmpeg's libx264 (yuv420p, closed GOPs of 1 s, +faststart), as delivered."""

    def __init__(self, path: Path, width: int, height: int, fps: float, crf: int):
        self.path = path
        gop = str(max(1, round(fps)))
        cmd = [
            ffmpeg_exe(), "-y", "-loglevel", "error", "-nostdin",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", str(fps), "-i", "-",
            "-c:v", "libx264", "-preset", X264_PRESET, "-crf", str(crf), "-pix_fmt", "yuv420p",
            "-g", gop, "-keyint_min", gop, "-sc_threshold", "0", "-movflags", "+faststart", "-an", str(path),
        ]  # fmt: skip
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)

    def write(self, frame: np.ndarray) -> None:
        self._proc.stdin.write(np.ascontiguousarray(frame).tobytes())

    def close(self) -> Path:
        self._proc.stdin.close()
        if self._proc.wait() != 0:
            raise OSError(f"libx264 encode of {self.path.name} failed: {self._proc.stderr.read().decode()[-300:]}")
        return self.path


def build(recipe: Recipe, root: Path) -> Built:
    """Write `recipe`'s files under root (photo shared, clip files named after the recipe)."""
    preset = presets()[recipe.preset]
    photo = photo_path(recipe.product, root)
    plan: Plan = recipe.plan()
    clip = plan.clip
    master = root / "clips" / f"{recipe.name}.nut"
    master.parent.mkdir(parents=True, exist_ok=True)
    if plan.engine_scale is not None:
        from generation.base import GenerationRequest
        from generation.registry import get_engine

        ref = get_engine("camera").generate(
            GenerationRequest(
                source_path=str(photo), preset=preset, seed=0, out_path=str(master), motion_scale=plan.engine_scale
            )
        )
        return Built(photo, master, master, None, ref.n_frames)
    delivery = plan.delivery
    if delivery is None:
        with MasterClipWriter(master, clip.width, clip.height, clip.fps) as writer:
            for frame in clip.frames():
                writer.write(frame)
        return Built(photo, master, master, None, clip.n_frames)
    encode = master.with_suffix(".mp4")
    encoder = H264Writer(encode, clip.width, clip.height, clip.fps, delivery.crf)
    frame_map = delivery.frame_map or (lambda i: i)
    wanted = [frame_map(i) for i in range(delivery.n_frames or clip.n_frames)]
    # the encoder is fed from a short history of master frames (stalls repeat an earlier one)
    keep: deque[tuple[int, np.ndarray]] = deque(maxlen=16)
    fed = 0
    black = np.zeros((clip.height, clip.width, 3), np.uint8)
    with MasterClipWriter(master, clip.width, clip.height, clip.fps) as writer:
        for i, frame in enumerate(clip.frames()):
            writer.write(frame)
            keep.append((i, frame))
            while fed < len(wanted) and (wanted[fed] <= i):
                j = wanted[fed]
                encoder.write(black if j < 0 else next(f for k, f in keep if k == j))
                fed += 1
    encoder.close()
    scored = encode if delivery.score_encode else master
    return Built(photo, master, scored, encode, clip.n_frames)
