"""Merchant Center feeds (XML and TSV): namespaces, CDATA, entities, missing fields, duplicates, images."""

from __future__ import annotations

from pathlib import Path

import pytest

from catalog_connectors import IntakeSettings, load_catalog
from catalog_motion.errors import IntakeError
from tests.fixtures.http_servers import Reply

DATA = Path(__file__).parent / "data"


def test_merchant_xml_feed() -> None:
    load = load_catalog(str(DATA / "merchant_feed.xml"), IntakeSettings())
    assert load.kind == "merchant-xml"
    by_sku = {r.sku: r for r in load.rows}
    assert list(by_sku) == ["TEE-RED-S", "TEE-RED-M", "MANY-IMG", "SPACED-1"]
    tee = by_sku["TEE-RED-S"]
    assert tee.title == 'Classic tee <red> & "soft"'  # CDATA kept verbatim
    assert tee.image == "https://cdn.example.com/tee-red.jpg" and tee.color == "Red" and tee.item_group_id == "TEE"
    assert tee.additional_images == [
        "https://cdn.example.com/tee-red-back.jpg",
        "https://cdn.example.com/tee-red-detail.jpg",
    ]
    assert tee.lifestyle_image == "https://cdn.example.com/tee-red-street.jpg"
    assert tee.extra["season"] == "SS27" and tee.extra["size"] == "S"
    assert tee.extra["link"] == "https://shop.example.com/tee?size=S&color=red"  # predefined entity decoded
    assert by_sku["TEE-RED-M"].image == tee.image  # sizes of one colour share the photo
    many = by_sku["MANY-IMG"]
    assert len(many.additional_images) == 10 and many.additional_images[-1].endswith("m10.jpg")
    assert many.extra["shipping"] == {"country": "DE", "price": "4.95 EUR"}
    spaced = by_sku["SPACED-1"]
    assert spaced.image == "https://cdn.example.com/spaced.jpg" and spaced.title.endswith(
        "\u2013 with a numeric entity"
    )
    reasons = sorted((o.row_index, o.sku, o.reason.split(" (")[0]) for o in load.refused)
    assert reasons == [
        (2, "TEE-RED-S", "duplicate sku 'TEE-RED-S'"),
        (3, None, "missing sku"),
        (4, "NO-IMAGE-1", "missing image"),
    ]


def test_atom_feed(tmp_path: Path) -> None:
    atom = b"""<?xml version="1.0"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:g="http://base.google.com/ns/1.0">
  <entry><g:id>A-1</g:id><title>Atom item</title><link href="https://shop.example.com/a1"/>
    <g:image_link>https://cdn.example.com/a1.jpg</g:image_link></entry>
</feed>"""
    (tmp_path / "feed.atom").write_bytes(atom)
    load = load_catalog(str(tmp_path / "feed.atom"))
    assert [(r.sku, r.title, r.extra["link"]) for r in load.rows] == [
        ("A-1", "Atom item", "https://shop.example.com/a1")
    ]


@pytest.mark.parametrize(
    "doctype",
    [
        # billion laughs: nested entity expansion
        '<!DOCTYPE rss [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;">]>',
        # external entity reading a local file
        '<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
        # external entity over the network
        '<!DOCTYPE rss [<!ENTITY % remote SYSTEM "http://169.254.169.254/evil.dtd"> %remote;]>',
    ],
)
def test_unsafe_xml_refused(tmp_path: Path, doctype: str) -> None:
    body = f"""<?xml version="1.0"?>{doctype}
<rss version="2.0" xmlns:g="http://base.google.com/ns/1.0"><channel>
<item><g:id>X</g:id><title>&c;</title><g:image_link>https://cdn.example.com/x.jpg</g:image_link></item>
</channel></rss>"""
    (tmp_path / "feed.xml").write_text(body)
    with pytest.raises(IntakeError, match="feed refused: unsafe XML"):
        load_catalog(str(tmp_path / "feed.xml"))


def test_not_a_feed(tmp_path: Path) -> None:
    (tmp_path / "a.xml").write_text("<html><body>hello</body></html>")
    with pytest.raises(IntakeError, match="not a Merchant feed"):
        load_catalog(str(tmp_path / "a.xml"))
    (tmp_path / "b.xml").write_text("<rss><channel><item>")
    with pytest.raises(IntakeError, match="not well-formed XML"):
        load_catalog(str(tmp_path / "b.xml"))


def test_merchant_tsv_feed() -> None:
    load = load_catalog(str(DATA / "merchant_feed.tsv"))
    assert load.kind == "merchant-tsv"
    d1, d2 = load.rows
    assert (d1.sku, d1.color, d1.item_group_id) == ("D-1", "navy", "DRS")
    assert d1.additional_images == ["https://cdn.example.com/d1b.jpg", "https://cdn.example.com/d1c.jpg"]
    assert d1.lifestyle_image == "https://cdn.example.com/d1-life.jpg" and d2.image == d1.image
    assert [(o.row_index, o.reason.split(" (")[0]) for o in load.refused] == [
        (2, "duplicate sku 'D-1'"),
        (3, "empty row"),
    ]


def test_feed_served_over_http(http_route_server) -> None:
    body = (DATA / "merchant_feed.xml").read_bytes()
    url = http_route_server.route("/feeds/google.xml", Reply(body=body, content_type="application/xml"))
    load = load_catalog(url, IntakeSettings(allow_hosts=["127.0.0.1"]))
    assert load.kind == "merchant-xml" and len(load.rows) == 4 and load.base_dir is None
    big = load_catalog  # the feed size limit applies to downloads too
    with pytest.raises(IntakeError, match="over the limit"):
        big(url, IntakeSettings(allow_hosts=["127.0.0.1"], max_catalog_bytes=1000))
