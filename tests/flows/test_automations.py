"""automations.yaml applied to a real server: a rejection-rate event notifies a loopback webhook."""

from __future__ import annotations

import http.server
import json
import threading
import time

import pytest

from flows import ops


@pytest.fixture
def flows_webhook():
    received: list[dict] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server naming
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            received.append(json.loads(body or b"{}"))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/alerts", received
    finally:
        server.shutdown()


def test_rejection_rate_event_notifies_webhook(prefect_api, flows_webhook):
    from prefect.events import emit_event

    from flows.server import flush_prefect_clients

    url, received = flows_webhook
    names = ops.apply_automations(prefect_api.env, webhook_url=url)
    assert "catalog-motion rejection rate high" in names
    emit_event(
        event="catalog.run.rejection-rate-high",
        resource={"prefect.resource.id": "catalog-motion.run.test-run", "prefect.resource.name": "test-run"},
        payload={"rejection_rate": 0.5, "threshold": 0.2, "counts": {"rejected": 3, "published": 3}},
    )
    flush_prefect_clients()
    deadline = time.monotonic() + 60
    while not received and time.monotonic() < deadline:
        time.sleep(0.5)
    assert received, "the automation did not call the webhook"
    message = json.dumps(received[0])
    assert "rejection rate high" in message and "test-run" in message and "0.5" in message
