"""The QC report in headless Chromium over loopback HTTP: the run page lists the failed clip first, its
link opens the clip page, and that page's <video> loads (the preview of the rejected clip) and the page
screenshots non-blank. `make_sample_report` is also what scripts/make_report_screenshot.py draws."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from catalog_motion.media import ffmpeg_exe, write_master
from catalog_motion.presets import load_presets
from quality.gate import check_clip_with_frames
from quality.report import ReportEntry, build_report_index, write_clip_material
from quality.synthetic import camera_frames, draw_garment_photo
from quality.table import qc_rows

RUN_PAGE = "runs/r1/qc-report/index.html"


def _colour_drift(frames: list[np.ndarray], start: int) -> list[np.ndarray]:
    """The garment slowly turns orange from frame `start`: the drift a diffusion model is rejected for."""
    out = []
    for i, frame in enumerate(frames):
        k = min(60, 3 * max(0, i - start))
        out.append(np.clip(frame.astype(np.int16) + np.array([k, 0, -k]), 0, 255).astype(np.uint8))
    return out


def make_sample_report(out_root: Path, width: int = 192, height: int = 240, n: int = 24) -> dict:
    """An output folder laid out as a run writes it (assets under <sku>/<preset>/, the report under
    runs/r1/qc-report/) with a passed-and-published clip, a colour-drift failure and a black-frame one.
    Returns {"page": run page, "clips": {sku: clip page}}."""
    out_root.mkdir(parents=True, exist_ok=True)
    base = load_presets()["product-page"]
    motion = base.motion.model_copy(update={"path": "push_in", "amount": 0.5})
    preset = base.model_copy(
        update={"width": width, "height": height, "fps": 24, "duration_s": n / 24, "loop": False, "motion": motion}
    )
    photo_array = draw_garment_photo(width * 2, height * 2, seed=3)
    photo = out_root / "work" / "photo.png"
    photo.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(photo_array).save(photo)
    good = camera_frames(photo_array, width, height, n, zoom=0.08)
    black = [f.copy() for f in good]
    black[n // 3] = np.zeros_like(black[n // 3])
    clips = {
        "SKU-GOOD": good,
        "SKU-DRIFT": _colour_drift(good, n // 3),
        "SKU-BLACK": black,
    }
    root = out_root / "runs" / "r1" / "qc-report"
    rows, outcomes, pages = [], [], {}
    for sku, frames in clips.items():
        master = write_master(frames, out_root / "work" / f"{sku}.nut", 24)
        report, decoded = check_clip_with_frames(photo, master, preset)  # as the pipeline's check step does
        clip_dir = root / "clips" / f"{sku}--product-page--0"
        write_clip_material(ReportEntry(sku, "product-page", photo, master, report), clip_dir, decoded)
        rows += qc_rows(
            [({"sku": sku, "preset": "product-page", "attempt": 0, "report": str(clip_dir / "index.html")}, report)]
        )
        pages[sku] = clip_dir / "index.html"
        if report.passed:  # "publish" it: a real H.264 MP4 where a local sink stores it
            video = out_root / sku / "product-page" / "video-0123abcd.mp4"
            video.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(
                [
                    ffmpeg_exe(),
                    "-v",
                    "error",
                    "-y",
                    "-i",
                    str(master),
                    "-c:v",
                    "libx264",
                    "-pix_fmt",
                    "yuv420p",
                    "-movflags",
                    "+faststart",
                    str(video),
                ],
                check=True,
            )
            outcomes.append({"sku": sku, "preset": "product-page", "status": "published", "video": str(video)})
        else:
            outcomes.append({"sku": sku, "preset": "product-page", "status": "rejected", "reason": report.reasons[0]})
    # failures are appended after the pass, as a run would check them: the page must still list them first
    page = build_report_index(rows, root, title="QC report, run r1", outcomes=outcomes)
    return {"page": page, "clips": pages, "rows": rows}


HARNESS = """<!doctype html><html><head><meta charset="utf-8"></head><body>
<iframe id="f" src="{run_page}" style="width:1200px;height:900px"></iframe><pre id="result"></pre>
<script>
const out = {{}};
const f = document.getElementById("f");
function done() {{ document.getElementById("result").textContent = JSON.stringify(out); }}
f.addEventListener("load", function first() {{
  f.removeEventListener("load", first);
  const doc = f.contentDocument;
  out.sections = [...doc.querySelectorAll("section")].map(s => s.id);
  const link = doc.querySelector("section a.clip-link");
  out.firstSku = link.closest("tr").querySelector("b").textContent;
  out.firstStripLoaded = link.closest("tr").querySelector("img.strip").naturalWidth;
  f.addEventListener("load", () => {{
    const page = f.contentDocument;
    out.clipTitle = page.querySelector("h1").textContent;
    out.back = page.querySelector("a.back").href;
    out.findings = [...page.querySelectorAll("table.findings tbody tr")].map(r => r.textContent);
    out.charts = page.querySelectorAll("svg.curve").length;
    out.cssApplied = getComputedStyle(page.querySelector(".verdict")).fontWeight;
    const v = page.querySelector("video");
    const report = (state) => {{
      Object.assign(out, {{state, readyState: v.readyState, videoWidth: v.videoWidth, error: v.error && v.error.code,
                          src: v.currentSrc}});
      done();
    }};
    if (v.readyState >= 2) report("loaded");
    v.addEventListener("loadeddata", () => report("loaded"), {{once: true}});
    v.addEventListener("error", () => report("error"), {{once: true}});
  }});
  link.click();
}});
</script></body></html>"""


def pixels_look_real(png: Path) -> bool:
    pixels = np.asarray(Image.open(png).convert("RGB"), dtype=np.float32)
    return bool(pixels.std() > 10 and len(np.unique(pixels.reshape(-1, 3)[::7], axis=0)) > 200)


@pytest.fixture(scope="module")
def sample_report(tmp_path_factory):
    out_root = tmp_path_factory.mktemp("report-out")
    return out_root, make_sample_report(out_root)


@pytest.mark.browser
def test_failed_clip_first_click_through_video_loads(sample_report, browser, browser_static_server, tmp_path):
    out_root, sample = sample_report
    (out_root / "harness.html").write_text(HARNESS.format(run_page=RUN_PAGE), encoding="utf-8")
    base = browser_static_server(out_root)  # the output folder served as is, report links relative inside it
    result = browser.eval_json(f"{base}/harness.html")
    assert result["sections"] == ["failed", "passed"], result
    assert result["firstSku"] in {"SKU-DRIFT", "SKU-BLACK"} and result["firstStripLoaded"] > 100, result
    assert result["firstSku"] in result["clipTitle"] and "FAIL" in result["clipTitle"]
    assert result["back"] == f"{base}/{RUN_PAGE}"
    assert result["findings"] and result["charts"] >= 3 and result["cssApplied"] == "700", result
    assert result["state"] == "loaded" and result["error"] is None, result
    assert result["readyState"] >= 2 and result["videoWidth"] > 0, result
    assert result["src"].endswith("/preview.mp4"), result

    clip_url = f"{base}/{Path(sample['clips'][result['firstSku']]).relative_to(out_root).as_posix()}"
    shot = browser.screenshot(clip_url, tmp_path / "clip.png", size=(1100, 900))
    assert pixels_look_real(shot), "clip page screenshot is blank"
    (tmp_path / "result.json").write_text(json.dumps(result))


@pytest.mark.browser
def test_passed_clip_page_plays_the_published_asset(sample_report, browser, browser_static_server):
    out_root, sample = sample_report
    page = Path(sample["clips"]["SKU-GOOD"]).relative_to(out_root).as_posix()
    probe = """<!doctype html><meta charset="utf-8"><iframe id="f" src="{page}"></iframe><pre id="result"></pre>
<script>document.getElementById("f").addEventListener("load", () => {{
  const v = document.getElementById("f").contentDocument.querySelector("video");
  const report = (state) => document.getElementById("result").textContent = JSON.stringify(
    {{state, readyState: v.readyState, videoWidth: v.videoWidth, src: v.currentSrc}});
  if (v.readyState >= 2) report("loaded");
  v.addEventListener("loadeddata", () => report("loaded"), {{once: true}});
  v.addEventListener("error", () => report("error"), {{once: true}});
}});</script>"""
    (out_root / "probe-good.html").write_text(probe.format(page=page), encoding="utf-8")
    base = browser_static_server(out_root)
    result = browser.eval_json(f"{base}/probe-good.html")
    assert result["state"] == "loaded" and result["readyState"] >= 2 and result["videoWidth"] == 192, result
    assert result["src"] == f"{base}/SKU-GOOD/product-page/video-0123abcd.mp4", result
