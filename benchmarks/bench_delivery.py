"""Delivery benchmark: CPU of our code per item delivering to Shopify, against the fake store, uploads excluded.

The fake store (tests/fixtures/fake_shopify.py) and moto's S3 server each run in their own process, so
the CPU measured here (this thread's `thread_time`) is delivery's own: planning, GraphQL calls and their
JSON, polling, the delivery table. The CPU inside the staged uploads themselves is subtracted (what an
upload costs is the network's business). A second run over the same rows (all unchanged: nothing
uploaded) is timed too. Target: <= 50 ms of CPU per item.

    .venv/bin/python benchmarks/bench_delivery.py [--items 200]
writes benchmarks/results/delivery.json and prints a summary.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from catalog_motion.delivery_settings import ShopifyDeliverySettings  # noqa: E402
from delivery.media import deliver_to_shopify  # noqa: E402
from delivery.shopify import ShopifyClient  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "delivery.json"
TARGET_MS = 50.0


def timed_run(rows, settings, state_dir: Path, run_id: str, token: str) -> tuple[dict, list]:
    with ShopifyClient(settings, token) as client:
        wall, cpu = time.perf_counter(), time.thread_time()
        outcomes = deliver_to_shopify(
            rows, settings, run_id=run_id, state_dir=state_dir, open_asset=Path, priorities={}, token=token,
            client=client,
        )  # fmt: skip
        cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
        stats = client.stats
    ours = cpu - stats.upload_cpu_s
    return {
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 4),
        "upload_cpu_s": round(stats.upload_cpu_s, 4),
        "upload_wall_s": round(stats.upload_s, 3),
        "graphql_calls": stats.calls,
        "uploads": stats.uploads,
        "cpu_ms_per_item_excl_uploads": round(1000 * ours / len(rows), 3),
    }, outcomes


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the JSON results")
    args = parser.parse_args(argv)

    from tests.delivery.conftest import make_clip, published_row
    from tests.fixtures.fake_shopify import TOKEN
    from tests.fixtures.s3 import DUMMY_ENV, MotoServer

    os.environ.update(DUMMY_ENV)
    with tempfile.TemporaryDirectory() as tmp, MotoServer() as moto:
        root = Path(tmp) / "out"
        clip = make_clip(root / "clip" / "product-page" / "video.mp4", "teal")
        clip_bytes = clip.stat().st_size
        rows = [published_row(f"BENCH-{i:05d}", "product-page", clip, root) for i in range(args.items)]
        store = subprocess.Popen(
            [sys.executable, "-m", "tests.fixtures.fake_shopify", moto.url, "bench-staged", str(args.items)],
            cwd=ROOT, stdout=subprocess.PIPE, text=True, env={**os.environ, **DUMMY_ENV},
        )  # fmt: skip
        try:
            url = store.stdout.readline().strip()
            settings = ShopifyDeliverySettings(shop=url, video_cap=100_000, poll_interval_s=0.01, backoff_s=0.01)
            first, outcomes = timed_run(rows, settings, Path(tmp) / "state", "bench-1", TOKEN)
            delivered = sum(o.status == "delivered" for o in outcomes)
            second, outcomes = timed_run(rows, settings, Path(tmp) / "state", "bench-2", TOKEN)
            unchanged = sum(o.status == "unchanged" for o in outcomes)
        finally:
            store.terminate()
            store.wait(timeout=10)
    result = {
        "items": args.items,
        "clip_bytes": clip_bytes,
        "first_run": {**first, "delivered": delivered},
        "second_run_unchanged": {**second, "unchanged": unchanged},
        "target_ms_per_item": TARGET_MS,
        "meets_target": first["cpu_ms_per_item_excl_uploads"] <= TARGET_MS
        and second["cpu_ms_per_item_excl_uploads"] <= TARGET_MS,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
