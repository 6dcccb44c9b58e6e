"""Pure geometry: detail focus inside the subject, cover-crop fitting without distortion."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from generation.fit import Box, cover_crop_box, crop_resize, fit_cover
from generation.focus import detail_focus, subject_box, subject_center
from tests.generation.conftest import draw_garment


def test_detail_focus_finds_print_inside_subject_and_ignores_textured_background():
    rgb = draw_garment(600, 800, patch=(330, 470, 70))  # print centre (365, 505)
    h, w = rgb.shape[:2]
    # Strong texture in the background corner, which a naive texture search would pick.
    stripes = ((np.arange(180) // 6) % 2 * 255).astype(np.uint8)
    rgb[10:190, 10:190] = stripes[None, :, None]
    mask = np.zeros((h, w), np.float32)
    shirt = np.all(rgb == rgb, axis=2)  # start from everything, then carve the shirt by colour
    shirt &= rgb[..., 2] > rgb[..., 0] + 40  # the blue shirt
    mask[shirt] = 1.0
    mask[470:540, 330:400] = 1.0  # the print is part of the garment
    point = detail_focus(rgb, mask)
    assert point.method == "detail"
    assert 330 <= point.x < 400 and 470 <= point.y < 540, point
    # Without the mask restriction the noisy corner would win: prove the test image is a real trap.
    everywhere = detail_focus(rgb, np.ones((h, w), np.float32))
    assert everywhere.x < 190 and everywhere.y < 190, everywhere


def test_detail_focus_falls_back_to_subject_centre_on_flat_subject():
    rgb = np.full((300, 300, 3), 240, np.uint8)
    rgb[100:220, 60:160] = (40, 40, 150)
    mask = np.zeros((300, 300), np.float32)
    mask[100:220, 60:160] = 1.0
    point = detail_focus(rgb, mask)
    assert point.method == "subject"
    assert point.x == pytest.approx(110.0) and point.y == pytest.approx(160.0)
    assert subject_box(mask) == (60, 100, 160, 220)
    empty = subject_center(np.zeros((300, 200), np.float32))
    assert (empty.x, empty.y, empty.method) == (100.0, 150.0, "center")


def test_cover_crop_keeps_aspect_and_stays_inside():
    box = cover_crop_box(1200, 600, 4, 5, center=(100.0, 300.0))  # subject near the left edge
    assert box.width / box.height == pytest.approx(4 / 5)
    assert box.height == pytest.approx(600)
    assert box.x0 == pytest.approx(0.0)  # clamped at the edge, not past it
    box = cover_crop_box(1200, 600, 4, 5, center=(700.0, 300.0))
    assert box.center[0] == pytest.approx(700.5)
    with pytest.raises(ValueError):
        cover_crop_box(100, 100, 1, 1, zoom=0.5)


def test_fit_cover_does_not_distort_a_circle():
    rgb = np.full((400, 900, 3), 255, np.uint8)  # very wide photo into a 4:5 frame
    cv2.circle(rgb, (450, 200), 120, (0, 0, 0), -1, lineType=cv2.LINE_AA)
    for out_w, out_h in [(160, 200), (800, 1000)]:  # shrink and enlarge paths
        fitted, box = fit_cover(rgb, out_w, out_h, center=(450, 200))
        assert fitted.shape == (out_h, out_w, 3)
        ys, xs = np.nonzero(fitted[..., 0] < 128)
        width, height = xs.max() - xs.min() + 1, ys.max() - ys.min() + 1
        assert width / height == pytest.approx(1.0, abs=0.03)
        assert box.width / box.height == pytest.approx(out_w / out_h)


def test_crop_resize_maps_box_exactly():
    rgb = np.zeros((100, 100, 3), np.uint8)
    rgb[40:60, 20:40] = 255  # a white square whose crop fills the output exactly
    out = crop_resize(rgb, Box(20, 40, 40, 60), 40, 40)  # enlarge 2x
    assert out[8:-8, 8:-8].min() >= 250 and abs(int(out[20, 1, 0]) - int(out[20, -2, 0])) <= 12  # symmetric edges
    out = crop_resize(rgb, Box(10, 40, 50, 60), 20, 10)  # shrink 2x: the square is the middle half
    assert out[:, 6:14].min() >= 250 and out[:, :4].max() <= 5 and out[:, -4:].max() <= 5
