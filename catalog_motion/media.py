"""Video I/O shared by every stage: the ffmpeg binary, the lossless master clip, decoding and probing.

`ClipReader` is the decoder of clips into RGB frames (`iter_frames` and `read_frames` wrap it).

Stages hand each other the path of a lossless master clip instead of frame arrays. Its format follows
the file name's suffix (`MASTER_FORMATS`):

* `.nut`: raw rgb24 frames in NUT (the default). Writing and reading are plain copies: 96 frames of
  1080x1350 write in ~0.4-0.7 s and decode in 0.04 s on 2 cores, against ~1.8 s and ~1.6 s for
  lossless H.264, so QC and the delivery encodes spend their time on their own work. The cost is disk:
  ~420 MB per 4 s 1080x1350 clip, ~1.1 GB per 6 s 1080x1920 one, held only while the item is in
  flight (masters are deleted once published or queued for review). Matroska refuses raw RGB, NUT
  does not.
* `.mkv`: lossless RGB H.264 (libx264rgb, crf 0, ultrafast) in Matroska: ~10x smaller, for work
  folders short of space and for copies kept for review.

`orchestration.master_format: auto` (default) writes raw while the work folder has room for it
(`pick_master_format`), else lossless H.264; `raw` or `lossless-h264` force one.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Container, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Self

import numpy as np

from catalog_motion.errors import PermanentError


def ffmpeg_exe() -> str:
    """System ffmpeg when on PATH, else the static binary that imageio-ffmpeg ships."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


# suffix -> (name used in settings, ffmpeg output options); both keep every pixel exactly.
MASTER_FORMATS: dict[str, tuple[str, list[str]]] = {
    ".nut": ("raw", ["-c:v", "rawvideo", "-pix_fmt", "rgb24", "-f", "nut"]),
    ".mkv": ("lossless-h264", ["-c:v", "libx264rgb", "-crf", "0", "-preset", "ultrafast", "-f", "matroska"]),
}
MASTER_SUFFIX = {name: suffix for suffix, (name, _) in MASTER_FORMATS.items()}
RAW_HEADROOM_BYTES = 2 * 1024**3


def raw_master_bytes(width: int, height: int, n_frames: int) -> int:
    return width * height * 3 * n_frames


def pick_master_format(setting: str, need_bytes: int, free_bytes: int) -> str:
    """The master format to write: `setting` unless it is "auto", which takes raw while the work folder
    has room for this batch three times over (another batch in flight, its encodes) plus 2 GiB, and the
    compact lossless H.264 otherwise (a small disk gets slower clips instead of a full disk)."""
    if setting != "auto":
        if setting not in MASTER_SUFFIX:
            raise ValueError(f"unknown master format {setting!r} (use auto, {', '.join(MASTER_SUFFIX)})")
        return setting
    return "raw" if free_bytes >= 3 * need_bytes + RAW_HEADROOM_BYTES else "lossless-h264"


def master_output_options(path: str | Path) -> list[str]:
    """ffmpeg output options of the master format that `path`'s suffix names (ValueError otherwise)."""
    suffix = Path(path).suffix.lower()
    if suffix not in MASTER_FORMATS:
        raise ValueError(f"master clip {Path(path).name}: suffix must be one of {', '.join(MASTER_FORMATS)}")
    return list(MASTER_FORMATS[suffix][1])


