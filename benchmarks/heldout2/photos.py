"""The v2 products: drawn garments and scikit-image photographs laid out as prints, each on a studio
sweep, as separate layers (subject, alpha, clean backdrop) so the clips can move them apart."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np
import skimage.data

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Product:
    name: str
    subject: np.ndarray  # HxWx3 uint8, the garment's colours (meaningful where alpha > 0)
    alpha: np.ndarray  # HxW float32 in [0, 1]
    backdrop: np.ndarray  # HxWx3 uint8, the sweep with the contact shadow, no subject
    box: Box  # the garment's extent x0, y0, x1, y1 (photo px)
    anchor_y: int  # shoulders / hanger / waistband: fabric above this line does not move
    detail: tuple[int, int]  # the print / texture centre a close-up aims at
    print_box: Box | None  # where the print or text is (smear and melt act here)

    @property
    def rgb(self) -> np.ndarray:
        a = self.alpha[:, :, None]
        return (self.subject * a + self.backdrop * (1.0 - a) + 0.5).astype(np.uint8)

    @property
    def height(self) -> int:
        return self.box[3] - self.box[1]

    @property
    def width(self) -> int:
        return self.box[2] - self.box[0]


def _rng(name: str) -> np.random.Generator:
    return np.random.default_rng(sum(ord(c) * 131**i for i, c in enumerate(name)) % 2**32)


def sweep(w: int, h: int, rng: np.random.Generator, tint=(244, 242, 238), floor_at: float = 0.86) -> np.ndarray:
    """A paper sweep: a wall darkening slightly towards a curved floor line, a little paper grain."""
    y = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None]
    light = 1.0 - 0.05 * y - 0.05 * np.clip((y - floor_at) / (1 - floor_at), 0, 1) ** 0.7
    grain = cv2.GaussianBlur(rng.normal(0, 1.0, (h, w)).astype(np.float32), (0, 0), 3.0)
    img = np.asarray(tint, np.float32)[None, None, :] * (light + 0.004 * grain)[:, :, None]
    return np.clip(img, 0, 255)


def shadow(back: np.ndarray, alpha: np.ndarray, strength: float = 0.12) -> np.ndarray:
    """A soft contact shadow offset down and right of the subject, printed into the backdrop."""
    h, w = alpha.shape
    m = np.float32([[1, 0, 0.012 * w], [0, 1, 0.015 * h]])
    shade = cv2.GaussianBlur(cv2.warpAffine(alpha, m, (w, h)), (0, 0), 0.02 * w)
    return back * (1.0 - strength * shade)[:, :, None]


def _mask(w: int, h: int, polys: list[list[tuple[float, float]]], ellipses=()) -> np.ndarray:
    m = np.zeros((h, w), np.uint8)
    for poly in polys:
        cv2.fillPoly(m, [np.int32([(x * w, y * h) for x, y in poly])], 255, cv2.LINE_AA)
    for (cx, cy), (ax, ay) in ellipses:
        cv2.ellipse(m, (int(cx * w), int(cy * h)), (int(ax * w), int(ay * h)), 0, 0, 360, 255, -1, cv2.LINE_AA)
    return cv2.GaussianBlur(m.astype(np.float32) / 255.0, (0, 0), 1.0)


def _folds(alpha: np.ndarray, rng: np.random.Generator, n: int = 7, depth: float = 0.1) -> np.ndarray:
    """Soft vertical folds and a top-light falloff: a multiplier near 1 over the garment."""
    h, w = alpha.shape
    x = np.linspace(0, 1, w, dtype=np.float32)[None, :]
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None]
    f = np.zeros((h, w), np.float32)
    for _ in range(n):
        c, s, a = rng.uniform(0.15, 0.85), rng.uniform(0.01, 0.04), rng.uniform(0.3, 1.0)
        f += a * np.exp(-(((x - c) / s) ** 2)) * (0.4 + y)
    edge = cv2.GaussianBlur(alpha, (0, 0), 0.01 * w)
    return 1.0 - depth * f / max(1e-6, f.max()) - 0.06 * y + 0.05 * (edge - 1.0)


def _tile(tex: np.ndarray, h: int, w: int) -> np.ndarray:
    reps = (h // tex.shape[0] + 1, w // tex.shape[1] + 1) + ((1,) if tex.ndim == 3 else ())
    return np.tile(tex, reps)[:h, :w]


def _hipass(name: str, h: int, w: int, sigma: float = 6.0) -> np.ndarray:
    """A scikit-image texture (brick, gravel, grass) as a zero-mean fabric modulation in [-1, 1]."""
    g = getattr(skimage.data, name)().astype(np.float32) / 255.0
    g = g - cv2.GaussianBlur(g, (0, 0), sigma)
    return _tile(g / (3 * g.std() + 1e-6), h, w)


def cable_knit(h: int, w: int) -> np.ndarray:
    """Knit stitches (7 px V rows) with twisted cables every 120 px: a multiplier near 1."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    stitch = np.abs(((x % 8) - 4) / 4.0) * 0.5 + 0.5 * np.cos(2 * np.pi * (y + 2 * np.abs((x % 8) - 4)) / 7.0)
    col = (x % 120) / 120.0
    cable = np.where((col > 0.35) & (col < 0.65), np.cos(2 * np.pi * (y / 42.0 + 3.0 * (col - 0.5))), 0.0)
    return 1.0 + 0.10 * (stitch - 0.5) + 0.12 * cable


