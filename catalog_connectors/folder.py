"""A folder of photos as a catalog (local folder or S3 prefix).

Rule: one SKU per photo file, the SKU is the file name without extension (``TEE-RED-S.jpg``). A file
named ``SKU__lifestyle.ext`` is that SKU's lifestyle photo, ``SKU__2.ext`` an additional photo. An
optional sidecar ``SKU.json`` (an object) supplies title, color, item_group_id, updated_at and any other
fields (kept in `extra`); an unreadable sidecar refuses that row. Files are taken in name order.
"""

from __future__ import annotations

import json
from pathlib import Path

from catalog_connectors.models import CatalogLoad
from catalog_connectors.rows import RowBuilder
from catalog_connectors.s3io import get_bytes, list_keys
from catalog_motion.errors import IntakeError
from catalog_motion.settings import IntakeSettings

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".gif", ".bmp", ".avif"}
SIDECAR_LIMIT = 1024 * 1024


def _group(names: list[str]) -> tuple[dict[str, dict], list[tuple[str, str]]]:
    """name list -> {sku: {"image": name, "lifestyle_image": .., "additional_images": [..]}}, duplicates."""
    groups: dict[str, dict] = {}
    duplicates: list[tuple[str, str]] = []
    for name in sorted(names):
        stem, suffix = name.rsplit(".", 1)[0], "." + name.rsplit(".", 1)[-1].lower()
        if suffix not in PHOTO_SUFFIXES:
            continue
        sku, _, role = stem.partition("__")
        entry = groups.setdefault(sku, {"image": None, "lifestyle_image": None, "additional_images": []})
        if not role:
            if entry["image"] is not None:
                duplicates.append((sku, name))
            else:
                entry["image"] = name
        elif role.lower() == "lifestyle":
            entry["lifestyle_image"] = entry["lifestyle_image"] or name
        else:
            entry["additional_images"].append(name)
    return groups, duplicates


def _build(
    groups: dict[str, dict], duplicates: list[tuple[str, str]], read_sidecar, ref, source: str, kind: str, remote: bool
) -> CatalogLoad:
    builder = RowBuilder(
        ["sku", "image", "title", "color", "item_group_id", "updated_at", "lifestyle_image", "additional_images"],
        remote=False,
    )
    index = 0
    for sku, entry in groups.items():
        record = {
            "sku": sku,
            "image": ref(entry["image"]) if entry["image"] else None,
            "lifestyle_image": ref(entry["lifestyle_image"]) if entry["lifestyle_image"] else None,
            "additional_images": [ref(n) for n in entry["additional_images"]],
        }
        try:
            sidecar = read_sidecar(sku)
        except (ValueError, IntakeError) as exc:
            builder.refuse(index, sku, f"sidecar {sku}.json unreadable: {str(exc).splitlines()[0][:200]}")
            index += 1
            continue
        if sidecar is not None:
            if not isinstance(sidecar, dict):
                builder.refuse(index, sku, f"sidecar {sku}.json is not a JSON object")
                index += 1
                continue
            for k, v in sidecar.items():
                if k not in ("sku", "image"):
                    record[k] = v
        builder.add(index, record)
        index += 1
    for sku, name in duplicates:
        builder.refuse(index, sku, f"duplicate sku {sku!r}: a second main photo {name} was ignored")
        index += 1
    return CatalogLoad(source=source, kind=kind, rows=builder.rows, refused=builder.refused)


def load_local_folder(folder: Path, settings: IntakeSettings) -> CatalogLoad:
    names = [p.name for p in folder.iterdir() if p.is_file()]
    groups, duplicates = _group(names)
    if not groups:
        raise IntakeError(f"{folder}: no photos in folder (looked for {', '.join(sorted(PHOTO_SUFFIXES))})")

    def read_sidecar(sku: str):
        path = folder / f"{sku}.json"
        if not path.is_file():
            return None
        if path.stat().st_size > SIDECAR_LIMIT:
            raise ValueError("too large")
        return json.loads(path.read_text(encoding="utf-8"))

    load = _build(groups, duplicates, read_sidecar, lambda name: name, str(folder), "folder", remote=False)
    load.base_dir = str(folder.resolve())
    return load


def load_s3_folder(bucket: str, prefix: str, settings: IntakeSettings) -> CatalogLoad:
    keys = {k[len(prefix) :]: size for k, size in list_keys(bucket, prefix, settings) if "/" not in k[len(prefix) :]}
    groups, duplicates = _group(list(keys))
    source = f"s3://{bucket}/{prefix}"
    if not groups:
        raise IntakeError(f"{source}: no photos under this prefix")

    def read_sidecar(sku: str):
        name = f"{sku}.json"
        if name not in keys:
            return None
        return json.loads(get_bytes(f"{source}{name}", settings, limit=SIDECAR_LIMIT, what="sidecar").decode("utf-8"))

    return _build(groups, duplicates, read_sidecar, lambda name: f"{source}{name}", source, "s3-folder", remote=True)
