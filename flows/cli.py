"""The `catalog-motion` command line: `run`, `serve` and `ops` here, each stage's commands from its own
`cli` module. Errors are one clear line on stderr and exit code 2, never a traceback (`--debug` or
CATALOG_MOTION_DEBUG=1 prints it first, for bug reports).

`run` runs the catalog flow locally with terminal progress.

Prefect API: PREFECT_API_URL when set (e.g. `make serve`); otherwise a private local server under the
work folder is started for the run and stopped after it (quiet, and it records the full history).
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from catalog_motion.errors import CatalogMotionError, ConfigError, describe_exception, run_step
from catalog_motion.last_out import remember_out
from catalog_motion.paths import absolute_location, is_uri
from flows import deliver_cli, ingest_cli, review_cli
from publishing import cli as publishing_cli
from quality import cli as quality_cli

console = Console()


def _split(value: str | None) -> list[str] | None:
    if value is None:
        return None
    names = [part.strip() for part in value.split(",") if part.strip()]
    if not names:
        raise ConfigError("--presets/--skus needs at least one name (comma separated)")
    return names


def _quiet_prefect_env() -> None:
    # Before Prefect is imported: no telemetry, terminal shows our progress instead of run logs.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # CRITICAL: a failed run's tracebacks go to the API (UI) while the terminal gets our one line.
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
    os.environ.setdefault("PREFECT_CLI_PROMPT", "false")


def validate_run_args(
    catalog: str, presets: list[str] | None, out: str, config: str | None, presets_file: str | None
) -> None:
    """Fail fast, before any Prefect start-up, on arguments that cannot work (one-line ConfigError)."""
    from catalog_motion.presets import load_presets, select_presets
    from catalog_motion.settings import resolve_run_settings

    settings = resolve_run_settings(out, config, presets_file)
    select_presets(load_presets(settings.presets_file), presets)
    if not is_uri(catalog):
        path = Path(catalog)
        if not path.exists():
            raise ConfigError(f"catalog not found: {catalog}")
        if path.is_file() and not os.access(path, os.R_OK):
            raise ConfigError(f"catalog not readable: {catalog}")
    if not is_uri(out) and Path(out).exists() and not Path(out).is_dir():
        raise ConfigError(f"--out must be a folder, {out} is a file")


def print_summary(summary: dict) -> None:
    table = Table(title=f"run {summary['run_id']}")
    # This run's outcomes; "unchanged" items were skipped, their live video kept.
    columns = {"preset": "preset", "published": "published", "skipped": "unchanged", "rejected": "rejected"}
    columns |= {"invalid": "invalid", "failed": "failed", "rows": "rows"}
    for key, label in columns.items():
        table.add_column(label, justify="left" if key == "preset" else "right")
    for line in summary["table"]:
        table.add_row(*(str(line.get(key, 0)) for key in columns))
    console.print(table)
    out = summary["out"]
    console.print(f"results: {out}", highlight=False)
    console.print(f"manifest: {summary['manifest']}", highlight=False)
    review = Path(out) / "review"
    if not is_uri(out) and review.exists():
        console.print(f"review queue: {review}", highlight=False)
    delivery = summary.get("delivery")
    if delivery:
        counts = delivery.get("counts") or {}
        parts = [f"{target}: " + ", ".join(f"{n} {s}" for s, n in sorted(c.items())) for target, c in counts.items()]
        error = f" · error: {delivery['error']}" if delivery.get("error") else ""
        console.print("delivery: " + ("; ".join(parts) or "nothing") + error, highlight=False, soft_wrap=True)
    console.print(f"rejection rate {summary['rejection_rate']:.1%} · {summary['seconds']:.1f} s", highlight=False)


def run_locally(
    catalog: str,
    presets: list[str] | None,
    out: str,
    config: str | None,
    presets_file: str | None,
    full: bool,
    skus: list[str] | None,
    show_progress: bool = True,
    allow_shrink: bool = False,
) -> dict:
    """Run the flow in this process against PREFECT_API_URL or a private local server."""
    _quiet_prefect_env()
    from catalog_motion.settings import resolve_run_settings

    server = None
    if not os.environ.get("PREFECT_API_URL"):
        from flows.server import start_prefect_server

        home = Path(resolve_run_settings(out, config, presets_file).work_dir) / "prefect"
        with (
            console.status("starting a local Prefect server…"),
            run_step("starting the local Prefect server in", str(home)),
        ):
            server = start_prefect_server(home)
        # The terminal keeps its one-line errors (the CLI's CRITICAL console level); the UI gets every log.
        os.environ.update({k: v for k, v in server.env.items() if k != "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL"})
    try:
        from prefect.context import refresh_global_settings_context

        refresh_global_settings_context()
        from flows import catalog_run as flow_module

        progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
            disable=not show_progress,
        )
        bar: dict[str, int] = {}

        def listener(event: dict) -> None:
            if event["event"] == "start":
                bar["id"] = progress.add_task("work items", total=event["total"], completed=event["done"])
            elif event["event"] == "batch" and "id" in bar:
                progress.advance(bar["id"], event["n"])

        flow_module.PROGRESS_LISTENERS.append(listener)
        try:
            with progress:
                return flow_module.catalog_run(
                    catalog=catalog,
                    presets=presets,
                    out=out,
                    settings_file=config,
                    presets_file=presets_file,
                    full=full,
                    skus=skus,
                    allow_shrink=allow_shrink,
                )
        finally:
            flow_module.PROGRESS_LISTENERS.remove(listener)
    finally:
        if server is not None:
            from flows.server import flush_prefect_clients, stop_prefect_server

            flush_prefect_clients()
            stop_prefect_server(server)
            for key in server.env:
                os.environ.pop(key, None)


def register(app: typer.Typer) -> None:
    @app.command("run")
    def run_command(
        catalog: str = typer.Option(
            ..., "--catalog", metavar="PATH|URI", help="Catalog file (CSV/Parquet/feed), folder or URI"
        ),
        presets: str = typer.Option(
            None, "--presets", metavar="NAME,...", help="Comma-separated preset names (default: all)"
        ),
        out: str = typer.Option(
            "out",
            "--out",
            metavar="DIR|S3_URI",
            help="Output folder (published files, manifest, review queue); `manifest` commands default to it",
        ),
        config: str = typer.Option(
            None, "--config", metavar="FILE", help="Run settings YAML (intake, engines, sink, orchestration)"
        ),
        presets_file: str = typer.Option(
            None, "--presets-file", metavar="FILE", help="Presets YAML (default: packaged)"
        ),
        full: bool = typer.Option(False, "--full", help="Regenerate everything, ignoring the published manifest"),
        skus: str = typer.Option(
            None,
            "--skus",
            metavar="SKU,...",
            help="Only these SKUs (comma separated); the rest of `latest` is carried over unchanged",
        ),
        allow_shrink: bool = typer.Option(
            False, "--allow-shrink", help="Make the run latest even if it takes out more than latest.max_shrink"
        ),
    ) -> None:
        """Generate, check and publish motion clips for a catalog (a Prefect flow run)."""
        _quiet_prefect_env()
        preset_names, sku_list = _split(presets), _split(skus)
        # Paths are made absolute once, here: nothing downstream depends on the current folder.
        catalog, out = absolute_location(catalog), absolute_location(out)
        config = absolute_location(config) if config else None
        presets_file = absolute_location(presets_file) if presets_file else None
        validate_run_args(catalog, preset_names, out, config, presets_file)
        # `manifest ...` and `publish` read this folder by default (catalog_motion/last_out.py).
        remember_out(out)
        summary = run_locally(
            catalog, preset_names, out, config, presets_file, full, sku_list, allow_shrink=allow_shrink
        )
        print_summary(summary)

    register_ops(app)


def register_ops(app: typer.Typer) -> None:
    ops_app = typer.Typer(
        help="Prefect operations on the server PREFECT_API_URL names: `setup` (work pool, `gpu` limit, deployments, "
        "automations). `catalog-motion serve` starts a local server and does the same.",
        no_args_is_help=True,
    )
    app.add_typer(ops_app, name="ops")

    @app.command("serve")
    def serve_command(
        port: int = typer.Option(4200, "--port", help="Port of the local Prefect server (UI and API)"),
        home: str = typer.Option(".prefect", "--home", help="PREFECT_HOME: SQLite database and logs"),
        catalog: str = typer.Option("samples/catalog/catalog.csv", "--catalog", help="Catalog of the deployments"),
        out: str = typer.Option("out/nightly", "--out", help="Output folder of the deployments"),
        config: str = typer.Option(None, "--config", help="Run settings YAML of the deployments"),
        gpus: int = typer.Option(1, "--gpus", help="Slots of the `gpu` global concurrency limit"),
        reports_port: int = typer.Option(
            4201, "--reports-port", help="Loopback port serving the output folder read-only (artifact links)"
        ),
    ) -> None:
        """Start a local server (SQLite), create pool + limits, deploy, apply automations, run a worker, and
        serve the output folder over http on loopback so the run's artifacts link to its reports and clips."""
        _quiet_prefect_env()
        from catalog_motion.settings import resolve_run_settings
        from flows import ops
        from flows.server import api_healthy, start_prefect_server, stop_prefect_server
        from flows.static_server import start_static_server

        # Reports live under `out`, or under the work folder when `out` is remote (pipeline/state.py run_root);
        # started first: a busy port fails before a Prefect server would be left behind.
        out_abs = absolute_location(out)
        served = resolve_run_settings(out_abs, absolute_location(config) if config else None, None).work_dir
        reports = start_static_server(served if is_uri(out_abs) else out_abs, port=reports_port)
        url = f"http://127.0.0.1:{port}/api"
        server = None
        if api_healthy(url):
            console.print(f"using the Prefect server already on {url}")
            env = {"PREFECT_API_URL": url}
        else:
            with console.status("starting the local Prefect server…"):
                server = start_prefect_server(Path(absolute_location(home)), port=port)
            env = server.env
        env = {**env, **ops.deployment_env(catalog, out, config)}
        env = {**env, **reports.env()}
        import signal

        def _terminate(signum: int, frame: object) -> None:
            raise KeyboardInterrupt  # SIGTERM stops the worker and server too, like Ctrl-C

        signal.signal(signal.SIGTERM, _terminate)
        worker = None
        try:
            with console.status("work pool, concurrency limits, deployments, automations…"):
                ops.setup(env, gpus=gpus)
            console.print(
                f"UI: http://127.0.0.1:{port}  ·  deployments: nightly-catalog, on-ingest, regenerate, deliver, review"
            )
            console.print(f"reports and clips: {reports.url}/ (read-only: {reports.root})", highlight=False)
            console.print(f"export PREFECT_API_URL={url}   # to use it from another shell; Ctrl-C stops everything")
            worker = ops.start_worker(env)
            worker.wait()
        except KeyboardInterrupt:
            pass
        finally:
            if worker is not None and worker.poll() is None:
                ops.stop_process_group(worker)
            reports.stop()
            if server is not None:
                stop_prefect_server(server)

    @ops_app.command("setup")
    def setup_command(
        catalog: str = typer.Option("samples/catalog/catalog.csv", "--catalog", help="Catalog of the deployments"),
        out: str = typer.Option("out/nightly", "--out", help="Output folder of the deployments"),
        config: str = typer.Option(None, "--config", help="Run settings YAML of the deployments"),
        gpus: int = typer.Option(1, "--gpus", help="Slots of the `gpu` global concurrency limit"),
    ) -> None:
        """Pool, limits, deployments and automations on the server PREFECT_API_URL names."""
        from flows import ops

        if not os.environ.get("PREFECT_API_URL"):
            raise ConfigError("set PREFECT_API_URL (e.g. http://127.0.0.1:4200/api) or use `catalog-motion serve`")
        ops.setup(
            {"PREFECT_API_URL": os.environ["PREFECT_API_URL"], **ops.deployment_env(catalog, out, config)}, gpus=gpus
        )
        console.print("work pool, concurrency limit, deployments and automations are in place")


