"""Process-isolated engines (generation.worker.ProcessEngine): the proxy renders what the inline engine
renders, errors come back in their category, and a worker that hangs, crashes or is killed is replaced.

Every test starts real spawn worker processes (a second or two each on a busy machine)."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pytest

from catalog_motion.errors import EngineError, PermanentError, TransientError
from catalog_motion.media import read_frames
from catalog_motion.types import ClipRef
from generation.base import Engine, GenerationRequest
from generation.registry import LOAD_COUNTS, clear_engine_cache, get_engine, register_engine
from generation.worker import EngineTimeout, EngineWorkerDied, ProcessEngine
from tests.generation.conftest import small_preset


class _ScriptedEngine(Engine):
    """Behaves by seed: 1 TransientError, 2 PermanentError, 3 an unpicklable TransientError subclass,
    4 RuntimeError, 5 hangs, 6 dies with SIGSEGV; any other seed renders with the camera engine."""

    name = "worker-test"

    def __init__(self, settings: dict[str, Any]):
        if settings.get("broken"):
            raise EngineError("worker-test: weights folder /nope does not exist; set engines.worker-test.weights")
        self.settings = settings

    def identity(self) -> str:
        return "worker-test/1+" + get_engine("camera", {}).identity()

    def generate(self, request: GenerationRequest) -> ClipRef:
        if request.seed == 1:
            raise TransientError("GPU out of memory (simulated), worth a retry")
        if request.seed == 2:
            raise PermanentError("photo has no subject")
        if request.seed == 3:

            class FakeOOM(TransientError):  # local class: cannot be pickled back to the parent
                pass

            raise FakeOOM("CUDA out of memory. Tried to allocate 20.00 GiB")
        if request.seed == 4:
            raise RuntimeError("model exploded (CUDA error: an illegal memory access)")
        if request.seed == 5:
            time.sleep(600)
        if request.seed == 6:
            os.kill(os.getpid(), signal.SIGSEGV)
        clip = get_engine("camera", {}).generate(request)
        return clip.model_copy(update={"params": {**clip.params, "pid": os.getpid(), "loads": dict(LOAD_COUNTS)}})


# A lambda does not pickle: the worker imports this module to find the engine (as for a plugin module).
register_engine("worker-test", isolation="process")(lambda settings: _ScriptedEngine(settings))


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    from tests.generation.conftest import draw_garment, save_png

    return save_png(draw_garment(400, 500, patch=(230, 280, 45)), tmp_path_factory.mktemp("worker") / "shirt.png")


@pytest.fixture(scope="module")
def scripted():
    engine = get_engine("worker-test", {"level": 1})
    yield engine
    engine.close()


def _request(photo: Path, out: Path, seed: int = 7, **kw) -> GenerationRequest:
    preset = small_preset("product-page", width=96, height=120, fps=12, duration_s=0.5)
    return GenerationRequest(source_path=str(photo), preset=preset, seed=seed, out_path=str(out), **kw)


def _gone(pid: int) -> bool:
    """The process no longer exists (ended and reaped, not even a zombie)."""
    return not psutil.pid_exists(pid)


def _wait_dead(pid: int) -> None:
    """Until our child `pid` can be reaped (WNOWAIT: left for multiprocessing to reap). A zombie status
    is not enough: a killed process's other threads may still be exiting."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            return
        time.sleep(0.02)
    raise AssertionError(f"process {pid} did not end")


def test_process_camera_renders_the_inline_clip(photo, tmp_path):
    inline = get_engine("camera", {}, isolation="inline")
    proxy = get_engine("camera", {}, isolation="process")
    try:
        assert isinstance(proxy, ProcessEngine) and proxy.enforces_timeouts and not inline.enforces_timeouts
        assert get_engine("camera", {}, isolation="process") is proxy  # one worker per (name, settings)
        assert get_engine("camera", {}) is inline  # camera registered inline; the old 2-argument call
        assert proxy.identity() == inline.identity()
        want = inline.generate(_request(photo, tmp_path / "inline.nut"))
        got = proxy.generate(_request(photo, tmp_path / "proxy.nut"))
        pid = proxy.worker_pid
        assert pid is not None and pid != os.getpid()
        assert got.model_dump(exclude={"path", "seconds"}) == want.model_dump(exclude={"path", "seconds"})
        assert got.path == str(tmp_path / "proxy.nut")  # written by the worker, only the reference came back
        assert np.array_equal(read_frames(got.path), read_frames(want.path))
        # batches go one request at a time; a bad item fails alone, in place
        batch = proxy.generate_batch(
            [_request(photo, tmp_path / "b0.nut"), _request(tmp_path / "missing.png", tmp_path / "b1.nut")]
        )
        assert isinstance(batch[0], ClipRef) and np.array_equal(read_frames(batch[0].path), read_frames(want.path))
        assert isinstance(batch[1], PermanentError) and "not found" in str(batch[1]).lower(), batch[1]
        assert proxy.worker_pid == pid and proxy.starts == 1
    finally:
        clear_engine_cache()  # closes the proxy: its worker is stopped and reaped
    assert _gone(pid)
    assert get_engine("camera", {}, isolation="process") is not proxy


