"""Framing: the subject (as the source photo shows it) stays inside every frame, with a margin.

The rule, simple enough for an engine to plan against it (generation/ may not import quality/, so the
camera engine reimplements `subject_outside`):

    Map every subject pixel of the photo's mask into the frame. A pixel is *outside* when it lies
    outside the frame shrunk on every side by `margin` x the frame's short side. A pixel that leaves by
    a side in whose direction the subject runs, unbroken, to the photo's own border does not count:
    the photo was already cut there (a model shot cut at the knees, a sleeve running off the photo).
    The clip fails when, in any sampled frame, the outside fraction of the subject's area exceeds
    `max_subject_outside`. Presets that ask for a detail crop (motion.focus == "detail") are exempt.

The frame -> photo maps are the drift alignment's (evidence.warp_at), so the check works on clips from
any generator, not only on the camera engine's own plan.
"""

from __future__ import annotations

import numpy as np

from quality.evidence import CheckResult, ClipEvidence, Finding

SIDES = ("left", "right", "top", "bottom")  # frame sides, in the column order of `cut_by_photo`
BORDER_PX = 2  # a subject this close to the photo's border (work pixels) is taken to touch it
MAX_POINTS = 8000  # subject pixels sampled (an even grid): area fractions to ~0.1 %, ~0.5 ms per frame


def subject_outside(
    points: np.ndarray,
    frame_size: tuple[int, int],
    margin: float,
    cut_by_photo: np.ndarray | None = None,
) -> tuple[float, str]:
    """Fraction of the subject outside the frame's inner rectangle, and the side most of it leaves by.

    `points`: (N, 2) x, y of the subject's pixels in frame pixel coordinates (pixel centres; the frame
    covers -0.5 .. w - 0.5), outside the frame too. `frame_size`: (w, h). `margin`: fraction of the
    frame's short side kept free on every side. `cut_by_photo`: optional (N, 4) bool, per point and
    frame side (SIDES order), True where leaving by that side does not count (the subject runs from the
    point to the photo's own border in that direction). Returns (fraction of points, side) with side ""
    when no point counts; a point past two sides (a corner) counts for the side it is furthest past."""
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    if pts.shape[0] == 0:
        return 0.0, ""
    w, h = frame_size
    m = margin * min(w, h)
    lo, hi_x, hi_y = -0.5 + m, w - 0.5 - m, h - 0.5 - m
    # how far past each inner edge (<= 0: inside), columns in SIDES order
    past = np.stack([lo - pts[:, 0], pts[:, 0] - hi_x, lo - pts[:, 1], pts[:, 1] - hi_y], axis=1)
    counts = past > 0
    if cut_by_photo is not None:
        counts &= ~np.asarray(cut_by_photo, bool).reshape(counts.shape)
    outside = counts.any(axis=1)
    n_out = int(np.count_nonzero(outside))
    if not n_out:
        return 0.0, ""
    exits = np.argmax(np.where(counts, past, -np.inf)[outside], axis=1)
    side = int(np.argmax(np.bincount(exits, minlength=4)))
    return n_out / pts.shape[0], SIDES[side]


def runs_to_border(mask: np.ndarray) -> dict[str, np.ndarray]:
    """Per photo side, the subject pixels from which the subject continues unbroken to that border of
    the photo (bool HxW each): the parts the photo itself cut."""
    m = np.asarray(mask) > 0.5
    if min(m.shape) > 2 * BORDER_PX + 1:  # the mask's clean-up may stop a pixel or two short of the border
        m = m.copy()
        b = BORDER_PX
        m[:b] |= m[b]
        m[-b:] |= m[-b - 1]
        m[:, :b] |= m[:, b : b + 1]
        m[:, -b:] |= m[:, -b - 1 : -b]
    # a reversed cumulative AND along each axis: True while every pixel up to the border is subject
    return {
        "left": np.logical_and.accumulate(m, axis=1),
        "right": np.logical_and.accumulate(m[:, ::-1], axis=1)[:, ::-1],
        "top": np.logical_and.accumulate(m, axis=0),
        "bottom": np.logical_and.accumulate(m[::-1], axis=0)[::-1],
    }


def _photo_side_of(linear: np.ndarray) -> list[str]:
    """For each frame side (SIDES order), the photo side it looks toward through the frame -> photo map
    (the dominant axis of the mapped outward direction; engines zoom, pan and rotate a little)."""
    out = []
    for direction in ((-1.0, 0.0), (1.0, 0.0), (0.0, -1.0), (0.0, 1.0)):
        dx, dy = linear @ np.asarray(direction)
        if abs(dx) >= abs(dy):
            out.append("left" if dx < 0 else "right")
        else:
            out.append("top" if dy < 0 else "bottom")
    return out


