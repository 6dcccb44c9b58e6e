"""A test engine whose defects are known: the real `camera` engine renders every clip, then a seeded schedule
picks some (sku, preset) items and paints a defect a person sees onto their clips, writing what it did to a
labels file (JSON lines). The reliability suite counts "bad clips published" against these labels, not by
re-applying the gate's own thresholds to the gate's own scores.

Defects (strength unit in brackets), each one a viewer notices at once:
  colour_shift  the garment's colour moves by `strength` CIE76 dE (>= 10) over the first quarter, then stays
  black_frames  `strength` consecutive black frames mid-clip
  frozen_half   the last `strength` share of the clip repeats one frame (the model stalled)
  flicker       alternating +-`strength` gain frame to frame (>= 6 %)
  morph         the garment dissolves into another garment, `strength` of the way by the last frame
  flashes       `strength` dark flashes per second (> 3/s, past WCAG 2.3.1)

A persistent defect is the engine's fault: it comes back on every "ask for less" retry, so the item must end
rejected. A transient one (colour shift, morph or flicker only) appears on the first attempt only; a retried
clean clip may then be published (and is labelled clean). Every attempt, clean or not, gets a label line:
the test looks up the attempt that was published. The defects are drawn here on purpose, not with
quality/calibration.py: the gate's thresholds were fitted there.
"""

from __future__ import annotations

import json
import os
import random
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from catalog_motion.errors import EngineError
from catalog_motion.media import read_frames, write_master
from catalog_motion.planning import seed_for
from catalog_motion.types import ClipRef
from generation.base import Engine, GenerationRequest
from generation.registry import get_engine, register_engine

ENGINE_NAME = "rel-labelled"

STRENGTHS: dict[str, tuple[float, ...]] = {
    "colour_shift": (12.0, 18.0, 26.0),
    "black_frames": (1.0, 3.0),
    "frozen_half": (0.5,),
    "flicker": (0.06, 0.12),
    "morph": (0.6, 1.0),
    "flashes": (4.0, 6.0),
}
"""Every strength here is one a person sees at the preset's size (the brief's floors: dE >= 10, >= 6 % gain,
> 3 flashes/s); the test injects only these, so each injected clip is a bad clip if it is published."""

TRANSIENT_FAMILIES = frozenset({"colour_shift", "morph", "flicker"})
"""Defects a retry may not repeat (the schedule makes some of these transient; the others always persist)."""

MAX_ATTEMPTS_SEARCHED = 10  # AskForLessPolicy.max_attempts is at most 10: seeds of attempts 0..9


class LabelledSettings(BaseModel):
    """Settings of the labelled engine (RunSettings.engines['rel-labelled'])."""

    model_config = ConfigDict(extra="forbid")

    labels: str = Field(description="JSON-lines file each attempt's label is appended to")
    skus: list[str] = Field(description="The catalog's SKUs: the engine finds a request's SKU from its seed")
    seed: int = Field(default=2026, description="Seed of the defect schedule")
    fraction: float = Field(default=0.6, gt=0.0, le=1.0, description="Share of (sku, preset) items made defective")
    transient_share: float = Field(
        default=0.3, ge=0.0, le=1.0, description="Share of defective items whose defect a retry fixes"
    )


@dataclass(frozen=True)
class Planned:
    """The defect scheduled for one (sku, preset)."""

    defect: str
    strength: float
    persistent: bool

    def applies_to(self, attempt: int) -> bool:
        return self.persistent or attempt == 0


def defect_schedule(
    skus: list[str], presets: list[str], seed: int, fraction: float = 0.6, transient_share: float = 0.3
) -> dict[tuple[str, str], Planned]:
    """Deterministic defects per (sku, preset), drawn per preset (so the engine, which sees one preset at a
    time, and the test agree): a seeded share of the SKUs, cycling through every (defect, strength) pair
    in a seeded order that starts with one pair of each family."""
    plan: dict[tuple[str, str], Planned] = {}
    pairs = [(defect, strength) for defect, strengths in STRENGTHS.items() for strength in strengths]
    for preset in sorted(set(presets)):
        rng = random.Random(f"{seed}:{preset}")
        keys = sorted(set(skus))
        rng.shuffle(keys)
        chosen = keys[: max(1, round(fraction * len(keys)))]
        # one pair of each family first (so >= 6 items cover every family), then the other strengths
        families = list(STRENGTHS)
        rng.shuffle(families)
        order = [(family, rng.choice(STRENGTHS[family])) for family in families]
        rest = [pair for pair in pairs if pair not in order]
        rng.shuffle(rest)
        order += rest
        drawn = [order[i % len(order)] for i in range(len(chosen))]
        # A model's look (colour, identity, flicker) may change with a new seed; black, frozen or flashing
        # frames come from a broken pipeline and come back every time, so only the first kind is transient.
        eligible = [i for i, (defect, _) in enumerate(drawn) if defect in TRANSIENT_FAMILIES]
        transient = set(rng.sample(eligible, min(len(eligible), round(transient_share * len(chosen)))))
        for i, (sku, (defect, strength)) in enumerate(zip(chosen, drawn, strict=True)):
            plan[(sku, preset)] = Planned(defect, strength, persistent=i not in transient)
    return plan


