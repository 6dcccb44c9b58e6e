"""Per-item isolation at every step boundary: a failure injected into one item's work at any point of
fetch, generate, check or publish is that item's `failed` outcome, naming the stage; every other item of
the same batch ends as it would have (published, its objects verified in the sink) and the manifest
still has exactly one row per (sku, preset).

The faults replace, for one item only, the stage function the step imports (pipeline.steps.<name>), and
the whole flow runs for real (Prefect, thread runner, tiny presets, a local sink).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
import yaml

from catalog_motion.presets import load_presets
from catalog_motion.types import Asset, ManifestRow, WorkItem
from pipeline import steps
from pipeline.driver import Batch, BatchDriver
from pipeline.state import ItemState
from tests.reliability.conftest import TINY_PRESETS
from tests.reliability.helpers import judge, latest_rows, make_sink, run_flow

PRESET = "product-page"
TARGET = "HOOD-LOGO-L"  # the hoodie photo is one item (one SKU)
SHARED = ("TEE-RED-S", "TEE-RED-M")  # one item, two SKUs sharing its photo


class InjectedFault(RuntimeError):
    pass


def _boom(where: str) -> InjectedFault:
    return InjectedFault(f"injected fault at {where}")


@pytest.fixture(scope="module")
def iso_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 SKUs over 3 photos (TEE-RED-S/-M share one): 3 items in one batch of one preset."""
    from catalog_connectors.samples import draw_sample_catalog

    return draw_sample_catalog(
        tmp_path_factory.mktemp("iso_catalog"), size=(120, 150), photos=["tee-red", "tee-navy", "hoodie-logo"]
    )


def write_run_files(tmp_path: Path, orchestration: dict[str, Any] | None = None) -> tuple[Path, Path]:
    """A presets file with the tiny product-page preset only, and a settings file (one batch of all items)."""
    presets = tmp_path / "presets.yaml"
    presets.write_text(yaml.safe_dump({"presets": {PRESET: TINY_PRESETS["presets"][PRESET]}}), encoding="utf-8")
    settings = tmp_path / "settings.yaml"
    orch = {"batch_size": 4, "retries": 1, "retry_delay_s": 0.05, "retry_jitter_factor": 0.0, **(orchestration or {})}
    settings.write_text(yaml.safe_dump({"orchestration": orch}), encoding="utf-8")
    return presets, settings


def run_and_read(catalog: Path, tmp_path: Path, rel_results: Any, orchestration: dict[str, Any] | None = None):
    """Run the flow; (rows by sku, rows, out folder, presets file). Counts the run into the suite table."""
    presets, settings = write_run_files(tmp_path, orchestration)
    out = tmp_path / "out"
    summary, _, error = run_flow(
        catalog=str(catalog), out=str(out), presets_file=str(presets), settings_file=str(settings)
    )
    rel_results.add("runs")
    assert error is None, repr(error)
    assert summary is not None
    rel_results.add("runs_survived")
    rows = latest_rows(make_sink(str(out)))
    return {row.sku: row for row in rows}, rows, out, presets


def assert_isolated(
    rows: list[ManifestRow], by_sku: dict[str, ManifestRow], failed: set[str], stage_words: str, out: Path
) -> None:
    """The `failed` SKUs failed naming the stage; every other SKU published with its objects in the sink;
    one row per (sku, preset)."""
    counts = Counter((row.sku, row.preset) for row in rows)
    assert set(counts) == {(sku, PRESET) for sku in (*SHARED, "TEE-NAVY-M", TARGET)}, counts
    assert set(counts.values()) == {1}, counts
    for sku, row in by_sku.items():
        if sku in failed:
            assert row.status == "failed", (sku, row.status, row.reason)
            assert stage_words in row.reason and "\n" not in row.reason, row.reason
            assert not row.assets and row.video is None
        else:
            assert row.status == "published", (sku, row.status, row.reason)
            assert row.video and row.assets
            for asset in row.assets:
                assert (out / asset.key).is_file(), asset.key


def _is_target(sku: str | None, preset: str | None = PRESET) -> bool:
    return sku == TARGET and preset in (PRESET, None)


