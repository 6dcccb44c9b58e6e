"""The QC report's pages, read as files: failures first, counts at the top, each clip's evidence named
(value, limit, time), curves scaled to their data, links relative, and plain words for a run that did
nothing. The browser view is tests/quality/test_report_browser.py."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from urllib.parse import unquote

import av
import pytest

from quality.evidence import Finding
from quality.report import (
    ReportEntry,
    build_report,
    build_report_index,
    outcome_index,
    parse_finding,
    write_clip_material,
)
from quality.report_svg import svg_curve
from tests.quality.test_report_browser import make_sample_report


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    out_root = tmp_path_factory.mktemp("report-pages")
    return out_root, make_sample_report(out_root)


def _links(page: Path) -> list[str]:
    return re.findall(r"""(?:href|src)="([^"]+)\"""", page.read_text(encoding="utf-8"))


def test_run_page_lists_failures_first_with_counts_per_preset_and_check(sample):
    _, s = sample
    text = s["page"].read_text(encoding="utf-8")
    failed, passed = text.index('<section id="failed">'), text.index('<section id="passed">')
    assert failed < passed and 'id="borderline"' not in text  # no empty section
    assert text.index("SKU-DRIFT", failed) < passed and text.index("SKU-BLACK", failed) < passed
    assert text.index("SKU-GOOD", failed) > passed
    assert "3 clip attempts checked" in text and "2 failed" in text and "1 passed" in text
    counts = text[text.index("Per preset") : text.index("Per failed check")]
    # preset | attempts failed | borderline | passed | published (final) | rejected (final)
    assert re.search(r"<td>product-page</td><td[^>]*>2</td><td>0</td><td>1</td><td>1</td><td>2</td>", counts), counts
    by_check = text[text.index("Per failed check") : failed]
    assert "<td>drift</td><td>1</td>" in by_check and "<td>black_frames</td><td>1</td>" in by_check
    assert "no-decision" in text  # no reviewer decision anywhere: the column is hidden


def test_clip_pages_show_video_source_filmstrip_and_each_failed_check(sample):
    out_root, s = sample
    drift = s["clips"]["SKU-DRIFT"].read_text(encoding="utf-8")
    row = re.search(
        r"<tr><td>drift</td><td>(.*?)</td><td class=\"failed\">(.*?)</td><td>(.*?)</td><td>(.*?)</td>", drift
    )
    assert row, drift
    what, value, limit, when = row.groups()
    assert "subject drift" in what and float(value) > 0.25 and limit == "&gt; 0.25"
    assert re.fullmatch(r"frame \d+ \(\d+\.\d+ s\)", when)
    assert 'src="preview.mp4"' in drift and 'src="source.jpg"' in drift and 'src="strip.jpg"' in drift
    with av.open(str(s["clips"]["SKU-DRIFT"].parent / "preview.mp4")) as preview:
        stream = preview.streams.video[0]
        assert (stream.codec_context.name, stream.format.name) == ("h264", "yuv420p")
        assert sum(1 for _ in preview.decode(stream)) == 24  # every frame of the checked clip
    # the drift chart: its limit drawn as a line, the failed check's chart first
    charts = re.findall(r"<figure class=\"chart( failed)?\"><figcaption>(.*?)</figcaption>", drift)
    assert charts[0] == (" failed", "subject drift vs the photo (windowed; dotted: raw) — failed")
    assert "class='limit'" in drift and "limit 0.25" in drift
    assert "Outcome of this (sku, preset) in the run: <b>rejected</b>" in drift
    good = s["clips"]["SKU-GOOD"].read_text(encoding="utf-8")
    assert 'src="../../../../../SKU-GOOD/product-page/video-0123abcd.mp4"' in good and "the published asset" in good
    assert not (s["clips"]["SKU-GOOD"].parent / "preview.mp4").exists()  # a published clip needs no preview
    assert "Failed checks" not in good and 'href="../../index.html"' in good


def test_every_link_is_relative_and_resolves_from_file_urls(sample):
    out_root, s = sample
    pages = [s["page"], *s["clips"].values()]
    for page in pages:
        links = _links(page)
        assert links, page
        for link in links:
            assert "://" not in link and not link.startswith("/"), (page, link)
            target = (page.parent / unquote(link.split("#")[0])).resolve() if not link.startswith("#") else page
            assert target.is_file() and out_root.resolve() in target.parents, (page, link)


def test_curves_are_scaled_to_their_data_with_the_limit_in_view():
    values = [0.010, 0.012, 0.018, 0.016]
    svg = svg_curve(values, limit=0.025, title="drift")
    ticks = [float(t) for t in re.findall(r"class='ytick'>([-\d.e]+)<", svg)]
    assert max(ticks) <= 0.03 and min(ticks) >= 0  # not a 0-1 axis: the curve fills the chart
    assert "class='limit'" in svg and "limit 0.025" in svg
    far = svg_curve(values, limit=0.5, title="drift")
    assert "class='limit'" not in far and "limit 0.5 (above the chart)" in far
    assert max(float(t) for t in re.findall(r"class='ytick'>([-\d.e]+)<", far)) <= 0.02


@pytest.mark.parametrize(
    "finding",
    [
        Finding("drift", "subject drift (colour 1.00)", 0.61, 0.25, 30, 24.0),
        Finding("cut", "jump cut between frames 11 and 12: change vs neighbouring pairs", 7.5, 4.0, 12, 24.0, unit="x"),
        Finding("photosensitivity", "flashes in one second (WCAG 2.3.1)", 5, 3, 40, 30.0, unit="/s"),
        Finding("technical", "frames in the clip (the engine wrote a different count)", 90, 96, above=False),
    ],
)
def test_each_failed_check_reads_back_with_value_limit_and_time(finding):
    parsed = parse_finding(finding.reason)
    unit = f" {finding.unit}" if finding.unit else ""
    assert parsed["check"] == finding.check and parsed["what"] == finding.message
    assert parsed["value"] == f"{finding.value:.4g}{unit}"
    assert parsed["limit"] == f"{'>' if finding.above else '<'} {finding.limit:.4g}{unit}"
    if finding.frame is None:
        assert parsed["when"] == ""
    else:
        assert parsed["when"] == f"frame {finding.frame} ({finding.frame / finding.fps:.2f} s)"
    assert parse_finding("delivery: mp4 container broken")["what"] == "delivery: mp4 container broken"


def test_borderline_unknown_verdicts_and_review_decisions(sample, tmp_path):
    _, s = sample
    source_root = Path(s["page"]).parent
    root = tmp_path / "qc-report"
    shutil.copytree(source_root, root)  # its own copy: the module's sample stays as built
    rows = [dict(r, report=str(root / Path(r["report"]).relative_to(source_root))) for r in s["rows"]]
    good = next(r for r in rows if r["sku"] == "SKU-GOOD")
    black = next(r for r in rows if r["sku"] == "SKU-BLACK")
    black["verdict"] = "needs-eyes"  # a verdict this report does not know: listed with the failures
    outcomes = {
        ("SKU-GOOD", "product-page"): {
            "status": "rejected",
            "reason": "borderline, held for review: drift 0.24 within 10% of limit 0.25",
            "video": None,
            "unchanged": False,
            "decision": "approve",
        }
    }
    page = build_report_index(rows, root, title="QC report, run r1", outcomes=outcomes)
    text = page.read_text(encoding="utf-8")
    borderline, failed = text.index('<section id="borderline">'), text.index('<section id="failed">')
    assert failed < borderline and "passed" not in re.findall(r'<section id="(\w+)"', text)
    assert text.index("SKU-GOOD", borderline) > borderline and "NEEDS-EYES" in text[failed:borderline]
    assert "no-decision" not in text and '<td class="decision">approve</td>' in text
    clip = Path(good["report"]).read_text(encoding="utf-8")
    assert "Review decision: <b>approve</b>" in clip and "BORDERLINE" in clip
    # the manifest rows' own shape works too (ManifestRow.review.decision)
    assert (
        outcome_index([{"sku": "A", "preset": "p", "status": "published", "review": {"decision": "approve"}}])[
            ("A", "p")
        ]["decision"]
        == "approve"
    )


def test_a_run_that_did_nothing_says_so(tmp_path):
    unchanged = [{"sku": f"S{i}", "preset": "product-page", "status": "published", "unchanged": True} for i in range(3)]
    text = build_report_index([], tmp_path / "a", title="QC report, run r2", outcomes=unchanged).read_text()
    assert "This run checked no clips: nothing was generated" in text and "3 unchanged" in text
    assert "0 clip attempts" not in text and "<section" not in text
    empty = build_report_index([], tmp_path / "b", title="QC report, run r3").read_text()
    assert "This run checked no clips: it had no work items" in empty


def test_an_unreadable_clip_is_listed_with_why(tmp_path, qc_photo_path):
    from catalog_motion.types import QCReport

    report = QCReport(passed=False, reasons=["technical: clip unreadable"], failed_checks=["technical"])
    page = build_report([ReportEntry("S-gone", "social", qc_photo_path, tmp_path / "gone.nut", report)], tmp_path / "r")
    clip = tmp_path / "r" / "clips" / "S-gone--social--0"
    data = json.loads((clip / "clip.json").read_text())
    assert data["media"]["strip"] == "strip.jpg" and data["media"]["preview"] is None  # the source alone
    assert "clip not found" in data["media"]["error"]
    text = (clip / "index.html").read_text()
    assert "Missing pictures: clip: clip not found" in text and "no playable video" in text
    assert "S-gone" in page.read_text() and "clips/S-gone--social--0/index.html" in page.read_text()


def test_pages_need_no_master_or_work_file(tmp_path, qc_photo_path):
    """Pages are written at the end of the run, after the masters and fetched photos are deleted."""
    out_root = tmp_path / "out"
    s = make_sample_report(out_root, n=12)
    shutil.rmtree(out_root / "work")
    for page in s["clips"].values():
        page.unlink()
    build_report_index(s["rows"], s["page"].parent, title="QC report, run r1")
    text = s["clips"]["SKU-DRIFT"].read_text(encoding="utf-8")
    assert 'src="preview.mp4"' in text and 'src="source.jpg"' in text and "Missing pictures" not in text


def test_filmstrip_includes_the_frame_a_failed_check_names(sample):
    """Evenly spaced frames miss a one-frame fault: the frame a finding names joins the strip, framed red."""
    import numpy as np
    from PIL import Image

    _, s = sample
    strip = np.asarray(Image.open(s["clips"]["SKU-BLACK"].parent / "strip.jpg").convert("RGB")).astype(int)
    red = (strip[..., 0] > 170) & (strip[..., 1] < 70) & (strip[..., 2] < 70)
    columns = np.flatnonzero(red.mean(axis=0) > 0.9)  # the red frame's left and right edges
    assert columns.size >= 2
    inside = strip[10:-10, columns.min() + 6 : columns.max() - 5]
    assert inside.mean() < 30  # the black frame itself
    good = np.asarray(Image.open(s["clips"]["SKU-GOOD"].parent / "strip.jpg").convert("RGB")).astype(int)
    assert not ((good[..., 0] > 170) & (good[..., 1] < 70) & (good[..., 2] < 70)).mean(axis=0).max() > 0.9


def test_a_close_call_gets_a_preview_for_the_reviewer(sample, tmp_path):
    """A passed clip within the preset's borderline margin may be held for a person: it gets a playable preview."""
    from catalog_motion.types import QCReport

    out_root, _ = sample
    master = out_root / "work" / "SKU-GOOD.nut"
    close = QCReport(passed=True, scores={"drift": 0.24}, limits={"drift": 0.25})
    held = write_clip_material(ReportEntry("S", "p", None, master, close, borderline_margin=0.1), tmp_path / "held")
    plain = write_clip_material(ReportEntry("S", "p", None, master, close, borderline_margin=0.0), tmp_path / "plain")
    assert (held / "preview.mp4").stat().st_size > 0 and not (plain / "preview.mp4").exists()
    assert json.loads((held / "clip.json").read_text())["media"]["preview"] == "preview.mp4"


