"""Records that stages hand each other: references and small facts, never frame arrays."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Status = Literal["published", "rejected", "invalid", "failed", "skipped"]
"""Final outcome of one (sku, preset).

published: passed QC and stored. rejected: generated but failed QC after every allowed attempt (sent to
the review queue). invalid: the catalog row or its photo was refused. failed: an error in generation,
encoding or publishing that retries could not fix. skipped: unchanged since the published manifest
(incremental runs); the previous row's assets still stand.
"""

STANDING: tuple[Status, ...] = ("published", "skipped")
"""Statuses whose assets are live in the storefront. Runs write `published` (with `unchanged` for a row an
earlier run published); `skipped` is how manifests before 0.2 wrote an unchanged row."""


class CatalogRow(BaseModel):
    """One row of a brand's catalog after loading, before its photo is fetched."""

    model_config = ConfigDict(extra="forbid")

    row_index: int = Field(description="0-based position in the source, for error messages")
    sku: str = Field(description="Stock keeping unit id, unique within a catalog")
    image: str = Field(description="Main photo: a local path or a file://, http(s):// or s3:// URI")
    title: str | None = None
    color: str | None = None
    item_group_id: str | None = Field(default=None, description="Variants of one product share it")
    updated_at: str | None = None
    additional_images: list[str] = Field(default_factory=list)
    lifestyle_image: str | None = None
    extra: dict[str, Any] = Field(default_factory=dict, description="Source columns not modelled above")


class RowOutcome(BaseModel):
    """A catalog row refused before planning (it yields an `invalid` manifest row per preset)."""

    row_index: int
    sku: str | None
    reason: str


class WorkItem(BaseModel):
    """One (photo, preset) unit of generation. Variants sharing a photo share one work item."""

    model_config = ConfigDict(frozen=False)

    sku: str = Field(description="The SKU this item is generated for (the first of `skus`)")
    skus: list[str] = Field(default_factory=list, description="Every SKU published from this item")
    preset: str
    image: str = Field(description="Reference of the photo as given in the catalog")
    source_path: str | None = Field(default=None, description="Local normalised sRGB photo once fetched")
    source_sha256: str | None = None
    engine: str = "camera"
    seed: int = 0
    attempt: int = 0
    key: str | None = Field(default=None, description="Content key: photo hash + preset definition + engine identity")

    @property
    def item_id(self) -> str:
        return f"{self.sku}/{self.preset}"


class ClipRef(BaseModel):
    """A generated master clip on disk (lossless), plus the facts needed to check and encode it."""

    path: str
    fps: float
    n_frames: int
    width: int
    height: int
    engine: str
    seed: int
    attempt: int = 0
    params: dict[str, Any] = Field(default_factory=dict, description="Resolved engine parameters (provenance)")
    seconds: float = 0.0


class QCReport(BaseModel):
    """Verdict of the quality gate on one clip."""

    passed: bool
    scores: dict[str, float] = Field(default_factory=dict, description="Per-clip scores, flat names")
    reasons: list[str] = Field(default_factory=list, description="Why it failed; empty when passed")
    per_frame: dict[str, list[float]] = Field(default_factory=dict, description="Per-frame curves")
    seconds: float = 0.0
    failed_checks: list[str] = Field(
        default_factory=list,
        description="Stable names of failed checks (docs/QUALITY.md lists them and which are worth "
        "regenerating with less motion), in the order their reasons are listed.",
    )
    limits: dict[str, float] = Field(
        default_factory=dict, description="The limit each score was held to (score name -> limit)"
    )


class Asset(BaseModel):
    """One stored file of a published variant."""

    kind: str = Field(description="video | video_webm | poster_jpeg | poster_webp | ...")
    uri: str
    size: int
    sha256: str
    content_type: str
    key: str | None = Field(default=None, description="Key relative to the sink root (re-publishing, verification)")


class ReviewRecord(BaseModel):
    """A person's decision on a clip of the review queue (docs/REVIEW.md), as the manifest keeps it."""

    decision: Literal["approve", "reject", "regenerate"]
    reviewer: str = Field(description="Who decided (the Prefect UI form's or the CLI's --reviewer)")
    decided_at: str = Field(description="When, ISO 8601 UTC")
    note: str = Field(default="", description="The reviewer's note (for a rejection: the reason)")
    scores: dict[str, float] = Field(default_factory=dict, description="The QC scores the reviewer saw")
    failed_checks: list[str] = Field(default_factory=list, description="The failed checks the reviewer saw")
    queued_run: str | None = Field(default=None, description="Run that put the clip in the review queue")


class ManifestRow(BaseModel):
    """Exactly one per (sku, preset) of the catalog, whatever happened to it."""

    sku: str
    preset: str
    status: Status
    reason: str = ""
    video: str | None = None
    poster: str | None = None
    assets: list[Asset] = Field(default_factory=list)
    engine: str | None = None
    seed: int | None = None
    attempts: int = 0
    key: str | None = None
    source_sha256: str | None = None
    qc: dict[str, float] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict)
    timings: dict[str, float] = Field(default_factory=dict, description="Seconds per stage")
    ignored_rows: list[str] = Field(
        default_factory=list,
        description="Other catalog rows of this SKU that were not used, each 'row N: why' (an SKU repeated in "
        "the catalog is made once, from its first valid row)",
    )
    unchanged: bool = Field(
        default=False,
        description="The row's assets were published by an earlier run (`published_run`) and stay live: this run "
        "found the item unchanged, did not reach it, or could not replace it (`outcome` says which)",
    )
    published_run: str | None = Field(default=None, description="Run that stored the assets this row names")
    outcome: Status | None = Field(
        default=None,
        description="What this run did for a row whose earlier video stays live: skipped (unchanged), or the "
        "failed/rejected/invalid outcome of its attempt; None when this run did not attempt it",
    )
    review: ReviewRecord | None = Field(
        default=None, description="A person's decision on this row's clip (None: no one reviewed it)"
    )


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()
