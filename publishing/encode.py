"""Delivery encodes of a master clip: H.264 MP4, VP9 WebM and posters, per the preset's encodings.

The master clip is decoded once (PyAV) and its raw frames (planar GBR, as decoded) are piped to one ffmpeg
process per video encoding at the same time, so N encodings cost one decode and no temp image files.
Piping beats letting ffmpeg read the master itself once there are two video encodings (one decode
instead of two) and costs about the same with one (benchmarks/bench_publish.py). RGB -> YUV 4:2:0
conversion happens in ffmpeg's scale filter with an explicit BT.709 matrix and limited ("tv") range, and
the streams are tagged bt709/tv, so players do not guess (untagged HD is often shown with BT.601).
Resizes, when the master's size differs from the preset's, use Lanczos (sharpest of swscale's standard
filters without visible ringing on photo content). Every output is written to a temp name and renamed,
so a file at its final path is always complete. With a time limit, every ffmpeg still running at the
deadline is killed (and reaped) and the encode raises EncodeTimeout.
"""

from __future__ import annotations

import fcntl
import queue
import subprocess
import threading
from pathlib import Path
from typing import Any

import ffmpeg
import numpy as np
from PIL import Image
from pydantic import BaseModel, Field

from catalog_motion.errors import PermanentError
from catalog_motion.media import ClipReader, ffmpeg_exe
from catalog_motion.presets import EncodingSpec, Preset
from catalog_motion.types import ClipRef


class EncodeTimeout(PermanentError):
    """Encoding ran past its time limit; every ffmpeg it started was killed."""


class LocalAsset(BaseModel):
    """One encoded file on local disk, before it is published."""

    kind: str = Field(description="video | video_webm | poster_jpeg | poster_webp")
    path: str
    content_type: str
    width: int | None = None
    height: int | None = None
    format: str | None = Field(default=None, description="EncodingSpec.format that produced it")


# kind, file name, MIME type per encoding format
OUTPUTS: dict[str, tuple[str, str, str]] = {
    "mp4-h264": ("video", "video.mp4", "video/mp4"),
    "webm-vp9": ("video_webm", "video.webm", "video/webm"),
    "poster-jpeg": ("poster_jpeg", "poster.jpg", "image/jpeg"),
    "poster-webp": ("poster_webp", "poster.webp", "image/webp"),
}

# Defaults when a spec leaves them open: crf 20 keeps fabric texture; 6 Mbit/s peak bounds a 4 s
# 1080x1350 loop to ~1-3 MB for product pages. VP9 crf 32 ~ x264 crf 20-23 in size/quality.
DEFAULT_CRF = {"mp4-h264": 20, "webm-vp9": 32}
DEFAULT_X264_PRESET = "medium"
COLOR_TAGS = {"colorspace": "bt709", "color_primaries": "bt709", "color_trc": "bt709", "color_range": "tv"}


def _fps_str(fps: float) -> str:
    return str(int(fps)) if float(fps).is_integer() else f"{fps:.6f}"


