"""Labelled synthetic clips for testing and calibrating the gate: a product photo, a camera move, defects.

Good clips move the camera over the photo (zoom, pan, breathing loop) or sway the subject slightly;
bad clips inject one known defect at a chosen strength. Everything is deterministic per seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


def draw_garment_photo(
    width: int = 512, height: int = 640, seed: int = 0, *, spread: float = 1.0, fine_print: bool = False
) -> np.ndarray:
    """A studio product photo: a T-shirt-like garment with a fabric weave, a striped print and a text logo
    on an off-white sweep. `spread` scales the garment (1.0: the sleeves reach the photo's sides; 0.75
    leaves a margin all round); `fine_print` adds a line of small text (`fine_print_box`), detail that
    only a full-resolution view of a 1080p clip resolves."""
    rng = np.random.default_rng(seed)
    img = np.empty((height, width, 3), np.float32)
    ramp = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    img[:] = (246 - 8 * ramp) * np.ones(3, np.float32)  # soft studio gradient, near white
    cx, cy = width / 2, height * 0.52
    sw, sh = width * 0.30 * spread, height * 0.36 * spread
    body = np.array(
        [
            [cx - sw, cy - sh * 0.8],
            [cx - sw * 1.7, cy - sh * 0.45],
            [cx - sw * 1.35, cy - sh * 0.15],
            [cx - sw * 0.95, cy - sh * 0.35],
            [cx - sw * 0.95, cy + sh],
            [cx + sw * 0.95, cy + sh],
            [cx + sw * 0.95, cy - sh * 0.35],
            [cx + sw * 1.35, cy - sh * 0.15],
            [cx + sw * 1.7, cy - sh * 0.45],
            [cx + sw, cy - sh * 0.8],
            [cx + sw * 0.35, cy - sh * 0.8],
            [cx, cy - sh * 0.62],
            [cx - sw * 0.35, cy - sh * 0.8],
        ],
        np.int32,
    )
    mask = np.zeros((height, width), np.uint8)
    cv2.fillPoly(mask, [body], 255, lineType=cv2.LINE_AA)
    hue = rng.uniform(0, 1)
    base = np.array(cv2.cvtColor(np.uint8([[[hue * 179, 150, 170]]]), cv2.COLOR_HSV2RGB)[0, 0], np.float32)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    weave = 10 * np.sin(xx * 0.9) * np.sin(yy * 0.9) + rng.normal(0, 6, (height, width)).astype(np.float32)
    shade = 1.0 - 0.25 * ((xx - cx) / (sw * 1.7)) ** 2
    cloth = base[None, None, :] * shade[..., None] + weave[..., None]
    stripes = ((yy - cy) // max(4, height // 40)) % 2 == 0
    band = (np.abs(yy - (cy + sh * 0.45)) < sh * 0.18) & stripes
    accent = np.array([30, 30, 40], np.float32) if base.mean() > 110 else np.array([235, 230, 220], np.float32)
    cloth[band] = accent + weave[band][:, None]
    garment = mask.astype(np.float32)[..., None] / 255.0
    img = img * (1 - garment) + cloth * garment
    # chest logo: text and a ring, the kind of detail that melts first in generated video
    scale = width / 512
    img = np.clip(img, 0, 255).astype(np.uint8)
    cv2.putText(
        img,
        "CM-26",
        (int(cx - 62 * scale), int(cy - sh * 0.05)),
        cv2.FONT_HERSHEY_DUPLEX,
        1.2 * scale,
        tuple(float(c) for c in accent),
        max(1, int(2 * scale)),
        cv2.LINE_AA,
    )
    cv2.circle(
        img,
        (int(cx), int(cy + sh * 0.2)),
        int(22 * scale),
        tuple(float(c) for c in accent),
        max(1, int(3 * scale)),
        cv2.LINE_AA,
    )
    if fine_print:
        (x0, y0, _, _), font = fine_print_box(width, height, spread), 0.34 * scale * spread
        for k, line in enumerate(("ORGANIC COTTON 100% - MADE IN PORTUGAL", "WASH 30 - DO NOT TUMBLE DRY")):
            cv2.putText(
                img,
                line,
                (x0, int(y0 + (k + 1) * 16 * scale * spread)),
                cv2.FONT_HERSHEY_SIMPLEX,
                font,
                tuple(float(c) for c in accent),
                max(1, int(1.2 * scale)),
                cv2.LINE_AA,
            )
    # soft contact shadow under the garment
    shadow = np.zeros((height, width), np.float32)
    cv2.ellipse(shadow, (int(cx), int(cy + sh * 1.02)), (int(sw * 1.1), int(sh * 0.05)), 0, 0, 360, 1.0, -1)
    shadow = cv2.GaussianBlur(shadow, (0, 0), 6 * scale) * (1 - garment[..., 0])
    img = img.astype(np.float32) * (1 - 0.25 * shadow)[..., None]
    return np.clip(img, 0, 255).astype(np.uint8)


def draw_wide_garment_photo(width: int = 512, height: int = 640, seed: int = 0, *, reach: float = 0.8) -> np.ndarray:
    """A studio photo of a wide garment: a shirt laid out with its long, narrow sleeves outstretched, sleeve
    tip to sleeve tip `reach` x the photo's width (centred; < 1 leaves backdrop beyond the cuffs). The
    sleeves are a small share of the garment's area and most of its width: what a cover crop to a
    narrower frame cuts off first."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    img = (246 - 8 * ramp) * np.ones((height, width, 3), np.float32)
    cx, top = width / 2, height * 0.2
    half, body_w, body_h = reach * width / 2, width * 0.17, height * 0.66
    arm = height * 0.016  # half the sleeve's thickness: narrow sleeves
    shape = np.array(
        [
            [cx - body_w * 0.45, top],
            [cx - body_w, top + arm * 0.4],
            [cx - half, top + arm * 1.2],
            [cx - half, top + arm * 3.2],
            [cx - body_w, top + arm * 3.0],
            [cx - body_w * 0.95, top + body_h],
            [cx + body_w * 0.95, top + body_h],
            [cx + body_w, top + arm * 3.0],
            [cx + half, top + arm * 3.2],
            [cx + half, top + arm * 1.2],
            [cx + body_w, top + arm * 0.4],
            [cx + body_w * 0.45, top],
            [cx, top + arm * 0.8],
        ],
        np.int32,
    )
    mask = np.zeros((height, width), np.uint8)
    cv2.fillPoly(mask, [shape], 255, lineType=cv2.LINE_AA)
    hue = rng.uniform(0, 1)
    base = np.array(cv2.cvtColor(np.uint8([[[hue * 179, 160, 150]]]), cv2.COLOR_HSV2RGB)[0, 0], np.float32)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    weave = 9 * np.sin(xx * 0.8) * np.sin(yy * 0.8) + rng.normal(0, 5, (height, width)).astype(np.float32)
    stripes = (((xx - cx) // max(4, width // 60)) % 2 == 0)[..., None]
    cloth = base[None, None, :] + weave[..., None] + 25 * stripes
    garment = mask.astype(np.float32)[..., None] / 255.0
    img = img * (1 - garment) + cloth * garment
    return np.clip(img, 0, 255).astype(np.uint8)


def fine_print_box(width: int, height: int, spread: float = 1.0) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of the fine print `draw_garment_photo(fine_print=True)` draws, photo pixels."""
    scale = width / 512
    cx, cy, sh = width / 2, height * 0.52, height * 0.36 * spread
    sw = width * 0.30 * spread
    x0, y0 = int(cx - 0.8 * sw), int(cy + sh * 0.72)
    return x0, y0, int(cx + 0.8 * sw), int(y0 + 38 * scale * spread)


def garment_mask(photo: np.ndarray) -> np.ndarray:
    """Where the garment is in a `draw_garment_photo` image (for defect injection), bool HxW."""
    lab = cv2.cvtColor(photo, cv2.COLOR_RGB2LAB).astype(np.float32)
    background = np.median(np.concatenate([lab[:4].reshape(-1, 3), lab[-4:].reshape(-1, 3)]), axis=0)
    return np.linalg.norm(lab - background, axis=2) > 18


FABRICS = ("twill", "check", "knit", "large-print")  # `draw_fabric_garment` patterns


def draw_fabric_garment(
    width: int, height: int, fabric: str, seed: int = 5, *, spread: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """(photo, garment mask): `draw_garment_photo`'s garment and backdrop with its cloth replaced by a
    fabric whose detail is fine and repetitive, the kind where optical flow is ambiguous and a codec's
    noise looks like changed texture: `twill` (denim-like diagonal ribs, ~13 px period per 1350 px of
    photo height), `check` (small two-colour checks, 16 px squares), `knit` (columns of chevrons,
    14 px), or `large-print` (a repeating floral tile, 15 % of the width: a print a close-up frames).
    Periods never go below 6-8 photo px: a small clip made from a photo twice its size would otherwise
    show a weave of 2-3 px that any motion turns into moire."""
    if fabric not in FABRICS:
        raise ValueError(f"fabric must be one of {', '.join(FABRICS)}, not {fabric!r}")
    base = draw_garment_photo(width, height, seed=seed, spread=spread)
    mask = garment_mask(base)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    s = 2.0 * height / 1350.0  # pattern periods scale with the photo
    noise = rng.standard_normal((height, width)).astype(np.float32)
    if fabric == "twill":
        ribs = 0.5 + 0.5 * np.sin(2 * np.pi * (xx + 2 * yy) / max(6.0, 11.0 * s))
        cloth = np.array([48, 70, 120], np.float32) * (0.75 + 0.35 * ribs + 0.06 * noise)[..., None]
    elif fabric == "check":
        p = max(8.0, 8.0 * s)
        a, b = np.floor(xx / p) % 2, np.floor(yy / p) % 2
        dark, light, cross = (np.array(c, np.float32) for c in ((200, 40, 40), (240, 235, 225), (120, 30, 40)))
        cloth = np.where((a * b)[..., None] > 0, cross, np.where(((a + b) % 2)[..., None] > 0, dark, light))
        cloth = cv2.GaussianBlur(cloth, (0, 0), 0.6 * s) + 4 * noise[..., None]
    elif fabric == "knit":
        p = max(6.0, 7.0 * s)
        lean = np.where(np.floor(xx / p) % 2 > 0, 1.0, -1.0)
        v = np.abs(((yy + lean * (xx % p)) % p) / p - 0.5) * 2
        cloth = np.array([150, 150, 155], np.float32) * (0.7 + 0.45 * v + 0.05 * noise)[..., None]
    else:
        cloth = floral_tile(width, height, rng, max(16, int(width * 0.15))).astype(np.float32)
    m = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 0.7)[..., None]
    return np.clip(base * (1 - m) + cloth * m, 0, 255).astype(np.uint8), mask


def floral_tile(width: int, height: int, rng: np.random.Generator, t: int) -> np.ndarray:
    """A seamless repeating floral print (tile side `t`), tiled over width x height."""
    tile = np.zeros((t, t, 3), np.uint8)
    tile[:] = (28, 52, 88)
    colours = [(230, 90, 120), (250, 200, 80), (240, 240, 230), (150, 110, 200)]
    for _ in range(4):
        cx, cy, r = rng.uniform(0, t), rng.uniform(0, t), rng.uniform(0.12, 0.22) * t
        col = tuple(int(c) for c in colours[int(rng.integers(len(colours)))])
        a0 = rng.uniform(0, 360)
        for ox in (-t, 0, t):  # drawn on the torus, so the tile repeats seamlessly
            for oy in (-t, 0, t):
                for k in range(5):
                    a = np.deg2rad(a0 + 72 * k)
                    centre = (int(cx + ox + 0.55 * r * np.cos(a)), int(cy + oy + 0.55 * r * np.sin(a)))
                    cv2.ellipse(tile, centre, (int(0.5 * r), int(0.28 * r)), a0 + 72 * k, 0, 360, col, -1, cv2.LINE_AA)
                cv2.circle(tile, (int(cx + ox), int(cy + oy)), int(0.2 * r), (250, 220, 60), -1, cv2.LINE_AA)
    return np.tile(tile, (height // t + 1, width // t + 1, 1))[:height, :width]


def camera_frames(
    photo: np.ndarray,
    out_w: int,
    out_h: int,
    n: int,
    *,
    zoom: float = 0.1,
    pan: float = 0.0,
    path: str = "push_in",
    focus: tuple[float, float] = (0.5, 0.5),
) -> list[np.ndarray]:
    """Camera moves over `photo` with sub-pixel affine warps from the full-size photo.

    push_in zooms by `zoom` (0.1 = 10 %) toward `focus`; pan shifts by `pan` of the width; breathing
    zooms in and out and ends where it began (a loop)."""
    ph, pw = photo.shape[:2]
    base = max(out_w / pw, out_h / ph)
    frames = []
    # Anti-alias like a careful camera engine: blur by the downscale factor before resampling.
    smooth = cv2.GaussianBlur(photo, (0, 0), 0.5 / base) if base < 0.8 else photo
    for i in range(n):
        u = i / max(1, n - 1)
        # breathing has period n (frame n would equal frame 0); other paths ease in and out
        s = 0.5 - 0.5 * np.cos(2 * np.pi * i / n) if path == "breathing" else 0.5 - 0.5 * np.cos(np.pi * u)
        scale = base * (1 + zoom * s)
        fx, fy = focus[0] * pw, focus[1] * ph
        # keep the focus point at the same relative place on screen while zooming
        tx = out_w * focus[0] - fx * scale + pan * out_w * (s - 0.5)
        ty = out_h * focus[1] - fy * scale
        # a camera never looks past the photo's edge
        tx = min(0.0, max(out_w - pw * scale, tx))
        ty = min(0.0, max(out_h - ph * scale, ty))
        m = np.array([[scale, 0, tx], [0, scale, ty]], np.float32)
        frames.append(cv2.warpAffine(smooth, m, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT))
    return frames


# --- motion a real image-to-video model makes (good clips) and defects layered on it ---------------


@dataclass(frozen=True)
class MotionRecipe:
    """What moves in a synthetic clip, in units a reviewer can picture.

    Camera (the whole view): `path` push_in (eased zoom by `zoom` toward `focus`, starting at
    `start_zoom`: close-ups start tight), pan (`pan` = peak-to-peak travel / frame width, with `zoom`
    as the fixed extra zoom), breathing (zoom in by `zoom` and back: a loop), parallax_orbit (camera
    zooms by `zoom` and swings by `pan`; the subject layer slips by `parallax` / frame width against the
    backdrop), static. Garment (the subject layer, all / subject size): `sway` anchored at the
    shoulders / waistband and growing to the hem, `hem_wave` a travelling wave along the hem,
    `breathing` the chest rising. `softness`: Gaussian sigma in output px (a diffusion VAE round trip).
    Garment motion is periodic over the clip, so a loop clip closes."""

    path: str = "push_in"
    zoom: float = 0.0
    start_zoom: float = 1.0
    pan: float = 0.0
    focus: tuple[float, float] = (0.5, 0.5)
    sway: float = 0.0
    hem_wave: float = 0.0
    breathing: float = 0.0
    parallax: float = 0.0
    softness: float = 0.0


def clean_plate(photo: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The backdrop without the subject (inpainted at low resolution: a studio sweep is smooth), so the
    subject layer can move over it (parallax, sway) without dragging the background along."""
    h, w = mask.shape
    scale = min(1.0, 256 / max(h, w))
    small = cv2.resize(photo, (max(8, int(w * scale)), max(8, int(h * scale))), interpolation=cv2.INTER_AREA)
    hole = cv2.resize(mask.astype(np.uint8), small.shape[1::-1], interpolation=cv2.INTER_NEAREST)
    hole = cv2.dilate(hole, np.ones((5, 5), np.uint8), iterations=2)
    filled = cv2.inpaint(small, hole * 255, 9, cv2.INPAINT_TELEA)
    filled = cv2.GaussianBlur(filled, (0, 0), 3)
    plate = cv2.resize(filled, (w, h), interpolation=cv2.INTER_LINEAR)
    grow = max(3, int(0.012 * max(h, w)))  # past the garment's anti-aliased edge, so no outline is left
    keep = 1 - cv2.dilate(mask.astype(np.uint8), np.ones((2 * grow + 1, 2 * grow + 1), np.uint8)).astype(np.float32)
    keep = cv2.GaussianBlur(keep, (0, 0), grow / 2)
    return np.clip(photo * keep[..., None] + plate * (1 - keep[..., None]), 0, 255).astype(np.uint8)


class SceneRenderer:
    """Frames of one `MotionRecipe` over a photo, rendered frame by frame at any output size (a 1080p
    clip is never held in memory). `frame(i)` returns the RGB frame and the subject's soft mask in it
    (so defects can be painted on the subject as the clip shows it).

    `plate`: the backdrop without the subject (`clean_plate`); without one the garment motion moves the
    photo itself (a photograph without a studio backdrop) and parallax is not possible."""

    def __init__(
        self,
        photo: np.ndarray,
        mask: np.ndarray,
        recipe: MotionRecipe,
        out_w: int,
        out_h: int,
        n: int,
        *,
        loop: bool = False,
        plate: np.ndarray | None = None,
    ):
        self.photo, self.recipe, self.out_w, self.out_h, self.n, self.loop = photo, recipe, out_w, out_h, n, loop
        ph, pw = photo.shape[:2]
        self.base = max(out_w / pw, out_h / ph)
        # anti-alias like a careful engine: blur by the downscale factor of the most zoomed-out frame
        self.smooth = cv2.GaussianBlur(photo, (0, 0), 0.5 / self.base) if self.base < 0.8 else photo
        self.plate = None
        if plate is not None:
            self.plate = cv2.GaussianBlur(plate, (0, 0), 0.5 / self.base) if self.base < 0.8 else plate
        m = mask.astype(bool)
        self.mask_f = m.astype(np.float32)
        ys, xs = np.nonzero(m) if m.any() else (np.array([0, ph - 1]), np.array([0, pw - 1]))
        top, bottom, left, right = ys.min(), ys.max(), xs.min(), xs.max()
        size = float(np.sqrt(max(1, m.sum())))
        self.size = size
        yy, xx = np.mgrid[0:ph, 0:pw].astype(np.float32)
        soft = cv2.GaussianBlur(self.mask_f, (0, 0), max(1.0, 0.08 * size)) if plate is None else np.ones_like(yy)
        anchor = np.clip((yy - top) / max(1, bottom - top), 0, 1) ** 1.5  # shoulders still, hem moves most
        k = 2 * np.pi / max(8.0, 0.6 * (right - left))  # hem wave: ~1.7 waves across the garment
        hem = anchor**3 * soft
        chest_y = top + 0.3 * (bottom - top)
        chest = np.exp(-(((yy - chest_y) / (0.15 * (bottom - top) + 1)) ** 2)) * soft

        # displacement = sum of spatial fields x time coefficients (cheap per frame)
        def field(amount: float, shape: np.ndarray) -> np.ndarray | None:
            return (amount * size * shape).astype(np.float32) if amount else None

        self.fields_x = [
            field(recipe.sway, anchor * soft),
            field(recipe.hem_wave, hem * np.cos(k * xx)),
            field(recipe.hem_wave, hem * np.sin(k * xx)),
        ]
        self.field_y = field(-recipe.breathing, chest)
        self._grid: tuple[np.ndarray, np.ndarray] | None = None
        self.moves_garment = bool(recipe.sway or recipe.hem_wave or recipe.breathing)

    def camera(self, i: int) -> np.ndarray:
        """The photo -> frame affine map of frame `i`."""
        r, n = self.recipe, self.n
        u = i / n if self.loop else i / max(1, n - 1)
        ease = 0.5 - 0.5 * np.cos(np.pi * min(1.0, u))
        breathe = 0.5 - 0.5 * np.cos(2 * np.pi * i / n)
        swing = np.sin(2 * np.pi * i / n) if self.loop else 2 * ease - 1
        p = {"breathing": breathe, "static": 0.0}.get(r.path, ease)
        ph, pw = self.photo.shape[:2]
        scale = self.base * r.start_zoom * (1 + r.zoom * p)
        fx, fy = r.focus[0] * pw, r.focus[1] * ph
        tx = (
            self.out_w * 0.5
            - fx * scale
            + (r.pan * self.out_w * 0.5 * swing if r.path in ("pan", "parallax_orbit") else 0)
        )
        ty = self.out_h * 0.5 - fy * scale
        tx = min(0.0, max(self.out_w - pw * scale, tx))  # a camera never looks past the photo's edge
        ty = min(0.0, max(self.out_h - ph * scale, ty))
        return np.array([[scale, 0, tx], [0, scale, ty]], np.float32)

    def frame(self, i: int, camera: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        r, n = self.recipe, self.n
        m = self.camera(i) if camera is None else camera
        size = (self.out_w, self.out_h)
        ph = 2 * np.pi * i / n
        swing = np.sin(2 * np.pi * i / n) if self.loop else 2 * (0.5 - 0.5 * np.cos(np.pi * i / max(1, n - 1))) - 1
        if not self.moves_garment and not r.parallax:
            frame = cv2.warpAffine(self.smooth, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
            alpha = cv2.warpAffine(self.mask_f, m, size, flags=cv2.INTER_LINEAR)
        else:
            # photo coordinates of every output pixel, then the garment's own displacement there
            inv = cv2.invertAffineTransform(m)
            if self._grid is None:
                self._grid = np.meshgrid(
                    np.arange(self.out_w, dtype=np.float32), np.arange(self.out_h, dtype=np.float32)
                )
            gx, gy = self._grid
            shift = r.parallax * self.photo.shape[1] * swing
            sx = gx * np.float32(inv[0, 0]) + np.float32(inv[0, 2] - shift)
            sy = gy * np.float32(inv[1, 1]) + np.float32(inv[1, 2])
            coeff = [
                np.float32(c) for c in (np.sin(ph), np.cos(2 * ph), -np.sin(2 * ph))
            ]  # sway; hem wave sin(2ph - kx) split in two
            for c, f in zip(coeff, self.fields_x, strict=True):
                if f is not None and abs(c) > 1e-6:
                    sx -= c * cv2.warpAffine(f, m, size, flags=cv2.INTER_LINEAR)
            if self.field_y is not None:
                sy -= np.float32(0.5 - 0.5 * np.cos(ph)) * cv2.warpAffine(self.field_y, m, size, flags=cv2.INTER_LINEAR)
            layer = cv2.remap(self.smooth, sx, sy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
            alpha = cv2.remap(self.mask_f, sx, sy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
            if self.plate is None:
                frame = layer
            else:
                bg = cv2.warpAffine(self.plate, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
                frame = cv2.blendLinear(layer, bg, alpha, 1.0 - alpha)
        if r.softness > 0:
            frame = cv2.GaussianBlur(frame, (0, 0), r.softness)
        return frame, alpha

    def __iter__(self):
        for i in range(self.n):
            yield self.frame(i)[0]


def x264_roundtrip(frames, path, fps: float, crf: int, preset: str = "faster"):
    """`frames` through a real libx264 encode (yuv420p, `crf`) and decoded again: the blocking, ringing
    and chroma loss of a delivered H.264. Streams (the encode is written to `path`, then decoded)."""
    import subprocess

    from catalog_motion.media import ffmpeg_exe, iter_frames

    frames = iter(frames)
    first = next(frames)
    h, w = first.shape[:2]
    cmd = [
        ffmpeg_exe(),
        "-y",
        "-loglevel",
        "error",
        "-nostdin",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "-s",
        f"{w}x{h}",
        "-r",
        str(fps),
        "-i",
        "-",
        "-c:v",
        "libx264",
        "-preset",
        preset,
        "-crf",
        str(crf),
        "-pix_fmt",
        "yuv420p",
        "-an",
        str(path),
    ]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        proc.stdin.write(np.ascontiguousarray(first).tobytes())
        for frame in frames:
            proc.stdin.write(np.ascontiguousarray(frame).tobytes())
        proc.stdin.close()
    except BrokenPipeError:
        pass
    if proc.wait() != 0:
        raise OSError(f"libx264 encode of {path} failed: {proc.stderr.read().decode(errors='replace').strip()}")
    yield from iter_frames(path)


# --- defects painted on a rendered frame (frame, subject alpha in that frame) ---------------------


def boil(frame: np.ndarray, alpha: np.ndarray, amount_px: float, rng: np.random.Generator, corr_px: float = 1.5):
    """Temporally incoherent texture: the fabric's pixels crawl by a fresh random displacement field
    every frame (RMS `amount_px`, correlated over `corr_px`), the look of diffusion "boiling"."""
    h, w = alpha.shape
    fields = []
    for _ in range(2):
        noise = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), corr_px)
        fields.append((noise * np.float32(amount_px / np.sqrt(2) / (noise.std() + 1e-6))).astype(np.float32))
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    moved = cv2.remap(frame, gx + fields[0], gy + fields[1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    a = cv2.erode(alpha, np.ones((3, 3), np.uint8))[..., None]
    return (frame * (1 - a) + moved * a + 0.5).astype(np.uint8)


def garble(frame: np.ndarray, alpha: np.ndarray, rng: np.random.Generator, block: int = 8) -> np.ndarray:
    """A garbled subject (one frame of a glitch): the subject's blocks shuffled and colour-inverted in part."""
    h, w = alpha.shape
    out = frame.copy()
    ys, xs = np.nonzero(alpha > 0.5)
    if not len(ys):
        ys, xs = np.array([0, h - 1]), np.array([0, w - 1])
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    region = out[y0:y1, x0:x1].copy()
    rh, rw = (y1 - y0) // block * block, (x1 - x0) // block * block
    if rh and rw:
        tiles = (
            region[:rh, :rw]
            .reshape(rh // block, block, rw // block, block, 3)
            .swapaxes(1, 2)
            .reshape(-1, block, block, 3)
        )
        tiles = tiles[rng.permutation(len(tiles))]
        region[:rh, :rw] = tiles.reshape(rh // block, rw // block, block, block, 3).swapaxes(1, 2).reshape(rh, rw, 3)
    region = np.roll(region, (y1 - y0) // 5, axis=0)
    a = alpha[y0:y1, x0:x1, None]
    out[y0:y1, x0:x1] = (out[y0:y1, x0:x1] * (1 - a) + region * a + 0.5).astype(np.uint8)
    return out


def smear_region(frame: np.ndarray, center: tuple[float, float], radius: tuple[float, float], length_px: float):
    """A vertical smear (melting print/text) of `length_px` inside an ellipse of `frame`."""
    k = max(1, int(round(length_px)))
    if k <= 1:
        return frame
    kernel = np.zeros((k, k), np.float32)
    kernel[:, k // 2] = 1.0 / k
    smeared = cv2.filter2D(frame, -1, kernel)
    h, w = frame.shape[:2]
    region = np.zeros((h, w), np.float32)
    cv2.ellipse(
        region, (int(center[0]), int(center[1])), (max(1, int(radius[0])), max(1, int(radius[1]))), 0, 0, 360, 1.0, -1
    )
    region = cv2.GaussianBlur(region, (0, 0), max(1.0, 0.1 * radius[1]))[..., None]
    return (frame * (1 - region) + smeared * region + 0.5).astype(np.uint8)
