"""A person decides the close calls (docs/REVIEW.md), against a real local Prefect server.

One catalog run holds two borderline clips (`review.borderline_policy: hold`) and rejects a flashing one
(WCAG 2.3.1); the CLI refuses to approve the flashing one; the `review` deployment's run suspends with a
form, is resumed through the API (approve, reject, regenerate), and its decisions land in a new verified
manifest version; the CLI then decides the re-held clip without the UI.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from PIL import Image, ImageOps

from catalog_motion.types import ManifestRow
from generation.base import Engine, GenerationRequest
from generation.registry import get_engine, register_engine
from tests.flows.cdp import CdpBrowser
from tests.flows.helpers import wait_for

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = "tests.flows.test_review"  # this module registers the `flashing` engine (orchestration.plugins)
FLASH_SKU = "FLASH-1"
HELD = "product-page"
RESUME_BUTTON = "[...document.querySelectorAll('button')].find(b => b.textContent.trim() === 'Resume')"


class FlashingEngine(Engine):
    """Camera clips; for the SKUs in `flash_skus` every other frame is dark (> 3 flashes a second)."""

    name = "flashing"

    def __init__(self, settings: dict[str, Any]):
        self.flash_skus = set(settings.get("flash_skus", []))

    def identity(self) -> str:
        return "flashing/" + get_engine("camera", {}).identity()

    def generate(self, request: GenerationRequest):
        from catalog_motion.media import read_frames, write_master

        clip = get_engine("camera", {}).generate(request)
        if Path(request.out_path).parts[-3] in self.flash_skus:  # .../masters/<sku>/<preset>/attempt-N
            frames = read_frames(clip.path)
            frames[1::2] = (frames[1::2] * 0.1).astype(frames.dtype)
            write_master(frames, clip.path, clip.fps)
        return clip


register_engine("flashing")(FlashingEngine)


def _cli(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "flows.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


def _latest(out: Path) -> tuple[str, dict[tuple[str, str], ManifestRow]]:
    data = json.loads((out / "latest" / "manifest.json").read_text(encoding="utf-8"))
    rows = [ManifestRow.model_validate(row) for row in data["rows"]]
    return data["run_id"], {(r.sku, r.preset): r for r in rows}


@pytest.fixture(scope="module")
def held_run(prefect_api, small_sample_catalog, tmp_path_factory):
    """A catalog run whose product-page clips are all borderline (margin 0.99) and held, one flashing."""
    from tests.flows.conftest import SMALL_PRESETS, copy_catalog, read_rows, write_catalog
    from tests.flows.helpers import run_flow

    root = tmp_path_factory.mktemp("review")
    catalog = copy_catalog(small_sample_catalog, root / "catalog")
    rows = read_rows(catalog)
    with Image.open(catalog.parent / rows[0]["image"]) as photo:
        ImageOps.mirror(photo.convert("RGB")).save(catalog.parent / "images" / "flash.png")
    write_catalog(catalog, [*rows, {"sku": FLASH_SKU, "image": "images/flash.png", "title": "flashing"}])
    held = {
        **SMALL_PRESETS["presets"]["product-page"],
        "engine": "flashing",
        "qc": {"borderline_margin": 0.99},
        "review": {"borderline_policy": "hold"},
    }
    presets = root / "presets.yaml"
    presets.write_text(yaml.safe_dump({"presets": {HELD: held}}))
    settings = root / "settings.yaml"
    settings.write_text(
        yaml.safe_dump(
            {
                "presets_file": str(presets),
                "engines": {"flashing": {"flash_skus": [FLASH_SKU]}},
                "orchestration": {"plugins": [PLUGIN]},
            }
        )
    )
    out = root / "out"
    summary, _ = run_flow(catalog=str(catalog), out=str(out), settings_file=str(settings))
    return {"root": root, "catalog": catalog, "out": out, "settings": settings, "run_id": summary["run_id"]}


def test_hold_policy_queues_borderline_clips_unpublished(held_run):
    out = held_run["out"]
    run_id, latest = _latest(out)
    assert run_id == held_run["run_id"]
    for sku in ("TEE-RED-S", "TEE-RED-M", "HOOD-LOGO-L"):
        row = latest[(sku, HELD)]
        assert row.status == "rejected" and row.reason.startswith("borderline, held for review"), row
        assert not row.assets
    flashing = latest[(FLASH_SKU, HELD)]
    assert flashing.status == "rejected" and "photosensitivity" in flashing.reason

    listed = _cli(["review", "list", "--out", str(out), "--json"])
    assert listed.returncode == 0, listed.stderr
    queue = {e["item"]: e for e in map(json.loads, listed.stdout.splitlines())}
    # TEE-RED-S and -M share a photo: one work item, queued once under its first SKU
    assert set(queue) == {f"TEE-RED-S/{HELD}", f"HOOD-LOGO-L/{HELD}", f"{FLASH_SKU}/{HELD}"}
    assert queue[f"TEE-RED-S/{HELD}"]["kind"] == "held" and queue[f"{FLASH_SKU}/{HELD}"]["kind"] == "rejected"
    # a held clip passed QC: the queue says why it waits (the borderline score), not "failed QC"
    assert queue[f"TEE-RED-S/{HELD}"]["reason"].startswith("borderline, held for review"), queue
    assert all(e["run"] == run_id and Path(e["filmstrip"]).is_file() for e in queue.values())

    # the CLI refuses to approve the flashing clip: one line, exit 2, nothing decided
    refused = _cli(
        ["review", "approve", f"{FLASH_SKU}/{HELD}", "--out", str(out), "--config", str(held_run["settings"])]
    )
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "cannot approve FLASH-1/product-page: it failed the photosensitivity check (WCAG 2.3.1)" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert _latest(out)[0] == run_id


@pytest.fixture(scope="module")
def review_worker(held_run, prefect_api):
    """The repository's deployments (prefect.yaml, `review` included) and a worker to run them."""
    from flows import ops

    env = {
        **prefect_api.env,
        **ops.deployment_env(str(held_run["catalog"]), str(held_run["out"]), str(held_run["settings"])),
    }
    ops.setup(env)
    worker = ops.start_worker(env, log_path=held_run["root"] / "worker.log")
    try:
        yield env
    finally:
        try:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(worker.pid, signal.SIGKILL)


