"""Prefect side of the review flow: the per-clip artifacts and the typed decision form (a RunInput).

The form has one field per clip, named from its item (`field_name`) and titled `sku/preset`; a clip that
failed the photosensitivity check (WCAG 2.3.1) gets a decision without `approve`, so the form itself (the
server validates `run_input` against its schema) refuses an approval; pipeline/review.py refuses it again.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any, ClassVar, Literal

import cv2
from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.input import RunInput
from pydantic import BaseModel, Field, create_model

from pipeline.review import Decision, ReviewEntry, ReviewResult, apply_decisions

STRIP_HEIGHT = 120  # px of the filmstrip embedded in an artifact: enough to judge, small to send


class ClipDecision(BaseModel):
    """A reviewer's choice for one clip; `undecided` leaves it in the queue."""

    decision: Literal["undecided", "approve", "reject", "regenerate"] = Field(
        default="undecided", description="approve: publish it; reject: keep it unpublished; regenerate: ask for less"
    )
    note: str = Field(default="", description="Why (a rejection's reason)")


class FlashingClipDecision(BaseModel):
    """A clip that failed the photosensitivity check (WCAG 2.3.1): it cannot be approved."""

    decision: Literal["undecided", "reject", "regenerate"] = Field(
        default="undecided", description="It failed WCAG 2.3.1 flashes: reject it or regenerate it with less"
    )
    note: str = Field(default="", description="Why (a rejection's reason)")


class ReviewInputBase(RunInput):
    """The review form: who decides, then one decision per clip (fields added by `review_form`)."""

    reviewer: str = Field(description="Your name: the manifest records who decided")
    items: ClassVar[dict[str, str]] = {}

    def decisions(self) -> list[Decision]:
        """The decided clips of this answer, in form order (undecided ones left out)."""
        chosen = []
        for name, item in self.items.items():
            answer = getattr(self, name, None)
            if answer is not None and answer.decision != "undecided":
                chosen.append(Decision(item=item, decision=answer.decision, note=answer.note))
        return chosen


def field_name(item: str) -> str:
    """A form field name for an item: stable across the flow's re-run after resuming."""
    return "clip_" + re.sub(r"[^0-9A-Za-z]+", "_", item).strip("_").lower()


def review_form(entries: list[ReviewEntry]) -> type[ReviewInputBase]:
    """The RunInput model for these clips."""
    fields: dict[str, Any] = {}
    items: dict[str, str] = {}
    for entry in entries:
        name = field_name(entry.item_id)
        items[name] = entry.item_id
        model = FlashingClipDecision if entry.photosensitive else ClipDecision
        fields[name] = (
            model,
            Field(default_factory=model, title=entry.item_id, description=f"{entry.kind}: {entry.reason}"),
        )
    form = create_model("ReviewInput", __base__=ReviewInputBase, **fields)
    form.items = items
    return form


def _picture(path: str) -> str:
    """A small JPEG of a picture as a data URI (the UI cannot follow file:// links), or '' if unreadable."""
    image = cv2.imread(path) if path and Path(path).is_file() else None
    if image is None:
        return ""
    scale = STRIP_HEIGHT / image.shape[0]
    small = cv2.resize(image, (max(1, round(image.shape[1] * scale)), STRIP_HEIGHT), interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 80])
    return "data:image/jpeg;base64," + base64.b64encode(data.tobytes()).decode() if ok else ""


def clip_markdown(entry: ReviewEntry) -> str:
    """One clip as a reviewer sees it: the photo and filmstrip, the reason, every score against its limit."""
    lines = [f"## {entry.item_id} ({entry.kind})", "", f"**Why it is here:** {entry.reason or '-'}", ""]
    if entry.photosensitive:
        lines += ["**Failed the photosensitivity check (WCAG 2.3.1): it cannot be approved.**", ""]
    strip = _picture(entry.filmstrip)
    if strip:
        lines += [f"![source photo, then frames of the clip]({strip})", ""]
    lines += [
        f"Source photo: `{entry.source}`  ",
        f"Filmstrip: `{entry.filmstrip or 'none'}`  ",
        f"Clip: `{entry.clip}`  ",
        f"Queued by run `{entry.run}` at {entry.queued_at}; failed checks: {', '.join(entry.failed_checks) or 'none'}",
        "",
        "| score | value | limit |",
        "|---|---|---|",
    ]
    for name, value in sorted(entry.scores.items()):
        limit = entry.limits.get(name)
        lines.append(f"| {name} | {value:.4g} | {'' if limit is None else f'{limit:.4g}'} |")
    return "\n".join(lines)


def artifact_key(item: str) -> str:
    return ("review-" + re.sub(r"[^0-9a-z]+", "-", item.lower())).strip("-")[:100]


# Results persisted and cached on the flow run (the default policy includes the run id): the flow runs
# again from the top when resumed, and must not post its artifacts twice.
@task(name="post-review-artifacts", tags=["review"], persist_result=True, retries=2, retry_delay_seconds=2)
def post_review_artifacts(entries: list[ReviewEntry]) -> int:
    """One markdown artifact per clip, and the queue as a table."""
    for entry in entries:
        create_markdown_artifact(
            clip_markdown(entry), key=artifact_key(entry.item_id), description=f"review: {entry.item_id}"
        )
    create_table_artifact(
        [
            {
                "item": e.item_id,
                "kind": e.kind,
                "run": e.run,
                "failed_checks": ",".join(e.failed_checks),
                "reason": e.reason,
                "filmstrip": e.filmstrip,
            }
            for e in entries
        ],
        key="review-queue",
        description="Clips waiting for a decision",
    )
    return len(entries)


@task(name="apply-review-decisions", tags=["review", "publishing"], cache_policy=NO_CACHE, persist_result=True)
def apply_review_task(
    out: str,
    decisions: list[Decision],
    reviewer: str,
    settings_file: str | None,
    presets_file: str | None,
) -> ReviewResult:
    """Apply the decisions through the normal publish path (pipeline/review.py)."""
    return apply_decisions(out, decisions, reviewer=reviewer, settings_file=settings_file, presets_file=presets_file)


def post_review_result(result: ReviewResult) -> None:
    rows = [{"item": item, "outcome": status} for item, status in result.outcomes.items()]
    rows += [{"item": item, "outcome": f"refused: {why}"} for item, why in result.refused.items()]
    create_table_artifact(rows, key="review-result", description=f"Review decisions, manifest {result.run_id}")
