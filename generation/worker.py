"""Contained engines: an engine that runs in a worker process owning the model (`ProcessEngine`).

A diffusion model that hangs cannot be stopped from a thread, and a thread that is abandoned keeps the
GPU's memory. So the model lives in one child process per (engine, settings); the proxy in the run's
process sends it references (the pydantic request; the master clip is written to disk by the child at
`request.out_path`) and waits at most `request.timeout_s` for each answer. Past it the child is killed
and joined before the call returns (its CUDA context and GPU memory are gone with it) and a fresh child
serves the next request. One child is one GPU: concurrent callers take turns.

Requests go to the child one at a time, `generate_batch` included, so every item has its own deadline;
an engine that batches forward passes loses that batching here (engine_isolation 'inline' keeps it,
without a hard timeout).
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import pickle
import sys
import threading
import time
import traceback
import weakref
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from typing import Any

from catalog_motion import errors as _errors
from catalog_motion.errors import EngineError, PermanentError
from catalog_motion.types import ClipRef
from generation.base import Engine, GenerationRequest

KILL_GRACE_S = 5.0
"""How long a worker may take to exit after SIGTERM before it gets SIGKILL."""

PARENT_CHECK_S = 0.5  # how often a worker checks that the process that started it still exists


class EngineTimeout(PermanentError):
    """A request ran past its timeout_s; the worker was killed (not retried: it would hang again)."""


class EngineWorkerDied(PermanentError):
    """The engine's worker process ended in the middle of a request (crash, out-of-memory kill, signal)."""


def _exit_reason(exitcode: int | None) -> str:
    if exitcode is None:
        return "exit code unknown"
    if exitcode < 0:
        import signal

        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        hint = ", e.g. the out-of-memory killer" if -exitcode == signal.SIGKILL else ""
        return f"exit code {exitcode}: killed by {name}{hint}"
    return f"exit code {exitcode}"


# --- what crosses the pipe for an exception ------------------------------------------------------------


def _pack_exception(exc: BaseException) -> dict[str, Any]:
    """An exception as plain data: pickled when it pickles, plus what rebuilds its category if not."""
    try:
        blob: bytes | None = pickle.dumps(exc)
        pickle.loads(blob)  # a class whose __init__ does not match its args fails only here
    except Exception:  # noqa: BLE001 - any failure means: send the description instead
        blob = None
    category = next((cls.__name__ for cls in type(exc).__mro__ if cls.__module__ == _errors.__name__), "Exception")
    return {
        "pickled": blob,
        "module": type(exc).__module__,
        "type": type(exc).__name__,
        "category": category,
        "message": str(exc),
        "traceback": "".join(traceback.format_exception(exc)),
    }


def _unpack_exception(packed: dict[str, Any], pid: int) -> Exception:
    """The child's exception, same class when the parent already has its module loaded (never import a
    heavy module such as torch here just to name an error); otherwise a class of the same name under the
    same category from catalog_motion.errors, so TransientError is still retried, with the same message."""
    exc: Exception | None = None
    if packed["pickled"] is not None and packed["module"] in sys.modules:
        try:
            loaded = pickle.loads(packed["pickled"])
            exc = loaded if isinstance(loaded, Exception) else None
        except Exception:  # noqa: BLE001 - fall back to the description
            exc = None
    if exc is None:
        base = getattr(_errors, packed["category"], Exception)
        if not (isinstance(base, type) and issubclass(base, Exception)):
            base = Exception
        if packed["type"] == base.__name__:
            cls = base
        else:  # keeps the class name the operator would have seen inline ("FakeOOM: ...")
            cls = type(packed["type"], (base,), {"__module__": packed["module"]})
        exc = cls.__new__(cls)
        Exception.__init__(exc, packed["message"])
        if isinstance(exc, _errors.IntakeError):
            exc.reason = packed["message"]
    exc.add_note(f"raised in engine worker process {pid}:\n{packed['traceback'].rstrip()}")
    return exc


