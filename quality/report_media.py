"""Pictures and the preview clip of one QC report page, made at check time while the master exists.

One decoding pass over the clip: the filmstrip's frames are converted only where they are picked (a JPEG,
source photo first), and a clip that did not pass also gets a small browser-playable H.264 preview (the
lossless master and the review copy are not playable in a browser). Everything is cheap on purpose: the
report step must stay under ~0.2 s of CPU per clip (benchmarks/bench_report.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from catalog_motion.images import read_photo
from catalog_motion.media import ClipReader
from quality.evidence import WorkFrames

STRIP_NAME = "strip.jpg"
SOURCE_NAME = "source.jpg"
PREVIEW_NAME = "preview.mp4"


@dataclass
class ClipMedia:
    """What was written next to a clip page (file names, relative to its folder) and what could not be."""

    strip: str | None = None
    source: str | None = None
    preview: str | None = None
    error: str | None = None


def _fit(image: np.ndarray, long_side: int, interpolation: int = cv2.INTER_AREA) -> np.ndarray:
    h, w = image.shape[:2]
    scale = long_side / max(h, w)
    size = (max(2, round(w * scale) // 2 * 2), max(2, round(h * scale) // 2 * 2))
    return cv2.resize(image, size, interpolation=interpolation)


def _to_height(image: np.ndarray, height: int) -> np.ndarray:
    h, w = image.shape[:2]
    return cv2.resize(image, (max(1, w * height // h), height), interpolation=cv2.INTER_AREA)


def _tile(frame: np.ndarray, index: int, height: int, marked: tuple[int, ...]) -> np.ndarray:
    tile = _to_height(frame, height)
    if index in marked:  # a frame a failed check names: framed so the eye finds it in the strip
        tile = tile.copy()
        tile[:4], tile[-4:], tile[:, :4], tile[:, -4:] = (220, 0, 0), (220, 0, 0), (220, 0, 0), (220, 0, 0)
    return tile


def _write_jpeg(image: np.ndarray, path: Path, quality: int = 82) -> None:
    if not cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]):
        raise OSError(f"could not write {path}")


class _PreviewWriter:
    """Small H.264 MP4 (yuv420p, faststart) from RGB frames, through PyAV's libx264 in this process."""

    def __init__(self, path: Path, fps: float, long_side: int):
        import av

        self.path, self.fps, self.long_side = path, fps, long_side
        self._container = av.open(str(path), "w", options={"movflags": "+faststart"})
        self._stream = None

    def add(self, frame: np.ndarray) -> None:
        import av

        # bilinear, not area: the preview shows motion, the filmstrip and the published asset show detail
        small = _fit(frame, self.long_side, cv2.INTER_LINEAR)
        if self._stream is None:
            rate = Fraction(self.fps).limit_denominator(1001) if self.fps > 0 else Fraction(24)
            self._stream = self._container.add_stream("libx264", rate=rate)
            self._stream.width, self._stream.height = small.shape[1], small.shape[0]
            self._stream.pix_fmt = "yuv420p"
            self._stream.options = {"preset": "ultrafast", "crf": "28"}
        # converted by OpenCV at the small size: ~20 % cheaper than handing the encoder RGB
        yuv = cv2.cvtColor(small, cv2.COLOR_RGB2YUV_I420)
        for packet in self._stream.encode(av.VideoFrame.from_ndarray(yuv, format="yuv420p")):
            self._container.mux(packet)

    def close(self) -> None:
        if self._stream is not None:
            for packet in self._stream.encode():
                self._container.mux(packet)
        self._container.close()


