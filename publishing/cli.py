"""`catalog-motion publish` and `catalog-motion manifest show|list|diff|rollback`.

`--out` (and `publish --from`) default to the last run's output folder (catalog_motion/last_out.py has the
rule); the folder used is named on every table's first line, and on stderr with `--json`/`--csv`, so
stdout stays the document a script reads. An empty `manifest list` says so on stderr and exits 1.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from catalog_motion.last_out import OutChoice, resolve_out
from catalog_motion.paths import is_uri
from catalog_motion.settings import SinkSettings

if TYPE_CHECKING:
    from publishing.manifest import ManifestStore, RunManifest

console = Console()
err_console = Console(stderr=True)

OUT_HELP = (
    "Where the runs were published: a folder or s3://bucket/prefix "
    "(default: CATALOG_MOTION_OUT, else the last `run`'s --out, else ./out)"
)
ENDPOINT_HELP = "S3-compatible endpoint URL (also read from AWS_ENDPOINT_URL)"
OUT_METAVAR = "DIR|S3_URI"

# Text cells that a spreadsheet would run as a formula get a leading quote (OWASP CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _sink(uri: str, endpoint_url: str | None):
    from catalog_motion.paths import absolute_location
    from publishing.sinks import make_sink

    return make_sink(SinkSettings(uri=absolute_location(uri), endpoint_url=endpoint_url))


def _store(choice: OutChoice, endpoint_url: str | None) -> ManifestStore:
    from publishing.manifest import ManifestStore

    return ManifestStore(_sink(choice.location, endpoint_url))


def _say_out(choice: OutChoice, *, to_stderr: bool) -> None:
    (err_console if to_stderr else console).print(f"out: {choice.describe()}", highlight=False, soft_wrap=True)


def _no_runs(choice: OutChoice) -> str:
    return f"no runs published in {choice.describe()}; pass the run's output folder with --out"


def _asset_name(uri: str | None) -> str:
    """The stored file's name: sku and preset are columns of their own, so the key's last segment suffices."""
    return "" if not uri else uri.rsplit("/", 1)[-1]


def _csv_cell(value: object) -> object:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _counts_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "no rows"


def _read_run(store: ManifestStore, choice: OutChoice, run: str | None) -> tuple[RunManifest, bool]:
    """The run's manifest (default: `latest`) and whether it is `latest`."""
    latest = store.latest_run_id()
    run_id = run or latest
    if run_id is None:
        if store.list_runs():
            raise _error(f"no run is latest in {choice.describe()}: pass --run RUN_ID (see `manifest list`)")
        raise _error(_no_runs(choice))
    return store.read_manifest(run_id), run_id == latest


def _error(message: str) -> Exception:
    from catalog_motion.errors import PermanentError

    return PermanentError(message)


