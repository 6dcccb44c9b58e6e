"""`catalog-motion ingest`: load a catalog and announce new SKUs as Prefect events (register(app) adds it)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add the `ingest` command to the CLI shell's app."""

    @app.command("ingest")
    def ingest_command(
        catalog: str = typer.Option(
            ..., "--catalog", metavar="PATH|URI", help="Catalog path or URI (CSV, Parquet, feed, s3://, shopify://)"
        ),
        since: Annotated[
            Path | None,
            typer.Option("--since", metavar="STATE", help="JSON state file of already-announced SKUs (updated)"),
        ] = None,
        config: Annotated[
            Path | None,
            typer.Option("--config", metavar="FILE", help="Run settings YAML (intake limits, allow_hosts, ...)"),
        ] = None,
        validate: bool = typer.Option(True, "--validate/--no-validate", help="Run the catalog expectations first"),
        dry_run: bool = typer.Option(False, "--dry-run", help="List the SKUs that would be announced, emit nothing"),
    ) -> None:
        """Announce catalog SKUs not seen before as `catalog.sku.ingested` events (resource sku.<id>)."""
        # Imported here: `catalog-motion --help` must not pay for Prefect and the catalog stage.
        from rich.console import Console

        from catalog_connectors.events import emit_ingested, load_state
        from catalog_connectors.sources import load_catalog
        from catalog_motion.paths import absolute_location
        from catalog_motion.settings import load_settings
        from tasks.prefect_services import prefect_emit, prefect_secret

        console = Console()
        catalog = absolute_location(catalog)
        since = Path(absolute_location(str(since))) if since else None
        settings = load_settings(config)
        load = load_catalog(catalog, settings.intake, secrets=prefect_secret)
        if validate:
            import tempfile

            from catalog_connectors.validation import validate_catalog

            load = validate_catalog(load, Path(tempfile.mkdtemp(prefix="ingest-docs-")))
        report = None
        if dry_run:
            known = load_state(since)["announced"]
            new = [r.sku for r in load.rows if r.sku not in known]
        else:
            report = emit_ingested(load.rows, emit=prefect_emit, state_path=since, source=catalog)
            new = report.sent
        verb = "would announce" if dry_run else "announced"
        console.print(
            f"{len(load.rows)} valid rows, {len(load.refused)} refused; {verb} {len(new)} new SKU(s)"
            f"{': ' + ', '.join(new[:20]) + (' ...' if len(new) > 20 else '') if new else ''}",
            highlight=False,
            soft_wrap=True,
        )
        for outcome in load.refused[:20]:
            console.print(
                f"  refused row {outcome.row_index} ({outcome.sku or '-'}): {outcome.reason}",
                highlight=False,
                soft_wrap=True,
            )
        if report is not None and not report.ok:
            # Not an error of the catalog: the events wait (spool) and the next `ingest` sends them first.
            if report.spooled:
                kept = f"{len(report.spooled)} spooled for the next run ({report.spool_path})"
            else:
                kept = f"{len(report.unsent)} NOT sent (pass --since STATE.json to keep them for the next run)"
            console.print(
                f"{len(report.sent)} events sent, {kept} (API unreachable: {report.error})",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(1)
