"""What the stage steps pass each other: the run's context and each work item's progress.

Both are small pydantic records (paths and facts, never frames) so they travel to threads, processes
and Dask workers alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from catalog_motion.paths import is_uri
from catalog_motion.presets import Preset
from catalog_motion.settings import RunSettings
from catalog_motion.types import Asset, ClipRef, ManifestRow, QCReport, Status, WorkItem
from quality.verdict import Attempt, Verdict


class RunContext(BaseModel):
    """What every task of one run needs to know, resolved once by the flow."""

    run_id: str
    catalog: str = Field(description="Catalog source as given")
    catalog_dir: str | None = Field(default=None, description="Folder of a local catalog file (relative photos)")
    out: str = Field(description="Local output root (published files when the sink is local, review queue)")
    work_dir: str = Field(description="Scratch folder: fetched photos, master clips, encodes, journal")
    settings: RunSettings
    presets: dict[str, Preset] = Field(description="The selected presets, by name")
    full: bool = False

    @property
    def work(self) -> Path:
        return Path(self.work_dir)

    @property
    def review_root(self) -> Path:
        return Path(self.out) / "review"

    @property
    def run_root(self) -> Path:
        """Local folder for this run's reports (QC report, Data Docs): under `out`, or the work folder
        when `out` is remote (the manifest and QC table still go through the sink)."""
        base = self.work if is_uri(self.out) else Path(self.out)
        return base / "runs" / self.run_id

    @property
    def qc_report_root(self) -> Path:
        return self.run_root / "qc-report"


class ItemState(BaseModel):
    """One work item on its way through the pipeline; `status` is set once it has an outcome."""

    item: WorkItem
    status: Status | None = None
    reason: str = ""
    clip: ClipRef | None = None
    qc: QCReport | None = Field(default=None, description="Latest verdict, per-frame curves dropped")
    attempt_history: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Every checked attempt: what it asked the engine (seed, motion and duration scale, the engine's "
        "own attempt controls) and its verdict; the manifest row's params.attempts",
    )
    assets: dict[str, list[Asset]] = Field(default_factory=dict, description="Published assets per SKU")
    motion_scale: float = 1.0
    duration_scale: float = 1.0
    regenerate: bool = Field(default=False, description="Failed QC in a way worth asking for less")
    checked_attempt: int = Field(default=-1, description="Attempt whose clip was last checked")
    previous: list[ManifestRow] = Field(
        default_factory=list, description="Rows of the previous manifest (skipped items keep their assets)"
    )
    timings: dict[str, float] = Field(default_factory=dict)
    qc_rows: list[dict] = Field(
        default_factory=list, description="QC table rows (quality.table.qc_rows), one per checked attempt"
    )
    worker_pids: list[int] = Field(default_factory=list, description="Processes that ran this item's stages")
    sku_failures: dict[str, str] = Field(
        default_factory=dict,
        description="SKUs sharing this item's photo whose own publish failed (reason); the others still publish",
    )

    @property
    def done(self) -> bool:
        return self.status is not None

    @property
    def attempt(self) -> Attempt:
        return Attempt(
            number=self.item.attempt,
            seed=self.item.seed,
            motion_scale=self.motion_scale,
            duration_scale=self.duration_scale,
        )

    def record_qc(self, report: QCReport) -> None:
        """Keep the latest verdict (per-frame curves dropped: they are in the QC table) and its scores."""
        self.qc = report.model_copy(update={"per_frame": {}})
        controls = (self.clip.params if self.clip else {}).get("attempt_controls", {})
        self.attempt_history.append(
            {
                "attempt": self.item.attempt,
                "seed": self.item.seed,
                "motion_scale": self.motion_scale,
                "duration_scale": self.duration_scale,
                "controls": controls,
                "passed": report.passed,
                "failed_checks": list(report.failed_checks),
            }
        )

    def apply_verdict(self, verdict: Verdict) -> None:
        """Act on the QC verdict of the latest attempt: publish next, generate again asking for less
        (quality.verdict.judge chose the next attempt), or reject."""
        if verdict.decision == "retry" and verdict.retry is not None:
            attempt = verdict.retry
            self.item.attempt, self.item.seed = attempt.number, attempt.seed
            self.motion_scale, self.duration_scale = attempt.motion_scale, attempt.duration_scale
            self.regenerate = True
            self.reason = verdict.reason
        elif verdict.decision == "reject":
            self.finish("rejected", verdict.reason)
        else:
            self.regenerate = False

    def finish(self, status: Status, reason: str = "") -> ItemState:
        self.status = status
        self.reason = reason
        self.regenerate = False
        return self

    def mark_worker(self) -> None:
        import os

        if os.getpid() not in self.worker_pids:
            self.worker_pids.append(os.getpid())

    def add_time(self, stage: str, seconds: float) -> None:
        self.timings[stage] = round(self.timings.get(stage, 0.0) + seconds, 4)
