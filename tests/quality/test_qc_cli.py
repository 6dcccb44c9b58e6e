"""`catalog-motion qc` as a subprocess: bad input is exit 2 with one line, a cut-short clip exit 1 with a
duration reason, never exit 0; --json carries the limits and every finding."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from catalog_motion.media import ffmpeg_exe, read_frames

ROOT = Path(__file__).resolve().parents[2]
PRESETS = """presets:
  loop:
    aspect: '4:5'
    width: 432
    height: 540
    duration_s: 4.0
    fps: 24
    loop: true
    motion: {path: breathing, amount: 0.25}
"""


def _qc(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "flows.cli", "qc", *args], capture_output=True, text=True, cwd=ROOT, timeout=180
    )


@pytest.fixture(scope="module")
def clips(tmp_path_factory, qc_photo_path):
    """A 4 s 432x540 breathing loop of the camera engine: lossless master and a faststart H.264."""
    from catalog_motion.presets import load_presets
    from generation.base import GenerationRequest
    from generation.registry import get_engine

    folder = tmp_path_factory.mktemp("qc_cli")
    presets = folder / "presets.yaml"
    presets.write_text(PRESETS, encoding="utf-8")
    preset = load_presets(presets)["loop"]
    master = folder / "loop.mkv"
    get_engine("camera").generate(
        GenerationRequest(source_path=str(qc_photo_path), preset=preset, seed=0, out_path=str(master))
    )
    mp4 = folder / "loop.mp4"
    subprocess.run(
        [ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(master), "-c:v", "libx264", "-crf", "26"]
        + ["-pix_fmt", "yuv420p", "-movflags", "+faststart", str(mp4)],
        check=True,
    )
    return {"folder": folder, "presets": presets, "master": master, "mp4": mp4}


def _run(clips, qc_photo_path, video, *extra):
    return _qc(
        "--source",
        str(qc_photo_path),
        "--video",
        str(video),
        "--preset",
        "loop",
        "--presets-file",
        str(clips["presets"]),
        *extra,
    )


def _one_line_error(result):
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert result.stdout == "" and len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_unreadable_input_exits_2_with_one_line(clips, qc_photo_path):
    folder = clips["folder"]
    empty = folder / "empty.mp4"
    empty.write_bytes(b"")
    corrupt = folder / "random.mp4"
    corrupt.write_bytes(os.urandom(64 * 1024))
    text = folder / "notes.mkv"
    text.write_text("not a video\n" * 50, encoding="utf-8")
    assert "empty" in _one_line_error(_run(clips, qc_photo_path, empty))
    assert "cannot decode clip random.mp4" in _one_line_error(_run(clips, qc_photo_path, corrupt))
    assert "cannot decode clip notes.mkv" in _one_line_error(_run(clips, qc_photo_path, text, "--json"))
    # a photo given as the clip: one frame is nothing to score
    assert "frame" in _one_line_error(_run(clips, qc_photo_path, qc_photo_path))


@pytest.mark.parametrize("kind", ["master", "mp4"])
def test_file_cut_at_half_its_bytes_fails_duration(clips, qc_photo_path, kind):
    data = clips[kind].read_bytes()
    cut = clips["folder"] / f"half-{clips[kind].name}"
    cut.write_bytes(data[: len(data) // 2])
    result = _run(clips, qc_photo_path, cut, "--json")
    assert result.returncode == 1, result.stderr
    body = json.loads(result.stdout)
    assert body["passed"] is False and body["failed_checks"][0] == "duration"
    assert "loop_seam" not in body["failed_checks"]  # one fault, reported once
    (truncated,) = [f for f in body["findings"] if f["check"] == "duration"]
    assert "truncated after" in truncated["reason"] and "of 96 frames" in truncated["reason"]


def test_clip_shorter_than_the_preset_fails_duration(clips, qc_photo_path):
    from catalog_motion.media import write_master

    short = write_master(list(read_frames(clips["master"])[:40]), clips["folder"] / "short.mkv", 24)
    result = _run(clips, qc_photo_path, short)
    assert result.returncode == 1 and result.stdout.startswith("FAIL")
    assert "reason: duration: clip is 1.67 s (40 frames), preset loop needs 4.00 s (96 frames)" in result.stdout


def test_json_has_limits_and_findings(clips, qc_photo_path):
    good = _run(clips, qc_photo_path, clips["mp4"], "--json")
    assert good.returncode == 0, good.stdout + good.stderr
    body = json.loads(good.stdout)
    assert body["passed"] is True and body["findings"] == [] and body["reasons"] == []
    limits = body["limits"]
    assert limits["loop_seam"] == 5.0 and limits["min_duration_s"] == 3.8  # 95 % of 4 s: default policy
    assert 0 < limits["min_motion_pct"] < body["scores"]["motion_camera_pct"] < limits["max_motion_pct"]
    assert body["scores"]["loop_seam"] < limits["loop_seam"]
    text = _run(clips, qc_photo_path, clips["master"])
    assert text.returncode == 0 and text.stdout.startswith("PASS") and "(limit 5)" in text.stdout