def _flow_run(flow_run_id):
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(flow_run_id)


def test_review_flow_suspends_and_decisions_publish_through_a_new_manifest(
    held_run, review_worker, prefect_api, tmp_path
):
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment
    from prefect.flow_runs import resume_flow_run

    from tests.flows.helpers import artifacts

    out, first_run = held_run["out"], held_run["run_id"]
    started = run_deployment("review/review", parameters={"run_id": first_run}, timeout=0)
    suspended = wait_for(
        lambda: (fr := _flow_run(started.id)).state.is_paused() and fr, 180, "the review run to suspend"
    )
    assert suspended.state.name == "Suspended"

    # the form, as the UI renders it: one field per clip, titled sku/preset; the flashing one has no approve
    keyset = suspended.state.state_details.run_input_keyset
    with get_client(sync_client=True) as client:
        schema = json.loads(client.read_flow_run_input(started.id, keyset["schema"]))
    fields = {body.get("title"): name for name, body in schema["properties"].items() if name.startswith("clip_")}
    assert set(fields) == {f"TEE-RED-S/{HELD}", f"HOOD-LOGO-L/{HELD}", f"{FLASH_SKU}/{HELD}"}
    choices = {
        title: schema["$defs"][schema["properties"][name]["$ref"].rsplit("/", 1)[-1]]["properties"]["decision"]["enum"]
        for title, name in fields.items()
    }
    assert "approve" in choices[f"TEE-RED-S/{HELD}"] and "approve" not in choices[f"{FLASH_SKU}/{HELD}"]
    posted = {a.key: a for a in artifacts(started.id) if a.key}
    for item in fields:
        body = posted[f"review-{item.lower().replace('/', '-')}"].data
        assert "data:image/jpeg;base64," in body and "| drift |" in body

    # What a merchandiser sees: the suspended run's page, its Resume button, the form with a field per clip.
    with CdpBrowser(size=(1400, 1100)) as cdp:
        page = cdp.page()
        page.navigate(f"{prefect_api.ui_url}/runs/flow-run/{started.id}", settle_s=1.0)
        page.wait_for(f"(() => {{ {RESUME_BUTTON}?.click(); return !!{RESUME_BUTTON} }})()", 90)
        page.wait_for(f"document.body.innerText.includes('TEE-RED-S/{HELD}')", 60)
        page.pump(1.0)
        shot = page.screenshot(tmp_path / "review-form.png")
        if os.environ.get("CATALOG_MOTION_WRITE_SCREENSHOTS"):
            shutil.copy(shot, ROOT / "docs" / "img" / "review-form.png")
    with Image.open(shot) as image:
        gray = ImageOps.grayscale(image)
        lo, hi = gray.getextrema()
        assert hi - lo > 100 and len(set(gray.resize((140, 100)).getdata())) > 20  # not a blank page

    def answer(flash: str) -> dict[str, Any]:
        return {
            "reviewer": "merch-anna",
            fields[f"TEE-RED-S/{HELD}"]: {"decision": "approve", "note": "colour is right"},
            fields[f"HOOD-LOGO-L/{HELD}"]: {"decision": "regenerate", "note": "too much sway"},
            fields[f"{FLASH_SKU}/{HELD}"]: {"decision": flash, "note": "flashes"},
        }

    with pytest.raises(RuntimeError, match="approve"):  # the server validates the input against the form
        resume_flow_run(started.id, run_input=answer("approve"))
    resume_flow_run(started.id, run_input=answer("reject"))
    done = wait_for(lambda: (fr := _flow_run(started.id)).state.is_final() and fr, 300, "the review run to finish")
    assert done.state.is_completed(), (done.state, (held_run["root"] / "worker.log").read_text()[-3000:])

    run_id, latest = _latest(out)
    assert run_id != first_run and "review" in run_id  # latest moved to the new, verified version
    assert (out / "runs" / first_run / "manifest.json").exists()  # the old version stays (rollback)
    for sku in ("TEE-RED-S", "TEE-RED-M"):
        row = latest[(sku, HELD)]
        assert row.status == "published" and row.published_run == run_id and not row.unchanged
        assert row.video and Path(row.video).is_file()
        assert row.review.decision == "approve" and row.review.reviewer == "merch-anna"
        assert row.review.note == "colour is right" and row.review.decided_at and row.review.scores["drift"] > 0
        assert row.review.queued_run == first_run
    flashing = latest[(FLASH_SKU, HELD)]
    assert (
        flashing.status == "rejected" and not flashing.assets and flashing.reason == "rejected by merch-anna: flashes"
    )
    assert flashing.review.decision == "reject" and "photosensitivity" in flashing.review.failed_checks
    hood = latest[("HOOD-LOGO-L", HELD)]
    # generated and checked again (attempt 2, less motion), borderline again, so held again
    assert hood.review.decision == "regenerate" and hood.attempts == 2 and hood.status == "rejected"
    assert hood.reason.startswith("borderline, held for review")

    result = done.state.result()
    assert result["invariants"]["ok"], result["invariants"]
    assert result["outcomes"] == {
        f"TEE-RED-S/{HELD}": "published",
        f"HOOD-LOGO-L/{HELD}": "rejected",
        f"{FLASH_SKU}/{HELD}": "rejected",
    }
    decisions = [json.loads(line) for line in (out / "review" / "review_decisions.jsonl").read_text().splitlines()]
    assert [d["reviewer"] for d in decisions if d["manifest_run"] == run_id] == ["merch-anna"] * 3


