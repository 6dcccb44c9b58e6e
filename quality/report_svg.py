"""Per-frame QC curves as small inline SVG charts: axes scaled to the data (and to the limit, so the
threshold line is always in view), the limit drawn as a red dashed line. No plotting library: a chart is
a few hundred bytes of text and microseconds of CPU."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class CurveSpec:
    """One chart: the per-frame curve `key` (x positions from `x_key`, else 0..n-1), the score limit
    that applies to it (`limit_key` in QCReport.limits, None where the curve and the limit are in
    different units) and the failed-check name it belongs to."""

    key: str
    title: str
    x_key: str | None = None
    limit_key: str | None = None
    check: str | None = None
    overlay: str | None = None  # a second curve on the same x, drawn dotted


CURVES: tuple[CurveSpec, ...] = (
    CurveSpec(
        "drift", "subject drift vs the photo (windowed; dotted: raw)", "drift_frame", "drift", "drift", "drift_raw"
    ),
    CurveSpec("detail", "fine-detail loss at full resolution", "detail_frame", "detail", "detail"),
    CurveSpec("framing_outside", "subject area outside the frame", "drift_frame", "max_subject_outside", "framing"),
    CurveSpec("warp_error", "warping error per frame pair", None, "warp_error", "warp_error"),
    CurveSpec("flicker", "luminance flicker per frame pair", None, None, "flicker"),
    CurveSpec(
        "flashes", "flashes in the second up to each frame (WCAG 2.3.1)", None, "flashes_per_s", "photosensitivity"
    ),
    CurveSpec("cut_ratio", "change vs neighbouring pairs (jump cuts)", None, "cut", "cut"),
    CurveSpec("glitch_residual", "subject change against the photo (glitches)", None, None, "glitch"),
    CurveSpec("boiling", "fine-texture boiling per detail pair", "boiling_frame", "boiling", "boiling"),
    CurveSpec("frame_change", "change between consecutive frames", None, None, "technical"),
)

_W, _H, _L, _R, _T, _B = 420, 160, 46, 8, 16, 24  # chart size and margins, px (top: an off-scale limit)


def _finite(values: Sequence[float]) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


def _ticks(lo: float, hi: float) -> list[float]:
    span = hi - lo
    step = 10 ** math.floor(math.log10(span / 3)) if span > 0 else 1.0
    for mult in (1, 2, 5, 10):
        if span / (step * mult) <= 5:
            step *= mult
            break
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def svg_curve(
    values: Sequence[float],
    *,
    xs: Sequence[float] | None = None,
    limit: float | None = None,
    overlay: Sequence[float] | None = None,
    fps: float | None = None,
    title: str = "",
    failed: bool = False,
) -> str:
    """One chart as an `<svg>` element. The y axis spans the data and the limit (not 0-1), so a curve of
    values around 0.01 fills the chart; x is frames (seconds in the tooltip when `fps` is known)."""
    xs = list(xs) if xs is not None and len(xs) == len(values) else list(range(len(values)))
    points = [(float(x), float(v)) for x, v in zip(xs, values, strict=True) if v is not None and math.isfinite(v)]
    extra = [
        (float(x), float(v)) for x, v in zip(xs, overlay or [], strict=False) if v is not None and math.isfinite(v)
    ]
    ys = [p[1] for p in points + extra]
    has_limit = limit is not None and math.isfinite(limit)
    # The axis is the data's; the limit joins it when it is near (within 2x of the data's peak), else
    # it is named at the top edge, so a curve far below its limit still shows its shape.
    limit_in_view = has_limit and (limit <= 2 * max(ys) if max(ys) > 0 else limit <= 0)
    ys += [limit] if limit_in_view else []
    label = html.escape(title)
    if not points:
        return (
            f"<svg class='curve' viewBox='0 0 {_W} 40' role='img'><title>{label}</title>"
            "<text x='4' y='24'>no data</text></svg>"
        )
    lo, hi = min(ys), max(ys)
    lo = min(lo, 0.0) if lo >= 0 and lo < 0.25 * hi else lo  # anchor at zero when the data is near it
    if hi - lo < 1e-12:
        hi, lo = hi + (abs(hi) * 0.1 or 1.0), lo - (abs(lo) * 0.1 if lo else 0.0)
    pad = 0.06 * (hi - lo)
    hi += pad
    x0, x1 = min(p[0] for p in points), max(p[0] for p in points)
    x1 = x1 if x1 > x0 else x0 + 1

    def px(x: float) -> float:
        return _L + (x - x0) / (x1 - x0) * (_W - _L - _R)

    def py(y: float) -> float:
        return _T + (hi - y) / (hi - lo) * (_H - _T - _B)

    def path(pts: list[tuple[float, float]]) -> str:
        return " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts)

    parts = [
        f"<svg class='curve{' failed' if failed else ''}' viewBox='0 0 {_W} {_H}' role='img'>",
        f"<title>{label}</title>",
        f"<rect x='{_L}' y='{_T}' width='{_W - _L - _R}' height='{_H - _T - _B}' class='frame'/>",
    ]
    for tick in _ticks(lo, hi):
        y = py(tick)
        parts.append(f"<line x1='{_L}' x2='{_W - _R}' y1='{y:.1f}' y2='{y:.1f}' class='grid'/>")
        parts.append(f"<text x='{_L - 4}' y='{y + 3:.1f}' class='ytick'>{tick:.3g}</text>")
    for tick in _ticks(x0, x1):
        x = px(tick)
        when = f" ({tick / fps:.1f} s)" if fps else ""
        parts.append(f"<text x='{x:.1f}' y='{_H - 8}' class='xtick'><title>frame {tick:g}{when}</title>{tick:g}</text>")
    if extra:
        parts.append(f"<polyline points='{path(extra)}' class='overlay'/>")
    parts.append(f"<polyline points='{path(points)}' class='line'/>")
    if limit_in_view:
        y = py(limit)
        parts.append(f"<line x1='{_L}' x2='{_W - _R}' y1='{y:.1f}' y2='{y:.1f}' class='limit'/>")
        parts.append(f"<text x='{_W - _R - 2}' y='{y - 3:.1f}' class='limitlabel'>limit {limit:.3g}</text>")
    elif has_limit:
        where = "above" if limit > hi else "below"
        parts.append(
            f"<text x='{_W - _R - 2}' y='{_T - 4}' class='limitlabel offscale'>"
            f"limit {limit:.3g} ({where} the chart)</text>"
        )
    parts.append(f"<text x='{_W - _R}' y='{_H - 8}' class='xlabel'>frame</text></svg>")
    return "".join(parts)


def svg_curves(
    per_frame: dict[str, list[float]],
    limits: dict[str, float],
    *,
    fps: float | None = None,
    failed_checks: Sequence[str] = (),
) -> list[dict[str, str]]:
    """The charts a report page shows, failed checks' curves first: [{"title", "svg", "check"}]."""
    charts = []
    for spec in CURVES:
        values = per_frame.get(spec.key)
        if not values or not _finite(values):
            continue
        failed = spec.check in failed_checks
        limit = limits.get(spec.limit_key) if spec.limit_key else None
        svg = svg_curve(
            values,
            xs=per_frame.get(spec.x_key) if spec.x_key else None,
            limit=limit,
            overlay=per_frame.get(spec.overlay) if spec.overlay else None,
            fps=fps,
            title=spec.title,
            failed=failed,
        )
        charts.append({"title": spec.title, "svg": svg, "check": spec.check or "", "failed": failed})
    charts.sort(key=lambda chart: not chart["failed"])
    return charts
