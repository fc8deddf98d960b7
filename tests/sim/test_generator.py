"""Tests of the block track generator: geometry of each block, self-intersection, determinism, spacing."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from hairpin.sim.generator import (
    BLOCKS,
    CELL_M,
    TrackLayoutError,
    blocks_to_line,
    generate_blocks,
    generate_track,
    parse_blocks,
)
from hairpin.sim.refline import POINT_SPACING_M, validate_reference_line
from hairpin.sim.track import Track

TURNS = {"R16": 16.0, "L16": -16.0, "R48": 48.0, "L48": -48.0, "R80": 80.0, "L80": -80.0}
"""Turn codes and their signed radius (positive turning right)."""


def heading_deg(track: Track, index: int) -> float:
    tx, tz = track.tangent[index]
    return math.degrees(math.atan2(tx, tz))


def point_at(line: np.ndarray, metres: float) -> int:
    return round(metres / POINT_SPACING_M)


def test_generated_tracks_never_come_close_to_themselves() -> None:
    # Points more than 40 m apart along the line must be more than 20 m apart horizontally. Within one
    # stretch of road the tightest bend is a 16 m radius, so two points 40 m apart along it are at least
    # 2 · 16 · sin(40 / 32) = 30.4 m apart, and a U-turn of two 16 m turns brings the legs back to 32 m.
    # Blocks that share no cell have centre lines at least ~22 m apart (roads stay 8 m inside their cells),
    # so 20 m fails only when two legs share a cell or their walls (8 m from the centre) would overlap.
    for seed in range(200):
        n_blocks = 8 + seed % 40
        line = blocks_to_line(generate_blocks(seed, n_blocks))[::4]  # one point every 2 m
        xz = line[:, [0, 2]]
        along = np.arange(len(line)) * 4 * POINT_SPACING_M
        far_along = np.abs(along[:, None] - along[None, :]) > 40.0
        apart = np.linalg.norm(xz[:, None, :] - xz[None, :, :], axis=2)
        closest = apart[far_along].min() if far_along.any() else math.inf
        assert closest > 20.0, f"seed {seed}, {n_blocks} blocks: legs {closest:.1f} m apart"


def test_same_seed_gives_the_same_blocks() -> None:
    assert generate_blocks(7, 30) == generate_blocks(7, 30)
    assert generate_blocks(7, 30) != generate_blocks(8, 30)


def test_generated_blocks_start_and_finish_on_straights_and_stay_inside_the_extent() -> None:
    for seed in range(20):
        blocks = generate_blocks(seed, 40, max_extent=16)
        assert len(blocks) == 40
        assert blocks[0] == "S" and blocks[-1] == "S"
        xz = blocks_to_line(blocks)[:, [0, 2]]
        assert (np.ptp(xz, axis=0) <= 16 * CELL_M).all()


def test_weights_choose_the_blocks() -> None:
    blocks = generate_blocks(3, 30, weights={"S": 1.0, "R16": 1.0, "L16": 1.0})
    assert set(blocks) <= {"S", "R16", "L16"}
    assert set(generate_blocks(3, 10, weights={"S": 1.0})) == {"S"}
    with pytest.raises(TrackLayoutError, match="unknown block code 'X9'"):
        generate_blocks(3, 10, weights={"X9": 1.0})
    with pytest.raises(ValueError, match="finite and >= 0"):
        generate_blocks(3, 10, weights={"S": -1.0})
    with pytest.raises(ValueError, match="no block a positive weight"):
        generate_blocks(3, 10, weights={"S": 0.0})


def test_ramps_keep_heights_in_range() -> None:
    for seed in range(30):
        line = blocks_to_line(generate_blocks(seed, 40, max_height_m=12.0))
        assert line[:, 1].min() >= -1e-9
        assert line[:, 1].max() <= 12.0 + 1e-9


def test_points_are_half_a_metre_apart_and_validate_without_warning() -> None:
    for blocks in (generate_blocks(1, 30), "S " + " ".join(BLOCKS) + " S"):
        line = blocks_to_line(blocks)
        step = np.linalg.norm(np.diff(line, axis=0), axis=1)
        np.testing.assert_allclose(step, POINT_SPACING_M, atol=1e-3)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            validate_reference_line(line)


def test_generate_track_names_the_track() -> None:
    assert generate_track(5, 12).name == "gen-5"
    assert generate_track(5, 12, name="mine").name == "mine"


@pytest.mark.parametrize("code", list(TURNS))
def test_turns_change_heading_by_a_quarter_at_their_radius(code: str) -> None:
    radius = TURNS[code]
    track = Track("turn", blocks_to_line(f"S {code} S"))
    assert heading_deg(track, -1) - heading_deg(track, 0) == pytest.approx(math.copysign(90.0, radius), abs=0.5)
    middle = point_at(track.points, CELL_M + 0.25 * math.pi * abs(radius))
    assert track.curvature[middle] == pytest.approx(1.0 / radius, rel=0.03)
    # The exit is the middle of a cell edge: one cell forward after the turn, (cells) sideways.
    cells = round(abs(radius) / CELL_M + 0.5)
    end = track.points[-1]
    expected_x = 16.0 + math.copysign(cells * CELL_M - 16.0 + CELL_M, radius)
    assert end[0] == pytest.approx(expected_x, abs=POINT_SPACING_M)
    assert end[2] == pytest.approx(CELL_M + abs(radius), abs=1e-6)


@pytest.mark.parametrize(("code", "side"), [("SR", 1), ("SL", -1)])
def test_s_bends_shift_one_cell_sideways(code: str, side: int) -> None:
    track = Track("bend", blocks_to_line(f"S {code} S"))
    assert heading_deg(track, -1) == pytest.approx(heading_deg(track, 0), abs=0.5)
    assert track.points[-1, 0] - track.points[0, 0] == pytest.approx(side * CELL_M, abs=1e-6)
    arc = 0.5 * BLOCKS[code].length_m
    first, second = point_at(track.points, CELL_M + 0.5 * arc), point_at(track.points, CELL_M + 1.5 * arc)
    assert track.curvature[first] == pytest.approx(side / 40.0, rel=0.05)
    assert track.curvature[second] == pytest.approx(-side / 40.0, rel=0.05)


@pytest.mark.parametrize(("code", "climb"), [("U4", 4.0), ("U8", 8.0)])
def test_ramps_climb_smoothly(code: str, climb: float) -> None:
    line = blocks_to_line(f"S {code} S")
    assert line[-1, 1] == pytest.approx(climb)
    slope = np.diff(line[:, 1]) / np.linalg.norm(np.diff(line[:, [0, 2]], axis=0), axis=1)
    assert slope.min() >= 0.0
    assert slope.max() <= 0.5
    assert blocks_to_line(f"S {code} S D{climb:.0f} S")[-1, 1] == pytest.approx(0.0, abs=1e-9)


def test_start_heading_rotates_the_track() -> None:
    north = blocks_to_line("S R16 S")
    east = blocks_to_line("S R16 S", start_heading=90)
    assert heading_deg(Track("e", east), 0) == pytest.approx(90.0, abs=0.5)
    np.testing.assert_allclose(np.diff(east[:, 0]), np.diff(north[:, 2]), atol=1e-6)
    np.testing.assert_allclose(np.diff(east[:, 2]), -np.diff(north[:, 0]), atol=1e-6)


def test_codes_are_parsed_from_strings_and_lists() -> None:
    assert parse_blocks("S  r16\tSL") == parse_blocks(["S", "R16", "SL"])


@pytest.mark.parametrize(
    ("blocks", "message"),
    [
        ("S R16 X5 S", "unknown block code 'X5' at position 2; known codes: S L16 R16"),
        ("", "empty block sequence"),
        ("R16 S", "must be a straight 'S'"),
        ("S R16 R16 R16 S", r"block 4 \(S\) runs into cell \(0, 0\), already used by block 0"),
        ("S R16 R16 S R16 S", r"block 5 \(S\) runs into cell \(0, -1\), which is kept free behind the start"),
        ("S R16 R16 R16", r"the finish leads into cell \(0, 0\), already used by block 0"),
        ("S D4 S", "below height 0"),
    ],
)
def test_bad_block_sequences_are_named(blocks: str, message: str) -> None:
    with pytest.raises(TrackLayoutError, match=message):
        blocks_to_line(blocks)


def test_impossible_generation_is_an_error() -> None:
    with pytest.raises(TrackLayoutError, match="no layout of 40 blocks"):
        generate_blocks(0, 40, weights={"S": 1.0}, max_extent=8)
    with pytest.raises(ValueError, match="at least 2 blocks"):
        generate_blocks(0, 1)