class MasterClipWriter:
    """Streams RGB uint8 frames into a lossless master clip (no temp images).

    The container and codec follow `path`'s suffix (see MASTER_FORMATS). Raw `.nut` masters are muxed
    in-process by PyAV: raw frames need no encoder, and an ffmpeg pipe costs about twice the CPU per frame
    (9.0 vs 4.6 ms per 1080x1920 frame). Lossless H.264 goes through an ffmpeg process, which encodes in
    parallel with the caller."""

    def __init__(self, path: str | Path, width: int, height: int, fps: float):
        self.path = Path(path)
        options = master_output_options(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.width, self.height, self.fps = width, height, fps
        self.n_frames = 0
        self._tmp = self.path.with_name(self.path.name + ".partial")
        self._proc: subprocess.Popen | None = None
        self._container = None
        if self.path.suffix.lower() == ".nut":
            import av

            rate = Fraction(fps).limit_denominator(1001000)
            self._container = av.open(str(self._tmp), "w", format="nut")
            self._stream = self._container.add_stream("rawvideo", rate=rate)
            self._stream.width, self._stream.height, self._stream.pix_fmt = width, height, "rgb24"
            self._frame_time = 1 / rate
            return
        cmd = [
            ffmpeg_exe(),
            "-y",
            "-loglevel",
            "error",
            "-nostdin",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-s",
            f"{width}x{height}",
            "-r",
            str(fps),
            "-i",
            "-",
            *options,
            "-an",
            str(self._tmp),
        ]
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)

    def write(self, frame: np.ndarray) -> None:
        if frame.shape != (self.height, self.width, 3) or frame.dtype != np.uint8:
            raise ValueError(f"frame must be uint8 {self.height}x{self.width}x3, got {frame.dtype} {frame.shape}")
        if self._proc is None:
            import av

            # A raw frame is its own packet: muxed straight from the array, one copy (a VideoFrame plus the
            # rawvideo encoder would copy it twice: ~0.7 s of CPU per 6 s 1080x1920 clip).
            packet = av.Packet(memoryview(np.ascontiguousarray(frame)).cast("B"))
            packet.stream, packet.time_base = self._stream, self._frame_time
            packet.pts = packet.dts = self.n_frames
            packet.duration, packet.is_keyframe = 1, True
            try:
                self._container.mux(packet)
            except OSError as exc:  # a full disk or a vanished work folder
                self.abort()
                raise OSError(f"writing {self.path.name} failed: {exc}") from None
        else:
            try:
                self._proc.stdin.write(memoryview(np.ascontiguousarray(frame)).cast("B"))  # no tobytes() copy
            except BrokenPipeError:
                self._fail()
        self.n_frames += 1

    def _fail(self) -> None:
        err = self._proc.stderr.read().decode(errors="replace").strip() if self._proc.stderr else ""
        self._proc.kill()
        self._tmp.unlink(missing_ok=True)
        raise OSError(f"ffmpeg failed writing {self.path.name}: {err.splitlines()[-1] if err else 'no output'}")

    def close(self) -> Path:
        if self._proc is None:
            try:
                self._container.close()
            except OSError as exc:
                self.abort()
                raise OSError(f"writing {self.path.name} failed: {exc}") from None
        else:
            try:
                self._proc.stdin.close()
            except BrokenPipeError:
                pass
            if self._proc.wait() != 0:
                self._fail()
        self._tmp.replace(self.path)  # atomic: a master clip on disk is always complete
        return self.path

    def abort(self) -> None:
        if self._proc is None:
            try:
                self._container.close()
            except Exception:  # noqa: BLE001 - the partial file is removed either way
                pass
        else:
            self._proc.kill()
            self._proc.wait()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_master(frames: Iterable[np.ndarray], path: str | Path, fps: float) -> Path:
    frames = iter(frames)
    first = next(frames)
    with MasterClipWriter(path, first.shape[1], first.shape[0], fps) as writer:
        writer.write(first)
        for frame in frames:
            writer.write(frame)
    return Path(path)


def convert_master(source: str | Path, target: str | Path) -> Path:
    """Rewrite a master clip in the format `target`'s suffix names (every pixel kept), atomically.

    Used to keep compact copies of raw masters (the review queue keeps rejected clips as lossless H.264)."""
    source, target = Path(source), Path(target)
    options = master_output_options(target)
    if source.suffix.lower() == target.suffix.lower():
        shutil.copyfile(source, target)
        return target
    tmp = target.with_name(target.name + ".partial")
    done = subprocess.run(
        [ffmpeg_exe(), "-y", "-loglevel", "error", "-nostdin", "-i", str(source), *options, "-an", str(tmp)],
        capture_output=True,
        check=False,
    )
    if done.returncode:
        tmp.unlink(missing_ok=True)
        lines = done.stderr.decode(errors="replace").strip().splitlines()
        raise PermanentError(
            f"cannot convert {source.name}: {lines[-1] if lines else f'ffmpeg exit {done.returncode}'}"
        )
    tmp.replace(target)
    return target


