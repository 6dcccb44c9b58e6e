"""Run-level settings (not per preset): intake limits, engine settings, sink, orchestration.

Loaded from an optional YAML file (``--config``); every section has defaults, so no file is needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from catalog_connectors.config import IntakeSettings
from catalog_motion.errors import ConfigError
from publishing.config import SinkSettings


class OrchestrationSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    batch_size: int = Field(default=4, ge=1, le=1000, description="Work items per task run")
    task_runner: Literal["threads", "processes", "dask", "ray"] = "threads"
    max_workers: int = Field(default=2, ge=1, le=256)


class RunSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    presets_file: str | None = Field(default=None, description="Presets YAML; the packaged one by default")
    work_dir: str | None = Field(default=None, description="Scratch folder for photos and master clips")
    intake: IntakeSettings = Field(default_factory=IntakeSettings)
    engines: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Per-engine settings, e.g. engines.wan.weights: /models/wan"
    )
    sink: SinkSettings = Field(default_factory=SinkSettings)
    orchestration: OrchestrationSettings = Field(default_factory=OrchestrationSettings)


def load_settings(path: str | Path | None) -> RunSettings:
    if path is None:
        return RunSettings()
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(f"cannot read settings file {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    try:
        return RunSettings.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(f"{path}: invalid setting '{'.'.join(map(str, first['loc']))}': {first['msg']}") from None
