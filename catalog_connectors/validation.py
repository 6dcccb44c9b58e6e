"""Great Expectations suite over a loaded catalog, run before planning.

Rows that fail an expectation are quarantined: moved from `rows` to `refused` with the failed
expectation named (status `invalid` downstream). A Data Docs site for the catalog is written under
`docs_dir`; its page path is returned in `CatalogLoad.docs_path`. GX is imported lazily (~2-4 s).

Expectations (column -> check):
- sku, image: not null; sku unique (a later duplicate is quarantined, the first kept)
- sku: 1..`max_sku_length` characters, no control characters or surrounding whitespace
- image (and lifestyle_image when given): a well-formed reference - http(s)://host/..., s3://bucket/key,
  file:///path, or a relative/absolute path with no other scheme; at most 2,048 characters
- title: at most 150 characters (Merchant Center's limit); additional_images: at most 10
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from catalog_connectors.models import CatalogLoad
from catalog_motion.expectations import run_suite
from catalog_motion.types import RowOutcome

IMAGE_REF_REGEX = (
    r"^(?:https?://[A-Za-z0-9.\-\[\]:]+(?:/[^\s]*)?"  # http(s) with a host
    r"|s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]/[^\s]+"  # s3 bucket and key
    r"|file:///[^\x00-\x1f]+"  # local file URI
    r"|(?![A-Za-z][A-Za-z0-9+.\-]*:)[^\x00-\x1f]+)$"  # a plain path (no other scheme, e.g. data:, ftp:)
)
SKU_REGEX = r"^[^\x00-\x1f\x7f\s](?:[^\x00-\x1f\x7f]*[^\x00-\x1f\x7f\s])?$"


def _suite_expectations(gx, max_sku_length: int) -> list:
    E = gx.expectations
    return [
        E.ExpectColumnValuesToNotBeNull(column="sku"),
        E.ExpectColumnValuesToNotBeNull(column="image"),
        E.ExpectColumnValuesToBeUnique(column="sku"),
        E.ExpectColumnValueLengthsToBeBetween(column="sku", min_value=1, max_value=max_sku_length),
        E.ExpectColumnValuesToMatchRegex(column="sku", regex=SKU_REGEX),
        E.ExpectColumnValuesToMatchRegex(column="image", regex=IMAGE_REF_REGEX),
        E.ExpectColumnValueLengthsToBeBetween(column="image", min_value=1, max_value=2048),
        E.ExpectColumnValuesToMatchRegex(column="lifestyle_image", regex=IMAGE_REF_REGEX),
        E.ExpectColumnValueLengthsToBeBetween(column="title", min_value=0, max_value=150),
        E.ExpectColumnValuesToBeBetween(column="additional_images_count", min_value=0, max_value=10),
    ]


def _frame(load: CatalogLoad):
    import pandas as pd

    return pd.DataFrame(
        {
            "row_index": [r.row_index for r in load.rows],
            "sku": [r.sku for r in load.rows],
            "image": [r.image for r in load.rows],
            "lifestyle_image": [r.lifestyle_image for r in load.rows],
            "title": [r.title for r in load.rows],
            "additional_images_count": [len(r.additional_images) for r in load.rows],
        }
    )


def validate_catalog(load: CatalogLoad, docs_dir: Path | None = None, *, max_sku_length: int = 100) -> CatalogLoad:
    """Run the catalog suite; returns a new CatalogLoad with failing rows quarantined and `docs_path` set."""
    import great_expectations as gx

    docs_dir = Path(docs_dir) if docs_dir is not None else Path(tempfile.mkdtemp(prefix="catalog-docs-"))
    docs_dir.mkdir(parents=True, exist_ok=True)
    if not load.rows:
        return load.model_copy(update={"docs_path": None})
    result = run_suite(
        "catalog",
        _suite_expectations(gx, max_sku_length),
        _frame(load),
        docs_dir,
        result_format={"result_format": "COMPLETE", "unexpected_index_column_names": ["row_index"]},
    )
    failures: dict[int, list[str]] = {}
    for run in result.run_results.values():
        for res in run.results:
            if res.success:
                continue
            cfg = res.expectation_config
            name = f"{cfg.type}({cfg.kwargs.get('column')})"
            indices = [int(u["row_index"]) for u in res.result.get("unexpected_index_list") or []]
            if cfg.type == "expect_column_values_to_be_unique":
                seen: set[str] = set()
                by_index = {r.row_index: r.sku for r in load.rows}
                kept = []
                for idx in sorted(indices):  # keep the first of each duplicated SKU
                    if by_index[idx] in seen:
                        kept.append(idx)
                    seen.add(by_index[idx])
                indices = kept
            for idx in indices:
                failures.setdefault(idx, []).append(name)
    rows, refused = [], list(load.refused)
    for row in load.rows:
        names = failures.get(row.row_index)
        if names:
            refused.append(
                RowOutcome(
                    row_index=row.row_index, sku=row.sku, reason=f"catalog validation failed: {', '.join(names)}"
                )
            )
        else:
            rows.append(row)
    refused.sort(key=lambda o: o.row_index)
    return load.model_copy(update={"rows": rows, "refused": refused, "docs_path": str(_docs_page(docs_dir))})


def _docs_page(docs_dir: Path) -> Path:
    pages = sorted((docs_dir / "validations").rglob("*.html"), key=lambda p: p.stat().st_mtime)
    return pages[-1] if pages else docs_dir / "index.html"


__all__ = ["validate_catalog", "IMAGE_REF_REGEX", "SKU_REGEX"]
