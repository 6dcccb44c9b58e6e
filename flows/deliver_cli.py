"""`catalog-motion deliver --run RUN_ID` and `catalog-motion deliver rollback RUN_ID` (register(app) adds them).

Plain Python (pipeline.delivery), no Prefect server needed: the token comes from the env var the settings
name, or from a Prefect Secret block when PREFECT_API_URL points at the server that holds it. Exit codes:
0 when every item was delivered, unchanged or deferred; 1 when some item failed (listed); 2 when nothing
could be delivered (one line: bad run id, no token, store unreachable, no `delivery:` settings).
"""

from __future__ import annotations

import os

import typer

OUT_HELP = (
    "Where the run was published (default: $CATALOG_MOTION_OUT, else the last `catalog-motion run`'s --out, else "
    "./out), unless the settings name a sink"
)
CONFIG_HELP = "Run settings YAML with the `delivery:` section (and the sink, when not --out)"
TARGETS_HELP = "Only these targets, comma separated: shopify, merchant, meta (default: every configured one)"


def _settings(out: str | None, config: str | None):
    """The run settings of the sink to deliver from: --config's, with the output folder of the `manifest`
    commands' rule (catalog_motion/last_out.py) as the sink unless the file names one."""
    from catalog_motion.last_out import resolve_out
    from catalog_motion.paths import absolute_location
    from catalog_motion.settings import resolve_run_settings

    return resolve_run_settings(resolve_out(out).location, absolute_location(config) if config else None, None)


def _secrets():
    """The Prefect Secret block reader when a Prefect API is configured (else token_secret_block is refused)."""
    if not os.environ.get("PREFECT_API_URL"):
        return None
    from tasks.prefect_services import prefect_secret

    return prefect_secret


def _targets(to: str | None) -> list[str] | None:
    from catalog_motion.errors import ConfigError
    from delivery.api import TARGETS

    if to is None:
        return None
    names = [part.strip() for part in to.split(",") if part.strip()]
    unknown = [name for name in names if name not in TARGETS]
    if not names or unknown:
        raise ConfigError(f"--to takes {', '.join(TARGETS)} (comma separated), not {to!r}")
    return names


def _print_report(report, sink: str, limit: int = 20) -> None:
    from rich.console import Console
    from rich.table import Table

    from pipeline.summary import DELIVERY_STATUSES, delivery_table

    console = Console()
    table = Table(title=f"{report.action} run {report.run_id} of {sink}")
    for column in ("target", *DELIVERY_STATUSES, "total"):
        table.add_column(column, justify="left" if column == "target" else "right")
    for line in delivery_table(report.counts()):
        table.add_row(*(str(line.get(column, 0)) for column in ("target", *DELIVERY_STATUSES, "total")))
    console.print(table)
    for uri in report.feeds:
        console.print(f"feed: {uri}", highlight=False, soft_wrap=True)
    for outcome in [o for o in report.outcomes if o["status"] in ("failed", "deferred")][:limit]:
        console.print(
            f"  {outcome['status']} {outcome['target']} {outcome['sku']}/{outcome['preset']}: {outcome['reason']}",
            highlight=False,
            soft_wrap=True,
        )


def _refuse_total_failure(report) -> None:
    """Every item failed for one reason (store unreachable, token refused): that reason is the error line."""
    from catalog_motion.errors import PermanentError

    reasons = {str(o["reason"]) for o in report.failed}
    if report.outcomes and len(report.failed) == len(report.outcomes) and len(reasons) == 1:
        raise PermanentError(
            f"{report.action} of run {report.run_id} failed for all {len(report.outcomes)} item(s): {reasons.pop()}"
        )


def register(app: typer.Typer) -> None:
    """Add `deliver` (and `deliver rollback`) to the CLI shell's app."""
    deliver_app = typer.Typer(
        help="Deliver a published run to Shopify product media and the Merchant/Meta feeds, or roll one back.",
        invoke_without_command=True,
    )
    app.add_typer(deliver_app, name="deliver")

    @deliver_app.callback()
    def deliver_command(
        ctx: typer.Context,
        run: str = typer.Option(None, "--run", help="Run id to deliver (`catalog-motion manifest list`)"),
        to: str = typer.Option(None, "--to", help=TARGETS_HELP),
        out: str = typer.Option(None, "--out", help=OUT_HELP),
        config: str = typer.Option(None, "--config", help=CONFIG_HELP),
        catalog: str = typer.Option(
            None, "--catalog", help="Catalog whose priority column orders SKUs when the store's video cap is reached"
        ),
    ) -> None:
        """Deliver run --run to the targets of the settings' `delivery:` section."""
        if ctx.invoked_subcommand is not None:
            return
        from catalog_connectors.sources import load_catalog
        from catalog_motion.errors import ConfigError
        from catalog_motion.paths import absolute_location
        from pipeline.delivery import catalog_priorities, deliver_run, delivery_targets

        if not run:
            raise ConfigError("pass --run RUN_ID (`catalog-motion manifest list --out OUT` lists the runs)")
        settings = _settings(out, config)
        targets = _targets(to)
        delivery_targets(settings.delivery, targets)  # a missing `delivery:` section fails before any reading
        priorities = None
        if catalog and settings.delivery.shopify is not None:
            load = load_catalog(absolute_location(catalog), settings.intake, secrets=_secrets())
            priorities = catalog_priorities(load.rows, settings.delivery)
        report = deliver_run(settings, run, secrets=_secrets(), priorities=priorities, to=targets)
        _refuse_total_failure(report)
        _print_report(report, settings.sink.uri)
        if report.failed:
            raise typer.Exit(1)

    @deliver_app.command("rollback")
    def rollback_command(
        run_id: str = typer.Argument(..., help="Run id whose Shopify delivery is undone"),
        out: str = typer.Option(None, "--out", help=OUT_HELP),
        config: str = typer.Option(None, "--config", help=CONFIG_HELP),
    ) -> None:
        """Give each product back the catalog-motion media it had before run RUN_ID's delivery."""
        from pipeline.delivery import rollback_run

        settings = _settings(out, config)
        report = rollback_run(settings, run_id, secrets=_secrets())
        _refuse_total_failure(report)
        _print_report(report, settings.sink.uri)
        if report.failed:
            raise typer.Exit(1)
