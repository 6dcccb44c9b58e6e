"""Draw docs/img/qc-report.png: the QC report as headless Chromium shows it, the run page (failed clips
first) beside the first failed clip's page (its video, findings and curves).

Usage: python scripts/make_report_screenshot.py [--dest docs/img/qc-report.png]
Builds a small sample run (tests/quality/test_report_browser.py make_sample_report: one published clip,
a colour-drift and a black-frame failure), serves it over loopback HTTP as the links engineer's server
would, screenshots both pages with the tests' Chromium wrapper and refuses a blank picture.
"""

from __future__ import annotations

import argparse
import http.server
import sys
import tempfile
import threading
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fixtures.browser import Browser, RangeRequestHandler, chromium_exe  # noqa: E402
from tests.quality.test_report_browser import RUN_PAGE, make_sample_report, pixels_look_real  # noqa: E402


def _serve(folder: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(RangeRequestHandler, directory=str(folder)))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", default=str(ROOT / "docs" / "img" / "qc-report.png"))
    args = parser.parse_args(argv)
    exe = chromium_exe()
    if exe is None:
        print("error: headless Chromium is not installed: run `make test-deps`", file=sys.stderr)
        return 2
    browser = Browser(exe)
    with tempfile.TemporaryDirectory(prefix="qc-report-shot-") as tmp:
        out_root = Path(tmp) / "out"
        sample = make_sample_report(out_root, width=384, height=480, n=48)
        failed = next(sku for sku in sample["clips"] if sku != "SKU-GOOD")
        server, base = _serve(out_root)
        try:
            run_png = browser.screenshot(f"{base}/{RUN_PAGE}", Path(tmp) / "run.png", size=(1180, 1250))
            clip_page = sample["clips"][failed].relative_to(out_root).as_posix()
            clip_png = browser.screenshot(f"{base}/{clip_page}", Path(tmp) / "clip.png", size=(1180, 1250))
        finally:
            server.shutdown()
            server.server_close()
        for png in (run_png, clip_png):
            if not pixels_look_real(png):
                print(f"error: the screenshot {png.name} is blank", file=sys.stderr)
                return 1
        left, right = (np.asarray(Image.open(p).convert("RGB")) for p in (run_png, clip_png))
        gap = np.full((left.shape[0], 12, 3), 90, np.uint8)
        dest = Path(args.dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.concatenate([left, gap, right], axis=1)).save(dest, optimize=True)
    print(dest)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