# --- the defects (pure functions of a clip's frames) ---------------------------------------------------


def _lab(frame: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(frame.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)


def _rgb(lab: np.ndarray) -> np.ndarray:
    rgb = cv2.cvtColor(lab.astype(np.float32), cv2.COLOR_LAB2RGB)
    return np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)


def garment_mask(frame: np.ndarray) -> np.ndarray:
    """Soft mask of what is not the near-white, near-neutral studio sweep (the garment; in a close-up that
    is most of the frame, where a border-seeded studio mask finds nothing)."""
    lab = _lab(frame)
    chroma = np.hypot(lab[..., 1], lab[..., 2])
    mask = np.maximum(np.clip((chroma - 4.0) / 6.0, 0, 1), np.clip((82.0 - lab[..., 0]) / 8.0, 0, 1))
    return cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 1.0)


def _garment_de(before: np.ndarray, after: np.ndarray, mask: np.ndarray) -> float:
    """Mean CIE76 dE between two frames over the garment (mask-weighted)."""
    de = np.linalg.norm(_lab(before) - _lab(after), axis=2)
    return float((de * mask).sum() / max(mask.sum(), 1e-6))


def colour_shift(frames: np.ndarray, de: float, rng: random.Random) -> tuple[np.ndarray, float]:
    """Shift the garment's a*/b* by `de` in the direction that survives sRGB clipping best, ramping in over the
    first quarter; returns the frames and the dE measured on the last frame (what a viewer sees)."""
    n = len(frames)
    ref = frames[-1]
    mask = garment_mask(ref)
    start = rng.uniform(0.0, 2 * np.pi)
    best, best_de = (0.0, 0.0), -1.0
    for k in range(8):  # a saturated red cannot get redder: pick the hue direction with headroom
        angle = start + k * np.pi / 4
        shift = (de * np.cos(angle), de * np.sin(angle))
        lab = _lab(ref)
        lab[..., 1] += shift[0]
        lab[..., 2] += shift[1]
        got = _garment_de(ref, _rgb(lab), mask)
        if got > best_de:
            best, best_de = shift, got
    out = np.empty_like(frames)
    ramp_end = max(1, n // 4)
    for i, frame in enumerate(frames):
        t = min(1.0, i / ramp_end)
        m = garment_mask(frame)[..., None]
        lab = _lab(frame)
        lab[..., 1] += best[0] * t
        lab[..., 2] += best[1] * t
        shifted = _rgb(lab).astype(np.float32)
        out[i] = np.clip(np.rint(frame * (1 - m) + shifted * m), 0, 255).astype(np.uint8)
    return out, _garment_de(frames[-1], out[-1], mask)


def black_frames(frames: np.ndarray, count: float, rng: random.Random) -> np.ndarray:
    n, k = len(frames), int(count)
    first = rng.randint(n // 4, max(n // 4, 3 * n // 4 - k))
    out = frames.copy()
    out[first : first + k] = 0
    return out


def frozen_half(frames: np.ndarray, share: float) -> np.ndarray:
    n = len(frames)
    at = max(1, int(round(n * (1 - share))) - 1)
    out = frames.copy()
    out[at:] = frames[at]
    return out


def flicker(frames: np.ndarray, gain: float) -> np.ndarray:
    signs = np.where(np.arange(len(frames)) % 2 == 0, 1.0, -1.0).astype(np.float32)
    scaled = frames.astype(np.float32) * (1.0 + gain * signs)[:, None, None, None]
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def morph(frames: np.ndarray, amount: float, other: np.ndarray) -> np.ndarray:
    """Dissolve into `other` (another garment at frame size) from a third of the way in, `amount` at the end."""
    n = len(frames)
    start = n // 3
    out = frames.copy()
    for i in range(start, n):
        a = amount * (i - start + 1) / (n - start)
        out[i] = np.clip(np.rint(frames[i] * (1 - a) + other * a), 0, 255).astype(np.uint8)
    return out


def flashes(frames: np.ndarray, per_second: float, fps: float) -> np.ndarray:
    """Dark frames (30 % brightness) `per_second` times a second: each is one flash (two opposing transitions)."""
    step = max(2, int(round(fps / per_second)))
    out = frames.copy()
    for i in range(1, len(frames), step):
        out[i] = np.rint(frames[i] * 0.3).astype(np.uint8)
    return out


def other_garment(frame: np.ndarray) -> np.ndarray:
    """The sample garment most unlike `frame`, drawn at its size (what a morph turns into)."""
    from catalog_connectors.samples import PHOTOS

    h, w = frame.shape[:2]
    drawn = [photo.draw(w, h) for photo in PHOTOS.values()]
    return max(drawn, key=lambda img: float(np.abs(img.astype(np.int16) - frame.astype(np.int16)).mean()))


def inject(frames: np.ndarray, planned: Planned, fps: float, rng: random.Random) -> tuple[np.ndarray, float]:
    """The clip with `planned` painted in, and the strength measured where it can be (dE), else as planned."""
    defect, s = planned.defect, planned.strength
    if defect == "colour_shift":
        return colour_shift(frames, s, rng)
    if defect == "black_frames":
        return black_frames(frames, s, rng), s
    if defect == "frozen_half":
        return frozen_half(frames, s), s
    if defect == "flicker":
        return flicker(frames, s), s
    if defect == "morph":
        return morph(frames, s, other_garment(frames[0])), s
    if defect == "flashes":
        return flashes(frames, s, fps), s
    raise ValueError(f"unknown defect {defect!r}; known: {', '.join(STRENGTHS)}")


# --- the engine -------------------------------------------------------------------------------------------


class LabelledEngine(Engine):
    name = ENGINE_NAME

    def __init__(self, settings: LabelledSettings):
        self.settings = settings
        self._lock = threading.Lock()
        self._schedules: dict[str, dict[tuple[str, str], Planned]] = {}

    def identity(self) -> str:
        s = self.settings
        return f"{ENGINE_NAME}:camera:{s.seed}:{s.fraction:g}:{s.transient_share:g}"

    def schedule(self, preset: str) -> dict[tuple[str, str], Planned]:
        with self._lock:
            if preset not in self._schedules:
                s = self.settings
                self._schedules[preset] = defect_schedule(s.skus, [preset], s.seed, s.fraction, s.transient_share)
            return self._schedules[preset]

    def sku_of(self, request: GenerationRequest) -> str:
        """The SKU whose seed this request carries (planning seeds each (sku, preset, attempt))."""
        for sku in self.settings.skus:
            if any(seed_for(sku, request.preset.name, a) == request.seed for a in range(MAX_ATTEMPTS_SEARCHED)):
                return sku
        raise EngineError(
            f"{ENGINE_NAME}: no SKU in engines.{ENGINE_NAME}.skus has seed {request.seed} for preset "
            f"{request.preset.name}; list every catalog SKU there"
        )

    def generate(self, request: GenerationRequest) -> ClipRef:
        # The camera engine is fetched here, not in the factory: factories run under the registry lock.
        clip = get_engine("camera", {}, isolation="inline").generate(request)
        sku, preset = self.sku_of(request), request.preset.name
        planned = self._planned(sku, preset)
        label: dict[str, Any] = {
            "sku": sku,
            "preset": preset,
            "attempt": request.attempt,
            "seed": request.seed,
            "motion_scale": request.motion_scale,
            "defect": "none",
            "strength": 0.0,
            "persistent": None,
        }
        if planned is not None and planned.applies_to(request.attempt):
            frames = read_frames(clip.path)
            rng = random.Random(f"{self.settings.seed}:{sku}:{preset}:{request.attempt}")
            bad, measured = inject(frames, planned, clip.fps, rng)
            out = Path(clip.path)
            tmp = out.with_name("defect-" + out.name)
            write_master(list(bad), tmp, clip.fps)
            os.replace(tmp, out)
            label.update(defect=planned.defect, strength=round(measured, 3), persistent=planned.persistent)
        self._record(label)
        return clip.model_copy(update={"engine": ENGINE_NAME})

    def _planned(self, sku: str, preset: str) -> Planned | None:
        return self.schedule(preset).get((sku, preset))

    def _record(self, label: dict[str, Any]) -> None:
        line = json.dumps(label, sort_keys=True) + "\n"
        with self._lock, open(self.settings.labels, "a", encoding="utf-8") as handle:
            handle.write(line)


def make_labelled_engine(settings: dict[str, Any]) -> LabelledEngine:
    return LabelledEngine(LabelledSettings.model_validate(settings))


def read_labels(path: str | Path) -> dict[tuple[str, str, int, int], dict[str, Any]]:
    """Labels by (sku, preset, attempt, seed); a repeated attempt (a resumed run) keeps its last line."""
    labels: dict[tuple[str, str, int, int], dict[str, Any]] = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        labels[(row["sku"], row["preset"], int(row["attempt"]), int(row["seed"]))] = row
    return labels


register_engine(ENGINE_NAME, isolation="inline")(make_labelled_engine)
