"""`catalog-motion manifest show|list|diff|rollback` and `--out`'s default, through the CLI app (typer's
CliRunner against flows.cli.app) on manifests written by the real publishing code into a local sink."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from catalog_motion.last_out import OUT_ENV, remember_out, state_file
from catalog_motion.settings import SinkSettings
from catalog_motion.types import ManifestRow
from flows.cli import app
from publishing.encode import LocalAsset
from publishing.manifest import ManifestStore, RunInfo
from publishing.publish import publish_variant, published_row
from publishing.sinks import make_sink

OLD, RUN_A, RUN_B = "20261101T030000Z-0a0a0a", "20261201T030000Z-aaaaaa", "20261202T030000Z-bbbbbb"


def _published(sink, folder: Path, sku: str, tag: str) -> ManifestRow:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "video.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + tag.encode() * 64)
    (folder / "poster.jpg").write_bytes(b"\xff\xd8\xff" + tag.encode() * 32)
    assets = [
        LocalAsset(kind="video", path=str(folder / "video.mp4"), content_type="video/mp4"),
        LocalAsset(kind="poster_jpeg", path=str(folder / "poster.jpg"), content_type="image/jpeg"),
    ]
    stored = publish_variant(sku=sku, preset="product-page", assets=assets, sink=sink, metadata={})
    return published_row(
        sku=sku,
        preset="product-page",
        stored=stored,
        engine="camera",
        seed=1,
        attempts=2,
        qc={"drift": 0.0123, "flicker": 0.004},
        params={},
        timings={},
    )


@pytest.fixture(scope="module")
def runs_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three runs in one folder: an old-format manifest (no catalog, no start time), then A, then B (latest).
    From A to B: SKU-1 gets a new video, SKU-2 goes invalid -> published, SKU-3 goes, SKU-4 comes (failed),
    SKU-5 stays as it was."""
    root = tmp_path_factory.mktemp("manifest_cli")
    out = root / "out"
    sink = make_sink(SinkSettings(uri=str(out)))
    store = ManifestStore(sink)
    store.write_run(OLD, [_published(sink, root / "old1", "SKU-1", "o")], scratch_dir=root / "scratch")
    # as the previous version wrote it: no catalog or started_at keys at all
    old_json = out / "runs" / OLD / "manifest.json"
    document = json.loads(old_json.read_text(encoding="utf-8"))
    assert document.pop("catalog") is None and document.pop("started_at") is None
    old_json.write_text(json.dumps(document, indent=1), encoding="utf-8")
    invalid = "photo too small: 64x64"
    rows_a = [
        _published(sink, root / "a1", "SKU-1", "a"),
        ManifestRow(sku="SKU-2", preset="product-page", status="invalid", reason=invalid),
        _published(sink, root / "a3", "SKU-3", "c"),
        ManifestRow(sku="=HYPERLINK(1)", preset="product-page", status="invalid", reason="-1 is not a size"),
        _published(sink, root / "a5", "SKU-5", "e"),
    ]
    info_a = RunInfo(catalog="/data/catalog-a.csv", started_at="2026-12-01T03:00:00+00:00")
    store.write_run(RUN_A, rows_a, scratch_dir=root / "scratch", info=info_a)
    rows_b = [
        _published(sink, root / "b1", "SKU-1", "b"),
        _published(sink, root / "b2", "SKU-2", "d"),
        ManifestRow(sku="SKU-4", preset="product-page", status="failed", reason="generate failed: engine crashed"),
        rows_a[3],
        rows_a[4].model_copy(update={"status": "skipped", "reason": "unchanged"}),
    ]
    info_b = RunInfo(catalog="/data/catalog-b.csv", started_at="2026-12-02T03:00:00+00:00")
    store.write_run(RUN_B, rows_b, scratch_dir=root / "scratch", info=info_b)
    return out


