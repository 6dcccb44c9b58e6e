"""Records returned by the catalog stage."""

from __future__ import annotations

from pydantic import BaseModel, Field

from catalog_motion.types import CatalogRow, RowOutcome


class CatalogLoad(BaseModel):
    """A loaded catalog: valid rows, refused rows (with reasons) and facts about the source."""

    source: str = Field(description="The source as given (path or URI)")
    kind: str = Field(description="csv | tsv | parquet | merchant-xml | merchant-tsv | shopify | folder | s3-folder")
    base_dir: str | None = Field(
        default=None, description="Folder that relative photo paths resolve against (local sources only)"
    )
    rows: list[CatalogRow] = Field(default_factory=list)
    refused: list[RowOutcome] = Field(default_factory=list)
    docs_path: str | None = Field(default=None, description="Data Docs page of the validation, once validated")

    @property
    def skus(self) -> list[str]:
        return [row.sku for row in self.rows]


class FetchedPhoto(BaseModel):
    """A photo after intake: a normalised sRGB RGB PNG named by its content hash."""

    path: str
    sha256: str = Field(description="sha256 of the normalised PNG file (its name, too)")
    width: int
    height: int
    flags: list[str] = Field(default_factory=list, description="Facts worth a look, e.g. 'small', 'cmyk'")
    source_format: str | None = None
    source_bytes: int | None = None
