"""catalog_connectors stage: load catalogs from many sources, fetch photos safely, validate the catalog."""

from catalog_connectors.intake import fetch_photo
from catalog_connectors.models import CatalogLoad, FetchedPhoto
from catalog_connectors.sources import load_catalog
from catalog_motion.settings import IntakeSettings

__all__ = ["CatalogLoad", "FetchedPhoto", "IntakeSettings", "fetch_photo", "load_catalog"]
