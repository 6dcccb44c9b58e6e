"""A visual QC report for a run: one HTML page, per clip a filmstrip beside the source photo and the
per-frame drift and flicker curves (matplotlib, Agg backend, no display needed)."""

from __future__ import annotations

import html
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def plot_curves(
    report: QCReport, out_path: Path, *, max_drift: float | None = None, max_flicker_step: float | None = None
) -> Path:
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


_STYLE = (
    "body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:4px;vertical-align:top}.fail{color:#b00}.pass{color:#070}"
    "img{max-width:100%}"
)


def _page_head(title: str, counts_line: str, headers: list[str]) -> str:
    """Start of a report page: title, one line of counts, the table header."""
    return "\n".join(
        [
            "<!doctype html><html><head><meta charset='utf-8'>",
            f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
            f"<h1>{html.escape(title)}</h1><p>{counts_line}</p>",
            "<table><tr>" + "".join(f"<th>{h}</th>" for h in headers) + "</tr>",
        ]
    )


_PAGE_TAIL = "</table></body></html>"


def _clip_row(
    sku: str, preset: str, attempt: object, passed: bool, reasons: list[str], cells: list[str], link: str | None = None
) -> str:
    """One clip's table row: the item cell (verdict, reasons, optional link), then `cells` as they are."""
    verdict = "<b class='pass'>PASS</b>" if passed else "<b class='fail'>FAIL</b>"
    item = (
        f"{html.escape(sku)}<br>{html.escape(preset)}<br>attempt {html.escape(str(attempt))}<br>{verdict}"
        f"<br><span class='fail'>{'<br>'.join(html.escape(r) for r in reasons)}</span>"
    )
    if link is not None:
        item += f"<br>{link}"
    return f"<tr><td>{item}</td>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"


def build_report(
    entries: list[ReportEntry],
    out_dir: str | Path,
    *,
    title: str = "QC report",
    thresholds: dict[str, float] | None = None,
) -> Path:
    """Write ``out_dir/index.html`` (and its images under ``out_dir/assets``); returns the page's path.
    A clip that cannot be read gets a row with the reason instead of images."""
    from quality.review import filmstrip

    out_dir = Path(out_dir)
    assets = out_dir / "assets"
    assets.mkdir(parents=True, exist_ok=True)
    thresholds = thresholds or {}
    passed = sum(e.report.passed for e in entries)
    parts = [
        _page_head(
            title,
            f"{len(entries)} clips, {passed} passed, {len(entries) - passed} failed.",
            ["item", "source and filmstrip", "curves", "scores"],
        )
    ]
    for number, entry in enumerate(entries):
        stem = f"{number:04d}-{safe_segment(entry.sku)}-{safe_segment(entry.preset)}-{entry.attempt}"
        strip_cell = curves_cell = ""
        try:
            strip = filmstrip(
                entry.clip_path, assets / f"{stem}-strip.png", count=6, height=120, source_path=entry.source_path
            )
            strip_cell = f"<img src='assets/{strip.name}' alt='filmstrip'>"
        except Exception as exc:  # noqa: BLE001 - the report still lists the clip and why it has no images
            why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            strip_cell = f"<span class='fail'>no filmstrip: {html.escape(why)}</span>"
        if entry.report.per_frame:
            curves = plot_curves(
                entry.report, assets / f"{stem}-curves.png", max_drift=thresholds.get("max_subject_drift")
            )
            curves_cell = f"<img src='assets/{curves.name}' alt='curves'>"
        key_scores = ", ".join(
            f"{k} {entry.report.scores[k]:.3g}"
            for k in ("drift", "drift_last", "flicker", "warp_error", "black_frames", "frozen_s")
            if k in entry.report.scores
        )
        parts.append(
            _clip_row(
                entry.sku,
                entry.preset,
                entry.attempt,
                entry.report.passed,
                entry.report.reasons,
                [strip_cell, curves_cell, html.escape(key_scores)],
            )
        )
    parts.append(_PAGE_TAIL)
    page = out_dir / "index.html"
    page.write_text("\n".join(parts), encoding="utf-8")
    return page


def build_report_index(rows: Iterable[dict[str, Any]], report_root: str | Path, *, title: str) -> Path:
    """``report_root/index.html`` over a run's QC-table rows (``quality.table`` columns, e.g. streamed from
    a ``QCSpool``): per checked attempt its verdict and reasons, the filmstrip and curves that
    ``build_report`` drew on the clip's own page (under ``report_root/clips``) and a link to that page.

    Rows are rendered one at a time into a side file and the page assembled after, so any number of
    rows costs constant memory (the counts line at the top is known only at the end)."""
    root = Path(report_root).resolve()  # clip pages are stored under resolved paths (paths.within)
    root.mkdir(parents=True, exist_ok=True)
    page = root / "index.html"
    body_path = root / ".index-rows.part"
    total = passed = 0
    with open(body_path, "w", encoding="utf-8") as body:
        for row in rows:
            total += 1
            passed += bool(row.get("passed"))
            body.write(_index_row(row, root) + "\n")
    head = _page_head(
        title,
        f"{total} clip attempts, {passed} passed, {total - passed} failed.",
        ["item", "filmstrip (source first)", "drift / flicker per frame"],
    )
    tmp = page.with_name(page.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as out, open(body_path, encoding="utf-8") as body:
        out.write(head + "\n")
        shutil.copyfileobj(body, out)
        out.write(_PAGE_TAIL)
    tmp.replace(page)
    body_path.unlink(missing_ok=True)
    return page


def _index_row(row: dict[str, Any], root: Path) -> str:
    page = Path(str(row.get("report", "")))
    on_page = page.name == "index.html" and root in page.parents
    cells = []
    for suffix in ("-strip.png", "-curves.png"):
        images = sorted((page.parent / "assets").glob(f"*{suffix}")) if on_page else []
        cells.append(
            "".join(f"<img src='{html.escape(img.relative_to(root).as_posix(), quote=True)}'>" for img in images) or "-"
        )
    link = (
        f"<a href='{html.escape(page.relative_to(root).as_posix(), quote=True)}'>clip page</a>"
        if on_page and page.exists()
        else html.escape(str(row.get("report", "")))
    )
    reasons = [str(row.get("reasons") or "")]
    return _clip_row(
        str(row.get("sku")), str(row.get("preset")), row.get("attempt"), bool(row.get("passed")), reasons, cells, link
    )
