"""Google Merchant Center XML feeds (RSS 2.0 or Atom with the g: namespace).

Parsed with defusedxml: DTDs with entity declarations (billion laughs, external entities) are refused
and the whole feed becomes an `IntakeError`. One item per variant: g:id, g:item_group_id, title,
g:color, g:image_link, up to 10 g:additional_image_link, g:lifestyle_image_link; other fields go to
`extra`. Merchant TSV feeds are read by the delimited-text reader (same column names).
"""

from __future__ import annotations

import io

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeET

from catalog_connectors.models import CatalogLoad
from catalog_connectors.rows import MAX_ADDITIONAL, RowBuilder
from catalog_motion.errors import IntakeError

G_NS = "http://base.google.com/ns/1.0"
_LISTS = {"additional_image_link"}


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1] if "}" in tag else tag.split(":")[-1]


def _record(item) -> dict[str, object]:
    record: dict[str, object] = {}
    for child in item:
        name = _local(child.tag)
        if len(child):  # nested groups (g:shipping, g:tax) become small dicts
            record.setdefault(name, {_local(c.tag): (c.text or "").strip() for c in child})
            continue
        text = (child.text or "").strip()
        if name == "link" and not text:  # Atom links carry the URL in href
            text = child.get("href", "").strip()
        if name in _LISTS:
            values = record.setdefault(name, [])
            if text and len(values) < MAX_ADDITIONAL:  # type: ignore[arg-type]
                values.append(text)  # type: ignore[union-attr]
        elif name not in record:  # first value wins (feeds sometimes repeat a field)
            record[name] = text
    return record


def parse_merchant_xml(data: bytes, source: str, *, remote: bool) -> CatalogLoad:
    """Stream the feed item by item (each parsed item is cleared), so memory does not grow with the tree."""
    records: list[dict[str, object]] = []
    columns: dict[str, None] = {}  # union of field names, in first-seen order
    depth = 0
    root_checked = False
    try:
        events = SafeET.iterparse(
            io.BytesIO(data), events=("start", "end"), forbid_dtd=False, forbid_entities=True, forbid_external=True
        )
        for event, element in events:
            if event == "start":
                if not root_checked:
                    root_checked = True
                    if _local(element.tag) not in ("rss", "feed", "channel"):
                        raise IntakeError(f"{source}: not a Merchant feed (root element <{_local(element.tag)}>)")
                if _local(element.tag) in ("item", "entry"):
                    depth += 1
                continue
            if _local(element.tag) in ("item", "entry"):
                depth -= 1
                if depth == 0:
                    record = _record(element)
                    for name in record:
                        columns.setdefault(name, None)
                    records.append(record)
                    element.clear()
    except DefusedXmlException as exc:
        raise IntakeError(
            f"{source}: feed refused: unsafe XML ({type(exc).__name__}: entity declarations "
            "and external references are not allowed)"
        ) from None
    except SafeET.ParseError as exc:
        raise IntakeError(f"{source}: not well-formed XML: {exc}") from None
    builder = RowBuilder(list(columns), remote=remote, base_uri=source if remote else None)
    for index, record in enumerate(records):
        builder.add(index, record)
    return CatalogLoad(source=source, kind="merchant-xml", rows=builder.rows, refused=builder.refused)
