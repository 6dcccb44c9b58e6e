"""Diffusers image-to-video engines (wan, svd, ltx, cogvideox); generation/registry.py registers them.

Registration is cheap: torch and diffusers are imported when an engine is first built, so the registry
knows these engines without them and a missing install is a clear EngineError on use.
"""
