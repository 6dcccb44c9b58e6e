"""Work-item planning: which (photo, preset) clips to generate, with seeds and content keys.

Planning is two-phase because a photo's content hash is known only after it is fetched:

1. ``plan = plan_work_items(rows, presets, engine_identities=ids)`` groups rows by photo *reference*
   and lists ``plan.photo_refs`` - the distinct photos to fetch (nothing is skipped yet: no keys).
2. The flow fetches those photos (``catalog_connectors.fetch_photos``), records refusals as ``invalid``
   rows, and calls ``plan_work_items(rows, presets, engine_identities=ids, previous=manifest_rows,
   photo_hashes={ref: sha256}, photo_paths={ref: path})`` again. Now rows are grouped by photo
   *content* (two references to identical bytes share one item), every item has its content key, and
   items unchanged since the previous manifest move to ``plan.skipped``. Rows whose photo is missing from
   ``photo_hashes`` land in ``plan.unplanned`` (the flow already has their refusal reason).

Which photo a preset animates (``preset.source_image``): ``main`` -> the row's ``image``;
``lifestyle`` -> ``lifestyle_image``, else the first ``additional_images``, else ``image``;
``additional`` -> the first ``additional_images``, else ``image``. A fallback is recorded nowhere else,
so it is deterministic and documented here.

Content key = sha256 of (photo sha256, the preset definition as canonical JSON without its
``description``, the engine identity). An item is skipped when every one of its SKUs has a previous row
for that preset with status ``published`` or ``skipped`` (assets still standing) and the same key;
``full=True`` plans everything. A new size sharing an already published photo re-plans that photo's item
(one generation then publishes every SKU of the item).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence

from pydantic import BaseModel, Field

from catalog_motion.errors import ConfigError
from catalog_motion.presets import Preset
from catalog_motion.types import CatalogRow, ManifestRow, RowOutcome, WorkItem

STANDING = ("published", "skipped")
"""Previous statuses whose assets still stand (a skipped row carried a published one forward)."""


def seed_for(sku: str, preset: str, attempt: int = 0) -> int:
    """Deterministic 31-bit seed per (sku, preset, attempt): stable across runs, machines and Python hashes."""
    digest = hashlib.sha256(f"{sku}\x00{preset}\x00{attempt}".encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def preset_fingerprint(preset: Preset) -> str:
    """Canonical JSON of what shapes a clip (the description is prose, not output)."""
    return json.dumps(preset.model_dump(mode="json", exclude={"description"}), sort_keys=True, separators=(",", ":"))


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


def fold_refusals(refused: Iterable[RowOutcome], valid_skus: Iterable[str]
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
                update={"reason": f"{first.reason}; also refused: {'; '.join(notes.pop(sku))}"})
    return standalone, notes


def is_standing(previous: ManifestRow | None, key: str | None) -> bool:
    """True when a previous row's assets still stand for the same content key (the item can be skipped)."""
    return previous is not None and previous.status in STANDING and key is not None and previous.key == key


class Plan(BaseModel):
    items: list[WorkItem] = Field(default_factory=list, description="Items to generate")
    skipped: list[ManifestRow] = Field(
        default_factory=list, description="Previous rows (status set to 'skipped') for unchanged items, one per SKU"
    )
    unplanned: list[RowOutcome] = Field(
        default_factory=list, description="Rows not planned for a preset because their photo was not fetched"
    )
    keyed: bool = Field(default=False, description="True in phase 2 (content keys known, skipping applied)")

    @property
    def photo_refs(self) -> list[str]:
        """Distinct photo references the items need, in first-seen order (what phase 1 asks to fetch)."""
        return list(dict.fromkeys(item.image for item in self.items))

    def sku_presets(self) -> set[tuple[str, str]]:
        planned = {(sku, item.preset) for item in self.items for sku in item.skus}
        return planned | {(row.sku, row.preset) for row in self.skipped}


def plan_work_items(rows: Iterable[CatalogRow], presets: Sequence[Preset] | Mapping[str, Preset], *,
                    engine_identities: Mapping[str, str], previous: Sequence[ManifestRow] | None = None,
                    full: bool = False, photo_hashes: Mapping[str, str] | None = None,
                    photo_paths: Mapping[str, str] | None = None) -> Plan:
    """Plan one WorkItem per (photo, preset); see the module docstring for the two phases."""
    preset_list = list(presets.values()) if isinstance(presets, Mapping) else list(presets)
    rows = list(rows)
    for preset in preset_list:
        if preset.engine not in engine_identities:
            raise ConfigError(f"preset '{preset.name}' uses engine '{preset.engine}' with no identity given to planning")
    keyed = photo_hashes is not None
    prev: dict[tuple[str, str], ManifestRow] = {}
    for row in previous or ():
        prev[(row.sku, row.preset)] = row
    plan = Plan(keyed=keyed)
    for preset in preset_list:
        groups: dict[str, WorkItem] = {}
        identity = engine_identities[preset.engine]
        fingerprint = preset_fingerprint(preset)
        for row in rows:
            ref = select_photo(row, preset)
            if keyed:
                sha = photo_hashes.get(ref)
                if sha is None:
                    plan.unplanned.append(RowOutcome(row_index=row.row_index, sku=row.sku,
                                                     reason=f"photo not fetched for preset {preset.name}: {ref}"))
                    continue
                group_key = sha
            else:
                group_key = ref
            item = groups.get(group_key)
            if item is None:
                item = WorkItem(sku=row.sku, skus=[row.sku], preset=preset.name, image=ref, engine=preset.engine,
                                seed=seed_for(row.sku, preset.name, 0), attempt=0)
                if keyed:
                    item.source_sha256 = group_key
                    item.key = content_key(group_key, fingerprint, identity)
                    if photo_paths is not None:
                        item.source_path = photo_paths.get(ref)
                groups[group_key] = item
            else:
                item.skus.append(row.sku)
        for item in groups.values():
            if keyed and not full and previous:
                olds = [prev.get((sku, item.preset)) for sku in item.skus]
                if all(is_standing(o, item.key) for o in olds):
                    plan.skipped.extend(
                        o.model_copy(update={"status": "skipped", "reason": "unchanged since the previous run"})
                        for o in olds
                    )
                    continue
            plan.items.append(item)
    return plan
