"""A labelled set of clips with known defects, and the gate's precision/recall on it.

Good clips: camera moves of several amounts (drawn moves, plus a real engine's clips when the caller
passes a `ClipRenderer`), a breathing loop and subtle subject motion. Bad clips: one known defect at
several strengths, each labelled `visible` or not (the defaults must reject every visible one and pass
every good clip).
Photos: a drawn studio garment and real photographs shipped with scikit-image.

Used by tests/quality/test_calibration.py and benchmarks/bench_qc_calibration.py.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from catalog_motion.media import write_master
from catalog_motion.presets import Preset
from quality.synthetic import camera_frames, draw_garment_photo, garment_mask

ClipRenderer = Callable[[Path, Preset, Path, float], Path]
"""(source photo, preset, out path, motion scale) -> the master clip it wrote: a real engine, wired in
by the caller (benchmarks/bench_qc_calibration.py), since quality imports no other stage."""

# defect -> the failed_checks name that should catch it
DEFECT_CHECK = {
    "flicker": "flicker",
    "colour_shift": "drift",
    "print_warp": "drift",
    "logo_smear": "drift",
    "morph": "drift",
    "black_frames": "black_frames",
    "frozen": "frozen",
    "flashes": "photosensitivity",
}


def expected_check(defect: str, strength: str) -> str:
    """The check that must catch `defect` at `strength`: flashes within the WCAG limit (<= 3 per second)
    are not a photosensitivity failure, but such a clip still flickers."""
    if defect == "flashes":
        value = dict((label, v) for label, v, _ in STRENGTHS["flashes"])[strength]
        return "photosensitivity" if value > 3 else "flicker"
    return DEFECT_CHECK[defect]


# strength label -> (value, visible). Values are in each defect's own unit, documented in docs/QUALITY.md:
# flicker: alternating gain; colour_shift: median CIEDE2000 on the subject; print_warp: peak displacement of
# a local bump / subject size; logo_smear: motion-blur length per 512 px of photo width; morph: blend weight
# of another garment; black_frames: count; frozen: held seconds; flashes: dark flashes per second.
# `visible` = a viewer notices it at delivery size; lower strengths are reported but not required.
STRENGTHS: dict[str, list[tuple[str, float, bool]]] = {
    "flicker": [("1%", 0.01, False), ("3%", 0.03, True), ("6%", 0.06, True)],  # alternating gain
    "colour_shift": [("dE1", 1.0, False), ("dE4", 4.0, True), ("dE10", 10.0, True)],  # CIEDE2000 on subject
    # print_warp 6 % is reported, not required: the residual flow cannot tell a local bend of that size
    # from the camera engine's own parallax layer slip (~1.5 px at work size), see docs/QUALITY.md
    "print_warp": [("0.5%", 0.005, False), ("3%", 0.03, False), ("6%", 0.06, False), ("10%", 0.10, True)],
    "logo_smear": [("3px", 3.0, False), ("12px", 12.0, False), ("24px", 24.0, True), ("48px", 48.0, True)],
    "morph": [("10%", 0.10, False), ("35%", 0.35, True), ("80%", 0.80, True)],  # blend to other garment
    "black_frames": [("1", 1, True), ("3", 3, True)],  # black frames
    "frozen": [("0.25s", 0.25, False), ("0.75s", 0.75, True), ("1.5s", 1.5, True)],  # held frame
    "flashes": [("2/s", 2.0, True), ("5/s", 5.0, True), ("8/s", 8.0, True)],  # dark flashes
}


LOGO_PHOTOS = {"drawn-garment", "astronaut"}  # photos with a logo or text to smear (name tag, mission patch)


@dataclass
class LabelledClip:
    name: str
    photo: str
    defect: str | None  # None for a good clip
    strength: str = ""
    visible: bool = False  # a defect a viewer would notice; must be rejected
    frames: list[np.ndarray] = field(default_factory=list, repr=False)


def _photos(width: int, height: int, factor: float = 2.0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name -> (photo, subject mask): `factor` x the clip size where the source allows (real photos are
    cropped to the clip's aspect and never enlarged). Real photos get a central subject region."""
    import skimage.data as data

    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    drawn = draw_garment_photo(int(width * factor), int(height * factor), seed=5)
    out["drawn-garment"] = (drawn, garment_mask(drawn))
    for name in ("astronaut", "coffee", "chelsea"):
        image = getattr(data, name)()
        ih, iw = image.shape[:2]
        crop = min(iw / width, ih / height)  # largest crop of the clip's aspect
        cw, ch = int(width * crop), int(height * crop)
        x0, y0 = (iw - cw) // 2, (ih - ch) // 2
        photo = image[y0 : y0 + ch, x0 : x0 + cw]
        scale = min(1.0, factor * width / cw)
        photo = cv2.resize(photo, (int(round(cw * scale)), int(round(ch * scale))), interpolation=cv2.INTER_AREA)
        ph, pw = photo.shape[:2]
        mask = np.zeros((ph, pw), np.uint8)
        cv2.ellipse(mask, (pw // 2, ph // 2), (int(pw * 0.3), int(ph * 0.3)), 0, 0, 360, 1, -1)
        out[name] = (np.ascontiguousarray(photo), mask.astype(bool))
    return out


def _lab_shift(photo: np.ndarray, mask: np.ndarray, de: float) -> np.ndarray:
    """The subject's colour shifted in (a*, b*) so its median CIEDE2000 difference is `de`."""
    from skimage.color import deltaE_ciede2000, rgb2lab

    if de <= 0:
        return photo
    lab = cv2.cvtColor(photo.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    ref = rgb2lab(photo)[mask]

    def shifted(amount: float) -> np.ndarray:
        out = lab.copy()
        out[..., 1][mask] += amount * 0.8
        out[..., 2][mask] -= amount * 0.6
        return np.clip(cv2.cvtColor(out, cv2.COLOR_LAB2RGB) * 255.0 + 0.5, 0, 255).astype(np.uint8)

    amount = de
    for _ in range(4):  # CIEDE2000 is not linear in (a*, b*): a few secant-free rescalings converge
        got = float(np.median(deltaE_ciede2000(ref, rgb2lab(shifted(amount))[mask])))
        amount = min(3.0 * de, amount * min(2.0, de / max(got, 1e-3)))  # bounded: clipped pixels saturate
    return shifted(amount)


def _detail_center(photo: np.ndarray, mask: np.ndarray) -> tuple[float, float, float]:
    """(cx, cy, subject size) of the most textured part of the subject: where a print or logo is, and
    where generated video smears and warps first."""
    size = float(np.sqrt(mask.sum()))
    gray = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    energy = cv2.Sobel(gray, cv2.CV_32F, 1, 0) ** 2 + cv2.Sobel(gray, cv2.CV_32F, 0, 1) ** 2
    inner = cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=max(1, int(0.3 * size)))
    local = cv2.GaussianBlur(energy, (0, 0), 0.12 * size) * (inner if inner.any() else mask)
    cy, cx = np.unravel_index(int(np.argmax(local)), local.shape)
    return float(cx), float(cy), size


def _bump_warp(photo: np.ndarray, mask: np.ndarray, amount: float) -> np.ndarray:
    """A local displacement (a Gaussian bump) on the print: a print that slides and bends."""
    h, w = mask.shape
    cx, cy, size = _detail_center(photo, mask)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    sigma = 0.15 * size
    bump = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma**2)).astype(np.float32)
    shift = amount * size * bump
    return cv2.remap(
        photo,
        (xx + shift).astype(np.float32),
        (yy + 0.5 * shift).astype(np.float32),
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REFLECT,
    )


