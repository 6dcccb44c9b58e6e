"""A hung generation in a process-isolated engine (issue #14 item 4): the item times out, the worker
process holding the GPU is killed and joined, and the next items run on a fresh worker that finds the
GPU free.

The GPU is faked by an exclusive, non-blocking flock on a file: the engine takes it at the start of every
generation and refuses to run ("GPU busy") when another process still holds it, as a second model on a
full GPU would fail. A lock dies with the process that holds it, so a busy slot means the hung worker
was still alive when the next generation began.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from typing import Any

import psutil
import yaml

from catalog_motion.errors import PermanentError
from catalog_motion.presets import load_presets
from catalog_motion.types import ClipRef
from generation.base import Engine, GenerationRequest
from generation.registry import clear_engine_cache, get_engine, register_engine
from tests.reliability.conftest import TINY_PRESETS
from tests.reliability.helpers import judge, latest_rows, make_sink, run_flow

ENGINE = "rel-gpu-slot"


class _GpuSlotEngine(Engine):
    """Renders with the camera engine while holding the GPU slot; the first generation ever (a marker
    file next to the slot) takes the slot and then hangs for good."""

    name = ENGINE

    def __init__(self, settings: dict[str, Any]):
        self.slot = Path(settings["slot"])
        self.log = Path(settings["log"])

    def identity(self) -> str:
        return f"{ENGINE}/1+" + get_engine("camera", {}).identity()

    def _note(self, event: str, request: GenerationRequest) -> None:
        with open(self.log, "a", encoding="utf-8") as handle:  # one short line per write: appends stay whole
            handle.write(f"{os.getpid()}\t{event}\t{request.out_path}\n")

    def generate(self, request: GenerationRequest) -> ClipRef:
        fd = os.open(self.slot, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self._note("busy", request)
                raise PermanentError("GPU busy: slot held by another process") from None
            try:
                hang_marker = os.open(self.slot.with_suffix(".hung"), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                hang_marker = None
            if hang_marker is not None:
                os.close(hang_marker)
                self._note("hang", request)
                while True:  # a model stuck in a kernel: only killing the process ends it
                    time.sleep(60)
            self._note("run", request)
            return get_engine("camera", {}).generate(request)
        finally:
            os.close(fd)  # releases the slot (a killed process releases it by dying)


register_engine(ENGINE, isolation="process")(_GpuSlotEngine)


def test_hung_generation_kills_its_worker_and_the_gpu_is_free_for_the_next(prefect_api, tmp_path, rel_results):
    from catalog_connectors.samples import draw_sample_catalog

    # four SKUs, one photo each, so the hung generation is exactly one SKU's
    catalog = draw_sample_catalog(
        tmp_path / "catalog", size=(120, 150), photos=["tee-navy", "hoodie-logo", "jeans-denim", "tote-tan"]
    )
    presets_file = tmp_path / "presets.yaml"
    presets_file.write_text(
        yaml.safe_dump({"presets": {"gpu": {**TINY_PRESETS["presets"]["close-up"], "engine": ENGINE}}}),
        encoding="utf-8",
    )
    slot, log = tmp_path / "gpu.slot", tmp_path / "gpu.log"
    settings = tmp_path / "settings.yaml"
    settings.write_text(
        yaml.safe_dump(
            {
                "orchestration": {"generation_timeout_s": 3.0, "batch_size": 1, "max_workers": 2, "retries": 0},
                "engines": {ENGINE: {"slot": str(slot), "log": str(log)}},
            }
        ),
        encoding="utf-8",
    )
    out = tmp_path / "out"
    started = time.monotonic()
    try:
        summary, _, error = run_flow(
            catalog=str(catalog), out=str(out), presets_file=str(presets_file), settings_file=str(settings)
        )
    finally:
        clear_engine_cache()  # this test's worker must not outlive it
    elapsed = time.monotonic() - started
    rel_results.add("runs")
    rel_results.add("faults_injected")
    assert error is None, repr(error)
    rel_results.add("runs_survived")

    events = [line.split("\t") for line in log.read_text(encoding="utf-8").splitlines()]
    hung = [int(pid) for pid, event, _ in events if event == "hang"]
    ran = [int(pid) for pid, event, _ in events if event == "run"]
    assert len(hung) == 1, events
    assert not [e for e in events if e[1] == "busy"], f"the GPU slot was held by two processes: {events}"
    assert len(ran) >= 3 and hung[0] not in ran, events  # the rest ran in a fresh worker process
    assert len(set(ran)) == 1, events  # ... one, whose model loaded once
    assert not psutil.pid_exists(hung[0]), "the hung worker process outlived the run"
    assert not psutil.pid_exists(ran[0]), "the worker process outlived clear_engine_cache"

    rows = latest_rows(make_sink(str(out)))
    failed = [r for r in rows if r.status == "failed"]
    assert len(rows) == 4 and len(failed) == 1, [(r.sku, r.status, r.reason) for r in rows]
    reason = failed[0].reason
    assert "timed out after 3 s" in reason and "worker process was killed" in reason and "\n" not in reason
    assert {r.status for r in rows if r is not failed[0]} == {"published"}, [(r.sku, r.status, r.reason) for r in rows]
    assert elapsed < 60, f"run took {elapsed:.0f} s"
    rel_results.case("hung-engine-worker", "killed, item failed, rest published", reason)

    report = judge(rel_results, catalog, list(load_presets(presets_file).values()), rows, make_sink(str(out)))
    assert report.ok, report.violations
    assert summary["invariants"]["ok"] is True