def test_errors_come_back_in_their_category(scripted, photo, tmp_path):
    results = scripted.generate_batch(
        [_request(photo, tmp_path / f"e{seed}.nut", seed=seed) for seed in (1, 2, 3, 4, 7)]
    )
    transient, permanent, fake_oom, runtime, ok = results
    assert type(transient) is TransientError and "worth a retry" in str(transient)
    assert type(permanent) is PermanentError and str(permanent) == "photo has no subject"
    assert isinstance(fake_oom, TransientError) and type(fake_oom).__name__ == "FakeOOM"  # still retried
    assert str(fake_oom) == "CUDA out of memory. Tried to allocate 20.00 GiB"
    assert type(runtime) is RuntimeError and "illegal memory access" in str(runtime)
    assert any("raised in engine worker process" in note for note in runtime.__notes__)
    assert isinstance(ok, ClipRef) and ok.params["pid"] == scripted.worker_pid
    # the model was built once, in the worker (counted there), never in this process
    assert ok.params["loads"]["worker-test"] == 1 and "worker-test" not in LOAD_COUNTS
    assert scripted.starts == 1  # an engine's exception is an item's outcome, not a reason to restart


def test_timeout_kills_the_worker_before_returning_and_a_fresh_one_serves_next(scripted, photo, tmp_path):
    scripted.identity()
    hung_pid = scripted.worker_pid
    starts = scripted.starts
    started = time.monotonic()
    results = scripted.generate_batch(
        [
            _request(photo, tmp_path / "hang.nut", seed=5, timeout_s=1.0),
            _request(photo, tmp_path / "after.nut", seed=7, timeout_s=30.0),
        ]
    )
    hung, after = results
    assert isinstance(hung, EngineTimeout) and isinstance(hung, PermanentError)  # not retried
    assert str(hung) == ("generation timed out after 1 s; the engine's worker process was killed and will be restarted")
    assert _gone(hung_pid)  # joined before generate returned: its GPU memory is free
    assert isinstance(after, ClipRef), after
    assert after.params["pid"] != hung_pid and after.params["pid"] == scripted.worker_pid
    assert scripted.starts == starts + 1
    assert time.monotonic() - started < 25


def test_worker_killed_between_or_during_requests_is_restarted(scripted, photo, tmp_path):
    first = scripted.generate(_request(photo, tmp_path / "k0.nut"))
    os.kill(first.params["pid"], signal.SIGKILL)  # e.g. the out-of-memory killer, while idle
    _wait_dead(first.params["pid"])
    second = scripted.generate(_request(photo, tmp_path / "k1.nut"))
    assert second.params["pid"] != first.params["pid"]
    assert np.array_equal(read_frames(second.path), read_frames(first.path))

    crashed = scripted.generate_batch([_request(photo, tmp_path / "k2.nut", seed=6)])[0]  # segfault mid-request
    assert isinstance(crashed, EngineWorkerDied), crashed
    assert "exit code -11: killed by SIGSEGV" in str(crashed) and "restarted" in str(crashed)

    # killed from outside while it works on a request: that item fails, naming the signal
    blocker = threading.Thread(target=lambda: (time.sleep(1.0), os.kill(scripted.worker_pid, signal.SIGKILL)))
    scripted.start()
    blocker.start()
    killed = scripted.generate_batch([_request(photo, tmp_path / "k3.nut", seed=5)])[0]
    blocker.join()
    assert isinstance(killed, EngineWorkerDied) and "killed by SIGKILL" in str(killed), killed
    third = scripted.generate(_request(photo, tmp_path / "k4.nut"))
    assert third.params["pid"] not in (first.params["pid"], second.params["pid"])


def test_concurrent_callers_take_turns(scripted, photo, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(3) as pool:
        refs = list(pool.map(lambda i: scripted.generate(_request(photo, tmp_path / f"c{i}.nut")), range(3)))
    assert len({ref.params["pid"] for ref in refs}) == 1
    frames = [read_frames(ref.path) for ref in refs]
    assert all(np.array_equal(frames[0], f) for f in frames[1:])


def test_an_engine_that_cannot_be_built_raises_on_first_use():
    engine = get_engine("worker-test", {"broken": True})
    assert isinstance(engine, ProcessEngine)  # lazily started: nothing raised yet
    with pytest.raises(EngineError, match="weights folder /nope does not exist"):
        engine.identity()
    with pytest.raises(EngineError, match="weights folder /nope does not exist"):
        engine.generate_batch([])  # as an inline engine raises from get_engine, not per item
    assert engine.worker_pid is None


def _isolation_in_daemon(_: int) -> tuple[str, str]:
    """Runs in a multiprocessing.Pool worker, a daemonic process that may not start children."""
    from catalog_motion.errors import ConfigError

    auto = type(get_engine("worker-test", {"level": 9})).__name__
    try:
        get_engine("worker-test", {"level": 9}, isolation="process")
        explicit = "started"
    except ConfigError as exc:
        explicit = str(exc)
    return auto, explicit


def test_daemonic_process_runs_engines_inline():
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        auto, explicit = pool.map(_isolation_in_daemon, [0])[0]
    assert auto == "_ScriptedEngine"  # auto: inline there (as before isolation existed)
    assert "cannot start a worker inside a daemonic process" in explicit and "'inline'" in explicit
