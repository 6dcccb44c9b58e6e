"""The delivered file's gate: an encode is checked against its container spec and against its master.

``check_delivered(video_path, master_path, preset)`` is what publishing runs on every video encode (mp4
and webm alike) before anything is stored. Two checks, with stable names:

- ``conformance``: the container (codec, yuv420p, size, frame rate, frame count, duration), as
  ``check_conformance`` (the container check the gate always did);
- ``delivery``: what the encoder did to the pictures. Both files are decoded at a small size (the long
  side ~`delivery_long_side`, by an integer box filter on the decoded planes: the encode's own Y, Cb, Cr
  and the master converted to BT.709 limited-range Y'CbCr, as the encoder does) and compared frame by
  frame: the worst frame's PSNR must stay within the codec budget, no frame may be out of step (closer
  to another master frame than to its own: a dropped, duplicated or held frame), the encode may not add
  black or blank frames, and it must hold as many frames as the master and decode to the end.

The master is the lossless clip the gate scored; so a clip whose encode fails is not published.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from catalog_motion.media import ClipReader
from catalog_motion.presets import Preset
from catalog_motion.types import QCReport
from quality.evidence import Finding
from quality.io import QCInputError
from quality.technical import conformance

# BT.709 luma weights; limited ("tv") range as publishing/encode.py writes it
KR, KB = 0.2126, 0.0722
KG = 1.0 - KR - KB
SEARCH_S = 0.5  # a frame out of step is looked for this far either side of its own position
WORSE_THAN_USUAL = 4.0  # MSE: an out-of-step frame is this much worse than the encode's median frame...
EXPLAINED_BETTER = 2.0  # ...and another master frame nearby matches it this much better than its own
DETAIL_EVERY = 12  # every this many frames, luma is also kept at half the clip's size (blocking, wiped texture)


@dataclass
class Decoded:
    """One file at the comparison size: per frame a (3, h, w) float32 Y'CbCr array (limited range)."""

    frames: list[np.ndarray] = field(default_factory=list)
    detail: dict[int, np.ndarray] = field(default_factory=dict)  # frame -> luma at half size (float32)
    width: int = 0
    height: int = 0
    fps: float = 0.0
    decode_error: str | None = None


def box_factor(width: int, height: int, long_side: int) -> int:
    """Even integer reduction factor bringing the long side near `long_side` (box filters by an integer
    factor are cv2's fast path; even so 4:2:0 chroma planes reduce by an integer too)."""
    return max(2, 2 * round(max(width, height) / (2 * long_side)))


