"""`catalog-motion ingest`: load a catalog and announce new SKUs as Prefect events."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("ingest")
    def ingest_command(
        catalog: str = typer.Option(..., "--catalog", help="Catalog path or URI (CSV, Parquet, feed, s3://, shopify://)"),
        since: Path = typer.Option(None, "--since", help="JSON state file of already-announced SKUs (updated)"),
        config: Path = typer.Option(None, "--config", help="Run settings YAML (intake limits, allow_hosts, ...)"),
        validate: bool = typer.Option(True, "--validate/--no-validate", help="Run the catalog expectations first"),
        dry_run: bool = typer.Option(False, "--dry-run", help="List the SKUs that would be announced, emit nothing"),
    ) -> None:
        """Announce catalog SKUs not seen before as `catalog.sku.ingested` events (resource sku.<id>)."""
        from rich.console import Console

        from catalog_connectors.events import emit_ingested, load_state
        from catalog_connectors.sources import load_catalog
        from catalog_motion.paths import absolute_location
        from catalog_motion.settings import load_settings

        console = Console()
        catalog = absolute_location(catalog)
        since = Path(absolute_location(str(since))) if since else None
        settings = load_settings(config)
        load = load_catalog(catalog, settings.intake)
        if validate:
            import tempfile

            from catalog_connectors.validation import validate_catalog

            load = validate_catalog(load, Path(tempfile.mkdtemp(prefix="ingest-docs-")))
        if dry_run:
            known = load_state(since)["announced"]
            new = [r.sku for r in load.rows if r.sku not in known]
        else:
            new = emit_ingested(load.rows, state_path=since, source=catalog)
        verb = "would announce" if dry_run else "announced"
        console.print(f"{len(load.rows)} valid rows, {len(load.refused)} refused; {verb} {len(new)} new SKU(s)"
                      f"{': ' + ', '.join(new[:20]) + (' ...' if len(new) > 20 else '') if new else ''}",
                      highlight=False, soft_wrap=True)
        for outcome in load.refused[:20]:
            console.print(f"  refused row {outcome.row_index} ({outcome.sku or '-'}): {outcome.reason}",
                          highlight=False, soft_wrap=True)
