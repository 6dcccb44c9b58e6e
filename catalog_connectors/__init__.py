"""catalog_connectors stage."""
