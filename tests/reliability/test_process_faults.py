"""Process faults: the flow's process SIGKILLed during generation, encoding and publishing; a full disk.

After every fault the published state (latest manifest vs stored objects) must be consistent, and the
next run must complete the rest: every (sku, preset) published exactly once, nothing lost.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import pytest
import yaml

from catalog_motion.presets import load_presets
from publishing.manifest import ManifestStore
from tests.reliability.helpers import REPO, judge, latest_rows, make_sink, run_flow, subprocess_env


def _run_killable(params: dict, env: dict[str, str], kill_at: str | None, log: Path) -> tuple[int, str]:
    run_env = {**env}
    if kill_at:
        run_env["REL_KILL_AT"] = kill_at
    proc = subprocess.run(
        [sys.executable, "-m", "tests.reliability.killer", json.dumps(params)],
        cwd=str(REPO),
        env=run_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=240,
    )
    output = proc.stdout.decode(errors="replace")
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(f"--- kill_at={kill_at} rc={proc.returncode}\n{output}\n")
    return proc.returncode, output


def _published_state_consistent(out: Path) -> int:
    """The latest manifest (if any) names only objects that are stored intact; returns its row count."""
    sink = make_sink(str(out))
    rows = latest_rows(sink)
    missing = ManifestStore(sink).missing_objects(rows)
    assert not missing, [(r.sku, r.preset, a.key) for r, a in missing]
    return len(rows)


def _stored_videos(out: Path) -> Counter:
    """Video objects per (sku folder, preset) in the local sink, read from the folder itself."""
    found: Counter = Counter()
    for path in out.rglob("video-*"):
        if path.name.endswith(".meta.json") or ".partial" in path.name or "/.work/" in path.as_posix():
            continue
        found[(path.parent.parent.name, path.parent.name)] += 1
    return found


def test_killed_runs_resume_to_a_complete_consistent_publication(
    prefect_server_env, rel_catalog, rel_presets_file, tmp_path, rel_results
):
    out = tmp_path / "out"
    settings = tmp_path / "settings.yaml"
    # one item per batch: each finished item is journaled at once, so every kill leaves real progress
    settings.write_text(yaml.safe_dump({"orchestration": {"batch_size": 1, "retry_delay_s": 0.05}}), encoding="utf-8")
    params = dict(
        catalog=str(rel_catalog), out=str(out), presets_file=str(rel_presets_file), settings_file=str(settings)
    )
    env = subprocess_env(prefect_server_env)
    log = tmp_path / "runs.log"
    journal_dir = out / ".work" / "journal"

    for kill_at in ("generate:2", "encode:1", "publish:1"):
        rc, output = _run_killable(params, env, kill_at, log)
        rel_results.add("runs")
        assert rc == -signal.SIGKILL, f"{kill_at}: the run was not killed (rc {rc}):\n{output[-2000:]}"
        assert f"KILLING at {kill_at.split(':')[0]}" in output
        rel_results.add("faults_injected")
        rel_results.add("runs_killed")
        rel_results.case(f"sigkill:{kill_at}", "killed", output.split("KILLING at ", 1)[1].splitlines()[0])
        _published_state_consistent(out)
        assert list(journal_dir.glob("*.jsonl")), "an interrupted run must leave its journal open"

    # the publish kill stored a video that no manifest names yet: the resumed run must reuse, not duplicate
    rc, output = _run_killable(params, env, None, log)
    rel_results.add("runs")
    assert rc == 0, output[-3000:]
    rel_results.add("runs_survived")
    summary = json.loads(output.split("SUMMARY ", 1)[1].splitlines()[0])
    assert summary["invariants"]["ok"] is True

    sink = make_sink(str(out))
    rows = latest_rows(sink)
    presets = list(load_presets(rel_presets_file).values())
    assert {r.status for r in rows} == {"published"}, [(r.sku, r.preset, r.status, r.reason) for r in rows]
    report = judge(rel_results, rel_catalog, presets, rows, sink)
    assert report.ok, report.violations
    # no orphaned or duplicated clip objects left by the killed runs
    videos = _stored_videos(out)
    rel_results.add("duplicates", sum(n - 1 for n in videos.values() if n > 1))
    assert set(videos.values()) == {1}, videos
    named = {Path(a.uri).resolve() for r in rows for a in r.assets}
    published_files = [p for p in out.rglob("*") if p.is_file() and ".work" not in p.parts]
    # A process killed while another thread was mid-copy leaves that copy's hidden temp file behind
    # (LocalSink writes '.<name>.<host>.<pid>.<thread>.partial', then renames); the resumed run redoes that
    # item, and its put of the same object sweeps the dead writer's temp files.
    partials = [p for p in published_files if ".partial" in p.name]
    rel_results.add("stale_partials_after_kill", len(partials))
    assert partials == [], partials
    stored = {
        p.resolve()
        for p in published_files
        if p not in partials
        and not p.name.endswith(".meta.json")
        and p.parent.name != "latest"
        and "runs" not in p.parts
        and p.name != "latest.json"
        and "review" not in p.parts
    }
    assert stored == named, sorted(map(str, stored ^ named))
    assert not list(journal_dir.glob("*.jsonl")), "the completed run retires its journal"


def _mount_tmpfs(path: Path, size: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True, capture_output=True)


def _umount(path: Path) -> None:
    subprocess.run(["umount", str(path)], check=False, capture_output=True)


@pytest.fixture
def rel_small_disk(tmp_path: Path):
    """A 1 MiB tmpfs mounted for the test (root only; unmounted in teardown)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a size-limited tmpfs needs root (CI runs the suite as root)")
    mount = tmp_path / f"small-disk-{uuid.uuid4().hex[:6]}"
    _mount_tmpfs(mount, "1m")
    try:
        yield mount
    finally:
        _umount(mount)
        shutil.rmtree(mount, ignore_errors=True)


