"""Work-item planning: which (photo, preset) clips to generate, with seeds and content keys.

Planning happens in two steps because a photo's content hash is known only once it is fetched:

1. ``plan_items(rows, presets)`` (the flow, before any fetch) refuses repeated SKUs and groups the rows
   of each preset by photo *reference*: variants sharing a photo share one ``WorkItem`` (one generation
   publishes every SKU of the item). Each item gets its deterministic seed.
2. ``key_item(item, photo_sha256, preset, engine_identity, previous, full)`` (the fetch step, once the
   item's photo is fetched) gives the item its content key and says whether it is unchanged since the
   latest published manifest, i.e. can be skipped.

Which photo a preset animates (``preset.source_image``): ``main`` -> the row's ``image``;
``lifestyle`` -> ``lifestyle_image``, else the first ``additional_images``, else ``image``;
``additional`` -> the first ``additional_images``, else ``image``. A fallback is recorded nowhere else,
so it is deterministic and documented here.

Content key = sha256 of (photo sha256, the preset definition as canonical JSON without its
``description``, the engine identity). An item is unchanged when every one of its SKUs has a previous
row for that preset whose assets still stand (``STANDING``) with the same key; ``full`` plans
everything. A new size sharing an already published photo re-generates that photo's item.

``select_skus`` narrows a run to named SKUs and ``fold_refusals`` keeps the manifest at one row per
(sku, preset) however often a catalog repeats an SKU.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence

from catalog_motion.presets import Preset
from catalog_motion.types import STANDING, CatalogRow, ManifestRow, RowOutcome, WorkItem

UNCHANGED = "unchanged since the last published manifest"
"""Reason of a skipped item."""


def seed_for(sku: str, preset: str, attempt: int = 0) -> int:
    """Deterministic 31-bit seed per (sku, preset, attempt): stable across runs, machines and Python hashes."""
    digest = hashlib.sha256(f"{sku}\x00{preset}\x00{attempt}".encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def preset_fingerprint(preset: Preset) -> str:
    """Canonical JSON of what shapes a clip: the description is prose, and the review policy and borderline
    margin decide only what happens to a finished clip, so changing them regenerates nothing."""
    shape = preset.model_dump(mode="json", exclude={"description": True, "review": True, "qc": {"borderline_margin"}})
    return json.dumps(shape, sort_keys=True, separators=(",", ":"))


def content_key(photo_sha256: str, preset: Preset | str, engine_identity: str) -> str:
    """Key of one item; `preset` may be a Preset or its precomputed `preset_fingerprint`."""
    fingerprint = preset if isinstance(preset, str) else preset_fingerprint(preset)
    payload = json.dumps([photo_sha256, fingerprint, engine_identity], separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def select_photo(row: CatalogRow, preset: Preset) -> str:
    """The photo reference a preset animates for a row (rule in the module docstring)."""
    if preset.source_image == "lifestyle":
        return row.lifestyle_image or (row.additional_images[0] if row.additional_images else row.image)
    if preset.source_image == "additional":
        return row.additional_images[0] if row.additional_images else row.image
    return row.image


def refuse_duplicate_skus(rows: Iterable[CatalogRow]) -> tuple[list[CatalogRow], list[RowOutcome]]:
    """Keep the first row of each SKU; later repeats are refused (a loader may have let them through)."""
    seen: set[str] = set()
    unique: list[CatalogRow] = []
    refused: list[RowOutcome] = []
    for row in rows:
        if row.sku in seen:
            refused.append(RowOutcome(row_index=row.row_index, sku=row.sku, reason=f"duplicate sku {row.sku!r}"))
            continue
        seen.add(row.sku)
        unique.append(row)
    return unique, refused


def fold_refusals(
    refused: Iterable[RowOutcome], valid_skus: Iterable[str]
) -> tuple[list[RowOutcome], dict[str, list[str]]]:
    """Keep the manifest at one row per (sku, preset) however often a catalog repeats an SKU.

    Returns (refusals that become `invalid` rows, notes by SKU). A refusal of an SKU that also has a
    valid row becomes a note on that SKU's rows ("row N: reason"); of several refusals of an SKU with no
    valid row, the first is its `invalid` row and the rest are folded into that row's reason. Rows with
    no SKU stand alone (they are named by position).
    """
    valid = set(valid_skus)
    standalone: list[RowOutcome] = []
    first_refusal: dict[str, int] = {}
    notes: dict[str, list[str]] = {}
    for outcome in refused:
        if not outcome.sku:
            standalone.append(outcome)
            continue
        note = f"row {outcome.row_index}: {outcome.reason}"
        if outcome.sku in valid or outcome.sku in first_refusal:
            notes.setdefault(outcome.sku, []).append(note)
        else:
            first_refusal[outcome.sku] = len(standalone)
            standalone.append(outcome)
    for sku, index in first_refusal.items():
        if sku in notes:
            first = standalone[index]
            standalone[index] = first.model_copy(
                update={"reason": f"{first.reason}; also refused: {'; '.join(notes.pop(sku))}"}
            )
    return standalone, notes


def is_standing(previous: ManifestRow | None, key: str | None) -> bool:
    """True when a previous row's assets still stand for the same content key (the item can be skipped)."""
    return previous is not None and previous.status in STANDING and key is not None and previous.key == key


