"""Engine faults: engines that raise, hang past the timeout, or return NaN/black frames.

Test engines are registered through generation.registry.register_engine and chosen by a test presets file;
every item must end with a recorded outcome (never a hung run, never a bad clip published).
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import yaml

from catalog_motion.errors import TransientError
from catalog_motion.media import write_master
from catalog_motion.presets import load_presets
from catalog_motion.types import ClipRef
from generation.base import Engine, GenerationRequest
from generation.registry import register_engine
from tests.reliability.conftest import TINY_PRESETS
from tests.reliability.helpers import judge, latest_rows, make_sink, run_flow

RELEASE = threading.Event()  # set at the end so abandoned hung threads finish
CALLS: dict[str, int] = {}


class _FaultEngine(Engine):
    def __init__(self, name: str):
        self.name = name

    def identity(self) -> str:
        return f"rel-test:{self.name}:1"

    def _write(self, request: GenerationRequest, frames: list[np.ndarray]) -> ClipRef:
        preset = request.preset
        write_master(frames, request.out_path, preset.fps)
        return ClipRef(
            path=request.out_path,
            fps=float(preset.fps),
            n_frames=len(frames),
            width=preset.width,
            height=preset.height,
            engine=self.name,
            seed=request.seed,
            attempt=request.attempt,
        )

    def generate(self, request: GenerationRequest) -> ClipRef:
        CALLS[self.name] = CALLS.get(self.name, 0) + 1
        preset = request.preset
        shape = (preset.height, preset.width, 3)
        if self.name == "rel-raise":
            raise RuntimeError("model exploded (CUDA error: an illegal memory access)")
        if self.name == "rel-transient":
            raise TransientError("GPU out of memory (simulated), worth a retry")
        if self.name == "rel-hang":
            RELEASE.wait(120)
            raise RuntimeError("released")
        if self.name == "rel-nan":
            # as a diffusers engine would turn NaN latents into pixels: NaN * 255 -> clip -> uint8
            raw = np.full((preset.n_frames, *shape), np.nan, np.float32)
            with np.errstate(invalid="ignore"):
                frames = np.clip(np.rint(raw * 255.0), 0, 255).astype(np.uint8)
            return self._write(request, list(frames))
        if self.name == "rel-black":
            return self._write(request, [np.zeros(shape, np.uint8)] * preset.n_frames)
        raise AssertionError(self.name)


for _name in ("rel-raise", "rel-transient", "rel-hang", "rel-nan", "rel-black"):
    register_engine(_name)(lambda settings, n=_name: _FaultEngine(n))


def _presets(path: Path) -> Path:
    base = TINY_PRESETS["presets"]["close-up"]
    spec = {"presets": {"control": dict(base)}}
    for engine in ("rel-raise", "rel-transient", "rel-hang", "rel-nan", "rel-black"):
        spec["presets"][engine.removeprefix("rel-")] = {**base, "engine": engine}
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def test_engine_faults_end_as_recorded_outcomes(prefect_api, rel_catalog, tmp_path, rel_results):
    presets_file = _presets(tmp_path / "presets.yaml")
    settings = tmp_path / "settings.yaml"
    settings.write_text(
        yaml.safe_dump(
            {
                "orchestration": {
                    "generation_timeout_s": 1.5,
                    "retries": 2,
                    "retry_delay_s": 0.05,
                    "retry_jitter_factor": 0.0,
                }
            }
        ),
        encoding="utf-8",
    )
    out = tmp_path / "out"
    started = time.monotonic()
    try:
        summary, _, error = run_flow(
            catalog=str(rel_catalog), out=str(out), presets_file=str(presets_file), settings_file=str(settings)
        )
    finally:
        RELEASE.set()
    elapsed = time.monotonic() - started
    rel_results.add("runs")
    rel_results.add("faults_injected", sum(CALLS.values()))
    assert error is None, repr(error)
    rel_results.add("runs_survived")
    assert elapsed < 90, f"run took {elapsed:.0f} s: a hung engine held it"

    rows = latest_rows(make_sink(str(out)))
    by = {(r.sku, r.preset): r for r in rows}
    skus = {r.sku for r in rows}
    assert len(rows) == len(skus) * 6
    for sku in skus:
        assert by[(sku, "control")].status in ("published", "rejected")
        raised = by[(sku, "raise")]
        assert raised.status == "failed" and "model exploded" in raised.reason and "\n" not in raised.reason
        transient = by[(sku, "transient")]
        assert transient.status == "failed" and "out of memory" in transient.reason
        hung = by[(sku, "hang")]
        assert hung.status == "failed" and "timed out" in hung.reason, hung.reason
        for preset in ("nan", "black"):
            row = by[(sku, preset)]
            assert row.status == "rejected" and "black" in row.reason, (preset, row.status, row.reason)
            assert not row.assets and row.video is None
    # TransientError is retried (first try + orchestration.retries) before it becomes an outcome
    assert CALLS["rel-transient"] >= 3 * 2  # 2 items (3 SKUs share 2 photos) x (1 + 2 retries)
    assert CALLS["rel-raise"] == 2  # permanent: never retried
    presets = list(load_presets(presets_file).values())
    report = judge(rel_results, rel_catalog, presets, rows, make_sink(str(out)))
    assert report.ok, report.violations
    assert summary["invariants"]["ok"] is True


def test_flow_fails_loudly_after_writing_manifest_when_invariants_break(
    prefect_api, rel_catalog, rel_presets_file, tmp_path, rel_results
):
    """A corrupted journal (a published row whose QC scores break the preset) is caught by the flow's own
    invariant check: the manifest is written (operators can see it), then the run fails."""
    out = tmp_path / "out"
    params = dict(catalog=str(rel_catalog), out=str(out), presets_file=str(rel_presets_file))
    summary, _, error = run_flow(**params)
    assert error is None and summary["invariants"]["ok"] is True
    # put back the retired journal as if the process had died before closing it, then corrupt one row
    journal_dir = out / ".work" / "journal"
    done = sorted(journal_dir.glob("*.jsonl.done"))
    assert done, list(journal_dir.iterdir())
    live = done[0].with_name(done[0].name.removesuffix(".done"))
    lines = done[0].read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    target = next(i for i, r in enumerate(rows) if r["status"] == "published")
    rows[target]["qc"]["drift"] = 0.99
    live.write_text("".join(json.dumps(r) + "\n" for r in rows))
    done[0].with_name(done[0].name.replace(".jsonl.done", ".run.done")).rename(live.with_suffix(".run"))

    summary2, _, error2 = run_flow(**params)
    rel_results.add("faults_injected")
    assert summary2 is None and error2 is not None
    assert "invariants violated" in str(error2) and "qc" in str(error2), str(error2)
    rel_results.case("corrupted-journal", "run failed loudly", str(error2))
    # ...after the manifest was written: it is `latest`, and it shows the bad row for operators to see
    from publishing.manifest import ManifestStore

    store = ManifestStore(make_sink(str(out)))
    assert store.latest_run_id() == summary["run_id"]  # the resumed run keeps its run id
    bad = [r for r in store.read_latest() if r.qc.get("drift") == 0.99]
    assert len(bad) == 1

    # a journal left by a killed run is not reused once the presets' definitions change (new thresholds
    # or encodings): its outcomes were judged under the old ones. Restore the corrupted journal again and
    # change only the poster quality: the run must start afresh and complete cleanly.
    done = sorted(journal_dir.glob("*.jsonl.done"))
    done[0].rename(live)
    done[0].with_name(done[0].name.replace(".jsonl.done", ".run.done")).rename(live.with_suffix(".run"))
    spec = yaml.safe_load(rel_presets_file.read_text())
    for preset in spec["presets"].values():
        preset["encodings"][1]["quality"] = 87
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(spec), encoding="utf-8")
    summary3, _, error3 = run_flow(**{**params, "presets_file": str(changed)})
    assert error3 is None, f"a stale journal was reused after the presets changed: {error3}"
    assert summary3["run_id"] != summary["run_id"] and summary3["resumed_items"] == 0
    assert summary3["invariants"]["ok"] is True
