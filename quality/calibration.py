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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from catalog_motion.presets import Preset
from quality.synthetic import (
    MotionRecipe,
    SceneRenderer,
    boil,
    camera_frames,
    clean_plate,
    draw_fabric_garment,
    draw_garment_photo,
    fine_print_box,
    garble,
    garment_mask,
    smear_region,
    x264_roundtrip,
)

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
    "boiling": "boiling",
    "jump_cut": "cut",
    "combined_drift": "drift",
    "glitch": "glitch",
    "still": "motion",
    "half_length": "duration",
    "framing": "framing",
    "loop_seam": "loop_seam",
    "detail_loss": "detail",
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
    # RMS displacement (px of the clip as delivered) of a fresh random field each frame, on the fabric
    "boiling": [("0.3px", 0.3, False), ("0.8px", 0.8, True), ("1.5px", 1.5, True)],
    # a hard cut at mid-clip to a view zoomed by the value and shifted by half of it (of the width)
    "jump_cut": [("1%", 0.01, False), ("4%", 0.04, True), ("10%", 0.10, True)],
    # structure (local warp 4k %), colour (dE 2.5k) and texture (blur 0.8k px) together, each under its
    # own visible level (warp 10 %, dE 4); k = 1 is visible because the three add up on the print
    "combined_drift": [("k0.5", 0.5, False), ("k1", 1.0, True), ("k1.5", 1.5, True)],
    "glitch": [("2f", 2, True), ("4f", 4, True), ("6f", 6, True)],  # frames of a garbled subject
    "still": [("noise0.5", 0.5, True), ("noise2", 2.0, True)],  # still photo + Gaussian noise (levels)
    "half_length": [("50%", 0.5, True), ("75%", 0.74, True)],  # clip length / preset duration
    # share of the subject's width outside a 9:16 frame in every frame (wide garment cover-cropped)
    "framing": [("3%", 0.03, False), ("10%", 0.10, True), ("25%", 0.25, True)],
    "loop_seam": [("0.5%", 0.005, False), ("2%", 0.02, True), ("4%", 0.04, True)],  # zoom not returned
    # vertical smear (px at 1080p) of the fine print: only the full-resolution clips carry it
    "detail_loss": [("2px", 2.0, False), ("6px", 6.0, True), ("12px", 12.0, True)],
}


LOGO_PHOTOS = {"drawn-garment", "astronaut"}  # photos with a logo or text to smear (name tag, mission patch)


@dataclass
class LabelledClip:
    """One labelled clip and how to score it: the packaged preset whose thresholds apply (`preset`; ""
    = the caller's preset), with the motion the clip was made with (`motion_path`, `motion_amount` in
    the camera engine's units, `focus`), `loop`, and the preset's duration (`duration_s`; None = the
    clip's own length). Small clips hold `frames`; full-size ones stream from `render`."""

    name: str
    photo: str
    defect: str | None  # None for a good clip
    strength: str = ""
    visible: bool = False  # a defect a viewer would notice; must be rejected
    frames: list[np.ndarray] = field(default_factory=list, repr=False)
    preset: str = ""
    motion_path: str = "push_in"
    motion_amount: float = 0.2
    focus: str = "subject"
    loop: bool = False
    duration_s: float | None = None
    render: Callable[[Path], Iterable[np.ndarray]] | None = field(default=None, repr=False)
    size: tuple[int, int] | None = None  # (w, h) when rendered lazily
    fps: int | None = None

    def iter_frames(self, work_dir: Path) -> Iterable[np.ndarray]:
        """The clip's frames (`work_dir` holds any intermediate encode)."""
        return self.render(work_dir) if self.render is not None else iter(self.frames)

    @property
    def expected_check(self) -> str | None:
        return expected_check(self.defect, self.strength) if self.defect else None