def plaid(h: int, w: int, base, bands) -> np.ndarray:
    """A flannel tartan: crossing bands of colour with a 3 px twill hatch."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.empty((h, w, 3), np.float32)
    img[:] = base
    for period, width, colour, weight in bands:
        vx = ((x % period) < width).astype(np.float32)
        vy = ((y % period) < width).astype(np.float32)
        for mask in (vx, vy):
            img += weight * mask[:, :, None] * (np.asarray(colour, np.float32) - img)
    hatch = (((x + y) % 3) < 1).astype(np.float32)
    return img * (1.0 - 0.08 * hatch[:, :, None])


def denim(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """Indigo 3/1 twill: bright and dark diagonal yarns every 4 px, slub from gravel, a faded centre."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    twill = ((x + 2 * y) % 8 < 3).astype(np.float32)
    slub = _hipass("gravel", h, w, 3.0)
    base = np.asarray((52, 74, 118), np.float32)
    light = np.asarray((120, 142, 178), np.float32)
    mix = np.clip(0.25 * twill + 0.12 * slub + 0.05 * rng.normal(0, 1, (h, w)).astype(np.float32), 0, 1)
    return base + mix[:, :, None] * (light - base)


def _paint(colour, mult: np.ndarray) -> np.ndarray:
    if mult.ndim == 3:
        return np.clip(mult, 0, 255)
    return np.clip(np.asarray(colour, np.float32)[None, None, :] * mult[:, :, None], 0, 255)


def _text(img: np.ndarray, lines: list[str], box: Box, colour, thickness: int) -> None:
    x0, y0, x1, y1 = box
    step = (y1 - y0) / len(lines)
    ink = np.zeros(img.shape[:2], np.uint8)  # putText draws on uint8 only: draw coverage, then tint
    for i, line in enumerate(lines):
        (tw, th), _ = cv2.getTextSize(line, cv2.FONT_HERSHEY_DUPLEX, 1.0, thickness)
        scale = min((x1 - x0) / tw, 0.7 * step / th)
        (tw, th), _ = cv2.getTextSize(line, cv2.FONT_HERSHEY_DUPLEX, scale, thickness)
        org = (int((x0 + x1 - tw) / 2), int(y0 + i * step + (step + th) / 2))
        cv2.putText(ink, line, org, cv2.FONT_HERSHEY_DUPLEX, scale, 255, thickness, cv2.LINE_AA)
    a = ink.astype(np.float32)[:, :, None] / 255.0
    img[:] = img * (1 - a) + np.asarray(colour, np.float32) * a


