"""Wiring of Shopify delivery, end to end: a real catalog_run over the whole sample catalog with `delivery:`
pointing at the fake store delivers every product-page clip; a second run uploads nothing;
`catalog-motion deliver --run` and `deliver rollback` work through the CLI and fail with one line for a bad
run id, a missing token and an unreachable store. Asserted through the fake store's own state.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.delivery.conftest import SAMPLE_SKUS
from tests.fixtures.fake_shopify import TOKEN
from tests.flows.helpers import artifacts, manifest_rows, run_flow, task_runs
from tests.reliability.conftest import TINY_PRESETS

REPO = Path(__file__).resolve().parents[2]
TOKEN_ENV = "CATALOG_MOTION_TEST_SHOPIFY_TOKEN"


def _cli(args: list[str], *, token: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_") and k != TOKEN_ENV}
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    if token:
        env[TOKEN_ENV] = TOKEN
    return subprocess.run(
        [sys.executable, "-m", "flows.cli", *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO
    )


def _settings(path: Path, shop: str, **shopify) -> Path:
    body = {
        "orchestration": {"retries": 1, "retry_delay_s": 0.05},
        "delivery": {
            "shopify": {"shop": shop, "token_env": TOKEN_ENV, "poll_interval_s": 0.05, "video_cap": 100, **shopify}
        },
    }
    path.write_text(yaml.safe_dump(body), encoding="utf-8")
    return path


def _one_error_line(result: subprocess.CompletedProcess) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr and "Error:" not in lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def world(prefect_api, fake_shop, tmp_path_factory):
    """The whole sample catalog (small photos), its products in a fake store (one merchant video on the
    hoodie), and settings delivering product-page clips there; the token in the environment."""
    from catalog_connectors.samples import draw_sample_catalog

    tmp = tmp_path_factory.mktemp("wiring_shopify")
    catalog = draw_sample_catalog(tmp / "catalog", size=(120, 150))
    presets = tmp / "presets.yaml"
    # crf 18: at crf 28 a 96x120 encode of the floral print can fail its PSNR check against the master
    product_page = {**TINY_PRESETS["presets"]["product-page"]}
    product_page["encodings"] = [{"format": "mp4-h264", "crf": 18, "preset": "veryfast"}, {"format": "poster-jpeg"}]
    presets.write_text(yaml.safe_dump({"presets": {"product-page": product_page}}))
    store = fake_shop(ready_after_polls=1)
    groups: dict[str, list[str]] = {}
    for sku, group in SAMPLE_SKUS.items():
        groups.setdefault(group, []).append(sku)
    products = {group: store.add_product(skus) for group, skus in groups.items()}
    merchant_video = store.add_merchant_video(products["HOOD-LOGO"])
    saved = os.environ.get(TOKEN_ENV)
    os.environ[TOKEN_ENV] = TOKEN
    try:
        yield {
            "catalog": catalog,
            "presets": presets,
            "store": store,
            "products": products,
            "merchant_video": merchant_video,
            "out": tmp / "out",
            "settings": _settings(tmp / "settings.yaml", store.url),
            "tmp": tmp,
        }
    finally:
        if saved is None:
            os.environ.pop(TOKEN_ENV, None)
        else:
            os.environ[TOKEN_ENV] = saved


def _uploads(store) -> int:
    """Staged uploads the store handed out (each is one video sent to it)."""
    return store.calls.count("stagedUploadsCreate")


def _run(world) -> tuple[dict, object]:
    return run_flow(
        catalog=str(world["catalog"]),
        out=str(world["out"]),
        settings_file=str(world["settings"]),
        presets_file=str(world["presets"]),
    )


@pytest.fixture(scope="module")
def first(world):
    summary, flow_run_id = _run(world)
    return summary, flow_run_id, dict(uploads=_uploads(world["store"]), attached=len(world["store"].attached))


def test_run_delivers_every_product_page_clip(world, first):
    summary, flow_run_id, _ = first
    store, products = world["store"], world["products"]
    rows = {r.sku: r for r in manifest_rows(world["out"], summary["run_id"])}
    assert len(rows) == 8 and all(r.status == "published" for r in rows.values()), rows
    assert summary["delivery"]["ok"], summary["delivery"]
    print(f"first run {summary['seconds']} s")
    assert summary["delivery"]["counts"] == {"shopify": {"delivered": 8}}
    # one catalog-motion video per product (variants share it), the clip of one of its SKUs, READY
    for group, product_id in products.items():
        ours = store.app_videos(product_id)
        assert len(ours) == 1 and ours[0].status == "READY", (group, ours)
        shas = {rows[sku].assets[0].sha256[:16] for sku, g in SAMPLE_SKUS.items() if g == group}
        assert ours[0].alt.rsplit(":", 1)[1] in shas
    assert _uploads(store) == len(store.staged) == len(products) == 6
    # the merchant's own video stays where it was
    assert world["merchant_video"] in store.products[products["HOOD-LOGO"]].media
    # the delivery table is stored beside the manifests, in the sink
    table = (world["out"] / "delivery" / "delivery.jsonl").read_text(encoding="utf-8").splitlines()
    assert {json.loads(line)["status"] for line in table} == {"delivered"} and len(table) == 8
    runs = [r for r in task_runs(flow_run_id) if r.name.startswith("deliver [")]
    assert len(runs) == 1 and runs[0].state.is_completed()
    outcomes = next(a for a in artifacts(flow_run_id) if a.key == "delivery-outcomes")
    data = json.loads(outcomes.data) if isinstance(outcomes.data, str) else outcomes.data
    assert (
        len(data) == 8 and {o["status"] for o in data} == {"delivered"} and {o["target"] for o in data} == {"shopify"}
    )


def test_second_run_uploads_nothing(world, first):
    _, _, before = first
    store = world["store"]
    summary, _ = _run(world)
    assert summary["counts"]["total"] == {"skipped": 8}, summary["counts"]  # every item unchanged
    assert summary["delivery"]["counts"] == {"shopify": {"unchanged": 8}}
    assert _uploads(store) == before["uploads"] and len(store.attached) == before["attached"]


def test_cli_deliver_again_is_unchanged(world, first):
    summary, _, before = first
    result = _cli(
        ["deliver", "--run", summary["run_id"], "--out", str(world["out"]), "--config", str(world["settings"])]
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "shopify" in result.stdout and "Traceback" not in result.stderr
    assert _uploads(world["store"]) == before["uploads"]


@pytest.mark.parametrize("case", ["bad-run-id", "missing-token", "unreachable-store", "no-delivery-settings"])
def test_cli_deliver_fails_with_one_line(world, first, case, tmp_path):
    summary = first[0]
    settings, run, token = world["settings"], summary["run_id"], True
    if case == "bad-run-id":
        run = "20990101T000000Z-nope"
    elif case == "missing-token":
        token = False
    elif case == "unreachable-store":
        with socket.socket() as sock:  # a port nothing listens on
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        settings = _settings(tmp_path / "s.yaml", f"http://127.0.0.1:{port}", max_retries=0)
    else:
        settings = tmp_path / "s.yaml"
        settings.write_text("orchestration: {retries: 0}\n", encoding="utf-8")
    line = _one_error_line(
        _cli(["deliver", "--run", run, "--out", str(world["out"]), "--config", str(settings)], token=token)
    )
    expected = {
        "bad-run-id": "no manifest for run '20990101T000000Z-nope'; known runs:",
        "missing-token": f"Shopify token missing: set ${TOKEN_ENV} or delivery.shopify.token_secret_block",
        "unreachable-store": "Shopify did not answer",
        "no-delivery-settings": "delivery is not configured",
    }[case]
    assert expected in line, line
    assert TOKEN not in line


def test_changed_photo_replaces_only_that_products_video(world, first):
    """A new hoodie photo: the next run replaces exactly the hoodie product's catalog-motion video; the
    merchant's video beside it and every other product stay as they were."""
    import cv2

    store, products = world["store"], world["products"]
    before = {group: [f.id for f in store.app_videos(pid)] for group, pid in products.items()}
    photo = world["catalog"].parent / "images" / "hoodie-logo.jpg"
    image = cv2.imread(str(photo))
    cv2.rectangle(image, (40, 50), (80, 90), (30, 160, 30), thickness=-1)
    assert cv2.imwrite(str(photo), image)
    uploads = _uploads(store)
    summary, _ = _run(world)
    world["changed_run"] = summary["run_id"]
    assert summary["counts"]["total"] == {"published": 1, "skipped": 7}, summary["counts"]
    assert summary["delivery"]["counts"] == {"shopify": {"delivered": 1, "unchanged": 7}}
    assert _uploads(store) == uploads + 1
    after = {group: [f.id for f in store.app_videos(pid)] for group, pid in products.items()}
    changed = [group for group in products if after[group] != before[group]]
    assert changed == ["HOOD-LOGO"] and len(after["HOOD-LOGO"]) == 1
    hood = store.media_of(products["HOOD-LOGO"])
    assert world["merchant_video"] in [f.id for f in hood]
    new_sha = next(r for r in manifest_rows(world["out"], summary["run_id"]) if r.sku == "HOOD-LOGO-L").assets[0].sha256
    assert store.app_videos(products["HOOD-LOGO"])[0].alt.endswith(new_sha[:16])
    world["first_videos"] = before