def _photos(
    width: int, height: int, factor: float = 2.0, names: tuple[str, ...] | None = None
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name -> (photo, subject mask): `factor` x the clip size where the source allows (real photos are
    cropped to the clip's aspect and never enlarged). Real photos get a central subject region."""
    import skimage.data as data

    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if names is None or "drawn-garment" in names:
        drawn = draw_garment_photo(int(width * factor), int(height * factor), seed=5)
        out["drawn-garment"] = (drawn, garment_mask(drawn))
    for name in [n for n in ("astronaut", "coffee", "chelsea") if names is None or n in names]:
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


def _combined(photo: np.ndarray, mask: np.ndarray, k: float, px_per_clip_px: float) -> np.ndarray:
    """Moderate drift in three components at once: a local warp of 4k % of the subject size (structure),
    a colour shift of CIEDE2000 2.5k (colour) and a blur of 0.8k clip px on the subject (texture)."""
    if k <= 0:
        return photo
    out = _bump_warp(_lab_shift(photo, mask, 2.5 * k), mask, 0.04 * k)
    blurred = cv2.GaussianBlur(out, (0, 0), max(0.3, 0.8 * k * px_per_clip_px))
    soft = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 2)[..., None]
    return np.clip(out * (1 - soft) + blurred * soft + 0.5, 0, 255).astype(np.uint8)


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
        for zoom in (0.08, 0.15):  # a 25 % push-in cuts the drawn garment's hem: a framing defect
            yield LabelledClip(
                f"{pname}/push{zoom}",
                pname,
                None,
                frames=camera_frames(photo, width, height, n, zoom=zoom),
                motion_amount=push_amount(zoom),
            )
        yield LabelledClip(
            f"{pname}/pan",
            pname,
            None,
            frames=camera_frames(photo, width, height, n, zoom=0.1, pan=0.08),
            motion_amount=push_amount(0.1),
        )
        yield LabelledClip(
            f"{pname}/breathing",
            pname,
            None,
            frames=camera_frames(photo, width, height, n, zoom=0.06, path="breathing"),
            motion_path="breathing",
            motion_amount=0.06 / 0.08,
            loop=True,
        )
        yield LabelledClip(
            f"{pname}/sway",
            pname,
            None,
            frames=_move(_sway(photo, mask, n, 0.01), width, height, 0.05),
            motion_amount=push_amount(0.05),
        )

        # --- defects ---
        def moved(defect_at: Callable[[float], np.ndarray]) -> list[np.ndarray]:
            return _move(_ramp(photo, defect_at, n), width, height)

        base = camera_frames(photo, width, height, n, zoom=0.12)  # LabelledClip's default motion: push_in 0.2
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
        for label, value, visible in STRENGTHS["combined_drift"]:
            yield LabelledClip(
                f"{pname}/combined-{label}",
                pname,
                "combined_drift",
                label,
                visible,
                moved(lambda t, k=value: _combined(photo, mask, k * t, photo.shape[1] / width)),
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


SMALL_SIZES = {"4:5": (160, 200), "9:16": (112, 200), "1:1": (176, 176)}  # the fast set's clip sizes
GOOD_GARMENT = {"sway": 0.035, "hem_wave": 0.01, "breathing": 0.006}  # upper end of real fabric motion
SPREAD = {"4:5": 0.8, "9:16": 0.65, "1:1": 0.8}  # drawn garment size per aspect: whole, with a margin


class PhotoBank:
    """Source photos by key: (photo, subject mask, backdrop plate or None), made once."""

    def __init__(self) -> None:
        self.items: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray | None]] = {}

    def add(self, key: str, photo: np.ndarray, mask: np.ndarray, plate: np.ndarray | None) -> str:
        self.items.setdefault(key, (photo, mask, plate))
        return key

    def drawn(self, w: int, h: int, *, spread: float, fine_print: bool = False, seed: int = 5) -> str:
        key = f"drawn-garment@{w}x{h}s{spread:g}{'p' if fine_print else ''}"
        if key not in self.items:
            photo = draw_garment_photo(w, h, seed=seed, spread=spread, fine_print=fine_print)
            mask = garment_mask(photo)
            self.add(key, photo, mask, clean_plate(photo, mask))
        return key

    def fabric(self, w: int, h: int, fabric: str, *, spread: float) -> str:
        """The drawn garment in a fine, repetitive fabric or a large print (`synthetic.FABRICS`)."""
        key = f"{fabric}-garment@{w}x{h}s{spread:g}"
        if key not in self.items:
            photo, mask = draw_fabric_garment(w, h, fabric, spread=spread)
            self.add(key, photo, mask, clean_plate(photo, mask))
        return key

    def real(self, name: str, w: int, h: int, factor: float) -> str:
        key = f"{name}@{w}x{h}"
        if key not in self.items:
            photo, mask = _photos(w, h, factor, names=(name,))[name]
            self.add(key, photo, mask, None)  # a photograph has no clean backdrop: no parallax
        return key


