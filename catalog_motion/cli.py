"""The `catalog-motion` command line.

Each stage adds its own commands through a ``register(app)`` function in its ``cli`` module, so this
file stays a thin shell. Errors are one clear line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import importlib
import sys

import typer
from rich.console import Console
from rich.table import Table

from catalog_motion.errors import CatalogMotionError

app = typer.Typer(
    name="catalog-motion",
    help="Turn catalog photos into quality-checked motion clips.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()


@app.callback()
def _root() -> None:
    """Turn catalog photos into quality-checked motion clips."""

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


def main() -> None:
    try:
        # With standalone_mode=False click returns a command's exit code instead of exiting.
        code = app(standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except CatalogMotionError as exc:
        err_console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        err_console.print("error: interrupted")
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:  # usage errors and anything unexpected: one line, not a traceback
        # typer vendors click, so usage errors are recognised by shape rather than class.
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            err_console.print(f"error: {exc.format_message()}", highlight=False, soft_wrap=True)
            sys.exit(2)
        err_console.print(f"error: {type(exc).__name__}: {exc}", highlight=False, soft_wrap=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
