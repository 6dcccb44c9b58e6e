"""A read-only HTTP server for a run's output folder on loopback (`catalog-motion serve`).

Browsers do not open `file://` links from the Prefect UI's http pages, so `serve` also serves the output
folder here and the run's artifacts link to it (catalog_motion/links.py). GET and HEAD only; every path is
resolved (symlinks included) and must stay inside the root, else 404; byte ranges for <video> seeking.
"""

from __future__ import annotations

import http.server
import os
import re
import threading
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from catalog_motion.errors import ConfigError
from catalog_motion.links import REPORTS_ROOT_ENV, REPORTS_URL_ENV


def resolve_inside(root: Path, url_path: str) -> Path | None:
    """The file or folder `url_path` names under `root`, or None when it would leave `root` (`..`, encoded
    `%2e%2e`, a backslash, a NUL, or a symlink pointing out) or names a hidden entry."""
    path = urllib.parse.unquote(urllib.parse.urlsplit(url_path).path, errors="strict")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    # Dot segments: `..` and hidden entries (the work folder `.work`, `.partial` uploads) are never served.
    if any(p.startswith(".") or "\\" in p or "\x00" in p for p in parts):
        return None
    target = Path(os.path.realpath(root.joinpath(*parts)))
    if target != root and root not in target.parents:
        return None
    return target if target.exists() else None


class ReadOnlyHandler(http.server.SimpleHTTPRequestHandler):
    """Files and listings under `directory` only; single `Range: bytes=a-b` requests answered with 206."""

    server_version = "catalog-motion-static"
    sys_version = ""
    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".mp4": "video/mp4",
        ".webm": "video/webm",
        ".webp": "image/webp",
        ".json": "application/json",
        ".parquet": "application/vnd.apache.parquet",
        ".woff2": "font/woff2",
    }

    def log_message(self, *args: object) -> None:
        pass  # serve's terminal shows the worker and server, not one line per file

    def translate_path(self, path: str) -> str:
        root = Path(os.path.realpath(self.directory))
        try:
            target = resolve_inside(root, path)
        except UnicodeDecodeError:
            target = None
        # A path that cannot exist under the root: send_head then answers 404.
        return str(target) if target is not None else str(root / "\x00missing")

    def end_headers(self) -> None:
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def send_head(self):  # noqa: ANN201 - the base class's protocol: a file object or None
        if "\x00" in self.translate_path(self.path):
            self.send_error(404, "Not found")
            return None
        match = re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range") or "")
        path = Path(self.translate_path(self.path))
        if not match or not path.is_file():
            self._remaining = None
            return super().send_head()
        size = path.stat().st_size
        first, last = match.groups()
        if first:
            start, end = int(first), min(int(last) if last else size - 1, size - 1)
        else:
            start, end = max(0, size - int(last or 0)), size - 1
        if start > end or start >= size:
            self.send_error(416, "Requested range not satisfiable")
            return None
        handle = open(path, "rb")  # noqa: SIM115 - copyfile reads it and the base class closes it
        handle.seek(start)
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        self._remaining = end - start + 1
        return handle

    def copyfile(self, source, outputfile) -> None:  # noqa: ANN001 - the base class's signature
        remaining = getattr(self, "_remaining", None)
        if remaining is None:
            return super().copyfile(source, outputfile)
        while remaining > 0:
            block = source.read(min(1 << 16, remaining))
            if not block:
                break
            outputfile.write(block)
            remaining -= len(block)
        self._remaining = None


@dataclass
class StaticServer:
    """A running static server: `url` (no trailing slash) serves `root`."""

    url: str
    root: Path
    httpd: http.server.ThreadingHTTPServer
    thread: threading.Thread

    def env(self) -> dict[str, str]:
        """What a run needs to link its outputs to this server (the worker passes it to flow runs)."""
        return {REPORTS_URL_ENV: self.url, REPORTS_ROOT_ENV: str(self.root)}

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def start_static_server(root: str | Path, *, port: int = 0, host: str = "127.0.0.1") -> StaticServer:
    """Serve `root` read-only on `host:port` (0: a free port) in a background thread."""
    root = Path(os.path.realpath(root))
    root.mkdir(parents=True, exist_ok=True)

    def handler(*args: object, **kwargs: object) -> ReadOnlyHandler:
        return ReadOnlyHandler(*args, directory=str(root), **kwargs)

    try:
        httpd = http.server.ThreadingHTTPServer((host, port), handler)
    except OSError as exc:
        raise ConfigError(
            f"cannot serve the output folder on {host}:{port}: {exc.strerror or exc} (choose another --reports-port)"
        ) from None
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, name="catalog-motion-static", daemon=True)
    thread.start()
    return StaticServer(url=f"http://{host}:{httpd.server_address[1]}", root=root, httpd=httpd, thread=thread)
