"""catalog-motion: still product photos in, quality-checked motion clips out, at catalog scale."""

__version__ = "0.1.0"