def _smear(photo: np.ndarray, mask: np.ndarray, length_px: float) -> np.ndarray:
    """Motion-blur smear of the print/logo region (what melting text looks like)."""
    h, w = mask.shape
    cx, cy, size = _detail_center(photo, mask)
    k = max(1, int(round(length_px * w / 512)))
    kernel = np.zeros((k, k), np.float32)
    kernel[:, k // 2] = 1.0 / k  # a vertical drip: how melting prints and text look in generated video
    smeared = cv2.filter2D(photo, -1, kernel)
    region = np.zeros((h, w), np.float32)
    cv2.ellipse(region, (int(cx), int(cy)), (int(0.3 * size), int(0.18 * size)), 0, 0, 360, 1.0, -1)
    region = cv2.GaussianBlur(region, (0, 0), 0.02 * size)[..., None]
    return np.clip(photo * (1 - region) + smeared * region, 0, 255).astype(np.uint8)


def _ramp(photo: np.ndarray, defect_at: Callable[[float], np.ndarray], n: int, steps: int = 6) -> list[np.ndarray]:
    """Photos per frame: the defect grows from 0 to full strength over the clip (worst at the end),
    rendered at `steps` levels (a slow creep, as generated drift looks)."""
    levels = [defect_at(k / (steps - 1)) for k in range(steps)]
    return [levels[min(steps - 1, int(i / max(1, n - 1) * (steps - 1) + 0.5))] for i in range(n)]


def _move(photos: list[np.ndarray], width: int, height: int, zoom: float = 0.12) -> list[np.ndarray]:
    """The same push-in over a per-frame photo (so defects ride along with the camera)."""
    n = len(photos)
    return [_camera_frame(photo, width, height, i, n, zoom) for i, photo in enumerate(photos)]


def _camera_frame(photo: np.ndarray, width: int, height: int, i: int, n: int, zoom: float) -> np.ndarray:
    ph, pw = photo.shape[:2]
    base = max(width / pw, height / ph)
    u = i / max(1, n - 1)
    s = 0.5 - 0.5 * np.cos(np.pi * u)
    scale = base * (1 + zoom * s)
    tx = width * 0.5 - 0.5 * pw * scale
    ty = height * 0.5 - 0.5 * ph * scale
    smooth = cv2.GaussianBlur(photo, (0, 0), 0.5 / base) if base < 0.8 else photo
    m = np.array([[scale, 0, tx], [0, scale, ty]], np.float32)
    return cv2.warpAffine(smooth, m, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def _sway(photo: np.ndarray, mask: np.ndarray, n: int, amount: float) -> list[np.ndarray]:
    """Subtle subject motion: a smooth sideways sway of the subject (fabric moving), amount x size px."""
    h, w = mask.shape
    size = np.sqrt(mask.sum())
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ys = np.nonzero(mask)[0]
    top, bottom = ys.min(), ys.max()
    weight = np.clip((yy - top) / max(1, bottom - top), 0, 1)  # hem sways, shoulders stay
    soft = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 0.1 * size)
    out = []
    for i in range(n):
        dx = amount * size * np.sin(2 * np.pi * i / n) * weight * soft
        out.append(cv2.remap(photo, (xx - dx).astype(np.float32), yy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT))
    return out


def labelled_clips(
    width: int = 160,
    height: int = 200,
    n: int = 36,
    fps: int = 24,
    photos: list[str] | None = None,
) -> Iterator[LabelledClip]:
    """Every labelled clip of the set (frames in memory, small)."""
    all_photos = _photos(width, height)
    names = photos or list(all_photos)
    other = draw_garment_photo(width * 2, height * 2, seed=12)  # resized to each photo below
    for pname in names:
        photo, mask = all_photos[pname]
        # --- good clips ---
        for zoom in (0.08, 0.25):
            yield LabelledClip(
                f"{pname}/push{zoom}", pname, None, frames=camera_frames(photo, width, height, n, zoom=zoom)
            )
        yield LabelledClip(
            f"{pname}/pan", pname, None, frames=camera_frames(photo, width, height, n, zoom=0.1, pan=0.08)
        )
        yield LabelledClip(
            f"{pname}/breathing",
            pname,
            None,
            frames=camera_frames(photo, width, height, n, zoom=0.06, path="breathing"),
        )
        yield LabelledClip(f"{pname}/sway", pname, None, frames=_move(_sway(photo, mask, n, 0.01), width, height, 0.05))

        # --- defects ---
        def moved(defect_at: Callable[[float], np.ndarray]) -> list[np.ndarray]:
            return _move(_ramp(photo, defect_at, n), width, height)

        base = camera_frames(photo, width, height, n, zoom=0.12)
        for label, value, visible in STRENGTHS["flicker"]:
            frames = [
                np.clip(f.astype(np.float32) * (1 + value if i % 2 else 1.0), 0, 255).astype(np.uint8)
                for i, f in enumerate(base)
            ]
            yield LabelledClip(f"{pname}/flicker-{label}", pname, "flicker", label, visible, frames)
        for label, value, visible in STRENGTHS["colour_shift"]:
            yield LabelledClip(
                f"{pname}/colour-{label}",
                pname,
                "colour_shift",
                label,
                visible,
                moved(lambda t, v=value: _lab_shift(photo, mask, v * t)),
            )
        for label, value, visible in STRENGTHS["print_warp"]:
            yield LabelledClip(
                f"{pname}/warp-{label}",
                pname,
                "print_warp",
                label,
                visible,
                moved(lambda t, v=value: _bump_warp(photo, mask, v * t)),
            )
        for label, value, visible in STRENGTHS["logo_smear"] if pname in LOGO_PHOTOS else []:
            yield LabelledClip(
                f"{pname}/smear-{label}",
                pname,
                "logo_smear",
                label,
                visible,
                moved(lambda t, v=value: _smear(photo, mask, v * t) if t > 0 else photo),
            )
        for label, value, visible in STRENGTHS["morph"]:
            target = cv2.resize(other, (photo.shape[1], photo.shape[0]))
            yield LabelledClip(
                f"{pname}/morph-{label}",
                pname,
                "morph",
                label,
                visible,
                moved(lambda t, v=value: cv2.addWeighted(photo, 1 - v * t, target, v * t, 0)),
            )
        for label, value, visible in STRENGTHS["black_frames"]:
            frames = list(base)
            for k in range(int(value)):
                frames[n // 3 + k] = np.zeros_like(frames[0])
            yield LabelledClip(f"{pname}/black-{label}", pname, "black_frames", label, visible, frames)
        for label, value, visible in STRENGTHS["frozen"]:
            frames = list(base)
            hold = int(round(value * fps))
            start = max(1, (n - hold) // 2)
            for k in range(start, min(n, start + hold + 1)):
                frames[k] = frames[start]
            yield LabelledClip(f"{pname}/frozen-{label}", pname, "frozen", label, visible, frames)
        for label, value, visible in STRENGTHS["flashes"]:
            frames = list(base)
            period = fps / value
            for i in range(n):
                if (i % period) < period / 2:
                    frames[i] = (frames[i].astype(np.float32) * 0.25).astype(np.uint8)
            yield LabelledClip(f"{pname}/flashes-{label}", pname, "flashes", label, visible, frames)


def rendered_clips(
    render: ClipRenderer,
    presets: dict[str, Preset],
    photo_paths: dict[str, Path],
    out_dir: Path,
    motion_scales: tuple[float, ...] = (1.0, 0.5),
) -> list[tuple[str, str, Path, Preset]]:
    """Good clips rendered by a real engine through `render`: (name, photo name, clip path, preset)."""
    out = []
    for pname, path in photo_paths.items():
        for preset in presets.values():
            for scale in motion_scales:
                clip = render(path, preset, out_dir / f"camera-{preset.name}-{pname}-{scale}.mkv", scale)
                out.append((f"{pname}/camera-{preset.name}-x{scale}", pname, clip, preset))
    return out


@dataclass
class Outcome:
    name: str
    photo: str
    defect: str | None
    strength: str
    visible: bool
    passed: bool
    failed_checks: list[str]
    drift: float
    flicker: float
    seconds: float


def run_calibration(
    preset: Preset,
    *,
    width: int = 160,
    height: int = 200,
    n: int = 36,
    fps: int = 24,
    photos: list[str] | None = None,
    camera_presets: dict[str, Preset] | None = None,
    camera_motion_scales: tuple[float, ...] = (1.0, 0.5, 0.25),
    camera_renderer: ClipRenderer | None = None,
    work_dir: Path | None = None,
) -> list[Outcome]:
    """Score every labelled clip with `preset`'s thresholds (its size/fps replaced by the set's).

    With `camera_renderer` and `camera_presets`, good clips it renders from large copies of the photos
    (every preset at every `camera_motion_scales`) join the set, each scored with its own preset."""
    from PIL import Image

    from quality.gate import check_clip

    small = preset.model_copy(
        update={"width": width, "height": height, "fps": fps, "duration_s": n / fps, "loop": False}
    )
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
        tmp_path = Path(tmp)
        all_photos = _photos(width, height)
        photo_paths, camera_paths = {}, {}
        big = _photos(width, height, factor=4.0)  # catalog photos are large: the engine never enlarges
        for name in photos or list(all_photos):
            photo_paths[name] = tmp_path / f"{name}.png"
            Image.fromarray(all_photos[name][0]).save(photo_paths[name])
            camera_paths[name] = tmp_path / f"{name}-large.png"
            Image.fromarray(big[name][0]).save(camera_paths[name])
        for item in labelled_clips(width, height, n, fps, photos):
            clip = write_master(item.frames, tmp_path / "clip.mkv", fps)
            started = time.perf_counter()
            report = check_clip(photo_paths[item.photo], clip, small)
            outcomes.append(
                Outcome(
                    item.name,
                    item.photo,
                    item.defect,
                    item.strength,
                    item.visible,
                    report.passed,
                    report.failed_checks,
                    report.scores["drift"],
                    report.scores["flicker"],
                    time.perf_counter() - started,
                )
            )
        if camera_presets and camera_renderer is not None:
            for name, pname, clip, cam_preset in rendered_clips(
                camera_renderer, camera_presets, camera_paths, tmp_path, camera_motion_scales
            ):
                started = time.perf_counter()
                report = check_clip(camera_paths[pname], clip, cam_preset)
                outcomes.append(
                    Outcome(
                        name,
                        pname,
                        None,
                        "",
                        False,
                        report.passed,
                        report.failed_checks,
                        report.scores["drift"],
                        report.scores["flicker"],
                        time.perf_counter() - started,
                    )
                )
    return outcomes


def summarise(outcomes: list[Outcome]) -> dict:
    """Per defect and strength: recall (rejected / clips), recall by the expected check, and per defect
    the precision of its check against the good clips; plus the false-reject rate on good clips."""
    good = [o for o in outcomes if o.defect is None]
    table: dict = {
        "good": {
            "clips": len(good),
            "false_rejects": sum(not o.passed for o in good),
            "false_reject_rate": (sum(not o.passed for o in good) / len(good)) if good else 0.0,
            "rejected": [o.name + ":" + ",".join(o.failed_checks) for o in good if not o.passed],
        },
        "defects": {},
    }
    for defect, check in DEFECT_CHECK.items():
        rows = [o for o in outcomes if o.defect == defect]
        # precision: of the clips (this defect's and the good ones) that the check rejects, the share
        # that really has the defect; other defects also tripping the check do not count against it
        true_flags = [o for o in rows if check in o.failed_checks]
        false_flags = [o for o in good if check in o.failed_checks]
        flagged = len(true_flags) + len(false_flags)
        entry = {
            "check": check,
            "precision": (len(true_flags) / flagged) if flagged else 1.0,
            "false_flags_on_good": len(false_flags),
            "strengths": {},
        }
        for label, _, visible in STRENGTHS[defect]:
            at = [o for o in rows if o.strength == label]
            if not at:
                continue
            entry["strengths"][label] = {
                "visible": visible,
                "clips": len(at),
                "recall": sum(not o.passed for o in at) / len(at),
                "check": expected_check(defect, label),
                "recall_by_check": sum(expected_check(defect, label) in o.failed_checks for o in at) / len(at),
                "missed": [o.name for o in at if o.passed],
            }
        table["defects"][defect] = entry
    table["seconds_per_clip"] = float(np.mean([o.seconds for o in outcomes])) if outcomes else 0.0
    return table


def markdown_table(summary: dict) -> str:
    """The calibration table for docs/QUALITY.md."""
    good = summary["good"]
    lines = [
        f"Good clips: {good['clips']}, false rejects: {good['false_rejects']} "
        f"(false-reject rate {good['false_reject_rate']:.0%}).",
        "",
        "| defect | check | precision of check | strength | visible | clips | recall | recall by check |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for defect, entry in summary["defects"].items():
        for label, row in entry["strengths"].items():
            lines.append(
                f"| {defect} | {row['check']} | {entry['precision']:.2f} | {label} | "
                f"{'yes' if row['visible'] else 'no'} | {row['clips']} | {row['recall']:.2f} | "
                f"{row['recall_by_check']:.2f} |"
            )
    return "\n".join(lines)