def test_cli_decides_the_same_way_without_the_ui(held_run, review_worker):
    out, settings = held_run["out"], held_run["settings"]
    before, _ = _latest(out)
    listed = _cli(["review", "list", "--out", str(out), "--json"])
    queue = {e["item"]: e for e in map(json.loads, listed.stdout.splitlines())}
    assert set(queue) == {f"HOOD-LOGO-L/{HELD}"} and queue[f"HOOD-LOGO-L/{HELD}"]["run"] == before

    done = _cli(
        ["review", "approve", f"HOOD-LOGO-L/{HELD}", "--note", "fine now", "--reviewer", "bob", "--out", str(out)]
        + ["--config", str(settings)]
    )
    assert done.returncode == 0, done.stderr
    assert f"HOOD-LOGO-L/{HELD}: approve -> published" in done.stdout
    run_id, latest = _latest(out)
    assert run_id != before
    hood = latest[("HOOD-LOGO-L", HELD)]
    assert hood.status == "published" and hood.review.reviewer == "bob" and hood.review.note == "fine now"
    assert latest[("TEE-RED-S", HELD)].status == "published" and latest[("TEE-RED-S", HELD)].unchanged
    again = _cli(["review", "list", "--out", str(out), "--json"])
    assert again.returncode == 0 and again.stdout.strip() == ""
