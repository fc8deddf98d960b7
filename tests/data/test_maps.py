from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hairpin.data.maps import resolve_maps
from hairpin.data.meta import DatasetError
from hairpin.sim.generator import blocks_to_line


def test_builtin_file_and_generated_maps_say_how_to_build_them_again(tmp_path: Path) -> None:
    line = tmp_path / "loop_0.5m_cl.npy"
    np.save(line, blocks_to_line("S S R16 S"))
    maps = resolve_maps(["technical", str(line)], generated=2, generator_seed=7, generated_blocks=5, half_width=6.0)
    assert [m.name for m in maps] == ["technical", "loop", "gen-7", "gen-8"]
    assert [m.source.kind for m in maps] == ["builtin", "file", "generated", "generated"]
    assert [m.source.load for m in maps] == ["technical", "maps/loop.npy", "maps/gen-7.npy", "maps/gen-8.npy"]
    assert maps[2].source.blocks is not None and len(maps[2].source.blocks.split()) == 5
    np.testing.assert_array_equal(maps[2].track.points, blocks_to_line(maps[2].source.blocks))
    assert all(m.track.half_width == 6.0 for m in maps)
    assert maps[0].source.length_m == pytest.approx(maps[0].track.length_m)


def test_a_map_given_twice_or_no_map_is_an_error() -> None:
    with pytest.raises(DatasetError, match="'sprint' is given twice"):
        resolve_maps(["sprint", "sprint"])
    with pytest.raises(DatasetError, match="no map given"):
        resolve_maps([])
