"""Diffusers image-to-video engines (wan, svd, ltx, cogvideox); importing this package registers them.

Registration is cheap: torch and diffusers are imported when an engine is first built, so listing
engines works without them and a missing install is a clear EngineError on use.
"""

from __future__ import annotations

from generation.base import register_engine
from generation.diffusion.engine import make_factory
from generation.diffusion.engines import ENGINE_CLASSES

for _name, _cls in ENGINE_CLASSES.items():
    register_engine(_name)(make_factory(_cls))
