"""Bounded time for every stage: a QC that hangs, an ffmpeg that crawls, a publish that hangs, and an
engine that overruns end as that item's `failed` outcome naming the stage and the setting; the run
completes and the other items publish. A slow ffmpeg is killed (the child process is gone), not left
running.

Flow runs use the tiny presets and one batch of 3 items (tests/reliability/test_step_isolation.py).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pytest

from catalog_motion.media import write_master
from catalog_motion.presets import load_presets
from catalog_motion.settings import OrchestrationSettings, RunSettings
from catalog_motion.types import ClipRef, WorkItem
from generation.base import Engine, GenerationRequest
from generation.registry import register_engine
from generation.worker import EngineTimeout
from pipeline import steps
from pipeline.calls import StageTimeout, call_with_timeout, generation_timeout
from pipeline.state import ItemState, RunContext
from publishing import encode
from tests.reliability.helpers import judge, make_sink
from tests.reliability.test_step_isolation import PRESET, TARGET, assert_isolated, run_and_read, write_run_files

RELEASE = threading.Event()  # set at the end of each test so abandoned threads finish


@pytest.fixture(autouse=True)
def _release_abandoned_threads():
    RELEASE.clear()
    yield
    RELEASE.set()


@pytest.fixture(scope="module")
def iso_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from catalog_connectors.samples import draw_sample_catalog

    return draw_sample_catalog(
        tmp_path_factory.mktemp("timeout_catalog"), size=(120, 150), photos=["tee-red", "tee-navy", "hoodie-logo"]
    )


def _slowed(argv: list[str]) -> list[str]:
    """The same ffmpeg command, throttled to 1/1000 of real time by ffmpeg's own `realtime` filter."""
    at = argv.index("-filter_complex") + 1
    argv = list(argv)
    argv[at] = argv[at].replace("[0:v]", "[0:v]realtime=speed=0.001,", 1)
    return argv