_LABELS = {"str": "TEXT", "int": "INTEGER", "float": "FLOAT", "bool": "BOOLEAN", "Path": "PATH"}


def _value_label(param: TyperOption, ctx: typer.Context) -> str:
    """A click-style metavar (TEXT, INTEGER, PATH, a|b) from typer's `<str>`-style type label."""
    label = param.display_type(ctx).strip("<>")
    return _LABELS.get(label, label if "|" in label else label.upper())


def give_readable_metavars(command: TyperCommand | TyperGroup) -> None:
    """Typer 0.29 labels every value `<str>`/`<int>` and every flag `<bool>` in help. Set the metavar click
    itself would show (TEXT, INTEGER, PATH, choices), none on flags, and keep any a command declares."""
    params = list(command.params)
    ctx = typer.Context(command)
    help_option = command.get_help_option(ctx)
    if help_option is not None:
        params.append(help_option)
    for param in params:
        if isinstance(param, TyperArgument):
            if param.metavar is None:
                param.metavar = param.name.upper()
            # Arguments show their type next to the name whatever the metavar: the name says it already.
            param.display_type_rich = lambda ctx: None
        elif getattr(param, "is_flag", False) or getattr(param, "count", False):
            param.metavar = ""
        elif param.metavar is None:
            param.metavar = _value_label(param, ctx)
    for sub in getattr(command, "commands", {}).values():
        give_readable_metavars(sub)


