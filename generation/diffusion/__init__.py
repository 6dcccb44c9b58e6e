"""Diffusers image-to-video engines (wan, svd, ltx, ltx2, cogvideox, framepack); generation/registry.py registers them.

Registration is cheap: torch and diffusers are imported when an engine is first built, so the registry
knows these engines without them and a missing install is a clear EngineError on use.
"""
