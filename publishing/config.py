"""Encodings of a preset and where published assets go. Owned by the publishing stage.

Defaults are chosen for the delivery targets in docs/PUBLISHING.md (product pages, Meta Reels).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class EncodingSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal["mp4-h264", "webm-vp9", "poster-jpeg", "poster-webp"] = Field(
        description="Output kind. mp4-h264: H.264 yuv420p, +faststart, no audio. webm-vp9: alternative "
        "source for browsers. poster-*: a still of the first frame."
    )
    crf: int | None = Field(default=None, ge=0, le=63, description="Constant rate factor; None = format default")
    maxrate_kbps: int | None = Field(default=None, gt=0, description="Peak bitrate cap (VBV), kbit/s")
    preset: str | None = Field(default=None, description="x264 speed preset (veryfast, medium, ...)")
    profile: Literal["baseline", "main", "high"] = Field(
        default="high", description="H.264 profile (mp4-h264 only); High is what every current browser/app plays"
    )
    gop_s: float = Field(
        default=2.0, gt=0.0, le=10.0,
        description="Keyframe interval in seconds; GOPs are closed and scene-cut keyframes off so seeking "
        "and looping are predictable (Meta asks for closed GOPs)",
    )
    audio: Literal["none", "silent-aac"] = Field(
        default="none",
        description="none: no audio track (product pages autoplay muted). silent-aac: a silent 48 kHz stereo "
        "AAC track, only for channels whose ingest rejects video without audio",
    )
    cpu_used: int = Field(default=4, ge=0, le=8, description="libvpx-vp9 speed (webm-vp9 only); 4 = fast, good")
    quality: int = Field(default=88, ge=1, le=100, description="Poster quality (poster-jpeg / poster-webp)")
    scale_filter: Literal["lanczos", "bicubic", "spline"] = Field(
        default="lanczos",
        description="Resampling filter used when the master clip's size differs from the preset's size",
    )

    @model_validator(mode="after")
    def _check(self) -> "EncodingSpec":
        if self.audio != "none" and self.format != "mp4-h264":
            raise ValueError(f"audio={self.audio!r} is only supported for mp4-h264")
        return self

    @property
    def is_video(self) -> bool:
        return self.format in ("mp4-h264", "webm-vp9")


class SinkSettings(BaseModel):
    """Where published assets and manifests go."""

    model_config = ConfigDict(extra="forbid")

    uri: str = Field(default="out", description="Local folder, or s3://bucket/prefix")
    endpoint_url: str | None = Field(default=None, description="S3-compatible endpoint (MinIO, moto, R2...)")
    region: str | None = Field(default=None)
    cache_control: str = Field(default="public, max-age=31536000, immutable")
    manifest_cache_control: str = Field(
        default="no-cache", description="Cache-Control of manifests: they change every run, assets never do"
    )
    multipart_threshold_mb: int = Field(
        default=16, ge=5, le=5120, description="Files at least this large upload in parts (S3 minimum part is 5 MiB)"
    )
    multipart_chunk_mb: int = Field(default=8, ge=5, le=5120, description="Part size of multipart uploads")
    max_concurrency: int = Field(default=4, ge=1, le=64, description="Parallel part uploads per file")