def plan_items(rows: Iterable[CatalogRow], presets: Sequence[Preset]) -> tuple[list[WorkItem], list[RowOutcome]]:
    """One WorkItem per (photo reference, preset), after refusing repeated SKUs (step 1 above).

    Returns (items, refused rows). Items list presets in the given order, photos in first-seen order."""
    unique, refused = refuse_duplicate_skus(rows)
    items: list[WorkItem] = []
    for preset in presets:
        groups: dict[str, WorkItem] = {}
        for row in unique:
            ref = select_photo(row, preset)
            item = groups.get(ref)
            if item is None:
                groups[ref] = WorkItem(
                    sku=row.sku,
                    skus=[row.sku],
                    preset=preset.name,
                    image=ref,
                    engine=preset.engine,
                    seed=seed_for(row.sku, preset.name, 0),
                    attempt=0,
                )
            else:
                item.skus.append(row.sku)
        items.extend(groups.values())
    return items, refused


def key_item(
    item: WorkItem,
    photo_sha256: str,
    preset: Preset | str,
    engine_identity: str,
    *,
    previous: Sequence[ManifestRow],
    full: bool,
) -> bool:
    """Give a fetched item its photo hash and content key (step 2 above); True when it is unchanged, i.e.
    every SKU of it has a standing previous row (`previous`: the latest manifest's rows of its SKUs) with
    this key. `preset` may be a Preset or its precomputed `preset_fingerprint`."""
    item.source_sha256 = photo_sha256
    item.key = content_key(photo_sha256, preset, engine_identity)
    by_sku = {row.sku: row for row in previous}
    return not full and all(is_standing(by_sku.get(sku), item.key) for sku in item.skus)


def select_skus(
    rows: list[CatalogRow], refused: list[RowOutcome], skus: Sequence[str] | None
) -> tuple[list[CatalogRow], list[RowOutcome]]:
    """Only the named SKUs' rows and refusals (all when `skus` is empty); a named SKU the catalog does not
    have is refused as "sku not found in the catalog" (so it still gets its manifest row)."""
    if not skus:
        return rows, refused
    wanted = list(dict.fromkeys(skus))
    kept = [row for row in rows if row.sku in wanted]
    kept_refused = [outcome for outcome in refused if outcome.sku in wanted]
    present = {row.sku for row in kept} | {outcome.sku for outcome in kept_refused}
    missing = [
        RowOutcome(row_index=-1, sku=sku, reason="sku not found in the catalog") for sku in wanted if sku not in present
    ]
    return kept, kept_refused + missing