@pytest.fixture
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private state dir (the last run's folder) and no CATALOG_MOTION_OUT, in a folder with no ./out."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.delenv(OUT_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path / "state"


def cli(*args: str):
    # Wide enough that no cell folds: the assertions read whole rows.
    return CliRunner().invoke(app, list(args), terminal_width=200, env={"COLUMNS": "200"})


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def test_show_prints_a_compact_table_of_the_latest_run(runs_out):
    result = cli("manifest", "show", "--out", str(runs_out))
    assert result.exit_code == 0, result.output
    lines = _lines(result.output)
    assert lines[0] == f"out: {runs_out}"
    assert f"run {RUN_B} (latest)" in lines[1]
    assert lines[2].split() == ["sku", "preset", "status", "asset", "reason"]
    body = {line.split()[0]: line.split() for line in lines[4:-1]}
    assert set(body) == {"SKU-1", "SKU-2", "SKU-4", "=HYPERLINK(1)", "SKU-5"}
    assert body["SKU-1"][:3] == ["SKU-1", "product-page", "published"] and body["SKU-1"][3].startswith("video-")
    assert body["SKU-4"][2:] == ["failed", "generate", "failed:", "engine", "crashed"]
    assert "drift" not in result.output  # scores only with --scores
    assert lines[-1] == "5 rows: 1 failed, 1 invalid, 2 published, 1 skipped"


def test_show_scores_json_and_csv(runs_out):
    scored = cli("manifest", "show", "--out", str(runs_out), "--run", RUN_A, "--scores")
    assert scored.exit_code == 0, scored.output
    sku1 = next(line for line in scored.output.splitlines() if line.strip().startswith("SKU-1"))
    assert "drift=0.0123" in sku1 and "flicker=0.004" in sku1 and " 2 " in sku1  # attempts
    assert f"run {RUN_A}," in scored.output and "(latest)" not in scored.output

    as_json = cli("manifest", "show", "--out", str(runs_out), "--json")
    assert as_json.exit_code == 0, as_json.output
    document = json.loads(as_json.stdout)  # stdout is the document alone; the folder line went to stderr
    assert document["run_id"] == RUN_B and len(document["rows"]) == 5
    assert document["catalog"] == "/data/catalog-b.csv" and document["started_at"].startswith("2026-12-02")
    assert f"out: {runs_out}" in as_json.stderr

    as_csv = cli("manifest", "show", "--out", str(runs_out), "--run", RUN_A, "--csv", "--scores")
    assert as_csv.exit_code == 0, as_csv.output
    records = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [r["sku"] for r in records] == ["SKU-1", "SKU-2", "SKU-3", "'=HYPERLINK(1)", "SKU-5"]
    by_sku = {r["sku"]: r for r in records}
    assert float(by_sku["SKU-1"]["qc.drift"]) == pytest.approx(0.0123) and by_sku["SKU-1"]["attempts"] == "2"
    assert by_sku["SKU-2"]["status"] == "invalid" and by_sku["SKU-2"]["video"] == ""
    assert by_sku["'=HYPERLINK(1)"]["reason"] == "'-1 is not a size"  # no cell starts a spreadsheet formula
    assert Path(by_sku["SKU-1"]["video"]).is_file() and by_sku["SKU-1"]["asset"] == Path(by_sku["SKU-1"]["video"]).name

    both = cli("manifest", "show", "--out", str(runs_out), "--json", "--csv")
    assert both.exit_code != 0 and "choose one of --json and --csv" in str(both.exception or both.output)


def test_list_shows_every_run_newest_first_with_counts(runs_out):
    result = cli("manifest", "list", "--out", str(runs_out))
    assert result.exit_code == 0, result.output
    lines = _lines(result.output)
    assert lines[1].split() == ["run", "started", "(UTC)", "latest", "counts", "catalog"]
    rows = lines[3:]
    assert [line.split()[0] for line in rows] == [RUN_B, RUN_A, OLD]
    assert rows[0].split()[1:] == [
        "2026-12-02",
        "03:00",
        "latest",
        "1",
        "failed,",
        "1",
        "invalid,",
        "2",
        "published,",
        "1",
        "skipped",
        "/data/catalog-b.csv",
    ]
    assert "latest" not in rows[1] and rows[1].split()[-1] == "/data/catalog-a.csv"
    # an old manifest: its start time from the run id, no catalog recorded
    assert rows[2].split()[1:] == ["2026-11-01", "03:00", "1", "published", "-"]

    as_json = cli("manifest", "list", "--out", str(runs_out), "--json")
    entries = json.loads(as_json.stdout)
    assert [(e["run_id"], e["latest"]) for e in entries] == [(RUN_B, True), (RUN_A, False), (OLD, False)]
    assert entries[1]["counts"] == {"invalid": 2, "published": 3} and entries[2]["catalog"] is None


def test_list_of_an_empty_folder_says_so_and_exits_1(tmp_path, state_home):
    result = cli("manifest", "list", "--out", str(tmp_path / "empty"))
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"no runs published in {tmp_path / 'empty'}; pass the run's output folder with --out"
    )
    assert "run" not in result.stdout.replace(f"out: {tmp_path / 'empty'}", "")  # no table at all
    as_json = cli("manifest", "list", "--out", str(tmp_path / "empty"), "--json")
    assert as_json.exit_code == 1 and json.loads(as_json.stdout) == []


