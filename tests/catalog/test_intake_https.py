"""HTTPS downloads against real TLS servers on loopback: a trusted certificate is fetched, an untrusted or
mismatched one is refused once (not retried), and a bad CA bundle is a one-line config error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from catalog_connectors import IntakeSettings, fetch_photo
from catalog_motion.errors import ConfigError, IntakeError
from tests.catalog.photo_factory import png_bytes
from tests.fixtures.http_servers import Reply

PNG = png_bytes(Image.fromarray(np.random.default_rng(1).integers(0, 255, (40, 56, 3), dtype=np.uint8)))


def _settings(server, **kw) -> IntakeSettings:
    return IntakeSettings(allow_hosts=[server.host], min_long_side=16, connect_timeout_s=2, read_timeout_s=2, **kw)


def test_photo_over_https_with_a_trusted_ca(https_server_factory, tmp_path: Path) -> None:
    server = https_server_factory("127.0.0.1")
    url = server.route("/photo.png", Reply(body=PNG, content_type="image/png"))
    assert url.startswith("https://127.0.0.1:")
    photo = fetch_photo(url, tmp_path, _settings(server, ca_bundle=server.ca_bundle))
    assert (photo.width, photo.height, photo.source_bytes) == (56, 40, len(PNG))
    assert [r.path for r in server.requests] == ["/photo.png"]


def test_untrusted_certificate_is_refused_not_retried(https_server_factory, tmp_path: Path) -> None:
    server = https_server_factory("127.0.0.1")
    url = server.route("/photo.png", Reply(body=PNG, content_type="image/png"))
    # the system store does not know the throwaway CA
    with pytest.raises(IntakeError, match=r"TLS certificate of 127\.0\.0\.1 not accepted: .*certificate") as caught:
        fetch_photo(url, tmp_path, _settings(server))
    assert "\n" not in str(caught.value)
    assert server.requests == []  # nothing was sent over an unverified connection
    assert list(tmp_path.iterdir()) == []


def test_certificate_for_another_host_is_refused(https_server_factory, tmp_path: Path) -> None:
    server = https_server_factory("photos.example.com")
    url = server.route("/photo.png", Reply(body=PNG, content_type="image/png"))
    with pytest.raises(IntakeError, match="not accepted: .*(mismatch|match)"):
        fetch_photo(url, tmp_path, _settings(server, ca_bundle=server.ca_bundle))
    assert server.requests == []


def test_unreadable_ca_bundle_is_a_config_error(https_server_factory, tmp_path: Path) -> None:
    server = https_server_factory("127.0.0.1")
    url = server.route("/photo.png", Reply(body=PNG, content_type="image/png"))
    with pytest.raises(ConfigError, match=r"intake\.ca_bundle: cannot load .*missing\.pem"):
        fetch_photo(url, tmp_path, _settings(server, ca_bundle=str(tmp_path / "missing.pem")))
