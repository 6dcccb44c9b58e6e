"""load_catalog over local CSV/TSV/Parquet: valid rows, refused rows with reasons, whole-source errors."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from catalog_connectors import IntakeSettings, load_catalog
from catalog_motion.errors import IntakeError


def test_sample_catalog_loads(sample_catalog: Path) -> None:
    load = load_catalog(str(sample_catalog), IntakeSettings())
    assert load.kind == "csv" and load.refused == []
    assert load.base_dir == str(sample_catalog.parent.resolve())
    assert len(load.rows) == 8
    first = load.rows[0]
    assert (first.sku, first.image, first.title, first.color, first.item_group_id) == (
        "TEE-RED-S",
        "images/tee-red.png",
        "Classic cotton tee",
        "red",
        "TEE-CLASSIC",
    )
    assert first.updated_at == "2026-11-20T09:00:00Z"


def test_bad_rows_do_not_stop_the_load(tmp_path: Path) -> None:
    csv_path = tmp_path / "cat.csv"
    csv_path.write_text(
        "sku,image,title,season,lifestyle_image,additional_images\n"
        'A1,a.png,Alpha,SS27,life.jpg,"x.jpg, y.jpg"\n'
        ",,,,,\n"  # empty row
        ",b.png,No sku,,,\n"  # missing sku
        "C1,,No image,,,\n"  # missing image
        "A1,other.png,Dup,,,\n"  # duplicate sku
        "D1,d.png,Too,many,,,extra,cells\n"
        "  E1  , e.png ,Trimmed,,,\n",
        encoding="utf-8",
    )
    load = load_catalog(str(csv_path), IntakeSettings())
    assert [r.sku for r in load.rows] == ["A1", "E1"]
    a1 = load.rows[0]
    assert a1.extra == {"season": "SS27"} and a1.lifestyle_image == "life.jpg"
    assert a1.additional_images == ["x.jpg", "y.jpg"]
    assert load.rows[1].image == "e.png" and load.rows[1].row_index == 6
    reasons = {o.row_index: (o.sku, o.reason) for o in load.refused}
    assert reasons[1] == (None, "empty row")
    assert reasons[2] == (None, "missing sku")
    assert reasons[3] == ("C1", "missing image")
    assert reasons[4][0] == "A1" and "duplicate sku 'A1' (first at row 0)" in reasons[4][1]
    assert reasons[5] == ("D1", "row has 8 fields, the header has 6")
    assert len(load.rows) + len(load.refused) == 7  # every data row accounted for


def test_parquet_with_typed_columns(tmp_path: Path) -> None:
    import datetime as dt

    table = pa.table(
        {
            "sku": [101, 102, None, 101],
            "image_link": ["https://cdn.example.com/1.jpg", "2.jpg", "3.jpg", "4.jpg"],
            "updated_at": [dt.datetime(2026, 11, 1, 8, 0), None, None, None],
            "price": [19.5, 20.0, None, 1.0],
            "additional_images": [["a.jpg", "b.jpg"], [], None, None],
        }
    )
    path = tmp_path / "catalog.data"  # content, not the extension, says Parquet
    pq.write_table(table, path)
    load = load_catalog(str(path), IntakeSettings())
    assert load.kind == "parquet"
    assert [r.sku for r in load.rows] == ["101", "102"]
    assert load.rows[0].updated_at == "2026-11-01T08:00:00"
    assert load.rows[0].extra == {"price": 19.5} and load.rows[0].additional_images == ["a.jpg", "b.jpg"]
    assert {(o.row_index, o.reason.split(" (")[0]) for o in load.refused} == {
        (2, "missing sku"),
        (3, "duplicate sku '101'"),
    }


def test_tsv_merchant_columns(tmp_path: Path) -> None:
    path = tmp_path / "feed.txt"
    path.write_text(
        "id\ttitle\timage_link\tcolor\titem_group_id\nM-1\tShirt\thttps://cdn.example.com/m1.jpg\tblue\tG1\n",
        encoding="utf-8",
    )
    load = load_catalog(str(path), IntakeSettings())
    assert load.kind == "merchant-tsv"
    assert load.rows[0].sku == "M-1" and load.rows[0].item_group_id == "G1" and load.rows[0].color == "blue"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"name,picture\nx,y\n", "missing required column(s) sku, image"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not a text catalog"),
        (b"sku,image\n\xff\xfe\n", "not UTF-8"),
        (b"", "empty"),
        (b"PAR1garbage", "unreadable Parquet"),
    ],
)
def test_whole_source_errors_are_one_line(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "catalog.csv"
    path.write_bytes(content)
    with pytest.raises(IntakeError, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
        load_catalog(str(path), IntakeSettings())
    assert "\n" not in str(info.value)


def test_missing_file_and_bad_scheme(tmp_path: Path) -> None:
    with pytest.raises(IntakeError, match="catalog not found"):
        load_catalog(str(tmp_path / "nope.csv"), IntakeSettings())
    with pytest.raises(IntakeError, match="scheme 'ftp' is not supported"):
        load_catalog("ftp://example.com/cat.csv", IntakeSettings())


def test_catalog_size_limit(tmp_path: Path) -> None:
    path = tmp_path / "cat.csv"
    path.write_text("sku,image\n" + "".join(f"S{i},{i}.png\n" for i in range(100)))
    with pytest.raises(IntakeError, match="over max_catalog_bytes"):
        load_catalog(str(path), IntakeSettings(max_catalog_bytes=100))


def test_source_config_block(sample_catalog: Path, tmp_path: Path, shopify_fake, monkeypatch) -> None:
    from tests.fixtures.http_servers import shopify_product

    block = tmp_path / "source.yaml"
    block.write_text(f"catalog:\n  uri: {sample_catalog}\n  intake: {{min_long_side: 100}}\n")
    assert len(load_catalog(str(block), IntakeSettings()).rows) == 8
    fake = shopify_fake([shopify_product(0, "https://cdn.example.com/f")], token="tok-1")
    monkeypatch.setenv("MY_SHOP_TOKEN", "tok-1")
    (tmp_path / "shop.json").write_text(
        f'{{"uri": "shopify+{fake.endpoint}", "intake": {{"allow_hosts": ["127.0.0.1"], '
        f'"shopify_token_env": "MY_SHOP_TOKEN"}}}}'
    )
    load = load_catalog(str(tmp_path / "shop.json"), IntakeSettings())
    assert load.kind == "shopify" and len(load.rows) == 4
    (tmp_path / "bad.yaml").write_text("uri: x.csv\nintake: {max_bytes: -1}\n")
    with pytest.raises(IntakeError, match="invalid catalog source field 'max_bytes'"):
        load_catalog(str(tmp_path / "bad.yaml"), IntakeSettings())
    (tmp_path / "bad2.yaml").write_text("url: x.csv\n")
    with pytest.raises(IntakeError, match="invalid catalog source field"):
        load_catalog(str(tmp_path / "bad2.yaml"), IntakeSettings())
