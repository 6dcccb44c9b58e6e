"""A run's summary for people: the outcome tables and link pages the flow attaches as Prefect artifacts.

Built from the run's tally (counts plus the first failures and links), never from every row.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, get_args

from catalog_motion.types import Status
from pipeline.tally import RunTally

STATUSES: tuple[Status, ...] = get_args(Status)


def summary_table(tally: RunTally) -> list[dict[str, object]]:
    """Outcomes per preset and status, a `total` line last."""
    counts = tally.counts()
    table = []
    for preset in sorted(p for p in counts if p != "total") + (["total"] if counts else []):
        line: dict[str, object] = {"preset": preset}
        line.update({status: counts[preset].get(status, 0) for status in STATUSES})
        line["rows"] = sum(counts[preset].values())
        table.append(line)
    return table


def failures_table(tally: RunTally, limit: int) -> list[dict[str, str]]:
    """The first `limit` rejected, invalid and failed rows with their reasons."""
    return [dict(f) for f in tally.failures[:limit]]


Link = Callable[[str], str | None]


def _no_browser_link(location: str) -> str | None:
    """The default resolver: http(s) locations only (a browser does not open file:// from the UI)."""
    return location if location.startswith(("http://", "https://")) else None


def _named(label: str, location: str, link: Link, text: str = "") -> str:
    url = link(location)
    return f"[{text or location}]({url})" if url else f"{label}`{location}`"


def links_markdown(
    run_id: str,
    tally: RunTally,
    limit: int,
    *,
    manifest: str | None,
    qc_report: str | None,
    review: str | None,
    qc_table: str | None = None,
    catalog_docs: str | None = None,
    link: Link = _no_browser_link,
) -> str:
    """The run's links page. `link` turns a location into a browser URL (catalog_motion/links.py), or None:
    such a location is shown as text, with a hint, never as a file:// link."""
    counts = tally.counts().get("total", {})
    lines = [f"# catalog-motion run `{run_id}`", ""]
    lines.append(" · ".join(f"**{s}** {counts.get(s, 0)}" for s in STATUSES))
    lines.append(f"rejection rate {tally.rejection_rate():.1%}")
    lines.append("")
    named = {
        "Manifest": manifest,
        "QC report": qc_report,
        "QC table (one row per checked attempt)": qc_table,
        "Catalog validation (Data Docs)": catalog_docs,
        "Review queue": review,
    }
    unlinked = False
    for name, location in named.items():
        if location:
            unlinked = unlinked or link(location) is None
            lines.append(f"- {name}: {_named('', location, link)}")
    if unlinked:
        lines += ["", "(Locations in `code` have no browser link: `catalog-motion serve` serves them over http.)"]
    if tally.published_links:
        lines += ["", "## Published", "", "| sku | preset | video | poster |", "|---|---|---|---|"]
        for row in tally.published[:limit]:
            poster = _named("poster ", row.poster, link, "poster") if row.poster else ""
            lines.append(f"| {row.sku} | {row.preset} | {_named('', row.video, link, 'video')} | {poster} |")
        if tally.published_links > limit:
            lines.append(f"\n… and {tally.published_links - limit} more (see the manifest).")
    return "\n".join(lines)


def qc_validation_markdown(run_id: str, result: dict[str, Any], link: Link = _no_browser_link) -> str:
    verdict = "passed" if result["success"] else "**FAILED**"
    lines = [f"# QC suite (great-expectations), run `{run_id}`: {verdict}", ""]
    if not result.get("validated"):
        lines.append(f"Not validated: {result.get('reason', '')}.")
    stats = result.get("statistics") or {}
    if stats:
        lines.append(
            f"{stats.get('successful_expectations', 0)}/{stats.get('evaluated_expectations', 0)} "
            f"expectations met over {stats.get('rows', 0)} clip attempts, pass rate "
            f"{stats.get('pass_rate', 0.0):.1%}."
        )
    if result.get("failed_expectations"):
        lines += ["", "Failed expectations:", ""] + [f"- `{name}`" for name in result["failed_expectations"]]
    if result.get("docs"):
        lines += ["", f"- Data Docs: {_named('', result['docs'], link)}"]
    return "\n".join(lines)


def nothing_succeeded(tally: RunTally) -> str | None:
    """Why a run that made nothing must not become `latest` (None when any item was published, unchanged or
    judged by QC): every row invalid means a broken catalog (e.g. photo paths that do not resolve), every
    row invalid or failed a broken night. Its manifest is still written, for the operator."""
    total = tally.counts().get("total", {})
    if not tally.rows or any(total.get(status) for status in ("published", "skipped", "rejected")):
        return None
    first = tally.failures[0] if tally.failures else None
    example = f" (first: {first['sku']}/{first['preset']}: {first['reason']})" if first else ""
    if total.get("invalid") == tally.rows:
        return f"every one of its {tally.rows} row(s) is invalid{example}"
    return (
        f"none of its {tally.rows} row(s) succeeded ({total.get('failed', 0)} failed, "
        f"{total.get('invalid', 0)} invalid){example}"
    )


DELIVERY_STATUSES = ("delivered", "unchanged", "deferred", "failed", "rolled_back")
"""Outcomes of a delivery (delivery.outcomes.DeliveryStatus), in the order the summary shows them."""


def delivery_table(counts: dict[str, dict[str, int]]) -> list[dict[str, object]]:
    """Delivery outcomes per target and status (`DeliveryReport.counts()`), a `total` line last."""
    table: list[dict[str, object]] = []
    total: dict[str, int] = {}
    for target in sorted(counts):
        line: dict[str, object] = {"target": target}
        line.update({status: counts[target].get(status, 0) for status in DELIVERY_STATUSES})
        line["total"] = sum(counts[target].values())
        table.append(line)
        for status, n in counts[target].items():
            total[status] = total.get(status, 0) + n
    if table:
        line = {"target": "total", **{status: total.get(status, 0) for status in DELIVERY_STATUSES}}
        table.append({**line, "total": sum(total.values())})
    return table