def video_output_kwargs(spec: EncodingSpec, preset: Preset) -> dict[str, Any]:
    """ffmpeg output options of one video encoding (shared with benchmarks/bench_publish.py)."""
    gop = max(1, round(spec.gop_s * preset.fps))
    common: dict[str, Any] = {
        "pix_fmt": "yuv420p",
        "r": _fps_str(preset.fps),
        "fps_mode": "cfr",
        "g": gop,
        "keyint_min": gop,
        **COLOR_TAGS,
        "map_metadata": -1,
        "fflags": "+bitexact",  # muxers write no random UIDs or dates: same input, same bytes
    }
    crf = spec.crf if spec.crf is not None else DEFAULT_CRF[spec.format]
    if spec.format == "mp4-h264":
        kwargs = {
            **common,
            "vcodec": "libx264",
            "profile:v": spec.profile,
            "preset": spec.preset or DEFAULT_X264_PRESET,
            "crf": crf,
            "sc_threshold": 0,  # no scene-cut keyframes: GOPs are regular
            "flags": "+cgop",  # closed GOPs
            "x264-params": "open-gop=0",
            "movflags": "+faststart",
            "f": "mp4",
        }
        if spec.maxrate_kbps:
            kwargs["maxrate"] = f"{spec.maxrate_kbps}k"
            kwargs["bufsize"] = f"{2 * spec.maxrate_kbps}k"
        if spec.audio == "silent-aac":
            kwargs.update({"acodec": "aac", "audio_bitrate": "64k", "ar": 48000, "ac": 2})
        else:
            kwargs["an"] = None
        return kwargs
    if spec.format == "webm-vp9":
        kwargs = {
            **common,
            "vcodec": "libvpx-vp9",
            "crf": crf,
            # b:v 0 = constant quality; a maxrate turns it into constrained quality with that ceiling.
            "b:v": f"{spec.maxrate_kbps}k" if spec.maxrate_kbps else "0",
            "deadline": "good",
            "cpu-used": spec.cpu_used,
            "row-mt": 1,
            "an": None,
            "f": "webm",
        }
        return kwargs
    raise ValueError(f"{spec.format} is not a video format")


def build_video_command(
    spec: EncodingSpec,
    preset: Preset,
    src_w: int,
    src_h: int,
    src_fps: float,
    out_path: str | Path,
    source: str = "pipe:",
    duration_s: float | None = None,
    pix_fmt: str = "rgb24",
    stride: int | None = None,
) -> list[str]:
    """The full ffmpeg argv for one video encoding reading raw `pix_fmt` frames from `source`.

    `stride`: row length in pixels of the raw frames when wider than `src_w` (decoder padding, piped
    as-is to save a copy per frame); ffmpeg crops it off (a free pointer offset).
    """
    padded = stride is not None and stride != src_w
    stream = ffmpeg.input(
        source,
        format="rawvideo",
        pix_fmt=pix_fmt,
        s=f"{stride if padded else src_w}x{src_h}",
        framerate=_fps_str(src_fps),
    )
    video = stream.video
    if padded:
        video = video.filter("crop", src_w, src_h, 0, 0)
    video = video.filter(
        "scale",
        preset.width,
        preset.height,
        flags=f"{spec.scale_filter}+accurate_rnd+full_chroma_int",
        out_color_matrix="bt709",
        out_range="tv",
    ).filter(
        # ffmpeg 7+ takes colour properties from the frames, not from -color_* output options alone.
        "setparams",
        colorspace="bt709",
        color_primaries="bt709",
        color_trc="bt709",
        range="tv",
    )
    streams = [video]
    if spec.format == "mp4-h264" and spec.audio == "silent-aac":
        silence = ffmpeg.input(
            "anullsrc=channel_layout=stereo:sample_rate=48000", f="lavfi", t=f"{duration_s or preset.duration_s:.6f}"
        )
        streams.append(silence.audio)
    kwargs = video_output_kwargs(spec, preset)
    if len(streams) > 1:
        kwargs["shortest"] = None  # the silent track never outlasts the video
    out = ffmpeg.output(*streams, str(out_path), **kwargs)
    out = out.global_args("-hide_banner", "-loglevel", "error", "-nostdin").overwrite_output()
    return ffmpeg.compile(out, cmd=ffmpeg_exe())


