"""Ingest events are never lost and never doubled: a real Prefect server behind a loopback TCP proxy that
drops an answer (the server took the batch, the client never hears so) and then goes away mid-burst.

The confirmed emitter (tasks/prefect_services.prefect_emit) posts batches to `POST /api/events`; what the
API does not accept after retries is spooled beside the state file and sent first on the next call. The
events' ids are deterministic (uuid5 of event, SKU, source), and Prefect's server drops a repeated id, so
a batch re-sent after a lost answer does not count twice.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest

from catalog_connectors.events import EVENT_NAME, emit_ingested, event_id, read_spool
from catalog_motion.errors import CatalogMotionError, TransientError
from tasks.prefect_services import prefect_emit


class TcpProxy:
    """Forwards loopback TCP connections to `upstream`; can swallow answers and go down and come back.

    `drop_next_answers = n`: the next n connections have their request forwarded (the upstream acts on
    it) but the client connection is cut as soon as the answer starts, so the client sees a failure.
    `down()` closes the listener and every open connection (connection refused afterwards); `up()` listens
    on the same port again.
    """

    def __init__(self, upstream_host: str, upstream_port: int):
        self.upstream = (upstream_host, upstream_port)
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self.drop_next_answers = 0
        self.answers_dropped = 0
        self.connections = 0
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._listener: socket.socket | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def up(self) -> TcpProxy:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def down(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            conns, self._open = list(self._open), set()
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() blocked in the other thread
            except OSError:
                pass
            listener.close()
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # listener closed: down()
            with self._lock:
                self.connections += 1
                drop = self.drop_next_answers > 0
                self.drop_next_answers -= int(drop)
            try:
                upstream = socket.create_connection(self.upstream, timeout=10)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open |= {client, upstream}
            posted = threading.Event()  # the client sent a POST on this connection (not the csrf GET)
            threading.Thread(target=self._pump, args=(client, upstream, posted if drop else None), daemon=True).start()
            threading.Thread(
                target=self._pump, args=(upstream, client, None, posted if drop else None), daemon=True
            ).start()

    def _pump(
        self,
        src: socket.socket,
        dst: socket.socket,
        mark_post: threading.Event | None = None,
        cut_after_post: threading.Event | None = None,
    ) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if mark_post is not None and data.startswith(b"POST "):
                    mark_post.set()
                if cut_after_post is not None and cut_after_post.is_set():
                    # The upstream answers the POST, so it took the events: lose the answer.
                    with self._lock:
                        self.answers_dropped += 1
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
                with self._lock:
                    self._open.discard(sock)


def _server_events(api_url: str, prefix: str) -> list[dict]:
    """Every stored catalog.sku.ingested event whose resource id starts with `prefix` (all pages)."""
    import urllib.request

    def post(url: str, body: dict | None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    filt = {
        "filter": {
            "event": {"name": [EVENT_NAME]},
            "resource": {"id_prefix": [prefix]},
            "occurred": {"since": "2000-01-01T00:00:00Z"},
        },
        "limit": 50,
    }
    page = post(f"{api_url.rstrip('/')}/events/filter", filt)
    events = list(page["events"])
    while page.get("next_page"):
        import urllib.parse

        token = urllib.parse.parse_qs(urllib.parse.urlsplit(page["next_page"]).query)["page-token"][0]
        query = urllib.parse.urlencode({"page-token": token})
        with urllib.request.urlopen(f"{api_url.rstrip('/')}/events/filter/next?{query}", timeout=10) as resp:
            page = json.loads(resp.read())
        events.extend(page["events"])
    return events


def _settle(api_url: str, prefix: str, expect: int, timeout: float = 30.0) -> list[dict]:
    """Poll until `expect` events are stored, then wait out one persister flush for late duplicates."""
    deadline = time.monotonic() + timeout
    events = _server_events(api_url, prefix)
    while len(events) < expect and time.monotonic() < deadline:
        time.sleep(0.5)
        events = _server_events(api_url, prefix)
    time.sleep(6)  # the event persister flushes every 5 s: a duplicate would be stored by now
    return _server_events(api_url, prefix)


@pytest.fixture
def proxied_api(prefect_api):
    """The session's Prefect server reached through a TcpProxy; PREFECT_API_URL points at the proxy."""
    from urllib.parse import urlsplit

    from prefect.settings import PREFECT_API_URL, temporary_settings

    parts = urlsplit(prefect_api.url)
    proxy = TcpProxy(parts.hostname, parts.port).up()
    with temporary_settings({PREFECT_API_URL: proxy.url}):
        yield proxy
    proxy.down()


