"""Guarded HTTP(S) for untrusted URLs (photo links and feeds come from brands' catalogs).

Before any connection: the scheme must be allowed, the host is resolved and EVERY address it resolves to
is checked - loopback, private, link-local, site-local, cloud-metadata, CGNAT, multicast, reserved and
unspecified addresses, and 6to4/Teredo addresses that embed such an IPv4 address, are refused unless
`IntakeSettings.allow_hosts` names the host or a range containing the address. The socket then connects
to the checked address itself (the Host header and TLS SNI keep the name), so a second DNS answer cannot
swap in another address (DNS rebinding). Redirects are followed by hand, at most `max_redirects`, each
hop checked again, and never from https to http. Bodies stream with a byte limit, and the whole request
(connects, redirects, body) ends at `download_deadline_s` however slowly the bytes trickle in.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from catalog_motion.errors import ConfigError, IntakeError, TransientError
from catalog_motion.settings import IntakeSettings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud instance-metadata endpoints (AWS/GCP/Azure/Oracle, AWS IPv6, Alibaba): refused unless listed exactly.
METADATA = {ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "169.254.170.2")}
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
USER_AGENT = "catalog-motion-intake/0.1"


def address_problem(ip: Address) -> str | None:
    """Why an address is refused by default (None when it is a public address)."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return address_problem(ip.ipv4_mapped)
    if ip in METADATA:
        return "cloud-metadata"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.is_site_local:  # fec0::/10: deprecated, but still routed inside some networks
            return "site-local"
        # 6to4 (2002::/16) and Teredo (2001::/32) carry an IPv4 address a relay would forward to.
        embedded = [ip.sixtofour] if ip.sixtofour is not None else list(ip.teredo or ())
        for inner in embedded:
            problem = address_problem(inner)
            if problem:
                kind = "6to4" if ip.sixtofour is not None else "Teredo"
                return f"{kind} (embeds {problem} IPv4 {inner})"
    for label, test in (
        ("loopback", ip.is_loopback),
        ("unspecified", ip.is_unspecified),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
    ):
        if test:
            return label
    if isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        return "shared (CGNAT)"
    if not ip.is_global:
        return "non-global"
    return None


def _allowed(host: str, ip: Address, settings: IntakeSettings) -> bool:
    for entry in settings.allow_hosts:
        entry = entry.strip().lower()
        if entry == host.lower():
            return ip not in METADATA or str(ip) == entry
        try:
            net = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            continue
        if ip in net and (ip not in METADATA or net.num_addresses == 1):
            return True
    return False


Resolver = Callable[[str, int], list[str]]


def _system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: list[str] = []
    for info in infos:
        addr = info[4][0].split("%", 1)[0]
        if addr not in seen:
            seen.append(addr)
    return seen


RESOLVER: Resolver = _system_resolver
"""Name resolution used by the guard (replaceable, e.g. to count look-ups in tests)."""


def checked_addresses(host: str, port: int, settings: IntakeSettings) -> list[str]:
    """Resolve `host` and check every address; returns them all, or raises `IntakeError` naming the first bad one."""
    if not host:
        raise IntakeError("URL has no host")
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
        addresses = [str(literal)]
    except ValueError:
        try:
            addresses = RESOLVER(host, port)
        except (socket.gaierror, UnicodeError) as exc:
            raise IntakeError(f"cannot resolve host {host!r}: {getattr(exc, 'strerror', None) or exc}") from None
    if not addresses:
        raise IntakeError(f"host {host!r} has no address")
    for addr in addresses:
        ip = ipaddress.ip_address(addr)
        problem = address_problem(ip)
        if problem and not _allowed(host, ip, settings):
            shown = host if host == addr else f"{host!r} resolves to {addr}"
            raise IntakeError(f"refused: {shown} is a {problem} address (not in intake.allow_hosts)")
    return addresses


class DeadlineExceeded(IntakeError):
    """The whole download (connects, redirects, body) took longer than `intake.download_deadline_s`."""


