"""The engine registry: built-in engines are known, unknown names are a clear EngineError, a plugin's
engine is built through the same cache as the built-in ones."""

from __future__ import annotations

from typing import Any

import pytest

from catalog_motion.errors import EngineError
from catalog_motion.types import ClipRef
from generation.base import Engine, GenerationRequest
from generation.registry import LOAD_COUNTS, get_engine, register_engine


class _PluginEngine(Engine):
    name = "test-plugin"

    def __init__(self, settings: dict[str, Any]):
        self.settings = settings

    def identity(self) -> str:
        return f"test-plugin/{self.settings.get('level', 0)}"

    def generate(self, request: GenerationRequest) -> ClipRef:
        raise NotImplementedError


def test_unknown_engine_names_the_known_ones():
    with pytest.raises(EngineError, match="engine 'no-such-engine' is not registered") as caught:
        get_engine("no-such-engine", {})
    message = str(caught.value)
    for builtin in ("camera", "cogvideox", "ltx", "svd", "wan"):
        assert builtin in message
    assert "catalog-motion[diffusion]" in message and "\n" not in message


def test_registered_plugin_engine_is_built_once_per_settings():
    register_engine("test-plugin")(_PluginEngine)
    before = LOAD_COUNTS.get("test-plugin", 0)
    engine = get_engine("test-plugin", {"level": 2})
    assert isinstance(engine, _PluginEngine) and engine.identity() == "test-plugin/2"
    assert get_engine("test-plugin", {"level": 2}) is engine
    assert get_engine("test-plugin", {"level": 3}) is not engine
    assert LOAD_COUNTS["test-plugin"] == before + 2