def _paste(img: np.ndarray, pic: np.ndarray, box: Box, opacity: float = 0.92) -> None:
    x0, y0, x1, y1 = box
    pic = cv2.resize(pic, (x1 - x0, y1 - y0), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    img[y0:y1, x0:x1] = opacity * pic + (1 - opacity) * img[y0:y1, x0:x1]


def _box_of(alpha: np.ndarray) -> Box:
    ys, xs = np.nonzero(alpha > 0.5)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def _top(sleeve_drop: float, hem: float = 0.8, width=(0.3, 0.7), collar: bool = False):
    """A top's silhouette: shoulders at y=0.16, sleeves falling outwards, body to `hem`."""
    left, r = width
    body = [(0.42, 0.14), (0.58, 0.14), (r, 0.18), (r + 0.01, hem), (left - 0.01, hem), (left, 0.18)]
    ls = [(left, 0.18), (left - 0.08, 0.22 + 0.2 * sleeve_drop), (left - 0.13, 0.2 + 0.45 * sleeve_drop),
          (left - 0.06, 0.22 + 0.47 * sleeve_drop), (left + 0.01, 0.34)]  # fmt: skip
    rs = [(1 - x, y) for x, y in ls]
    polys = [body, ls, rs]
    if collar:
        polys.append([(0.42, 0.14), (0.5, 0.2), (0.58, 0.14), (0.55, 0.12), (0.45, 0.12)])
    return polys


def _finish(name, w, h, rng, alpha, paint, anchor, detail, print_box=None) -> Product:
    back = shadow(sweep(w, h, rng), alpha)
    subject = np.clip(paint, 0, 255).astype(np.uint8)
    return Product(name, subject, alpha, back.astype(np.uint8), _box_of(alpha), anchor, detail, print_box)


def cable_sweater(w=1800, h=2250) -> Product:
    rng = _rng("sweater")
    alpha = _mask(w, h, _top(1.0, 0.78, (0.29, 0.71)))
    mult = cable_knit(h, w) * _folds(alpha, rng) * (1 + 0.05 * _hipass("grass", h, w, 2.0))
    paint = _paint((196, 168, 120), mult)
    y0, y1 = int(0.72 * h), int(0.78 * h)  # ribbed hem
    x = np.arange(w, dtype=np.float32)
    paint[y0:y1] *= (0.92 + 0.08 * np.cos(2 * np.pi * x / 9.0))[None, :, None]
    return _finish("sweater", w, h, rng, alpha, paint, int(0.17 * h), (w // 2, int(0.45 * h)))


def flannel_shirt(w=1800, h=2250) -> Product:
    rng = _rng("flannel")
    alpha = _mask(w, h, _top(0.8, 0.8, (0.3, 0.7), collar=True))
    tartan = plaid(h, w, (150, 28, 34), [(96, 30, (24, 24, 28), 0.8), (96, 8, (230, 220, 200), 0.5),
                                         (32, 4, (20, 60, 40), 0.35)])  # fmt: skip
    paint = _paint(None, tartan * _folds(alpha, rng)[:, :, None])
    for i in range(6):  # buttons on the placket
        cv2.circle(paint, (w // 2, int((0.24 + 0.09 * i) * h)), 14, (235, 230, 215), -1, cv2.LINE_AA)
    return _finish("flannel", w, h, rng, alpha, paint, int(0.17 * h), (int(0.46 * w), int(0.45 * h)))


def polka_blouse(w=1800, h=2250) -> Product:
    rng = _rng("blouse")
    polys = _top(0.5, 0.74, (0.32, 0.68))
    alpha = _mask(w, h, polys, [((0.24, 0.25), (0.07, 0.06)), ((0.76, 0.25), (0.07, 0.06))])
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    dots = (((x % 64) - 32) ** 2 + ((y + 32 * ((x // 64) % 2)) % 64 - 32) ** 2 < 13**2).astype(np.float32)
    dots = cv2.GaussianBlur(dots, (0, 0), 0.8)
    col = np.asarray((28, 36, 70), np.float32) + dots[:, :, None] * np.asarray((214, 208, 180), np.float32)
    paint = _paint(None, col * _folds(alpha, rng, 9, 0.14)[:, :, None])
    return _finish("blouse", w, h, rng, alpha, paint, int(0.17 * h), (w // 2, int(0.4 * h)))


def denim_jacket(w=1800, h=2250) -> Product:
    """Seen from the back, with scikit-image's logo as a large back print."""
    rng = _rng("denim")
    alpha = _mask(w, h, _top(0.9, 0.7, (0.28, 0.72), collar=True))
    paint = denim(h, w, rng) * _folds(alpha, rng, 6, 0.08)[:, :, None]
    logo = skimage.data.logo()
    pb = (int(0.37 * w), int(0.26 * h), int(0.63 * w), int(0.26 * h) + int(0.26 * w))
    la = logo[:, :, 3:4].astype(np.float32) / 255.0
    pic = logo[:, :, :3].astype(np.float32) * la + paint[pb[1] : pb[3], pb[0] : pb[2]].mean((0, 1)) * (1 - la)
    _paste(paint, pic, pb)
    for yy in (0.22, 0.62):  # yoke and waistband seams: orange stitching
        cv2.line(paint, (int(0.29 * w), int(yy * h)), (int(0.71 * w), int(yy * h)), (206, 120, 40), 4, cv2.LINE_AA)
    return _finish(
        "denim_jacket", w, h, rng, alpha, paint, int(0.17 * h), ((pb[0] + pb[2]) // 2, (pb[1] + pb[3]) // 2), pb
    )


def slogan_tote(w=2000, h=2000) -> Product:
    """A canvas tote with a printed slogan and a block of scikit-image's `page` text under it."""
    rng = _rng("tote")
    bag = [(0.26, 0.34), (0.74, 0.34), (0.77, 0.88), (0.23, 0.88)]
    m = np.zeros((h, w), np.uint8)
    for cx in (0.38, 0.62):  # handles as thick arcs
        cv2.ellipse(m, (int(cx * w), int(0.34 * h)), (int(0.07 * w), int(0.2 * h)), 0, 180, 360, 255, 34, cv2.LINE_AA)
    alpha = np.maximum(_mask(w, h, [bag]), cv2.GaussianBlur(m.astype(np.float32) / 255, (0, 0), 1.0))
    canvas = _paint((226, 214, 188), _folds(alpha, rng, 5, 0.06) * (1 + 0.06 * _hipass("brick", h, w, 2.0)))
    tb = (int(0.31 * w), int(0.42 * h), int(0.69 * w), int(0.62 * h))
    _text(canvas, ["SLOW", "MADE GOODS"], tb, (30, 40, 36), 5)
    page = cv2.cvtColor(skimage.data.page(), cv2.COLOR_GRAY2RGB).astype(np.float32)
    page = 226 - (255 - page) * 0.85  # the page's ink printed onto the canvas colour
    pb = (int(0.31 * w), int(0.65 * h), int(0.69 * w), int(0.65 * h) + int(0.19 * w))
    _paste(canvas, page, pb, 1.0)
    print_box = (tb[0], tb[1], pb[2], pb[3])
    return _finish("tote", w, h, rng, alpha, canvas, int(0.34 * h), (w // 2, int(0.52 * h)), print_box)


def trench_coat(w=1600, h=2400) -> Product:
    rng = _rng("trench")
    body = [(0.4, 0.1), (0.6, 0.1), (0.69, 0.14), (0.73, 0.86), (0.27, 0.86), (0.31, 0.14)]
    ls = [(0.31, 0.14), (0.22, 0.2), (0.18, 0.52), (0.24, 0.53), (0.32, 0.3)]
    rs = [(1 - x, y) for x, y in ls]
    alpha = _mask(w, h, [body, ls, rs])
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    gab = 1 + 0.05 * (((3 * x + y) % 6) < 2) + 0.05 * _hipass("gravel", h, w, 4.0)
    paint = _paint((190, 160, 112), gab * _folds(alpha, rng, 8, 0.12))
    cv2.rectangle(paint, (int(0.28 * w), int(0.44 * h)), (int(0.72 * w), int(0.47 * h)), (160, 128, 84), -1)
    for i in range(4):
        for xx in (0.45, 0.55):
            cv2.circle(paint, (int(xx * w), int((0.2 + 0.07 * i) * h)), 16, (60, 44, 30), -1, cv2.LINE_AA)
    cv2.line(paint, (w // 2, int(0.12 * h)), (w // 2, int(0.86 * h)), (120, 96, 64), 3, cv2.LINE_AA)
    return _finish("trench", w, h, rng, alpha, paint, int(0.12 * h), (w // 2, int(0.3 * h)))


def pleated_skirt(w=1800, h=2250) -> Product:
    rng = _rng("skirt")
    alpha = _mask(w, h, [[(0.37, 0.16), (0.63, 0.16), (0.75, 0.84), (0.25, 0.84)]])
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    fan = (x - w / 2) / (0.26 + 0.5 * (y / h - 0.16)) / w  # pleats widen towards the hem
    pleat = 1 - 0.16 * (0.5 + 0.5 * np.sin(2 * np.pi * fan * 22)) ** 3
    paint = _paint((42, 110, 96), pleat * _folds(alpha, rng, 4, 0.06))
    cv2.rectangle(paint, (int(0.37 * w), int(0.16 * h)), (int(0.63 * w), int(0.2 * h)), (30, 80, 70), -1)
    return _finish("skirt", w, h, rng, alpha, paint, int(0.19 * h), (w // 2, int(0.5 * h)))


def wide_trousers(w=1800, h=2250) -> Product:
    rng = _rng("trousers")
    legs = [[(0.36, 0.14), (0.5, 0.14), (0.5, 0.3), (0.46, 0.88), (0.3, 0.88)],
            [(0.5, 0.14), (0.64, 0.14), (0.7, 0.88), (0.54, 0.88), (0.5, 0.3)]]  # fmt: skip
    alpha = _mask(w, h, legs)
    tweed = 1 + 0.09 * _hipass("brick", h, w, 3.0) + 0.05 * _hipass("grass", h, w, 1.5)
    paint = _paint((92, 88, 84), tweed * _folds(alpha, rng, 6, 0.1))
    cv2.rectangle(paint, (int(0.36 * w), int(0.14 * h)), (int(0.64 * w), int(0.18 * h)), (70, 66, 62), -1)
    return _finish("trousers", w, h, rng, alpha, paint, int(0.18 * h), (int(0.4 * w), int(0.45 * h)))


def ihc_print(w=1800, h=2250) -> Product:
    """scikit-image's immunohistochemistry photograph as framed wall art (a black frame, white mount)."""
    rng = _rng("ihc")
    alpha = _mask(w, h, [[(0.2, 0.14), (0.8, 0.14), (0.8, 0.82), (0.2, 0.82)]])
    paint = np.zeros((h, w, 3), np.float32) + 24
    x0, y0, x1, y1 = int(0.23 * w), int(0.165 * h), int(0.77 * w), int(0.795 * h)
    paint[y0:y1, x0:x1] = 246
    pb = (int(0.28 * w), int(0.2 * h), int(0.72 * w), int(0.2 * h) + int(0.44 * w))
    _paste(paint, skimage.data.immunohistochemistry(), pb, 1.0)
    return _finish(
        "ihc_print", w, h, rng, alpha, paint, int(0.14 * h), ((pb[0] + pb[2]) // 2, (pb[1] + pb[3]) // 2), pb
    )


def colorwheel_scarf(w=2000, h=2000) -> Product:
    """A square silk scarf printed with scikit-image's colorwheel and a coins border, hung by a corner."""
    rng = _rng("scarf")
    alpha = _mask(w, h, [[(0.5, 0.1), (0.84, 0.46), (0.5, 0.88), (0.16, 0.46)]])
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    paint = np.zeros((h, w, 3), np.float32) + (214, 196, 150)
    coins = cv2.cvtColor(skimage.data.coins(), cv2.COLOR_GRAY2RGB).astype(np.float32)
    _paste(paint, _tile(coins, 600, 600), (int(0.2 * w), int(0.14 * h), int(0.8 * w), int(0.84 * h)), 0.35)
    pb = (int(0.32 * w), int(0.3 * h), int(0.68 * w), int(0.66 * h))
    _paste(paint, skimage.data.colorwheel(), pb, 0.95)
    sheen = 1 + 0.04 * np.sin(2 * np.pi * (x + y) / 300.0)
    paint = paint * (sheen * _folds(alpha, rng, 5, 0.05))[:, :, None]
    return _finish("scarf", w, h, rng, alpha, paint, int(0.14 * h), (w // 2, int(0.48 * h)), pb)


DRAW = {
    "sweater": cable_sweater,
    "flannel": flannel_shirt,
    "blouse": polka_blouse,
    "denim_jacket": denim_jacket,
    "tote": slogan_tote,
    "trench": trench_coat,
    "skirt": pleated_skirt,
    "trousers": wide_trousers,
    "ihc_print": ihc_print,
    "scarf": colorwheel_scarf,
}


@cache
def product(name: str) -> Product:
    return DRAW[name]()
