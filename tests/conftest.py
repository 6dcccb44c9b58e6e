"""Shared test set-up. Fixture modules in tests/fixtures/ are loaded as plugins, one per concern
(sample catalog, Prefect server, S3 server, HTTP servers), so each stage's tests can use the others'."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")
# `catalog-motion run` remembers its output folder in the user's state dir: never the real one from tests.
os.environ["XDG_STATE_HOME"] = tempfile.mkdtemp(prefix="catalog-motion-test-state-")

pytest_plugins = sorted(
    f"tests.fixtures.{path.stem}"
    for path in (Path(__file__).parent / "fixtures").glob("*.py")
    if path.stem != "__init__"
)
