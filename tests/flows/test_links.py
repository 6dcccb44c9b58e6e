"""Links that work from the Prefect UI: the read-only static server `serve` runs over the output folder
(no traversal out of it), the links the run's artifacts carry (http, never file://), and a click in the
Prefect UI's flow-run page through the artifact to the QC report, in headless Chromium."""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from PIL import Image, ImageOps

from catalog_motion.links import LinkResolver, run_page_url
from flows.static_server import start_static_server
from tests.flows.helpers import artifacts, run_flow


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""


def _raw_get(url: str, path: str) -> int:
    """Send `path` as written (urllib would normalise `..`), return the status code."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.putrequest("GET", path, skip_accept_encoding=True)
    conn.endheaders()
    status = conn.getresponse().status
    conn.close()
    return status


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    base = tmp_path_factory.mktemp("static")
    root = base / "out"
    (root / "runs" / "r1" / "qc-report").mkdir(parents=True)
    (root / "runs" / "r1" / "qc-report" / "index.html").write_text("<h1>QC</h1>", encoding="utf-8")
    (root / "clip.mp4").write_bytes(bytes(range(256)) * 4)
    (root / ".work").mkdir()
    (root / ".work" / "journal.jsonl").write_text("secret", encoding="utf-8")
    (base / "outside.txt").write_text("outside", encoding="utf-8")
    (root / "escape").symlink_to(base / "outside.txt")
    (root / "escape-dir").symlink_to(base)
    server = start_static_server(root)
    yield server
    server.stop()


def test_static_server_serves_files_and_ranges_read_only(served):
    status, body = _get(f"{served.url}/runs/r1/qc-report/index.html")
    assert status == 200 and b"<h1>QC</h1>" in body
    status, body = _get(f"{served.url}/runs/r1/qc-report/")
    assert status == 200 and b"<h1>QC</h1>" in body  # a folder's index.html
    status, body = _get(f"{served.url}/clip.mp4", {"Range": "bytes=10-19"})
    assert status == 206 and body == bytes(range(10, 20))
    request = urllib.request.Request(f"{served.url}/clip.mp4", data=b"x", method="PUT")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code in (405, 501)
    assert (served.root / "clip.mp4").stat().st_size == 1024


@pytest.mark.parametrize(
    "path",
    [
        "/../outside.txt",
        "/%2e%2e/outside.txt",
        "/%2E%2E/%2e%2e/etc/passwd",
        "/runs/..%2f..%2foutside.txt",
        "/runs/%2e%2e%5c%2e%2e%5coutside.txt",
        "/escape",
        "/escape-dir/outside.txt",
        "/escape-dir/",
        "/.work/journal.jsonl",
        "/clip.mp4%00.html",
    ],
)
def test_static_server_never_leaves_the_root(served, path):
    assert _raw_get(served.url, path) == 404


def test_link_resolver_maps_outputs_to_http_never_file(served, tmp_path):
    link = LinkResolver(base_url=served.url, root=served.root, presign=lambda uri: f"https://signed/{uri[5:]}")
    assert link(str(served.root / "runs" / "r1" / "qc-report" / "index.html")) == (
        f"{served.url}/runs/r1/qc-report/index.html"
    )
    assert link(str(served.root / "runs" / "r1")) == f"{served.url}/runs/r1/"
    assert link(str(tmp_path / "elsewhere.html")) is None  # not under the served folder: no link
    assert link("file:///etc/passwd") is None
    assert link("s3://bucket/runs/r1/manifest.json") == "https://signed/bucket/runs/r1/manifest.json"
    assert LinkResolver()(str(served.root / "clip.mp4")) is None  # no static server: no link
    page = run_page_url("http://127.0.0.1:4200", "dep-1", {"skus": ["TEE 1"], "presets": ["social"]})
    assert page.startswith("http://127.0.0.1:4200/deployments/deployment/dep-1/run?parameters=")
    query = page.split("parameters=", 1)[1]
    assert json.loads(urllib.request.unquote(query)) == {"skus": ["TEE 1"], "presets": ["social"]}


def test_presigned_s3_links(s3_server, s3_bucket, s3_client):
    from catalog_motion.settings import SinkSettings
    from tasks.artifacts import run_links

    s3_client.put_object(Bucket=s3_bucket, Key="runs/r1/manifest.json", Body=b'{"rows": []}')
    url = run_links(SinkSettings(uri=f"s3://{s3_bucket}", endpoint_url=s3_server))(
        f"s3://{s3_bucket}/runs/r1/manifest.json"
    )
    assert url and url.startswith(s3_server) and "Signature" in url
    status, body = _get(url)
    assert status == 200 and body == b'{"rows": []}'


@pytest.fixture
def reports_env(tmp_path):
    out = tmp_path / "out"
    server = start_static_server(out)
    saved = {k: os.environ.get(k) for k in server.env()}
    os.environ.update(server.env())
    try:
        yield server, out
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        server.stop()


def test_artifact_link_opens_the_qc_report_from_the_prefect_ui(
    prefect_api, reports_env, flows_catalog, flows_presets_file, tmp_path
):
    from tests.flows.cdp import CdpBrowser, open_links_artifact

    server, out = reports_env
    summary, flow_run_id = run_flow(
        catalog=str(flows_catalog), out=str(out), presets_file=str(flows_presets_file), presets=["product-page"]
    )
    links = next(a for a in artifacts(flow_run_id) if a.key == "catalog-run-links")
    markdown = links.data
    assert "file://" not in markdown
    report_url = f"{server.url}/runs/{summary['run_id']}/qc-report/index.html"
    assert f"({report_url})" in markdown
    assert re.search(rf"\[video\]\({re.escape(server.url)}/[^)]+\.mp4\)", markdown), markdown

    with CdpBrowser(size=(1400, 1000)) as browser:
        page = browser.page(block_external=True)
        open_links_artifact(page, prefect_api.ui_url, flow_run_id)
        page.wait_for(f"[...document.querySelectorAll('a')].some(a => a.href === {json.dumps(report_url)})", 60)
        page.screenshot(tmp_path / "artifact.png")
        before = page.loaded
        # the UI opens external links in a new tab; follow it in this one
        page.evaluate(
            f"(a => {{ a.removeAttribute('target'); a.click() }})"
            f"([...document.querySelectorAll('a')].find(a => a.href === {json.dumps(report_url)}))"
        )
        page.wait_for_load(before, 60)
        page.pump(1.0)
        landed = page.evaluate("location.href")
        text = page.evaluate("document.body.innerText.length")
        shot = page.screenshot(tmp_path / "report.png")
    assert landed == report_url
    report = [r for r in page.requests.values() if r.url == report_url and r.kind == "Document"]
    assert report and report[-1].status == 200
    assert text > 20
    with Image.open(shot) as image:
        lo, hi = ImageOps.grayscale(image).getextrema()
        assert hi - lo > 50
    assert Path(tmp_path / "artifact.png").stat().st_size > 10_000
