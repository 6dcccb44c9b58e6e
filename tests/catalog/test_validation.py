"""great-expectations suite over loaded catalogs: quarantine with the expectation named, Data Docs page."""

from __future__ import annotations

from pathlib import Path

from catalog_connectors import load_catalog
from catalog_connectors.models import CatalogLoad
from catalog_connectors.validation import validate_catalog
from catalog_motion.types import CatalogRow, RowOutcome


def test_sample_catalog_passes_and_docs_written(sample_catalog: Path, tmp_path: Path) -> None:
    load = load_catalog(str(sample_catalog))
    checked = validate_catalog(load, tmp_path / "docs")
    assert checked.rows == load.rows and checked.refused == []
    page = Path(checked.docs_path)
    assert page.is_file() and page.suffix == ".html" and tmp_path / "docs" in page.parents
    assert (tmp_path / "docs" / "index.html").is_file()
    assert "must be unique" in page.read_text()  # the rendered suite


def test_bad_rows_quarantined_with_expectation_named(tmp_path: Path) -> None:
    rows = [
        CatalogRow(row_index=0, sku="OK-1", image="https://cdn.example.com/ok.jpg", title="Fine"),
        CatalogRow(row_index=1, sku="BAD\x07BELL", image="a.png"),
        CatalogRow(row_index=2, sku="DATA-1", image="data:image/png;base64,iVBORw0"),
        CatalogRow(row_index=3, sku="FTP-1", image="ftp://example.com/x.jpg"),
        CatalogRow(row_index=4, sku="LONG-1", image="b.png", title="x" * 151),
        CatalogRow(row_index=5, sku="MANY-1", image="c.png", additional_images=[f"{i}.jpg" for i in range(11)]),
        CatalogRow(row_index=6, sku="OK-1", image="d.png"),  # a duplicate the loader did not catch
        CatalogRow(row_index=7, sku="S" * 101, image="e.png"),
        CatalogRow(row_index=8, sku="LIFE-1", image="f.png", lifestyle_image="javascript:alert(1)"),
        CatalogRow(row_index=9, sku="OK-2", image="s3://bucket-name/k/ok.png"),
    ]
    load = CatalogLoad(
        source="hand-built", kind="csv", rows=rows, refused=[RowOutcome(row_index=10, sku=None, reason="missing sku")]
    )
    checked = validate_catalog(load, tmp_path / "docs")
    assert [r.sku for r in checked.rows] == ["OK-1", "OK-2"]
    reasons = {o.row_index: o.reason for o in checked.refused}
    assert reasons[10] == "missing sku"  # earlier refusals kept
    assert "expect_column_values_to_match_regex(sku)" in reasons[1]
    assert "expect_column_values_to_match_regex(image)" in reasons[2]
    assert "expect_column_values_to_match_regex(image)" in reasons[3]
    assert "expect_column_value_lengths_to_be_between(title)" in reasons[4]
    assert "expect_column_values_to_be_between(additional_images_count)" in reasons[5]
    assert "expect_column_values_to_be_unique(sku)" in reasons[6]
    assert "expect_column_value_lengths_to_be_between(sku)" in reasons[7]
    assert "expect_column_values_to_match_regex(lifestyle_image)" in reasons[8]
    assert all(r.startswith("catalog validation failed: ") for i, r in reasons.items() if i != 10)
    assert [o.row_index for o in checked.refused] == sorted(reasons)
    assert Path(checked.docs_path).is_file()