def _shown_path(location: str | None) -> str:
    """A catalog location as `manifest list` shows it: relative to the current folder when inside it."""
    if not location:
        return "-"
    if is_uri(location):
        return location
    try:
        return str(Path(location).resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return location


def register(app: typer.Typer) -> None:
    manifest_app = typer.Typer(help="Show, list, compare and roll back run manifests.", no_args_is_help=True)
    app.add_typer(manifest_app, name="manifest")

    @app.command("publish")
    def publish_command(
        run: str = typer.Option(..., "--run", metavar="RUN_ID", help="Run id of a finished run"),
        to: str = typer.Option(..., "--to", metavar=OUT_METAVAR, help="Destination: s3://bucket/prefix or a folder"),
        source: str = typer.Option(
            None,
            "--from",
            metavar=OUT_METAVAR,
            help="Where the run is now (default: as for `manifest --out`: CATALOG_MOTION_OUT, the last run's, ./out)",
        ),
        endpoint_url: str = typer.Option(
            None, "--endpoint-url", envvar="AWS_ENDPOINT_URL", metavar="URL", help=ENDPOINT_HELP
        ),
        source_endpoint_url: str = typer.Option(
            None, "--from-endpoint-url", metavar="URL", help="Endpoint of --from if S3"
        ),
    ) -> None:
        """Re-publish a finished run elsewhere (objects first, verified, then its manifest)."""
        from publishing.publish import republish_run

        origin = resolve_out(source)
        if not origin.explicit:
            console.print(f"from: {origin.describe()}", highlight=False, soft_wrap=True)
        dest = _sink(to, endpoint_url)
        manifest = republish_run(run, _sink(origin.location, source_endpoint_url or endpoint_url), dest)
        console.print(
            f"run {run} published to {to}: {_counts_text(manifest.counts)}; {dest.uploads} object(s) uploaded, "
            f"{dest.skipped} already there",
            highlight=False,
            soft_wrap=True,
        )

    @manifest_app.command("show")
    def show_command(
        run: str = typer.Option(None, "--run", metavar="RUN_ID", help="Run id (default: the latest run)"),
        out: str = typer.Option(None, "--out", metavar=OUT_METAVAR, help=OUT_HELP),
        scores: bool = typer.Option(False, "--scores", help="Add each row's attempts and QC scores"),
        as_json: bool = typer.Option(False, "--json", help="Print the run's whole manifest as JSON (as stored)"),
        as_csv: bool = typer.Option(
            False, "--csv", help="Print CSV: sku, preset, status, reason, asset, video, poster (+ qc.* with --scores)"
        ),
        endpoint_url: str = typer.Option(
            None, "--endpoint-url", envvar="AWS_ENDPOINT_URL", metavar="URL", help=ENDPOINT_HELP
        ),
    ) -> None:
        """Print a run's manifest: one line per (sku, preset) with its status, reason and video."""
        if as_json and as_csv:
            raise _error("choose one of --json and --csv")
        choice = resolve_out(out)
        store = _store(choice, endpoint_url)
        manifest, is_latest = _read_run(store, choice, run)
        if as_json or as_csv:
            _say_out(choice, to_stderr=True)
        if as_json:
            typer.echo(manifest.model_dump_json(indent=1))
            return
        if as_csv:
            _print_csv(manifest, scores)
            return
        _say_out(choice, to_stderr=False)
        title = f"run {manifest.run_id}{' (latest)' if is_latest else ''}, written {manifest.created_at}"
        table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False)
        # The reason last, the only column that folds: the other cells are short and scanned by column.
        for column in ("sku", "preset", "status", "asset", "reason"):
            table.add_column(column, overflow="fold", no_wrap=column != "reason", min_width=6)
        if scores:
            table.add_column("attempts", justify="right")
            table.add_column("qc", overflow="fold")
        for row in manifest.rows:
            cells = [row.sku, row.preset, row.status, _asset_name(row.video), row.reason]
            if scores:
                cells += [str(row.attempts), " ".join(f"{k}={v:.3g}" for k, v in sorted(row.qc.items()))]
            table.add_row(*cells)
        console.print(table)
        console.print(f"{len(manifest.rows)} rows: {_counts_text(manifest.counts)}", highlight=False)

    @manifest_app.command("list")
    def list_command(
        out: str = typer.Option(None, "--out", metavar=OUT_METAVAR, help=OUT_HELP),
        as_json: bool = typer.Option(False, "--json", help="Print the runs as a JSON list (newest first)"),
        endpoint_url: str = typer.Option(
            None, "--endpoint-url", envvar="AWS_ENDPOINT_URL", metavar="URL", help=ENDPOINT_HELP
        ),
    ) -> None:
        """List the kept runs, newest first: start time, catalog, counts by status, which is latest. Exit 1
        when there are none."""
        choice = resolve_out(out)
        entries = _store(choice, endpoint_url).run_index()
        _say_out(choice, to_stderr=as_json)
        if as_json:
            typer.echo(json.dumps([entry.model_dump() for entry in entries], indent=1))
        if not entries:
            err_console.print(_no_runs(choice), highlight=False, soft_wrap=True)
            raise SystemExit(1)  # SystemExit: main() runs click with standalone_mode=False (see quality/cli.py)
        if as_json:
            return
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
        # The catalog last: only it folds (shown relative to this folder when under it).
        for column in ("run", "started (UTC)", "latest", "counts", "catalog"):
            table.add_column(column, overflow="fold", no_wrap=column != "catalog", min_width=6)
        for entry in entries:
            started = (entry.started_at or "")[:16].replace("T", " ")
            latest = "latest" if entry.latest else ""
            table.add_row(entry.run_id, started, latest, _counts_text(entry.counts), _shown_path(entry.catalog))
        console.print(table)

    @manifest_app.command("diff")
    def diff_command(
        run_a: str = typer.Argument(..., metavar="RUN_A", help="The earlier run"),
        run_b: str = typer.Argument(..., metavar="RUN_B", help="The later run"),
        out: str = typer.Option(None, "--out", metavar=OUT_METAVAR, help=OUT_HELP),
        as_json: bool = typer.Option(False, "--json", help="Print the changes as JSON"),
        endpoint_url: str = typer.Option(
            None, "--endpoint-url", envvar="AWS_ENDPOINT_URL", metavar="URL", help=ENDPOINT_HELP
        ),
    ) -> None:
        """What changed from RUN_A to RUN_B, per (sku, preset): added, replaced (a new video), removed and status
        changes."""
        from publishing.manifest import diff_manifests

        choice = resolve_out(out)
        store = _store(choice, endpoint_url)
        diff = diff_manifests(store.read_manifest(run_a), store.read_manifest(run_b))
        _say_out(choice, to_stderr=as_json)
        if as_json:
            typer.echo(diff.model_dump_json(indent=1))
            return
        counts = diff.counts()
        table = Table(title=f"{run_a} -> {run_b}", box=box.SIMPLE_HEAD, pad_edge=False)
        for column in ("change", "sku", "preset", "before", "after", "reason"):
            table.add_column(column, overflow="fold")
        for change in diff.changes:
            if change.change == "replaced":
                before, after = _asset_name(change.video_before), _asset_name(change.video_after)
            else:
                before, after = change.before or "-", change.after or "-"
            table.add_row(change.change, change.sku, change.preset, before, after, change.reason)
        if diff.changes:
            console.print(table)
        summary = ", ".join(f"{n} {kind}" for kind, n in counts.items())
        console.print(f"{summary}, {diff.unchanged} unchanged", highlight=False)

    @manifest_app.command("rollback")
    def rollback_command(
        run_id: str = typer.Argument(..., metavar="RUN_ID", help="Run id to make latest again"),
        out: str = typer.Option(None, "--out", metavar=OUT_METAVAR, help=OUT_HELP),
        endpoint_url: str = typer.Option(
            None, "--endpoint-url", envvar="AWS_ENDPOINT_URL", metavar="URL", help=ENDPOINT_HELP
        ),
    ) -> None:
        """Point `latest` back to an earlier run (after checking its objects are still stored)."""
        choice = resolve_out(out)
        store = _store(choice, endpoint_url)
        _say_out(choice, to_stderr=False)
        previous = store.latest_run_id()
        manifest = store.rollback(run_id)
        console.print(f"latest is now {manifest.run_id} (was {previous})", highlight=False)


def _print_csv(manifest: RunManifest, scores: bool) -> None:
    qc_names = sorted({name for row in manifest.rows for name in row.qc}) if scores else []
    writer = csv.writer(sys.stdout, lineterminator="\n")
    header = ["sku", "preset", "status", "reason", "asset", "video", "poster"]
    writer.writerow(header + (["attempts"] if scores else []) + [f"qc.{name}" for name in qc_names])
    for row in manifest.rows:
        cells = [row.sku, row.preset, row.status, row.reason, _asset_name(row.video), row.video or "", row.poster or ""]
        if scores:
            cells += [row.attempts] + [row.qc.get(name, "") for name in qc_names]
        writer.writerow([_csv_cell(cell) for cell in cells])
