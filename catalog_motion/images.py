"""Still photos shared by every stage: reading a source photo as RGB, and the studio subject mask.

`read_photo` is the one photo reader (engines frame the photo they read, QC compares clips against the
same pixels). `subject_mask` finds the garment on a studio background without learned weights: a
background colour model from the image border, a distance threshold, morphological clean-up, the
largest connected components and hole filling; optionally refined with GrabCut (`refine=True`), which
pulls the outline onto real edges where the garment is close to the background colour (a white shirt
on a white sweep).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from catalog_motion.media import MediaInputError

MIN_PHOTO_SIDE = 8  # smaller than this is not a photo anything can frame or score


def _background_rgb(colour: str) -> tuple[int, int, int]:
    """The preset's background as RGB (PIL's colour parser); white when it is not a colour."""
    from PIL import ImageColor

    try:
        return ImageColor.getrgb(colour)[:3]
    except ValueError:
        return (255, 255, 255)


def read_photo(path: str | Path, background: str = "#ffffff") -> np.ndarray:
    """The photo as RGB uint8 (H, W, 3): grayscale is expanded, alpha is laid on `background` (a preset's
    studio colour). Raises MediaInputError (a PermanentError, one line) when it is missing, not an image
    or under 8 px a side."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise MediaInputError(f"source photo not found: {path}")
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
                rgba = image.convert("RGBA")
                canvas = Image.new("RGBA", rgba.size, _background_rgb(background) + (255,))
                canvas.alpha_composite(rgba)
                rgb = canvas.convert("RGB")
            else:
                rgb = image.convert("RGB")
    except UnidentifiedImageError:
        raise MediaInputError(f"cannot read source photo {path.name}: not a readable image") from None
    except (Image.DecompressionBombError, OSError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise MediaInputError(f"cannot read source photo {path.name}: {reason}") from None
    array = np.asarray(rgb, dtype=np.uint8)
    if array.shape[0] < MIN_PHOTO_SIDE or array.shape[1] < MIN_PHOTO_SIDE:
        raise MediaInputError(f"source photo {path.name} is too small ({array.shape[1]}x{array.shape[0]})")
    return array


def _fill_holes(hard: np.ndarray) -> np.ndarray:
    """`hard` (uint8 0/1) with every region the background cannot reach set to 1.

    Floods from a one-pixel frame around the image, so background that a garment (a sleeve touching the
    edge) cuts off from one corner is still reached from the others."""
    padded = cv2.copyMakeBorder(hard, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    flood = np.zeros((padded.shape[0] + 2, padded.shape[1] + 2), np.uint8)
    cv2.floodFill(padded, flood, (0, 0), 1)
    return hard | (1 - padded[1:-1, 1:-1])


def subject_mask(rgb: np.ndarray, work_long_side: int = 512, refine: bool = False) -> np.ndarray:
    """Soft subject mask (float32 in [0, 1], same HxW as `rgb`) for a photo on a studio background.
    `refine` runs GrabCut seeded by the colour model (~50 ms at 512 px)."""
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an RGB image HxWx3, got shape {rgb.shape}")
    h, w = rgb.shape[:2]
    scale = min(1.0, work_long_side / max(h, w))
    small = cv2.resize(rgb, (max(8, int(w * scale)), max(8, int(h * scale))), interpolation=cv2.INTER_AREA)
    lab = cv2.cvtColor(small, cv2.COLOR_RGB2LAB).astype(np.float32)
    band = max(2, int(0.03 * min(lab.shape[:2])))
    border = np.concatenate(
        [
            lab[:band].reshape(-1, 3),
            lab[-band:].reshape(-1, 3),
            lab[:, :band].reshape(-1, 3),
            lab[:, -band:].reshape(-1, 3),
        ]
    )
    background = np.median(border, axis=0)
    spread = np.percentile(np.linalg.norm(border - background, axis=1), 95)
    distance = np.linalg.norm(lab - background, axis=2)
    hard = (distance > max(12.0, 2.5 * spread)).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    hard = cv2.morphologyEx(hard, cv2.MORPH_OPEN, kernel)
    hard = cv2.morphologyEx(hard, cv2.MORPH_CLOSE, kernel, iterations=2)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(hard, connectivity=8)
    if count > 1:
        areas = stats[1:, cv2.CC_STAT_AREA]
        keep = 1 + np.flatnonzero(areas >= 0.05 * areas.max())
        hard = np.isin(labels, keep).astype(np.uint8)
    hard = _fill_holes(hard)  # a print in background-like colours stays part of the subject
    if refine and 0 < hard.mean() < 0.95:
        hard = grabcut_refine(small, hard)
    soft = cv2.GaussianBlur(hard.astype(np.float32), (0, 0), 1.5)
    return np.clip(cv2.resize(soft, (w, h), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)


def grabcut_refine(rgb: np.ndarray, hard: np.ndarray, iterations: int = 3) -> np.ndarray:
    """GrabCut seeded by a hard mask: its eroded core is sure subject, the far background is sure
    background, a band around the outline is left to the colour models. Returns a uint8 0/1 mask;
    the seed itself when GrabCut gives up (e.g. a single-colour image)."""
    size = max(3, int(0.02 * max(hard.shape)) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    sure_fg = cv2.erode(hard, kernel, iterations=2)
    maybe = cv2.dilate(hard, kernel, iterations=2)
    labels = np.full(hard.shape, cv2.GC_BGD, np.uint8)
    labels[maybe > 0] = cv2.GC_PR_BGD
    labels[hard > 0] = cv2.GC_PR_FGD
    labels[sure_fg > 0] = cv2.GC_FGD
    if not (labels == cv2.GC_FGD).any() or not (labels == cv2.GC_BGD).any():
        return hard
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    try:
        cv2.grabCut(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), labels, None, bgd, fgd, iterations, cv2.GC_INIT_WITH_MASK)
    except cv2.error:
        return hard
    refined = ((labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)).astype(np.uint8)
    return _fill_holes(refined)  # keep the seed's hole filling: a print in background colours is still garment