def test_burst_survives_lost_answer_and_api_outage_exactly_once(
    prefect_api, proxied_api: TcpProxy, tmp_path: Path, rel_results
) -> None:
    tag = f"SPOOL-{uuid.uuid4().hex[:8]}"
    skus = [f"{tag}-{n:02d}" for n in range(40)]
    state = tmp_path / "announced.json"
    spool = tmp_path / "announced.spool.jsonl"
    proxy = proxied_api
    batches: list[int] = []
    faults = 0

    def bus(events) -> None:
        """The real Prefect emitter, with faults injected between batches through the proxy."""
        nonlocal faults
        batches.append(len(events))
        if len(batches) == 2:  # the server takes batch 2, its answer is lost: the retry must not double it
            proxy.drop_next_answers = 1
            faults += 1
        if len(batches) == 5:  # batch 4 is taken, its answer lost, and the API goes away until the next run
            proxy.drop_next_answers = 1
            faults += 1
        if len(batches) == 6:
            proxy.down()
            faults += 1
        prefect_emit(events)

    sleeps: list[float] = []
    first = emit_ingested(
        skus, emit=bus, state_path=state, source="burst.csv", batch_size=5, retries=2, backoff_s=0.05,
        sleep=sleeps.append,
    )  # fmt: skip
    # batches 1, 2 (+1 retry), 3 sent; batch 4: answer lost, then 2 retries refused -> 4..8 spooled
    assert proxy.answers_dropped == 2
    assert first.sent == skus[:15], first
    assert first.spooled == skus[15:] and first.error and "unreachable" in first.error
    assert sleeps == [0.05, 0.05, 0.1]  # one retry of batch 2; two, with doubling backoff, of batch 4
    assert sorted(json.loads(state.read_text())["announced"]) == skus[:15]  # accepted ones only
    assert [e["payload"]["sku"] for e in read_spool(spool)] == skus[15:]
    assert all(e["id"] == event_id(EVENT_NAME, e["payload"]["sku"], "burst.csv") for e in read_spool(spool))

    proxy.up()  # the API is back; a new catalog row arrived meanwhile
    second = emit_ingested([*skus, f"{tag}-NEW"], emit=prefect_emit, state_path=state, source="burst.csv", batch_size=5)
    assert second.ok and second.sent == [*skus[15:], f"{tag}-NEW"]  # the spool first, then the new SKU
    assert not spool.exists()  # nothing waits any more
    assert sorted(json.loads(state.read_text())["announced"]) == sorted([*skus, f"{tag}-NEW"])
    assert emit_ingested(skus, emit=prefect_emit, state_path=state, source="burst.csv").sent == []

    events = _settle(prefect_api.url, f"sku.{tag}-", expect=41)
    counts = Counter(e["payload"]["sku"] for e in events)
    lost = sum(1 for s in [*skus, f"{tag}-NEW"] if counts[s] == 0)
    duplicated = sum(n - 1 for n in counts.values() if n > 1)
    rel_results.add("faults_injected", faults)
    rel_results.add("events_lost", lost)
    rel_results.add("events_duplicated", duplicated)
    rel_results.case("event burst: lost answer + API outage", "survived" if not lost + duplicated else "failed")
    assert lost == 0 and duplicated == 0, counts
    assert len(events) == 41
    assert all(e["id"] == event_id(EVENT_NAME, e["payload"]["sku"], "burst.csv") for e in events)


