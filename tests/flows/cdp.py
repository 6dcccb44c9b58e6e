"""Headless Chromium driven over the DevTools protocol (test and screenshot-script helper).

`--dump-dom` cannot click a link, see each request or refuse one; CDP can. `CdpBrowser` starts the same
Debian Chromium the tests use with a remote-debugging port on loopback, and `page` gives one tab with:
every request recorded (url, resource type, status or failure), requests to anything but loopback
refused (Fetch interception) and recorded in `blocked`, `navigate`, `evaluate` and `screenshot`.
"""

from __future__ import annotations

import base64
import itertools
import json
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.sync.client import connect

from tests.fixtures.browser import FLAGS, chromium_exe

LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


@dataclass
class Request:
    url: str
    kind: str
    status: int | None = None
    failed: str | None = None


@dataclass
class CdpPage:
    ws: Any
    requests: dict[str, Request] = field(default_factory=dict)
    blocked: list[str] = field(default_factory=list)
    loaded: int = 0
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def send(self, method: str, params: dict | None = None, timeout: float = 60) -> dict:
        msg_id = next(self._ids)
        self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params or {}}))
        deadline = time.monotonic() + timeout
        while True:
            message = self._recv(deadline - time.monotonic())
            if message is None:
                raise TimeoutError(f"no answer to {method} in {timeout:.0f} s")
            if message.get("id") == msg_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def pump(self, seconds: float) -> None:
        """Handle events (requests, interceptions) for `seconds`."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self._recv(deadline - time.monotonic())

    def _recv(self, timeout: float) -> dict | None:
        try:
            raw = self.ws.recv(timeout=max(timeout, 0.01))
        except TimeoutError:
            return None
        message = json.loads(raw)
        method, params = message.get("method"), message.get("params", {})
        if method == "Fetch.requestPaused":
            host = urllib.parse.urlsplit(params["request"]["url"]).hostname or ""
            if params["request"]["url"].startswith(("data:", "blob:")) or host in LOOPBACK:
                self._reply("Fetch.continueRequest", {"requestId": params["requestId"]})
            else:
                self.blocked.append(params["request"]["url"])
                self._reply("Fetch.failRequest", {"requestId": params["requestId"], "errorReason": "BlockedByClient"})
        elif method == "Network.requestWillBeSent":
            self.requests[params["requestId"]] = Request(params["request"]["url"], params.get("type", ""))
        elif method == "Network.responseReceived" and params["requestId"] in self.requests:
            self.requests[params["requestId"]].status = params["response"]["status"]
        elif method == "Network.loadingFailed" and params["requestId"] in self.requests:
            self.requests[params["requestId"]].failed = params.get("errorText", "failed")
        elif method == "Page.loadEventFired":
            self.loaded += 1
        return message

    def _reply(self, method: str, params: dict) -> None:
        self.ws.send(json.dumps({"id": next(self._ids), "method": method, "params": params}))

    def navigate(self, url: str, settle_s: float = 2.0, timeout: float = 60) -> None:
        """Open `url`, wait for its load event, then let scripts settle for `settle_s`."""
        before = self.loaded
        self.send("Page.navigate", {"url": url})
        self.wait_for_load(before, timeout)
        self.pump(settle_s)

    def wait_for_load(self, before: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.loaded <= before:
            if time.monotonic() > deadline:
                raise TimeoutError(f"page did not load in {timeout:.0f} s")
            self._recv(deadline - time.monotonic())

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 60, poll: float = 0.5) -> Any:
        """Poll a JS expression until it is truthy (the Prefect UI renders asynchronously)."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {expression[:80]}")
            self.pump(poll)

    def screenshot(self, path: str | Path) -> Path:
        data = self.send("Page.captureScreenshot", {"format": "png"})["data"]
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path


class CdpBrowser:
    """`with CdpBrowser() as browser: page = browser.page()` - one headless Chromium, loopback only."""

    def __init__(self, size: tuple[int, int] = (1400, 1000)):
        exe = chromium_exe()
        if exe is None:
            raise RuntimeError("headless Chromium is not installed: run `make test-deps`")
        self.exe, self.size = exe, size

    def __enter__(self) -> CdpBrowser:
        self.profile = tempfile.TemporaryDirectory(prefix="chromium-cdp-", ignore_cleanup_errors=True)
        argv = [
            self.exe,
            *FLAGS,
            f"--user-data-dir={self.profile.name}",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            f"--window-size={self.size[0]},{self.size[1]}",
            "about:blank",
        ]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = Path(self.profile.name) / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.__exit__()
                raise RuntimeError("chromium did not open its DevTools port")
            time.sleep(0.1)
        self.port = int(port_file.read_text().splitlines()[0])
        return self

    def page(self, block_external: bool = True) -> CdpPage:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json/list", timeout=10) as response:
            targets = [t for t in json.load(response) if t.get("type") == "page"]
        ws = connect(targets[0]["webSocketDebuggerUrl"], max_size=None, open_timeout=10)
        page = CdpPage(ws)
        page.send("Page.enable")
        page.send("Network.enable")
        page.send("Runtime.enable")
        if block_external:
            page.send("Fetch.enable", {"patterns": [{"urlPattern": "*"}]})
        page.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": self.size[0], "height": self.size[1], "deviceScaleFactor": 1, "mobile": False},
        )
        return page

    def __exit__(self, *exc: object) -> None:
        if getattr(self, "proc", None) is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.profile.cleanup()


ARTIFACTS_TAB = "[...document.querySelectorAll('li.p-tab')].find(t => t.textContent.trim() === 'Artifacts')"
LINKS_CARD = (
    "[...document.querySelectorAll('a')].find(a => a.href.includes('/artifacts/artifact/')"
    " && a.innerText.includes('catalog-run-links'))"
)


def open_links_artifact(page: CdpPage, ui_url: str, flow_run_id: object) -> None:
    """The flow-run page, its Artifacts tab, the `catalog-run-links` card: what an operator clicks."""
    page.navigate(f"{ui_url}/runs/flow-run/{flow_run_id}", settle_s=1.0)
    # the tab shows once the run's state has loaded; click it until the card is there
    page.wait_for(f"(() => {{ if ({LINKS_CARD}) return true; {ARTIFACTS_TAB}?.click(); return false }})()", 90)
    page.evaluate(f"{LINKS_CARD}.click()")
