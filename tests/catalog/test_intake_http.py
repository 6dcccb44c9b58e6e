"""fetch_photo over real loopback HTTP servers: limits, sniffing, redirects, and the address guard."""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from catalog_connectors import IntakeSettings, fetch_photo, load_catalog, net
from catalog_motion.errors import IntakeError, TransientError
from tests.catalog.photo_factory import png_bytes
from tests.fixtures.http_servers import Reply

# Seeded noise: a few KB, so a body can be cut short or exceed a small limit.
PNG = png_bytes(Image.fromarray(np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)))


def allow(server, **kw) -> IntakeSettings:
    """Settings that allow exactly this loopback server (tests must name their own servers)."""
    fields = {"allow_hosts": [server.host], "min_long_side": 16, "connect_timeout_s": 2, "read_timeout_s": 2, **kw}
    return IntakeSettings(**fields)


def test_download_sniffed_not_trusted(http_route_server, tmp_path: Path) -> None:
    s = allow(http_route_server)
    ok = fetch_photo(http_route_server.route("/a.jpg", Reply(body=PNG, content_type="text/plain")), tmp_path, s)
    assert ok.source_format == "PNG" and (ok.width, ok.height) == (64, 48) and ok.source_bytes == len(PNG)
    again = fetch_photo(http_route_server.route("/b.png", Reply(body=PNG, content_type="image/png")), tmp_path, s)
    assert again.sha256 == ok.sha256 and again.path == ok.path
    html = http_route_server.route("/c.jpg", Reply(body=b"<html>login</html>", content_type="image/jpeg"))
    with pytest.raises(IntakeError, match="not an image"):
        fetch_photo(html, tmp_path, s)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{ok.sha256}.png"]  # no partial downloads left
    assert http_route_server.requests[0].headers["accept"] == "image/*"


def test_size_limits(http_route_server, tmp_path: Path) -> None:
    big = PNG + b"\x00" * 5000
    s = allow(http_route_server, max_bytes=2000)
    declared = http_route_server.route("/declared.png", Reply(body=big))
    with pytest.raises(IntakeError, match="over the limit of 2000 bytes \\(not downloaded\\)"):
        fetch_photo(declared, tmp_path, s)
    undeclared = http_route_server.route("/stream.png", Reply(body=big, send_length=False))
    with pytest.raises(IntakeError, match="larger than the limit of 2000 bytes \\(download stopped\\)"):
        fetch_photo(undeclared, tmp_path, s)