def test_retries_backoff_and_kinds_of_failure(tmp_path: Path, rel_results) -> None:
    calls: list[list[str]] = []
    failures = iter([TransientError("503"), ConnectionRefusedError("refused"), None, None])

    def flaky(events) -> None:
        calls.append([e["payload"]["sku"] for e in events])
        fault = next(failures)
        if fault is not None:
            raise fault

    sleeps: list[float] = []
    state = tmp_path / "state.json"
    report = emit_ingested(
        ["A", "B", "C"], emit=flaky, state_path=state, batch_size=2, retries=3, backoff_s=0.5, sleep=sleeps.append
    )
    rel_results.add("faults_injected", 2)
    assert report.ok and report.sent == ["A", "B", "C"] and report.attempts == 4
    assert calls == [["A", "B"], ["A", "B"], ["A", "B"], ["C"]] and sleeps == [0.5, 1.0]
    assert not (tmp_path / "state.spool.jsonl").exists()

    def refusing(events) -> None:
        raise CatalogMotionError("Prefect API answered HTTP 422")

    kept = emit_ingested(["D"], emit=refusing, state_path=state, retries=5, sleep=sleeps.append)
    assert kept.spooled == ["D"] and kept.attempts == 1 and sleeps == [0.5, 1.0]  # a refusal is not retried
    assert kept.error == "Prefect API answered HTTP 422"


def test_spool_entry_already_accepted_is_not_sent_again(tmp_path: Path) -> None:
    """A crash after the state was saved but before the spool shrank: the spooled copy is dropped."""
    sent: list[str] = []
    state, spool = tmp_path / "state.json", tmp_path / "state.spool.jsonl"

    def down(events) -> None:
        raise TransientError("Prefect API unreachable")

    emit_ingested(["A", "B"], emit=down, state_path=state, retries=0)
    assert [e["payload"]["sku"] for e in read_spool(spool)] == ["A", "B"]
    state.write_text(json.dumps({"version": 1, "announced": {"A": {"at": "x", "source": None}}}))
    report = emit_ingested(["A", "B"], emit=lambda events: sent.extend(e["payload"]["sku"] for e in events),
                           state_path=state)  # fmt: skip
    assert sent == ["B"] and report.sent == ["B"] and not spool.exists()
    spool.write_text('{"id": "x", "payload": {"sku": "C"}}\nnot json\n')
    with pytest.raises(CatalogMotionError, match=r"spool .* line 2 is not a spooled event"):
        emit_ingested([], emit=lambda events: None, state_path=state)


def test_ingest_cli_spools_while_the_api_is_down_and_exits_nonzero(
    prefect_api, prefect_server_env, tmp_path: Path
) -> None:
    tag = f"CLISP-{uuid.uuid4().hex[:6]}"
    catalog = tmp_path / "cat.csv"
    catalog.write_text(f"sku,image\n{tag}-A,a.png\n{tag}-B,b.png\n")
    state = tmp_path / "announced.json"
    exe = str(Path(sys.executable).with_name("catalog-motion"))
    cmd = [exe, "ingest", "--catalog", str(catalog), "--since", str(state), "--no-validate"]
    with socket.socket() as probe:  # a port nothing listens on: the API is down
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    down_env = {**prefect_server_env, "PREFECT_API_URL": f"http://127.0.0.1:{dead}/api"}
    first = subprocess.run(cmd, capture_output=True, text=True, env=down_env, timeout=180)
    assert first.returncode == 1, first.stdout + first.stderr
    assert "0 events sent, 2 spooled for the next run" in first.stdout
    assert "(API unreachable: Prefect API at" in first.stdout
    assert not state.exists() and (tmp_path / "announced.spool.jsonl").exists()
    second = subprocess.run(cmd, capture_output=True, text=True, env=prefect_server_env, timeout=180)
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"announced 2 new SKU(s): {tag}-A, {tag}-B" in second.stdout
    assert not (tmp_path / "announced.spool.jsonl").exists()
    events = _settle(prefect_api.url, f"sku.{tag}-", expect=2)
    assert sorted(e["payload"]["sku"] for e in events) == [f"{tag}-A", f"{tag}-B"]
