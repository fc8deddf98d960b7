"""Tests of hairpin.rl.shaping: the distance to the line read from the floats, and the shaped n-step reward."""

from __future__ import annotations

import numpy as np
import pytest

from hairpin.obs import FloatLayout
from hairpin.rl.nstep import empty_batch
from hairpin.rl.shaping import LinePotential, distance_to_line

LAYOUT = FloatLayout()


def floats_beside_a_straight(offsets_m: list[float], heading_rad: float = 0.0) -> np.ndarray:
    """Floats (B, F) of cars ``offsets_m`` to the right of a straight line, heading ``heading_rad`` off it."""
    out = np.zeros((len(offsets_m), LAYOUT.size), np.float32)
    ahead = LAYOUT.ref_point_spacing_m * np.arange(1, LAYOUT.n_ref_points + 1)  # (K,) metres along the line
    c, s = np.cos(heading_rad), np.sin(heading_rad)
    for row, offset in enumerate(offsets_m):
        world_x, world_z = -offset * np.ones_like(ahead), ahead  # the line, seen from the car, in line axes
        points = np.stack([c * world_x - s * world_z, np.zeros_like(ahead), s * world_x + c * world_z], 1)
        out[row, LAYOUT.ref_points] = points.ravel()
    return out


def test_distance_to_a_straight_line_is_the_lateral_offset_whatever_the_heading() -> None:
    floats = floats_beside_a_straight([0.0, 3.0, -7.5])
    assert distance_to_line(floats, LAYOUT) == pytest.approx([0.0, 3.0, 7.5], abs=1e-4)
    turned = floats_beside_a_straight([4.0], heading_rad=0.4)
    assert distance_to_line(turned, LAYOUT) == pytest.approx([4.0], abs=1e-4)


def test_potential_is_clipped_and_shapes_the_reward_by_its_difference() -> None:
    potential = LinePotential(LAYOUT, per_m=-0.1, min_m=2.0, max_m=25.0)
    assert potential(floats_beside_a_straight([0.5, 10.0, 40.0])) == pytest.approx([-0.2, -1.0, -2.5])
    batch = empty_batch(3, (1, 4, 4), LAYOUT.size)
    batch.floats[:] = floats_beside_a_straight([10.0, 10.0, 10.0])
    batch.next_floats[:] = floats_beside_a_straight([5.0, 5.0, 5.0])
    batch.reward[:] = 1.0
    batch.discount[:] = [1.0, 0.5, 0.0]  # the last one is terminal: its next potential does not count
    potential.apply(batch)
    assert batch.reward == pytest.approx([1.0 - 0.5 + 1.0, 1.0 - 0.25 + 1.0, 1.0 + 1.0])
