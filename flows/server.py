"""A private local Prefect server (SQLite) for the CLI, `make serve` and tests.

Prefect's ephemeral mode is slow to start, prints telemetry warnings and shutdown tracebacks, and
keeps only part of the task-run history (docs/OPERATIONS.md); a real local server records everything.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from catalog_motion.errors import ConfigError


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prefect_base_env(home: Path) -> dict[str, str]:
    """Quiet, offline settings shared by the server and every client process."""
    return {
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_CLI_PROMPT": "false",
        # Terminal stays quiet; the API (and so the UI) still receives INFO logs.
        "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "WARNING",
        "PREFECT_CLIENT_MAX_RETRIES": "8",
    }


@dataclass
class PrefectServer:
    """A running local Prefect server and the environment that reaches it."""

    url: str
    ui_url: str
    home: Path
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen | None = None
    log_path: Path | None = None

    def healthy(self) -> bool:
        return api_healthy(self.url)


def api_healthy(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/health", timeout=timeout) as response:
            return response.status == 200
    except OSError:
        return False


def _prefect_exe() -> str:
    return shutil.which("prefect", path=str(Path(sys.executable).parent)) or shutil.which("prefect") or "prefect"


def start_prefect_server(home: Path, *, port: int | None = None, timeout_s: float = 120.0) -> PrefectServer:
    """Start `prefect server start` on loopback (SQLite under `home`); return once /api/health answers."""
    home = Path(home).resolve()
    home.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, **prefect_base_env(home)}
    env.pop("PREFECT_API_URL", None)
    env["PREFECT_API_DATABASE_CONNECTION_URL"] = f"sqlite+aiosqlite:///{home / 'prefect.db'}"
    env["PREFECT_UI_API_URL"] = url
    log_path = home / "server.log"
    log_file = open(log_path, "ab")  # noqa: SIM115 - the child keeps its own descriptor
    try:
        process = subprocess.Popen(
            [_prefect_exe(), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    finally:
        log_file.close()
    server = PrefectServer(
        url=url,
        ui_url=f"http://127.0.0.1:{port}",
        home=home,
        process=process,
        log_path=log_path,
        env={**prefect_base_env(home), "PREFECT_API_URL": url},
    )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
            raise ConfigError(f"local Prefect server exited at start: {tail[0]} (log: {log_path})")
        if server.healthy():
            return server
        time.sleep(0.25)
    stop_prefect_server(server)
    raise ConfigError(f"local Prefect server not healthy after {timeout_s:.0f} s (log: {log_path})")


def stop_prefect_server(server: PrefectServer, timeout_s: float = 15.0) -> None:
    """Stop the server's whole process group (uvicorn plus its services)."""
    if server.process is None or server.process.poll() is not None:
        return
    try:
        os.killpg(server.process.pid, signal.SIGTERM)
        server.process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(server.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        server.process.wait(timeout=timeout_s)
    except ProcessLookupError:
        pass


def flush_prefect_clients(timeout_s: float = 10.0) -> None:
    """Send queued logs and events now, before a private server stops (else they retry for minutes)."""
    try:
        from prefect.events.worker import EventsWorker
        from prefect.logging.handlers import APILogWorker
    except ImportError:
        return
    for worker in (APILogWorker, EventsWorker):
        try:
            worker.drain_all(timeout=timeout_s)
        except Exception:  # noqa: BLE001 - best effort at shutdown
            pass
