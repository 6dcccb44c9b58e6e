"""One way to run a great-expectations suite over a DataFrame and write its Data Docs.

Used by the catalog validation (before planning) and by the QC-table suite (after checking). An ephemeral
context keeps no state on disk besides the Data Docs site written under `docs_dir`.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import pandas as pd

_LOCK = threading.Lock()  # an ephemeral GX context is not safe to build from several threads at once


def run_suite(
    name: str,
    expectations: list[Any],
    frame: pd.DataFrame,
    docs_dir: Path,
    *,
    result_format: dict[str, Any] | None = None,
) -> Any:
    """Validate `frame` against `expectations`, update the Data Docs site under `docs_dir`, return the
    checkpoint result (its `.success` and `.run_results`)."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    site = f"{name}_site"  # 'local_site' is taken by the ephemeral context's defaults
    with _LOCK:
        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False)  # TQDM_DISABLE is ignored
        context.add_data_docs_site(
            site_name=site,
            site_config={
                "class_name": "SiteBuilder",
                "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            },
        )
        batch = (
            context.data_sources.add_pandas(name)
            .add_dataframe_asset(f"{name}_rows")
            .add_batch_definition_whole_dataframe("all")
        )
        suite = context.suites.add(gx.ExpectationSuite(name=name))
        for expectation in expectations:
            suite.add_expectation(expectation)
        definition = context.validation_definitions.add(gx.ValidationDefinition(name=name, data=batch, suite=suite))
        checkpoint_args: dict[str, Any] = {}
        if result_format:
            checkpoint_args["result_format"] = result_format
        checkpoint = context.checkpoints.add(
            gx.Checkpoint(
                name=name,
                validation_definitions=[definition],
                actions=[gx.checkpoint.UpdateDataDocsAction(name="docs", site_names=[site])],
                **checkpoint_args,
            )
        )
        return checkpoint.run(batch_parameters={"dataframe": frame})
