"""The visual QC report of a run: one page per run (quality/report_templates/run.html.j2) and one per
checked clip (clip.html.j2), plain HTML with relative links and a local stylesheet, so the folder works
from file:// and served over http alike.

Two steps, because the master clip only exists while its item is in flight:
  - at check time, `write_clip_material` writes the clip's pictures (quality/report_media.py: source
    thumbnail, filmstrip JPEG, a small preview MP4 of a clip that did not pass) and its QC report as JSON;
  - at the end of the run, `build_report_index` writes the run page and every clip page from the QC-table
    rows and the run's outcomes (published video per (sku, preset)), failures and borderline clips first.
Curves are inline SVG (quality/report_svg.py), scaled to their data with the limit drawn.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
import shutil
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlparse

from catalog_motion.types import QCReport
from quality.evidence import WorkFrames
from quality.report_media import write_clip_media
from quality.report_svg import svg_curves
from quality.verdict import borderline_reasons

TEMPLATES = Path(__file__).with_name("report_templates")
CLIP_DATA = "clip.json"
STYLESHEET = "report.css"
DECISION_KEYS = ("decision", "review_decision")
"""Row fields that carry a reviewer's decision (the review flow's name is not settled yet): shown in a
`decision` column when any row has one."""

_GROUPS = ("failed", "borderline", "passed")
_GROUP_TITLES = {
    "failed": "Failed (and verdicts this report does not know)",
    "borderline": "Borderline",
    "passed": "Passed",
}


@dataclass
class ReportEntry:
    sku: str
    preset: str
    source_path: str | Path
    clip_path: str | Path
    report: QCReport
    attempt: int = 0
    borderline_margin: float = 0.0  # the preset's qc.borderline_margin: a close call gets a preview too


_AT_FRAME = re.compile(r" at frame (\d+)")


def write_clip_material(entry: ReportEntry, clip_dir: str | Path, frames: WorkFrames | None = None) -> Path:
    """Pictures and data of one checked clip under `clip_dir` (its page is written at the end of the run
    by `build_report_index`); returns the folder. `frames`: what the gate decoded
    (`quality.gate.check_clip_with_frames`), so the clip is not decoded again; without them the clip file
    is read. A clip that cannot be read is still recorded, with why."""
    clip_dir = Path(clip_dir)
    marked = tuple(sorted({int(m) for r in entry.report.reasons for m in _AT_FRAME.findall(r)}))
    # a clip that may not be published, or that a person may be asked to judge, gets a playable preview
    preview = not entry.report.passed or bool(borderline_reasons(entry.report, entry.borderline_margin))
    media = write_clip_media(
        entry.clip_path, entry.source_path, clip_dir, preview=preview, marked=marked, frames=frames
    )
    data = {
        "sku": entry.sku,
        "preset": entry.preset,
        "attempt": entry.attempt,
        "clip": str(entry.clip_path),
        "media": asdict(media),
        "report": entry.report.model_dump(mode="json"),
    }
    tmp = clip_dir / (CLIP_DATA + ".tmp")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    tmp.replace(clip_dir / CLIP_DATA)
    return clip_dir


# Finding.reason (quality/evidence.py): "check: message VALUE[ unit] >|< limit LIMIT[ unit][ at frame F[ (T s)]]"
_REASON = re.compile(
    r"^(?P<check>[\w-]+): (?P<message>.*?) (?P<value>[-+\w.]+)(?: (?P<unit>\S+))? (?P<op>[<>]) "
    r"limit (?P<limit>[-+\w.]+)(?: \S+)?(?: at frame (?P<frame>\d+)(?: \((?P<seconds>[\d.]+) s\))?)?$"
)


def parse_finding(reason: str) -> dict[str, str]:
    """A failed check's reason split into check, what, value, limit and time (as text); a reason in
    another shape keeps its whole text as `what`."""
    match = _REASON.match(reason)
    if not match:
        check = reason.split(":", 1)[0] if ":" in reason else ""
        return {"check": check, "what": reason, "value": "", "limit": "", "when": ""}
    unit = f" {match['unit']}" if match["unit"] else ""
    when = ""
    if match["frame"] is not None:
        when = f"frame {match['frame']}" + (f" ({match['seconds']} s)" if match["seconds"] else "")
    return {
        "check": match["check"],
        "what": match["message"],
        "value": f"{match['value']}{unit}",
        "limit": f"{match['op']} {match['limit']}{unit}",
        "when": when,
    }


@functools.cache  # one environment per process: templates compile once
def _env():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "j2"], default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["href"] = lambda path: quote(str(path), safe="/:#?=&%")
    return env


def verdict_of(row: Mapping[str, Any], outcome: Mapping[str, Any] | None = None) -> str:
    """The row's verdict: its `verdict` field when set; "borderline" for a passed clip the verdict
    (quality/verdict.py) called a close call, as its outcome's reason says; else pass or fail."""
    verdict = row.get("verdict")
    if isinstance(verdict, str) and verdict.strip():
        return verdict.strip().lower()
    if not row.get("passed"):
        return "fail"
    return "borderline" if outcome and outcome.get("reason", "").startswith("borderline") else "pass"