def test_disk_full_work_folder_ends_recorded_and_next_run_completes(
    prefect_api, rel_catalog, rel_presets_file, rel_small_disk, tmp_path, rel_results
):
    work = rel_small_disk / "work"
    out = tmp_path / "out"
    settings = tmp_path / "settings.yaml"
    settings.write_text(
        yaml.safe_dump(
            {"work_dir": str(work), "orchestration": {"batch_size": 1, "retries": 1, "retry_delay_s": 0.05}}
        ),
        encoding="utf-8",
    )
    params = dict(
        catalog=str(rel_catalog), out=str(out), presets_file=str(rel_presets_file), settings_file=str(settings)
    )
    # leave room for the journal and photos but not for every master clip and encode
    ballast = rel_small_disk / "ballast"
    free = shutil.disk_usage(rel_small_disk).free
    ballast.write_bytes(b"\0" * max(0, free - 160 * 1024))

    summary, _, error = run_flow(**params)
    rel_results.add("runs")
    rel_results.add("faults_injected")
    assert error is None, f"a full work folder must not crash the run: {error!r}"
    rel_results.add("runs_survived")
    rows = latest_rows(make_sink(str(out)))
    statuses = Counter(r.status for r in rows)
    not_done = [r for r in rows if r.status != "published"]
    assert not_done, f"the disk was expected to fill up: {statuses}"
    for row in not_done:
        # a full work folder is the machine's fault, never the input's: `failed` (redone next run), not `invalid`
        assert row.status == "failed" and row.reason, (row.status, row.reason)
    assert any("No space left" in r.reason or "space" in r.reason.lower() for r in not_done), [
        r.reason for r in not_done
    ]
    rel_results.case("disk-full", dict(statuses).__repr__(), not_done[0].reason)
    _published_state_consistent(out)
    presets = list(load_presets(rel_presets_file).values())
    first = judge(rel_results, rel_catalog, presets, rows, make_sink(str(out)))
    assert first.ok, first.violations

    ballast.unlink()  # space again: the next run completes the rest
    summary2, _, error2 = run_flow(**params)
    rel_results.add("runs")
    assert error2 is None, repr(error2)
    rel_results.add("runs_survived")
    rows2 = latest_rows(make_sink(str(out)))
    assert {r.status for r in rows2} <= {"published", "skipped"}, [(r.sku, r.status, r.reason) for r in rows2]
    report = judge(rel_results, rel_catalog, presets, rows2, make_sink(str(out)))
    assert report.ok, report.violations
    assert summary2["invariants"]["ok"] is True
