"""The weight-free subject mask on drawn studio photos with a known true mask."""

from __future__ import annotations

import numpy as np
import pytest

from catalog_motion.images import subject_mask
from quality.synthetic import draw_garment_photo, garment_mask


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


@pytest.mark.parametrize("refine", [False, True])
def test_mask_matches_the_garment(refine):
    photo = draw_garment_photo(256, 320, seed=5)  # its sleeves touch the image edge
    mask = subject_mask(photo, refine=refine)
    assert mask.shape == photo.shape[:2] and mask.dtype == np.float32
    assert mask.min() >= 0.0 and mask.max() <= 1.0
    assert _iou(mask > 0.5, garment_mask(photo)) > 0.95
    # background cut off by a sleeve is still background (hole filling floods from every edge)
    assert mask[-5, 2] < 0.5 and mask[-5, -3] < 0.5


def test_pale_garment_on_white_is_found():
    photo = draw_garment_photo(256, 320, seed=5)
    truth = garment_mask(photo)
    pale = photo.copy()
    pale[truth] = np.clip(230 + (photo[truth].astype(int) - photo[truth].mean()) * 0.15, 0, 255).astype(np.uint8)
    assert _iou(subject_mask(pale) > 0.5, truth) > 0.9


def test_mask_rejects_non_rgb():
    with pytest.raises(ValueError, match="RGB"):
        subject_mask(np.zeros((10, 10), np.uint8))
