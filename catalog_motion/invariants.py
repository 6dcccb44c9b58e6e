"""Invariants every finished run must satisfy, checked by the flow itself after writing the manifest.

1. Accounting: exactly one manifest row per (sku, preset) of the catalog and selected presets - valid
   SKUs their outcome, SKUs with only refused rows an `invalid` row, rows with no SKU an `invalid` row
   each (named by position); other rows of a repeated SKU are notes on its row (`ignored_rows`, see
   catalog_motion.planning.fold_refusals) - and no manifest row comes from nowhere.
2. Storage: every asset a published (or skipped, i.e. still standing) row names is stored in the sink
   with the recorded size and SHA-256; rows with other outcomes name no asset.
3. Quality: no published clip's recorded QC scores break its preset's thresholds (re-judged here from the
   scores the manifest carries, independently of the gate's verdict), and no score is NaN.
4. No orphans: no stored asset is unaccounted for - every object under the sink is named by a retained
   run manifest, or is still pending for another run sharing the sink. The caller lists the unaccounted
   keys after writing the manifest (publishing.orphans.unaccounted; this module does not read the sink's
   listing itself) and each becomes an `orphan` violation.

`check_run_invariants` never raises on a violation: it returns an `InvariantReport`; the caller decides
(the flow fails the run loudly, after the manifest is written, so operators see what is wrong).
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field

from catalog_motion.errors import CatalogMotionError
from catalog_motion.planning import fold_refusals
from catalog_motion.types import STANDING, ManifestRow

ViolationKind = Literal["missing", "duplicate", "unexpected", "not_invalid", "object", "stray_assets", "qc", "orphan"]
MAX_LISTED = 50  # violations kept in the report; counts stay complete


class InvariantViolation(BaseModel):
    kind: ViolationKind
    sku: str | None = None
    preset: str | None = None
    detail: str


class InvariantReport(BaseModel):
    """Outcome of the invariant check on one run's manifest."""

    ok: bool
    expected_rows: int = Field(description="Manifest rows the catalog and presets call for")
    manifest_rows: int = Field(description="Rows checked")
    objects_checked: int = 0
    counts: dict[str, int] = Field(default_factory=dict, description="Violations per kind (complete)")
    violations: list[InvariantViolation] = Field(default_factory=list, description=f"The first {MAX_LISTED} violations")

    def summary(self) -> dict[str, Any]:
        """A small JSON-friendly digest for run summaries and artifacts."""
        return {
            "ok": self.ok,
            "expected_rows": self.expected_rows,
            "manifest_rows": self.manifest_rows,
            "objects_checked": self.objects_checked,
            "violations": dict(self.counts),
            "first": self.violations[0].detail if self.violations else "",
        }

    def message(self) -> str:
        """One line for an operator."""
        if self.ok:
            return f"invariants hold: {self.manifest_rows} row(s), {self.objects_checked} object(s) verified"
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(self.counts.items()))
        first = self.violations[0]
        return f"run invariants violated ({kinds}); first: {first.sku}/{first.preset}: {first.detail}"


class InvariantError(CatalogMotionError):
    """Raised by the flow (after writing the manifest) when a run breaks its invariants."""

    def __init__(self, report: InvariantReport):
        super().__init__(report.message())
        self.report = report


def _row_key(sku: str | None, row_index: int) -> str:
    # Same naming as tasks.items.invalid_rows: refused rows without an SKU are named by position.
    return sku if sku else f"<row {row_index}>"


def expected_rows(catalog_load: Any, preset_names: Sequence[str]) -> Counter:
    """(sku, preset, kind) -> how many manifest rows the catalog calls for; kind is 'valid' or 'invalid'.

    Each SKU counts once, however many rows name it (the rule of `fold_refusals`).
    """
    expected: Counter = Counter()
    seen: set[str] = set()
    for row in getattr(catalog_load, "rows", []):
        if row.sku in seen:
            continue
        seen.add(row.sku)
        for preset in preset_names:
            expected[(row.sku, preset, "valid")] += 1
    standalone, _ = fold_refusals(getattr(catalog_load, "refused", []), seen)
    for outcome in standalone:
        for preset in preset_names:
            expected[(_row_key(outcome.sku, outcome.row_index), preset, "invalid")] += 1
    return expected


def qc_problems(scores: dict[str, float], qc: Any) -> list[str]:
    """Why recorded scores fail thresholds `qc` (a QCThresholds); [] when they pass."""
    problems = []
    if not scores:
        return ["no QC scores recorded"]
    for name, value in scores.items():
        if isinstance(value, float) and math.isnan(value):
            problems.append(f"score {name} is NaN")
    limits = (
        ("drift", qc.max_subject_drift),
        ("flicker", qc.max_flicker),
        ("warp_error", qc.max_warp_error),
        ("flashes_per_s", qc.max_flashes_per_second),
        ("black_frames", qc.max_black_frames),
    )
    for name, limit in limits:
        value = scores.get(name)
        if value is None:
            if name in ("drift", "flicker"):
                problems.append(f"score {name} missing")
            continue
        if value > limit:
            problems.append(f"{name} {value:.4g} > {limit:g}")
    return problems


