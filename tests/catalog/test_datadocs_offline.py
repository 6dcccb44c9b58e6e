"""Data Docs render with no network: the catalog suite's site, served on loopback, opened in headless
Chromium that refuses every request off loopback; all stylesheets and scripts load, the index is filled."""

from __future__ import annotations

import pytest
from PIL import Image, ImageOps

from catalog_connectors.models import CatalogLoad
from catalog_connectors.validation import validate_catalog
from catalog_motion.types import CatalogRow
from flows.static_server import start_static_server
from tests.flows.cdp import CdpBrowser


@pytest.fixture(scope="module")
def catalog_docs(tmp_path_factory):
    rows = [
        CatalogRow(row_index=0, sku="TEE-1", image="images/tee.png", title="tee"),
        CatalogRow(row_index=1, sku="TEE-1", image="images/tee.png", title="duplicate"),
        CatalogRow(row_index=2, sku="DRESS-2", image="data:image/png;base64,xx", title="bad scheme"),
    ]
    root = tmp_path_factory.mktemp("datadocs")
    load = validate_catalog(CatalogLoad(source="catalog.csv", kind="csv", rows=rows), root / "catalog-docs")
    assert len(load.refused) == 2  # the duplicate and the data: photo: a validation that found something
    server = start_static_server(root)
    yield server, root / "catalog-docs"
    server.stop()


def test_datadocs_pages_name_no_cdn(catalog_docs):
    _, docs = catalog_docs
    pages = list(docs.rglob("*.html"))
    assert len(pages) >= 2
    for page in pages:
        html = page.read_text(encoding="utf-8")
        for host in ("cdn.jsdelivr.net", "unpkg.com", "cdnjs.cloudflare.com", "bootstrapcdn.com", "code.jquery"):
            assert host not in html, (page, host)
        assert "static/vendor/bootstrap/css/bootstrap.min.css" in html
    assert (docs / "static" / "vendor" / "LICENSES.md").is_file()


def test_datadocs_index_renders_offline(catalog_docs, tmp_path):
    server, _ = catalog_docs
    with CdpBrowser(size=(1280, 900)) as browser:
        page = browser.page(block_external=True)
        page.navigate(f"{server.url}/catalog-docs/index.html", settle_s=2.0)
        rows = page.wait_for("document.querySelectorAll('table tbody tr:not(.no-records-found)').length", 30)
        sheets = page.evaluate(
            "[...document.styleSheets].map(s => { try { return [s.href, s.cssRules.length] }"
            " catch (e) { return [s.href, -1] } })"
        )
        has_jquery = page.evaluate("typeof window.jQuery === 'function' && typeof jQuery.fn.bootstrapTable")
        shot = page.screenshot(tmp_path / "datadocs-index.png")
    assert page.blocked == [], page.blocked  # nothing tried to leave loopback
    assets = [r for r in page.requests.values() if r.kind in ("Stylesheet", "Script", "Font")]
    assert {r.kind for r in assets} >= {"Stylesheet", "Script"}
    assert all(r.status == 200 and not r.failed for r in assets), [(r.url, r.status, r.failed) for r in assets]
    assert all(r.url.startswith(server.url) for r in page.requests.values() if r.url.startswith("http"))
    linked = [s for s in sheets if s[0]]
    assert len(linked) >= 5 and all(n > 0 for _, n in linked), sheets  # every stylesheet parsed, none empty
    assert has_jquery == "function"
    assert rows > 0
    with Image.open(shot) as image:
        lo, hi = ImageOps.grayscale(image).getextrema()
        assert hi - lo > 100
