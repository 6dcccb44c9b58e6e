"""The `catalog-motion` command line.

Each stage adds its own commands through a ``register(app)`` function in its ``cli`` module, so this
file stays a thin shell. Errors are one clear line on stderr and exit code 2, never a traceback
(`--debug` or CATALOG_MOTION_DEBUG=1 prints it first, for bug reports).
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from typing import NoReturn

import typer
from rich.console import Console
from rich.table import Table

from catalog_motion.errors import CatalogMotionError, describe_exception

app = typer.Typer(
    name="catalog-motion",
    help="Turn catalog photos into quality-checked motion clips.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()


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
    presets_file: str = typer.Option(None, "--presets-file", help="Presets YAML (default: packaged)"),
) -> None:
    """List the channel presets."""
    from catalog_motion.presets import load_presets

    table = Table(title="Channel presets")
    for column in ("name", "size", "aspect", "duration", "fps", "loop", "engine", "motion", "description"):
        table.add_column(column)
    for preset in load_presets(presets_file).values():
        table.add_row(
            preset.name, f"{preset.width}x{preset.height}", preset.aspect, f"{preset.duration_s:g} s",
            str(preset.fps), "yes" if preset.loop else "no", preset.engine,
            f"{preset.motion.path} {preset.motion.amount:g}", preset.description,
        )
    console.print(table)


STAGE_CLI_MODULES = ("flows.cli", "quality.cli", "publishing.cli", "catalog_connectors.cli")
for _module_name in STAGE_CLI_MODULES:
    try:
        _module = importlib.import_module(_module_name)
    except ModuleNotFoundError as _exc:
        if _exc.name != _module_name:
            raise
        continue
    _module.register(app)


def _fail(message: str) -> NoReturn:
    err_console.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    sys.exit(2)


def main() -> None:
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
    except Exception as exc:  # one line, never a traceback unless asked for
        # typer vendors click, so usage errors are recognised by shape rather than class.
        if not isinstance(exc, CatalogMotionError) and hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            _fail(exc.format_message())
        if DEBUG["enabled"]:
            traceback.print_exception(exc, file=sys.stderr)
        if isinstance(exc, CatalogMotionError):
            _fail(str(exc))
        _fail(f"unexpected failure: {describe_exception(exc)} (run again with --debug for the traceback, "
              "and report it)")


if __name__ == "__main__":
    main()
