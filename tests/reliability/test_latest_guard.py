"""`latest` only moves forward safely: a broken catalog night, a vanished SKU or a shrinking run never take a
live video out of the manifest storefronts read (issue #14, item 1).

Real flow runs (tiny presets, local sink) against the session's Prefect server; `latest` is compared byte for
byte before and after.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from catalog_motion.presets import load_presets
from publishing.manifest import LatestNotPromoted, ManifestStore
from tests.reliability.helpers import (
    REPO,
    judge,
    latest_regressions,
    latest_rows,
    make_sink,
    run_flow,
    subprocess_env,
)

SKUS = {"TEE-RED-S", "TEE-RED-M", "HOOD-LOGO-L"}


def _latest_bytes(out: Path) -> dict[str, bytes]:
    return {
        name: (out / name).read_bytes() for name in ("latest.json", "latest/manifest.json", "latest/manifest.parquet")
    }


def _params(catalog: Path, out: Path, presets_file: Path, settings: Path | None = None, **extra) -> dict:
    params = dict(catalog=str(catalog), out=str(out), presets_file=str(presets_file), **extra)
    if settings is not None:
        params["settings_file"] = str(settings)
    return params


def _break_every_photo(catalog: Path) -> None:
    lines = catalog.read_text(encoding="utf-8").splitlines()
    broken = [lines[0]] + [line.replace("images/", "missing-folder/") for line in lines[1:]]
    catalog.write_text("\n".join(broken) + "\n", encoding="utf-8")


def _drop_sku(catalog: Path, sku: str) -> None:
    lines = catalog.read_text(encoding="utf-8").splitlines()
    catalog.write_text("\n".join(line for line in lines if not line.startswith(sku + ",")) + "\n", encoding="utf-8")


def _night_without_regressions(catalog: Path, out: Path, presets_file: Path, rel_results) -> dict:
    """Run the flow; it must complete and leave every video that was live before it live."""
    live_before = latest_rows(make_sink(str(out)))
    summary, _, error = run_flow(**_params(catalog, out, presets_file))
    rel_results.add("runs")
    assert error is None, error
    rel_results.add("runs_survived")
    lost = latest_regressions(live_before, latest_rows(make_sink(str(out))))
    rel_results.add("latest_regressions", len(lost))
    assert not lost, lost
    return summary


def _good_first_run(rel_catalog, rel_presets_file, out, rel_results) -> dict:
    summary, _, error = run_flow(**_params(rel_catalog, out, rel_presets_file))
    rel_results.add("runs")
    assert error is None, error
    rel_results.add("runs_survived")
    assert summary["counts"]["total"]["published"] == 6
    return summary


def test_broken_catalog_night_leaves_latest_exactly_as_it_was(
    prefect_api, rel_catalog, rel_presets_file, tmp_path, rel_results
):
    out = tmp_path / "out"
    first = _good_first_run(rel_catalog, rel_presets_file, out, rel_results)
    before = _latest_bytes(out)
    live_before = latest_rows(make_sink(str(out)))

    _break_every_photo(rel_catalog)
    rel_results.add("faults_injected")
    summary, _, error = run_flow(**_params(rel_catalog, out, rel_presets_file))
    rel_results.add("runs")
    assert summary is None and isinstance(error, LatestNotPromoted), error
    rel_results.add("runs_survived")  # it ended as it must: failed, storefront untouched
    assert "every one of its 6 row(s) is invalid" in str(error)
    assert f"latest still points at run {first['run_id']}" in str(error)
    lost = latest_regressions(live_before, latest_rows(make_sink(str(out))))
    rel_results.add("latest_regressions", len(lost))
    assert _latest_bytes(out) == before and not lost  # byte for byte

    # The failed run's own manifest is kept for the operator: every live row still live, the reason saying
    # what this run could not do, with the resolved path of the photo it looked for.
    store = ManifestStore(make_sink(str(out)))
    failed_run = [r for r in store.list_runs() if r != first["run_id"]]
    assert len(failed_run) == 1
    rows = store.read_run(failed_run[0])
    assert {r.status for r in rows} == {"published"} and all(r.unchanged for r in rows)
    assert {r.outcome for r in rows} == {"invalid"}
    assert all(r.published_run == first["run_id"] for r in rows)
    assert all("missing-folder" in r.reason for r in rows), rows[0].reason

    presets = list(load_presets(rel_presets_file).values())
    report = judge(rel_results, rel_catalog, presets, latest_rows(make_sink(str(out))), make_sink(str(out)))
    # latest is the first run's manifest, judged against the (broken) catalog: every SKU still accounted for
    assert report.counts.get("missing", 0) == 0 and report.counts.get("object", 0) == 0, report.violations


def test_broken_catalog_exits_non_zero_from_the_cli(prefect_api, rel_catalog, rel_presets_file, tmp_path, rel_results):
    """What a nightly cron job sees: one line naming the reason and a non-zero exit code."""
    _break_every_photo(rel_catalog)
    out = tmp_path / "out"
    env = subprocess_env()
    env.pop("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", None)  # as in an operator's shell (the suite sets WARNING)
    proc = subprocess.run(
        [sys.executable, "-m", "flows.cli", "run", "--catalog", str(rel_catalog), "--out", str(out)]
        + ["--presets-file", str(rel_presets_file)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    rel_results.add("runs")
    assert proc.returncode != 0, proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "not made latest" in lines[0] and "invalid" in lines[0], proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert not (out / "latest.json").exists()  # nothing was ever promoted
    rel_results.add("runs_survived")


def test_unchanged_night_keeps_every_row_published(prefect_api, rel_catalog, rel_presets_file, tmp_path, rel_results):
    out = tmp_path / "out"
    first = _good_first_run(rel_catalog, rel_presets_file, out, rel_results)
    summary, _, error = run_flow(**_params(rel_catalog, out, rel_presets_file))
    rel_results.add("runs")
    assert error is None, error
    rel_results.add("runs_survived")
    assert summary["counts"]["total"] == {"skipped": 6}  # this run's outcome: nothing to redo
    rows = latest_rows(make_sink(str(out)))
    assert len(rows) == 6
    for row in rows:
        assert row.status == "published" and row.unchanged and row.outcome == "skipped"
        assert row.published_run == first["run_id"] and row.video
    # and a third night reads the second's manifest the same way
    summary, _, error = run_flow(**_params(rel_catalog, out, rel_presets_file))
    assert error is None and summary["counts"]["total"] == {"skipped": 6}
    assert {r.published_run for r in latest_rows(make_sink(str(out)))} == {first["run_id"]}


def test_vanished_sku_is_kept_unless_deletions_are_intended(
    prefect_api, rel_catalog, rel_presets_file, tmp_path, rel_results
):
    out = tmp_path / "out"
    first = _good_first_run(rel_catalog, rel_presets_file, out, rel_results)
    _drop_sku(rel_catalog, "HOOD-LOGO-L")
    rel_results.add("faults_injected")

    summary = _night_without_regressions(rel_catalog, out, rel_presets_file, rel_results)
    kept = {(r.sku, r.preset): r for r in latest_rows(make_sink(str(out)))}
    assert {sku for sku, _ in kept} == SKUS
    for preset in ("product-page", "close-up"):
        row = kept[("HOOD-LOGO-L", preset)]
        assert row.status == "published" and row.unchanged and row.published_run == first["run_id"]
        assert "no longer in the catalog" in row.reason
    assert summary["removed_from_latest"] == []

    # Deletions intended: the SKU's 2 rows of 6 go (33 % > the 20 % guard) - written, not promoted ...
    settings = tmp_path / "settings.yaml"
    settings.write_text(yaml.safe_dump({"latest": {"remove_deleted_skus": True}}), encoding="utf-8")
    before = _latest_bytes(out)
    summary, _, error = run_flow(**_params(rel_catalog, out, rel_presets_file, settings))
    rel_results.add("runs")
    assert isinstance(error, LatestNotPromoted), error
    assert "2 of the 6 live videos" in str(error) and "--allow-shrink" in str(error)
    assert _latest_bytes(out) == before
    rel_results.add("runs_survived")

    # ... unless the operator says so: then they are removed and listed.
    summary, _, error = run_flow(**_params(rel_catalog, out, rel_presets_file, settings, allow_shrink=True))
    rel_results.add("runs")
    assert error is None, error
    rel_results.add("runs_survived")
    assert sorted(summary["removed_from_latest"]) == ["HOOD-LOGO-L/close-up", "HOOD-LOGO-L/product-page"]
    assert {r.sku for r in latest_rows(make_sink(str(out)))} == SKUS - {"HOOD-LOGO-L"}


def test_one_broken_photo_keeps_that_skus_live_video(prefect_api, rel_catalog, rel_presets_file, tmp_path, rel_results):
    """A partial failure is promoted (the run did work) and the SKU whose photo broke keeps its video."""
    out = tmp_path / "out"
    first = _good_first_run(rel_catalog, rel_presets_file, out, rel_results)
    lines = rel_catalog.read_text(encoding="utf-8").splitlines()
    rel_catalog.write_text(
        "\n".join(
            line.replace("images/hoodie-logo.jpg", "images/gone.jpg") if line.startswith("HOOD") else line
            for line in lines
        )
        + "\n",
        encoding="utf-8",
    )
    rel_results.add("faults_injected")
    summary = _night_without_regressions(rel_catalog, out, rel_presets_file, rel_results)
    assert summary["promoted"] and summary["counts"]["total"] == {"skipped": 4, "invalid": 2}
    rows = {(r.sku, r.preset): r for r in latest_rows(make_sink(str(out)))}
    hood = rows[("HOOD-LOGO-L", "close-up")]
    assert hood.status == "published" and hood.outcome == "invalid" and hood.published_run == first["run_id"]
    assert "gone.jpg" in hood.reason and hood.video
    presets = list(load_presets(rel_presets_file).values())
    report = judge(rel_results, rel_catalog, presets, list(rows.values()), make_sink(str(out)))
    assert report.ok, report.violations
