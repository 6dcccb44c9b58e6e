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
    ca_bundle: str | None = Field(
        default=None,
        description="PEM file of the certificate authorities trusted for HTTPS feeds and photos, instead of the "
        "system store (e.g. a brand's private CA); None: the system store",
    )
    download_concurrency: int = Field(default=8, ge=1, le=64)
    allowed_schemes: list[str] = Field(
        default_factory=lambda: ["file", "http", "https", "s3"],
        description="URI schemes a photo or catalog reference may use; a bare path counts as 'file'",
    )
    allowed_formats: list[str] = Field(
        default_factory=lambda: ["JPEG", "PNG", "WEBP", "TIFF", "GIF", "BMP", "MPO", "AVIF"],
        description="Image formats accepted, as detected from the content (never from the extension)",
    )
    max_catalog_bytes: int = Field(
        default=512 * 1024 * 1024, gt=0, description="Largest catalog file or feed download accepted"
    )
    local_roots: list[str] | None = Field(
        default=None,
        description="When set, local photo paths must resolve (symlinks followed) inside one of these folders",
    )
    s3_endpoint_url: str | None = Field(
        default=None,
        description="S3 endpoint for s3:// sources and photos (MinIO, moto); default: AWS or $AWS_ENDPOINT_URL",
    )
    s3_region: str | None = Field(default=None, description="Region for the S3 client; default from the env")
    shopify_token_env: str = Field(
        default="SHOPIFY_ACCESS_TOKEN",
        description="Environment variable holding the Shopify Admin API token (never logged)",
    )
    shopify_token_block: str | None = Field(
        default=None, description="Name of a Prefect Secret block holding the Shopify token (used if set)"
    )
    shopify_api_version: str = Field(default="2025-10", description="Shopify Admin API version in the URL")
    shopify_page_size: int = Field(default=50, ge=1, le=250, description="Products per GraphQL page")
    max_retries: int = Field(default=5, ge=0, le=20, description="Retries on 429/throttled/5xx from sources")
    backoff_s: float = Field(default=1.0, ge=0, description="First retry delay, doubled per retry (capped 30 s)")
