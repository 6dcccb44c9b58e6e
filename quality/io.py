"""What the gate needs around the core readers: its input error, decoding ahead in a thread, and the
photo fitted over a frame.

The photo and the clip are read by the core (`catalog_motion.images.read_photo`,
`catalog_motion.media.ClipReader`); their unreadable input is a ``QCInputError`` (a ``PermanentError``)
with one line for an operator, never a crash.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import cv2
import numpy as np

from catalog_motion.media import MediaInputError

QCInputError = MediaInputError
"""The photo or the clip cannot be scored (unreadable, empty, too short); the core's reading error, so
the readers' own failures and the gate's are one type."""


def frames_in_thread(stream: Iterable[np.ndarray], buffer: int = 24) -> Iterator[np.ndarray]:
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


def fit_cover(photo: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray, float]:
    """The whole photo scaled to *cover* a width x height frame (as the engines frame it), the affine map
    of a centred crop (frame -> photo coordinates, the alignment's first guess) and the aspect mismatch
    (relative difference of the aspect ratios, 0 when they agree). Nothing is cropped: an engine may
    frame the subject off-centre, and the alignment finds where."""
    ph, pw = photo.shape[:2]
    mismatch = abs((pw / ph) / (width / height) - 1.0)
    scale = max(width / pw, height / ph)
    rw, rh = max(width, round(pw * scale)), max(height, round(ph * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(photo, (rw, rh), interpolation=interp)
    init = np.array([[1, 0, (rw - width) / 2.0], [0, 1, (rh - height) / 2.0]], np.float32)
    return resized, init, mismatch
