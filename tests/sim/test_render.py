"""Chase-camera renderer: shapes, what the camera sees where, locality along the line, determinism."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hairpin.config.sim import CameraConfig
from hairpin.sim.camera import camera_view, ground_rows
from hairpin.sim.render import (
    GRAY_PALETTE,
    MATERIALS,
    RGB_PALETTE,
    Renderer,
)
from hairpin.sim.state import IDX, N_STATE, YAW, X, Z
from hairpin.sim.track import Track, TrackPack

ROAD, GRASS, SKY, CAR = MATERIALS["road"], MATERIALS["grass"], MATERIALS["sky"], MATERIALS["car"]
NO_CHECKPOINTS = np.zeros(0)


def straight_line(length_m: float = 300.0) -> np.ndarray:
    """(N, 3) line along +z from the origin (heading yaw 0)."""
    z = np.arange(0.0, length_m, 0.5)
    return np.stack([np.zeros_like(z), np.zeros_like(z), z], axis=1)


def line_from_turns(segments: list[tuple[float, float]]) -> np.ndarray:
    """(N, 3) flat line from the origin heading +z, made of (length m, curvature 1/m, positive right) pieces."""
    points, x, z, yaw = [], 0.0, 0.0, 0.0
    for length_m, curvature in segments:
        for _ in range(round(length_m / 0.5)):
            points.append((x, 0.0, z))
            yaw += 0.5 * curvature
            x, z = x + 0.5 * math.sin(yaw), z + 0.5 * math.cos(yaw)
    return np.array(points)


def car_on(track: Track, i: int, lateral_m: float = 0.0) -> np.ndarray:
    """(N_STATE,) car on point i of a track, facing along it, ``lateral_m`` to the right of the line."""
    tx, tz = track.tangent[i]
    state = np.zeros(N_STATE)
    state[X] = track.centre[i, 0] + lateral_m * tz  # right normal of (tx, tz) is (tz, -tx)
    state[Z] = track.centre[i, 2] - lateral_m * tx
    state[YAW] = math.atan2(tx, tz)
    state[IDX] = i
    return state


def materials_seen(track: Track, state: np.ndarray, size: int = 64) -> np.ndarray:
    """(S, S) material ids one car sees on a track of its own."""
    renderer = Renderer(TrackPack.build([track]), CameraConfig(), size)
    return renderer.materials(np.zeros(1, np.int64), state[None])[0]


@pytest.mark.parametrize("size", [32, 64, 128])
def test_shapes_and_dtypes(size: int) -> None:
    track = Track("straight", straight_line())
    renderer = Renderer(TrackPack.build([track, track]), CameraConfig(), size)
    state = np.stack([car_on(track, i) for i in (10, 200, 590)])  # (3, N_STATE)
    track_id = np.array([0, 1, 0], dtype=np.int64)
    gray = renderer.gray(track_id, state)
    assert gray.shape == (3, 1, size, size) and gray.dtype == np.uint8
    out = np.zeros((3, 1, size, size), np.uint8)
    assert renderer.gray(track_id, state, out=out) is out
    np.testing.assert_array_equal(out, gray)
    rgb = renderer.rgb(track_id, state)
    assert rgb.shape == (3, size, size, 3) and rgb.dtype == np.uint8
    assert renderer.rgb(track_id, state, size=256).shape == (3, 256, 256, 3)


def test_palettes_tell_materials_apart() -> None:
    assert GRAY_PALETTE.shape == (len(MATERIALS),) and RGB_PALETTE.shape == (len(MATERIALS), 3)
    gray = np.sort(GRAY_PALETTE.astype(int))
    assert np.diff(gray).min() >= 20
    assert len({tuple(c) for c in RGB_PALETTE}) == len(MATERIALS)


def test_ground_rows_match_ray_casting() -> None:
    camera = CameraConfig(height_m=4.0, pitch_deg=20.0, fov_deg=90.0)
    size = 16
    rows = ground_rows(camera, size)
    focal = 0.5 * size / math.tan(math.radians(45.0))
    pitch = math.radians(20.0)
    axis = np.array([math.cos(pitch), -math.sin(pitch)])  # (forward, up) of the optical axis
    down = np.array([-math.sin(pitch), -math.cos(pitch)])  # image "down" direction, perpendicular to it
    for r in range(size):
        ray = focal * axis + (r + 0.5 - size / 2) * down
        if ray[1] >= 0:
            assert rows[r, 0] == np.inf
            continue
        length = 4.0 / -ray[1]
        assert rows[r, 0] == pytest.approx(length * ray[0])
        assert rows[r, 1] == pytest.approx(1.0 / length)  # one pixel sideways is `length` metres on the ground
    assert camera_view(camera, size)[6] == np.argmax(np.isfinite(rows[:, 0]))


def test_straight_road_below_and_sky_above() -> None:
    seen = materials_seen(Track("straight", straight_line()), car_on(Track("straight", straight_line()), 200))
    size = seen.shape[0]
    assert seen[size - 1, size // 2] == ROAD
    assert (seen[0] == SKY).all()
    assert (seen[:, size // 2] == CAR).any()
    np.testing.assert_array_equal(seen, seen[:, ::-1])  # on the line of a straight road: mirror symmetric


def test_car_right_of_the_line_sees_the_road_on_its_left() -> None:
    track = Track("straight", straight_line())
    seen = materials_seen(track, car_on(track, 200, lateral_m=5.0))
    half = seen.shape[1] // 2
    assert (seen[:, :half] == ROAD).sum() > (seen[:, half:] == ROAD).sum() + 50


@pytest.mark.parametrize("direction", [1.0, -1.0])
def test_turn_ahead_curves_to_its_side(direction: float) -> None:
    track = Track("turn", line_from_turns([(60.0, 0.0), (40.0 * math.pi / 2, direction / 40.0), (120.0, 0.0)]))
    seen = materials_seen(track, car_on(track, 60))  # 30 m before the turn
    size = seen.shape[0]
    first_road_row = int(np.argmax((seen == ROAD).any(axis=1)))
    far = seen[first_road_row : first_road_row + 2] == ROAD  # the two upper rows with road: far ahead
    cols = np.nonzero(far)[1]
    assert direction * (cols.mean() - (size - 1) / 2) > size / 8  # right turn: right of the image centre


def test_only_the_line_near_the_car_is_drawn() -> None:
    # Out along +z, a U-turn to the right, back along -z, then a right turn onto a bridge 7 m up that crosses
    # the first straight 60 m from the start, going -x: in view of a car at the start, but 600 m further on.
    segments = [(300.0, 0.0), (40.0 * math.pi, 1 / 40), (220.0, 0.0), (20.0 * math.pi / 2, 1 / 20), (150.0, 0.0)]
    points = line_from_turns(segments)
    crossing_start = len(points) - 300
    points[crossing_start - 60 : crossing_start, 1] = np.linspace(0.0, 7.0, 60)  # a 30 m ramp up to the bridge
    points[crossing_start:, 1] = 7.0
    loop = Track("loop", points, checkpoints_m=NO_CHECKPOINTS)
    assert loop.length_m > 700 and np.abs(points[crossing_start:, 2] - 60).max() < 1.0
    car = car_on(loop, 40)  # 20 m from the start, 40 m before the bridge
    seen = materials_seen(loop, car)
    straight_only = materials_seen(Track("out", points[:600], checkpoints_m=NO_CHECKPOINTS), car)
    bridge = Track("bridge", points[crossing_start:], checkpoints_m=NO_CHECKPOINTS)
    bridge_car = car.copy()
    bridge_car[IDX] = 0
    bridge_only = materials_seen(bridge, bridge_car)
    under_bridge = (bridge_only == ROAD) & (straight_only == GRASS)
    assert under_bridge.sum() > 20  # a global renderer would draw road there
    assert (seen[under_bridge] == GRASS).all()
    np.testing.assert_array_equal(seen, straight_only)


def test_checkpoint_just_ahead_is_drawn() -> None:
    line = straight_line()
    with_checkpoint = Track("cp", line, checkpoints_m=np.array([60.0]))
    without = Track("no cp", line, checkpoints_m=NO_CHECKPOINTS)
    car = car_on(without, 100)  # 10 m before the checkpoint
    assert (materials_seen(with_checkpoint, car) == MATERIALS["checkpoint"]).sum() > 20
    assert not (materials_seen(without, car) == MATERIALS["checkpoint"]).any()


def test_finish_is_checkered() -> None:
    track = Track("straight", straight_line(), checkpoints_m=NO_CHECKPOINTS)
    seen = materials_seen(track, car_on(track, track.n_points - 30), size=128)  # 15 m before the end
    assert (seen == MATERIALS["finish_dark"]).sum() > 10
    assert (seen == MATERIALS["finish_light"]).sum() > 10


def test_car_body_is_fixed_in_the_image() -> None:
    track = Track("turn", line_from_turns([(100.0, 0.0), (60.0, 1 / 30), (100.0, 0.0)]))
    bodies = [materials_seen(track, car_on(track, i, lat)) == CAR for i, lat in [(50, 0.0), (230, -3.0)]]
    np.testing.assert_array_equal(*bodies)
    assert bodies[0].sum() > 20


def test_rendering_is_deterministic_and_batch_matches_single_cars() -> None:
    tracks = [Track("straight", straight_line()), Track("turn", line_from_turns([(80.0, 0.0), (60.0, -1 / 25)]))]
    renderer = Renderer(TrackPack.build(tracks), CameraConfig(), 64)
    track_id = np.array([0, 1, 1, 0], dtype=np.int64)
    state = np.stack(
        [car_on(tracks[t], i, lat) for t, i, lat in [(0, 5, 0.0), (1, 150, 2.0), (1, 40, -6.0), (0, 580, 1.0)]]
    )
    batch = renderer.gray(track_id, state)
    np.testing.assert_array_equal(batch, renderer.gray(track_id, state))
    for c in range(len(track_id)):
        np.testing.assert_array_equal(batch[c], renderer.gray(track_id[c : c + 1], state[c : c + 1])[0])


def test_bad_inputs_are_refused() -> None:
    track = Track("straight", straight_line())
    renderer = Renderer(TrackPack.build([track]), CameraConfig(), 32)
    state = car_on(track, 10)[None]
    with pytest.raises(IndexError):
        renderer.gray(np.array([1], dtype=np.int64), state)
    with pytest.raises(ValueError):
        renderer.gray(np.zeros(1, np.int64), state, out=np.zeros((1, 1, 16, 16), np.uint8))
    with pytest.raises(ValueError, match="at least"):
        Renderer(TrackPack.build([track]), CameraConfig(), 4)
