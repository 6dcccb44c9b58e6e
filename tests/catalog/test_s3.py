"""S3 sources and photos against moto's S3 server over HTTP."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from catalog_connectors import IntakeSettings, fetch_photo, load_catalog
from catalog_motion.errors import IntakeError
from tests.catalog.photo_factory import jpeg_bytes, marker_image, png_bytes


@pytest.fixture
def s3_settings(s3_server) -> IntakeSettings:
    return IntakeSettings(s3_endpoint_url=s3_server, min_long_side=16)


def test_catalog_file_in_s3_with_relative_photos(s3_client, s3_bucket, s3_settings, tmp_path: Path) -> None:
    s3_client.put_object(
        Bucket=s3_bucket,
        Key="brand/cat.csv",
        Body=b"sku,image,title\nA,photos/a.png,Alpha\nB,s3://%b/brand/photos/b.jpg,Beta\n".replace(
            b"%b", s3_bucket.encode()
        )
        + b"C,/etc/passwd,Nope\nD,../../x.png,Escapes\n",
    )
    s3_client.put_object(Bucket=s3_bucket, Key="brand/photos/a.png", Body=png_bytes(marker_image()))
    s3_client.put_object(Bucket=s3_bucket, Key="brand/photos/b.jpg", Body=jpeg_bytes(marker_image()))
    load = load_catalog(f"s3://{s3_bucket}/brand/cat.csv", s3_settings)
    assert load.kind == "csv" and load.base_dir is None
    assert [(r.sku, r.image) for r in load.rows] == [
        ("A", f"s3://{s3_bucket}/brand/photos/a.png"),
        ("B", f"s3://{s3_bucket}/brand/photos/b.jpg"),
    ]
    assert {o.sku: o.reason for o in load.refused} == {
        "C": "local photo path in a remote catalog is not allowed",
        "D": "relative photo path escapes the catalog's bucket",
    }
    a, b = (fetch_photo(r.image, tmp_path, s3_settings) for r in load.rows)
    assert a.source_format == "PNG" and b.source_format == "JPEG" and a.width == 60


def test_s3_photo_errors(s3_client, s3_bucket, s3_settings, tmp_path: Path) -> None:
    with pytest.raises(IntakeError, match="photo not found in S3"):
        fetch_photo(f"s3://{s3_bucket}/nope.png", tmp_path, s3_settings)
    s3_client.put_object(Bucket=s3_bucket, Key="big.png", Body=png_bytes(marker_image()) + b"\0" * 4000)
    small = s3_settings.model_copy(update={"max_bytes": 1000})
    with pytest.raises(IntakeError, match="over the limit of 1000 bytes"):
        fetch_photo(f"s3://{s3_bucket}/big.png", tmp_path, small)
    s3_client.put_object(Bucket=s3_bucket, Key="fake.jpg", Body=b"%PDF-1.4 not a photo")
    with pytest.raises(IntakeError, match="not an image"):
        fetch_photo(f"s3://{s3_bucket}/fake.jpg", tmp_path, s3_settings)
    with pytest.raises(IntakeError, match="scheme 's3' is not allowed"):
        fetch_photo(
            f"s3://{s3_bucket}/big.png", tmp_path, s3_settings.model_copy(update={"allowed_schemes": ["https"]})
        )
    assert [p for p in tmp_path.iterdir()] == []  # temp downloads cleaned up


def test_s3_prefix_folder_with_sidecars(s3_client, s3_bucket, s3_settings) -> None:
    put = lambda key, body: s3_client.put_object(Bucket=s3_bucket, Key=f"drop/{key}", Body=body)  # noqa: E731
    put("TEE-1.jpg", jpeg_bytes(marker_image()))
    put("TEE-1__lifestyle.jpg", jpeg_bytes(marker_image()))
    put("TEE-1__2.jpg", jpeg_bytes(marker_image()))
    put("TEE-1.json", json.dumps({"title": "Tee", "color": "red", "item_group_id": "TEE", "fabric": "cotton"}).encode())
    put("BAG-2.png", png_bytes(marker_image()))
    put("BAG-2.json", b"{not json")
    put("HAT-3.webp", b"whatever")
    put("HAT-3.png", png_bytes(marker_image()))  # a second main photo for the same SKU
    put("notes.txt", b"ignored")
    put("nested/IGNORED.jpg", jpeg_bytes(marker_image()))
    load = load_catalog(f"s3://{s3_bucket}/drop/", s3_settings)
    assert load.kind == "s3-folder"
    rows = {r.sku: r for r in load.rows}
    assert list(rows) == ["HAT-3", "TEE-1"]
    tee = rows["TEE-1"]
    assert tee.image == f"s3://{s3_bucket}/drop/TEE-1.jpg"
    assert tee.lifestyle_image == f"s3://{s3_bucket}/drop/TEE-1__lifestyle.jpg"
    assert tee.additional_images == [f"s3://{s3_bucket}/drop/TEE-1__2.jpg"]
    assert (tee.title, tee.color, tee.item_group_id, tee.extra) == ("Tee", "red", "TEE", {"fabric": "cotton"})
    reasons = {o.sku: o.reason for o in load.refused}
    assert reasons["BAG-2"].startswith("sidecar BAG-2.json unreadable")
    assert "second main photo HAT-3.webp" in reasons["HAT-3"]
    with pytest.raises(IntakeError, match="no photos under this prefix"):
        load_catalog(f"s3://{s3_bucket}/empty/", s3_settings)
    with pytest.raises(IntakeError, match="catalog not found in S3"):
        load_catalog(f"s3://{s3_bucket}/missing.csv", s3_settings)


def test_local_folder_source(sample_catalog: Path) -> None:
    load = load_catalog(str(sample_catalog.parent / "images"))
    assert load.kind == "folder" and load.base_dir == str((sample_catalog.parent / "images").resolve())
    assert [r.sku for r in load.rows] == [
        "dress-print",
        "hoodie-logo",
        "jeans-denim",
        "scarf-knit",
        "tee-navy",
        "tee-red",
        "tote-tan",
    ]
    assert load.rows[0].image == "dress-print.png"
