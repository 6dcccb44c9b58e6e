"""Subject mask of a studio product photo without learned weights.

First version: a background colour model from the image border, a distance threshold, morphological
clean-up and the largest connected components. (The QC stage refines it, e.g. with GrabCut.)
"""

from __future__ import annotations

import cv2
import numpy as np


def subject_mask(rgb: np.ndarray, work_long_side: int = 512) -> np.ndarray:
    """Soft subject mask (float32 in [0, 1], same HxW as `rgb`) for a photo on a studio background."""
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an RGB image HxWx3, got shape {rgb.shape}")
    h, w = rgb.shape[:2]
    scale = min(1.0, work_long_side / max(h, w))
    small = cv2.resize(rgb, (max(8, int(w * scale)), max(8, int(h * scale))), interpolation=cv2.INTER_AREA)
    lab = cv2.cvtColor(small, cv2.COLOR_RGB2LAB).astype(np.float32)
    band = max(2, int(0.03 * min(lab.shape[:2])))
    border = np.concatenate([
        lab[:band].reshape(-1, 3), lab[-band:].reshape(-1, 3),
        lab[:, :band].reshape(-1, 3), lab[:, -band:].reshape(-1, 3),
    ])
    background = np.median(border, axis=0)
    spread = np.percentile(np.linalg.norm(border - background, axis=1), 95)
    distance = np.linalg.norm(lab - background, axis=2)
    hard = (distance > max(12.0, 2.5 * spread)).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    hard = cv2.morphologyEx(hard, cv2.MORPH_OPEN, kernel)
    hard = cv2.morphologyEx(hard, cv2.MORPH_CLOSE, kernel, iterations=2)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(hard, connectivity=8)
    if count > 1:
        areas = stats[1:, cv2.CC_STAT_AREA]
        keep = 1 + np.flatnonzero(areas >= 0.05 * areas.max())
        hard = np.isin(labels, keep).astype(np.uint8)
    # Fill holes so a print with background-like colours stays part of the subject.
    filled = hard.copy()
    flood = np.zeros((hard.shape[0] + 2, hard.shape[1] + 2), np.uint8)
    cv2.floodFill(filled, flood, (0, 0), 1)
    hard = hard | (1 - filled)
    soft = cv2.GaussianBlur(hard.astype(np.float32), (0, 0), 1.5)
    return np.clip(cv2.resize(soft, (w, h), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)
