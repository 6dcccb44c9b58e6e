"""The held-out set: every clip as a named recipe with its label, family, strength and, for defects,
whether a viewer notices it at 1080p (`visible`), judged by eye and written down here with the reason
(`note`) - never by what the gate does.

Good clips carry the motions a real image-to-video model makes; defective clips are a good clip of the
same preset with one defect added. Recipes are cheap to list; `Recipe.plan()` makes the frames' recipe.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Literal

import cv2
import numpy as np

from benchmarks.heldout import motions as M
from benchmarks.heldout.photos import Product, product
from benchmarks.heldout.render import Clip, Pose, Renderer, View, cover_scale
from catalog_motion.presets import Preset, load_presets


@dataclass
class Delivery:
    """An H.264 delivery encode made from the same frames as the master: `crf`, and what the encoder
    was fed: every frame (`frame_map` None) or the master's frame `frame_map(i)` (-1: black)."""

    crf: int = 20
    frame_map: Callable[[int], int] | None = None
    n_frames: int | None = None  # frames fed to the encoder (default: the master's)
    score_encode: bool = False  # check_clip scores the encode (a round trip) instead of the master


@dataclass
class Plan:
    clip: Clip
    delivery: Delivery | None = None
    engine_scale: float | None = None  # set: the real `camera` engine renders the master at this motion scale


@dataclass
class Recipe:
    name: str
    label: Literal["good", "defect"]
    family: str
    strength: str
    preset: str
    product: str
    visible: bool | None  # defects only: would a viewer notice it at 1080p
    note: str
    make: Callable[[Preset], Plan] = field(repr=False)

    def plan(self) -> Plan:
        return self.make(presets()[self.preset])


@cache
def presets() -> dict[str, Preset]:
    return load_presets()


# --- building blocks ------------------------------------------------------------------------------


def base_clip(
    name: str, preset: Preset, scale: float = 1.0, deform_of=None, *, n_frames: int | None = None, **kw
) -> Clip:
    p = product(name)
    deform = deform_of(p) if deform_of else None
    motion = kw.pop("motion", None) or M.camera_motion(p, preset, scale, deform, kw.pop("shift", None))
    return Clip(p, preset.width, preset.height, preset.fps, n_frames or preset.n_frames, motion, loop=preset.loop, **kw)


def ramp(t: float) -> float:
    """How far a drifting defect has developed at time t: nothing for the first 15 %, full from 70 %."""
    return M.smoothstep(0.15, 0.7, t)


def blend_variant(variant_of: Callable[[Product], np.ndarray], weight: Callable[[float], float], strength: float):
    """Cross-fade towards a variant of the photo (same framing), weight(t) x strength."""
    cache_: dict[str, np.ndarray] = {}

    def effect(i: int, frame: np.ndarray, clip: Clip, pose: Pose) -> np.ndarray:
        w = weight(pose.t) * strength
        if w <= 0.0:
            return frame
        if "v" not in cache_:
            cache_["v"] = Renderer.prepare(variant_of(clip.product))
        other = clip.renderer.render(pose, cache_["v"], clip.grid)
        return cv2.addWeighted(frame, 1.0 - w, other, w, 0.0)

    return effect


