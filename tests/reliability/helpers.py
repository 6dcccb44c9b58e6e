"""Helpers of the reliability suite: run the flow in-process (tests/reliability/killer.py runs it killably),
read back the manifest from any sink, and judge a run with the invariants (feeding the suite's counters)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from catalog_motion.invariants import InvariantReport, check_run_invariants
from catalog_motion.types import ManifestRow

REPO = Path(__file__).resolve().parents[2]


def run_flow(**params: Any) -> tuple[dict[str, Any] | None, Any, BaseException | None]:
    """Run catalog_run in-process: (summary or None, flow_run_id, exception or None). Never raises."""
    from flows.catalog_run import catalog_run

    state = catalog_run(**params, return_state=True)
    flow_run_id = state.state_details.flow_run_id
    try:
        return state.result(), flow_run_id, None
    except BaseException as exc:  # noqa: BLE001 - the caller judges a failed run
        return None, flow_run_id, exc


def make_sink(uri: str, endpoint_url: str | None = None) -> Any:
    from catalog_motion.settings import SinkSettings
    from publishing.sinks import make_sink as _make

    return _make(SinkSettings(uri=uri, endpoint_url=endpoint_url))


def latest_rows(sink: Any) -> list[ManifestRow]:
    from publishing.manifest import ManifestStore

    return ManifestStore(sink).read_latest()


def judge(
    results: Any,
    catalog: str | Path,
    presets: list[Any],
    rows: list[ManifestRow],
    sink: Any,
    *,
    intake: Any = None,
    deep: bool = True,
) -> InvariantReport:
    """Invariants of a finished manifest against a fresh load of the catalog, counted into the suite table."""
    from catalog_connectors.sources import load_catalog

    load = load_catalog(str(catalog), intake)
    report = check_run_invariants(load, presets, rows, sink, deep=deep)
    results.add("invariant_checks")
    results.add("items_lost", report.counts.get("missing", 0))
    results.add("duplicates", report.counts.get("duplicate", 0))
    # Published rows whose stored scores break their preset's limits (the gate's thresholds re-applied to its
    # own scores) or whose assets are wrong. Not "bad clips published": that is counted against injected,
    # labelled defects (tests/reliability/test_labelled_defects.py).
    results.add("qc_invariant_violations", report.counts.get("qc", 0))
    results.add("asset_invariant_violations", report.counts.get("object", 0))
    return report


def latest_regressions(before: list[ManifestRow], after: list[ManifestRow]) -> list[tuple[str, str]]:
    """(sku, preset) live in `before` but not in `after` (a storefront would have lost that video)."""
    live_after = {(r.sku, r.preset) for r in after if r.status in ("published", "skipped") and r.video}
    return sorted({(r.sku, r.preset) for r in before if r.status in ("published", "skipped")} - live_after)


def subprocess_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, **(extra or {})}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def file_snapshot(*roots: Path, exclude: tuple[Path, ...] = ()) -> set[str]:
    """Every file path under `roots` (not following symlinks), minus the excluded trees."""
    excluded = [e.resolve() for e in exclude]
    found: set[str] = set()
    for root in roots:
        root = root.resolve()
        for dirpath, dirnames, filenames in os.walk(root):
            here = Path(dirpath)
            if any(here == e or e in here.parents for e in excluded):
                dirnames[:] = []
                continue
            dirnames[:] = [d for d in dirnames if d not in (".git", "__pycache__", ".pytest_cache")]
            found.update(str(here / name) for name in filenames)
    return found