def _reduce(plane: np.ndarray, k: int) -> np.ndarray:
    """Box-filter `plane` down by the integer `k` (cropped to a multiple of k). Exact halvings first:
    cv2's bilinear at exactly 1/2 is the 2x2 mean and ~4x faster than one INTER_AREA by k."""
    h, w = plane.shape[:2]
    out = plane[: h // k * k, : w // k * k]
    while k % 2 == 0:
        out = cv2.resize(out, (out.shape[1] // 2, out.shape[0] // 2), interpolation=cv2.INTER_LINEAR)
        k //= 2
    if k > 1:
        out = cv2.resize(out, (out.shape[1] // k, out.shape[0] // k), interpolation=cv2.INTER_AREA)
    return out


def _plane(frame, index: int, width: int, height: int) -> np.ndarray:
    plane = frame.planes[index]
    return np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:height, :width]


def rgb_to_ycbcr(rgb: np.ndarray) -> np.ndarray:
    """RGB (h, w, 3) in 0..255 -> (3, h, w) float32 BT.709 limited-range Y', Cb, Cr."""
    r, g, b = (rgb[..., c].astype(np.float32) / 255.0 for c in range(3))
    y = KR * r + KG * g + KB * b
    return np.stack(
        [16.0 + 219.0 * y, 128.0 + 224.0 * (b - y) / (2 * (1 - KB)), 128.0 + 224.0 * (r - y) / (2 * (1 - KR))]
    )


def _small_ycbcr(frame, k: int, detail: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """One decoded PyAV frame at 1/k size as Y'CbCr: yuv420p straight from its planes (no colour
    conversion, no full-size copy), anything else (the RGB masters) through RGB. With `detail`, also its
    luma at half size (float32; the first halving of the reduction, so nearly free)."""
    w, h = frame.width, frame.height
    if frame.format.name == "yuv420p":
        full = _plane(frame, 0, w, h)
        half = _reduce(full, 2)
        y = _reduce(half, k // 2)
        cw, ch = (w + 1) // 2, (h + 1) // 2
        cb, cr = (_reduce(_plane(frame, i, cw, ch), k // 2) for i in (1, 2))
        hh, ww = min(y.shape[0], cb.shape[0]), min(y.shape[1], cb.shape[1])
        small = np.stack([y[:hh, :ww], cb[:hh, :ww], cr[:hh, :ww]]).astype(np.float32)
        return small, (half.astype(np.float32) if detail else None)
    if frame.format.name == "rgb24":
        rgb = _plane(frame, 0, w * 3, h).reshape(h, w, 3)
    else:  # gbrp (lossless H.264 masters) and others: PyAV's conversion hands back RGB
        rgb = frame.to_ndarray(format="gbrp" if frame.format.name == "gbrp" else "rgb24")
    half = _reduce(rgb, 2)
    luma = rgb_to_ycbcr(half)[0] if detail else None
    return rgb_to_ycbcr(_reduce(half, k // 2)), luma


def decode_small(path: str | Path, long_side: int, k: int | None = None) -> Decoded:
    """Every frame of `path` at ~`long_side` (or 1/k when `k` is given). A file that stops decoding part
    way keeps the frames before the fault (decode_error says where); unreadable input raises
    QCInputError."""
    reader = ClipReader(path)
    out = Decoded(fps=reader.fps)
    for frame in reader.av_frames():
        if not out.frames:
            out.width, out.height = frame.width, frame.height
            k = k or box_factor(frame.width, frame.height, long_side)
        small, luma = _small_ycbcr(frame, k, detail=len(out.frames) % DETAIL_EVERY == 0)
        if luma is not None:
            out.detail[len(out.frames)] = luma
        out.frames.append(small)
    out.decode_error = reader.decode_error
    return out


def _decode_both(video: Path, master: Path, long_side: int) -> tuple[Decoded, Decoded]:
    """The master decodes in a background thread while this one decodes the encode (PyAV and cv2
    release the GIL: the two share the cores)."""
    import threading

    result: dict[str, Decoded | BaseException] = {}

    def run() -> None:
        try:
            result["master"] = decode_small(master, long_side)
        except BaseException as exc:  # noqa: BLE001 - raised in the caller's thread
            result["master"] = exc

    worker = threading.Thread(target=run, name="qc-delivery-master", daemon=True)
    worker.start()
    try:
        encoded = decode_small(video, long_side)
    finally:
        worker.join()
    got = result["master"]
    if isinstance(got, BaseException):
        raise got
    return encoded, got


def _mse(a: np.ndarray, b: np.ndarray) -> float:
    """Mean squared error over Y', Cb, Cr weighted 6:1:1 (the usual YUV PSNR weighting)."""
    d = a - b
    sq = np.einsum("chw,chw->c", d, d) / (d.shape[1] * d.shape[2])
    return float((6 * sq[0] + sq[1] + sq[2]) / 8)


def psnr(mse: float) -> float:
    return 99.0 if mse <= 1e-10 else float(10 * np.log10(255.0**2 / mse))


def black_or_blank_ycbcr(frame: np.ndarray) -> bool:
    """quality.technical.black_or_blank on Y': >= 98 % of pixels below 10 % of the range, or flat."""
    y = frame[0]
    dark = np.count_nonzero(y < 16 + 0.10 * 219) >= 0.98 * y.size
    return bool(dark or float(y.std()) < 0.01 * 219)


def _aligned(e: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Crop two frames to their common size; the encode is resized to the master's when the sizes are
    not the same picture (a wrong-size encode: conformance reports the size)."""
    if e.shape != m.shape:
        if abs(e.shape[1] - m.shape[1]) > 1 or abs(e.shape[2] - m.shape[2]) > 1:
            e = np.stack([cv2.resize(c, (m.shape[2], m.shape[1]), interpolation=cv2.INTER_AREA) for c in e])
        hh, ww = min(e.shape[1], m.shape[1]), min(e.shape[2], m.shape[2])
        e, m = e[:, :hh, :ww], m[:, :hh, :ww]
    return e, m


@dataclass
class DeliveryScores:
    psnr: list[float]  # per frame, encode vs master at the same index (dB)
    out_of_step: list[int]  # per frame: offset of the master frame it shows instead (0 = its own)
    black_added: list[int]  # frames black/blank in the encode, not in the master
    n_encoded: int
    n_master: int


def compare(encoded: list[np.ndarray], master: list[np.ndarray], fps: float) -> DeliveryScores:
    """Frame-by-frame comparison of two decoded clips (lists of (3, h, w) Y'CbCr arrays)."""
    n = min(len(encoded), len(master))
    pairs = [_aligned(encoded[i], master[i]) for i in range(n)]
    own = [_mse(e, m) for e, m in pairs]
    reach = max(1, round(SEARCH_S * fps))
    # the search among neighbours runs on a coarser luma copy: cheap, and noise averages out further
    coarse_e = [cv2.pyrDown(np.ascontiguousarray(e[0])) for e, _ in pairs]
    coarse_m = [cv2.pyrDown(np.ascontiguousarray(m[0])) for _, m in pairs]
    mine = [float(np.mean((a - b) ** 2)) for a, b in zip(coarse_e, coarse_m, strict=True)]
    # a frame far worse than the encode's usual fidelity (so the difference shows) that another master
    # frame explains much better: the encode shows the wrong moment (dropped, repeated or held frames)
    usual = float(np.median(mine)) if mine else 0.0
    steps = []
    for i in range(n):
        offset = 0
        if mine[i] > WORSE_THAN_USUAL * usual and mine[i] > 1e-6:
            best = mine[i] / EXPLAINED_BETTER
            for j in range(max(0, i - reach), min(n, i + reach + 1)):
                if j != i:
                    other = float(np.mean((coarse_e[i] - coarse_m[j]) ** 2))
                    if other < best:
                        best, offset = other, j - i
        steps.append(offset)
    black = [i for i in range(n) if black_or_blank_ycbcr(pairs[i][0]) and not black_or_blank_ycbcr(pairs[i][1])]
    return DeliveryScores(
        psnr=[psnr(v) for v in own], out_of_step=steps, black_added=black, n_encoded=len(encoded), n_master=len(master)
    )


def detail_psnr(encoded: dict[int, np.ndarray], master: dict[int, np.ndarray]) -> dict[int, float]:
    """Per frame kept by both (DETAIL_EVERY), the luma PSNR of the encode against the master at half the
    clip's size: at the small comparison size a heavily compressed encode still looks like its master;
    at half size its blocks and wiped texture show (a wrong-size encode is left to conformance)."""
    out = {}
    for i in sorted(set(encoded) & set(master)):
        e, m = encoded[i], master[i]
        if e.shape != m.shape:
            continue
        d = cv2.absdiff(e, m)
        out[i] = psnr(float(cv2.mean(cv2.multiply(d, d))[0]))
    return out


def check_conformance(
    video_path: str | Path, preset: Preset, *, expected_frames: int | None = None, codec: str | None = None
) -> QCReport:
    """Container conformance of an encoded delivery file: codec (h264 for .mp4, vp9 for .webm unless
    `codec` says), yuv420p, exact size, frame rate, frame count and duration within one frame."""
    started = time.perf_counter()
    path = Path(video_path)
    scores, reasons = _conformance(path, preset, expected_frames, codec)
    return QCReport(
        passed=not reasons,
        scores=scores,
        reasons=[f"conformance: {r}" for r in reasons],
        seconds=time.perf_counter() - started,
        failed_checks=["conformance"] if reasons else [],
    )


def _conformance(
    path: Path, preset: Preset, expected_frames: int | None, codec: str | None
) -> tuple[dict[str, float], list[str]]:
    if not path.exists() or path.stat().st_size == 0:
        raise QCInputError(f"encoded file missing or empty: {path}")
    try:
        return conformance(
            path,
            width=preset.width,
            height=preset.height,
            fps=float(preset.fps),
            n_frames=expected_frames or preset.n_frames,
            codec=codec,
        )
    except (IndexError, OSError, ValueError) as exc:
        raise QCInputError(
            f"cannot probe {path.name}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        ) from None
    except Exception as exc:  # noqa: BLE001 - av.error.* derive from OSError/ValueError in most builds
        raise QCInputError(f"cannot probe {path.name}: {type(exc).__name__}") from None


def check_delivered(
    video_path: str | Path,
    master_path: str | Path,
    preset: Preset,
    *,
    expected_frames: int | None = None,
    codec: str | None = None,
) -> QCReport:
    """Gate one delivered encode: ``conformance`` (container) and ``delivery`` (pictures vs the master).
    Raises QCInputError (a PermanentError, one line) when either file cannot be read at all."""
    started = time.perf_counter()
    th = preset.qc
    video, master = Path(video_path), Path(master_path)
    scores, container = _conformance(video, preset, expected_frames, codec)
    findings: list[Finding] = []
    reasons = [f"conformance: {r}" for r in container]

    encoded, reference = _decode_both(video, master, th.delivery_long_side)
    fps = float(preset.fps)
    result = compare(encoded.frames, reference.frames, fps)
    worst = int(np.argmin(result.psnr)) if result.psnr else 0
    detail = detail_psnr(encoded.detail, reference.detail)
    detail_at = min(detail, key=detail.get) if detail else None
    stepped = [i for i, s in enumerate(result.out_of_step) if s]
    scores.update(
        delivery_psnr_db=float(min(result.psnr)) if result.psnr else 0.0,
        delivery_psnr_mean_db=float(np.mean(result.psnr)) if result.psnr else 0.0,
        delivery_detail_psnr_db=float(detail[detail_at]) if detail_at is not None else 99.0,
        delivery_out_of_step=float(len(stepped)),
        delivery_black_added=float(len(result.black_added)),
        delivery_frames=float(result.n_encoded),
        master_frames=float(result.n_master),
    )
    limits = {
        "delivery_psnr_db": th.delivery_min_psnr_db,
        "delivery_detail_psnr_db": th.delivery_min_detail_psnr_db,
        "delivery_out_of_step": 0.0,
        "delivery_black_added": 0.0,
    }

    def finding(message: str, value: float, limit: float, frame: int | None = None, **kw) -> None:
        findings.append(Finding("delivery", message, float(value), float(limit), frame=frame, fps=fps, **kw))

    if encoded.decode_error:
        finding(
            f"encode stops decoding ({encoded.decode_error}); frames decoded",
            result.n_encoded,
            result.n_master,
            above=False,
        )
    elif result.n_encoded != result.n_master:
        finding(
            "encode frame count differs from the master's",
            result.n_encoded,
            result.n_master,
            above=result.n_encoded > result.n_master,
            unit="frames",
        )
    if result.black_added:
        finding(
            "black or blank frames the master does not have",
            len(result.black_added),
            0,
            frame=result.black_added[0],
            unit="frames",
        )
    if stepped:
        offset = result.out_of_step[stepped[0]]
        finding(
            f"frames out of step with the master (dropped, repeated or held; the first shows master "
            f"frame {stepped[0] + offset})",
            len(stepped),
            0,
            frame=stepped[0],
            unit="frames",
        )
    if result.psnr and result.psnr[worst] < th.delivery_min_psnr_db:
        finding(
            "encode PSNR against the master (compression or drift)",
            result.psnr[worst],
            th.delivery_min_psnr_db,
            frame=worst,
            above=False,
            unit="dB",
        )
    if detail_at is not None and detail[detail_at] < th.delivery_min_detail_psnr_db:
        finding(
            "encode luma PSNR against the master at half size (blocking, wiped texture)",
            detail[detail_at],
            th.delivery_min_detail_psnr_db,
            frame=detail_at,
            above=False,
            unit="dB",
        )
    reasons += [f.reason for f in findings]
    failed = (["conformance"] if container else []) + (["delivery"] if findings else [])
    return QCReport(
        passed=not failed,
        scores=scores,
        reasons=reasons,
        per_frame={"delivery_psnr_db": result.psnr, "delivery_out_of_step": [float(s) for s in result.out_of_step]},
        seconds=time.perf_counter() - started,
        failed_checks=failed,
        limits=limits,
    )
