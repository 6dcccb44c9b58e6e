"""QC thresholds of a preset. Owned by the quality stage."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class QCThresholds(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_subject_drift: float = Field(
        default=0.25, ge=0.0, le=1.0,
        description="Highest allowed subject drift (0 = identical to the source photo, 1 = unrelated), "
        "taken at the worst frame after compensating the intended camera motion.",
    )
    max_flicker: float = Field(
        default=0.02, ge=0.0, le=1.0,
        description="Highest allowed mean motion-compensated warping error between consecutive frames.",
    )
    max_black_frames: int = Field(default=0, ge=0, description="Frames allowed to be black or blank")
    max_frozen_seconds: float = Field(
        default=0.5, gt=0.0, description="Longest allowed stretch with no change (camera presets always move)"
    )
