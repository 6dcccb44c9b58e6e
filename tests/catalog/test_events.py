"""catalog.sku.ingested events: the domain emitter with an injected bus, and with Prefect's (a real local server)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from catalog_connectors import IntakeSettings, load_catalog
from catalog_connectors.events import EVENT_NAME, emit_ingested, event_id
from catalog_connectors.shopify import resolve_token
from catalog_motion.errors import CatalogMotionError, IntakeError
from tasks.prefect_services import prefect_emit, prefect_secret


def _events(api_url: str, prefix: str, expect: int, timeout: float = 20.0) -> list[dict]:
    """Events named catalog.sku.ingested for resources starting with `prefix`, polled until `expect` arrive."""
    body = json.dumps(
        {
            "filter": {
                "event": {"name": [EVENT_NAME]},
                "resource": {"id_prefix": [prefix]},
                "occurred": {"since": "2000-01-01T00:00:00Z"},
            },
            "limit": 50,
        }
    ).encode()
    deadline = time.monotonic() + timeout
    found: list[dict] = []
    while time.monotonic() < deadline:
        req = urllib.request.Request(
            f"{api_url.rstrip('/')}/events/filter", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=5) as resp:
            found = json.loads(resp.read())["events"]
        if len(found) >= expect:
            time.sleep(0.5)  # and make sure no extra ones are still coming
            with urllib.request.urlopen(req, timeout=5) as resp:
                return json.loads(resp.read())["events"]
        time.sleep(0.3)
    return found


def test_emit_ingested_dedups_across_runs(prefect_api, sample_catalog: Path, tmp_path: Path) -> None:
    rows = load_catalog(str(sample_catalog)).rows
    tagged = [r.model_copy(update={"sku": f"EVT1-{r.sku}"}) for r in rows[:3]]
    state = tmp_path / "state.json"
    prefect = {"emit": prefect_emit}
    first = emit_ingested(tagged + [tagged[0]], state_path=state, source="sample", **prefect).sent
    assert first == [r.sku for r in tagged]
    again = emit_ingested(tagged, state_path=state, source="sample", **prefect)
    assert again.sent == [] and again.ok  # nothing new the second time
    more = tagged + [rows[3].model_copy(update={"sku": "EVT1-NEW"})]
    assert emit_ingested(more, state_path=state, source="sample", **prefect).sent == ["EVT1-NEW"]
    assert set(json.loads(state.read_text())["announced"]) == {*first, "EVT1-NEW"}
    events = _events(prefect_api.url, "sku.EVT1-", expect=4)
    assert sorted(e["resource"]["prefect.resource.id"] for e in events) == sorted(
        f"sku.{s}" for s in [*first, "EVT1-NEW"]
    )
    tee = next(e for e in events if e["resource"]["prefect.resource.id"] == "sku.EVT1-TEE-RED-S")
    assert tee["payload"]["image"] == "images/tee-red.png" and tee["payload"]["item_group_id"] == "TEE-CLASSIC"


def test_emit_ingested_sends_each_new_sku_through_the_injected_emitter(sample_catalog: Path, tmp_path: Path) -> None:
    batches: list[list[dict]] = []

    def bus(events) -> None:
        batches.append(list(events))

    row = load_catalog(str(sample_catalog)).rows[0]
    state = tmp_path / "state.json"
    report = emit_ingested([row, "PLAIN-1", row.sku], emit=bus, state_path=state, source="shop.csv")
    assert report.sent == [row.sku, "PLAIN-1"] and report.ok and len(batches) == 1  # one batch, one SKU once
    sent = [(e["event"], e["resource"], e["payload"]) for e in batches[0]]
    assert sent == [
        (
            EVENT_NAME,
            {"prefect.resource.id": f"sku.{row.sku}", "prefect.resource.name": row.sku},
            {
                "sku": row.sku,
                "source": "shop.csv",
                "image": row.image,
                "item_group_id": row.item_group_id,
                "updated_at": row.updated_at,
            },
        ),
        (
            EVENT_NAME,
            {"prefect.resource.id": "sku.PLAIN-1", "prefect.resource.name": "PLAIN-1"},
            {"sku": "PLAIN-1", "source": "shop.csv"},
        ),
    ]
    assert all(e["occurred"] and e["id"] for e in batches[0])
    assert batches[0][1]["id"] == event_id(EVENT_NAME, "PLAIN-1", "shop.csv")  # deterministic
    assert emit_ingested(["PLAIN-1", "PLAIN-2"], emit=bus, state_path=state).sent == ["PLAIN-2"]
    announced = json.loads(state.read_text())["announced"]
    assert set(announced) == {row.sku, "PLAIN-1", "PLAIN-2"}
    assert announced["PLAIN-2"]["event_id"] == event_id(EVENT_NAME, "PLAIN-2", None)


def test_state_file_errors_and_failed_emit(tmp_path: Path) -> None:
    bad = tmp_path / "state.json"
    bad.write_text("[1, 2]")
    with pytest.raises(CatalogMotionError, match="not a catalog-motion ingest state"):
        emit_ingested(["A"], state_path=bad, emit=lambda events: None)

    def refusing(events) -> None:
        raise CatalogMotionError("bus says no")

    unsaved = emit_ingested(["A"], emit=refusing)  # no state, no spool: reported, not silently dropped
    assert unsaved.unsent == ["A"] and not unsaved.ok and unsaved.error == "bus says no"
    state = tmp_path / "s2.json"
    report = emit_ingested(["A"], state_path=state, emit=refusing)
    assert not state.exists()  # nothing recorded as announced when the emit failed
    assert report.spooled == ["A"] and report.attempts == 1  # a refusal is not retried, it is kept
    assert report.spool_path == tmp_path / "s2.spool.jsonl" and report.spool_path.exists()


def test_ingest_cli(prefect_server_env, prefect_api, tmp_path: Path) -> None:
    catalog = tmp_path / "cat.csv"
    catalog.write_text("sku,image,title\nEVT2-A,a.png,A\nEVT2-B,b.png,B\n,c.png,no sku\nEVT2-A,d.png,dup\n")
    state = tmp_path / "announced.json"
    exe = str(Path(sys.executable).with_name("catalog-motion"))
    cmd = [exe, "ingest", "--catalog", str(catalog), "--since", str(state), "--no-validate"]
    first = subprocess.run(cmd, capture_output=True, text=True, env=prefect_server_env, timeout=120)
    assert first.returncode == 0, first.stderr
    assert "2 valid rows, 2 refused; announced 2 new SKU(s): EVT2-A, EVT2-B" in first.stdout
    assert "refused row 3 (EVT2-A): duplicate sku" in first.stdout
    second = subprocess.run(cmd, capture_output=True, text=True, env=prefect_server_env, timeout=120)
    assert "announced 0 new SKU(s)" in second.stdout
    events = _events(prefect_api.url, "sku.EVT2-", expect=2)
    assert sorted(e["resource"]["prefect.resource.id"] for e in events) == ["sku.EVT2-A", "sku.EVT2-B"]
    missing = subprocess.run(
        [exe, "ingest", "--catalog", str(tmp_path / "nope.csv")],
        capture_output=True,
        text=True,
        env=prefect_server_env,
        timeout=120,
    )
    assert missing.returncode == 2 and "catalog not found" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1


def test_shopify_token_from_prefect_secret_block(prefect_api) -> None:
    from prefect.blocks.system import Secret

    Secret(value="shpat_from_block_42").save("catalog-test-shopify", overwrite=True)
    settings = IntakeSettings(shopify_token_block="catalog-test-shopify")
    assert resolve_token(settings, prefect_secret) == "shpat_from_block_42"
    assert prefect_secret("catalog-test-shopify") == "shpat_from_block_42"
    with pytest.raises(IntakeError, match="cannot load Prefect Secret block 'nope-block'") as info:
        resolve_token(IntakeSettings(shopify_token_block="nope-block"), prefect_secret)
    assert "shpat" not in str(info.value)
    os.environ.pop("SHOPIFY_ACCESS_TOKEN", None)