def _path_is_target(path: Any) -> bool:
    return f"/{TARGET}/" in str(path)


def _wrap(name: str, should_fail: Callable[..., bool], where: str) -> Callable[[pytest.MonkeyPatch], None]:
    """A fault: pipeline.steps.<name> raises for the calls `should_fail(*args, **kwargs)` picks."""

    def install(monkeypatch: pytest.MonkeyPatch) -> None:
        real = getattr(steps, name)

        def faulty(*args: Any, **kwargs: Any) -> Any:
            if should_fail(*args, **kwargs):
                raise _boom(where)
            return real(*args, **kwargs)

        monkeypatch.setattr(steps, name, faulty)

    return install


def _identity_fails_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """engine_identity takes no item: it fails on its first call only (one item of the batch)."""
    real, lock, calls = steps.engine_identity, threading.Lock(), []

    def faulty(ctx: Any, engine: str) -> str:
        with lock:
            calls.append(engine)
            first = len(calls) == 1
        if first:
            raise _boom("engine identity")
        return real(ctx, engine)

    monkeypatch.setattr(steps, "engine_identity", faulty)


# (boundary, install the fault, words the failed item's reason must hold, SKUs expected failed or None
# when the fault picks whichever item comes first)
BOUNDARIES: list[tuple[str, Callable[[pytest.MonkeyPatch], None], str, set[str] | None]] = [
    ("fetch-engine-identity", _identity_fails_once, "fetch failed", None),
    (
        "fetch-key-item",
        _wrap("key_item", lambda item, *a, **k: _is_target(item.sku, item.preset), "key_item"),
        "fetch failed",
        {TARGET},
    ),
    (
        "generate-reuse-master",
        _wrap("_reuse_master", lambda ctx, state: _is_target(state.item.sku), "master reuse"),
        "generation failed",
        {TARGET},
    ),
    (
        "generate-marker-write",
        _wrap("_write_marker", lambda path, state, clip: _is_target(state.item.sku), "marker write"),
        "generation failed",
        {TARGET},
    ),
    (
        "check-qc-rows",
        _wrap("qc_rows", lambda pairs: any(_is_target(ident["sku"]) for ident, _ in pairs), "QC rows"),
        "quality check failed to run",
        {TARGET},
    ),
    (
        "check-judge",
        _wrap("judge", lambda *a, sku=None, preset=None, **k: _is_target(sku, preset), "judge"),
        "quality check failed to run",
        {TARGET},
    ),
    (
        "publish-encode",
        _wrap("encode_variants", lambda clip, preset, out_dir, **k: _path_is_target(out_dir), "encode"),
        "encoding failed",
        {TARGET},
    ),
    (
        "publish-conformance",
        _wrap("check_delivered", lambda path, master, preset, **k: _path_is_target(path), "conformance check"),
        "encode not conformant",
        {TARGET},
    ),
    (
        "publish-metadata",
        _wrap("publish_metadata", lambda ctx, state, preset: _is_target(state.item.sku), "metadata"),
        "publishing failed",
        {TARGET},
    ),
    (
        "publish-one-sku",
        _wrap("publish_variant", lambda **k: k["sku"] == "TEE-RED-M", "publish of TEE-RED-M"),
        "publishing failed",
        {"TEE-RED-M"},
    ),
]


@pytest.mark.parametrize(
    ("boundary", "install", "stage_words", "expected_failed"), BOUNDARIES, ids=[b[0] for b in BOUNDARIES]
)
def test_a_fault_at_each_step_boundary_fails_only_its_item(
    boundary, install, stage_words, expected_failed, prefect_api, iso_catalog, tmp_path, monkeypatch, rel_results
):
    install(monkeypatch)
    rel_results.add("faults_injected")
    by_sku, rows, out, presets_file = run_and_read(iso_catalog, tmp_path, rel_results)

    failed = {sku for sku, row in by_sku.items() if row.status == "failed"}
    if expected_failed is None:  # whichever item was first: all the SKUs of exactly one item
        assert failed in ({TARGET}, {"TEE-NAVY-M"}, set(SHARED)), failed
    else:
        assert failed == expected_failed, {sku: (r.status, r.reason) for sku, r in by_sku.items()}
    assert all("injected fault" in by_sku[sku].reason for sku in failed)
    assert_isolated(rows, by_sku, failed, stage_words, out)
    if boundary == "publish-one-sku":  # the sibling sharing the photo still published
        assert by_sku["TEE-RED-S"].status == "published"
    report = judge(rel_results, iso_catalog, list(load_presets(presets_file).values()), rows, make_sink(str(out)))
    assert report.ok, report.violations
    rel_results.case(f"step-boundary:{boundary}", "item failed, neighbours published", by_sku[min(failed)].reason)


