"""Garment motion in the `camera` engine: the structure read from the mask, the anchored field, and the
sample catalog's clips (one test per garment shape) through the real quality gate with its defaults.

The garment's motion is measured the way a viewer sees it, from the decoded clip alone: DIS optical flow
from the first frame to sampled frames, a global similarity transform fitted to the whole frame (RANSAC),
and what is left of the flow inside the garment at its hem, as a share of the garment's height. The
backdrop outside the garment's motion envelope is compared with the same clip rendered without garment
motion (the camera alone): it must be the same picture, and the optical flow between the two, outside
the envelope, under 0.5 px at delivery size.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from catalog_connectors.samples import draw_sample_catalog
from catalog_motion.images import subject_mask
from catalog_motion.media import read_frames
from catalog_motion.presets import load_presets
from generation.base import GenerationRequest
from generation.camera import make_camera_engine
from generation.fit import Box, affine_for_box
from generation.garment import (
    GarmentMotion,
    GarmentMotionSpec,
    MapBuilder,
    outline_points,
    read_structure,
)
from quality.gate import check_clip

SHAPES = {  # garment shape -> sample photo (catalog_connectors/samples.py)
    "dress": "dress-print",
    "shirt": "tee-red",
    "hoodie": "hoodie-logo",
    "trousers": "jeans-denim",
    "scarf": "scarf-knit",
    "bag": "tote-tan",
}
QC_MARGIN = 0.02  # the gate's default framing margin (fraction of the frame's short side)
ANALYSIS_SIDE = 640  # decoded frames are measured at this long side


# --- the model on drawn masks ------------------------------------------------------------------------
def _hoodie_mask(w: int = 400, h: int = 500) -> np.ndarray:
    """A hood (narrow, on top), shoulders at 30 % of the height, sleeves hanging out to the sides."""
    m = np.zeros((h, w), np.uint8)
    cv2.ellipse(m, (w // 2, int(0.22 * h)), (int(0.12 * w), int(0.1 * h)), 0, 0, 360, 1, -1)
    body = [(0.3 * w, 0.3 * h), (0.7 * w, 0.3 * h), (0.7 * w, 0.9 * h), (0.3 * w, 0.9 * h)]
    sleeve = [(0.3 * w, 0.3 * h), (0.3 * w, 0.42 * h), (0.16 * w, 0.8 * h), (0.08 * w, 0.77 * h)]
    for poly in (body, sleeve, [(w - x, y) for x, y in sleeve]):
        cv2.fillPoly(m, [np.array(poly, np.int32)], 1)
    return m.astype(np.float32)


def test_structure_anchor_is_the_shoulder_line_not_the_hood_or_the_handles():
    spec = GarmentMotionSpec(sway=0.02)
    hoodie = read_structure(_hoodie_mask(), 800, 1000, spec)  # the photo is twice the mask's size
    assert hoodie is not None
    assert hoodie.anchor_y == pytest.approx(0.3 * 1000, abs=6)  # below the hood
    assert hoodie.hem_y == pytest.approx(0.9 * 1000, abs=4)
    assert hoodie.centre_x == pytest.approx(400, abs=4)
    assert hoodie.core_half_width == pytest.approx(0.2 * 800, rel=0.1)  # the body, not the sleeves

    bag = np.zeros((500, 400), np.uint8)
    cv2.rectangle(bag, (100, 250), (300, 450), 1, -1)
    for cx in (160, 240):  # two thin handles hanging from the body's top
        cv2.ellipse(bag, (cx, 250), (30, 110), 0, 180, 360, 1, 6)
    structure = read_structure(bag.astype(np.float32), 400, 500, spec)
    assert structure is not None and structure.anchor_y == pytest.approx(250, abs=3)
    assert read_structure(np.zeros((50, 40), np.float32), 40, 50, spec) is None


def test_sway_is_zero_at_the_anchor_grows_to_the_hem_lags_with_depth_and_loops_exactly():
    spec = GarmentMotionSpec(sway=0.02, hem_swing=0.003, period_s=2.0)
    structure = read_structure(_hoodie_mask(), 800, 1000, spec)
    n = 96
    motion = GarmentMotion(structure, spec, n, 24.0, loop=True)
    assert motion.period_s == pytest.approx(2.0)
    x = np.full(5, 400.0, np.float32)
    depths = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    y = (structure.anchor_y + depths * structure.height - np.array([0, 0, 0, 0, 1.0])).astype(np.float32)
    sway = np.stack([motion.displacement(x, y, i)[0] for i in range(n)])  # (frames, depth)
    peaks = np.abs(sway).max(axis=0)
    assert peaks[0] < 1e-3  # the anchor line stays put
    assert np.all(np.diff(peaks) > 0)  # amplitude grows down the garment
    assert peaks[-1] == pytest.approx(0.02 * structure.height, rel=0.1)  # the hem swings `sway` x H
    # Lower fabric follows later: its swing peaks after the swing just below the anchor.
    assert int(np.argmax(sway[: n // 2, -1])) > int(np.argmax(sway[: n // 2, 1]))
    first = motion.displacement(x, y, 0)
    after_last = motion.displacement(x, y, n)  # the frame after the last: the loop starts again
    assert np.abs(first[0]).max() < 1e-4 and np.abs(first[1]).max() < 1e-4  # frame 0 is the photo
    assert np.allclose(after_last[0], first[0], atol=1e-3) and np.allclose(after_last[1], first[1], atol=1e-3)
    # Far from the garment (past the envelope's band) nothing moves at all.
    far = motion.displacement(np.array([5.0, 795.0], np.float32), np.array([990.0, 990.0], np.float32), n // 4)
    assert np.abs(far[0]).max() == 0.0 and np.abs(far[1]).max() == 0.0
    swept = motion.swept_box(outline_points(_hoodie_mask(), 800, 1000))
    assert swept.x0 < 0.08 * 800 and swept.x1 > 0.92 * 800  # the sleeves swing further out than they hang


def test_map_reproduces_the_camera_exactly_where_the_garment_does_not_move():
    builder = MapBuilder(270, 338)
    box = Box(-12.3, 7.9, 401.7, 525.0)
    matrix = affine_for_box(box, 270, 338)
    grid = builder.build(matrix, (1.0, 1.0, 0.0, 0.0), None, 0)
    xs, ys = np.meshgrid(np.arange(270), np.arange(338))
    assert grid.shape == (338, 270, 2)
    assert np.abs(grid[..., 0] - (matrix[0, 0] * xs + matrix[0, 2])).max() < 2e-3  # edges included
    assert np.abs(grid[..., 1] - (matrix[1, 1] * ys + matrix[1, 2])).max() < 2e-3


# --- the sample catalog at delivery size --------------------------------------------------------------
@pytest.fixture(scope="module")
def samples(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("samples")
    draw_sample_catalog(root, photos=list(SHAPES.values()))
    return root / "images"


def _photo(images: Path, shape: str) -> Path:
    return next(images.glob(f"{SHAPES[shape]}.*"))


def _render(photo: Path, preset, out: Path):
    request = GenerationRequest(source_path=str(photo), preset=preset, seed=0, out_path=str(out))
    return make_camera_engine({}).generate(request)


def _garment(frame: np.ndarray) -> np.ndarray:
    return subject_mask(frame) > 0.5


def _residual_at_hem(frames: np.ndarray, samples: int = 8) -> float:
    """Largest flow left inside the garment's hem band after a global similarity fit, over the garment's
    height (frame 0 -> sampled frames)."""
    gray = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
    mask = _garment(frames[0])
    rows = np.flatnonzero(mask.any(axis=1))
    top, bottom = rows[0], rows[-1]
    height = float(bottom - top + 1)
    hem = mask.copy()
    hem[: int(bottom - 0.15 * height)] = False
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    h, w = gray[0].shape
    gy, gx = np.mgrid[4:h:8, 4:w:8]
    points = np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)
    in_hem = hem[gy.ravel(), gx.ravel()]
    best = 0.0
    for k in np.linspace(1, len(frames) - 1, samples).round().astype(int):
        flow = dis.calc(gray[0], gray[k], None)
        moved = points + flow[gy.ravel(), gx.ravel()]
        similarity, _ = cv2.estimateAffinePartial2D(points, moved, method=cv2.RANSAC, ransacReprojThreshold=1.0)
        predicted = points @ similarity[:, :2].T + similarity[:, 2]
        residual = np.linalg.norm(moved - predicted, axis=1)
        best = max(best, float(np.median(residual[in_hem])))
    return best / height


def _inside_with_margin(frames: np.ndarray, margin: float) -> float:
    """Smallest gap, over every frame, between the garment's segmented extent and the frame's edges, as a
    fraction of the frame's short side (negative: the garment is cut)."""
    gaps = []
    for frame in frames:
        mask = _garment(frame)
        h, w = mask.shape
        ys, xs = np.nonzero(mask)
        gaps.append(min(xs.min(), ys.min(), w - 1 - xs.max(), h - 1 - ys.max()) / min(w, h))
    return float(min(gaps))


