"""Intake guards against hostile catalogs and servers, with real servers on loopback and a moto S3 server.

- a remote catalog (feed, Shopify, s3://) may name s3:// photos only in allowed buckets: the worker's
  own credentials must not read whatever object a brand's feed names;
- a download has one overall deadline (`intake.download_deadline_s`) across connects, redirects and
  body, so a server that drips bytes cannot hold a worker;
- https -> http redirects are refused; site-local, 6to4 and Teredo addresses embedding a private IPv4
  address are refused before any connection;
- a relative photo path in a catalog resolves against the catalog file's folder, and the refusal says
  where it looked.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import threading
import time
from pathlib import Path

import pytest

from catalog_connectors import IntakeSettings, fetch_photo, load_catalog
from catalog_connectors.net import address_problem
from catalog_motion.errors import IntakeError
from tests.fixtures.http_servers import Reply, RouteServer, shopify_product


def _png() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 80), (200, 30, 30)).save(buf, format="PNG")
    return buf.getvalue()


def _refused(rel_results, call, match: str) -> IntakeError:
    """Count one hostile case; it must be refused with a reason matching `match`."""
    rel_results.add("hostile_tried")
    with pytest.raises(IntakeError, match=match) as caught:
        call()
    rel_results.add("hostile_refused")
    assert "\n" not in str(caught.value)
    return caught.value


class DripServer:
    """A raw TCP server on loopback that answers every connection by dripping bytes.

    `head_drip`: the status line and headers themselves trickle out (one byte per `interval`);
    otherwise the headers come at once (Content-Length `length`) and the body trickles. `silent`:
    accept and send nothing at all (a stalled TLS handshake). Records when each connection ended.
    """

    def __init__(self, *, interval: float = 0.2, length: int = 1000, head_drip: bool = False, silent: bool = False):
        self.interval, self.length, self.head_drip, self.silent = interval, length, head_drip, silent
        self.closed_after: list[float] = []
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(8)
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        started = time.monotonic()
        head = f"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: {self.length}\r\n\r\n".encode()
        try:
            if self.silent:
                while not self._stop.is_set() and conn.recv(4096):
                    pass  # read the ClientHello and say nothing
                return
            conn.recv(65536)  # the request
            if not self.head_drip:
                conn.sendall(head)
            for byte in head if self.head_drip else b"\x89" * self.length:
                if self._stop.is_set():
                    return
                conn.sendall(bytes([byte]))
                time.sleep(self.interval)
        except OSError:
            pass  # the client hung up: what we want
        finally:
            self.closed_after.append(time.monotonic() - started)
            conn.close()

    def url(self, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}/photo.png"

    def stop(self) -> None:
        self._stop.set()
        self._listener.close()


@pytest.fixture
def drip_server():
    servers: list[DripServer] = []

    def make(**kw) -> DripServer:
        server = DripServer(**kw)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


LOCAL = {"allow_hosts": ["127.0.0.1"], "download_deadline_s": 1.0, "read_timeout_s": 20.0}


@pytest.mark.parametrize(
    "kind",
    ["body-drip", "header-drip", "tls-handshake-stall"],
)
def test_download_deadline_stops_a_slow_drip(kind, drip_server, tmp_path: Path, rel_results) -> None:
    """One byte every 0.2 s is far inside the 20 s read timeout; the 1 s deadline still ends it."""
    server = drip_server(head_drip=kind == "header-drip", silent=kind == "tls-handshake-stall")
    url = server.url("https" if kind == "tls-handshake-stall" else "http")
    started = time.monotonic()
    error = _refused(
        rel_results,
        lambda: fetch_photo(url, tmp_path / "photos", IntakeSettings(**LOCAL)),
        r"took longer than intake\.download_deadline_s \(1 s\)",
    )
    elapsed = time.monotonic() - started
    assert elapsed < 1.5, elapsed
    assert "raise the setting" in str(error)
    deadline = time.monotonic() + 2
    while not server.closed_after and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.closed_after and server.closed_after[0] < 1.6  # the connection itself was let go
    assert [p.name for p in (tmp_path / "photos").iterdir()] == []  # no partial download left


def test_deadline_spans_redirects(tmp_path: Path, rel_results) -> None:
    """Each hop answers in 0.4 s (well inside the timeouts); four of them pass the 1 s deadline."""
    server = RouteServer().start()
    try:

        def slow_redirect(n: int):
            def handle(_request) -> Reply:
                time.sleep(0.4)
                return Reply(302, b"", headers={"Location": f"/hop{n + 1}"})

            return handle

        for n in range(3):
            server.route(f"/hop{n}", slow_redirect(n))
        server.route("/hop3", Reply(200, _png(), content_type="image/png"))
        settings = IntakeSettings(**{**LOCAL, "max_redirects": 5})
        started = time.monotonic()
        _refused(
            rel_results,
            lambda: fetch_photo(server.url("/hop0"), tmp_path, settings),
            r"download_deadline_s \(1 s\)",
        )
        assert time.monotonic() - started < 1.5
        ok = fetch_photo(server.url("/hop0"), tmp_path, IntakeSettings(**{**LOCAL, "download_deadline_s": 10}))
        assert ok.width == 64  # the same chain inside a longer deadline is fine
    finally:
        server.stop()


def test_https_to_http_redirect_is_refused(https_server_factory, http_route_server, tmp_path, rel_results) -> None:
    plain = http_route_server.route("/photo.png", Reply(200, _png(), content_type="image/png"))
    secure = https_server_factory("127.0.0.1")
    url = secure.route("/photo.png", Reply(302, b"", headers={"Location": plain}))
    settings = IntakeSettings(allow_hosts=["127.0.0.1"], ca_bundle=secure.ca_bundle)
    _refused(rel_results, lambda: fetch_photo(url, tmp_path, settings), r"redirect from https to http refused")
    assert http_route_server.requests == []  # the clear-text hop was never contacted
    upgrade = http_route_server.route("/up.png", Reply(302, b"", headers={"Location": secure.url("/ok.png")}))
    secure.route("/ok.png", Reply(200, _png(), content_type="image/png"))
    assert fetch_photo(upgrade, tmp_path, settings).width == 64  # http -> https is fine


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("fec0::1", "site-local"),
        ("fec0:0:0:ffff::1", "site-local"),
        ("2002:c0a8:0101::1", "6to4 (embeds private IPv4 192.168.1.1)"),
        ("2002:7f00:0001::", "6to4 (embeds loopback IPv4 127.0.0.1)"),
        ("2002:a9fe:a9fe::1", "6to4 (embeds cloud-metadata IPv4 169.254.169.254)"),
        ("2001:0:c0a8:101::3f57:fefe", "Teredo (embeds private IPv4 192.168.1.1)"),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo (embeds private IPv4 192.0.2.45)"),
    ],
)
def test_tunnelled_and_site_local_ipv6_are_refused(address, problem, tmp_path, rel_results) -> None:
    assert address_problem(ipaddress.ip_address(address)) == problem
    _refused(
        rel_results,
        lambda: fetch_photo(f"http://[{address}]/photo.png", tmp_path, IntakeSettings()),
        rf"is a {re.escape(problem)} address \(not in intake\.allow_hosts\)",
    )


def test_6to4_of_a_public_address_is_not_refused_for_it() -> None:
    assert address_problem(ipaddress.ip_address("2002:0808:0808::1")) is None  # 8.8.8.8 inside: global
    assert address_problem(ipaddress.ip_address("2606:4700::1111")) is None


S3_REASON = r"photo s3://{b}/\S+ refused: bucket '{b}' is not in intake\.s3_buckets \({why}\)"
REMOTE = "a remote catalog may only name allowed buckets"


def test_remote_s3_catalog_names_only_its_own_or_allowed_buckets(s3_server, s3_client, tmp_path, rel_results) -> None:
    import uuid

    own, other, allowed = (f"guard-{uuid.uuid4().hex[:8]}-{n}" for n in ("own", "other", "ok"))
    for bucket in (own, other, allowed):
        s3_client.create_bucket(Bucket=bucket)
        s3_client.put_object(Bucket=bucket, Key="photos/a.png", Body=_png())
    csv = (
        "sku,image,additional_images\n"
        "REL,photos/a.png,\n"  # relative: the catalog's own bucket
        f"OWN,s3://{own}/photos/a.png,\n"
        f"OTHER,s3://{other}/photos/a.png,\n"
        f"OK,s3://{allowed}/photos/a.png,\n"
        f"SIDE,s3://{own}/photos/a.png,s3://{other}/secret.png\n"  # an extra photo counts too
    )
    s3_client.put_object(Bucket=own, Key="catalog.csv", Body=csv.encode())
    source = f"s3://{own}/catalog.csv"

    s3 = IntakeSettings(s3_endpoint_url=s3_server)
    default = load_catalog(source, s3)
    assert [r.sku for r in default.rows] == ["REL", "OWN"]
    refused = {o.sku: o.reason for o in default.refused}
    for sku in ("OTHER", "OK", "SIDE"):
        rel_results.add("hostile_tried")
        rel_results.add("hostile_refused", int(sku in refused))
    assert re.fullmatch(S3_REASON.format(b=re.escape(other), why=REMOTE), refused["OTHER"]), refused["OTHER"]
    assert f"s3://{other}/secret.png refused" in refused["SIDE"]
    assert [o.row_index for o in default.refused] == [2, 3, 4]

    listed = load_catalog(source, s3.model_copy(update={"s3_buckets": [allowed]}))
    assert [r.sku for r in listed.rows] == ["REL", "OWN", "OK"]  # its own bucket stays readable
    assert photo_of(listed, "OK", tmp_path, s3).width == 64
    assert photo_of(listed, "REL", tmp_path, s3).width == 64


def photo_of(load, sku: str, dest: Path, settings: IntakeSettings | None = None):
    row = next(r for r in load.rows if r.sku == sku)
    return fetch_photo(
        row.image, dest, settings or IntakeSettings(), base_dir=Path(load.base_dir) if load.base_dir else None
    )


def test_feed_and_shopify_may_name_no_bucket_unless_listed(
    http_route_server, shopify_fake, monkeypatch, rel_results
) -> None:
    feed = http_route_server.route(
        "/feed.csv",
        Reply(
            200, b"sku,image\nA,s3://private-bucket/payroll.png\nB,s3://brand-photos/b.png\n", content_type="text/csv"
        ),
    )
    settings = IntakeSettings(allow_hosts=["127.0.0.1"])
    load = load_catalog(feed, settings)
    rel_results.add("hostile_tried", 2)
    rel_results.add("hostile_refused", len(load.refused))
    assert load.rows == [] and [o.sku for o in load.refused] == ["A", "B"]
    assert load.refused[0].reason == (
        f"photo s3://private-bucket/payroll.png refused: bucket 'private-bucket' is not in intake.s3_buckets ({REMOTE})"
    )
    listed = load_catalog(feed, settings.model_copy(update={"s3_buckets": ["brand-photos"]}))
    assert [r.sku for r in listed.rows] == ["B"] and [o.sku for o in listed.refused] == ["A"]

    monkeypatch.setenv("SHOPIFY_ACCESS_TOKEN", "shpat_test_secret_token_123")
    fake = shopify_fake([shopify_product(0, "s3://worker-secrets/files")])
    shop = load_catalog("shopify+" + fake.endpoint, settings)
    rel_results.add("hostile_tried")
    rel_results.add("hostile_refused", int(not shop.rows))
    assert shop.rows == [] and len(shop.refused) == 4
    assert all("bucket 'worker-secrets' is not in intake.s3_buckets" in o.reason for o in shop.refused)


def test_local_catalog_may_name_any_bucket_unless_the_list_is_set(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.csv"
    catalog.write_text("sku,image\nA,s3://any-bucket/a.png\nB,s3://team-bucket/b.png\n")
    assert [r.sku for r in load_catalog(str(catalog)).rows] == ["A", "B"]  # the operator's own file
    limited = load_catalog(str(catalog), IntakeSettings(s3_buckets=["team-bucket"]))
    assert [r.sku for r in limited.rows] == ["B"]
    assert limited.refused[0].reason == (
        "photo s3://any-bucket/a.png refused: bucket 'any-bucket' is not in intake.s3_buckets "
        "(photos may only come from those buckets)"
    )


def test_relative_photo_paths_resolve_against_the_catalog_folder(tmp_path: Path, monkeypatch) -> None:
    shop = tmp_path / "shop"
    (shop / "images").mkdir(parents=True)
    (shop / "images" / "a.png").write_bytes(_png())
    (shop / "catalog.csv").write_text("sku,image\nA,images/a.png\nB,images/b.png\n")
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "images").mkdir(parents=True)
    (elsewhere / "images" / "b.png").write_bytes(_png())  # beside the current folder only: not used
    monkeypatch.chdir(elsewhere)
    load = load_catalog(str(shop / "catalog.csv"))
    assert load.base_dir == str(shop.resolve())
    assert photo_of(load, "A", tmp_path / "out").width == 64  # found beside the catalog, not the cwd
    with pytest.raises(IntakeError) as missing:
        photo_of(load, "B", tmp_path / "out")
    assert str(missing.value) == (
        f"photo not found: images/b.png (resolved to {shop.resolve() / 'images' / 'b.png'}, "
        "relative paths are relative to the catalog file's folder)"
    )
    with pytest.raises(IntakeError, match=r"^photo not found: /nope/x\.png$"):
        fetch_photo("/nope/x.png", tmp_path / "out", IntakeSettings(), base_dir=shop)