def _record_ffmpeg_pids(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Output file name -> pid of each ffmpeg an encode starts."""
    pids: dict[str, int] = {}
    real_init = encode._Encoder.__init__

    def init(self, argv, tmp, final):
        real_init(self, argv, tmp, final)
        pids[str(final)] = self.proc.pid

    monkeypatch.setattr(encode._Encoder, "__init__", init)
    return pids


def _gone(pid: int) -> bool:
    """The process has exited and been reaped (a zombie still counts as there)."""
    try:
        psutil.Process(pid)
    except psutil.NoSuchProcess:
        return True
    return False


def _ffmpeg_children() -> list[psutil.Process]:
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if "ffmpeg" in child.name() or any("ffmpeg" in part for part in child.cmdline()[:1]):
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


def _hang_for_target(real: Any, is_target: Any) -> Any:
    def hanging(*args: Any, **kwargs: Any) -> Any:
        if is_target(*args, **kwargs):
            RELEASE.wait(120)
            raise RuntimeError("released after the test")
        return real(*args, **kwargs)

    return hanging


def test_qc_past_check_timeout_fails_only_its_item(prefect_api, iso_catalog, tmp_path, monkeypatch, rel_results):
    monkeypatch.setattr(
        steps,
        "check_clip_with_frames",
        _hang_for_target(steps.check_clip_with_frames, lambda source, clip, *a, **k: f"/{TARGET}/" in str(clip)),
    )
    rel_results.add("faults_injected")
    started = time.monotonic()
    by_sku, rows, out, presets = run_and_read(iso_catalog, tmp_path, rel_results, {"check_timeout_s": 3})
    assert time.monotonic() - started < 90
    reason = by_sku[TARGET].reason
    assert reason == "quality check timed out after 3 s (orchestration.check_timeout_s)", reason
    assert_isolated(rows, by_sku, {TARGET}, "timed out", out)
    report = judge(rel_results, iso_catalog, list(load_presets(presets).values()), rows, make_sink(str(out)))
    assert report.ok, report.violations
    rel_results.case("stage-timeout:check", "item failed, neighbours published", reason)


def test_slow_ffmpeg_is_killed_at_encode_timeout(prefect_api, iso_catalog, tmp_path, monkeypatch, rel_results):
    pids = _record_ffmpeg_pids(monkeypatch)
    real_build = encode.build_video_command

    def build(spec, preset, w, h, fps, out_path, *args, **kwargs):
        argv = real_build(spec, preset, w, h, fps, out_path, *args, **kwargs)
        return _slowed(argv) if f"/{TARGET}/" in str(out_path) else argv

    monkeypatch.setattr(encode, "build_video_command", build)
    rel_results.add("faults_injected")
    started = time.monotonic()
    by_sku, rows, out, presets = run_and_read(iso_catalog, tmp_path, rel_results, {"encode_timeout_s": 4})
    assert time.monotonic() - started < 90
    reason = by_sku[TARGET].reason
    assert reason == "encoding timed out after 4 s (orchestration.encode_timeout_s)", reason
    assert_isolated(rows, by_sku, {TARGET}, "timed out", out)
    slow = [pid for final, pid in pids.items() if f"/{TARGET}/" in final]
    assert slow and len(pids) == 3, pids  # one video encoding per item
    assert all(_gone(pid) for pid in pids.values()), pids
    assert not _ffmpeg_children()
    report = judge(rel_results, iso_catalog, list(load_presets(presets).values()), rows, make_sink(str(out)))
    assert report.ok, report.violations
    rel_results.case("stage-timeout:encode", "ffmpeg killed, item failed, neighbours published", reason)


def test_publish_past_publish_timeout_fails_only_its_item(prefect_api, iso_catalog, tmp_path, monkeypatch, rel_results):
    monkeypatch.setattr(
        steps, "publish_variant", _hang_for_target(steps.publish_variant, lambda **k: k["sku"] == TARGET)
    )
    rel_results.add("faults_injected")
    started = time.monotonic()
    by_sku, rows, out, presets = run_and_read(iso_catalog, tmp_path, rel_results, {"publish_timeout_s": 3})
    assert time.monotonic() - started < 90
    reason = by_sku[TARGET].reason
    assert reason == "publishing timed out after 3 s (orchestration.publish_timeout_s)", reason
    assert_isolated(rows, by_sku, {TARGET}, "timed out", out)
    assert not (out / TARGET).exists()  # the hung store wrote nothing
    report = judge(rel_results, iso_catalog, list(load_presets(presets).values()), rows, make_sink(str(out)))
    assert report.ok, report.violations
    rel_results.case("stage-timeout:publish", "item failed, neighbours published", reason)


# --- the pieces, without a flow run ----------------------------------------------------------------


def _tiny_preset(tmp_path: Path):
    return load_presets(write_run_files(tmp_path)[0])[PRESET]


def test_encode_variants_kills_ffmpeg_past_its_timeout(tmp_path, monkeypatch, rel_results):
    preset = _tiny_preset(tmp_path)
    frames = [np.full((preset.height, preset.width, 3), 40 + 10 * i, np.uint8) for i in range(preset.n_frames)]
    master = tmp_path / "master.nut"
    write_master(frames, master, preset.fps)
    clip = ClipRef(
        path=str(master),
        fps=float(preset.fps),
        n_frames=len(frames),
        width=preset.width,
        height=preset.height,
        engine="test",
        seed=0,
    )
    pids = _record_ffmpeg_pids(monkeypatch)
    real_build = encode.build_video_command
    monkeypatch.setattr(encode, "build_video_command", lambda *a, **k: _slowed(real_build(*a, **k)))

    rel_results.add("faults_injected")
    started = time.monotonic()
    with pytest.raises(encode.EncodeTimeout, match=r"ran past 0\.5 s; ffmpeg was killed"):
        encode.encode_variants(clip, preset, tmp_path / "enc", timeout_s=0.5)
    assert time.monotonic() - started < 10
    assert len(pids) == 1 and all(_gone(pid) for pid in pids.values()), pids
    assert not _ffmpeg_children()
    assert not list((tmp_path / "enc").glob(".*.partial")), list((tmp_path / "enc").iterdir())
    assert not (tmp_path / "enc" / "video.mp4").exists()

    # the same encode, unthrottled and with room: done well inside the limit, nothing killed
    monkeypatch.setattr(encode, "build_video_command", real_build)
    assets = encode.encode_variants(clip, preset, tmp_path / "enc", timeout_s=60)
    assert [Path(a.path).name for a in assets] == ["video.mp4", "poster.jpg"]
    assert all(Path(a.path).stat().st_size > 0 for a in assets)


def test_call_with_timeout_names_stage_and_setting():
    gate = threading.Event()
    with pytest.raises(StageTimeout) as caught:
        call_with_timeout(lambda: gate.wait(30), 0.05, stage="quality check", setting="check_timeout_s")
    gate.set()
    assert str(caught.value) == "quality check timed out after 0.05 s (orchestration.check_timeout_s)"
    assert call_with_timeout(lambda: 7, 1.0) == 7
    with pytest.raises(ZeroDivisionError):  # the call's own error, not a timeout
        call_with_timeout(lambda: 1 / 0, 1.0)


def test_generation_timeout_scales_with_the_preset(tmp_path):
    tiny = _tiny_preset(tmp_path)
    big = tiny.model_copy(update={"width": 1080, "height": 1350, "duration_s": 4.0})
    orch = OrchestrationSettings()
    assert generation_timeout(orch, big, 1.0) == pytest.approx(120 * 1.08 * 1.35 * 4)
    assert generation_timeout(orch, big, 0.5) == pytest.approx(120 * 1.08 * 1.35 * 2)
    assert generation_timeout(orch, tiny, 1.0) == 60.0  # at least generation_timeout_min_s
    fixed = OrchestrationSettings(generation_timeout_s=5.0)
    assert generation_timeout(fixed, big, 1.0) == generation_timeout(fixed, tiny, 0.5) == 5.0


class _TimedEngine(Engine):
    """Writes a real master, except for seed 13: as a process-isolated engine does, that request comes back
    as a timeout in place (enforcing) or simply takes too long (inline)."""

    def __init__(self, name: str, enforcing: bool):
        self.name = name
        self.enforces_timeouts = enforcing
        self.seen: list[tuple[float | None, str]] = []

    def identity(self) -> str:
        return f"timed:{self.name}"

    def generate(self, request: GenerationRequest) -> ClipRef:
        self.seen.append((request.timeout_s, threading.current_thread().name))
        if request.seed == 13:
            if self.enforces_timeouts:
                raise EngineTimeout(f"generation timed out after {request.timeout_s:g} s; worker killed")
            RELEASE.wait(60)
            raise RuntimeError("released")
        preset = request.preset
        frames = [np.full((preset.height, preset.width, 3), 90, np.uint8)] * preset.n_frames
        write_master(frames, request.out_path, preset.fps)
        return ClipRef(
            path=request.out_path,
            fps=float(preset.fps),
            n_frames=preset.n_frames,
            width=preset.width,
            height=preset.height,
            engine=self.name,
            seed=request.seed,
            attempt=request.attempt,
        )


ENGINES = {
    "timed-enforcing": _TimedEngine("timed-enforcing", True),
    "timed-inline": _TimedEngine("timed-inline", False),
}
for _name, _engine in ENGINES.items():
    register_engine(_name)(lambda settings, e=_engine: e)


def _ctx(tmp_path: Path, preset, **orch: Any) -> RunContext:
    settings = RunSettings(work_dir=str(tmp_path / "work"), sink={"uri": str(tmp_path / "out")}, orchestration=orch)
    return RunContext(
        run_id="r1",
        catalog="c.csv",
        out=str(tmp_path / "out"),
        work_dir=settings.work_dir,
        settings=settings,
        presets={preset.name: preset},
    )


def _states(engine: str) -> list[ItemState]:
    states = []
    for sku, seed in (("OK-1", 1), ("SLOW-1", 13), ("OK-2", 2)):
        item = WorkItem(sku=sku, skus=[sku], preset=PRESET, image="x.png", engine=engine, seed=seed, key=sku)
        item.source_path = "unused.png"
        states.append(ItemState(item=item))
    return states


def test_an_engine_that_enforces_timeouts_is_called_directly_with_each_limit(tmp_path, rel_results):
    preset = _tiny_preset(tmp_path)
    engine = ENGINES["timed-enforcing"]
    states = steps.generate_batch(_states("timed-enforcing"), _ctx(tmp_path, preset, generation_timeout_min_s=7))
    rel_results.add("faults_injected")
    by = {s.item.sku: s for s in states}
    assert by["SLOW-1"].status == "failed"
    assert by["SLOW-1"].reason == "generation failed: generation timed out after 7 s; worker killed"
    for sku in ("OK-1", "OK-2"):
        assert by[sku].status is None and by[sku].clip is not None and Path(by[sku].clip.path).is_file()
    # every request carried its own limit and ran on the step's thread (no timer thread around the engine)
    assert [limit for limit, _ in engine.seen] == [7.0, 7.0, 7.0]
    assert {thread for _, thread in engine.seen} == {threading.current_thread().name}


def test_an_inline_engine_gets_the_batchs_summed_limit_in_a_thread(tmp_path, rel_results):
    preset = _tiny_preset(tmp_path)
    engine = ENGINES["timed-inline"]
    started = time.monotonic()
    states = steps.generate_batch(_states("timed-inline"), _ctx(tmp_path, preset, generation_timeout_s=0.2))
    rel_results.add("faults_injected")
    assert time.monotonic() - started < 5
    # the abandoned call held the whole batch: every item of it timed out
    expected = "generation timed out after 0.6 s (orchestration.generation_timeout_s)"
    assert [(s.status, s.reason) for s in states] == [("failed", expected)] * 3
    assert engine.seen and all(thread != threading.current_thread().name for _, thread in engine.seen)