def _backdrop_motion_px(plain: np.ndarray, moved: np.ndarray, outside: np.ndarray, full_height: int) -> float:
    """95th percentile of the DIS flow magnitude outside the envelope between the camera-only clip and the
    garment-motion clip (sampled frames), scaled to the delivered frame's pixels."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    scale = full_height / plain.shape[1]
    worst = 0.0
    for k in np.linspace(0, len(plain) - 1, 6).round().astype(int):
        a = cv2.cvtColor(plain[k], cv2.COLOR_RGB2GRAY)
        b = cv2.cvtColor(moved[k], cv2.COLOR_RGB2GRAY)
        magnitude = np.linalg.norm(dis.calc(a, b, None), axis=2)
        worst = max(worst, float(np.percentile(magnitude[outside], 95)) * scale)
    return worst


@pytest.mark.parametrize("shape", list(SHAPES))
def test_sample_clips_move_the_garment_pass_the_gate_and_keep_it_whole(samples, tmp_path, shape):
    presets = load_presets()
    photo = _photo(samples, shape)
    page = presets["product-page"]
    assert page.motion.sway > 0  # the packaged product-page loop asks for garment motion
    ref = _render(photo, page, tmp_path / "page.nut")
    assert ref.params["garment"]["active"] is True
    report = check_clip(photo, ref.path, page, expected_frames=ref.n_frames)  # the gate's defaults
    assert report.passed, (shape, report.reasons)
    frames = read_frames(ref.path, ANALYSIS_SIDE)
    Path(ref.path).unlink()  # raw 1080p masters are 0.4-1.1 GB each: none is kept after its frames are read
    residual = _residual_at_hem(frames)
    assert residual >= 0.01, (shape, residual)  # measurable fabric motion, not only a camera move
    assert _inside_with_margin(frames, QC_MARGIN) > QC_MARGIN, shape

    # The backdrop outside the garment's motion envelope is exactly what the camera alone renders.
    still = page.model_copy(update={"motion": page.motion.model_copy(update={"sway": 0.0, "hem_swing": 0.0})})
    camera_only = _render(photo, still, tmp_path / "camera.nut")
    assert camera_only.params["crop_mid"] == ref.params["crop_mid"]  # the same camera
    plain = read_frames(camera_only.path, ANALYSIS_SIDE)
    Path(camera_only.path).unlink()
    garment_height = np.ptp(np.flatnonzero(_garment(frames[0]).any(axis=1)))
    reach = int(0.2 * garment_height)  # the envelope: the swing plus its band of backdrop
    envelope = cv2.dilate(_garment(frames[0]).astype(np.uint8), np.ones((2 * reach + 1,) * 2, np.uint8))
    outside = envelope == 0
    assert outside.mean() > 0.05, shape
    diff = np.abs(frames.astype(np.int16) - plain.astype(np.int16)).max(axis=3)
    assert diff[:, outside].max() <= 2, (shape, int(diff[:, outside].max()))
    assert diff[:, ~outside].max() > 10, shape  # ... while the garment itself moves
    # And measured as motion: the flow from the camera-only frame to the garment-motion frame, outside the
    # envelope, in full-resolution pixels (issue #16: the backdrop moves by < 0.5 px beyond the camera's move).
    assert _backdrop_motion_px(plain, frames, outside, page.height) < 0.5, shape

    social = presets["social"]
    ref = _render(photo, social, tmp_path / "social.nut")
    report = check_clip(photo, ref.path, social, expected_frames=ref.n_frames)
    assert report.passed, (shape, report.reasons)
    assert report.scores["detail"] <= social.qc.max_detail_loss  # print and text keep their structure
    frames = read_frames(ref.path, ANALYSIS_SIDE)[::6]
    Path(ref.path).unlink()
    assert _inside_with_margin(frames, QC_MARGIN) > QC_MARGIN, shape