class _Encoder:
    """One ffmpeg process fed frames by its own thread, so encoders of different speeds overlap."""

    def __init__(self, argv: list[str], tmp: Path, final: Path):
        self.tmp, self.final = tmp, final
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
        try:  # 1 MiB pipe instead of 64 KiB: 16x fewer wake-ups per frame
            fcntl.fcntl(self.proc.stdin.fileno(), fcntl.F_SETPIPE_SZ, 1 << 20)
        except (AttributeError, OSError):
            pass
        self.frames: queue.Queue[list | None] = queue.Queue(maxsize=4)
        self.broken = False
        self.closed = False  # the end-of-frames marker is queued
        self.finished = False  # finish() or kill() ran: the process is reaped
        self.stderr = b""
        self._writer = threading.Thread(target=self._write, daemon=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._writer.start()
        self._reader.start()

    def _write(self) -> None:
        while (item := self.frames.get()) is not None:
            if self.broken:
                continue  # keep draining so the producer never blocks on a dead encoder
            try:
                for buffer in item:
                    self._write_all(buffer)
            except (BrokenPipeError, OSError):
                self.broken = True
        try:
            self.proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass

    def _write_all(self, buffer) -> None:
        view = memoryview(buffer).cast("B")
        while view:  # unbuffered writes to a pipe may be partial
            written = self.proc.stdin.write(view)
            view = view[written:]

    def _read(self) -> None:
        self.stderr = self.proc.stderr.read()

    def _close(self) -> None:
        if not self.closed:
            self.closed = True
            self.frames.put(None)

    def finish(self) -> None:
        self._close()
        self._writer.join()
        code = self.proc.wait()
        self.finished = True
        self._reader.join()
        if code != 0:
            self.tmp.unlink(missing_ok=True)
            lines = self.stderr.decode(errors="replace").strip().splitlines()
            raise PermanentError(f"ffmpeg failed encoding {self.final.name}: {lines[-1] if lines else f'exit {code}'}")
        self.tmp.replace(self.final)

    def kill(self) -> None:
        self.proc.kill()  # a no-op once the process has been reaped
        self._close()
        self._writer.join(timeout=5)
        self.proc.wait()
        self.finished = True
        self.tmp.unlink(missing_ok=True)


def save_poster(frame: np.ndarray, spec: EncodingSpec, preset: Preset, final: Path) -> None:
    image = Image.fromarray(frame)
    if image.size != (preset.width, preset.height):
        image = image.resize((preset.width, preset.height), Image.Resampling.LANCZOS)
    tmp = final.with_name(final.name + ".partial")
    if spec.format == "poster-jpeg":
        image.save(tmp, format="JPEG", quality=spec.quality, optimize=True, progressive=True)
    else:
        image.save(tmp, format="WEBP", quality=spec.quality, method=4)
    tmp.replace(final)


class MasterFrames:
    """Raw frames of a master clip, in the cheapest form to hand ffmpeg.

    Frames are piped in the format they decode to when ffmpeg can take it as raw input: packed rgb24 for
    raw NUT masters (decoding is a copy-free wrap of the file's bytes) and planar GBR ('gbrp') for lossless
    H.264 ones. ffmpeg's scale filter converts to BT.709 YUV in the same step as any resize; converting in
    Python first would cost as much as an H.264 decode (measured: +1.3 s per 96 1080x1350 frames).
    Other decoded formats fall back to a converted rgb24 copy.
    """

    BYTES_PER_PIXEL = {"rgb24": 3, "gbrp": 1}  # per plane

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._reader = ClipReader(path)  # MediaInputError (a PermanentError) names the file
        self._frames = self._reader.av_frames(strict=True)
        try:
            self._first = next(self._frames)
        except StopIteration:
            raise PermanentError(f"{self.path.name} has no decodable frames") from None
        self.width, self.height = self._first.width, self._first.height
        decoded = self._first.format.name
        self._convert = decoded not in self.BYTES_PER_PIXEL
        self.pix_fmt = "rgb24" if self._convert else decoded
        self._bpp = self.BYTES_PER_PIXEL[self.pix_fmt]
        # Row length in pixels of piped frames: the decoder's (possibly padded) line size, piped as-is.
        self.stride = self.width if self._convert else self._first.planes[0].line_size // self._bpp

    def first_rgb(self) -> np.ndarray:
        return self._first.to_ndarray(format="rgb24")

    def _raw(self, frame) -> list:
        """Buffers that make one raw frame, in order (planes as decoded, padding included)."""
        if self._convert:
            return [np.ascontiguousarray(frame.to_ndarray(format="rgb24")).tobytes()]
        row = self.stride * self._bpp
        planes = frame.planes
        if all(p.line_size == row and p.buffer_size == row * p.height for p in planes):
            return [memoryview(p) for p in planes]  # zero-copy; the plane keeps its frame alive
        rows = [np.frombuffer(p, np.uint8).reshape(-1, p.line_size)[: p.height, :row] for p in planes]
        return [np.ascontiguousarray(r).tobytes() for r in rows]

    def __iter__(self):
        yield self._raw(self._first)
        for frame in self._frames:
            yield self._raw(frame)

    def close(self) -> None:
        self._frames.close()


def encode_variants(clip: ClipRef, preset: Preset, out_dir: Path, timeout_s: float | None = None) -> list[LocalAsset]:
    """Encode `clip` (a lossless master) into every encoding of `preset` under `out_dir`.

    Returns one LocalAsset per EncodingSpec, in the preset's order. Raises PermanentError when the master
    cannot be decoded or ffmpeg rejects an option (one line naming the file), EncodeTimeout when it all
    takes longer than `timeout_s` (None: no limit): the ffmpeg processes are killed then, not abandoned.
    """
    out_dir = Path(out_dir)
    names = [OUTPUTS[spec.format][1] for spec in preset.encodings]
    if len(set(names)) != len(names):
        raise PermanentError(f"preset {preset.name}: each encoding format may appear once")
    master = MasterFrames(clip.path)
    out_dir.mkdir(parents=True, exist_ok=True)
    duration = clip.n_frames / clip.fps if clip.n_frames and clip.fps else None

    assets: list[LocalAsset] = []
    encoders: list[_Encoder] = []
    expired = threading.Event()
    lock = threading.Lock()  # an encoder is either started before the deadline (and killed) or not at all

    def kill_all() -> None:
        with lock:
            expired.set()
            for encoder in encoders:
                encoder.proc.kill()  # unblocks its writer (broken pipe) and finish() (non-zero exit)

    watchdog = threading.Timer(timeout_s, kill_all) if timeout_s else None
    if watchdog is not None:
        watchdog.daemon = True
        watchdog.start()
    timed_out = f"encoding {Path(clip.path).name} ran past {timeout_s or 0:g} s; ffmpeg was killed"
    try:
        for spec in preset.encodings:
            kind, name, mime = OUTPUTS[spec.format]
            final = out_dir / name
            assets.append(
                LocalAsset(
                    kind=kind,
                    path=str(final),
                    content_type=mime,
                    width=preset.width,
                    height=preset.height,
                    format=spec.format,
                )
            )
            if spec.is_video:
                tmp = out_dir / f".{name}.partial"
                argv = build_video_command(
                    spec,
                    preset,
                    master.width,
                    master.height,
                    clip.fps,
                    tmp,
                    duration_s=duration,
                    pix_fmt=master.pix_fmt,
                    stride=master.stride,
                )
                with lock:
                    if expired.is_set():
                        raise EncodeTimeout(timed_out)
                    encoders.append(_Encoder(argv, tmp, final))
        for spec in preset.encodings:
            if not spec.is_video:
                save_poster(master.first_rgb(), spec, preset, out_dir / OUTPUTS[spec.format][1])
        for data in master:
            if expired.is_set() or (encoders and all(encoder.broken for encoder in encoders)):
                break  # every ffmpeg has exited: finish() reports why
            for encoder in encoders:
                encoder.frames.put(data)
        if expired.is_set():
            raise EncodeTimeout(timed_out)
        for encoder in encoders:
            encoder.finish()
    except BaseException as exc:
        for encoder in encoders:
            if not encoder.finished:
                encoder.kill()
        if expired.is_set() and not isinstance(exc, EncodeTimeout):
            raise EncodeTimeout(timed_out) from exc  # the kill is why ffmpeg failed
        raise
    finally:
        if watchdog is not None:
            watchdog.cancel()
        master.close()
    return assets