# --- the child -----------------------------------------------------------------------------------------


def _watch_parent(parent_pid: int) -> None:
    """End this worker when the process that started it is gone (killed with SIGKILL: no atexit ran)."""

    def watch() -> None:
        while True:
            if os.getppid() != parent_pid:
                os._exit(3)
            time.sleep(PARENT_CHECK_S)

    threading.Thread(target=watch, daemon=True, name="engine-worker-parent-watch").start()


def _serve(conn: Connection, build: Callable[[], Engine], parent_pid: int) -> None:
    """The worker's main: build the engine once, then answer requests until told to stop or orphaned."""
    _watch_parent(parent_pid)
    try:
        engine = build()
    except BaseException as exc:  # noqa: BLE001 - the parent raises it
        conn.send(("error", _pack_exception(exc)))
        return
    conn.send(("ready", os.getpid()))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return  # the parent closed the pipe (or died)
        op = message[0]
        if op == "stop":
            return
        try:
            if op == "identity":
                value: Any = engine.identity()
            elif op == "generate":
                value = engine.generate(message[1])
            else:
                raise AssertionError(f"unknown engine worker request {op!r}")
            reply: tuple[str, Any] = ("ok", value)
        except Exception as exc:  # noqa: BLE001 - the item's outcome, raised again in the parent
            reply = ("error", _pack_exception(exc))
        try:
            conn.send(reply)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:  # an answer that cannot travel
            conn.send(("error", _pack_exception(EngineError(f"engine worker could not send its answer: {exc}"))))


# --- the proxy -----------------------------------------------------------------------------------------

_LIVE: weakref.WeakSet[ProcessEngine] = weakref.WeakSet()