def _state(sku: str, status: str | None = None, reason: str = "") -> ItemState:
    state = ItemState(item=WorkItem(sku=sku, preset=PRESET, image="x.png"))
    if status is not None:
        state.finish(status, reason)  # type: ignore[arg-type]
    return state


def test_driver_keeps_outcomes_of_done_items_when_a_stage_future_raises(rel_results):
    """A stage whose future raises (a task failed after its retries) fails only the batch's items still
    without an outcome; those that had one keep it, published ones with their assets."""
    asset = Asset(
        kind="video", key="A/p/video.mp4", uri="file:///A/video.mp4", size=1, sha256="0" * 64, content_type="video/mp4"
    )
    done: list[Batch] = []

    def submit(batch: Batch) -> Future:
        future: Future = Future()
        if batch.stage != "publish":
            future.set_result(batch.states)
        else:  # publish: item A is stored, then the task blows up before it returns
            batch.states[0].assets["A"] = [asset]
            batch.states[0].finish("published")
            future.set_exception(RuntimeError("worker lost\nsecond line"))
        return future

    states = [_state("A"), _state("B"), _state("C", "invalid", "photo could not be read: truncated")]
    driver = BatchDriver(submit, window=2, on_batch_done=done.append)
    driver.run([Batch(label="b0", states=states)])
    rel_results.add("faults_injected")

    assert len(done) == 1
    by = {s.item.sku: s for s in done[0].states}
    assert (by["A"].status, by["A"].assets) == ("published", {"A": [asset]})
    assert by["B"].status == "failed" and by["B"].reason == "publish task failed: RuntimeError: worker lost"
    assert (by["C"].status, by["C"].reason) == ("invalid", "photo could not be read: truncated")


def test_batch_level_failure_becomes_each_pending_items_outcome(tmp_path, rel_results):
    """An engine that cannot be built (a permanent error) fails the batch's pending items inside the
    step, which returns normally; a TransientError is still raised for the task's retry policy."""
    from catalog_motion.errors import EngineError, TransientError
    from catalog_motion.settings import RunSettings
    from pipeline.state import RunContext

    preset = load_presets(write_run_files(tmp_path)[0])[PRESET]
    settings = RunSettings(work_dir=str(tmp_path / "work"), sink={"uri": str(tmp_path / "out")})
    ctx = RunContext(
        run_id="r1",
        catalog="c.csv",
        out=str(tmp_path / "out"),
        work_dir=settings.work_dir,
        settings=settings,
        presets={PRESET: preset},
    )
    states = [_state("A"), _state("B"), _state("C", "invalid", "bad photo")]
    for state in states[:2]:
        state.item.source_path = str(tmp_path / "photo.png")
    rel_results.add("faults_injected", 2)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(steps, "build_engine", lambda ctx, name: (_ for _ in ()).throw(EngineError("weights missing")))
        returned = steps.generate_batch(states, ctx)
    assert [(s.status, s.reason) for s in returned] == [
        ("failed", "generation failed: weights missing"),
        ("failed", "generation failed: weights missing"),
        ("invalid", "bad photo"),
    ]
    states = [_state("D")]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(steps, "build_engine", lambda ctx, name: (_ for _ in ()).throw(TransientError("GPU busy")))
        with pytest.raises(TransientError, match="GPU busy"):
            steps.generate_batch(states, ctx)
    assert states[0].status is None  # left for the task's retry