def test_diff_lists_added_replaced_removed_and_status_changes(runs_out):
    result = cli("manifest", "diff", RUN_A, RUN_B, "--out", str(runs_out))
    assert result.exit_code == 0, result.output
    rows = [
        line.split() for line in _lines(result.output) if line.split()[0] in ("added", "replaced", "removed", "status")
    ]
    assert [(r[0], r[1]) for r in rows] == [
        ("added", "SKU-4"),
        ("replaced", "SKU-1"),
        ("removed", "SKU-3"),
        ("status", "SKU-2"),
    ]
    added, replaced, removed, status = rows
    assert added[3:6] == ["-", "failed", "generate"]
    assert replaced[3].startswith("video-") and replaced[4].startswith("video-") and replaced[3] != replaced[4]
    assert removed[3:5] == ["published", "-"]
    assert status[3:5] == ["invalid", "published"]
    # SKU-5 was carried over unchanged (skipped) and the formula SKU kept its status: not changes
    assert _lines(result.output)[-1] == "1 added, 1 replaced, 1 removed, 1 status, 2 unchanged"

    as_json = json.loads(cli("manifest", "diff", RUN_A, RUN_B, "--out", str(runs_out), "--json").stdout)
    assert {c["sku"]: c["change"] for c in as_json["changes"]} == {
        "SKU-4": "added",
        "SKU-1": "replaced",
        "SKU-3": "removed",
        "SKU-2": "status",
    }
    assert as_json["unchanged"] == 2

    unknown = cli("manifest", "diff", RUN_A, "20990101T000000Z-ffffff", "--out", str(runs_out))
    assert unknown.exit_code != 0 and "no manifest for run '20990101T000000Z-ffffff'" in str(unknown.exception)


def test_out_defaults_to_the_last_run_then_env_then_out(runs_out, tmp_path, state_home, monkeypatch):
    # nothing recorded, no ./out: the error names the folder tried and why, and how to choose one
    none = cli("manifest", "show")
    assert none.exit_code != 0
    assert str(none.exception) == (
        f"no runs published in {tmp_path / 'out'} (the default; no run recorded yet); "
        "pass the run's output folder with --out"
    )
    # what `catalog-motion run` records
    remember_out(str(runs_out))
    assert json.loads(state_file().read_text())["out"] == str(runs_out)
    shown = cli("manifest", "show")
    assert shown.exit_code == 0, shown.output
    assert _lines(shown.output)[0] == f"out: {runs_out} (the last `catalog-motion run`, recorded in {state_file()})"
    assert f"run {RUN_B} (latest)" in shown.output
    copied = cli("publish", "--run", RUN_A, "--to", str(tmp_path / "copy"))  # --from: the same default
    assert copied.exit_code == 0, copied.output
    assert _lines(copied.output)[0] == f"from: {runs_out} (the last `catalog-motion run`, recorded in {state_file()})"
    assert json.loads((tmp_path / "copy" / "latest.json").read_text())["run_id"] == RUN_A
    # the environment variable wins over the record, --out over both
    monkeypatch.setenv(OUT_ENV, str(tmp_path / "elsewhere"))
    env = cli("manifest", "list")
    assert env.exit_code == 1 and f"{tmp_path / 'elsewhere'} (CATALOG_MOTION_OUT)" in env.stderr
    explicit = cli("manifest", "list", "--out", str(runs_out))
    assert explicit.exit_code == 0 and _lines(explicit.output)[0] == f"out: {runs_out}"


def test_rollback_then_list_shows_the_new_latest(runs_out, tmp_path):
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(runs_out, out)  # the module's folder stays as the other tests expect it
    result = cli("manifest", "rollback", RUN_A, "--out", str(out))
    assert result.exit_code == 0, result.output
    assert _lines(result.output)[-1] == f"latest is now {RUN_A} (was {RUN_B})"
    entries = json.loads(cli("manifest", "list", "--out", str(out), "--json").stdout)
    assert [e["run_id"] for e in entries if e["latest"]] == [RUN_A]


def test_help_shows_readable_types_everywhere():
    """Typer 0.29 prints `<str>`/`<bool>` for every option; every --help of the app shows click-style ones."""
    from typer.main import get_command

    root = get_command(app)
    paths: list[list[str]] = [[]]
    stack = [([], root)]
    while stack:
        path, command = stack.pop()
        for name, sub in getattr(command, "commands", {}).items():
            paths.append([*path, name])
            stack.append(([*path, name], sub))
    assert ["manifest", "diff"] in paths and ["run"] in paths
    for path in paths:
        result = cli(*path, "--help")
        assert result.exit_code == 0, (path, result.output)
        for bad in ("<str>", "<bool>", "<int>", "<float>", "<path>"):
            assert bad not in result.output, (path, bad, result.output)
    show = cli("manifest", "show", "--help").output
    assert "--run" in show and "RUN_ID" in show and "DIR|S3_URI" in show
    run = cli("run", "--help").output
    assert "PATH|URI" in run and "--full " in run