def _group(verdict: str) -> str:
    return {"pass": "passed", "passed": "passed", "borderline": "borderline"}.get(verdict, "failed")


def decision_of(row: Mapping[str, Any], outcome: Mapping[str, Any] | None = None) -> str:
    """A reviewer's decision on the clip: a row field (DECISION_KEYS) or the manifest row's `review`."""
    if outcome and outcome.get("decision"):
        return str(outcome["decision"])
    for key in DECISION_KEYS:
        value = row.get(key)
        if value not in (None, "") and not (isinstance(value, float) and math.isnan(value)):
            return str(value)
    return ""


def _local_path(uri: str | None) -> Path | None:
    if not uri:
        return None
    if uri.startswith("file://"):
        return Path(unquote(urlparse(uri).path))
    if "://" in uri:
        return None
    return Path(uri)


def _video_link(uri: str | None, page_dir: Path) -> str | None:
    """A link a browser can follow from the page: http(s) as is, a local file relative to the page."""
    if not uri:
        return None
    if uri.startswith(("http://", "https://")):
        return uri
    path = _local_path(uri)
    if path is None or not path.is_absolute() or not path.exists():
        return None
    return Path(os.path.relpath(path.resolve(), page_dir)).as_posix()


def outcome_index(outcomes: Iterable[Any] | None) -> dict[tuple[str, str], dict[str, Any]]:
    """What the report needs of a run's manifest rows (ManifestRow or dicts), by (sku, preset): status,
    reason, video, unchanged and a reviewer's decision. Small: build it while the rows are at hand."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for row in outcomes or ():
        data = row.model_dump(mode="json") if hasattr(row, "model_dump") else dict(row)
        review = data.get("review") if isinstance(data.get("review"), dict) else {}
        found[(str(data.get("sku")), str(data.get("preset")))] = {
            "status": str(data.get("status") or ""),
            "reason": str(data.get("reason") or ""),
            "video": data.get("video"),
            "unchanged": bool(data.get("unchanged")),
            "decision": str(review.get("decision") or ""),
        }
    return found


def _clip_page(row: Mapping[str, Any], root: Path) -> Path | None:
    page = Path(str(row.get("report") or ""))
    if page.name != "index.html" or root not in page.parents:
        return None
    return page


def _write_clip_page(
    env, row: Mapping[str, Any], page: Path, root: Path, outcome: dict[str, Any] | None, verdict: str
) -> bool:
    """The clip's own page from its material (`clip.json`); False when the check step wrote none."""
    data_path = page.parent / CLIP_DATA
    if not data_path.is_file():
        return False
    data = json.loads(data_path.read_text(encoding="utf-8"))
    report = QCReport.model_validate(data["report"])
    media = data.get("media") or {}
    page_dir = page.parent
    video = video_note = None
    if outcome and report.passed and outcome["status"] == "published":
        video = _video_link(outcome["video"], page_dir)
        video_note = "the published asset" if video else None
    if video is None and media.get("preview"):
        video = media["preview"]
        video_note = "a small preview of the checked clip (not published)"
    if video is None:
        video_note = f"no playable video: {outcome['status']}: {outcome['reason']}" if outcome else "no playable video"
    fps = report.scores.get("fps") or None
    charts = svg_curves(report.per_frame, report.limits, fps=fps, failed_checks=report.failed_checks)
    findings = [parse_finding(reason) for reason in report.reasons]
    scores = sorted((k, f"{v:.4g}", report.limits.get(k)) for k, v in report.scores.items())
    back = Path(os.path.relpath(root / "index.html", page_dir)).as_posix()
    css = Path(os.path.relpath(root / STYLESHEET, page_dir)).as_posix()
    text = env.get_template("clip.html.j2").render(
        title=f"{data['sku']} · {data['preset']} · attempt {data['attempt']}",
        sku=data["sku"],
        preset=data["preset"],
        attempt=data["attempt"],
        verdict=verdict,
        group=_group(verdict),
        decision=decision_of(row, outcome),
        outcome=outcome,
        video=video,
        video_note=video_note,
        source=media.get("source"),
        strip=media.get("strip"),
        media_error=media.get("error"),
        findings=findings,
        charts=charts,
        scores=scores,
        back=back,
        css=css,
    )
    _atomic_write(page, text)
    return True


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _nothing_done(outcome_counts: Counter, total_outcomes: int) -> str:
    if not total_outcomes:
        return "This run checked no clips: it had no work items (no catalog row selected a preset)."
    parts = []
    for status, count in sorted(outcome_counts.items()):
        parts.append(f"{count} {status}")
    return (
        "This run checked no clips: nothing was generated. Its "
        f"{total_outcomes} (sku, preset) outcomes: {', '.join(parts)} (unchanged items keep their live video)."
    )