class _Deadline:
    """One download's overall time limit: a timer shuts the sockets down when it passes.

    Socket timeouts bound each wait, not their sum, so a server sending a byte every few seconds would
    hold a worker for as long as it likes; shutting the socket down wakes whatever read is blocked.
    """

    def __init__(self, seconds: float):
        self.seconds = seconds
        self._at = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._socks: list[socket.socket] = []
        self.expired = False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def remaining(self) -> float:
        return self._at - time.monotonic()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._socks.append(sock)
            expired = self.expired
        if expired:
            self._shutdown(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            socks = list(self._socks)
        for sock in socks:
            self._shutdown(sock)

    @staticmethod
    def _shutdown(sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)

    def passed(self) -> bool:
        return self.expired or self.remaining() <= 0

    def check(self) -> None:
        if self.passed():
            raise self.error()

    def error(self, what: str = "download", detail: str = "") -> DeadlineExceeded:
        return DeadlineExceeded(
            f"{what} took longer than intake.download_deadline_s ({self.seconds:g} s){detail}; "
            "stopped (raise the setting for very large files or slow hosts)"
        )

    def cancel(self) -> None:
        self._timer.cancel()


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to a pre-checked IP while speaking HTTP to the original host name."""

    def __init__(
        self,
        host: str,
        port: int,
        ip: str,
        connect_timeout: float,
        read_timeout: float,
        context: ssl.SSLContext | None = None,
        deadline: _Deadline | None = None,
    ):
        super().__init__(host, port, timeout=connect_timeout)
        self._ip, self._read_timeout, self._deadline = ip, read_timeout, deadline

    def _open_socket(self) -> socket.socket:
        timeout = self.timeout
        if self._deadline is not None:
            self._deadline.check()
            timeout = min(timeout, max(self._deadline.remaining(), 0.001))
        sock = socket.create_connection((self._ip, self.port), timeout)
        if self._deadline is not None:
            self._deadline.watch(sock)
        sock.settimeout(self._read_timeout)
        return sock

    def connect(self) -> None:
        self.sock = self._open_socket()


@functools.lru_cache(maxsize=8)
def tls_context(ca_bundle: str | None) -> ssl.SSLContext:
    """Verifying TLS context, built once per CA choice (loading a CA store costs milliseconds; a context is
    safe to share between threads)."""
    try:
        return ssl.create_default_context(cafile=ca_bundle) if ca_bundle else ssl.create_default_context()
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise ConfigError(f"intake.ca_bundle: cannot load {ca_bundle}: {reason}") from None


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(
        self,
        host: str,
        port: int,
        ip: str,
        connect_timeout: float,
        read_timeout: float,
        context: ssl.SSLContext,
        deadline: _Deadline | None = None,
    ):
        super().__init__(host, port, timeout=connect_timeout, context=context)
        self._ip, self._read_timeout, self._deadline = ip, read_timeout, deadline

    _open_socket = _PinnedHTTPConnection._open_socket

    def connect(self) -> None:
        sock = self._open_socket()
        # The TLS socket takes over the descriptor: watch it too, before the (possibly slow) handshake.
        tls = self._context.wrap_socket(sock, server_hostname=self.host, do_handshake_on_connect=False)
        if self._deadline is not None:
            self._deadline.watch(tls)
        tls.do_handshake()
        self.sock = tls


@dataclass
class Response:
    url: str
    status: int
    headers: dict[str, str]
    body: bytes = b""
    size: int = 0
    redirects: list[str] = field(default_factory=list)


def request(
    url: str,
    settings: IntakeSettings,
    *,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    limit: int | None = None,
    sink=None,
    what: str = "photo",
    follow_redirects: bool = True,
    raw_status: bool = False,
) -> Response:
    """One guarded request. The body goes to `sink.write` if given (streaming), else into `Response.body`.

    Raises `IntakeError` for refusals, 4xx, bodies over `limit` and a download that takes longer than
    `intake.download_deadline_s` in all (`DeadlineExceeded`); `TransientError` for network faults,
    timeouts, truncated bodies, 429 and 5xx (the caller may retry those). With `raw_status` every status
    (after redirects) comes back as a Response for the caller to judge.
    """
    deadline = _Deadline(settings.download_deadline_s)
    try:
        return _request(url, settings, deadline, method, body, headers, limit, sink, what, follow_redirects, raw_status)
    except (TransientError, IntakeError) as exc:
        # A socket shut down by the deadline surfaces as a reset or a timeout: name the real cause.
        if deadline.passed() and not isinstance(exc, DeadlineExceeded):
            raise deadline.error(f"{what} download from {urlsplit(url).hostname or url[:100]}") from None
        raise
    finally:
        deadline.cancel()


def _request(
    url: str,
    settings: IntakeSettings,
    deadline: _Deadline,
    method: str,
    body: bytes | None,
    headers: dict[str, str] | None,
    limit: int | None,
    sink,
    what: str,
    follow_redirects: bool,
    raw_status: bool,
) -> Response:
    limit = settings.max_bytes if limit is None else limit
    hops: list[str] = []
    current = url
    while True:
        parts = urlsplit(current)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or scheme not in settings.allowed_schemes:
            raise IntakeError(f"URL scheme '{scheme or 'none'}' is not allowed for a {what}")
        if parts.username or parts.password:
            raise IntakeError("URLs with credentials are not accepted")
        host = parts.hostname or ""
        try:
            port = parts.port or (443 if scheme == "https" else 80)
        except ValueError:
            raise IntakeError(f"URL has an invalid port: {current[:200]}") from None
        addresses = checked_addresses(host, port, settings)
        conn = _connect(scheme, host, port, addresses, settings, deadline)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        send_headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity", **(headers or {})}
        try:
            try:
                conn.request(method, target, body=body, headers=send_headers)
                resp = conn.getresponse()
            except TimeoutError:
                raise TransientError(f"{what} download timed out waiting for {host}") from None
            except (OSError, http.client.HTTPException) as exc:
                raise TransientError(f"{what} download failed from {host}: {type(exc).__name__}: {exc}") from None
            status = resp.status
            resp_headers = {k.lower(): v for k, v in resp.getheaders()}
            if 300 <= status < 400 and "location" in resp_headers and follow_redirects:
                if len(hops) >= settings.max_redirects:
                    raise IntakeError(f"too many redirects (more than {settings.max_redirects}) for {what}")
                hops.append(current)
                current = urljoin(current, resp_headers["location"])
                if method not in ("GET", "HEAD"):
                    raise IntakeError(f"{what} request was redirected; not following a redirected {method}")
                if scheme == "https" and urlsplit(current).scheme.lower() == "http":
                    # The bytes would travel in the clear and could be swapped on the way.
                    raise IntakeError(f"{what} redirect from https to http refused: {current[:200]}")
                continue
            if raw_status:
                pass
            elif status == 429 or status >= 500:
                retry_after = resp_headers.get("retry-after", "")
                later = f" (retry after {retry_after} s)" if retry_after else ""
                raise TransientError(f"{what} server answered HTTP {status}{later}")
            elif status >= 400 or status < 200 or status in (204, 205):
                raise IntakeError(f"{what} server answered HTTP {status} {resp.reason}".rstrip())
            declared = resp_headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > limit:
                raise IntakeError(f"{what} is {declared} bytes, over the limit of {limit} bytes (not downloaded)")
            out = bytearray()
            size = 0
            try:
                while True:
                    deadline.check()
                    chunk = resp.read1(64 * 1024)  # one socket read at most: the deadline is checked between
                    if not chunk:
                        break
                    size += len(chunk)
                    if size > limit:
                        raise IntakeError(f"{what} is larger than the limit of {limit} bytes (download stopped)")
                    if sink is not None:
                        sink.write(chunk)
                    else:
                        out += chunk
            except DeadlineExceeded:
                raise deadline.error(f"{what} download from {host}", f" after {size} bytes") from None
            except TimeoutError:
                raise TransientError(f"{what} download timed out after {size} bytes from {host}") from None
            except http.client.IncompleteRead as exc:
                got = size + len(exc.partial)
                raise TransientError(f"{what} download truncated: got {got} of {declared} bytes") from None
            except (OSError, http.client.HTTPException) as exc:
                raise TransientError(f"{what} download failed from {host}: {type(exc).__name__}") from None
            if deadline.passed():  # the timer shut the socket: what looked like the end is not
                raise deadline.error(f"{what} download from {host}", f" after {size} bytes")
            if declared and declared.isdigit() and size < int(declared):
                raise TransientError(f"{what} download truncated: got {size} of {declared} bytes")
            return Response(
                url=current, status=status, headers=resp_headers, body=bytes(out), size=size, redirects=hops
            )
        finally:
            conn.close()


def _connect(
    scheme: str, host: str, port: int, addresses: list[str], settings: IntakeSettings, deadline: _Deadline | None = None
):
    cls = _PinnedHTTPSConnection if scheme == "https" else _PinnedHTTPConnection
    context = tls_context(settings.ca_bundle) if scheme == "https" else None
    last: Exception | None = None
    for ip in addresses:
        conn = cls(host, port, ip, settings.connect_timeout_s, settings.read_timeout_s, context, deadline)
        try:
            conn.connect()
            return conn
        except DeadlineExceeded:
            conn.close()
            raise
        except ssl.SSLCertVerificationError as exc:
            conn.close()
            # An untrusted or mismatched certificate does not fix itself: refuse, do not retry.
            raise IntakeError(f"TLS certificate of {host} not accepted: {exc.verify_message or exc.reason}") from None
        except (OSError, ssl.SSLError) as exc:
            last = exc
            conn.close()
    if isinstance(last, (TimeoutError, socket.timeout)):
        raise TransientError(f"connecting to {host}:{port} timed out")
    raise TransientError(f"cannot connect to {host}:{port}: {getattr(last, 'strerror', None) or last}")