def _zoom_about(m: np.ndarray, zoom: float, shift: float, w: int, h: int) -> np.ndarray:
    """`m` followed by a zoom about the frame centre and a sideways shift (`shift` x width)."""
    s = np.array([[zoom, 0, (1 - zoom) * w / 2 + shift * w], [0, zoom, (1 - zoom) * h / 2], [0, 0, 1]], np.float32)
    return (s @ np.vstack([m, [0, 0, 1]]))[:2].astype(np.float32)


def motion_clips(
    presets: dict[str, Preset],
    *,
    full: bool = False,
    photos: list[str] | None = None,
    bank: PhotoBank,
    n: int = 36,
    fps: int = 24,
) -> Iterator[LabelledClip]:
    """Good clips with the motion of a real image-to-video model (garment sway, hem wave, breathing,
    parallax, each preset's camera move at its full amount, re-render softness, a real libx264 round
    trip) and the defect families that need a preset of their own (boiling, jump cut, glitch, still,
    half length, framing, loop seam, detail loss). `full`: at the presets' real sizes, durations and frame
    rates, streamed (the families where size matters); else small and in memory."""
    names = [
        p
        for p in (photos or ["drawn-garment", "astronaut"])
        if p in ("drawn-garment", "astronaut", "coffee", "chelsea")
    ]
    # full size only where size matters; the fine print's smear exists only at full size
    families = {"good", "detail_loss", "boiling", "framing", "half_length"}
    if not full:
        families = (set(STRENGTHS) | {"good"}) - {"detail_loss"}

    def geometry(preset: Preset) -> tuple[int, int, int, int]:
        if full:
            return preset.width, preset.height, preset.fps, preset.n_frames
        w, h = SMALL_SIZES[preset.aspect]
        return w, h, fps, n

    def photo_for(pname: str, preset: Preset, *, fine: bool = False) -> str:
        w, h, _, _ = geometry(preset)
        if pname == "drawn-garment":
            f = 1.25 if full else 2.0
            return bank.drawn(int(w * f) // 2 * 2, int(h * f) // 2 * 2, spread=SPREAD[preset.aspect], fine_print=fine)
        return bank.real(pname, w, h, 1.0 if full else 2.0)

    def scene(key: str, preset: Preset, scale: float = 1.0, n_out: int | None = None, **extra) -> SceneRenderer:
        photo, mask, plate = bank.items[key]
        w, h, _, n_ = geometry(preset)
        focus = (0.5, 0.5)
        if preset.motion.focus == "detail":
            cx, cy, _ = _detail_center(photo, mask)
            focus = (cx / photo.shape[1], cy / photo.shape[0])
        recipe = preset_recipe(preset, focus, scale)
        fields = {**recipe.__dict__, **extra}
        if plate is None:
            fields["parallax"] = 0.0
        return SceneRenderer(photo, mask, MotionRecipe(**fields), w, h, n_out or n_, loop=preset.loop, plate=plate)

    def clip(
        name,
        key,
        preset,
        frames_of,
        *,
        defect=None,
        label="",
        visible=False,
        scale=1.0,
        crf=None,
        duration_s=None,
        as_preset=None,
        n_out=None,
    ) -> LabelledClip:
        w, h, f, n_ = geometry(preset)

        def render(work_dir: Path) -> Iterator[np.ndarray]:
            frames = frames_of()
            if crf is not None:
                frames = x264_roundtrip(frames, Path(work_dir) / f"x264-{abs(hash(name))}.mp4", f, crf)
            return frames

        scoring = as_preset or preset
        item = LabelledClip(
            name,
            key,
            defect,
            label,
            visible,
            preset=scoring.name,
            motion_path=scoring.motion.path,
            motion_amount=scoring.motion.amount * scale,
            focus=scoring.motion.focus,
            loop=scoring.loop,
            duration_s=duration_s if duration_s is not None else (n_out or n_) / f,
            size=(w, h),
            fps=f,
        )
        if full:
            item.render = render
        else:
            with tempfile.TemporaryDirectory() as tmp:
                item.frames = list(render(Path(tmp)))
        return item

    def frames(renderer: SceneRenderer, post=None, camera=None):
        def make() -> Iterator[np.ndarray]:
            for i in range(renderer.n):
                frame, alpha = renderer.frame(i, None if camera is None else camera(i, renderer))
                yield frame if post is None else post(i, frame, alpha, renderer)

        return make

    pp, social, close = presets["product-page"], presets["social"], presets["close-up"]

    def fabric_key(fabric: str, preset: Preset) -> str:
        w, h, _, _ = geometry(preset)
        f = 1.25 if full else 2.0
        return bank.fabric(int(w * f) // 2 * 2, int(h * f) // 2 * 2, fabric, spread=SPREAD[preset.aspect])

    def fabric_clips() -> Iterator[LabelledClip]:
        """Good clips of fine repetitive fabric and large prints, where flow is ambiguous and a codec's
        noise looks like texture change: hem swing and sway, libx264 crf 20-28 round trips, subject /
        backdrop parallax, and a close-up push-in on a large print at x0.5 and x1 of its motion."""
        for fabric, crf in (("twill", 23), ("check", 28), ("knit", 20)):
            key = fabric_key(fabric, pp)
            tag = f"{fabric}-garment"
            yield clip(f"{tag}/product-page-hem-swing", key, pp, frames(scene(key, pp, **GOOD_GARMENT)))
            skey = fabric_key(fabric, social)
            # codec round trips at the real size only: at the small set's 112x200 the weave is 2-3 px, and
            # an encode of it re-draws the weave itself (boiling, warp error), which no delivery does
            if full:
                yield clip(f"{tag}/social-sway-crf{crf}", skey, social, frames(scene(skey, social, sway=0.02)), crf=crf)
            elif fabric != "check":  # 4 px checks in a 112x200 orbit: moire the boiling and warp checks see
                yield clip(f"{tag}/social-sway", skey, social, frames(scene(skey, social, sway=0.02)))
        for fabric in ("twill", "large-print"):  # the social preset's parallax orbit slips the subject layer
            skey = fabric_key(fabric, social)
            yield clip(
                f"{fabric}-garment/social-parallax",
                skey,
                social,
                frames(scene(skey, social, sway=0.02, hem_wave=0.006)),
            )
        ckey = fabric_key("large-print", close)
        for scale in (0.5, 1.0):
            yield clip(
                f"large-print-garment/close-up-push-in-x{scale}",
                ckey,
                close,
                frames(scene(ckey, close, scale, sway=0.02)),
                scale=scale,
            )

    for pname in names:
        drawn = pname == "drawn-garment"
        # --- good: every preset's camera at its full amount with garment motion; softer + x264 variants
        if "good" in families:
            for preset in (pp, social, close):
                key = photo_for(pname, preset)
                tag = f"{pname}/{preset.name}"
                yield clip(f"{tag}-full-garment", key, preset, frames(scene(key, preset, **GOOD_GARMENT)))
                yield clip(
                    f"{tag}-half-soft-crf26",
                    key,
                    preset,
                    frames(scene(key, preset, 0.5, sway=0.02, hem_wave=0.006, softness=0.6)),
                    scale=0.5,
                    crf=26,
                )
                if drawn or not full:
                    yield clip(
                        f"{tag}-full-crf20",
                        key,
                        preset,
                        frames(scene(key, preset, **GOOD_GARMENT, softness=0.4)),
                        crf=20,
                    )
        if "good" in families and drawn:
            yield from fabric_clips()
        key = photo_for(pname, pp)
        if "boiling" in families:
            for label, value, visible in STRENGTHS["boiling"]:
                rng = np.random.default_rng(7)
                amount = value  # px of the clip as delivered (a small clip is its own delivery size)
                yield clip(
                    f"{pname}/boiling-{label}",
                    key,
                    pp,
                    frames(scene(key, pp, sway=0.02), lambda i, f_, a, r, v=amount, g=rng: boil(f_, a, v, g)),
                    defect="boiling",
                    label=label,
                    visible=visible,
                )
        if "loop_seam" in families:
            for label, value, visible in STRENGTHS["loop_seam"]:
                cam = lambda i, r, v=value: _zoom_about(r.camera(i), 1 + v * i / (r.n - 1), 0.0, r.out_w, r.out_h)  # noqa: E731
                yield clip(
                    f"{pname}/loop-seam-{label}",
                    key,
                    pp,
                    frames(scene(key, pp, sway=0.02), camera=cam),
                    defect="loop_seam",
                    label=label,
                    visible=visible,
                )
        if "still" in families:
            for label, value, visible in STRENGTHS["still"]:
                rng = np.random.default_rng(3)
                still = scene(key, pp, 0.0)

                def noisy(i, f_, a, r, v=value, g=rng):
                    return np.clip(f_ + g.normal(0, v, f_.shape), 0, 255).astype(np.uint8)

                yield clip(
                    f"{pname}/still-{label}",
                    key,
                    pp,
                    frames(still, noisy),
                    defect="still",
                    label=label,
                    visible=visible,
                    as_preset=pp,
                )
        if "half_length" in families:
            for preset in (pp, social) if not full else (pp, social, close):
                hkey = photo_for(pname, preset)
                w, h, f, n_ = geometry(preset)
                for label, value, visible in STRENGTHS["half_length"]:
                    if preset is not pp and label != "50%":
                        continue
                    short = max(2, round(value * n_))
                    yield clip(
                        f"{pname}/{preset.name}-half-length-{label}",
                        hkey,
                        preset,
                        frames(scene(hkey, preset, n_out=short, sway=0.02)),
                        defect="half_length",
                        label=label,
                        visible=visible,
                        duration_s=n_ / f,
                        n_out=short,
                    )
        if "jump_cut" in families:
            jkey = photo_for(pname, social)
            for label, value, visible in STRENGTHS["jump_cut"]:
                cam = lambda i, r, v=value: (  # noqa: E731
                    _zoom_about(r.camera(i), 1 + v, v / 2, r.out_w, r.out_h) if i >= r.n // 2 else r.camera(i)
                )
                yield clip(
                    f"{pname}/jump-cut-{label}",
                    jkey,
                    social,
                    frames(scene(jkey, social, sway=0.02), camera=cam),
                    defect="jump_cut",
                    label=label,
                    visible=visible,
                )
        if "glitch" in families:
            gkey = photo_for(pname, close)
            for label, value, visible in STRENGTHS["glitch"]:
                rng = np.random.default_rng(11)
                start = int(0.55 * geometry(close)[3]) + 1

                def glitched(i, f_, a, r, s0=start, k=int(value), g=rng):
                    return garble(f_, a, g, max(4, r.out_w // 20)) if s0 <= i < s0 + k else f_

                yield clip(
                    f"{pname}/glitch-{label}",
                    gkey,
                    close,
                    frames(scene(gkey, close, sway=0.02), glitched),
                    defect="glitch",
                    label=label,
                    visible=visible,
                )
        if "framing" in families and drawn:
            w, h, f, n_ = geometry(social)
            for label, value, visible in STRENGTHS["framing"]:
                side = int(max(w, h) * (1.25 if full else 2.0)) // 2 * 2
                start = 1 + 0.2 * social.motion.amount * 0.25
                vis = (w / h) / start  # share of a square photo's width a 9:16 cover crop shows
                fkey = bank.drawn(side, side, spread=round(vis / (1.02 * (1 - value)), 3))
                yield clip(
                    f"{pname}/framing-{label}",
                    fkey,
                    social,
                    frames(scene(fkey, social, 0.25, sway=0.02)),
                    defect="framing",
                    label=label,
                    visible=visible,
                    scale=0.25,
                )
        if "detail_loss" in families and drawn:
            dkey = photo_for(pname, pp, fine=True)
            photo = bank.items[dkey][0]
            x0, y0, x1, y1 = fine_print_box(photo.shape[1], photo.shape[0], SPREAD[pp.aspect])
            for label, value, visible in STRENGTHS["detail_loss"]:

                def smeared(i, f_, a, r, v=value, box=(x0, y0, x1, y1)):
                    m = r.camera(i)
                    c = m @ np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2, 1.0])
                    length = v * r.out_w / 1080 * min(1.0, 1.5 * i / max(1, r.n - 1))
                    rad = (m[0, 0] * (box[2] - box[0]) / 2, m[1, 1] * (box[3] - box[1]) / 2 + length)
                    return smear_region(f_, (c[0], c[1]), rad, length)

                yield clip(
                    f"{pname}/detail-loss-{label}",
                    dkey,
                    pp,
                    frames(scene(dkey, pp, sway=0.02), smeared),
                    defect="detail_loss",
                    label=label,
                    visible=visible,
                )


def push_amount(zoom: float) -> float:
    """The camera engine's push_in amount for a zoom of `zoom` (its push_in zooms by 0.6 x amount)."""
    return zoom / 0.6


def preset_recipe(preset: Preset, focus: tuple[float, float], scale: float = 1.0) -> MotionRecipe:
    """The camera part of `preset`'s motion at `scale` x its amount, as the camera engine moves it:
    breathing zooms 8 % x amount in and out; push_in 60 % x amount (detail focus: starts at 1 + amount
    and pushes 50 % x amount further); pan 30 % x amount zoom and 2 x 12 % x amount travel;
    parallax_orbit starts at 1 + 20 % x amount, zooms 6 % x amount, swings the view by 2 x 7.2 % x
    amount and slips the subject layer 12 % x amount against the backdrop."""
    a = preset.motion.amount * scale
    path = preset.motion.path
    if path == "breathing":
        return MotionRecipe("breathing", zoom=0.08 * a, focus=focus)
    if path == "push_in" and preset.motion.focus == "detail":
        return MotionRecipe("push_in", start_zoom=1 + a, zoom=0.5 * a, focus=focus)
    if path == "push_in":
        return MotionRecipe("push_in", zoom=0.6 * a, focus=focus)
    if path == "pan":
        return MotionRecipe("pan", start_zoom=1 + 0.3 * a, pan=0.24 * a, focus=focus)
    if path == "parallax_orbit":
        return MotionRecipe(
            "parallax_orbit", start_zoom=1 + 0.2 * a, zoom=0.06 * a, pan=0.144 * a, parallax=0.12 * a, focus=focus
        )
    return MotionRecipe("static", focus=focus)


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
    preset: str = ""
    expected_check: str | None = None
    scores: dict[str, float] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)


def scoring_preset(
    item: LabelledClip, presets: dict[str, Preset], default: Preset, size: tuple[int, int], fps: int
) -> Preset:
    """The preset a clip is scored with: its packaged preset's thresholds (or `default`'s), at the clip's
    size and frame rate, with the motion, loop flag and duration the clip was made for."""
    base = presets.get(item.preset, default) if item.preset else default
    motion = base.motion.model_copy(
        update={"path": item.motion_path, "amount": min(1.0, item.motion_amount), "focus": item.focus}
    )
    return base.model_copy(
        update={
            "width": size[0],
            "height": size[1],
            "fps": fps,
            "duration_s": item.duration_s,
            "loop": item.loop,
            "motion": motion,
        }
    )


def _outcome(item: LabelledClip, report, preset_name: str, seconds: float) -> Outcome:
    return Outcome(
        item.name,
        item.photo,
        item.defect,
        item.strength,
        item.visible,
        report.passed,
        list(report.failed_checks),
        float(report.scores.get("drift", 0.0)),
        float(report.scores.get("flicker", 0.0)),
        seconds,
        preset_name,
        item.expected_check,
        {k: float(v) for k, v in report.scores.items() if isinstance(v, int | float)},
        list(report.reasons),
    )


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
    presets: dict[str, Preset] | None = None,
    full: bool = False,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Score every labelled clip, each with its own scoring preset (`scoring_preset`): the original
    families with `preset`'s thresholds (its size/fps replaced by the set's, loop off), the motion set
    (`motion_clips`) with the packaged `presets` (load_presets() by default). `full` adds the motion set
    at the presets' real sizes, durations and frame rates, streamed to disk one clip at a time.

    With `camera_renderer` and `camera_presets`, good clips it renders from large copies of the photos
    (every preset at every `camera_motion_scales`) join the set, each scored with its own preset."""
    from PIL import Image

    from catalog_motion.media import MasterClipWriter
    from catalog_motion.presets import load_presets
    from quality.gate import check_clip

    presets = dict(presets or load_presets())
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
        tmp_path = Path(tmp)
        bank = PhotoBank()
        for name, (photo, mask) in _photos(width, height).items():
            bank.add(name, photo, mask, None)
        saved: dict[str, Path] = {}

        def photo_path(key: str) -> Path:
            if key not in saved:
                saved[key] = tmp_path / f"photo-{len(saved)}.png"
                Image.fromarray(bank.items[key][0]).save(saved[key])
            return saved[key]

        def score(item: LabelledClip) -> None:
            size = item.size or (item.frames[0].shape[1], item.frames[0].shape[0])
            clip_fps = item.fps or fps
            scoring = scoring_preset(item, presets, preset, size, clip_fps)
            clip = tmp_path / ("clip.nut" if item.render is not None else "clip.mkv")
            with MasterClipWriter(clip, size[0], size[1], clip_fps) as writer:  # streamed: big clips never in memory
                for frame in item.iter_frames(tmp_path):
                    writer.write(frame)
            started = time.perf_counter()
            report = check_clip(photo_path(item.photo), clip, scoring)
            outcome = _outcome(item, report, scoring.name, time.perf_counter() - started)
            clip.unlink(missing_ok=True)
            for leftover in tmp_path.glob("x264-*.mp4"):
                leftover.unlink()
            outcomes.append(outcome)
            if on_outcome is not None:
                on_outcome(outcome)

        for item in labelled_clips(width, height, n, fps, photos):
            item.duration_s = item.duration_s or n / fps
            score(item)
        for item in motion_clips(presets, photos=photos, bank=bank, n=n, fps=fps):
            score(item)
        if full:
            for item in motion_clips(presets, full=True, photos=photos, bank=bank):
                item.name = "full/" + item.name
                score(item)
        if camera_presets and camera_renderer is not None:
            big = _photos(width, height, factor=4.0)  # catalog photos are large: the engine never enlarges
            camera_paths = {}
            for name in photos or list(big):
                camera_paths[name] = tmp_path / f"{name}-large.png"
                Image.fromarray(big[name][0]).save(camera_paths[name])
            for name, pname, clip, cam_preset in rendered_clips(
                camera_renderer, camera_presets, camera_paths, tmp_path, camera_motion_scales
            ):
                started = time.perf_counter()
                report = check_clip(camera_paths[pname], clip, cam_preset)
                item = LabelledClip(name, pname, None)
                outcomes.append(_outcome(item, report, cam_preset.name, time.perf_counter() - started))
    return outcomes


def summarise(outcomes: list[Outcome]) -> dict:
    """Per defect family and strength: clips, recall (rejected / clips) and recall by the expected
    check; per family the precision of its check against the good clips; the false-reject rate on good
    clips; and the confusion table (rows: family or "good"; columns: every check that fired, and
    "passed"; a clip rejected by two checks counts in both columns, so a row's "rejected" is at most
    the sum of its check columns and "passed" + "rejected" = "clips")."""
    good = [o for o in outcomes if o.defect is None]
    false_rejects = sum(not o.passed for o in good)
    table: dict = {
        "good": {
            "clips": len(good),
            "false_rejects": false_rejects,
            "false_reject_rate": (false_rejects / len(good)) if good else 0.0,
            "rejected": [o.name + ":" + ",".join(o.failed_checks) for o in good if not o.passed],
        },
        "defects": {},
    }
    for defect, check in DEFECT_CHECK.items():
        rows = [o for o in outcomes if o.defect == defect]
        if not rows:
            continue
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
            expected = expected_check(defect, label)
            entry["strengths"][label] = {
                "visible": visible,
                "clips": len(at),
                "rejected": sum(not o.passed for o in at),
                "recall": sum(not o.passed for o in at) / len(at),
                "check": expected,
                "recall_by_check": sum(expected in o.failed_checks for o in at) / len(at),
                "missed": [o.name for o in at if o.passed],
                "missed_by_check": [o.name for o in at if expected not in o.failed_checks],
            }
        table["defects"][defect] = entry
    visible = [o for o in outcomes if o.defect and o.visible]
    table["visible"] = {
        "clips": len(visible),
        "rejected": sum(not o.passed for o in visible),
        "recall": (sum(not o.passed for o in visible) / len(visible)) if visible else 1.0,
        "recall_by_check": (
            sum(o.expected_check in o.failed_checks for o in visible) / len(visible) if visible else 1.0
        ),
    }
    table["confusion"] = confusion(outcomes)
    table["seconds_per_clip"] = float(np.mean([o.seconds for o in outcomes])) if outcomes else 0.0
    return table


def confusion(outcomes: list[Outcome]) -> dict:
    """{"columns": [checks that fired..., "passed"], "rows": {family or "good": {"clips", "rejected",
    column: count}}}: how often each check fired on each family's clips."""
    checks: list[str] = []
    for o in outcomes:
        for c in o.failed_checks:
            if c not in checks:
                checks.append(c)
    order = ["good", *[d for d in DEFECT_CHECK if any(o.defect == d for o in outcomes)]]
    rows: dict[str, dict[str, int]] = {}
    for family in order:
        at = [o for o in outcomes if (o.defect or "good") == family]
        row = {"clips": len(at), "rejected": sum(not o.passed for o in at)}
        row.update({c: sum(c in o.failed_checks for o in at) for c in checks})
        row["passed"] = sum(o.passed for o in at)
        rows[family] = row
    return {"columns": [*checks, "passed"], "rows": rows}


