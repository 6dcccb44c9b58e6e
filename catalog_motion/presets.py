"""Channel presets: validated data loaded from YAML into pydantic models.

A user adds a preset by editing the YAML file (or passing their own with ``--presets-file``).
An invalid file is rejected with a ``ConfigError`` naming the preset and the field.
"""

from __future__ import annotations

from fractions import Fraction
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from catalog_motion.errors import ConfigError
from generation.config import MotionSpec
from publishing.config import EncodingSpec
from quality.config import QCThresholds


class AskForLessPolicy(BaseModel):
    """How a clip that fails drift or flicker is regenerated before it is rejected."""

    model_config = ConfigDict(extra="forbid")

    max_attempts: int = Field(default=3, ge=1, le=10, description="Generations per item, the first included")
    motion_factor: float = Field(default=0.5, gt=0.0, le=1.0, description="Motion amount multiplier per retry")
    duration_factor: float = Field(
        default=1.0, gt=0.0, le=1.0, description="Duration multiplier per retry (1 keeps the duration)"
    )
    new_seed: bool = Field(default=True, description="Use a new seed on each retry")


class Preset(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Key of the preset, used in paths and the manifest")
    description: str = ""
    aspect: str = Field(description="Aspect ratio as W:H, e.g. 4:5; must agree with width and height")
    width: int = Field(gt=0, le=4096)
    height: int = Field(gt=0, le=4096)
    duration_s: float = Field(gt=0.0, le=30.0, description="Clip length in seconds")
    fps: int = Field(gt=0, le=60)
    loop: bool = Field(default=False, description="Last frame must flow back into the first")
    engine: str = Field(default="camera", description="Registered engine name (camera, wan, svd, ltx, cogvideox)")
    source_image: Literal["main", "lifestyle", "additional"] = Field(
        default="main", description="Which catalog photo to animate"
    )
    background: str = Field(default="#ffffff", description="Colour that transparent photo areas are laid on")
    motion: MotionSpec = Field(default_factory=MotionSpec)
    qc: QCThresholds = Field(default_factory=QCThresholds)
    encodings: list[EncodingSpec] = Field(
        default_factory=lambda: [EncodingSpec(format="mp4-h264"), EncodingSpec(format="poster-jpeg")]
    )
    ask_for_less: AskForLessPolicy = Field(default_factory=AskForLessPolicy)

    @property
    def n_frames(self) -> int:
        return max(2, round(self.duration_s * self.fps))

    @model_validator(mode="after")
    def _check_geometry(self) -> "Preset":
        try:
            w, h = (int(part) for part in self.aspect.split(":"))
        except ValueError as exc:
            raise ValueError(f"aspect must look like '4:5', got {self.aspect!r}") from exc
        if w <= 0 or h <= 0:
            raise ValueError(f"aspect must be positive, got {self.aspect!r}")
        if Fraction(self.width, self.height) != Fraction(w, h):
            raise ValueError(f"width x height {self.width}x{self.height} is not {self.aspect}")
        if self.width % 2 or self.height % 2:
            raise ValueError("width and height must be even (yuv420p)")
        if not any(e.format.startswith(("mp4", "webm")) for e in self.encodings):
            raise ValueError("encodings must include at least one video format")
        return self


class PresetFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    presets: dict[str, Preset]


DEFAULT_PRESETS_FILE = Path(str(resources.files("catalog_motion") / "presets.yaml"))


def _format_validation_error(exc: ValidationError, source: str) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{source}: invalid preset field '{where}': {first['msg']}"


def load_presets(path: str | Path | None = None) -> dict[str, Preset]:
    """Load and validate a presets file; the default ships with the package."""
    path = Path(path) if path else DEFAULT_PRESETS_FILE
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read presets file {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("presets"), dict):
        raise ConfigError(f"{path}: expected a mapping with a 'presets' key")
    for name, body in raw["presets"].items():
        if isinstance(body, dict):
            body.setdefault("name", name)
            if body["name"] != name:
                raise ConfigError(f"{path}: presets.{name}.name is {body['name']!r}, must equal its key")
    try:
        parsed = PresetFile.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(exc, str(path))) from None
    return parsed.presets


def select_presets(presets: dict[str, Preset], names: list[str] | None) -> list[Preset]:
    if not names:
        return list(presets.values())
    unknown = [n for n in names if n not in presets]
    if unknown:
        raise ConfigError(f"unknown preset(s): {', '.join(unknown)}; known: {', '.join(presets)}")
    return [presets[n] for n in names]
