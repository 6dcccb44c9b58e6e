"""Core: delivery settings (Shopify product media, Merchant and Meta feeds), so RunSettings can hold them.

Every target is off by default: a run delivers nowhere unless its settings name a target.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

DEFAULT_SHOPIFY_VIDEO_CAP = 250
"""Hosted videos a Basic plan store may hold (Shopify 1,000, Advanced 5,000): the safe default."""


class ShopifyDeliverySettings(BaseModel):
    """Attach published clips to Shopify products as product media (Admin GraphQL)."""

    model_config = ConfigDict(extra="forbid")

    shop: str = Field(
        description="The store: 'brand.myshopify.com', or a full base URL such as 'http://127.0.0.1:8080' "
        "(tests, proxies); the Admin GraphQL path is appended"
    )
    api_version: str = Field(
        default="2025-10", pattern=r"^\d{4}-\d{2}$|^unstable$", description="Admin API version in the URL"
    )
    token_env: str = Field(
        default="SHOPIFY_ADMIN_TOKEN", description="Environment variable that holds the Admin API access token"
    )
    token_secret_block: str | None = Field(
        default=None, description="Prefect Secret block holding the token; preferred over `token_env` when set"
    )
    presets: list[str] = Field(
        default_factory=lambda: ["product-page"],
        min_length=1,
        description="Presets whose published video goes onto the product page (e.g. add 'close-up')",
    )
    video_cap: int | None = Field(
        default=None,
        ge=0,
        description="Most hosted videos the store may hold; None: read it from the store when the API "
        f"exposes it, else {DEFAULT_SHOPIFY_VIDEO_CAP} (Basic plan)",
    )
    media_position: int = Field(
        default=1, ge=0, description="Position of our video among the product's media (0 = first)"
    )
    priority_column: str = Field(
        default="priority",
        description="Catalog column whose number orders SKUs when the video cap is reached (highest first)",
    )
    poll_interval_s: float = Field(
        default=2.0, gt=0, le=60, description="Seconds between media status polls while a video is PROCESSING"
    )
    poll_timeout_s: float = Field(
        default=600.0, gt=0, description="A video not READY after this long ends `failed` (and is removed)"
    )
    max_retries: int = Field(
        default=5, ge=0, le=20, description="Retries on throttling (429, THROTTLED), 5xx and connection errors"
    )
    backoff_s: float = Field(default=1.0, ge=0, le=60, description="First retry delay, doubled per retry")
    request_timeout_s: float = Field(default=30.0, gt=0, description="Timeout of one GraphQL request")
    upload_timeout_s: float = Field(default=300.0, gt=0, description="Timeout of one staged upload")
    max_upload_bytes: int = Field(
        default=1024**3, gt=0, description="Largest video Shopify accepts (1 GB); larger ones end `failed`"
    )
    alt_prefix: str = Field(
        default="catalog-motion",
        min_length=1,
        description="Media alt text prefix that marks catalog-motion's own media ('<prefix>:<sha256[:16]>'); "
        "media without it is the merchant's and is never touched",
    )

    @field_validator("shop")
    @classmethod
    def _shop_not_blank(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value:
            raise ValueError("name the store, e.g. 'brand.myshopify.com'")
        return value


class FeedDeliverySettings(BaseModel):
    """A feed file (Google Merchant supplemental feed or Meta catalog CSV) naming the published videos."""

    model_config = ConfigDict(extra="forbid")

    base_url: str | None = Field(
        default=None,
        description="Public URL prefix of the sink (e.g. 'https://cdn.brand.com/motion'): asset keys are "
        "joined to it; None: asset URIs are used as they are and must already be http(s)",
    )
    presets: list[str] = Field(
        default_factory=lambda: ["product-page", "social"],
        min_length=1,
        description="Presets whose published videos the feed lists, in this order",
    )
    max_url_chars: int = Field(
        default=2000, ge=1, le=2000, description="Longer URLs are left out of the feed (the channels refuse them)"
    )
    file_stem: str | None = Field(
        default=None, description="File name without extension; None: 'merchant-videos' / 'meta-videos'"
    )

    @field_validator("base_url")
    @classmethod
    def _base_url_is_http(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be a public http(s):// URL prefix")
        return value.rstrip("/") if value else value


class DeliverySettings(BaseModel):
    """Where published clips go after publishing. All targets off by default."""

    model_config = ConfigDict(extra="forbid")

    shopify: ShopifyDeliverySettings | None = Field(
        default=None, description="Shopify product media; None: not delivered to Shopify"
    )
    merchant: FeedDeliverySettings | None = Field(
        default=None, description="Google Merchant Center supplemental feed (XML + TSV); None: not written"
    )
    meta: FeedDeliverySettings | None = Field(default=None, description="Meta catalog CSV feed; None: not written")

    @property
    def enabled(self) -> bool:
        return any(target is not None for target in (self.shopify, self.merchant, self.meta))
