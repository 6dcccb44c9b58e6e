"""Loading what the gate compares: the source photo and the clip's frames, at the metrics' work size.

Bad input becomes a ``QCInputError`` (a ``PermanentError``) with one line for an operator, never a crash.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from catalog_motion.errors import PermanentError


class QCInputError(PermanentError):
    """The photo or the clip cannot be scored (unreadable, empty, too short)."""


def _hex_rgb(colour: str) -> tuple[int, int, int]:
    value = colour.lstrip("#")
    if len(value) != 6:
        return (255, 255, 255)
    try:
        return tuple(int(value[i:i + 2], 16) for i in (0, 2, 4))  # type: ignore[return-value]
    except ValueError:
        return (255, 255, 255)


def load_photo(path: str | Path, background: str = "#ffffff") -> np.ndarray:
    """The source photo as RGB uint8; grayscale is expanded and alpha is laid on `background`
    (the same colour the engines lay transparent areas on)."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
                rgba = image.convert("RGBA")
                canvas = Image.new("RGBA", rgba.size, _hex_rgb(background) + (255,))
                canvas.alpha_composite(rgba)
                rgb = canvas.convert("RGB")
            else:
                rgb = image.convert("RGB")
    except FileNotFoundError:
        raise QCInputError(f"source photo not found: {path}") from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise QCInputError(f"cannot read source photo {path.name}: {exc}") from None
    array = np.asarray(rgb, dtype=np.uint8)
    if array.shape[0] < 8 or array.shape[1] < 8:
        raise QCInputError(f"source photo {path.name} is too small ({array.shape[1]}x{array.shape[0]})")
    return array


def work_size(width: int, height: int, long_side: int) -> tuple[int, int]:
    """(w, h) scaled so the long side is at most `long_side`, even numbers."""
    scale = min(1.0, long_side / max(width, height))
    return max(8, int(round(width * scale / 2)) * 2), max(8, int(round(height * scale / 2)) * 2)


class ClipStream:
    """Frames of a clip at work size, decoded lazily (in a background thread by `frames_in_thread`).

    Attributes known before decoding: `fps`, `n_estimate` (from the container; exact for MP4, from the
    duration for Matroska). `width`/`height` (full size) are set once the first frame is decoded."""

    def __init__(self, path: str | Path, long_side: int):
        import av

        self.path = Path(path)
        self.long_side = long_side
        if not self.path.exists():
            raise QCInputError(f"clip not found: {self.path}")
        if self.path.stat().st_size == 0:
            raise QCInputError(f"clip {self.path.name} is an empty file")
        try:
            self._container = av.open(str(self.path))
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            raise QCInputError(f"cannot decode clip {self.path.name}: {str(exc).splitlines()[0]}") from None
        if not self._container.streams.video:
            self._container.close()
            raise QCInputError(f"clip {self.path.name} has no video stream")
        stream = self._container.streams.video[0]
        stream.thread_type = "AUTO"
        self._stream = stream
        rate = stream.average_rate or stream.guessed_rate
        self.fps = float(rate) if rate else 0.0
        n = stream.frames
        if not n:
            seconds = float(stream.duration * stream.time_base) if stream.duration else (
                self._container.duration / 1e6 if self._container.duration else 0.0)
            n = int(round(seconds * self.fps)) if self.fps else 0
        self.n_estimate = n
        self.width = self.height = 0

    def __iter__(self):
        import av

        size = None
        count = 0
        try:
            for frame in self._container.decode(self._stream):
                if size is None:
                    self.width, self.height = frame.width, frame.height
                    size = work_size(frame.width, frame.height, self.long_side)
                # swscale's area filter: one pass from the decoder's format to small RGB (no full-size
                # copy); planar gbrp (lossless masters) stays planar, ~30 % faster than rgb24.
                target = "gbrp" if frame.format.name == "gbrp" else "rgb24"
                yield frame.reformat(format=target, width=size[0], height=size[1], interpolation="AREA").to_ndarray()
                count += 1
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            if not count:  # a truncated file still scores what decoded; the frame-count check reports the rest
                raise QCInputError(f"cannot decode clip {self.path.name}: {str(exc).splitlines()[0]}") from None
        finally:
            self._container.close()


def frames_in_thread(stream: ClipStream, buffer: int = 24):
    """Iterate `stream` while a background thread decodes ahead (decoding and scoring then share the
    two cores); errors of the decoder are raised here."""
    import queue
    import threading

    items: queue.Queue = queue.Queue(maxsize=buffer)
    done = object()

    def produce() -> None:
        try:
            for frame in stream:
                items.put(frame)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            items.put(exc)
        items.put(done)

    worker = threading.Thread(target=produce, name="qc-decode", daemon=True)
    worker.start()
    while True:
        item = items.get()
        if item is done:
            break
        if isinstance(item, BaseException):
            worker.join()
            raise item
        yield item
    worker.join()


def read_clip(path: str | Path, long_side: int) -> tuple[np.ndarray, float, int, int]:
    """All frames at work size (N, h, w, 3) uint8, the clip's fps, and its full width and height."""
    stream = ClipStream(path, long_side)
    frames = list(stream)
    if not frames:
        raise QCInputError(f"clip {stream.path.name} has no decodable frames")
    if len(frames) < 2:
        raise QCInputError(f"clip {stream.path.name} has {len(frames)} frame; at least 2 are needed to score motion")
    return np.stack(frames), stream.fps, stream.width, stream.height


def fit_cover(photo: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray, float]:
    """The whole photo scaled to *cover* a width x height frame (as the engines frame it), the affine map
    of a centred crop (frame -> photo coordinates, the alignment's first guess) and the aspect mismatch
    (relative difference of the aspect ratios, 0 when they agree). Nothing is cropped: an engine may
    frame the subject off-centre, and the alignment finds where."""
    ph, pw = photo.shape[:2]
    mismatch = abs((pw / ph) / (width / height) - 1.0)
    scale = max(width / pw, height / ph)
    rw, rh = max(width, int(round(pw * scale))), max(height, int(round(ph * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(photo, (rw, rh), interpolation=interp)
    init = np.array([[1, 0, (rw - width) / 2.0], [0, 1, (rh - height) / 2.0]], np.float32)
    return resized, init, mismatch
