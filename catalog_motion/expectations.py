"""One way to run a great-expectations suite over a DataFrame and write its Data Docs.

Used by the catalog validation (before planning) and by the QC-table suite (after checking). An ephemeral
context keeps no state on disk besides the Data Docs site written under `docs_dir`.

GX's page templates load Bootstrap, jQuery, fonts and Vega from public CDNs, so offline (this project's
machines, many production networks) the pages render unstyled with empty tables. After each build the
site gets the packaged copies (catalog_motion/static/datadocs/, licences in its LICENSES.md) under
`static/vendor/` and its pages are rewritten to load them by relative path.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import threading
from pathlib import Path
from typing import Any

import pandas as pd

_LOCK = threading.Lock()  # an ephemeral GX context is not safe to build from several threads at once

VENDORED = Path(__file__).parent / "static" / "datadocs"
# CDN URL in GX 1.24's templates -> the packaged copy (same release; filter-control's 1.19.0 CSS is 1.19.1's)
CDN_ASSETS: dict[str, str] = {
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": "bootstrap/css/bootstrap.min.css",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": "bootstrap/js/bootstrap.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": "bootstrap-table/bootstrap-table.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": "bootstrap-table/bootstrap-table.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js": (
        "bootstrap-table/extensions/filter-control/bootstrap-table-filter-control.min.js"
    ),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css": (
        "bootstrap-table/extensions/filter-control/bootstrap-table-filter-control.min.css"
    ),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css": (
        "bootstrap-table/extensions/filter-control/bootstrap-table-filter-control.min.css"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css": (
        "bootstrap-datepicker/css/bootstrap-datepicker.min.css"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js": (
        "bootstrap-datepicker/js/bootstrap-datepicker.min.js"
    ),
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css": (
        "bootstrap-dark/css/bootstrap-prefers-dark.min.css"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": "font-awesome/css/all.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": "popper.js/umd/popper.min.js",
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery/jquery.min.js",
    "https://cdn.jsdelivr.net/npm/vega@5": "vega/vega.min.js",
    "https://cdn.jsdelivr.net/npm/vega-lite@5": "vega-lite/vega-lite.min.js",
    "https://cdn.jsdelivr.net/npm/vega-embed@6": "vega-embed/vega-embed.min.js",
}
_GX_LOGO = re.compile(
    r"https://great-expectations-web-assets\.s3\.us-east-2\.amazonaws\.com/[\w.-]+\.png(?:\?[^\"')]*)?"
)
_CDN = re.compile("|".join(re.escape(url) for url in sorted(CDN_ASSETS, key=len, reverse=True)) + r'(?=["\'])')


def make_docs_offline(docs_dir: Path) -> None:
    """Copy the packaged assets into the site (once) and point its pages and stylesheet at them."""
    vendor = docs_dir / "static" / "vendor"
    if not (vendor / "LICENSES.md").exists():
        shutil.copytree(VENDORED, vendor, dirs_exist_ok=True)
    for page in docs_dir.rglob("*.html"):
        prefix = os.path.relpath(vendor, page.parent).replace(os.sep, "/")
        logo = os.path.relpath(docs_dir / "static" / "images" / "logo-long.png", page.parent).replace(os.sep, "/")
        html = page.read_text(encoding="utf-8")
        rewritten = _GX_LOGO.sub(logo, _CDN.sub(lambda m: f"{prefix}/{CDN_ASSETS[m.group(0)]}", html))
        if rewritten != html:
            page.write_text(rewritten, encoding="utf-8")
    for sheet in (docs_dir / "static" / "styles").glob("*.css"):
        css = sheet.read_text(encoding="utf-8")
        if _GX_LOGO.search(css):
            sheet.write_text(_GX_LOGO.sub("../images/logo-long.png", css), encoding="utf-8")


def run_suite(
    name: str,
    expectations: list[Any],
    frame: pd.DataFrame,
    docs_dir: Path,
    *,
    result_format: dict[str, Any] | None = None,
) -> Any:
    """Validate `frame` against `expectations`, update the Data Docs site under `docs_dir`, return the
    checkpoint result (its `.success` and `.run_results`)."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    site = f"{name}_site"  # 'local_site' is taken by the ephemeral context's defaults
    with _LOCK:
        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False)  # TQDM_DISABLE is ignored
        context.add_data_docs_site(
            site_name=site,
            site_config={
                "class_name": "SiteBuilder",
                "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            },
        )
        batch = (
            context.data_sources.add_pandas(name)
            .add_dataframe_asset(f"{name}_rows")
            .add_batch_definition_whole_dataframe("all")
        )
        suite = context.suites.add(gx.ExpectationSuite(name=name))
        for expectation in expectations:
            suite.add_expectation(expectation)
        definition = context.validation_definitions.add(gx.ValidationDefinition(name=name, data=batch, suite=suite))
        checkpoint_args: dict[str, Any] = {}
        if result_format:
            checkpoint_args["result_format"] = result_format
        checkpoint = context.checkpoints.add(
            gx.Checkpoint(
                name=name,
                validation_definitions=[definition],
                actions=[gx.checkpoint.UpdateDataDocsAction(name="docs", site_names=[site])],
                **checkpoint_args,
            )
        )
        result = checkpoint.run(batch_parameters={"dataframe": frame})
        make_docs_offline(Path(docs_dir))
        return result
