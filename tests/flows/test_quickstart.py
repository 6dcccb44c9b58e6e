"""The product run as the README runs it: the installed `catalog-motion` script, from a new working
directory, with relative paths everywhere (catalog, --out, presets and settings files, qc, manifest)."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.flows.conftest import SMALL_PRESETS

SCRIPT = Path(sys.executable).with_name("catalog-motion")


def _cli(args: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_SERVER_ANALYTICS_ENABLED="false", HOME=str(cwd / "home"))
    return subprocess.run([str(SCRIPT), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def relative_run(small_sample_catalog: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One `run` from a fresh folder, every path relative; the settings file names its work folder
    relative to itself (conf/scratch), as paths in a settings file are."""
    cwd = tmp_path_factory.mktemp("quickstart")
    (cwd / "home").mkdir()
    shutil.copytree(small_sample_catalog.parent, cwd / "catalog")
    (cwd / "presets.yaml").write_text(yaml.safe_dump(SMALL_PRESETS), encoding="utf-8")
    (cwd / "conf").mkdir()
    (cwd / "conf" / "settings.yaml").write_text("work_dir: scratch\n", encoding="utf-8")
    result = _cli(
        [
            "run",
            "--catalog",
            "catalog/catalog.csv",
            "--out",
            "out",
            "--presets-file",
            "presets.yaml",
            "--config",
            "conf/settings.yaml",
        ],
        cwd,
    )
    return {"cwd": cwd, "result": result}


def test_installed_script_runs_with_relative_paths(relative_run):
    cwd, result = relative_run["cwd"], relative_run["result"]
    assert SCRIPT.is_file(), f"console script not installed at {SCRIPT}"
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr + result.stdout
    latest = json.loads((cwd / "out" / "latest" / "manifest.json").read_text())
    assert len(latest["rows"]) == 2 * 3  # 3 SKUs x 2 presets
    assert {r["status"] for r in latest["rows"]} == {"published"}, [(r["sku"], r["reason"]) for r in latest["rows"]]
    run_root = cwd / "out" / "runs" / latest["run_id"]
    assert (run_root / "catalog-docs" / "index.html").is_file()
    assert (run_root / "qc-docs" / "index.html").is_file()
    assert (run_root / "qc-report" / "index.html").is_file()
    # the settings file's relative work folder is relative to the settings file, not to the cwd
    assert (cwd / "conf" / "scratch" / "prefect" / "prefect.db").is_file()
    assert not (cwd / "scratch").exists()


def test_qc_and_manifest_commands_take_relative_paths(relative_run):
    cwd = relative_run["cwd"]
    assert relative_run["result"].returncode == 0, relative_run["result"].stderr[-3000:]
    latest = json.loads((cwd / "out" / "latest" / "manifest.json").read_text())
    row = next(r for r in latest["rows"] if r["preset"] == "product-page")
    rel_video = Path("out") / next(a["key"] for a in row["assets"] if a["kind"] == "video")
    with open(cwd / "catalog" / "catalog.csv", newline="", encoding="utf-8") as handle:
        image = next(r["image"] for r in csv.DictReader(handle) if r["sku"] == row["sku"])
    photo = Path("catalog") / image  # the clip's own source photo, relative to the cwd
    qc = _cli(
        [
            "qc",
            "--source",
            str(photo),
            "--video",
            str(rel_video),
            "--preset",
            "product-page",
            "--presets-file",
            "presets.yaml",
            "--json",
        ],
        cwd,
        timeout=120,
    )
    assert qc.returncode in (0, 1), qc.stderr[-2000:]
    verdict = json.loads(qc.stdout)
    assert set(verdict) >= {"passed", "scores", "reasons"} and "drift" in verdict["scores"]

    show = _cli(["manifest", "show", "--out", "out"], cwd, timeout=60)
    assert show.returncode == 0, show.stderr
    assert latest["run_id"] in show.stdout and "published" in show.stdout

    wrong = _cli(["manifest", "show", "--out", "elsewhere"], cwd, timeout=60)
    assert wrong.returncode == 2 and wrong.stderr.count("\n") == 1, wrong.stderr
    assert f"no runs published in {cwd / 'elsewhere'}" in wrong.stderr and "--out" in wrong.stderr

    listing = _cli(["manifest", "list", "--out", "out"], cwd, timeout=60)
    assert listing.returncode == 0 and latest["run_id"] in listing.stdout, listing.stderr

    copy = _cli(["publish", "--run", latest["run_id"], "--to", "copy", "--from", "out"], cwd, timeout=120)
    assert copy.returncode == 0, copy.stderr
    assert json.loads((cwd / "copy" / "latest" / "manifest.json").read_text())["run_id"] == latest["run_id"]


def test_failed_run_says_what_failed_where_in_one_line(small_sample_catalog, tmp_path):
    """A step failing on something no stage foresaw (here `out/runs` is a file): one line naming the step
    and the path, no class name, exit 2; --debug adds the traceback for a bug report."""
    (tmp_path / "home").mkdir()
    shutil.copytree(small_sample_catalog.parent, tmp_path / "catalog")
    (tmp_path / "presets.yaml").write_text(yaml.safe_dump(SMALL_PRESETS), encoding="utf-8")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "runs").write_text("not a folder", encoding="utf-8")
    args = [
        "run",
        "--catalog",
        "catalog/catalog.csv",
        "--out",
        "out",
        "--presets-file",
        "presets.yaml",
        "--presets",
        "product-page",
    ]
    result = _cli(args, tmp_path, timeout=180)
    assert result.returncode == 2, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr[-2000:]
    assert lines[0].startswith("error: validating the catalog into the Data Docs at "), lines[0]
    assert str(tmp_path / "out" / "runs") in lines[0] and "not a directory" in lines[0], lines[0]
    assert "Error" not in lines[0], lines[0]  # words, not NotADirectoryError

    debug = _cli(["--debug", *args], tmp_path, timeout=180)
    assert debug.returncode == 2
    last = debug.stderr.strip().splitlines()[-1]
    assert "Traceback" in debug.stderr and last.startswith("error: validating the catalog"), debug.stderr[-2000:]