def markdown_table(summary: dict) -> str:
    """The calibration tables for docs/QUALITY.md: per family and strength, then the confusion table."""
    good = summary["good"]
    vis = summary.get("visible", {})
    lines = [
        f"Good clips: {good['clips']}, false rejects: {good['false_rejects']} "
        f"(false-reject rate {good['false_reject_rate']:.1%}). Visible defects: {vis.get('clips', 0)}, "
        f"rejected {vis.get('recall', 0):.1%}, by the expected check {vis.get('recall_by_check', 0):.1%}.",
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
    conf = summary.get("confusion")
    if conf:
        cols = conf["columns"]
        lines += [
            "",
            "Confusion (clips of each family that each check rejected; a clip can count in several columns):",
            "",
            "| label | clips | rejected | " + " | ".join(cols) + " |",
            "|---|---|---|" + "---|" * len(cols),
        ]
        for family, row in conf["rows"].items():
            lines.append(
                f"| {family} | {row['clips']} | {row['rejected']} | " + " | ".join(str(row[c]) for c in cols) + " |"
            )
    return "\n".join(lines)


def calibration_report(full: bool = False, work_dir: Path | None = None) -> dict:
    """The calibration set scored with the packaged presets: `summarise` plus every clip's outcome
    (scores included, to fit thresholds on). `full` adds the clips at the presets' real sizes (minutes)."""
    from catalog_motion.presets import load_presets

    presets = load_presets()
    started = time.perf_counter()
    outcomes = run_calibration(presets["product-page"], presets=presets, full=full, work_dir=work_dir)
    summary = summarise(outcomes)
    summary["clips"] = len(outcomes)
    summary["full"] = full
    summary["wall_s"] = round(time.perf_counter() - started, 1)
    summary["outcomes"] = [outcome_row(o) for o in outcomes]
    return summary


def outcome_row(o: Outcome) -> dict:
    return {
        "name": o.name,
        "photo": o.photo,
        "preset": o.preset,
        "defect": o.defect,
        "strength": o.strength,
        "visible": o.visible,
        "expected_check": o.expected_check,
        "passed": o.passed,
        "failed_checks": o.failed_checks,
        "drift": round(o.drift, 4),
        "flicker": round(o.flicker, 5),
        "seconds": round(o.seconds, 3),
        "scores": {k: round(v, 5) for k, v in o.scores.items()},
    }