class MediaInputError(PermanentError):
    """A photo or clip cannot be read (missing, empty, not decodable, too small or too short to use)."""


def work_size(width: int, height: int, long_side: int) -> tuple[int, int]:
    """(w, h) scaled so the long side is at most `long_side`, even numbers, at least 8."""
    scale = min(1.0, long_side / max(width, height))
    return max(8, round(width * scale / 2) * 2), max(8, round(height * scale / 2) * 2)


class ClipReader:
    """Frames of a video file as RGB uint8 (H, W, 3), decoded lazily in one pass with PyAV (the clip is
    never held in memory unless the caller keeps the frames).

    `long_side` shrinks each frame to `work_size` with swscale's area filter in the same pass as the
    pixel-format conversion (no full-size copy); None keeps the full size. Known before decoding: `fps`
    and `n_estimate` (from the container: exact for MP4, from the duration for Matroska). `width` and
    `height` (full size) are set once the first frame is decoded. A file that stops decoding part way
    yields the frames before the fault (callers that need a count check it); one that yields no frame,
    or cannot be opened, raises MediaInputError.
    """

    def __init__(self, path: str | Path, long_side: int | None = None):
        import av

        self.path = Path(path)
        self.long_side = long_side
        if not self.path.exists():
            raise MediaInputError(f"clip not found: {self.path}")
        if self.path.stat().st_size == 0:
            raise MediaInputError(f"clip {self.path.name} is an empty file")
        try:
            self._container = av.open(str(self.path))
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            raise MediaInputError(f"cannot decode clip {self.path.name}: {str(exc).splitlines()[0]}") from None
        if not self._container.streams.video:
            self._container.close()
            raise MediaInputError(f"clip {self.path.name} has no video stream")
        stream = self._container.streams.video[0]
        stream.thread_type = "AUTO"
        self._stream = stream
        rate = stream.average_rate or stream.guessed_rate
        self.fps = float(rate) if rate else 0.0
        n = stream.frames
        if not n:
            seconds = (
                float(stream.duration * stream.time_base)
                if stream.duration
                else (self._container.duration / 1e6 if self._container.duration else 0.0)
            )
            n = round(seconds * self.fps) if self.fps else 0
        self.n_estimate = n
        self.width = self.height = 0
        self.decode_error: str | None = None  # why decoding stopped early (a truncated or corrupt file)

    def av_frames(self, *, strict: bool = False) -> Iterator[Any]:
        """The decoded PyAV frames as they come, for callers that hand planes on without converting them
        (the encoder pipes them to ffmpeg). `strict`: a decode error after the first frame raises too (an
        encode must never be cut short); otherwise the frames before the fault are all there is."""
        import av

        count = 0
        try:
            for frame in self._container.decode(self._stream):
                if not count:
                    self.width, self.height = frame.width, frame.height
                yield frame
                count += 1
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            if strict or not count:  # a truncated file still yields what decoded; frame-count checks report the rest
                raise MediaInputError(f"cannot decode clip {self.path.name}: {str(exc).splitlines()[0]}") from None
            self.decode_error = f"decoding stopped after frame {count - 1}: {str(exc).splitlines()[0]}"
        finally:
            self._container.close()

    def __iter__(self) -> Iterator[np.ndarray]:
        for frame, _ in self.with_full_size(()):
            yield frame

    def with_full_size(self, full_at: Container[int]) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        """(frame at `long_side`, full-size frame or None) per frame; the full-size copy only for the
        indices in `full_at` (fine-detail checks read a few frames at the delivery's resolution)."""
        size: tuple[int, int] | None = None
        for index, frame in enumerate(self.av_frames()):
            if size is None and self.long_side is not None:
                size = work_size(frame.width, frame.height, self.long_side)
            # planar gbrp (lossless H.264 masters) stays planar: PyAV hands it back as RGB, ~30 % faster
            # than converting to rgb24
            target = "gbrp" if frame.format.name == "gbrp" else "rgb24"
            full = frame.to_ndarray(format=target) if (size is None or index in full_at) else None
            if size is None:
                yield full, full
            else:
                work = frame.reformat(format=target, width=size[0], height=size[1], interpolation="AREA").to_ndarray()
                yield work, full

    def close(self) -> None:
        """Release the file without decoding (iterating to the end closes it too)."""
        self._container.close()


