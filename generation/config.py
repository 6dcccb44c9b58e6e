"""Motion settings of a preset (what to ask an engine for). Owned by the generation stage."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

CameraPath = Literal["push_in", "pan", "parallax_orbit", "breathing", "static"]


class MotionSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: CameraPath = Field(
        default="breathing",
        description="Camera path: push_in (slow zoom toward the focus), pan (lateral drift), parallax_orbit "
        "(subject and background move at different rates), breathing (tiny zoom in and out; loops), static.",
    )
    amount: float = Field(
        default=0.3, ge=0.0, le=1.0,
        description="Motion strength 0..1. For `camera` it scales zoom/pan extent; for diffusion engines it "
        "maps to each model's motion control. Lower is the first 'ask for less' lever.",
    )
    focus: Literal["subject", "detail", "center"] = Field(
        default="subject",
        description="Where the camera aims: the whole subject, a textured/printed detail region of the "
        "garment (close-ups), or the frame centre.",
    )
    prompt: str | None = Field(default=None, description="Text prompt for text-conditioned engines")
    negative_prompt: str | None = Field(default=None, description="Negative prompt where the engine has one")
