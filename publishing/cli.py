"""`catalog-motion publish` and `catalog-motion manifest show|list|rollback`."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from catalog_motion.settings import SinkSettings

console = Console()

OUT_HELP = "Where the run was published: a folder or s3://bucket/prefix"
ENDPOINT_HELP = "S3-compatible endpoint URL (also read from AWS_ENDPOINT_URL)"


def _sink(uri: str, endpoint_url: str | None):
    from catalog_motion.paths import absolute_location
    from publishing.sinks import make_sink

    return make_sink(SinkSettings(uri=absolute_location(uri), endpoint_url=endpoint_url))


def _short(uri: str | None) -> str:
    return "" if not uri else uri.rsplit("/", 1)[-1]


def register(app: typer.Typer) -> None:
    manifest_app = typer.Typer(help="Show, list and roll back run manifests.", no_args_is_help=True)
    app.add_typer(manifest_app, name="manifest")

    @app.command("publish")
    def publish_command(
        run: str = typer.Option(..., "--run", help="Run id of a finished run"),
        to: str = typer.Option(..., "--to", help="Destination: s3://bucket/prefix or a folder"),
        source: str = typer.Option("out", "--from", help="Where the run is now (folder or s3://...)"),
        endpoint_url: str = typer.Option(None, "--endpoint-url", envvar="AWS_ENDPOINT_URL", help=ENDPOINT_HELP),
        source_endpoint_url: str = typer.Option(None, "--from-endpoint-url", help="Endpoint of --from if S3"),
    ) -> None:
        """Re-publish a finished run elsewhere (objects first, verified, then its manifest)."""
        from publishing.publish import republish_run

        dest = _sink(to, endpoint_url)
        manifest = republish_run(run, _sink(source, source_endpoint_url or endpoint_url), dest)
        counts = ", ".join(f"{n} {status}" for status, n in sorted(manifest.counts.items()))
        console.print(
            f"run {run} published to {to}: {counts}; {dest.uploads} object(s) uploaded, {dest.skipped} already there",
            highlight=False,
            soft_wrap=True,
        )

    @manifest_app.command("show")
    def show_command(
        run: str = typer.Option(None, "--run", help="Run id (default: latest)"),
        out: str = typer.Option("out", "--out", help=OUT_HELP),
        endpoint_url: str = typer.Option(None, "--endpoint-url", envvar="AWS_ENDPOINT_URL", help=ENDPOINT_HELP),
    ) -> None:
        """Print a run's manifest as a table."""
        from catalog_motion.errors import PermanentError
        from catalog_motion.paths import absolute_location
        from publishing.manifest import ManifestStore

        store = ManifestStore(_sink(out, endpoint_url))
        run_id = run or store.latest_run_id()
        if run_id is None:
            raise PermanentError(
                f"no runs published in {absolute_location(out)}: pass the run's output folder "
                "with --out (`make demo` writes out/demo)"
            )
        manifest = store.read_manifest(run_id)
        latest = store.latest_run_id()
        title = f"run {run_id}{' (latest)' if run_id == latest else ''} - {manifest.created_at}"
        table = Table(title=title)
        for column in ("sku", "preset", "status", "reason", "video", "poster", "assets", "MB", "qc"):
            table.add_column(column, overflow="fold")
        for row in manifest.rows:
            qc = " ".join(f"{k}={v:.3g}" for k, v in sorted(row.qc.items()))
            size = sum(a.size for a in row.assets) / 1e6
            table.add_row(
                row.sku,
                row.preset,
                row.status,
                row.reason,
                _short(row.video),
                _short(row.poster),
                str(len(row.assets)),
                f"{size:.2f}" if row.assets else "",
                qc,
            )
        console.print(table)
        console.print(", ".join(f"{n} {status}" for status, n in sorted(manifest.counts.items())), highlight=False)

    @manifest_app.command("list")
    def list_command(
        out: str = typer.Option("out", "--out", help=OUT_HELP),
        endpoint_url: str = typer.Option(None, "--endpoint-url", envvar="AWS_ENDPOINT_URL", help=ENDPOINT_HELP),
    ) -> None:
        """List the runs whose manifests are kept."""
        from publishing.manifest import ManifestStore

        store = ManifestStore(_sink(out, endpoint_url))
        latest = store.latest_run_id()
        for run_id in store.list_runs():
            console.print(f"{run_id}{'  (latest)' if run_id == latest else ''}", highlight=False)

    @manifest_app.command("rollback")
    def rollback_command(
        run_id: str = typer.Argument(..., help="Run id to make latest again"),
        out: str = typer.Option("out", "--out", help=OUT_HELP),
        endpoint_url: str = typer.Option(None, "--endpoint-url", envvar="AWS_ENDPOINT_URL", help=ENDPOINT_HELP),
    ) -> None:
        """Point `latest` back to an earlier run (after checking its objects are still stored)."""
        from publishing.manifest import ManifestStore

        store = ManifestStore(_sink(out, endpoint_url))
        previous = store.latest_run_id()
        manifest = store.rollback(run_id)
        console.print(f"latest is now {manifest.run_id} (was {previous})", highlight=False)