def build_report_index(
    rows: Iterable[Mapping[str, Any]],
    report_root: str | Path,
    *,
    title: str,
    outcomes: Mapping[tuple[str, str], Mapping[str, Any]] | Iterable[Any] | None = None,
) -> Path:
    """Write ``report_root/index.html`` (the run page) and each checked clip's page over a run's QC-table
    rows (``quality.table`` columns, e.g. streamed from a ``QCSpool``); returns the run page's path.

    `outcomes`: the run's manifest rows (ManifestRow or dicts with sku, preset, status, reason, video) or
    their `outcome_index`: the clip pages show the published video, the run page counts final outcomes.
    Rows are rendered one at a time into side files (one per group: failed, borderline, passed) joined
    after, so any number of rows costs constant memory besides the small count tables."""
    root = Path(report_root).resolve()  # clip pages are stored under resolved paths (paths.within)
    root.mkdir(parents=True, exist_ok=True)
    env = _env()
    row_template = env.get_template("run_row.html.j2")
    found = outcomes if isinstance(outcomes, Mapping) else outcome_index(outcomes)
    per_preset: dict[str, Counter] = defaultdict(Counter)
    per_reason: Counter = Counter()
    group_counts: Counter = Counter()
    has_decision = False
    side = {group: root / f".index-{group}.part" for group in _GROUPS}
    handles = {group: open(path, "w", encoding="utf-8") for group, path in side.items()}
    try:
        for row in rows:
            sku, preset = str(row.get("sku")), str(row.get("preset"))
            outcome = found.get((sku, preset))
            verdict = verdict_of(row, outcome)
            group = _group(verdict)
            per_preset[preset][group] += 1
            group_counts[group] += 1
            for check in filter(None, str(row.get("failed_checks") or "").split(",")):
                per_reason[check] += 1
            decision = decision_of(row, outcome)
            has_decision = has_decision or bool(decision)
            page = _clip_page(row, root)
            written = page is not None and _write_clip_page(env, row, page, root, outcome, verdict)
            strip = page.parent / "strip.jpg" if written else None
            handles[group].write(
                row_template.render(
                    sku=sku,
                    preset=preset,
                    attempt=row.get("attempt"),
                    verdict=verdict,
                    group=group,
                    reasons=[r for r in str(row.get("reasons") or "").split("; ") if r],
                    strip=strip.relative_to(root).as_posix() if strip is not None and strip.is_file() else None,
                    link=page.relative_to(root).as_posix() if written else None,
                    note=None if written else str(row.get("report") or "no clip page"),
                    decision=decision,
                )
                + "\n"
            )
    finally:
        for handle in handles.values():
            handle.close()
    outcome_counts: Counter = Counter()
    final_per_preset: dict[str, Counter] = defaultdict(Counter)
    for (_, preset), outcome in found.items():
        status = "unchanged" if outcome["unchanged"] else outcome["status"]
        outcome_counts[status] += 1
        final_per_preset[preset][status] += 1
    statuses = sorted(outcome_counts)
    presets = sorted(set(per_preset) | set(final_per_preset))
    total = sum(group_counts.values())
    shutil.copyfile(TEMPLATES / STYLESHEET, root / STYLESHEET)
    head, tail = (
        env.get_template("run.html.j2")
        .render(
            title=title,
            total=total,
            groups=[(g, _GROUP_TITLES[g], group_counts[g]) for g in _GROUPS],
            presets=[(p, per_preset[p], final_per_preset[p]) for p in presets],
            statuses=statuses,
            reasons=per_reason.most_common(),
            nothing=_nothing_done(outcome_counts, len(found)) if not total else None,
            has_decision=has_decision,
            css=STYLESHEET,
            marker="<!--ROWS-->",
        )
        .split("<!--ROWS-->", 1)
    )
    page = root / "index.html"
    tmp = page.with_name(page.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as out:
        out.write(head)
        for group in _GROUPS:
            if not group_counts[group]:
                continue
            out.write(
                env.get_template("run_section.html.j2").render(
                    group=group, heading=_GROUP_TITLES[group], count=group_counts[group], has_decision=has_decision
                )
            )
            with open(side[group], encoding="utf-8") as body:
                shutil.copyfileobj(body, out)
            out.write("</tbody></table></section>\n")
        out.write(tail)
    tmp.replace(page)
    for path in side.values():
        path.unlink(missing_ok=True)
    return page


def build_report(
    entries: Iterable[ReportEntry],
    out_dir: str | Path,
    *,
    title: str = "QC report",
    outcomes: Mapping[tuple[str, str], Mapping[str, Any]] | Iterable[Any] | None = None,
) -> Path:
    """A report over clips checked outside a run (e.g. a folder of clips): each entry's material under
    ``out_dir/clips/<sku>--<preset>--<attempt>/``, then the pages; returns ``out_dir/index.html``."""
    from catalog_motion.paths import safe_segment, within
    from quality.table import qc_rows

    root = Path(out_dir).resolve()
    rows = []
    for entry in entries:
        clip_dir = within(root / "clips", f"{safe_segment(entry.sku)}--{safe_segment(entry.preset)}--{entry.attempt}")
        write_clip_material(entry, clip_dir)
        identity = {"sku": entry.sku, "preset": entry.preset, "attempt": entry.attempt, "clip": str(entry.clip_path)}
        rows += qc_rows([({**identity, "report": str(clip_dir / "index.html")}, entry.report)])
    return build_report_index(rows, root, title=title, outcomes=outcomes)
