"""A visual QC report for a run: one HTML page, per clip a filmstrip beside the source photo and the
per-frame drift and flicker curves (matplotlib, Agg backend, no display needed)."""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

from catalog_motion.paths import safe_segment
from catalog_motion.types import QCReport


@dataclass
class ReportEntry:
    sku: str
    preset: str
    source_path: str | Path
    clip_path: str | Path
    report: QCReport
    attempt: int = 0


def plot_curves(report: QCReport, out_path: Path, *, max_drift: float | None = None,
                max_flicker_step: float | None = None) -> Path:
    """Drift per sampled frame and frame-to-frame change / warping error per pair, as one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8, 2.4), dpi=90)
    frames = report.per_frame.get("drift_frame", [])
    for name, style in (("drift", "-"), ("drift_raw", ":")):
        if report.per_frame.get(name):
            ax1.plot(frames, report.per_frame[name], style, label=name)
    if max_drift is not None:
        ax1.axhline(max_drift, color="red", lw=0.8, label="threshold")
    ax1.set_title("subject drift vs source")
    ax1.set_xlabel("frame")
    ax1.set_ylim(0, 1.05)
    ax1.legend(fontsize=6)
    if report.per_frame.get("flicker"):
        ax2.plot(report.per_frame["flicker"], label="luminance wobble")
    if report.per_frame.get("warp_error"):
        ax2.plot([v * 10 for v in report.per_frame["warp_error"]], label="warping error x10")
    if max_flicker_step is not None:
        ax2.axhline(max_flicker_step, color="red", lw=0.8)
    ax2.set_title("temporal stability")
    ax2.set_xlabel("frame pair")
    ax2.legend(fontsize=6)
    fig.tight_layout()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_path)
    plt.close(fig)
    return out_path


def build_report(entries: list[ReportEntry], out_dir: str | Path, *, title: str = "QC report",
                 thresholds: dict[str, float] | None = None) -> Path:
    """Write ``out_dir/index.html`` (and its images under ``out_dir/assets``); returns the page's path.
    A clip that cannot be read gets a row with the reason instead of images."""
    from quality.review import filmstrip

    out_dir = Path(out_dir)
    assets = out_dir / "assets"
    assets.mkdir(parents=True, exist_ok=True)
    thresholds = thresholds or {}
    passed = sum(e.report.passed for e in entries)
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>body{{font-family:sans-serif;margin:1.5em}}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px;vertical-align:top}"
        ".fail{color:#b00}.pass{color:#070}img{max-width:100%}</style></head><body>",
        f"<h1>{html.escape(title)}</h1><p>{len(entries)} clips, {passed} passed, {len(entries) - passed} failed.</p>",
        "<table><tr><th>item</th><th>source and filmstrip</th><th>curves</th><th>scores</th></tr>",
    ]
    for number, entry in enumerate(entries):
        stem = f"{number:04d}-{safe_segment(entry.sku)}-{safe_segment(entry.preset)}-{entry.attempt}"
        strip_cell = curves_cell = ""
        try:
            strip = filmstrip(entry.clip_path, assets / f"{stem}-strip.png", count=6, height=120,
                              source_path=entry.source_path)
            strip_cell = f"<img src='assets/{strip.name}' alt='filmstrip'>"
        except Exception as exc:  # noqa: BLE001 - the report still lists the clip and why it has no images
            strip_cell = f"<span class='fail'>no filmstrip: {html.escape(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)}</span>"
        if entry.report.per_frame:
            curves = plot_curves(entry.report, assets / f"{stem}-curves.png", max_drift=thresholds.get("max_subject_drift"))
            curves_cell = f"<img src='assets/{curves.name}' alt='curves'>"
        verdict = "<b class='pass'>PASS</b>" if entry.report.passed else "<b class='fail'>FAIL</b>"
        reasons = "<br>".join(html.escape(r) for r in entry.report.reasons)
        key_scores = ", ".join(f"{k} {entry.report.scores[k]:.3g}" for k in
                               ("drift", "drift_last", "flicker", "warp_error", "black_frames", "frozen_s")
                               if k in entry.report.scores)
        parts.append(
            f"<tr><td>{html.escape(entry.sku)}<br>{html.escape(entry.preset)}<br>attempt {entry.attempt}<br>{verdict}"
            f"<br><span class='fail'>{reasons}</span></td><td>{strip_cell}</td><td>{curves_cell}</td>"
            f"<td>{html.escape(key_scores)}</td></tr>")
    parts.append("</table></body></html>")
    page = out_dir / "index.html"
    page.write_text("\n".join(parts), encoding="utf-8")
    return page
