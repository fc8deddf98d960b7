"""``reconstructions.png``: validation frames above their reconstructions, to judge an autoencoder at a glance."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image

__all__ = ["reconstruction_grid", "write_reconstructions"]

_GAP = 2  # pixels of white between tiles
_MIN_TILE = 64  # tiles are enlarged (nearest neighbour) to at least this many pixels a side


def reconstruction_grid(originals: np.ndarray, recons: np.ndarray, columns: int = 8) -> np.ndarray:
    """Grid image (rows, cols) uint8 from originals and recons (n, H, W) uint8: each row of originals above its
    reconstructions, ``columns`` frames a row."""
    if originals.shape != recons.shape or originals.ndim != 3:
        raise ValueError(f"originals and recons must both be (n, H, W), got {originals.shape} and {recons.shape}")
    n, h, w = originals.shape
    columns = max(1, min(columns, n))
    rows = 2 * math.ceil(n / columns)  # a row of originals, then its row of reconstructions
    grid = np.full((rows * (h + _GAP) + _GAP, columns * (w + _GAP) + _GAP), 255, np.uint8)
    for i in range(n):
        row, col = 2 * (i // columns), i % columns
        for offset, frame in ((0, originals[i]), (1, recons[i])):
            top, left = _GAP + (row + offset) * (h + _GAP), _GAP + col * (w + _GAP)
            grid[top : top + h, left : left + w] = frame
    return grid


def write_reconstructions(path: str | Path, originals: np.ndarray, recons: np.ndarray, columns: int = 8) -> Path:
    """Write ``reconstruction_grid`` as a grey PNG, tiles enlarged to at least 64 px; returns the path."""
    grid = reconstruction_grid(originals, recons, columns)
    zoom = max(1, math.ceil(_MIN_TILE / originals.shape[-1]))
    grid = np.repeat(np.repeat(grid, zoom, axis=0), zoom, axis=1)
    out = Path(path)
    Image.fromarray(grid).save(out)  # 2-D uint8: a grey ("L") image
    return out
