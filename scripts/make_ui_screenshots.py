"""Draw the operator screenshots in docs/img with the tests' headless Chromium (tests/flows/cdp.py):

    docs/img/prefect-run-artifacts.png   a run's `catalog-run-links` artifact, opened from its flow-run page in
                                         the Prefect UI, its links pointing at the static server `serve` runs
    docs/img/datadocs-index.png          the catalog Data Docs index, rendered with every request off loopback
                                         refused (the packaged assets only)

A private local Prefect server and static server, a small sample catalog (3 SKUs, 216 px presets), one real
run. Each picture is checked non-blank; a blank one, or a link that does not open, exits 1.

    .venv/bin/python scripts/make_ui_screenshots.py [--out-dir docs/img]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import yaml
from PIL import Image, ImageOps

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def non_blank(path: Path) -> bool:
    with Image.open(path) as image:
        gray = ImageOps.grayscale(image)
        lo, hi = gray.getextrema()
        return hi - lo > 100 and len(set(gray.resize((140, 100)).tobytes())) > 20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", default=str(ROOT / "docs" / "img"))
    args = parser.parse_args()
    out_dir = Path(args.out_dir)
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")

    from catalog_connectors.samples import draw_sample_catalog
    from flows.server import flush_prefect_clients, start_prefect_server, stop_prefect_server
    from flows.static_server import start_static_server
    from tests.flows.cdp import CdpBrowser, open_links_artifact
    from tests.flows.conftest import SMALL_PRESETS

    with tempfile.TemporaryDirectory(prefix="ui-screenshots-") as tmp:
        work = Path(tmp)
        catalog = draw_sample_catalog(work / "catalog", size=(320, 400), photos=["tee-red", "hoodie-logo"])
        presets = work / "presets.yaml"
        presets.write_text(yaml.safe_dump(SMALL_PRESETS), encoding="utf-8")
        out = work / "out"
        prefect = start_prefect_server(work / "prefect")
        reports = start_static_server(out)
        os.environ.update({**prefect.env, **reports.env()})
        try:
            from prefect.context import refresh_global_settings_context

            refresh_global_settings_context()
            from flows.catalog_run import catalog_run

            state = catalog_run(catalog=str(catalog), out=str(out), presets_file=str(presets), return_state=True)
            summary = state.result()
            flow_run_id = state.state_details.flow_run_id
            report_url = f"{reports.url}/runs/{summary['run_id']}/qc-report/index.html"
            docs_index = f"{reports.url}/runs/{summary['run_id']}/catalog-docs/index.html"
            with CdpBrowser(size=(1400, 1000)) as browser:
                page = browser.page(block_external=True)
                open_links_artifact(page, prefect.ui_url, flow_run_id)
                link = f"[...document.querySelectorAll('a')].some(a => a.href === {json.dumps(report_url)})"
                page.wait_for(link, 60)
                page.pump(1.0)
                artifacts_png = page.screenshot(out_dir / "prefect-run-artifacts.png")
                page.navigate(docs_index, settle_s=2.0)
                page.wait_for("document.querySelectorAll('table tbody tr:not(.no-records-found)').length", 30)
                docs_png = page.screenshot(out_dir / "datadocs-index.png")
                page.navigate(report_url, settle_s=0.5)
                opened = [r for r in page.requests.values() if r.url == report_url and r.kind == "Document"]
        finally:
            flush_prefect_clients()
            reports.stop()
            stop_prefect_server(prefect)
    problems = [f"{p.name} is blank" for p in (artifacts_png, docs_png) if not non_blank(p)]
    if page.blocked:
        problems.append(f"requests off loopback: {page.blocked[:3]}")
    if not opened or opened[-1].status != 200:
        problems.append(f"the artifact's QC report link did not open: {report_url}")
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if not problems:
        print(f"wrote {artifacts_png} and {docs_png}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