def _object_problem(sink: Any, asset: Any, deep: bool) -> str | None:
    if not asset.key:
        return f"asset {asset.uri} has no key"
    try:
        if not sink.verify(asset.key, asset.size, asset.sha256):
            return f"object {asset.key} missing or differs from the manifest (size/sha256)"
        if deep and hashlib.sha256(sink.get_bytes(asset.key)).hexdigest() != asset.sha256:
            return f"object {asset.key}: content does not hash to the recorded sha256"
    except (CatalogMotionError, ValueError, OSError) as exc:
        return (
            f"object {asset.key} could not be checked: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        )
    return None


def check_run_invariants(
    catalog_load: Any,
    presets: Sequence[Any],
    manifest_rows: Iterable[ManifestRow],
    sink: Any,
    *,
    carried: Iterable[tuple[str, str]] = (),
    verify_objects: bool = True,
    deep: bool = False,
    orphans: Sequence[str] = (),
) -> InvariantReport:
    """Check one run's manifest against its catalog, presets and sink (see the module docstring).

    catalog_load: a CatalogLoad (or anything with `rows` and `refused`) as the run planned it, after any
    SKU filter. presets: the selected Preset objects (or names; QC is then not re-judged). sink: a
    publishing Sink (`verify`, `get_bytes`). carried: (sku, preset) rows a partial run copied from the
    previous manifest; they are not catalog rows of this run but are still checked for storage and
    uniqueness. deep: also download each object and hash its content (slow; tests and audits).
    orphans: keys stored in the sink that no manifest names (found by the caller after writing the
    manifest); each is an `orphan` violation.
    """
    names = [p if isinstance(p, str) else p.name for p in presets]
    thresholds = {p.name: p.qc for p in presets if not isinstance(p, str)}
    carried_keys = set(carried)
    counts: Counter = Counter()
    # Kept apart and joined at the end so the listed violations come in the same order as a two-pass
    # check would list them (accounting first, then storage and quality) while the rows are read once.
    accounting: list[InvariantViolation] = []
    storage: list[InvariantViolation] = []

    def add(into: list[InvariantViolation], kind: str, sku: str | None, preset: str | None, detail: str) -> None:
        counts[kind] += 1
        if len(into) < MAX_LISTED:
            into.append(InvariantViolation(kind=kind, sku=sku, preset=preset, detail=detail))

    # Settled slots stay in the Counter at 0, so "the catalog calls for this row" is `slot in remaining`
    # (no second copy of a whole catalog's expectations).
    remaining = expected_rows(catalog_load, names)
    n_expected = sum(remaining.values())
    standing: Counter = Counter()
    n_rows = checked = 0
    # One pass over the rows (a stream: a whole catalog's manifest need not be in memory).
    for row in manifest_rows:
        n_rows += 1
        # 1. accounting ---------------------------------------------------------------------------
        if row.status in STANDING:
            standing[(row.sku, row.preset)] += 1
        if (row.sku, row.preset) not in carried_keys:
            valid, invalid = (row.sku, row.preset, "valid"), (row.sku, row.preset, "invalid")
            # An invalid row settles a refused-row expectation first; any other outcome settles the valid one.
            # (A live row kept after this run refused its catalog row has outcome `invalid`.)
            order = (invalid, valid) if (row.outcome or row.status) == "invalid" else (valid,)
            for slot in order:
                if remaining[slot] > 0:
                    remaining[slot] -= 1
                    break
            else:
                if remaining[invalid] > 0:
                    add(
                        accounting,
                        "not_invalid",
                        row.sku,
                        row.preset,
                        f"refused catalog row ended {row.status}, not invalid",
                    )
                    remaining[invalid] -= 1
                elif valid in remaining or invalid in remaining:
                    add(
                        accounting,
                        "duplicate",
                        row.sku,
                        row.preset,
                        f"more than one manifest row (extra one {row.status})",
                    )
                else:
                    add(
                        accounting,
                        "unexpected",
                        row.sku,
                        row.preset,
                        f"manifest row ({row.status}) matches no catalog row",
                    )
        # 2. storage and 3. quality -------------------------------------------------------------------
        if row.status not in STANDING:
            if row.assets or row.video:
                add(storage, "stray_assets", row.sku, row.preset, f"{row.status} row names stored assets")
            continue
        if row.status == "published":
            if not any(a.kind.startswith("video") for a in row.assets):
                add(storage, "object", row.sku, row.preset, "published row has no video asset")
            elif row.video not in {a.uri for a in row.assets}:
                add(storage, "object", row.sku, row.preset, "video link is not one of the row's assets")
            # Re-judged: clips this run published. A row kept live from an earlier run was judged by that
            # run's thresholds (a stricter preset makes the item regenerate, not the live clip vanish).
            # A reviewer's approval overrides the gate for that clip, except photosensitivity (never approvable).
            approved = row.review is not None and row.review.decision == "approve"
            qc = None if row.unchanged else thresholds.get(row.preset)
            if qc is not None:
                for problem in qc_problems(row.qc, qc):
                    if not approved or problem.startswith("flashes_per_s"):
                        add(storage, "qc", row.sku, row.preset, f"published clip fails QC: {problem}")
        if verify_objects:
            for asset in row.assets:
                checked += 1
                problem = _object_problem(sink, asset, deep)
                if problem:
                    add(storage, "object", row.sku, row.preset, problem)
    for (sku, preset, kind), left in sorted(remaining.items()):
        for _ in range(left):
            add(
                accounting,
                "missing",
                sku,
                preset,
                f"no manifest row for this {'refused ' if kind == 'invalid' else ''}catalog row",
            )
    for (sku, preset), n in standing.items():
        if n > 1:
            add(accounting, "duplicate", sku, preset, f"{n} standing (published/skipped) rows for one (sku, preset)")
    for key in orphans:
        parts = key.split("/")
        sku, preset = (parts[0], parts[1]) if len(parts) == 3 else (None, None)
        add(storage, "orphan", sku, preset, f"object {key} is stored but no manifest names it")
    violations = (accounting + storage)[:MAX_LISTED]

    return InvariantReport(
        ok=not counts,
        expected_rows=n_expected,
        manifest_rows=n_rows,
        objects_checked=checked,
        counts=dict(counts),
        violations=violations,
    )
