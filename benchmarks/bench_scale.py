"""Catalog scale against a real local Prefect server: 30,000 work items (10,000 SKUs x 3 presets).

Fast configuration so the run measures orchestration, not pixels: tiny distinct photos, a tiny
`bench-tiny` engine (2-frame clips saved as .npy), a QC stage that reads the clip back and checks
its frame count, and an "encode" that writes the clip and a poster. Every item still goes through
the real flow: fetch (real photo intake, hashing), generate, check, encode, publish (real LocalSink,
checksums), journal, manifest (Parquet + JSON), artifacts. Reported:
  * all outcomes in the manifest, task runs recorded by the server vs submitted;
  * orchestration overhead per item = flow wall time per item - plain-loop time per item (same work,
    same single worker, measured on a subset);
  * peak RSS of the flow process at two catalog sizes (flat = grows far less than the catalog);
  * server health (/api/health latency, failures) sampled every second during the run.

    python -m benchmarks.bench_scale [--skus 10000] [--batch-size 100]
writes benchmarks/results/scale.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"

PRESETS = """
presets:
  product-page: {aspect: "4:5", width: 32, height: 40, duration_s: 0.25, fps: 8, engine: bench-tiny,
                 encodings: [{format: mp4-h264}, {format: poster-jpeg}]}
  social: {aspect: "9:16", width: 36, height: 64, duration_s: 0.25, fps: 8, engine: bench-tiny,
           encodings: [{format: mp4-h264}, {format: poster-jpeg}]}
  close-up: {aspect: "1:1", width: 32, height: 32, duration_s: 0.25, fps: 8, engine: bench-tiny,
             encodings: [{format: mp4-h264}, {format: poster-jpeg}]}
