"""`load_catalog`: read a catalog from a path or URI into valid rows and refused rows.

Supported sources (chosen by URI scheme, then by content - never by the extension alone):
- a local CSV/TSV (also Merchant Center TSV), Parquet or Merchant Center XML (RSS 2.0) file;
- a local folder of photos (SKU from the file name, optional sidecar JSON per photo);
- ``s3://bucket/key`` (a catalog file) or ``s3://bucket/prefix/`` (a folder of photos);
- ``http(s)://...`` a feed served over HTTP (fetched through the same guarded client as photos);
- ``shopify://STORE.myshopify.com`` (Shopify Admin GraphQL; ``shopify+http://host:port/path`` for a
  local GraphQL endpoint);
- a small YAML/JSON source block (``SourceBlock``: ``uri`` + ``intake`` overrides) naming one of those.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from catalog_connectors.feeds import parse_merchant_xml
from catalog_connectors.folder import load_local_folder, load_s3_folder
from catalog_connectors.intake import download_bytes, ref_scheme
from catalog_connectors.models import CatalogLoad
from catalog_connectors.rows import REQUIRED, RowBuilder, missing_required
from catalog_connectors.s3io import get_bytes, parse_s3_uri
from catalog_connectors.shopify import SecretResolver, load_shopify
from catalog_motion.errors import IntakeError
from catalog_motion.settings import IntakeSettings
from catalog_motion.types import RowOutcome


def load_catalog(
    source: str, settings: IntakeSettings | None = None, *, secrets: SecretResolver | None = None
) -> CatalogLoad:
    """Load a catalog. Bad rows become `refused` outcomes; an unreadable source raises `IntakeError`.

    This is the one place that picks a loader by scheme. `secrets` resolves named secrets
    (`intake.shopify_token_block`); without it a source that names a secret block is refused.
    """
    settings = settings or IntakeSettings()
    source = str(source).strip()
    if not source:
        raise IntakeError("catalog source is empty")
    scheme = source.split("://", 1)[0].lower() if "://" in source else "file"
    if scheme.startswith("shopify"):
        return guard_photo_refs(load_shopify(source, settings, secrets=secrets), settings, remote=True)
    if scheme == "s3":
        return guard_photo_refs(_load_s3(source, settings), settings, remote=True, own_bucket=parse_s3_uri(source)[0])
    if scheme in ("http", "https"):
        data, content_type = download_bytes(source, settings, limit=settings.max_catalog_bytes, what="catalog")
        load = parse_catalog_bytes(
            data, source, settings, name=source.rsplit("/", 1)[-1], remote=True, content_type=content_type
        )
        return guard_photo_refs(load, settings, remote=True)
    if scheme != "file":
        raise IntakeError(f"catalog source scheme '{scheme}' is not supported (file, s3, http(s), shopify)")
    path = Path(source[7:] if source.lower().startswith("file://") else source).expanduser()
    if path.suffix.lower() in CONFIG_SUFFIXES and path.is_file():
        return _load_from_block(path, settings, secrets)
    if path.is_dir():
        return guard_photo_refs(load_local_folder(path, settings), settings, remote=False)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise IntakeError(f"catalog not found: {path}") from None
    except OSError as exc:
        raise IntakeError(f"cannot read catalog {path}: {exc.strerror or exc}") from None
    if size > settings.max_catalog_bytes:
        raise IntakeError(f"catalog {path} is {size} bytes, over max_catalog_bytes {settings.max_catalog_bytes}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise IntakeError(f"cannot read catalog {path}: {exc.strerror or exc}") from None
    load = parse_catalog_bytes(data, str(path), settings, name=path.name, remote=False)
    load.base_dir = str(path.resolve().parent)
    return guard_photo_refs(load, settings, remote=False)


def s3_ref_problem(ref: str, settings: IntakeSettings, *, remote: bool, own_bucket: str | None = None) -> str | None:
    """Why an s3:// photo reference may not be read with the worker's credentials (None: it may).

    A remote catalog (feed, Shopify, s3://) may name only `intake.s3_buckets`, or with that unset only
    its own bucket (an s3:// catalog's, always allowed); a local catalog file may name any bucket unless
    `intake.s3_buckets` is set.
    """
    if not ref.lower().startswith("s3://"):
        return None
    bucket = ref[5:].split("/", 1)[0]
    allowed = set(settings.s3_buckets or ())
    if own_bucket:
        allowed.add(own_bucket)
    if not remote and settings.s3_buckets is None:
        return None
    if bucket in allowed:
        return None
    why = "a remote catalog may only name allowed buckets" if remote else "photos may only come from those buckets"
    return f"photo {ref[:200]} refused: bucket '{bucket}' is not in intake.s3_buckets ({why})"


def guard_photo_refs(
    load: CatalogLoad, settings: IntakeSettings, *, remote: bool, own_bucket: str | None = None
) -> CatalogLoad:
    """Refuse rows whose photos the catalog may not name: s3:// objects outside the allowed buckets
    (`s3_ref_problem`), and local paths when the catalog is remote (an S3 folder's sidecar, too).

    Decided here, at load time, so a refused row never reaches the photo fetch.
    """
    kept = []
    refused = list(load.refused)
    for row in load.rows:
        refs = [row.image, row.lifestyle_image, *(row.additional_images or [])]
        problem = None
        for ref in (r for r in refs if r):
            problem = s3_ref_problem(ref, settings, remote=remote, own_bucket=own_bucket)
            if problem is None and remote and ref_scheme(ref) == "file":
                problem = f"photo {ref[:200]} refused: local photo path in a remote catalog is not allowed"
            if problem:
                break
        if problem:
            refused.append(RowOutcome(row_index=row.row_index, sku=row.sku, reason=problem))
        else:
            kept.append(row)
    if len(kept) == len(load.rows):
        return load
    refused.sort(key=lambda outcome: outcome.row_index)
    return load.model_copy(update={"rows": kept, "refused": refused})


def _load_s3(uri: str, settings: IntakeSettings) -> CatalogLoad:
    """`s3://bucket/prefix/` -> a photo folder; `s3://bucket/key` -> a catalog file."""
    bucket, key = parse_s3_uri(uri)
    if not key or key.endswith("/"):
        return load_s3_folder(bucket, key, settings)
    data = get_bytes(uri, settings, limit=settings.max_catalog_bytes, what="catalog")
    return parse_catalog_bytes(data, uri, settings, name=key.rsplit("/", 1)[-1], remote=True)


CONFIG_SUFFIXES = (".yaml", ".yml", ".json")


class SourceBlock(BaseModel):
    """A small config block naming a catalog source, e.g. in YAML::

    catalog:
      uri: shopify://my-shop.myshopify.com
      intake: {shopify_token_block: shopify-prod, shopify_page_size: 100}
    """

    model_config = ConfigDict(extra="forbid")

    uri: str = Field(description="Catalog path or URI; a relative path resolves against the block's folder")
    intake: dict[str, Any] = Field(default_factory=dict, description="IntakeSettings fields overridden for it")


def _load_from_block(path: Path, settings: IntakeSettings, secrets: SecretResolver | None) -> CatalogLoad:
    try:
        text = path.read_text(encoding="utf-8")
        raw = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise IntakeError(f"{path}: unreadable catalog source block: {str(exc).splitlines()[0]}") from None
    if isinstance(raw, dict) and isinstance(raw.get("catalog"), dict):
        raw = raw["catalog"]
    try:
        block = SourceBlock.model_validate(raw)
        merged = IntakeSettings.model_validate({**settings.model_dump(), **block.intake})
    except ValidationError as exc:
        first = exc.errors()[0]
        raise IntakeError(
            f"{path}: invalid catalog source field '{'.'.join(map(str, first['loc']))}': {first['msg']}"
        ) from None
    uri = block.uri
    if "://" not in uri and not Path(uri).expanduser().is_absolute():
        uri = str(path.parent / uri)
    if Path(uri).suffix.lower() in CONFIG_SUFFIXES and "://" not in uri:
        raise IntakeError(f"{path}: a source block cannot point at another source block")
    return load_catalog(uri, merged, secrets=secrets)


def parse_catalog_bytes(
    data: bytes, source: str, settings: IntakeSettings, *, name: str, remote: bool, content_type: str | None = None
) -> CatalogLoad:
    """Parse a catalog file's bytes, recognising Parquet, XML feeds and delimited text by content.

    Remote catalogs (`remote=True`) resolve relative photo refs against `source` and refuse local ones.
    """
    if data[:4] == b"PAR1":
        return _parse_parquet(data, source, remote=remote)
    if (
        content_type
        and "html" in content_type.lower()
        and data.lstrip()[:1] == b"<"
        and b"<rss" not in data[:4096]
        and b"<feed" not in data[:4096]
    ):
        raise IntakeError(f"{source}: not a catalog (an HTML page was served)")
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<"):
        return parse_merchant_xml(data, source, remote=remote)
    if not data.strip():
        raise IntakeError(f"{source}: catalog is empty")
    return _parse_delimited(data, source, name=name, remote=remote)


def _parse_delimited(data: bytes, source: str, *, name: str, remote: bool) -> CatalogLoad:
    if b"\x00" in data[:65536]:
        raise IntakeError(f"{source}: not a text catalog (binary content)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IntakeError(f"{source}: catalog is not UTF-8 text (byte {exc.start})") from None
    first_line = text.split("\n", 1)[0]
    delimiter = "\t" if first_line.count("\t") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise IntakeError(f"{source}: catalog is empty") from None
    except csv.Error as exc:
        raise IntakeError(f"{source}: not a readable CSV/TSV: {exc}") from None
    header = [h.strip() for h in header]
    missing = missing_required(header)
    if missing:
        raise IntakeError(
            f"{source}: not a catalog: missing required column(s) {', '.join(missing)} "
            f"(need {', '.join(REQUIRED)}; found {', '.join(h for h in header[:12] if h) or 'none'})"
        )
    lowered = {h.lower() for h in header}
    kind = (
        "merchant-tsv"
        if delimiter == "\t" and {"id", "image_link"} <= lowered
        else ("tsv" if delimiter == "\t" else "csv")
    )
    builder = RowBuilder(header, remote=remote, base_uri=source if remote else None)
    sku_column = next((i for i, h in enumerate(header) if builder.mapping.get(h) == "sku"), None)
    index = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise IntakeError(f"{source}: CSV syntax error near data row {index}: {exc}") from None
        if len(cells) > len(header) and any(c.strip() for c in cells[len(header) :]):
            sku_cell = cells[sku_column].strip() if sku_column is not None else ""
            builder.refuse(index, sku_cell or None, f"row has {len(cells)} fields, the header has {len(header)}")
        else:
            builder.add(index, dict(zip(header, cells, strict=False)))  # a short row's missing cells stay absent
        index += 1
    return CatalogLoad(source=source, kind=kind, rows=builder.rows, refused=builder.refused)


def _parse_parquet(data: bytes, source: str, *, remote: bool) -> CatalogLoad:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise IntakeError(f"{source}: unreadable Parquet: {str(exc).splitlines()[0]}") from None
    missing = missing_required(table.column_names)
    if missing:
        raise IntakeError(
            f"{source}: not a catalog: missing required column(s) {', '.join(missing)} "
            f"(found {', '.join(table.column_names[:12]) or 'none'})"
        )
    builder = RowBuilder(table.column_names, remote=remote, base_uri=source if remote else None)
    index = 0
    for batch in table.to_batches(max_chunksize=4096):  # bounded Python objects at a time
        for record in batch.to_pylist():
            builder.add(index, record)
            index += 1
    return CatalogLoad(source=source, kind="parquet", rows=builder.rows, refused=builder.refused)