class ReadableHelpGroup(TyperGroup):
    """The root command: readable option types in every `--help`, whichever module added the command."""

    def main(self, *args, **kwargs):  # type: ignore[override]
        give_readable_metavars(self)
        return super().main(*args, **kwargs)


app = typer.Typer(
    name="catalog-motion",
    help="Turn catalog photos into quality-checked motion clips.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=ReadableHelpGroup,
)


DEBUG = {"enabled": os.environ.get("CATALOG_MOTION_DEBUG", "").lower() in ("1", "true", "yes")}


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="On an error, print the full traceback (for bug reports)"),
) -> None:
    """Turn catalog photos into quality-checked motion clips."""
    DEBUG["enabled"] = DEBUG["enabled"] or debug


err_console = Console(stderr=True)


@app.command("presets")
def presets_command(
    presets_file: str = typer.Option(None, "--presets-file", metavar="FILE", help="Presets YAML (default: packaged)"),
) -> None:
    """List the channel presets."""
    from catalog_motion.presets import load_presets

    table = Table(title="Channel presets")
    for column in ("name", "size", "aspect", "duration", "fps", "loop", "engine", "motion", "description"):
        table.add_column(column)
    for preset in load_presets(presets_file).values():
        table.add_row(
            preset.name,
            f"{preset.width}x{preset.height}",
            preset.aspect,
            f"{preset.duration_s:g} s",
            str(preset.fps),
            "yes" if preset.loop else "no",
            preset.engine,
            f"{preset.motion.path} {preset.motion.amount:g}",
            preset.description,
        )
    console.print(table)


# Each stage adds its own commands (`register(app)` in its cli module); this module adds run/serve/ops.
register(app)
quality_cli.register(app)
publishing_cli.register(app)
ingest_cli.register(app)
review_cli.register(app)
deliver_cli.register(app)


def _fail(message: str) -> NoReturn:
    err_console.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    sys.exit(2)


def main() -> None:
    # Seen before click parses: a failure while building the commands still gets its traceback.
    DEBUG["enabled"] = DEBUG["enabled"] or sys.argv[1:2] == ["--debug"]
    try:
        # With standalone_mode=False click returns a command's exit code instead of exiting.
        code = app(standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except (typer.Abort, KeyboardInterrupt):
        err_console.print("error: interrupted")
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback unless asked for
        # typer vendors click, so usage errors are recognised by shape rather than class.
        if not isinstance(exc, CatalogMotionError) and hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            _fail(exc.format_message())
        if DEBUG["enabled"]:
            traceback.print_exception(exc, file=sys.stderr)
        if isinstance(exc, CatalogMotionError):
            _fail(str(exc))
        _fail(
            f"unexpected failure: {describe_exception(exc)} (run again with --debug for the traceback, and report it)"
        )


if __name__ == "__main__":
    main()