def iter_frames(path: str | Path, long_side: int | None = None) -> Iterator[np.ndarray]:
    """Decode a video file to RGB uint8 frames, one at a time (see ClipReader)."""
    yield from ClipReader(path, long_side)


def read_frames(path: str | Path, long_side: int | None = None) -> np.ndarray:
    """Every frame of a video file, (N, H, W, 3) RGB uint8; MediaInputError when none decodes."""
    frames = list(iter_frames(path, long_side))
    if not frames:
        raise MediaInputError(f"clip {Path(path).name} has no decodable frames")
    return np.stack(frames)


@dataclass(frozen=True)
class StreamFacts:
    codec: str
    profile: str | None
    pix_fmt: str | None
    width: int
    height: int
    fps: Fraction
    n_frames: int
    duration_s: float
    has_audio: bool
    audio_codec: str | None
    color_range: str | None
    color_space: str | None
    color_primaries: str | None
    color_trc: str | None
    container: str
    bit_rate: int | None


def probe(path: str | Path, count_frames: bool = True) -> StreamFacts:
    """Container and stream facts read with PyAV (libavformat), no ffprobe binary needed."""
    import av

    names = {1: "bt709", 2: None, 5: "bt470bg", 6: "smpte170m", 9: "bt2020nc"}
    ranges = {0: None, 1: "tv", 2: "pc"}
    trcs = {1: "bt709", 2: None, 13: "iec61966-2-1"}
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        ctx = video.codec_context
        n = video.frames
        if count_frames or not n:
            n = sum(1 for _ in container.demux(video) if _.size)  # packets == frames for video
            container.seek(0)
        rate = video.average_rate or video.guessed_rate or Fraction(0)
        duration = (
            float(video.duration * video.time_base)
            if video.duration
            else (float(container.duration) / 1e6 if container.duration else (n / float(rate) if rate else 0.0))
        )
        audio = container.streams.audio[0] if container.streams.audio else None
        return StreamFacts(
            codec=ctx.name,
            profile=ctx.profile,
            pix_fmt=ctx.pix_fmt or (video.format.name if video.format else None),
            width=ctx.width,
            height=ctx.height,
            fps=Fraction(rate),
            n_frames=n,
            duration_s=duration,
            has_audio=audio is not None,
            audio_codec=audio.codec_context.name if audio else None,
            color_range=ranges.get(int(ctx.color_range)) if ctx.color_range is not None else None,
            color_space=names.get(int(ctx.colorspace)) if ctx.colorspace is not None else None,
            color_primaries=names.get(int(ctx.color_primaries)) if ctx.color_primaries is not None else None,
            color_trc=trcs.get(int(ctx.color_trc)) if ctx.color_trc is not None else None,
            container=container.format.name,
            bit_rate=container.bit_rate,
        )


def mp4_top_level_atoms(path: str | Path) -> list[str]:
    """Order of the top-level boxes of an MP4 (faststart means 'moov' comes before 'mdat')."""
    atoms: list[str] = []
    with open(path, "rb") as handle:
        while True:
            header = handle.read(8)
            if len(header) < 8:
                break
            size = int.from_bytes(header[:4], "big")
            kind = header[4:8].decode("latin-1")
            atoms.append(kind)
            if size == 1:
                size = int.from_bytes(handle.read(8), "big")
                handle.seek(size - 16, 1)
            elif size == 0:
                break
            else:
                handle.seek(size - 8, 1)
    return atoms
