"""Links a browser opens from the Prefect UI's http pages: never `file://`, which browsers refuse there.

A local output path becomes a URL of the static server `catalog-motion serve` runs over the output folder
(flows/static_server.py), an `s3://` object a presigned (or public) https URL, and anything else no link.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from catalog_motion.paths import is_uri

REPORTS_URL_ENV = "CATALOG_MOTION_REPORTS_URL"
REPORTS_ROOT_ENV = "CATALOG_MOTION_REPORTS_ROOT"

Presigner = Callable[[str], str | None]
"""s3://bucket/key -> an https URL for it (presigned or public), or None."""


@dataclass(frozen=True)
class LinkResolver:
    """Maps output locations to http(s) links: local paths under `root` to `base_url`, s3:// through
    `presign`. `__call__` returns None where no browser link exists (then show the path as text)."""

    base_url: str | None = None
    root: Path | None = None
    presign: Presigner | None = None

    @classmethod
    def from_env(cls, presign: Presigner | None = None) -> LinkResolver:
        """The static server `serve` announced in the environment (CATALOG_MOTION_REPORTS_URL / _ROOT)."""
        url, root = os.environ.get(REPORTS_URL_ENV), os.environ.get(REPORTS_ROOT_ENV)
        return cls(
            base_url=url.rstrip("/") if url else None,
            root=Path(os.path.realpath(root)) if url and root else None,
            presign=presign,
        )

    def __call__(self, location: str | None) -> str | None:
        if not location:
            return None
        if location.startswith(("http://", "https://")):
            return location
        if location.startswith("s3://"):
            return self.presign(location) if self.presign else None
        if is_uri(location):
            return None  # file:// and other schemes open nothing from an http page
        if self.base_url is None or self.root is None:
            return None
        path = Path(os.path.realpath(location))
        if path != self.root and self.root not in path.parents:
            return None
        relative = path.relative_to(self.root).as_posix()
        suffix = "/" if path.is_dir() and relative else ""
        return f"{self.base_url}/{urllib.parse.quote(relative)}{suffix}" if relative else f"{self.base_url}/"


def run_page_url(ui_url: str, deployment_id: str, parameters: dict[str, object]) -> str:
    """The Prefect UI's "custom run" page of a deployment with `parameters` filled in (the route
    `/deployments/deployment/<id>/run?parameters=<json>` the UI's own FlowRunCreate page reads)."""
    import json

    query = urllib.parse.quote(json.dumps(parameters, separators=(",", ":")), safe="")
    return f"{ui_url.rstrip('/')}/deployments/deployment/{deployment_id}/run?parameters={query}"