"""


# --- the fast path (installed into this process; the thread task runner runs tasks here) -----------
def install_fast_path() -> None:
    from PIL import Image

    from catalog_motion.types import ClipRef, QCReport
    from generation.base import Engine
    from generation.registry import register_engine
    from pipeline import steps
    from publishing.encode import LocalAsset

    class TinyEngine(Engine):
        name = "bench-tiny"

        def __init__(self, settings: dict[str, Any]):
            pass

        def identity(self) -> str:
            return "bench-tiny/1"

        def generate(self, request):
            preset = request.preset
            with Image.open(request.source_path) as photo:
                base = np.asarray(photo.convert("RGB").resize((preset.width, preset.height)))
            frames = np.stack([base, np.roll(base, 1, axis=1)])
            path = Path(request.out_path).with_suffix(".npy")
            np.save(path, frames)
            return ClipRef(
                path=str(path),
                fps=preset.fps,
                n_frames=2,
                width=preset.width,
                height=preset.height,
                engine=self.name,
                seed=request.seed,
                attempt=request.attempt,
            )

    register_engine("bench-tiny")(lambda settings: TinyEngine(settings))

    def check_clip(source_path, clip_path, preset, *, expected_frames=None):
        # Cheap but measured: drift = mean |frame - photo|, flicker = mean |frame t+1 - frame t| (0..1).
        frames = np.load(clip_path).astype(np.float32) / 255.0
        with Image.open(source_path) as photo:
            ref = np.asarray(photo.convert("RGB").resize((preset.width, preset.height)), np.float32) / 255.0
        drift = float(np.abs(frames - ref).mean(axis=(1, 2, 3)).max())
        flicker = float(np.abs(np.diff(frames, axis=0)).mean()) if len(frames) > 1 else 0.0
        shape_ok = frames.shape[0] == (expected_frames or frames.shape[0]) and frames.shape[1:3] == (
            preset.height,
            preset.width,
        )
        reasons = [] if shape_ok else ["wrong clip shape"]
        reasons += [f"drift {drift:.3f}"] if drift > preset.qc.max_subject_drift else []
        reasons += [f"flicker {flicker:.3f}"] if flicker > preset.qc.max_flicker else []
        return QCReport(
            passed=not reasons,
            scores={"drift": drift, "flicker": flicker},
            reasons=reasons,
            failed_checks=["technical"] if reasons else [],
        )

    def check_delivered(video_path, master_path, preset, *, expected_frames=None, codec=None):
        return QCReport(passed=Path(video_path).stat().st_size > 0)

    def encode_variants(clip, preset, out_dir, timeout_s=None):  # a file write: nothing to time out
        out_dir.mkdir(parents=True, exist_ok=True)
        frames = np.load(clip.path)
        video = out_dir / "video.mp4"
        video.write_bytes(frames.tobytes())  # stands in for an encode: same bytes each run
        poster = out_dir / "poster.jpg"
        Image.fromarray(frames[0]).save(poster, quality=80)
        return [
            LocalAsset(kind="video", path=str(video), content_type="video/mp4"),
            LocalAsset(kind="poster_jpeg", path=str(poster), content_type="image/jpeg"),
        ]

    # The steps call these names from their module, so the fast path replaces them there.
    steps.check_clip = check_clip
    steps.check_delivered = check_delivered
    steps.encode_variants = encode_variants


def draw_catalog(folder: Path, n_skus: int) -> Path:
    """n distinct tiny photos (so no two SKUs share a work item) and a CSV."""
    from PIL import Image

    images = folder / "images"
    images.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    lines = ["sku,image,title"]
    for n in range(n_skus):
        pixels = np.full((60, 48, 3), 235, np.uint8)
        pixels[10:50, 8:40] = rng.integers(0, 255, 3, dtype=np.uint8)
        pixels[0, 0] = [n % 256, (n // 256) % 256, 0]  # distinct content per SKU
        Image.fromarray(pixels).save(images / f"p{n}.png", compress_level=1)
        lines.append(f"SKU-{n:05d},images/p{n}.png,item {n}")
    csv = folder / "catalog.csv"
    csv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return csv


class Sampler(threading.Thread):
    """Samples this process's RSS and the server's /api/health once a second."""

    def __init__(self, api_url: str):
        super().__init__(daemon=True)
        import psutil

        self.proc = psutil.Process()
        self.api_url = api_url
        self.stop_event = threading.Event()
        self.peak_rss = 0
        self.health_ms: list[float] = []
        self.health_failures = 0

    def run(self) -> None:
        while not self.stop_event.is_set():
            self.peak_rss = max(self.peak_rss, self.proc.memory_info().rss)
            started = time.perf_counter()
            try:
                with urllib.request.urlopen(f"{self.api_url}/health", timeout=5) as response:
                    ok = response.status == 200
            except OSError:
                ok = False
            if ok:
                self.health_ms.append(1000 * (time.perf_counter() - started))
            else:
                self.health_failures += 1
            self.stop_event.wait(1.0)


def count_task_runs(api_url: str, flow_run_id: Any) -> int:
    body = json.dumps({"flow_runs": {"id": {"any_": [str(flow_run_id)]}}}).encode()
    request = urllib.request.Request(
        f"{api_url}/task_runs/count", data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return int(json.loads(response.read()))


def run_scale(n_skus: int, batch_size: int, tmp: Path, api_url: str) -> dict:
    from flows.catalog_run import catalog_run

    catalog = draw_catalog(tmp / f"catalog-{n_skus}", n_skus)
    presets = tmp / "presets.yaml"
    presets.write_text(PRESETS, encoding="utf-8")
    settings = tmp / f"settings-{n_skus}.yaml"
    settings.write_text(
        json.dumps(
            {
                "presets_file": str(presets),
                "orchestration": {
                    "batch_size": batch_size,
                    "max_workers": 1,
                    "max_inflight_batches": 4,
                    "progress_every_s": 5.0,
                },
            }
        )
    )
    out = tmp / f"out-{n_skus}"
    sampler = Sampler(api_url)
    sampler.start()
    started = time.perf_counter()
    state = catalog_run(catalog=str(catalog), out=str(out), settings_file=str(settings), return_state=True)
    wall = time.perf_counter() - started
    sampler.stop_event.set()
    sampler.join()
    summary = state.result()
    flow_run_id = state.state_details.flow_run_id
    manifest = json.loads((out / "runs" / summary["run_id"] / "manifest.json").read_text())
    keys = {(r["sku"], r["preset"]) for r in manifest["rows"]}
    recorded = 0
    for _ in range(30):  # task-run states arrive asynchronously; wait until the count settles
        recorded = count_task_runs(api_url, flow_run_id)
        if recorded >= summary["task_runs"] + 3:
            break
        time.sleep(2)
    health = sorted(sampler.health_ms)
    return {
        "skus": n_skus,
        "work_items": summary["items"],
        "manifest_rows": len(manifest["rows"]),
        "distinct_outcomes": len(keys),
        "statuses": manifest["counts"],
        "flow_wall_s": round(wall, 1),
        "task_runs_submitted": summary["task_runs"] + 3,
        "task_runs_recorded": recorded,
        "peak_rss_mb": round(sampler.peak_rss / 2**20, 1),
        "server_health": {
            "samples": len(health) + sampler.health_failures,
            "failures": sampler.health_failures,
            "p50_ms": round(health[len(health) // 2], 1) if health else None,
            "max_ms": round(health[-1], 1) if health else None,
        },
        "catalog": str(catalog),
        "settings": str(settings),
    }


def plain_per_item(catalog: str, settings_file: str, out: Path, limit_items: int) -> float:
    """Seconds per item of the same stage functions in a plain loop (no Prefect), on a subset."""
    from benchmarks.bench_pipeline import plain_run_setup, run_items_plainly

    started = time.perf_counter()
    items, ctx, _ = plain_run_setup(catalog, out, settings_file, None)
    items = items[:limit_items]
    run_items_plainly(items, ctx)
    return (time.perf_counter() - started) / max(len(items), 1)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skus", type=int, default=10_000, help="SKUs (x3 presets = work items)")
    parser.add_argument("--small-skus", type=int, default=1_000, help="a smaller run to compare peak memory")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--plain-items", type=int, default=1_500, help="items of the plain-loop baseline")
    args = parser.parse_args(argv if argv is not None else [])

    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
    install_fast_path()
    from flows.server import flush_prefect_clients, start_prefect_server, stop_prefect_server

    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp_name:
        tmp = Path(tmp_name)
        server = start_prefect_server(tmp / "prefect")
        os.environ.update(server.env)
        try:
            from prefect.context import refresh_global_settings_context

            refresh_global_settings_context()
            small = run_scale(args.small_skus, args.batch_size, tmp, server.url)
            large = run_scale(args.skus, args.batch_size, tmp, server.url)
        finally:
            flush_prefect_clients()  # else queued logs retry against a stopped server for minutes
            stop_prefect_server(server)
        per_item_plain = plain_per_item(large["catalog"], large["settings"], tmp / "plain", args.plain_items)

    per_item_flow = large["flow_wall_s"] / max(large["work_items"], 1)
    result = {
        "benchmark": "scale",
        "large": {k: v for k, v in large.items() if k not in ("catalog", "settings")},
        "small": {k: v for k, v in small.items() if k not in ("catalog", "settings")},
        "batch_size": args.batch_size,
        "flow_s_per_item_ms": round(1000 * per_item_flow, 2),
        "plain_loop_s_per_item_ms": round(1000 * per_item_plain, 2),
        "orchestration_overhead_per_item_ms": round(1000 * (per_item_flow - per_item_plain), 2),
        "targets": {"overhead_ms_lt": 20, "peak_rss_mb_lt": 2048},
        "all_outcomes_recorded": large["distinct_outcomes"] == large["work_items"] == large["manifest_rows"],
        "all_task_runs_recorded": large["task_runs_recorded"] >= large["task_runs_submitted"],
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "scale.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(
        f"scale: {large['work_items']} items in {large['flow_wall_s']} s; rows {large['manifest_rows']}; task runs "
        f"{large['task_runs_recorded']}/{large['task_runs_submitted']}; overhead "
        f"{result['orchestration_overhead_per_item_ms']} ms/item; peak RSS {small['peak_rss_mb']} MB "
        f"({small['work_items']} items) -> {large['peak_rss_mb']} MB ({large['work_items']} items); "
        f"health failures {large['server_health']['failures']}"
    )
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
