"""Which output folder a command that reads a run (`manifest`, `publish --from`) uses when `--out` is not given.

The rule, first match wins:
1. `--out` on the command line;
2. the environment variable CATALOG_MOTION_OUT;
3. the output folder of the last `catalog-motion run` started by this user, recorded in
   `$XDG_STATE_HOME/catalog-motion/last-out.json` (default `~/.local/state/catalog-motion/last-out.json`);
4. `out` in the current folder.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, Field

from catalog_motion.paths import absolute_location

OUT_ENV = "CATALOG_MOTION_OUT"
FALLBACK_OUT = "out"


class OutChoice(BaseModel):
    """The output folder a command reads, and why that one (for the line that names it)."""

    location: str = Field(description="Absolute folder or s3:// URI")
    source: str = Field(description="Where it came from: --out, CATALOG_MOTION_OUT, the last run, the default")

    @property
    def explicit(self) -> bool:
        return self.source == "--out"

    def describe(self) -> str:
        return self.location if self.explicit else f"{self.location} ({self.source})"


def state_file() -> Path:
    """Where `run` records its output folder (the XDG state dir, so it holds whatever folder commands run from)."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "catalog-motion" / "last-out.json"


def remember_out(location: str) -> None:
    """Record `location` (absolute, or a URI) as the last run's output folder. Best effort: a read-only home
    must not fail a run, it only loses the default."""
    path = state_file()
    record = {"out": location, "recorded_at": datetime.now(UTC).isoformat(timespec="seconds")}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(json.dumps(record), encoding="utf-8")
        tmp.replace(path)  # atomic: a concurrent reader sees the old record or the new one
    except OSError:
        pass


def last_out() -> str | None:
    """The output folder the last `run` recorded, None when there is none (or it cannot be read)."""
    try:
        value = json.loads(state_file().read_text(encoding="utf-8")).get("out")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, str) and value else None


def resolve_out(option: str | None) -> OutChoice:
    """The output folder for `--out OPTION` (None: not given), by the rule in this module's docstring."""
    if option:
        return OutChoice(location=absolute_location(option), source="--out")
    if os.environ.get(OUT_ENV):
        return OutChoice(location=absolute_location(os.environ[OUT_ENV]), source=OUT_ENV)
    remembered = last_out()
    if remembered:
        return OutChoice(location=remembered, source=f"the last `catalog-motion run`, recorded in {state_file()}")
    return OutChoice(location=absolute_location(FALLBACK_OUT), source="the default; no run recorded yet")
