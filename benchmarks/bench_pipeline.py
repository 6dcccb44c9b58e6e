"""Per-stage time on the sample catalog and the orchestration overhead per work item.

The same work runs twice into separate output folders: once as a plain Python loop over the stage
functions (pipeline/steps.py, no Prefect), once as the `catalog_run` flow against a real local Prefect
server. Overhead per item = (flow wall time - loop wall time) / work items.

    python -m benchmarks.bench_pipeline [--small] [--catalog CSV] [--presets-file F]
writes benchmarks/results/pipeline.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"

SMALL_PRESETS = """
presets:
  product-page: {aspect: "4:5", width: 216, height: 270, duration_s: 1.0, fps: 12, loop: true,
                 motion: {path: breathing, amount: 0.25},
                 encodings: [{format: mp4-h264, crf: 23, preset: veryfast}, {format: poster-jpeg}]}
  close-up: {aspect: "1:1", width: 216, height: 216, duration_s: 1.0, fps: 12,
             motion: {path: push_in, amount: 0.35, focus: detail},
             encodings: [{format: mp4-h264, crf: 23, preset: veryfast}, {format: poster-jpeg}]}
"""


def _sample_catalog(workdir: Path) -> Path:
    sample = ROOT / "samples" / "catalog" / "catalog.csv"
    if sample.exists():
        return sample
    from catalog_connectors.samples import draw_sample_catalog

    return draw_sample_catalog(workdir / "catalog")


def run_items_plainly(items: list, ctx) -> list:
    """Work items through the same stage functions and batches as the flow, in a plain loop (no Prefect);
    writes the manifest and returns its rows. The baseline both orchestration benchmarks compare against."""
    from pipeline import steps
    from pipeline.batching import batch_states
    from pipeline.driver import next_stage
    from pipeline.outputs import sink_for
    from pipeline.recording import state_rows
    from publishing.manifest import ManifestStore

    functions = {
        "fetch": steps.fetch_batch,
        "generate": steps.generate_batch,
        "check": steps.check_batch,
        "publish": steps.publish_batch,
    }
    rows = []
    for batch in batch_states(items, ctx.settings.orchestration.batch_size, {}):
        stage = "fetch"
        while stage:
            batch = functions[stage](batch, ctx)
            stage = next_stage(stage, batch)
        rows += [r for s in batch for r in state_rows(s)]
    ManifestStore(sink_for(ctx.settings.sink)).write_run("plain", rows, on_missing="fail_row")
    return rows


def plain_run_setup(catalog: str, out: Path, settings_file: str | None, presets_file: str | None):
    """What a run has before its first batch, without Prefect: (work items, RunContext, seconds to load)."""
    from catalog_connectors.sources import load_catalog
    from catalog_motion.planning import plan_items
    from catalog_motion.presets import load_presets, select_presets
    from catalog_motion.settings import resolve_run_settings
    from pipeline.state import RunContext

    settings = resolve_run_settings(str(out), settings_file, presets_file)
    selected = select_presets(load_presets(settings.presets_file), None)
    t0 = time.perf_counter()
    load = load_catalog(catalog, settings.intake)
    load_s = time.perf_counter() - t0
    items, _ = plan_items(list(load.rows), selected)
    ctx = RunContext(
        run_id="plain",
        catalog=catalog,
        out=str(out),
        work_dir=settings.work_dir,
        settings=settings,
        presets={p.name: p for p in selected},
        catalog_dir=str(Path(catalog).resolve().parent),
    )
    return items, ctx, load_s


def run_plain(catalog: str, out: Path, presets_file: str | None) -> dict:
    """The pipeline as a plain loop: same stage functions, same batches, no Prefect."""
    started = time.perf_counter()
    items, ctx, load_s = plain_run_setup(catalog, out, None, presets_file)
    rows = run_items_plainly(items, ctx)
    return {"seconds": time.perf_counter() - started, "load_s": load_s, "rows": rows, "items": len(items)}


def stage_totals(rows: list) -> dict[str, float]:
    totals: dict[str, float] = defaultdict(float)
    seen = set()
    for row in rows:
        key = (row.key, row.preset)  # SKUs sharing a photo share one item's timings
        if key in seen:
            continue
        seen.add(key)
        for stage, seconds in row.timings.items():
            totals[stage] += seconds
    return {k: round(v, 3) for k, v in sorted(totals.items())}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", help="catalog CSV (default: the sample catalog)")
    parser.add_argument("--presets-file", help="presets YAML (default: packaged presets, full size)")
    parser.add_argument("--small", action="store_true", help="small derived presets (216 px, 1 s): a quick run")
    args = parser.parse_args(argv if argv is not None else [])

    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
    from flows.server import flush_prefect_clients, start_prefect_server, stop_prefect_server

    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        tmp_path = Path(tmp)
        catalog = args.catalog or str(_sample_catalog(tmp_path))
        presets_file = args.presets_file
        if args.small and not presets_file:
            presets_file = str(tmp_path / "small.yaml")
            Path(presets_file).write_text(SMALL_PRESETS, encoding="utf-8")

        plain = run_plain(catalog, tmp_path / "plain", presets_file)

        server = start_prefect_server(tmp_path / "prefect")
        os.environ.update(server.env)
        try:
            from prefect.context import refresh_global_settings_context

            refresh_global_settings_context()
            from flows.catalog_run import catalog_run

            started = time.perf_counter()
            summary = catalog_run(catalog=catalog, out=str(tmp_path / "flow"), presets_file=presets_file)
            flow_s = time.perf_counter() - started
            from catalog_motion.settings import SinkSettings
            from publishing.manifest import ManifestStore
            from publishing.sinks import make_sink

            flow_rows = ManifestStore(make_sink(SinkSettings(uri=str(tmp_path / "flow")))).read_run(summary["run_id"])
        finally:
            flush_prefect_clients()
            stop_prefect_server(server)

    items = plain["items"]
    result = {
        "benchmark": "pipeline",
        "catalog": catalog if args.catalog else "sample catalog",
        "presets": "small (216 px, 1 s)" if args.small else (presets_file or "packaged (full size)"),
        "work_items": items,
        "manifest_rows": len(plain["rows"]),
        "plain_loop_s": round(plain["seconds"], 3),
        "flow_s": round(flow_s, 3),
        "flow_task_runs": summary["task_runs"],
        "orchestration_overhead_per_item_ms": round(1000 * (flow_s - plain["seconds"]) / max(items, 1), 1),
        "stage_seconds_plain": {"load": round(plain["load_s"], 3), **stage_totals(plain["rows"])},
        "stage_seconds_flow": stage_totals(flow_rows),
        "statuses_flow": summary["counts"].get("total", {}),
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "pipeline.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(
        f"pipeline: {items} items, plain loop {result['plain_loop_s']:.1f} s, flow {result['flow_s']:.1f} s, "
        f"overhead {result['orchestration_overhead_per_item_ms']:.0f} ms/item; "
        f"stages (plain) {result['stage_seconds_plain']}"
    )
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
