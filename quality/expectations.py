"""great-expectations suite over a run's QC table: scores within bounds, a pass-rate floor, no missing
scores. Writes Data Docs HTML for the run; the flow fails its validation task when `success` is False."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from catalog_motion.expectations import run_suite
from quality.table import CORE_SCORES

# score -> (min, max): every score the gate writes is bounded by its definition (docs/QUALITY.md)
BOUNDS: dict[str, tuple[float, float | None]] = {
    "drift": (0.0, 1.0),
    "drift_last": (0.0, 1.0),
    "drift_mean": (0.0, 1.0),
    "drift_structure": (0.0, 1.0),
    "drift_colour": (0.0, 1.0),
    "drift_texture": (0.0, 1.0),
    "drift_deformation": (0.0, 1.0),
    "colour_de": (0.0, 100.0),
    "flicker": (0.0, None),
    "warp_error": (0.0, 1.0),
    "flashes_per_s": (0.0, None),
    "black_frames": (0.0, None),
    "frozen_s": (0.0, None),
    "loop_seam": (0.0, None),
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
    result = run_suite("qc_table", expectations, scalar, docs_dir)
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
        "evaluated_expectations": evaluated,
        "successful_expectations": successful,
        "unsuccessful_expectations": evaluated - successful,
        "rows": int(len(frame)),
        "pass_rate": float(frame["passed_rate"].mean()) if len(frame) else 0.0,
    }
    index = docs_dir / "index.html"
    return QCValidation(
        success=bool(result.success),
        statistics=stats,
        docs_index_path=index if index.exists() else None,
        failed_expectations=failed,
    )
