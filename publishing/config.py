"""Encodings of a preset. Owned by the publishing stage."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class EncodingSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal["mp4-h264", "webm-vp9", "poster-jpeg", "poster-webp"] = Field(
        description="Output kind. mp4-h264: H.264 yuv420p, +faststart, no audio. webm-vp9: alternative "
        "source for browsers. poster-*: a still of the first frame."
    )
    crf: int | None = Field(default=None, ge=0, le=63, description="Constant rate factor; None = format default")
    maxrate_kbps: int | None = Field(default=None, gt=0, description="Peak bitrate cap (VBV), kbit/s")
    preset: str | None = Field(default=None, description="x264 speed preset (veryfast, medium, ...)")


class SinkSettings(BaseModel):
    """Where published assets and manifests go."""

    model_config = ConfigDict(extra="forbid")

    uri: str = Field(default="out", description="Local folder, or s3://bucket/prefix")
    endpoint_url: str | None = Field(default=None, description="S3-compatible endpoint (MinIO, moto, R2...)")
    region: str | None = Field(default=None)
    cache_control: str = Field(default="public, max-age=31536000, immutable")
