"""Optional learned models for the gate, used only when local weights are configured.

Both are TorchScript files (``torch.jit.save``), loaded once per process from a local path - never
downloaded - so any segmenter or image encoder (a U^2-Net, a DINO/CLIP vision tower) can be exported
and plugged in without this package knowing its architecture:

- segmenter: (1, 3, H, W) float RGB in [0, 1] -> (1, 1, H, W) logits of "subject";
- similarity encoder: (1, 3, H, W) float RGB in [0, 1] -> (1, D) embedding; drift's `learned`
  component is (1 - cosine similarity of source and frame embeddings) / `learned_similarity_scale`.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from catalog_motion.errors import ConfigError

_CACHE: dict[str, object] = {}
_LOCK = threading.Lock()


def load_torchscript(path: str | Path):
    """The TorchScript module at `path` (cached per process); a ConfigError naming the path otherwise."""
    key = str(Path(path).resolve())
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
        try:
            import torch
        except ImportError:
            raise ConfigError(
                f"learned QC weights {path} need torch: pip install 'catalog-motion[diffusion]'"
            ) from None
        if not Path(path).is_file():
            raise ConfigError(f"learned QC weights not found: {path}")
        try:
            module = torch.jit.load(key, map_location="cpu").eval()
        except (RuntimeError, ValueError) as exc:
            raise ConfigError(f"cannot load TorchScript weights {path}: {str(exc).splitlines()[0]}") from None
        _CACHE[key] = module
        return module


def _tensor(rgb: np.ndarray):
    import torch

    return torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1))).float().div_(255.0)[None]


def learned_mask(rgb: np.ndarray, weights: str | Path) -> np.ndarray:
    """Subject probability (float32 HxW in [0, 1]) from a TorchScript segmenter."""
    import cv2
    import torch

    model = load_torchscript(weights)
    with torch.inference_mode():
        logits = model(_tensor(rgb))
    prob = torch.sigmoid(logits)[0, 0].numpy().astype(np.float32)
    if prob.shape != rgb.shape[:2]:
        prob = cv2.resize(prob, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_LINEAR)
    return np.clip(prob, 0.0, 1.0)


class SimilarityEncoder:
    """Cosine similarity of two images' embeddings from a TorchScript encoder."""

    def __init__(self, weights: str | Path):
        self.model = load_torchscript(weights)

    def embed(self, rgb: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            vector = self.model(_tensor(rgb)).reshape(-1).numpy().astype(np.float64)
        return vector / max(float(np.linalg.norm(vector)), 1e-12)

    def similarity(self, a: np.ndarray, b: np.ndarray) -> float:
        return float(np.dot(self.embed(a), self.embed(b)))