def write_clip_media(
    clip_path: str | Path,
    source_path: str | Path | None,
    out_dir: str | Path,
    *,
    preview: bool,
    marked: tuple[int, ...] = (),
    count: int = 8,
    strip_height: int = 150,
    source_long_side: int = 480,
    preview_long_side: int = 320,
    frames: WorkFrames | None = None,
) -> ClipMedia:
    """Write the source thumbnail, the filmstrip (source first, then `count` evenly spaced frames plus
    the `marked` ones, e.g. where a check failed, framed in red) and, when `preview`, a small playable
    MP4 of the clip into `out_dir`. With `frames` (the gate's work-size decode) the clip file is not read
    again. Never raises for a bad input: what could not be made is named in `ClipMedia.error` (the report
    still lists the clip)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    media = ClipMedia()
    tiles: list[np.ndarray] = []
    try:
        if source_path is not None:
            photo = read_photo(source_path)
            _write_jpeg(_fit(photo, source_long_side), out_dir / SOURCE_NAME)
            media.source = SOURCE_NAME
            tiles += [_to_height(photo, strip_height), np.full((strip_height, 6, 3), 255, np.uint8)]
    except Exception as exc:  # noqa: BLE001 - named on the page instead
        media.error = f"source photo: {_first_line(exc)}"
    if frames is not None and len(frames.frames):
        return _media_from_frames(
            frames, out_dir, media, tiles, preview, marked, count, strip_height, preview_long_side
        )
    writer: _PreviewWriter | None = None
    try:
        reader = ClipReader(clip_path)
        n = max(1, reader.n_estimate)
        picks = set(np.linspace(0, n - 1, min(count, n)).round().astype(int).tolist())
        picks |= {i for i in marked if 0 <= i < n}
        seeked = None if preview else _frames_by_seeking(Path(clip_path), sorted(picks), reader.fps)
        if seeked is not None:
            reader.close()
            tiles += [_tile(frame, i, strip_height, marked) for i, frame in zip(sorted(picks), seeked, strict=True)]
            _write_jpeg(np.concatenate(tiles, axis=1), out_dir / STRIP_NAME)
            media.strip = STRIP_NAME
            return media
        if preview:
            writer = _PreviewWriter(out_dir / PREVIEW_NAME, reader.fps, preview_long_side)
        last: np.ndarray | None = None
        shown = 0
        for index, frame in enumerate(reader.av_frames()):
            # convert a frame only when something needs it (a raw master decodes at memcpy speed)
            if writer is None and index not in picks:
                continue
            # planar gbrp (lossless H.264 masters) comes back as RGB without a pixel-format conversion
            rgb = frame.to_ndarray(format="gbrp" if frame.format.name == "gbrp" else "rgb24")
            if index in picks:
                tiles.append(_tile(rgb, index, strip_height, marked))
                shown += 1
            last = rgb
            if writer is not None:
                writer.add(rgb)
        if not shown and last is not None:  # the container overstated its frame count
            tiles.append(_to_height(last, strip_height))
        if writer is not None:
            writer.close()
            writer = None
            media.preview = PREVIEW_NAME
    except Exception as exc:  # noqa: BLE001 - named on the page instead
        media.error = "; ".join(filter(None, [media.error, f"clip: {_first_line(exc)}"]))
        if writer is not None:
            try:
                writer.close()
            except Exception:  # noqa: BLE001 - the preview is already lost; keep the first reason
                pass
            (out_dir / PREVIEW_NAME).unlink(missing_ok=True)
    if tiles:
        _write_jpeg(np.concatenate(tiles, axis=1), out_dir / STRIP_NAME)
        media.strip = STRIP_NAME
    return media


def _media_from_frames(
    frames: WorkFrames,
    out_dir: Path,
    media: ClipMedia,
    tiles: list[np.ndarray],
    preview: bool,
    marked: tuple[int, ...],
    count: int,
    strip_height: int,
    preview_long_side: int,
) -> ClipMedia:
    """Filmstrip and preview from frames already in memory (no decode)."""
    n = len(frames.frames)
    picks = set(np.linspace(0, n - 1, min(count, n)).round().astype(int).tolist())
    picks |= {i for i in marked if 0 <= i < n}
    tiles += [_tile(frames.frames[i], i, strip_height, marked) for i in sorted(picks)]
    _write_jpeg(np.concatenate(tiles, axis=1), out_dir / STRIP_NAME)
    media.strip = STRIP_NAME
    if preview:
        writer = _PreviewWriter(out_dir / PREVIEW_NAME, frames.fps, preview_long_side)
        try:
            for frame in frames.frames:
                writer.add(frame)
        except Exception as exc:  # noqa: BLE001 - named on the page instead
            media.error = "; ".join(filter(None, [media.error, f"preview: {_first_line(exc)}"]))
            try:
                writer.close()
            except Exception:  # noqa: BLE001 - the preview is already lost; keep the first reason
                pass
            (out_dir / PREVIEW_NAME).unlink(missing_ok=True)
            return media
        writer.close()
        media.preview = PREVIEW_NAME
    return media


def _frames_by_seeking(path: Path, picks: list[int], fps: float) -> list[np.ndarray] | None:
    """The picked frames by one seek each, for a clip where every frame is a keyframe (raw masters:
    reading all of a 1080x1920 one would move ~1 GB); None for other codecs or a seek that misses."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if stream.codec_context.name != "rawvideo" or fps <= 0 or not stream.time_base:
            return None
        frames = []
        for index in picks:
            target = round(index / fps / stream.time_base)
            half = 0.5 / fps / stream.time_base
            container.seek(target, stream=stream, any_frame=True, backward=True)
            # a seek may land a frame early (the last frame): step forward to the one asked for
            found = None
            for _, frame in zip(range(4), container.decode(stream), strict=False):
                if frame.pts is not None and frame.pts >= target - half:
                    found = frame
                    break
            if found is None or abs(found.pts - target) > half:
                return None
            frames.append(found.to_ndarray(format="rgb24"))
        return frames


def _first_line(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return text or "unreadable"