def test_truncated_slow_and_server_errors(http_route_server, tmp_path: Path) -> None:
    s = allow(http_route_server, read_timeout_s=0.4)
    truncated = http_route_server.route("/t.png", Reply(body=PNG[:200], declared_length=len(PNG)))
    with pytest.raises(TransientError, match="truncated"):
        fetch_photo(truncated, tmp_path, s)
    slow = http_route_server.route("/slow.png", Reply(body=PNG, delay_before_body=1.5))
    with pytest.raises(TransientError, match="timed out"):
        fetch_photo(slow, tmp_path, s)
    with pytest.raises(IntakeError, match="HTTP 404"):
        fetch_photo(http_route_server.url("/missing.png"), tmp_path, s)
    busy = http_route_server.route("/busy.png", Reply(503, b"busy", headers={"Retry-After": "7"}))
    with pytest.raises(TransientError, match="HTTP 503 \\(retry after 7 s\\)"):
        fetch_photo(busy, tmp_path, s)
    # A complete but corrupt image is permanent, not transient.
    corrupt = http_route_server.route("/corrupt.png", Reply(body=PNG[: len(PNG) // 2]))
    with pytest.raises(IntakeError, match="truncated or corrupt"):
        fetch_photo(corrupt, tmp_path, s)


def test_redirects_bounded_and_each_hop_checked(http_route_server, refusing_listener, tmp_path: Path) -> None:
    s = allow(http_route_server)
    final = http_route_server.route("/final.png", Reply(body=PNG))
    http_route_server.route("/r2", Reply(302, headers={"Location": "/final.png"}))
    http_route_server.route("/r1", Reply(301, headers={"Location": http_route_server.url("/r2")}))
    got = fetch_photo(http_route_server.url("/r1"), tmp_path, s)
    assert got.width == 64
    for i in range(5):
        http_route_server.route(f"/loop{i}", Reply(302, headers={"Location": f"/loop{i + 1}"}))
    with pytest.raises(IntakeError, match="too many redirects \\(more than 3\\)"):
        fetch_photo(http_route_server.url("/loop0"), tmp_path, s)
    # A redirect to a refused (loopback, not allow-listed) address: refused before connecting.
    http_route_server.route("/evil", Reply(302, headers={"Location": refusing_listener.url("/x.png")}))
    with pytest.raises(IntakeError, match="127.0.0.2 is a loopback address"):
        fetch_photo(http_route_server.url("/evil"), tmp_path, s)
    http_route_server.route("/ftp", Reply(302, headers={"Location": "ftp://example.com/x.png"}))
    with pytest.raises(IntakeError, match="scheme 'ftp' is not allowed"):
        fetch_photo(http_route_server.url("/ftp"), tmp_path, s)
    assert refusing_listener.accepted == 0
    assert final


def test_private_addresses_refused_without_connecting(
    http_route_server, refusing_listener, tmp_path: Path, monkeypatch
) -> None:
    attempts: list[tuple] = []
    real_connect = socket.create_connection

    def counting_connect(address, *args, **kwargs):
        attempts.append(address)
        return real_connect(address, *args, **kwargs)

    monkeypatch.setattr(net.socket, "create_connection", counting_connect)
    s = IntakeSettings()  # nothing allow-listed
    http_route_server.route("/p.png", Reply(body=PNG))
    for url, kind in [
        (http_route_server.url("/p.png"), "loopback"),
        (refusing_listener.url("/p.png"), "loopback"),
        (f"http://localhost:{http_route_server.port}/p.png", "loopback"),
        ("http://169.254.169.254/latest/meta-data/iam/", "cloud-metadata"),
        ("http://[fd00:ec2::254]/latest/", "cloud-metadata"),
        ("http://10.1.2.3/p.png", "private"),
        ("http://192.168.0.10/p.png", "private"),
        ("http://[::1]:8080/p.png", "loopback"),
        ("http://[::ffff:127.0.0.1]/p.png", "loopback"),
        ("http://100.64.1.1/p.png", "shared"),
        ("http://0.0.0.0/p.png", "unspecified"),
        ("http://169.254.10.10/p.png", "link-local"),
    ]:
        with pytest.raises(IntakeError, match=f"is a {kind}") as info:
            fetch_photo(url, tmp_path, s)
        assert "allow_hosts" in info.value.reason
    assert attempts == [] and http_route_server.connections == 0 and refusing_listener.accepted == 0
    # Allow-listing by CIDR opens the loopback server, and only it.
    got = fetch_photo(
        http_route_server.url("/p.png"), tmp_path, IntakeSettings(allow_hosts=["127.0.0.1/32"], min_long_side=16)
    )
    assert got.width == 64 and attempts == [("127.0.0.1", http_route_server.port)]
    # Metadata stays refused even under a broad CIDR allow-list.
    with pytest.raises(IntakeError, match="cloud-metadata"):
        fetch_photo("http://169.254.169.254/x", tmp_path, IntakeSettings(allow_hosts=["169.254.0.0/16"]))


def test_every_resolved_address_checked_and_connection_pinned(http_route_server, tmp_path: Path, monkeypatch) -> None:
    lookups: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        lookups.append(host)
        return {"mixed.test": ["93.184.216.34", "127.0.0.1"], "shop.test": ["127.0.0.1"]}[host]

    monkeypatch.setattr(net, "RESOLVER", resolver)
    with pytest.raises(IntakeError, match="'mixed.test' resolves to 127.0.0.1 is a loopback"):
        fetch_photo(f"http://mixed.test:{http_route_server.port}/p.png", tmp_path, IntakeSettings())
    assert http_route_server.connections == 0
    # Allowed by name: exactly one look-up per request, the connection goes to the checked address and
    # the Host header still carries the name (so a second DNS answer cannot be swapped in).
    http_route_server.route("/p.png", Reply(body=PNG))
    lookups.clear()
    got = fetch_photo(
        f"http://shop.test:{http_route_server.port}/p.png",
        tmp_path,
        IntakeSettings(allow_hosts=["shop.test"], min_long_side=16),
    )
    assert got.width == 64 and lookups == ["shop.test"]
    assert http_route_server.requests[-1].headers["host"] == f"shop.test:{http_route_server.port}"


def test_address_classification() -> None:
    ip = ipaddress.ip_address
    assert net.address_problem(ip("93.184.216.34")) is None
    assert net.address_problem(ip("2606:4700::1111")) is None
    assert net.address_problem(ip("172.16.5.4")) == "private"
    assert net.address_problem(ip("224.0.0.1")) == "multicast"
    assert net.address_problem(ip("fe80::1")) == "link-local"
    assert net.address_problem(ip("fc00::1")) == "private"


def test_feed_pointing_at_private_address_refused_without_connection(
    http_route_server, refusing_listener, tmp_path: Path
) -> None:
    """A feed served by an allowed host lists photos on a refused address: those rows are refused, the
    refused address never sees a connection, and the good photo still arrives."""
    http_route_server.route("/good.png", Reply(body=PNG, content_type="image/png"))
    feed = f"""<?xml version="1.0"?>
<rss version="2.0" xmlns:g="http://base.google.com/ns/1.0"><channel>
<item><g:id>OK-1</g:id><g:image_link>good.png</g:image_link></item>
<item><g:id>EVIL-1</g:id><g:image_link>{refusing_listener.url("/steal.png")}</g:image_link></item>
<item><g:id>EVIL-2</g:id><g:image_link>http://169.254.169.254/latest/meta-data/</g:image_link></item>
<item><g:id>EVIL-3</g:id><g:image_link>file:///etc/passwd</g:image_link></item>
</channel></rss>""".encode()
    feed_url = http_route_server.route("/feed.xml", Reply(body=feed, content_type="application/rss+xml"))
    s = allow(http_route_server)
    load = load_catalog(feed_url, s)
    assert [r.sku for r in load.rows] == ["OK-1", "EVIL-1", "EVIL-2"]
    assert load.rows[0].image == http_route_server.url("/good.png")  # relative link joined to the feed URL
    assert [(o.sku, o.reason) for o in load.refused] == [
        ("EVIL-3", "local photo path in a remote catalog is not allowed")
    ]
    assert fetch_photo(load.rows[0].image, tmp_path, s).width == 64
    with pytest.raises(IntakeError, match="loopback"):
        fetch_photo(load.rows[1].image, tmp_path, s)
    with pytest.raises(IntakeError, match="cloud-metadata"):
        fetch_photo(load.rows[2].image, tmp_path, s)
    assert refusing_listener.accepted == 0


def test_catalog_over_http_guarded(http_route_server, tmp_path: Path) -> None:
    url = http_route_server.route("/cat.csv", Reply(body=b"sku,image\nA,a.png\n", content_type="text/csv"))
    with pytest.raises(IntakeError, match="loopback"):
        load_catalog(url, IntakeSettings())
    load = load_catalog(url, allow(http_route_server))
    assert load.kind == "csv" and load.rows[0].image == http_route_server.url("/a.png") and load.base_dir is None
    page = http_route_server.route("/page", Reply(body=b"<html><body>hi</body></html>", content_type="text/html"))
    with pytest.raises(IntakeError, match="HTML page"):
        load_catalog(page, allow(http_route_server))


def test_fetch_step_downloads_with_bounded_concurrency(http_route_server, tmp_path: Path) -> None:
    """The run's fetch step downloads a batch's photos `intake.download_concurrency` at a time."""
    import threading
    import time

    from catalog_motion.presets import load_presets
    from catalog_motion.settings import RunSettings
    from catalog_motion.types import WorkItem
    from pipeline.state import ItemState, RunContext
    from pipeline.steps import fetch_batch

    lock = threading.Lock()
    active = {"now": 0, "max": 0}

    def slow_photo(request):
        with lock:
            active["now"] += 1
            active["max"] = max(active["max"], active["now"])
        time.sleep(0.25)
        with lock:
            active["now"] -= 1
        seed = int(request.path[1:].split("p", 1)[0])  # /3p.png -> 3
        pixels = np.random.default_rng(seed).integers(0, 255, (20, 30, 3), dtype=np.uint8)
        return Reply(body=png_bytes(Image.fromarray(pixels)), content_type="image/png")

    urls = []
    for i in range(6):
        urls.append(http_route_server.route(f"/{i}p.png", slow_photo))
    preset = load_presets()["social"]
    settings = RunSettings(intake=allow(http_route_server, download_concurrency=2), work_dir=str(tmp_path))
    ctx = RunContext(
        run_id="r",
        catalog="feed",
        out=str(tmp_path / "out"),
        work_dir=str(tmp_path),
        settings=settings,
        presets={preset.name: preset},
    )
    states = fetch_batch(
        [
            ItemState(item=WorkItem(sku=f"S{i}", skus=[f"S{i}"], preset=preset.name, image=url))
            for i, url in enumerate(urls)
        ],
        ctx,
    )
    assert active["max"] == 2
    assert all(s.status is None for s in states)
    assert len({s.item.source_sha256 for s in states}) == 6  # six different photos, all fetched
