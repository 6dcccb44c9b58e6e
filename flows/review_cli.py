"""`catalog-motion review list|approve|reject|regenerate ITEM...`: the review queue without the Prefect UI.

ITEM is `sku/preset` (as `review list` prints it; the preset is after the last '/'). Decisions are the
same as the `review` flow's form and take effect the same way (pipeline/review.py, docs/REVIEW.md).
"""

from __future__ import annotations

import getpass
import json
import os
from typing import Annotated

import typer

OUT_HELP = "Output folder the runs wrote (the review queue is <out>/review)"
# Module level: typer resolves the (string) annotations of the commands in this module's globals.
items_arg = Annotated[
    list[str], typer.Argument(metavar="ITEM", help="sku/preset, as `catalog-motion review list` shows")
]
note_opt = Annotated[str, typer.Option("--note", help="Why (kept in the manifest's review record)")]
reviewer_opt = Annotated[
    str | None, typer.Option("--reviewer", help="Who decides (default $CATALOG_MOTION_REVIEWER or the user)")
]
out_opt = Annotated[str | None, typer.Option("--out", help=OUT_HELP)]
config_opt = Annotated[str | None, typer.Option("--config", help="Run settings YAML the runs used")]
presets_opt = Annotated[str | None, typer.Option("--presets-file", help="Presets YAML the runs used")]


def _reviewer(name: str | None) -> str:
    if name:
        return name
    try:
        return os.environ.get("CATALOG_MOTION_REVIEWER") or getpass.getuser()
    except (KeyError, OSError):  # no user name in this environment (some containers)
        return "cli"


def _out(option: str | None) -> str:
    """The output folder by the `manifest` commands' rule (--out, CATALOG_MOTION_OUT, the last run's, ./out)."""
    from catalog_motion.last_out import resolve_out

    return resolve_out(option).location


def register(app: typer.Typer) -> None:
    """Add the `review` command group to the CLI shell's app."""
    review = typer.Typer(help="Decide the clips in the review queue: list, approve, reject, regenerate.")
    app.add_typer(review, name="review")

    @review.command("list")
    def list_command(
        out: str | None = typer.Option(None, "--out", help=OUT_HELP),
        run: str | None = typer.Option(None, "--run", help="Only clips queued by this run"),
        as_json: bool = typer.Option(False, "--json", help="One JSON object per line"),
    ) -> None:
        """List the clips waiting for a decision (rejected and held ones)."""
        from rich.console import Console
        from rich.table import Table

        from pipeline.review import open_entries

        entries = open_entries(_out(out), run)
        if as_json:
            for entry in entries:
                typer.echo(json.dumps({"item": entry.item_id, **entry.model_dump()}, sort_keys=True))
            return
        if not entries:
            typer.echo("nothing waits for review")
            return
        table = Table("item", "kind", "run", "failed checks", "reason", "filmstrip", title="review queue")
        for entry in entries:
            table.add_row(
                entry.item_id, entry.kind, entry.run, ",".join(entry.failed_checks), entry.reason, entry.filmstrip
            )
        Console().print(table)

    def _decide(
        kind: str,
        items: list[str],
        note: str,
        reviewer: str | None,
        out: str | None,
        config: str | None,
        presets: str | None,
    ) -> None:
        out = _out(out)
        from pipeline.review import Decision, ReviewError, apply_decisions, decision_problems, open_entries, split_item

        for item in items:
            split_item(item)  # a malformed item is refused before anything is done
        decisions = [Decision(item=item.strip(), decision=kind, note=note) for item in items]
        problems = decision_problems(open_entries(out), decisions)
        if problems:
            # Scripts get all or nothing: one refused item refuses the whole command.
            raise ReviewError("; ".join(problems.values()))
        result = apply_decisions(
            out, decisions, reviewer=_reviewer(reviewer), settings_file=config, presets_file=presets
        )
        for item, status in result.outcomes.items():
            typer.echo(f"{item}: {kind} -> {status}")
        if result.run_id:
            typer.echo(
                f"manifest {result.run_id}: "
                + ("latest" if result.promoted else f"written, not made latest ({result.not_promoted})")
            )
        if result.refused:  # found only with the manifest in hand (e.g. a later run replaced the video)
            raise ReviewError("; ".join(result.refused.values()))
        if not result.invariants.get("ok", True):
            raise ReviewError(f"manifest {result.run_id} breaks the run invariants: {result.invariants}")
        if not result.promoted or any(
            result.outcomes[d.item] != "published" for d in decisions if d.decision == "approve"
        ):
            raise typer.Exit(1)

    @review.command("approve")
    def approve_command(
        items: items_arg,
        note: note_opt = "",
        reviewer: reviewer_opt = None,
        out: out_opt = None,
        config: config_opt = None,
        presets_file: presets_opt = None,
    ) -> None:
        """Publish these clips through the normal publish path, in a new manifest version."""
        _decide("approve", items, note, reviewer, out, config, presets_file)

    @review.command("reject")
    def reject_command(
        items: items_arg,
        note: note_opt = "",
        reviewer: reviewer_opt = None,
        out: out_opt = None,
        config: config_opt = None,
        presets_file: presets_opt = None,
    ) -> None:
        """Keep these clips unpublished, with the note as the reason."""
        _decide("reject", items, note, reviewer, out, config, presets_file)

    @review.command("regenerate")
    def regenerate_command(
        items: items_arg,
        note: note_opt = "",
        reviewer: reviewer_opt = None,
        out: out_opt = None,
        config: config_opt = None,
        presets_file: presets_opt = None,
    ) -> None:
        """Generate these items again asking for less (motion, length, seed), check and publish them."""
        _decide("regenerate", items, note, reviewer, out, config, presets_file)
