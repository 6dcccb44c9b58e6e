"""A deterministic sample catalog: studio-style garment photos drawn with numpy/OpenCV, plus a CSV.

The photos exercise the cases that matter downstream: plain colours, a repeating print (flicker and
aliasing), a logo with text (drift is easy to see on letters), fine knit and denim textures (close-up
focus, compression), and two sizes of one colour sharing a photo (de-duplication in planning).
Everything is drawn from fixed seeds, so the same bytes come out on every run.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

DESIGN_W, DESIGN_H = 1600, 2000
"""Shapes are laid out on this canvas and scaled to the requested size."""

CSV_COLUMNS = ("sku", "image", "title", "color", "item_group_id", "updated_at")


@dataclass(frozen=True)
class _Photo:
    file: str
    draw: Callable[[int, int], np.ndarray]  # (width, height) -> RGB uint8


@dataclass(frozen=True)
class SampleSku:
    sku: str
    photo: str
    title: str
    color: str
    item_group_id: str
    updated_at: str


# --- canvas helpers -------------------------------------------------------------------------------


def _grid(w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return xs, ys


def _smooth_field(w: int, h: int, fn: Callable[[np.ndarray, np.ndarray, int, int], np.ndarray]) -> np.ndarray:
    """Evaluate a smooth field at quarter size and upsample: lighting needs no per-pixel detail (4-16x faster)."""
    sw, sh = max(8, w // 4), max(8, h // 4)
    xs, ys = _grid(sw, sh)
    small = fn(xs * (w / sw), ys * (h / sh), w, h).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _background(w: int, h: int, tone: float) -> np.ndarray:
    """Near-white studio sweep: brighter in the middle, a soft vignette, slightly darker floor."""

    def field(xs: np.ndarray, ys: np.ndarray, w: int, h: int) -> np.ndarray:
        r = np.sqrt(((xs / w - 0.5) * 1.2) ** 2 + ((ys / h - 0.45) * 1.0) ** 2)
        return tone - 0.09 * np.clip(r, 0, 1) ** 2 - 0.025 * (ys / h)

    lum = _smooth_field(w, h, field)
    # a touch warm, like tungsten-balanced paper
    return lum[..., None] * np.array([1.0, 0.995, 0.985], np.float32)


def _poly_mask(w: int, h: int, polys: Sequence[Sequence[tuple[float, float]]]) -> np.ndarray:
    s = w / DESIGN_W
    mask = np.zeros((h, w), np.uint8)
    for poly in polys:
        pts = np.array([[x * s, y * (h / DESIGN_H)] for x, y in poly], np.float32)
        cv2.fillPoly(mask, [np.round(pts * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
    return mask


def _pt(w: int, h: int, x: float, y: float) -> tuple[int, int]:
    return int(round(x * w / DESIGN_W)), int(round(y * h / DESIGN_H))


def _soft_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Large Gaussian blur computed at quarter size (shadows need no detail, and it is 16x cheaper)."""
    h, w = img.shape[:2]
    small = cv2.resize(img, (max(1, w // 4), max(1, h // 4)), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), max(0.5, sigma / 4))
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _shading(mask: np.ndarray, folds: float, seed: int) -> np.ndarray:
    """Lighting on the subject: rounder towards the middle, key light from the upper left, soft folds."""
    h, w = mask.shape
    sw, sh = max(8, w // 4), max(8, h // 4)
    small = cv2.resize(mask, (sw, sh), interpolation=cv2.INTER_AREA)
    dist = cv2.distanceTransform((small > 127).astype(np.uint8), cv2.DIST_L2, 5) * (w / sw)
    depth = cv2.resize(0.82 + 0.18 * np.clip(dist / (0.04 * w), 0, 1), (w, h), interpolation=cv2.INTER_LINEAR)
    rng = np.random.default_rng(seed)
    waves = [(rng.uniform(0.08, 0.2) * w, rng.uniform(0, 2 * np.pi), rng.uniform(-0.25, 0.25)) for _ in range(5)]

    def field(xs: np.ndarray, ys: np.ndarray, w: int, h: int) -> np.ndarray:
        key = 1.06 - 0.10 * (xs / w) - 0.05 * (ys / h)
        fold = sum(np.sin(2 * np.pi * (xs + tilt * ys) / period + phase) for period, phase, tilt in waves)
        return key * (1 + folds * fold / 5)

    return (depth * _smooth_field(w, h, field)).astype(np.float32)


def _compose(
    w: int, h: int, mask: np.ndarray, surface: np.ndarray, *, folds: float, seed: int, tone: float = 0.965
) -> np.ndarray:
    """Lay the shaded subject on the background with a soft drop shadow; returns RGB uint8."""
    bg = _background(w, h, tone)
    shift = np.float32([[1, 0, 0.012 * w], [0, 1, 0.016 * h]])
    shadow = cv2.warpAffine(mask, shift, (w, h)).astype(np.float32) / 255
    shadow = _soft_blur(shadow, 0.025 * w)
    bg *= (1 - 0.28 * shadow)[..., None]
    alpha = cv2.GaussianBlur(mask, (3, 3), 0).astype(np.float32)[..., None] / 255
    lit = surface * _shading(mask, folds, seed)[..., None]
    out = bg * (1 - alpha) + lit * alpha
    return np.clip(out * 255 + 0.5, 0, 255).astype(np.uint8)


def _rgb(hex_colour: str) -> np.ndarray:
    hex_colour = hex_colour.lstrip("#")
    return np.array([int(hex_colour[i : i + 2], 16) / 255 for i in (0, 2, 4)], np.float32)


def _plain(w: int, h: int, colour: str) -> np.ndarray:
    return np.broadcast_to(_rgb(colour), (h, w, 3)).copy()


# --- surfaces -------------------------------------------------------------------------------------


def _floral_print(w: int, h: int) -> np.ndarray:
    """A half-drop repeat of small flowers and dots on a navy ground: the repeating-print case."""
    s = w / DESIGN_W
    t = max(8, int(round(120 * s)))
    tile = np.zeros((2 * t, 2 * t, 3), np.float32)
    tile[:] = _rgb("#1f2a4d")
    petal, centre, dot = _rgb("#f2d9c4"), _rgb("#e0a93b"), _rgb("#c75b6e")

    def flower(cx: int, cy: int) -> None:
        r = max(1, int(round(16 * s)))
        for k in range(6):
            a = k * np.pi / 3
            px, py = int(cx + 1.6 * r * np.cos(a)), int(cy + 1.6 * r * np.sin(a))
            cv2.circle(tile, (px, py), r, petal.tolist(), -1, cv2.LINE_AA)
        cv2.circle(tile, (cx, cy), max(1, int(r * 0.9)), centre.tolist(), -1, cv2.LINE_AA)

    flower(t // 2, t // 2)
    flower(t + t // 2, t + t // 2 // 2 * 2)  # half-drop: the second column sits half a tile lower
    cv2.circle(tile, (t + t // 2, t // 6), max(1, int(5 * s)), dot.tolist(), -1, cv2.LINE_AA)
    cv2.circle(tile, (t // 2, t + t // 2), max(1, int(5 * s)), dot.tolist(), -1, cv2.LINE_AA)
    reps = (h // (2 * t) + 1, w // (2 * t) + 1, 1)
    return np.tile(tile, reps)[:h, :w].copy()


def _denim(w: int, h: int, seed: int) -> np.ndarray:
    """Indigo 3/1 twill: fine diagonal ridges with per-thread irregularity (fine-texture case)."""
    s = w / DESIGN_W
    rng = np.random.default_rng(seed)
    xs, ys = _grid(w, h)
    period = max(3.0, 7.0 * s)
    ridge = 0.5 + 0.5 * np.cos(2 * np.pi * (xs + ys) / period)
    threads = rng.normal(0, 0.07, size=(h, 1)).astype(np.float32) + rng.normal(0, 0.05, size=(1, w)).astype(np.float32)
    slub = cv2.GaussianBlur(rng.normal(0, 1, size=(h, w)).astype(np.float32), (0, 0), 1.2) * 0.08
    v = np.clip(0.35 + 0.45 * ridge + threads + slub, 0, 1)[..., None]
    dark, light = _rgb("#1b2b4b"), _rgb("#6c86b3")
    return dark * (1 - v) + light * v


def _knit(w: int, h: int, seed: int, colour: str) -> np.ndarray:
    """Stockinette knit: columns of V-shaped stitches with dark gaps between them (fine texture)."""
    s = w / DESIGN_W
    rng = np.random.default_rng(seed)
    xs, ys = _grid(w, h)
    cw, ch = max(4.0, 22.0 * s), max(4.0, 18.0 * s)
    u = (xs % cw) / cw - 0.5
    v = (ys % ch) / ch
    stitch = 0.5 + 0.5 * np.cos(2 * np.pi * (v - 1.1 * np.abs(u)))
    gap = 1 - np.clip((2 * np.abs(u)) ** 6, 0, 1)
    fuzz = cv2.GaussianBlur(rng.normal(0, 1, size=(h, w)).astype(np.float32), (0, 0), 0.8) * 0.05
    lum = np.clip(0.55 + 0.4 * stitch * gap + fuzz - 0.25 * (1 - gap), 0, 1.1)[..., None]
    return _rgb(colour) * lum


def _leather(w: int, h: int, seed: int, colour: str) -> np.ndarray:
    rng = np.random.default_rng(seed)
    grain = cv2.GaussianBlur(rng.normal(0, 1, size=(h, w)).astype(np.float32), (0, 0), 2.0) * 0.12
    return _rgb(colour) * np.clip(1 + grain, 0.8, 1.2)[..., None]


# --- subjects -------------------------------------------------------------------------------------

_TEE = [
    (690, 330),
    (560, 360),
    (330, 560),
    (430, 760),
    (540, 680),
    (540, 1650),
    (1060, 1650),
    (1060, 680),
    (1170, 760),
    (1270, 560),
    (1040, 360),
    (910, 330),
]


def _draw_tee(colour: str, seed: int) -> Callable[[int, int], np.ndarray]:
    def draw(w: int, h: int) -> np.ndarray:
        mask = _poly_mask(w, h, [_TEE])
        neck_c, neck_axes = _pt(w, h, 800, 330), _pt(w, h, 115, 75)
        cv2.ellipse(mask, neck_c, neck_axes, 0, 0, 180, 0, -1, cv2.LINE_AA)
        surface = _plain(w, h, colour)
        rib = np.zeros((h, w), np.uint8)
        cv2.ellipse(rib, neck_c, neck_axes, 0, 0, 180, 255, max(2, int(22 * w / DESIGN_W)), cv2.LINE_AA)
        surface *= 1 - 0.18 * rib[..., None] / 255  # darker collar rib
        return _compose(w, h, mask, surface, folds=0.06, seed=seed)

    return draw


def _draw_dress(w: int, h: int) -> np.ndarray:
    hem = [(1230 - k * 43.0, 1750 + 25 * np.sin(k * 0.9)) for k in range(21)]
    body = [(650, 430), (950, 430), (965, 560), (905, 770), *hem, (695, 770), (635, 560)]
    mask = _poly_mask(w, h, [body])
    lw = max(2, int(14 * w / DESIGN_W))
    cv2.line(mask, _pt(w, h, 690, 250), _pt(w, h, 680, 440), 255, lw, cv2.LINE_AA)
    cv2.line(mask, _pt(w, h, 910, 250), _pt(w, h, 920, 440), 255, lw, cv2.LINE_AA)
    return _compose(w, h, mask, _floral_print(w, h), folds=0.10, seed=11)


def _draw_hoodie(w: int, h: int) -> np.ndarray:
    body = [
        (680, 400),
        (520, 430),
        (400, 560),
        (300, 1350),
        (430, 1375),
        (505, 820),
        (510, 1600),
        (1090, 1600),
        (1095, 820),
        (1170, 1375),
        (1300, 1350),
        (1200, 560),
        (1080, 430),
        (920, 400),
    ]
    mask = _poly_mask(w, h, [body])
    cv2.ellipse(mask, _pt(w, h, 800, 380), _pt(w, h, 200, 175), 0, 0, 360, 255, -1, cv2.LINE_AA)
    surface = _plain(w, h, "#9a9ea3")
    marks = np.zeros((h, w), np.uint8)  # seams, pocket and hood opening, drawn darker
    t = max(2, int(8 * w / DESIGN_W))
    cv2.ellipse(marks, _pt(w, h, 800, 400), _pt(w, h, 120, 120), 0, 0, 360, 255, -1, cv2.LINE_AA)
    pocket = np.array([_pt(w, h, x, y) for x, y in [(610, 1250), (990, 1250), (1040, 1520), (560, 1520)]])
    cv2.polylines(marks, [pocket], True, 160, t, cv2.LINE_AA)
    cv2.rectangle(marks, _pt(w, h, 510, 1530), _pt(w, h, 1090, 1600), 110, -1)
    surface *= 1 - 0.35 * marks[..., None] / 255
    # The logo: an emblem and a word mark, off-white on the chest (drift shows first on letters).
    logo = np.zeros((h, w), np.uint8)
    s = w / DESIGN_W
    cv2.circle(logo, _pt(w, h, 800, 720), max(3, int(70 * s)), 255, max(1, int(10 * s)), cv2.LINE_AA)
    cv2.putText(logo, "N", _pt(w, h, 765, 752), cv2.FONT_HERSHEY_DUPLEX, 2.4 * s, 255, max(1, int(7 * s)), cv2.LINE_AA)
    scale = 2.2 * s
    thick = max(1, int(6 * s))
    (tw, _), _ = cv2.getTextSize("NORDWIND", cv2.FONT_HERSHEY_DUPLEX, scale, thick)
    cv2.putText(
        logo,
        "NORDWIND",
        (int(800 * s - tw / 2), int(920 * h / DESIGN_H)),
        cv2.FONT_HERSHEY_DUPLEX,
        scale,
        255,
        thick,
        cv2.LINE_AA,
    )
    a = logo[..., None].astype(np.float32) / 255
    surface = surface * (1 - a) + _rgb("#f4f1ea") * a
    return _compose(w, h, mask, surface, folds=0.07, seed=12)


def _draw_trousers(w: int, h: int) -> np.ndarray:
    legs = [
        (560, 260),
        (1040, 260),
        (1070, 600),
        (1050, 1800),
        (840, 1800),
        (800, 760),
        (760, 1800),
        (550, 1800),
        (530, 600),
    ]
    mask = _poly_mask(w, h, [legs])
    surface = _denim(w, h, seed=13)
    marks = np.zeros((h, w), np.uint8)
    t = max(1, int(5 * w / DESIGN_W))
    cv2.line(marks, _pt(w, h, 555, 340), _pt(w, h, 1045, 340), 255, t, cv2.LINE_AA)  # waistband seam
    cv2.line(marks, _pt(w, h, 800, 340), _pt(w, h, 800, 700), 255, t, cv2.LINE_AA)  # fly
    cv2.ellipse(marks, _pt(w, h, 620, 340), _pt(w, h, 110, 120), 0, 0, 90, 255, t, cv2.LINE_AA)  # pockets
    cv2.ellipse(marks, _pt(w, h, 980, 340), _pt(w, h, 110, 120), 0, 90, 180, 255, t, cv2.LINE_AA)
    stitch = np.zeros((h, w), np.uint8)  # the orange top-stitching denim is known for
    cv2.line(stitch, _pt(w, h, 555, 330), _pt(w, h, 1045, 330), 255, max(1, t // 2), cv2.LINE_AA)
    surface *= 1 - 0.45 * marks[..., None] / 255
    a = stitch[..., None].astype(np.float32) / 255
    surface = surface * (1 - a) + _rgb("#d08a3a") * a
    cv2.circle(mask, _pt(w, h, 800, 300), max(2, int(16 * w / DESIGN_W)), 255, -1)  # button (inside mask)
    return _compose(w, h, mask, surface, folds=0.05, seed=13)


def _draw_scarf(w: int, h: int) -> np.ndarray:
    ys = np.linspace(250, 1750, 31)
    left = [(700 + 70 * np.sin(y / 280), y) for y in ys]
    right = [(x + 280 + 20 * np.cos(y / 200), y) for x, y in left][::-1]
    mask = _poly_mask(w, h, [left + right])
    s = w / DESIGN_W
    x0, _ = left[-1]
    x1 = right[0][0]
    for k in range(int((x1 - x0) / 16) + 1):  # fringe
        x = x0 + 8 + 16 * k
        cv2.line(mask, _pt(w, h, x, 1745), _pt(w, h, x + 6 * np.sin(k), 1840), 255, max(1, int(6 * s)), cv2.LINE_AA)
    return _compose(w, h, mask, _knit(w, h, seed=14, colour="#c9a227"), folds=0.12, seed=14)


def _draw_bag(w: int, h: int) -> np.ndarray:
    body = [(480, 800), (1120, 800), (1180, 1650), (420, 1650)]
    mask = _poly_mask(w, h, [body])
    t = max(3, int(36 * w / DESIGN_W))
    for cx in (650, 950):
        cv2.ellipse(mask, _pt(w, h, cx, 800), _pt(w, h, 90, 330), 0, 180, 360, 255, t, cv2.LINE_AA)
    surface = _leather(w, h, seed=15, colour="#b07a45")
    seam = np.zeros((h, w), np.uint8)
    cv2.line(seam, _pt(w, h, 470, 880), _pt(w, h, 1130, 880), 255, max(1, int(4 * w / DESIGN_W)), cv2.LINE_AA)
    surface *= 1 - 0.3 * seam[..., None] / 255
    return _compose(w, h, mask, surface, folds=0.03, seed=15)


PHOTOS: dict[str, _Photo] = {
    "tee-red": _Photo("images/tee-red.png", _draw_tee("#c62f35", seed=10)),
    "tee-navy": _Photo("images/tee-navy.png", _draw_tee("#243a66", seed=16)),
    "dress-print": _Photo("images/dress-print.png", _draw_dress),
    "hoodie-logo": _Photo("images/hoodie-logo.jpg", _draw_hoodie),
    "jeans-denim": _Photo("images/jeans-denim.png", _draw_trousers),
    "scarf-knit": _Photo("images/scarf-knit.jpg", _draw_scarf),
    "tote-tan": _Photo("images/tote-tan.png", _draw_bag),
}

SKUS: tuple[SampleSku, ...] = (
    # Two sizes of one colour share one photo: planning makes one work item for both.
    SampleSku("TEE-RED-S", "tee-red", "Classic cotton tee", "red", "TEE-CLASSIC", "2026-11-20T09:00:00Z"),
    SampleSku("TEE-RED-M", "tee-red", "Classic cotton tee", "red", "TEE-CLASSIC", "2026-11-20T09:00:00Z"),
    SampleSku("TEE-NAVY-M", "tee-navy", "Classic cotton tee", "navy", "TEE-CLASSIC", "2026-11-20T09:00:00Z"),
    SampleSku(
        "DRS-FLORAL-M", "dress-print", "Floral print midi dress", "navy floral", "DRS-FLORAL", "2026-11-21T10:30:00Z"
    ),
    SampleSku("HOOD-LOGO-L", "hoodie-logo", "Logo hoodie", "heather grey", "HOOD-LOGO", "2026-11-21T11:00:00Z"),
    SampleSku("JEAN-INDIGO-32", "jeans-denim", "Straight leg jeans", "indigo", "JEAN-STRAIGHT", "2026-11-22T08:15:00Z"),
    SampleSku("SCF-KNIT-OS", "scarf-knit", "Chunky knit scarf", "mustard", "SCF-KNIT", "2026-11-22T14:45:00Z"),
    SampleSku("BAG-TOTE-TAN", "tote-tan", "Leather tote", "tan", "BAG-TOTE", "2026-11-23T16:20:00Z"),
)


def draw_sample_catalog(
    out_dir: Path, *, size: tuple[int, int] = (DESIGN_W, DESIGN_H), photos: Sequence[str] | None = None
) -> Path:
    """Draw the sample photos under ``out_dir/images/`` and write ``out_dir/catalog.csv``; returns the CSV.

    ``size`` is (width, height) of every photo (1600x2000 by default); ``photos`` picks a subset by photo
    name (keys of ``PHOTOS``, e.g. ``["tee-red", "hoodie-logo"]``) for fast tests. Deterministic.
    """
    out_dir = Path(out_dir)
    w, h = size
    if w < 32 or h < 32:
        raise ValueError(f"sample photo size must be at least 32x32, got {w}x{h}")
    chosen = list(PHOTOS) if photos is None else list(photos)
    unknown = [p for p in chosen if p not in PHOTOS]
    if unknown:
        raise ValueError(f"unknown sample photo(s): {', '.join(unknown)}; known: {', '.join(PHOTOS)}")
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    for name in chosen:
        photo = PHOTOS[name]
        rgb = photo.draw(w, h)
        path = out_dir / photo.file
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        params = [cv2.IMWRITE_JPEG_QUALITY, 92] if path.suffix == ".jpg" else [cv2.IMWRITE_PNG_COMPRESSION, 1]
        if not cv2.imwrite(str(path), bgr, params):
            raise OSError(f"could not write {path}")
    csv_path = out_dir / "catalog.csv"
    with open(csv_path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for sku in SKUS:
            if sku.photo in chosen:
                writer.writerow(
                    [sku.sku, PHOTOS[sku.photo].file, sku.title, sku.color, sku.item_group_id, sku.updated_at]
                )
    return csv_path
