"""Secrets: credentials come only from the environment or Prefect blocks and never leak.

A planted AWS secret key (S3 sink), Shopify token (catalog source) and Shopify Admin token (delivery to a
fake store, from the environment) are used by real runs - one that succeeds and delivers, one whose Shopify
token (from a Prefect Secret block) is refused, one whose bucket is missing - then every place a secret could
end up is scanned: Python logs, terminal output, the Prefect server's run logs, artifacts, flow-run records
and server log, manifests and every stored object and its metadata, review-queue and QC tables, the delivery
table and its Prefect artifacts, the work folder, and the runs' exception messages.
"""

from __future__ import annotations

import logging
import secrets as pysecrets
import shutil
from pathlib import Path

import boto3
import yaml

from tests.fixtures.http_servers import Reply, RouteServer, ShopifyFake, shopify_product
from tests.reliability.conftest import TINY_PRESETS
from tests.reliability.helpers import run_flow


def _needles(secret: str) -> list[str]:
    # the whole value and a middle slice (a truncated or partly masked leak is still a leak)
    return [secret, secret[len(secret) // 3 : len(secret) // 3 + 12]]


class Scanner:
    def __init__(self, secret_values: list[str]):
        self.needles = [n for s in secret_values for n in _needles(s)]
        self.places = 0
        self.leaks: list[str] = []

    def text(self, where: str, blob: str | bytes | None) -> None:
        self.places += 1
        if blob is None:
            return
        data = blob if isinstance(blob, bytes) else blob.encode("utf-8", "surrogatepass")
        for needle in self.needles:
            if needle.encode() in data:
                self.leaks.append(f"{where}: contains {needle[:6]}…")

    def tree(self, where: str, root: Path) -> None:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                self.text(f"{where}/{path.relative_to(root)}", path.read_bytes())


def _prefect_records(flow_run_id) -> dict[str, str]:
    """Logs, artifacts and the flow-run record the server holds for a run, as text."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        FlowRunFilter,
        FlowRunFilterId,
        LogFilter,
        LogFilterFlowRunId,
    )
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=10)  # logs travel to the server in the background: send them now
    with get_client(sync_client=True) as client:
        logs, offset = [], 0
        while True:
            page = client.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])), limit=200, offset=offset
            )
            logs += page
            offset += len(page)
            if len(page) < 200:
                break
        arts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
        run = client.read_flow_run(flow_run_id)
        tasks = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])), limit=200)
    assert logs, "the server recorded no log lines for the run: nothing was scanned"
    return {
        "prefect-logs": "\n".join(f"{log.level} {log.name} {log.message}" for log in logs),
        "prefect-artifacts": "\n".join(f"{a.key} {a.description} {a.data}" for a in arts),
        "prefect-flow-run": run.model_dump_json(),
        "prefect-task-runs": "\n".join(t.model_dump_json() for t in tasks),
    }


def test_planted_secrets_never_leak(
    prefect_api, fake_shop, s3_server, s3_bucket, rel_catalog_src, tmp_path, monkeypatch, caplog, capfd, rel_results
):
    aws_secret = "zzAWS" + pysecrets.token_urlsafe(30)
    shop_token = "shpat_zzSHOP" + pysecrets.token_hex(16)
    block_token = "shpat_zzBLOCK" + pysecrets.token_hex(16)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAZZRELIABILITY01")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", aws_secret)
    monkeypatch.setenv("SHOPIFY_ACCESS_TOKEN", shop_token)
    admin_token = "shpat_zzADMIN" + pysecrets.token_hex(16)
    monkeypatch.setenv("SHOPIFY_ADMIN_TOKEN", admin_token)  # delivery.shopify.token_env's default
    scan = Scanner([aws_secret, shop_token, block_token, admin_token])
    store = fake_shop(token=admin_token, ready_after_polls=1)  # the delivery target: only this token opens it
    store.add_product(["P1-RED-S", "P1-RED-M", "P1-BLU-S", "P1-BLU-M"])

    server = RouteServer().start()
    try:
        photo = (rel_catalog_src.parent / "images" / "tee-red.png").read_bytes()
        base = f"http://localhost:{server.port}/img"
        product = shopify_product(1, base)
        for media in product["media"]["nodes"]:
            server.route(
                media["image"]["url"].split(f":{server.port}", 1)[1], Reply(200, photo, content_type="image/png")
            )
        fake = ShopifyFake(server, [product], token=shop_token)
        source = f"shopify+http://localhost:{server.port}{fake.endpoint.split(str(server.port), 1)[1]}"

        spec = {"presets": {"close-up": TINY_PRESETS["presets"]["close-up"]}}
        strict = {
            **TINY_PRESETS["presets"]["close-up"],
            "qc": {"max_subject_drift": 0.0, "work_long_side": 96},
            "ask_for_less": {"max_attempts": 1},
        }
        spec["presets"]["strict"] = strict  # rejections: the review queue and its table get written too
        presets_file = tmp_path / "presets.yaml"
        presets_file.write_text(yaml.safe_dump(spec), encoding="utf-8")

        def settings(name: str, **extra) -> Path:
            body = {
                "intake": {"allow_hosts": ["localhost"], **extra.pop("intake", {})},
                "sink": {"uri": f"s3://{extra.pop('bucket', s3_bucket)}/shop", "endpoint_url": s3_server},
                "orchestration": {"retries": 1, "retry_delay_s": 0.05},
            }
            if name == "ok":
                body["delivery"] = {"shopify": {"shop": store.url, "presets": ["close-up"], "poll_interval_s": 0.05}}
            path = tmp_path / f"{name}.yaml"
            path.write_text(yaml.safe_dump(body), encoding="utf-8")
            return path

        outs = {name: tmp_path / f"out-{name}" for name in ("ok", "badtoken", "nobucket")}
        errors: dict[str, BaseException | None] = {}
        run_ids = {}
        with caplog.at_level(logging.DEBUG):
            summary, run_ids["ok"], errors["ok"] = run_flow(
                catalog=source, out=str(outs["ok"]), settings_file=str(settings("ok")), presets_file=str(presets_file)
            )
            assert errors["ok"] is None, repr(errors["ok"])
            assert summary["counts"]["total"].get("published", 0) >= 1, summary["counts"]
            assert summary["counts"]["total"].get("rejected", 0) >= 1, summary["counts"]

            from prefect.blocks.system import Secret

            Secret(value=block_token).save("rel-shopify-wrong-token", overwrite=True)
            _, run_ids["badtoken"], errors["badtoken"] = run_flow(
                catalog=source,
                out=str(outs["badtoken"]),
                presets_file=str(presets_file),
                settings_file=str(settings("badtoken", intake={"shopify_token_block": "rel-shopify-wrong-token"})),
            )
            assert errors["badtoken"] is not None and "401" in str(errors["badtoken"]), repr(errors["badtoken"])

            summary3, run_ids["nobucket"], errors["nobucket"] = run_flow(
                catalog=source,
                out=str(outs["nobucket"]),
                presets_file=str(presets_file),
                settings_file=str(settings("nobucket", bucket="no-such-bucket-zz")),
            )
    finally:
        server.stop()
    assert fake.queries, "the Shopify fake was never asked: the run did not use the planted token"
    assert store.attached and summary["delivery"]["ok"], summary["delivery"]  # the Admin token was used

    # everything the runs said or wrote
    scan.text("python-logs", "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records))
    captured = capfd.readouterr()
    scan.text("stdout", captured.out)
    scan.text("stderr", captured.err)
    for name, error in errors.items():
        scan.text(f"exception:{name}", f"{error!r} {error}" if error else None)
    for name, flow_run_id in run_ids.items():
        for where, text in _prefect_records(flow_run_id).items():
            scan.text(f"{where}:{name}", text)
    if prefect_api.log_path and Path(prefect_api.log_path).exists():
        scan.text("prefect-server-log", Path(prefect_api.log_path).read_bytes())
    for name, out in outs.items():
        if out.exists():
            scan.tree(f"out-{name}", out)  # review queue + its CSV, QC reports, journal, work folder
    assert (outs["ok"] / "review" / "review_queue.csv").exists()
    direct = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    keys = [o["Key"] for o in direct.list_objects_v2(Bucket=s3_bucket).get("Contents", [])]
    assert any(k.endswith("manifest.json") for k in keys) and any("/video-" in k for k in keys)
    assert "shop/delivery/delivery.jsonl" in keys  # the delivery table, stored beside the manifests
    for key in keys:
        obj = direct.get_object(Bucket=s3_bucket, Key=key)
        scan.text(f"s3:{key}", obj["Body"].read())
        scan.text(f"s3-metadata:{key}", repr(obj.get("Metadata")))

    # control: the scanner does find a planted value where it legitimately lives (the Secret block)
    from prefect.blocks.system import Secret

    control = Scanner([block_token])
    control.text("secret-block", Secret.load("rel-shopify-wrong-token").get())
    assert control.leaks, "the scanner failed to find a secret where it is stored"
    rel_results.add("secret_places", scan.places)
    rel_results.add("secrets_leaked", len(scan.leaks))
    rel_results.case("secrets", f"{scan.places} places scanned", "; ".join(scan.leaks[:5]) or "no leak")
    assert not scan.leaks, scan.leaks
    shutil.rmtree(tmp_path / "out-badtoken", ignore_errors=True)
