"""great-expectations suite over a run's QC table: scores within bounds, a pass-rate floor, no missing
scores. Writes Data Docs HTML for the run; the flow fails its validation task when `success` is False."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from quality.table import CORE_SCORES

_LOCK = threading.Lock()  # an ephemeral GX context is not safe to build from several threads at once
# score -> (min, max): every score the gate writes is bounded by its definition (docs/QUALITY.md)
BOUNDS: dict[str, tuple[float, float | None]] = {
    "drift": (0.0, 1.0), "drift_last": (0.0, 1.0), "drift_mean": (0.0, 1.0), "drift_structure": (0.0, 1.0),
    "drift_colour": (0.0, 1.0), "drift_texture": (0.0, 1.0), "drift_deformation": (0.0, 1.0),
    "colour_de": (0.0, 100.0), "flicker": (0.0, None), "warp_error": (0.0, 1.0), "flashes_per_s": (0.0, None),
    "black_frames": (0.0, None), "frozen_s": (0.0, None), "loop_seam": (0.0, None),
}


@dataclass
class QCValidation:
    success: bool
    statistics: dict = field(default_factory=dict)
    docs_index_path: Path | None = None
    failed_expectations: list[str] = field(default_factory=list)


def validate_qc_table(df: pd.DataFrame, docs_dir: str | Path, *, min_pass_rate: float = 0.5) -> QCValidation:
    """Validate a QC table (``quality.table``) and build Data Docs under `docs_dir`.

    Expectations: every core score present and non-null, within its bounds, `passed` boolean, and the
    share of passed clips at least `min_pass_rate` (a run where most clips fail points at a broken
    engine or wrong thresholds, not at bad photos)."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    docs_dir = Path(docs_dir)
    docs_dir.mkdir(parents=True, exist_ok=True)
    frame = df.copy()
    for name in CORE_SCORES:
        if name not in frame.columns:
            frame[name] = pd.Series([None] * len(frame), dtype="float64")
    frame["passed_rate"] = frame["passed"].astype(float) if "passed" in frame.columns else float("nan")
    # GX serialises results to JSON: keep only scalar columns (per-frame curves stay in the Parquet file)
    scalar = frame[[c for c in frame.columns if not c.startswith("curve_")]]
    E = gx.expectations
    expectations = [E.ExpectTableRowCountToBeBetween(min_value=1)]
    for name in CORE_SCORES:
        low, high = BOUNDS[name]
        expectations.append(E.ExpectColumnValuesToNotBeNull(column=name))
        expectations.append(E.ExpectColumnValuesToBeBetween(column=name, min_value=low, max_value=high))
    expectations.append(E.ExpectColumnValuesToNotBeNull(column="passed_rate"))
    expectations.append(E.ExpectColumnMeanToBeBetween(column="passed_rate", min_value=min_pass_rate, max_value=1.0))
    with _LOCK:
        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        context.add_data_docs_site(
            site_name="qc_site",  # 'local_site' is taken by the ephemeral context's defaults
            site_config={
                "class_name": "SiteBuilder",
                "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            },
        )
        batch = context.data_sources.add_pandas("qc").add_dataframe_asset("qc_table") \
            .add_batch_definition_whole_dataframe("all")
        suite = context.suites.add(gx.ExpectationSuite(name="qc_table"))
        for expectation in expectations:
            suite.add_expectation(expectation)
        definition = context.validation_definitions.add(gx.ValidationDefinition(name="qc_table", data=batch,
                                                                                suite=suite))
        checkpoint = context.checkpoints.add(gx.Checkpoint(
            name="qc_table", validation_definitions=[definition],
            actions=[gx.checkpoint.UpdateDataDocsAction(name="docs", site_names=["qc_site"])],
        ))
        result = checkpoint.run(batch_parameters={"dataframe": scalar})
    failed: list[str] = []
    evaluated = successful = 0
    for run in result.run_results.values():
        for res in run.results:
            evaluated += 1
            if res.success:
                successful += 1
                continue
            cfg = res.expectation_config
            failed.append(f"{cfg.type}({cfg.kwargs.get('column', '')})")
    stats = {
        "evaluated_expectations": evaluated, "successful_expectations": successful,
        "unsuccessful_expectations": evaluated - successful, "rows": int(len(frame)),
        "pass_rate": float(frame["passed_rate"].mean()) if len(frame) else 0.0,
    }
    index = docs_dir / "index.html"
    return QCValidation(success=bool(result.success), statistics=stats,
                        docs_index_path=index if index.exists() else None, failed_expectations=failed)