class ProcessEngine(Engine):
    """An engine run in a worker process (started on first use, restarted after a timeout or a crash).

    `build` must pickle (a module-level function or a functools.partial of one): the worker calls it once
    to build the real engine, so the model loads once per worker process."""

    enforces_timeouts = True

    def __init__(self, name: str, build: Callable[[], Engine], *, kill_grace_s: float = KILL_GRACE_S):
        self.name = name
        self._build = build
        self._kill_grace_s = kill_grace_s
        self._lock = threading.Lock()  # one request at a time: one worker is one GPU
        self._process: Any = None
        self._conn: Connection | None = None
        self._identity: str | None = None
        self.starts = 0
        """How many worker processes this proxy has started (1 + restarts)."""
        _LIVE.add(self)

    # -- public API

    @property
    def worker_pid(self) -> int | None:
        """The live worker's process id (None before first use and after a kill until the next request)."""
        process = self._process
        return process.pid if process is not None and process.is_alive() else None

    def start(self) -> None:
        """Start the worker and build the engine now (otherwise: on first use); raises what the build raises."""
        with self._lock:
            self._ensure_started()

    def identity(self) -> str:
        if self._identity is None:
            with self._lock:
                self._ensure_started()
                self._identity = self._exchange(("identity",), None)
        return self._identity

    def generate(self, request: GenerationRequest) -> ClipRef:
        with self._lock:
            self._ensure_started()
            return self._exchange(("generate", request), request.timeout_s)

    def generate_batch(self, requests: list[GenerationRequest]) -> list[ClipRef | Exception]:
        """Each request in turn, each with its own deadline; a failure (timeout included) in its place. An
        engine that cannot be built at all raises, as get_engine does for an inline engine."""
        self.start()
        return super().generate_batch(requests)  # one by one through generate(), each with its deadline

    def close(self) -> None:
        """Stop the worker (asked first, then SIGTERM, then SIGKILL) and wait until it is gone."""
        with self._lock:
            if self._process is not None and self._process.is_alive() and self._conn is not None:
                try:
                    self._conn.send(("stop",))
                except OSError:
                    pass
                self._process.join(self._kill_grace_s)
            self._kill()

    # -- the worker's life

    def _ensure_started(self) -> None:
        if self._process is not None and self._process.is_alive():
            return
        self._kill()  # reap one that died between requests
        ctx = multiprocessing.get_context("spawn")
        parent_conn, child_conn = ctx.Pipe(duplex=True)
        # daemon: multiprocessing ends it when this process exits normally; _watch_parent covers SIGKILL.
        process = ctx.Process(
            target=_serve,
            args=(child_conn, self._build, os.getpid()),
            name=f"engine-worker-{self.name}",
            daemon=True,
        )
        process.start()
        child_conn.close()  # only the child holds its end now: its death reads as EOF here
        self._process, self._conn = process, parent_conn
        self.starts += 1
        reply = self._receive(None, during="while loading the engine")
        if reply[0] == "error":
            pid = process.pid
            self._kill()
            raise _unpack_exception(reply[1], pid)

    def _exchange(self, message: tuple[Any, ...], timeout_s: float | None) -> Any:
        """Send one request and return its answer, or raise the child's exception, a timeout or a death."""
        assert self._conn is not None and self._process is not None
        pid = self._process.pid
        try:
            self._conn.send(message)
        except OSError:
            pass  # the child is gone: _receive reports how it ended
        reply = self._receive(timeout_s)
        if reply[0] == "error":
            raise _unpack_exception(reply[1], pid)
        return reply[1]

    def _receive(self, timeout_s: float | None, during: str = "during the request") -> tuple[str, Any]:
        conn, process = self._conn, self._process
        assert conn is not None and process is not None
        ready = wait([conn, process.sentinel], timeout_s)
        if not ready:
            self._kill()
            raise EngineTimeout(
                f"generation timed out after {timeout_s:g} s; the engine's worker process was killed and will "
                "be restarted"
            )
        if conn in ready or conn.poll():  # an answer sent just before exiting still counts
            try:
                return conn.recv()
            except (EOFError, OSError):
                pass
        process.join(self._kill_grace_s)
        code = process.exitcode
        self._kill()
        raise EngineWorkerDied(
            f"{self.name}: the engine's worker process died {during} ({_exit_reason(code)}); "
            "it will be restarted for the next one"
        )

    def _kill(self) -> None:
        """End the worker (SIGTERM, SIGKILL after the grace) and join it: when this returns it is gone."""
        process, conn = self._process, self._conn
        self._process = self._conn = None
        if conn is not None:
            conn.close()
        if process is None:
            return
        if process.is_alive():
            process.terminate()
            process.join(self._kill_grace_s)
        if process.is_alive():
            process.kill()
        process.join()
        process.close()

    def _terminate_at_exit(self) -> None:
        """End the worker without waiting for a turn (a thread may be blocked on a request at exit)."""
        if self._lock.acquire(timeout=1.0):
            try:
                self._kill()
            finally:
                self._lock.release()
            return
        process = self._process
        if process is not None and process.is_alive():  # the waiting thread sees it end and cleans up
            process.terminate()
            process.join(self._kill_grace_s)
            if process.is_alive():
                process.kill()

    def _forget_after_fork(self) -> None:
        # A forked copy of this process must not talk to (or kill) its parent's worker: start afresh.
        self._lock = threading.Lock()
        if self._conn is not None:
            self._conn.close()
        self._process = self._conn = None


def close_all() -> None:
    """Stop every live worker of this process now (at exit): none outlives the process that started it."""
    for engine in list(_LIVE):
        try:
            engine._terminate_at_exit()
        except Exception:  # noqa: BLE001,S110 - best effort at exit
            pass


def _after_fork_in_child() -> None:
    for engine in list(_LIVE):
        engine._forget_after_fork()


atexit.register(close_all)
os.register_at_fork(after_in_child=_after_fork_in_child)


def current_process_can_start_workers() -> bool:
    """False inside a daemonic process (a multiprocessing.Pool worker, a Dask worker): it may not have
    child processes, so its engines can only run inline."""
    return not multiprocessing.current_process().daemon