def colour_shifted(de: float) -> Callable[[Product], np.ndarray]:
    """The subject with its colours moved by about `de` CIEDE2000 (a hue turn plus a chroma lift), the
    backdrop untouched."""

    def variant(p: Product) -> np.ndarray:
        lab = cv2.cvtColor(p.subject.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
        a, b = lab[:, :, 1].copy(), lab[:, :, 2].copy()
        turn = math.radians(4.0 * de)
        lab[:, :, 1] = a * math.cos(turn) - b * math.sin(turn) + 0.45 * de
        lab[:, :, 2] = a * math.sin(turn) + b * math.cos(turn) + 0.35 * de
        lab[:, :, 0] += 0.25 * de
        rgb = np.clip(cv2.cvtColor(lab, cv2.COLOR_LAB2RGB) * 255.0, 0, 255).astype(np.uint8)
        return _onto(p, rgb)

    return variant


def _onto(p: Product, subject: np.ndarray, alpha: np.ndarray | None = None) -> np.ndarray:
    from benchmarks.heldout.photos import composite

    return composite(subject, p.backdrop, p.alpha if alpha is None else alpha)


def other_garment(target: str) -> Callable[[Product], np.ndarray]:
    return lambda p: product(target).rgb


def smeared_print(length_frac: float, melt: bool) -> Callable[[Product], np.ndarray]:
    """The print/logo region smeared downwards (a vertical motion blur `length_frac` x garment height)
    or melted (columns sagging by up to that much, varying across the print) - at full resolution."""

    def variant(p: Product) -> np.ndarray:
        rgb = p.rgb
        x0, y0, x1, y1 = p.detail
        gh = p.bbox[3] - p.bbox[1]
        length = max(3, int(length_frac * gh))
        h, w = rgb.shape[:2]
        region = np.zeros((h, w), np.float32)
        region[y0:y1, x0:x1] = 1.0
        region = cv2.GaussianBlur(region, (0, 0), max(2.0, 0.01 * gh)) * p.alpha
        if melt:
            rng = np.random.default_rng(7)
            sag = cv2.resize(
                rng.random((1, max(2, (x1 - x0) // 40))).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC
            )
            yy = np.arange(h, dtype=np.float32)[:, None]
            down = np.clip((yy - y0) / max(1, y1 - y0), 0, 1.3)
            my = (yy - length * sag * down * region).astype(np.float32)
            mx = np.broadcast_to(np.arange(w, dtype=np.float32)[None, :], (h, w)).astype(np.float32)
            moved = cv2.remap(rgb, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        else:
            kernel = np.zeros((length, 1), np.float32)
            kernel[:, 0] = 1.0 / length
            moved = cv2.filter2D(rgb, -1, kernel, anchor=(0, 0), borderType=cv2.BORDER_REPLICATE)
        return cv2.blendLinear(moved, rgb, region, 1.0 - region)

    return variant


def softened(sigma: float, detail_loss: float) -> Callable[[int, np.ndarray, Clip, Pose], np.ndarray]:
    """Re-render softness: a VAE-like round trip through `detail_loss` x the size, then a slight blur."""

    def effect(i: int, frame: np.ndarray, clip: Clip, pose: Pose) -> np.ndarray:
        h, w = frame.shape[:2]
        small = cv2.resize(frame, (int(w * detail_loss), int(h * detail_loss)), interpolation=cv2.INTER_AREA)
        back = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
        return cv2.GaussianBlur(back, (0, 0), sigma) if sigma > 0 else back

    return effect


def boiling(amplitude: float) -> Callable[[int, np.ndarray, Clip, Pose], np.ndarray]:
    """Temporally incoherent texture: fresh grain (2-3 px) every frame on the garment, stronger where the
    fabric is textured - the pattern re-invented each frame instead of carried along."""
    texture: dict[str, np.ndarray] = {}

    def effect(i: int, frame: np.ndarray, clip: Clip, pose: Pose) -> np.ndarray:
        if "w" not in texture:
            grey = cv2.cvtColor(clip.product.subject, cv2.COLOR_RGB2GRAY).astype(np.float32)
            energy = cv2.GaussianBlur(np.abs(cv2.Laplacian(grey, cv2.CV_32F)), (0, 0), 6.0)
            energy = np.clip(energy / max(1e-3, np.percentile(energy[clip.product.alpha > 0.5], 90)), 0.35, 1.0)
            texture["w"] = np.round(255 * energy * clip.product.alpha).astype(np.uint8)
        weight = clip.renderer.warp(texture["w"], pose).astype(np.float32) * (amplitude / 255.0)
        h, w = frame.shape[:2]
        rng = np.random.default_rng(1000 + i)
        noise = rng.standard_normal((h // 2, w // 2, 3), dtype=np.float32)
        noise = cv2.resize(noise, (w, h), interpolation=cv2.INTER_LINEAR) * 1.6
        out = frame.astype(np.float32) + noise * weight[:, :, None]
        return np.clip(out, 0, 255).astype(np.uint8)

    return effect


def gains(values: Callable[[int], float]) -> Callable[[int, np.ndarray, Clip, Pose], np.ndarray]:
    def effect(i: int, frame: np.ndarray, clip: Clip, pose: Pose) -> np.ndarray:
        g = values(i)
        if g == 1.0:
            return frame
        lut = np.clip(np.arange(256, dtype=np.float32) * g, 0, 255).astype(np.uint8)
        return cv2.LUT(frame, lut)

    return effect


def random_flicker(depth: float, seed: int) -> Callable[[int], float]:
    """Frame gains 1 + depth x uniform(-1, 1), fresh each frame (an exposure that cannot settle)."""
    values = np.random.default_rng(seed).uniform(-1.0, 1.0, 400)
    return lambda i: 1.0 + depth * float(values[i])


def flash_train(rate: float, fps: float, depth: float = 0.45, start_s: float = 1.0, seconds: float = 2.0):
    """Dark flashes (one frame at `depth` of the brightness) `rate` times a second from `start_s`."""
    period = fps / rate

    def g(i: int) -> float:
        k = (i - start_s * fps) / period
        if k < 0 or i >= (start_s + seconds) * fps:
            return 1.0
        return depth if (k - math.floor(k)) * period < 1.0 else 1.0

    return g


def black_at(frames: set[int]):
    def effect(i: int, frame: np.ndarray, clip: Clip, pose: Pose) -> np.ndarray:
        return np.zeros_like(frame) if i in frames else frame

    return effect


def noise(sigma: float):
    def effect(i: int, frame: np.ndarray, clip: Clip, pose: Pose) -> np.ndarray:
        rng = np.random.default_rng(500 + i)
        n = rng.standard_normal(frame.shape, dtype=np.float32) * sigma
        return np.clip(frame.astype(np.float32) + n, 0, 255).astype(np.uint8)

    return effect


def glitch(start: int, count: int, offset: float, garble: bool):
    """Frames start..start+count-1 replaced by a broken render: the view knocked sideways by `offset` of
    the frame and, when `garble`, the colours rolled and the picture blocky."""

    def effect(i: int, frame: np.ndarray, clip: Clip, pose: Pose) -> np.ndarray:
        if not start <= i < start + count:
            return frame
        v = pose.view
        cover = clip.width / (cover_scale(clip.product, clip.width, clip.height) * v.zoom)
        knocked = replace(
            pose, view=View(v.cx + offset * cover, v.cy - 0.5 * offset * cover, v.zoom * (1 + offset), v.angle)
        )
        out = clip.renderer.render(knocked, grid=clip.grid)
        if garble:
            h, w = out.shape[:2]
            out = cv2.resize(
                cv2.resize(out, (w // 24, h // 24), interpolation=cv2.INTER_AREA),
                (w, h),
                interpolation=cv2.INTER_NEAREST,
            )
            out = np.ascontiguousarray(out[:, :, ::-1])
        return out

    return effect


def frozen_timeline(preset: Preset, start_s: float, seconds: float) -> Callable[[int], float]:
    n, fps = preset.n_frames, preset.fps
    a, k = round(start_s * fps), round(seconds * fps)

    def t(i: int) -> float:
        j = a if a <= i < a + k else i
        return j / n if preset.loop else j / max(1, n - 1)

    return t


def jump(at: float, dx: float, zoom: float) -> Callable[[float], tuple[float, float, float]]:
    return lambda t: (dx, 0.3 * dx, zoom) if t >= at else (0.0, 0.0, 1.0)


def seam(dx: float, zoom: float) -> Callable[[float], tuple[float, float, float]]:
    """A loop that does not come back: the view creeps by dx / zoom over the clip."""
    return lambda t: (dx * t, 0.0, 1.0 + (zoom - 1.0) * t)


def camera_engine(photo: str, preset: Preset, scale: float) -> Plan:
    """Marks a plan whose master the real `camera` engine renders (build.py does it)."""
    return Plan(base_clip(photo, preset, scale), engine_scale=scale)


# --- the set --------------------------------------------------------------------------------------


def _r(name, label, family, strength, preset, photo, visible, note, make) -> Recipe:
    return Recipe(name, label, family, strength, preset, photo, visible, note, make)


def recipes() -> list[Recipe]:
    R: list[Recipe] = []
    good = "good"

    def add_good(name, family, preset, photo, note, make):
        R.append(_r(name, good, family, "-", preset, photo, None, note, make))

    # Good: the real camera engine, every preset, motion x1 and x0.5, on held-out photos.
    for preset, photo1, photo05 in (
        ("product-page", "floral-dress", "moto-tote"),
        ("social", "jeans", "floral-dress"),
        ("close-up", "hoodie", "rocket-print"),
    ):
        for scale, photo in ((1.0, photo1), (0.5, photo05)):
            add_good(
                f"camera-{preset}-{photo}-x{scale:g}",
                "camera_engine",
                preset,
                photo,
                f"the real camera engine at motion x{scale:g}",
                lambda pr, photo=photo, scale=scale: camera_engine(photo, pr, scale),
            )
    # Good: model-like motion at the preset's full amount.
    add_good(
        "sway-dress-pp",
        "sway",
        "product-page",
        "floral-dress",
        "breathing camera + anchored sway, hem 3 % of height",
        lambda pr: Plan(base_clip("floral-dress", pr, 1.0, lambda p: M.sway(p, 0.03))),
    )
    add_good(
        "sway-shirt-pp",
        "sway",
        "product-page",
        "striped-shirt",
        "anchored sway on stripes, hem 3 %",
        lambda pr: Plan(base_clip("striped-shirt", pr, 1.0, lambda p: M.sway(p, 0.03, phase=1.0))),
    )
    add_good(
        "hem-jeans-pp",
        "hem_swing",
        "product-page",
        "jeans",
        "hem swing, 2.5 % of height",
        lambda pr: Plan(base_clip("jeans", pr, 1.0, lambda p: M.hem_swing(p, 0.025))),
    )
    add_good(
        "breathe-hoodie-pp",
        "breathing",
        "product-page",
        "hoodie",
        "chest breathing 1.2 % + camera breathing",
        lambda pr: Plan(base_clip("hoodie", pr, 1.0, lambda p: M.breathe(p, 0.012))),
    )
    add_good(
        "loop-rocket-pp",
        "exact_loop",
        "product-page",
        "rocket-print",
        "breathing camera only, exact loop",
        lambda pr: Plan(base_clip("rocket-print", pr, 1.0)),
    )
    add_good(
        "soft-shirt-pp",
        "softness",
        "product-page",
        "striped-shirt",
        "re-render softness: 0.8x detail, blur 0.6 px",
        lambda pr: Plan(base_clip("striped-shirt", pr, 1.0, lambda p: M.sway(p, 0.015), effects=[softened(0.6, 0.8)])),
    )
    add_good(
        "crf22-tote-pp",
        "compression",
        "product-page",
        "moto-tote",
        "libx264 crf 22 round trip, sway 2 %",
        lambda pr: Plan(base_clip("moto-tote", pr, 1.0, lambda p: M.sway(p, 0.02)), Delivery(22, score_encode=True)),
    )
    add_good(
        "crf20-tee-pp",
        "compression",
        "product-page",
        "hubble-tee",
        "libx264 crf 20 round trip, breathing 1 %",
        lambda pr: Plan(
            base_clip("hubble-tee", pr, 1.0, lambda p: M.breathe(p, 0.01)), Delivery(20, score_encode=True)
        ),
    )
    add_good(
        "parallax-jeans-so",
        "parallax",
        "social",
        "jeans",
        "subject/backdrop parallax orbit + sway 2 %",
        lambda pr: Plan(base_clip("jeans", pr, 1.0, lambda p: M.sway(p, 0.02))),
    )
    add_good(
        "parallax-dress-so",
        "parallax",
        "social",
        "floral-dress",
        "parallax orbit + hem swing 3 %",
        lambda pr: Plan(base_clip("floral-dress", pr, 1.0, lambda p: M.hem_swing(p, 0.03))),
    )
    add_good(
        "soft-skirt-so",
        "softness",
        "social",
        "skirt-on-jeans-canvas",
        "parallax + softness 0.75x, blur 0.7 px",
        lambda pr: Plan(
            base_clip("skirt-on-jeans-canvas", pr, 1.0, lambda p: M.sway(p, 0.025), effects=[softened(0.7, 0.75)])
        ),
    )
    add_good(
        "crf23-jeans-so",
        "compression",
        "social",
        "jeans",
        "parallax + libx264 crf 23 round trip",
        lambda pr: Plan(base_clip("jeans", pr, 0.8, lambda p: M.hem_swing(p, 0.02)), Delivery(23, score_encode=True)),
    )
    add_good(
        "push-dress-cu",
        "push_in",
        "close-up",
        "floral-dress",
        "detail push-in on the print + sway 2 %",
        lambda pr: Plan(base_clip("floral-dress", pr, 1.0, lambda p: M.sway(p, 0.02))),
    )
    add_good(
        "push-hoodie-cu",
        "push_in",
        "close-up",
        "hoodie",
        "push-in on the chest logo + breathing 1 %",
        lambda pr: Plan(base_clip("hoodie", pr, 1.0, lambda p: M.breathe(p, 0.01))),
    )
    add_good(
        "soft-tote-cu",
        "softness",
        "close-up",
        "moto-tote",
        "push-in on the print, softness 0.8x + blur 0.5 px",
        lambda pr: Plan(base_clip("moto-tote", pr, 1.0, effects=[softened(0.5, 0.8)])),
    )
    add_good(
        "crf21-tee-cu",
        "compression",
        "close-up",
        "hubble-tee",
        "push-in on the print, libx264 crf 21",
        lambda pr: Plan(base_clip("hubble-tee", pr, 1.0), Delivery(21, score_encode=True)),
    )
    add_good(
        "push-jeans-cu",
        "push_in",
        "close-up",
        "jeans",
        "push-in on the stitching + hem swing",
        lambda pr: Plan(base_clip("jeans", pr, 1.0, lambda p: M.hem_swing(p, 0.025))),
    )

    # Defects: (family, strength, visible, note, preset, photo, make)
    def add(family, strength, visible, preset, photo, note, make):
        R.append(
            _r(f"{family}-{strength}-{preset}-{photo}", "defect", family, strength, preset, photo, visible, note, make)
        )

    sway2 = lambda p: M.sway(p, 0.02)  # noqa: E731 - the defect clips' own good motion
    for de, visible, preset, photo in (
        (2, False, "product-page", "hoodie"),
        (6, True, "close-up", "floral-dress"),
        (12, True, "social", "jeans"),
    ):
        add(
            "colour_shift",
            f"dE{de}",
            visible,
            preset,
            photo,
            "dE 2 is below what a shopper sees on a moving clip; dE 6+ is a different shade",
            lambda pr, de=de, photo=photo: Plan(
                base_clip(photo, pr, 1.0, sway2, effects=[blend_variant(colour_shifted(de), ramp, 1.0)])
            ),
        )
    for w, visible, preset, photo, target in (
        (0.12, False, "product-page", "jeans", "skirt-on-jeans-canvas"),
        (0.45, True, "product-page", "hubble-tee", "hoodie-on-tee-canvas"),
        (1.0, True, "social", "jeans", "skirt-on-jeans-canvas"),
    ):
        add(
            "morph",
            f"{round(w * 100)}%",
            visible,
            preset,
            photo,
            "a 12 % ghost of another garment is faint; 45 % and a full change are obvious",
            lambda pr, w=w, photo=photo, target=target: Plan(
                base_clip(photo, pr, 1.0, effects=[blend_variant(other_garment(target), ramp, w)])
            ),
        )
    for frac, melt, visible, preset, photo in (
        (0.004, False, False, "product-page", "hoodie"),
        (0.03, True, True, "close-up", "hoodie"),
        (0.05, False, True, "product-page", "floral-dress"),
    ):
        kind = "melt" if melt else "smear"
        add(
            "print_smear",
            f"{kind}{frac * 100:g}%",
            visible,
            preset,
            photo,
            "a 0.4 % smear (~4 px) is under the fabric's softness; 3-5 % of garment height melts letters/flowers",
            lambda pr, frac=frac, melt=melt, photo=photo: Plan(
                base_clip(photo, pr, 1.0, effects=[blend_variant(smeared_print(frac, melt), ramp, 1.0)])
            ),
        )
    for s, visible, preset, photo in (
        (0.4, False, "product-page", "striped-shirt"),
        (1.0, True, "close-up", "moto-tote"),
    ):
        add(
            "combined_drift",
            f"x{s:g}",
            visible,
            preset,
            photo,
            "colour dE 3 x s + print smear 1.5 % x s + softness together; at x1 the product looks off, x0.4 faint",
            lambda pr, s=s, photo=photo: Plan(
                base_clip(
                    photo,
                    pr,
                    1.0,
                    sway2,
                    effects=[
                        blend_variant(colour_shifted(3.0 * s), ramp, 1.0),
                        blend_variant(smeared_print(0.015 * s, False), ramp, 1.0),
                        softened(0.4 * s, 1.0 - 0.15 * s),
                    ],
                )
            ),
        )
    for amp, visible, preset, photo in (
        (2.5, False, "product-page", "jeans"),
        (8, True, "close-up", "hoodie"),
        (16, True, "product-page", "floral-dress"),
    ):
        add(
            "boiling",
            f"{amp:g}",
            visible,
            preset,
            photo,
            "grain of +-2.5 levels is sensor-like; 8+ levels of fresh grain per frame shimmers visibly on fabric",
            lambda pr, amp=amp, photo=photo: Plan(base_clip(photo, pr, 1.0, sway2, effects=[boiling(amp)])),
        )
    for dx, zoom, visible, preset, photo in (
        (0.004, 1.0, False, "product-page", "moto-tote"),
        (0.03, 1.0, True, "social", "floral-dress"),
        (0.06, 1.12, True, "close-up", "jeans"),
    ):
        add(
            "jump_cut",
            f"{dx * 100:g}%",
            visible,
            preset,
            photo,
            "a 0.4 % (~4 px) one-frame jump hides in motion; 3 %+ of the frame is a visible pop",
            lambda pr, dx=dx, zoom=zoom, photo=photo: Plan(
                base_clip(photo, pr, 1.0, sway2, shift=jump(0.55, dx, zoom))
            ),
        )
    for count, offset, garble, visible, preset, photo in (
        (2, 0.004, False, False, "product-page", "rocket-print"),
        (3, 0.05, True, True, "product-page", "striped-shirt"),
        (6, 0.08, True, True, "social", "jeans"),
    ):
        add(
            "glitch",
            f"{count}f",
            visible,
            preset,
            photo,
            "2 frames knocked 0.4 % is invisible; 3-6 garbled frames are a visible glitch",
            lambda pr, count=count, offset=offset, garble=garble, photo=photo: Plan(
                base_clip(photo, pr, 1.0, sway2, effects=[glitch(int(0.6 * pr.n_frames), count, offset, garble)])
            ),
        )
    for depth, visible, preset, photo in (
        (0.008, False, "product-page", "hoodie"),
        (0.04, True, "social", "floral-dress"),
        (0.08, True, "close-up", "moto-tote"),
    ):
        add(
            "flicker",
            f"{depth * 100:g}%",
            visible,
            preset,
            photo,
            "random exposure wobble of +-0.8 % is under what a viewer sees; +-4 % and more flickers",
            lambda pr, depth=depth, photo=photo: Plan(
                base_clip(photo, pr, 1.0, sway2, effects=[gains(random_flicker(depth, 3))])
            ),
        )
    for rate, preset, photo in ((4, "product-page", "jeans"), (6, "close-up", "hubble-tee")):
        add(
            "flashes",
            f"{rate}/s",
            True,
            preset,
            photo,
            "dark flashes above WCAG's 3 per second are plainly visible",
            lambda pr, rate=rate, photo=photo: Plan(
                base_clip(photo, pr, 1.0, effects=[gains(flash_train(rate, pr.fps))])
            ),
        )
    for frames, preset, photo in (({40}, "product-page", "striped-shirt"), ({100, 101, 102}, "social", "jeans")):
        add(
            "black_frames",
            f"{len(frames)}",
            True,
            preset,
            photo,
            "a black frame is a visible blink at any length",
            lambda pr, frames=frames, photo=photo: Plan(base_clip(photo, pr, 1.0, sway2, effects=[black_at(frames)])),
        )
    for secs, visible, preset, photo in (
        (0.25, False, "close-up", "floral-dress"),
        (1.0, True, "social", "floral-dress"),
        (2.0, True, "close-up", "hoodie"),
    ):
        add(
            "frozen",
            f"{secs:g}s",
            visible,
            preset,
            photo,
            "a quarter second hold in a slow move is not noticed; 1 s+ of a dead stop in a moving clip is",
            lambda pr, secs=secs, photo=photo: Plan(
                base_clip(photo, pr, 1.0, sway2, timeline=frozen_timeline(pr, 1.5, secs))
            ),
        )
    for sigma, visible, preset, photo in (
        (0.8, False, "product-page", "moto-tote"),
        (1.5, True, "social", "jeans"),
        (1.0, True, "close-up", "hoodie"),
    ):
        add(
            "still_noise",
            f"sigma{sigma:g}",
            visible,
            preset,
            photo,
            "a still where the preset asks for a parallax orbit or push-in is plainly not moving; on the "
            "product page the asked-for breathing is only ~2 % so a still is not noticed",
            lambda pr, sigma=sigma, photo=photo: Plan(
                base_clip(photo, pr, 1.0, motion=M.still_motion(product(photo), pr), effects=[noise(sigma)])
            ),
        )
    for preset, photo in (("product-page", "floral-dress"), ("social", "jeans"), ("close-up", "rocket-print")):
        add(
            "short",
            "half",
            True,
            preset,
            photo,
            "half the preset's duration: a visibly short clip",
            lambda pr, photo=photo: Plan(base_clip(photo, pr, 1.0, sway2, n_frames=pr.n_frames // 2)),
        )
    for photo, strength in (("hoodie", "cuffs"), ("wide-shirt", "sleeves")):
        add(
            "cutoff",
            strength,
            True,
            "social",
            photo,
            "the garment's sleeves leave the 9:16 frame in every frame",
            lambda pr, photo=photo: Plan(base_clip(photo, pr, 1.0)),
        )
    for dx, zoom, visible, photo in (
        (0.002, 1.0, False, "jeans"),
        (0.02, 1.0, True, "hubble-tee"),
        (0.05, 1.04, True, "moto-tote"),
    ):
        add(
            "loop_seam",
            f"{dx * 100:g}%",
            visible,
            "product-page",
            photo,
            "0.2 % creep is under a loop's own step; 2 %+ jumps at the seam every loop",
            lambda pr, dx=dx, zoom=zoom, photo=photo: Plan(base_clip(photo, pr, 1.0, sway2, shift=seam(dx, zoom))),
        )
    # Delivery: a good master whose delivered libx264 encode is broken.
    add(
        "delivered_blocking",
        "crf51",
        True,
        "product-page",
        "floral-dress",
        "crf 51: blocks and smeared print",
        lambda pr: Plan(base_clip("floral-dress", pr, 1.0, sway2), Delivery(51)),
    )
    add(
        "delivered_blocking",
        "crf44",
        True,
        "social",
        "jeans",
        "crf 44: visible blocking on the denim",
        lambda pr: Plan(base_clip("jeans", pr, 1.0, sway2), Delivery(44)),
    )
    add(
        "delivered_stutter",
        "dup12",
        True,
        "product-page",
        "hoodie",
        "12 frames replaced by one held frame (a stall)",
        lambda pr: Plan(
            base_clip("hoodie", pr, 1.0, sway2), Delivery(20, frame_map=lambda i: 40 if 40 <= i < 52 else i)
        ),
    )
    add(
        "delivered_stutter",
        "drop12",
        True,
        "close-up",
        "floral-dress",
        "12 frames dropped: a jump and a short file",
        lambda pr: Plan(
            base_clip("floral-dress", pr, 1.0, sway2),
            Delivery(20, frame_map=lambda i: i if i < 40 else i + 12, n_frames=pr.n_frames - 12),
        ),
    )
    add(
        "delivered_black",
        "1",
        True,
        "product-page",
        "striped-shirt",
        "one black frame in the encode",
        lambda pr: Plan(
            base_clip("striped-shirt", pr, 1.0, sway2), Delivery(20, frame_map=lambda i: -1 if i == 30 else i)
        ),
    )
    add(
        "delivered_black",
        "2",
        True,
        "social",
        "floral-dress",
        "two black frames in the encode",
        lambda pr: Plan(
            base_clip("floral-dress", pr, 1.0, sway2), Delivery(21, frame_map=lambda i: -1 if i in (90, 91) else i)
        ),
    )
    return R