def test_deliver_flow_puts_the_highest_priority_skus_first_under_the_cap(world, fake_shop, tmp_path):
    """The `deliver` flow (the deployment's entry point) on a store with room for 3 videos: the catalog's
    priority column decides which products get theirs; the rest are `deferred` with the reason."""
    from flows.deliver import deliver

    store = fake_shop(ready_after_polls=1)
    ranks = {"BAG-TOTE": 9, "SCF-KNIT": 8, "DRS-FLORAL": 7, "JEAN-STRAIGHT": 3, "HOOD-LOGO": 2, "TEE-CLASSIC": 1}
    ids = {group: store.add_product([sku for sku, g in SAMPLE_SKUS.items() if g == group]) for group in ranks}
    catalog = world["catalog"].parent / "catalog-with-priority.csv"
    lines = world["catalog"].read_text(encoding="utf-8").splitlines()
    catalog.write_text(
        "\n".join([lines[0] + ",priority"] + [f"{line},{ranks[line.split(',')[4]]}" for line in lines[1:]]) + "\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"  # its own sink and delivery table: a store of its own
    shutil.copytree(world["out"], out, ignore=shutil.ignore_patterns(".work", "delivery"))
    settings = _settings(tmp_path / "capped.yaml", store.url, video_cap=3)
    result = deliver(out=str(out), settings_file=str(settings), catalog=str(catalog))
    by_sku = {o["sku"]: o for o in result["failed"]}
    assert not by_sku, by_sku
    assert result["counts"] == {"shopify": {"delivered": 3, "deferred": 5}}, result["counts"]
    served = {group for group, pid in ids.items() if store.app_videos(pid)}
    assert served == {"BAG-TOTE", "SCF-KNIT", "DRS-FLORAL"}
    assert len(store.video_files()) == 3
    table = [json.loads(line) for line in (out / "delivery" / "delivery.jsonl").read_text().splitlines()]
    deferred = sorted(r["sku"] for r in table if r["status"] == "deferred" and "cap 3" in r["reason"])
    assert deferred == ["HOOD-LOGO-L", "JEAN-INDIGO-32", "TEE-NAVY-M", "TEE-RED-M", "TEE-RED-S"]


def test_rollback_restores_the_store(world, first):
    """Rolling back the changed-photo run (the command) gives the hoodie its first video back; rolling back
    the first delivery (the `deliver` flow) then leaves every product as it was before catalog-motion (the
    merchant's video stays)."""
    from flows.deliver import deliver

    summary = first[0]
    store, products = world["store"], world["products"]
    args = ["--out", str(world["out"]), "--config", str(world["settings"])]
    result = _cli(["deliver", "rollback", world["changed_run"], *args])
    assert result.returncode == 0, result.stderr[-2000:]
    assert "rolled_back" in result.stdout
    now = {group: [f.id for f in store.app_videos(pid)] for group, pid in products.items()}
    assert now == world["first_videos"]
    undone = deliver(
        run_id=summary["run_id"], rollback=True, out=str(world["out"]), settings_file=str(world["settings"])
    )
    assert undone["action"] == "rollback" and undone["counts"] == {"shopify": {"rolled_back": 8}}, undone
    for product_id in products.values():
        assert store.app_videos(product_id) == []
    assert [f.id for f in store.media_of(products["HOOD-LOGO"]) if f.media_type == "VIDEO"] == [world["merchant_video"]]
    again = _cli(["deliver", "rollback", "no-such-run", *args])
    assert "delivered nothing to Shopify" in _one_error_line(again)