class PhotoSubject:
    """The photo's subject as points (an even grid of its mask's pixels, at most ~`max_points`) and,
    per point and photo side, whether the subject runs from it unbroken to that border of the photo.
    Built once per clip; `outside(warp, ...)` is then ~1 ms per frame."""

    def __init__(self, mask: np.ndarray, max_points: int = MAX_POINTS):
        m = np.asarray(mask) > 0.5
        stride = max(1, int(np.ceil(np.sqrt(np.count_nonzero(m) / max_points))))
        rows, cols = np.nonzero(m[::stride, ::stride])
        rows, cols = rows * stride, cols * stride
        self.points = np.stack([cols, rows], axis=1).astype(np.float64)  # x, y in photo pixels
        runs = runs_to_border(m)
        self.runs = {side: run[rows, cols] for side, run in runs.items()}

    def outside(
        self, warp: np.ndarray, frame_size: tuple[int, int], margin: float, *, photo_cut: bool = True
    ) -> tuple[float, str, float]:
        """`subject_outside` in the frame whose frame -> photo affine is `warp` (2x3). Returns
        (fraction, side, overhang): overhang is how far the subject reaches past the inner edge on that
        side, as a fraction of the subject's extent along it."""
        if self.points.shape[0] == 0:
            return 0.0, "", 0.0
        a = np.asarray(warp, np.float64).reshape(2, 3)
        in_frame = (self.points - a[:, 2]) @ np.linalg.inv(a[:, :2]).T
        cut = np.stack([self.runs[s] for s in _photo_side_of(a[:, :2])], axis=1) if photo_cut else None
        fraction, side = subject_outside(in_frame, frame_size, margin, cut)
        if not side:
            return 0.0, "", 0.0
        w, h = frame_size
        m = margin * min(w, h)
        axis = 0 if side in ("left", "right") else 1
        coord = in_frame[:, axis]
        extent = max(1.0, float(coord.max() - coord.min()))
        edge = {"left": -0.5 + m, "right": w - 0.5 - m, "top": -0.5 + m, "bottom": h - 0.5 - m}[side]
        reach = (edge - coord) if side in ("left", "top") else (coord - edge)
        if cut is not None:
            reach = reach[~cut[:, SIDES.index(side)]]
        overhang = max(0.0, float(reach.max())) / extent if reach.size else 0.0
        return fraction, side, overhang


def evaluate(evidence: ClipEvidence) -> CheckResult:
    """The "framing" check on the drift samples (the frames whose frame -> photo map was measured)."""
    th = evidence.thresholds
    result = CheckResult(limits={"max_subject_outside": th.max_subject_outside, "framing_margin": th.framing_margin})
    frames = list(evidence.drift.frames)
    mask = evidence.mask_work
    # no studio subject (the mask is the whole view) or none at all: nothing can leave the frame
    if not frames or float(np.mean(mask > 0.5)) >= 0.999 or not np.any(mask > 0.5):
        result.scores.update(framing_outside=0.0, framing_overhang=0.0)
        return result
    subject = PhotoSubject(mask)
    curve, sides, overhangs = [], [], []
    for index in frames:
        fraction, side, overhang = subject.outside(evidence.warp_at(index), evidence.size, th.framing_margin)
        curve.append(fraction)
        sides.append(side)
        overhangs.append(overhang)
    worst = int(np.argmax(curve))
    result.scores.update(
        framing_outside=float(curve[worst]),
        framing_overhang=float(max(overhangs)),
        framing_worst_frame=float(frames[worst]),
    )
    result.per_frame["framing_outside"] = [float(v) for v in curve]
    detail_crop = evidence.preset.motion.focus == "detail"  # a close-up crops the subject on purpose
    result.limits["max_subject_overhang"] = th.max_subject_overhang
    reach = int(np.argmax(overhangs))
    area_fails = curve[worst] > th.max_subject_outside
    if not detail_crop and not area_fails and overhangs[reach] > th.max_subject_overhang:
        # narrow parts (sleeve tips) are little area: their reach past the frame decides
        result.findings.append(
            Finding(
                check="framing",
                message=f"subject cut off by the frame ({sides[reach]} side, {th.framing_margin:.0%} margin; "
                f"{curve[reach]:.1%} of its area outside); reach past the edge as a fraction of its size",
                value=float(overhangs[reach]),
                limit=th.max_subject_overhang,
                frame=int(frames[reach]),
                fps=evidence.fps,
            )
        )
    if not detail_crop and area_fails:
        result.findings.append(
            Finding(
                check="framing",
                message=f"subject area outside the frame ({sides[worst]} side, "
                f"{th.framing_margin:.0%} margin; reaches {overhangs[worst]:.0%} of its size past it)",
                value=float(curve[worst]),
                limit=th.max_subject_outside,
                frame=int(frames[worst]),
                fps=evidence.fps,
            )
        )
    return result
