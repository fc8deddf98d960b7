"""Tests of the built-in maps and ``load_map``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hairpin.sim.maps import BUILTIN_MAPS, DEFAULT_MAP, load_map
from hairpin.sim.refline import ReferenceLineError
from hairpin.sim.track import Track

LENGTHS_M = {"sprint": (550.0, 850.0), "grand-tour": (1800.0, 2400.0), "technical": (600.0, 900.0)}
"""The length range each built-in map was chosen for."""

POINTS = {"sprint": 1607, "grand-tour": 4340, "technical": 1556}
"""Pinned point counts: a change means the geometry of blocks changed and expert lap times need re-tuning."""


@pytest.mark.parametrize("name", list(LENGTHS_M))
def test_builtin_maps_load_with_their_lengths(name: str) -> None:
    track = load_map(name)
    low, high = LENGTHS_M[name]
    assert isinstance(track, Track)
    assert track.name == name
    assert low <= track.length_m <= high
    assert track.n_points == POINTS[name]
    assert track.half_width == BUILTIN_MAPS[name].half_width


def test_the_default_map_is_a_builtin() -> None:
    assert DEFAULT_MAP in BUILTIN_MAPS


def test_technical_is_mostly_tight_turns_and_s_bends() -> None:
    codes = BUILTIN_MAPS["technical"].blocks.split()
    bends = [c for c in codes if c[0] in "LR" or c in ("SL", "SR")]
    tight = [c for c in bends if c.endswith("16") or c in ("SL", "SR")]
    assert len(tight) >= 0.9 * len(bends)


def test_builtin_maps_are_memoised() -> None:
    assert load_map("sprint") is load_map("sprint")
    wide = load_map("sprint", half_width=10.0)
    assert wide is not load_map("sprint")
    assert wide.half_width == 10.0


def test_unknown_map_names_the_builtins() -> None:
    with pytest.raises(
        ValueError, match=r"unknown map 'nowhere': not a built-in map \(sprint, grand-tour, technical\)"
    ):
        load_map("nowhere")


def test_maps_load_from_npy_files(tmp_path: Path) -> None:
    line = load_map("sprint").points
    path = tmp_path / "mine_0.5m_cl.npy"
    np.save(path, line)
    track = load_map(str(path), half_width=6.0)
    assert track.name == "mine"
    assert track.half_width == 6.0
    np.testing.assert_allclose(track.points, line)
    assert load_map(path).half_width == 8.0


def test_missing_npy_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ReferenceLineError, match="no such file"):
        load_map(str(tmp_path / "absent.npy"))
