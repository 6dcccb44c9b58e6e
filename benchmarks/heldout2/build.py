"""Writing a v2 recipe's files: the photo (PNG, cached), the lossless master (NUT, streamed one frame at a
time through catalog_motion.media.MasterClipWriter) and, where the recipe has a delivery, the libx264
encode fed from the same frames in the same pass; or a broken file where the recipe asks for one."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from benchmarks.heldout2.photos import product
from benchmarks.heldout2.recipes import Delivery, Recipe, presets
from catalog_motion.media import MasterClipWriter, ffmpeg_exe

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / "out" / "heldout2-cache"  # photos are drawn once; masters (0.4-1.1 GB) are removed when scored
X264_PRESET = "veryfast"  # the packaged encodes use medium; this keeps the set inside its time budget


@dataclass
class Built:
    photo: Path
    master: Path
    clip: Path  # what check_clip scores: the master, or the encode of a round trip
    delivered: Path | None
    n_frames: int


def photo_path(name: str, root: Path = CACHE) -> Path:
    path = root / "photos" / f"{name}.png"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".partial.png")
        cv2.imwrite(str(tmp), cv2.cvtColor(product(name).rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 1])
        tmp.replace(path)
    return path


class H264Writer:
    """RGB frames piped into libx264 as the publisher delivers them: bt709 yuv420p, closed 1 s GOPs,
    +faststart, no audio."""

    def __init__(self, path: Path, width: int, height: int, fps: float, crf: int):
        self.path = path
        gop = str(max(1, round(fps)))
        cmd = [
            ffmpeg_exe(), "-y", "-loglevel", "error", "-nostdin",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", f"{fps:g}", "-i", "-",
            "-vf", "scale=out_color_matrix=bt709:out_range=tv,"
                   "setparams=colorspace=bt709:color_primaries=bt709:color_trc=bt709:range=tv",
            "-c:v", "libx264", "-preset", X264_PRESET, "-crf", str(crf), "-pix_fmt", "yuv420p",
            "-g", gop, "-keyint_min", gop, "-sc_threshold", "0", "-flags", "+cgop",
            "-movflags", "+faststart", "-an", str(path),
        ]  # fmt: skip
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)

    def write(self, frame: np.ndarray) -> None:
        self._proc.stdin.write(np.ascontiguousarray(frame).tobytes())

    def close(self) -> Path:
        self._proc.stdin.close()
        if self._proc.wait() != 0:
            raise OSError(f"libx264 encode of {self.path.name} failed: {self._proc.stderr.read().decode()[-300:]}")
        return self.path


def _broken(kind: str, recipe: Recipe, master: Path) -> None:
    """A file that is not a readable clip: a master cut off mid-frame, an empty file, or noise bytes."""
    if kind == "zero-length":
        master.write_bytes(b"")
    elif kind == "corrupt":
        master.write_bytes(np.random.default_rng(3).integers(0, 256, 3_000_000, dtype=np.uint8).tobytes())
    else:
        clip = recipe.make().clip
        with MasterClipWriter(master, clip.width, clip.height, clip.fps) as writer:
            for i in range(40):  # of the preset's 96 frames
                writer.write(clip.render(i))
        size = master.stat().st_size
        with master.open("r+b") as f:
            f.truncate(int(size * 0.9))  # ends inside a frame


def build(recipe: Recipe, root: Path = CACHE) -> Built:
    """Write `recipe`'s files under root (the photo shared, the clip files named after the recipe)."""
    preset = presets()[recipe.preset]
    photo = photo_path(recipe.product, root)
    master = root / "clips" / f"{recipe.name}.nut"
    master.parent.mkdir(parents=True, exist_ok=True)
    plan = recipe.make()
    if plan.broken:
        _broken(plan.broken, recipe, master)
        return Built(photo, master, master, None, 0)
    if plan.engine_scale is not None:
        from generation.base import GenerationRequest
        from generation.registry import get_engine

        request = GenerationRequest(
            source_path=str(photo), preset=preset, seed=0, out_path=str(master), motion_scale=plan.engine_scale
        )
        ref = get_engine("camera", {}).generate(request)
        return Built(photo, master, master, None, ref.n_frames)
    clip = plan.clip
    delivery: Delivery | None = plan.delivery
    encode = master.with_suffix(".mp4") if delivery else None
    encoder = H264Writer(encode, clip.width, clip.height, clip.fps, delivery.crf) if delivery else None
    wanted = (delivery.feed or (lambda n: list(range(n))))(clip.n_frames) if delivery else []
    fed = 0
    with MasterClipWriter(master, clip.width, clip.height, clip.fps) as writer:
        for i in range(clip.n_frames):
            frame = clip.render(i)
            writer.write(frame)
            while encoder and fed < len(wanted) and wanted[fed] == i:  # feeds are in order, without repeats
                encoder.write(frame)
                fed += 1
    if encoder:
        encoder.close()
    scored = encode if delivery and delivery.score_encode else master
    return Built(photo, master, scored, encode, clip.n_frames)
