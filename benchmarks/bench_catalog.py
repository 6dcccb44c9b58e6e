"""Catalog benchmark: a 10,000-row Merchant XML feed loads, validates (great-expectations) and plans.

Downloads are excluded: photo hashes for the keying step are the sha256 of each image reference, as
if every photo had been fetched. Each step is timed; memory is the process's peak RSS (what the OS
sees, native buffers and the libraries' import cost included; `rss_before_steps_mb` is the import share).
Incremental planning against the first plan's "published" manifest is timed too (it must plan nothing).
Targets: load + validate + plan < 10 s, peak RSS < 500 MB.

    .venv/bin/python benchmarks/bench_catalog.py [--rows 10000]
writes benchmarks/results/catalog.json and prints a summary.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from catalog_connectors import IntakeSettings, load_catalog  # noqa: E402
from catalog_motion.planning import key_item, plan_items  # noqa: E402
from catalog_motion.presets import load_presets  # noqa: E402
from catalog_motion.types import ManifestRow  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "catalog.json"


def write_feed(path: Path, rows: int) -> None:
    """A Merchant feed of `rows` variants: 4 sizes share each colour's photo, 3 extra photos per item."""
    with open(path, "w", encoding="utf-8") as out:
        out.write(
            '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" xmlns:g="http://base.google.com/ns/1.0">'
            "<channel><title>bench</title>\n"
        )
        for i in range(rows):
            group, size = divmod(i, 4)
            out.write(
                f"<item><g:id>SKU-{i:06d}</g:id><title><![CDATA[Product {group} & co, size {'SMLX'[size]}]]></title>"
                f"<g:image_link>https://cdn.example.com/p/{group:06d}.jpg</g:image_link>"
                + "".join(
                    f"<g:additional_image_link>https://cdn.example.com/p/{group:06d}-{k}.jpg</g:additional_image_link>"
                    for k in range(3)
                )
                + f"<g:color>colour-{group % 17}</g:color><g:size>{'SMLX'[size]}</g:size>"
                f"<g:item_group_id>G{group // 3}</g:item_group_id><g:price>19.99 EUR</g:price></item>\n"
            )
        out.write("</channel></rss>\n")


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the JSON results")
    args = parser.parse_args(argv)
    presets = load_presets()
    ids = {p.engine: f"{p.engine}/bench" for p in presets.values()}
    with tempfile.TemporaryDirectory() as tmp:
        feed = Path(tmp) / "feed.xml"
        write_feed(feed, args.rows)
        feed_mb = feed.stat().st_size / 1e6
        import great_expectations  # noqa: F401  (import cost is not catalog work; reported separately)

        from catalog_connectors.validation import validate_catalog

        rss_before = rss_mb()
        t0 = time.perf_counter()
        load = load_catalog(str(feed), IntakeSettings())
        t1 = time.perf_counter()
        checked = validate_catalog(load, Path(tmp) / "docs")
        t2 = time.perf_counter()
        # Both planning steps of a run: plan_items, then key_item per item once its photo is "fetched"
        # (a stand-in hash per reference: fetching is the intake benchmark's business).
        items, _ = plan_items(checked.rows, list(presets.values()))
        photos = list(dict.fromkeys(item.image for item in items))
        hashes = {ref: hashlib.sha256(ref.encode()).hexdigest() for ref in photos}
        for item in items:
            key_item(item, hashes[item.image], presets[item.preset], ids[item.engine], previous=[], full=False)
        t3 = time.perf_counter()
        previous = {
            (sku, i.preset): ManifestRow(sku=sku, preset=i.preset, status="published", key=i.key)
            for i in items
            for sku in i.skus
        }
        t4 = time.perf_counter()
        again, _ = plan_items(checked.rows, list(presets.values()))
        unchanged = [
            item
            for item in again
            if key_item(
                item,
                hashes[item.image],
                presets[item.preset],
                ids[item.engine],
                previous=[previous[(sku, item.preset)] for sku in item.skus],
                full=False,
            )
        ]
        t5 = time.perf_counter()
    total = t3 - t0
    result = {
        "rows": args.rows,
        "feed_mb": round(feed_mb, 2),
        "valid_rows": len(checked.rows),
        "refused_rows": len(checked.refused),
        "photos": len(photos),
        "work_items": len(items),
        "seconds": {
            "load": round(t1 - t0, 3),
            "validate": round(t2 - t1, 3),
            "plan_two_phase": round(t3 - t2, 3),
            "total": round(total, 3),
            "incremental_replan": round(t5 - t4, 3),
        },
        "incremental_items": len(again) - len(unchanged),
        "incremental_skipped_rows": sum(len(item.skus) for item in unchanged),
        "peak_rss_mb": round(rss_mb(), 1),
        "rss_before_steps_mb": round(rss_before, 1),
        "targets": {"total_s": 10, "peak_rss_mb": 500},
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
    }
    result["meets_targets"] = total < 10 and result["peak_rss_mb"] < 500 and result["incremental_items"] == 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    s = result["seconds"]
    print(
        f"catalog bench: {args.rows} rows ({feed_mb:.1f} MB feed) -> {len(checked.rows)} valid, "
        f"{len(items)} work items over {len(photos)} photos"
    )
    print(
        f"  load {s['load']:.2f} s, validate {s['validate']:.2f} s, plan {s['plan_two_phase']:.2f} s: "
        f"total {s['total']:.2f} s (target < 10 s)"
    )
    print(
        f"  peak RSS {result['peak_rss_mb']:.0f} MB "
        f"(target < 500; {result['rss_before_steps_mb']:.0f} MB after imports); "
        f"incremental re-plan {s['incremental_replan']:.2f} s -> {result['incremental_items']} items"
    )
    print(f"  meets targets: {result['meets_targets']}  -> {args.out}")
    return result


if __name__ == "__main__":
    main()