def test_material_comes_from_the_gates_own_decode_without_reading_the_clip_again(tmp_path, qc_photo_path):
    """The check step hands write_clip_material the frames the gate decoded: the filmstrip and the preview
    (every frame) are made with the clip file gone, so a master is decoded once per check."""
    import numpy as np
    from PIL import Image

    from catalog_motion.media import write_master
    from catalog_motion.presets import load_presets
    from quality.gate import check_clip_with_frames
    from quality.synthetic import camera_frames
    from tests.fixtures.quality_clips import QC_H, QC_W

    photo = np.asarray(Image.open(qc_photo_path).convert("RGB"))
    master = write_master(camera_frames(photo, QC_W, QC_H, 20, zoom=0.05), tmp_path / "m.nut", 24)
    preset = load_presets()["product-page"].model_copy(update={"width": QC_W, "height": QC_H, "duration_s": 20 / 24})
    report, frames = check_clip_with_frames(qc_photo_path, master, preset)
    assert len(frames.frames) == 20 and frames.fps == 24
    master.unlink()
    failed = report.model_copy(update={"passed": False, "reasons": ["drift: x 0.4 > limit 0.25 at frame 7"]})
    entry = ReportEntry("S", "product-page", qc_photo_path, master, failed)
    folder = write_clip_material(entry, tmp_path / "c", frames)
    media = json.loads((folder / "clip.json").read_text())["media"]
    assert media["error"] is None and media["strip"] == "strip.jpg" and media["preview"] == "preview.mp4"
    with av.open(str(folder / "preview.mp4")) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264" and sum(1 for _ in container.decode(stream)) == 20
    # without the frames, the same call reads the (now missing) clip and says so instead of failing
    lost = write_clip_material(entry, tmp_path / "d")
    assert "clip:" in json.loads((lost / "clip.json").read_text())["media"]["error"]
