"""Intake limits for catalog rows and photos. Owned by the catalog stage."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class IntakeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    connect_timeout_s: float = Field(default=5.0, gt=0, description="TCP connect timeout for photo downloads")
    read_timeout_s: float = Field(default=20.0, gt=0, description="Read timeout between bytes")
    max_bytes: int = Field(default=50 * 1024 * 1024, gt=0, description="Largest photo download accepted")
    max_pixels: int = Field(default=80_000_000, gt=0, description="Largest decoded photo (decompression bombs)")
    min_long_side: int = Field(default=512, gt=0, description="Photos with a shorter long side are flagged")
    max_redirects: int = Field(default=3, ge=0)
    allow_hosts: list[str] = Field(
        default_factory=list,
        description="Hosts or CIDR ranges allowed although private/loopback (refused by default)",
    )
    download_concurrency: int = Field(default=8, ge=1, le=64)
