"""reconstructions.png layout: originals above their reconstructions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hairpin.pretrain.vis_grid import reconstruction_grid, write_reconstructions


def test_originals_sit_above_their_reconstructions() -> None:
    originals = np.full((3, 4, 4), 10, np.uint8)
    recons = np.full((3, 4, 4), 200, np.uint8)
    grid = reconstruction_grid(originals, recons, columns=2)  # 2 frames a row: 4 rows of tiles
    gap = 2
    assert grid.shape == (4 * (4 + gap) + gap, 2 * (4 + gap) + gap)
    tile = lambda r, c: grid[gap + r * 6 : gap + r * 6 + 4, gap + c * 6 : gap + c * 6 + 4]  # noqa: E731
    assert (tile(0, 0) == 10).all() and (tile(1, 0) == 200).all()
    assert (tile(2, 0) == 10).all() and (tile(3, 0) == 200).all()
    assert (tile(2, 1) == 255).all()  # the third frame leaves the last tile blank


def test_shapes_must_match() -> None:
    with pytest.raises(ValueError, match=r"\(n, H, W\)"):
        reconstruction_grid(np.zeros((2, 4, 4), np.uint8), np.zeros((3, 4, 4), np.uint8))


def test_png_is_grey_and_enlarged(tmp_path: Path) -> None:
    path = write_reconstructions(tmp_path / "r.png", np.zeros((2, 16, 16), np.uint8), np.zeros((2, 16, 16), np.uint8))
    with Image.open(path) as image:
        assert image.mode == "L"
        assert image.size[0] >= 2 * 64
