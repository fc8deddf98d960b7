from __future__ import annotations

import numpy as np
import pytest
from tests.conftest import straight_line

from hairpin.config.sim import PhysicsConfig
from hairpin.sim import state as st
from hairpin.sim.physics import advance_pack, physics_params, reset_car
from hairpin.sim.track import Track, TrackPack

HALF_WIDTH = 8.0


def run(
    pack: TrackPack, state: np.ndarray, keys: np.ndarray, ticks: int, cfg: PhysicsConfig | None = None
) -> list[np.ndarray]:
    """Advance tick by tick; return the state after each tick."""
    p, gears = physics_params(cfg or PhysicsConfig())
    track_id = np.zeros(len(state), np.int64)
    tick_keys = np.ascontiguousarray(np.broadcast_to(np.asarray(keys, np.int8), (len(state), 1, 4)))
    history = []
    for _ in range(ticks):
        advance_pack(state, track_id, tick_keys, pack, gears, p)
        history.append(state.copy())
    return history


@pytest.fixture
def straight() -> TrackPack:
    return TrackPack.build([Track("straight", straight_line(3000), half_width=HALF_WIDTH)])


def speed(row: np.ndarray) -> float:
    return float(np.hypot(row[st.VX], row[st.VZ]))


def test_top_speed_on_the_flat_is_about_80(straight: TrackPack) -> None:
    state = np.zeros((1, st.N_STATE))
    reset_car(state[0], straight, 0)
    history = run(straight, state, [1, 0, 0, 0], 3500)
    assert 77.0 < speed(history[-1][0]) < 83.0
    assert speed(history[-1][0]) - speed(history[-500][0]) < 0.5  # settled


def test_brakes_stop_then_reverse(straight: TrackPack) -> None:
    state = np.zeros((1, st.N_STATE))
    reset_car(state[0], straight, 0)
    run(straight, state, [1, 0, 0, 0], 300)
    v0 = state[0, st.VZ]
    history = run(straight, state, [0, 1, 0, 0], 400)
    v = np.array([h[0, st.VZ] for h in history])
    t_stop = int(np.argmax(v <= 0.0))
    assert t_stop * 0.01 == pytest.approx(v0 / PhysicsConfig().brake_accel, abs=0.3)
    assert -PhysicsConfig().reverse_max_speed - 0.01 <= v[-1] < -5.0


def test_straight_into_a_wall_stops_and_never_passes(straight: TrackPack) -> None:
    cfg = PhysicsConfig()
    limit = HALF_WIDTH - cfg.car_half_width_m
    for yaw, side in ((np.pi / 2, 1.0), (-np.pi / 2, -1.0), (np.pi / 4, 1.0)):
        state = np.zeros((1, st.N_STATE))
        reset_car(state[0], straight, 0, yaw_offset=yaw)
        state[0, [st.X, st.Z]] = [0.0, 100.0]
        state[0, st.IDX] = 200
        state[0, [st.VX, st.VZ]] = 60.0 * np.array([np.sin(yaw), np.cos(yaw)])
        history = run(straight, state, [1, 0, 0, 0], 300)
        lateral = np.array([h[0, st.X] for h in history])  # +x is the right of a +z line
        assert np.all(side * lateral <= limit + 1e-9)
        assert np.any(np.array([h[0, st.WALL] for h in history]) > 0)
        if abs(yaw) == np.pi / 2:  # head-on: stopped against the wall
            assert speed(history[-1][0]) < 0.2
            assert side * lateral[-1] == pytest.approx(limit, abs=1e-6)


def test_glancing_wall_contact_costs_speed(straight: TrackPack) -> None:
    state = np.zeros((1, st.N_STATE))
    reset_car(state[0], straight, 0, yaw_offset=0.2)
    state[0, [st.X, st.Z, st.IDX]] = [5.0, 100.0, 200]
    state[0, [st.VX, st.VZ]] = 50.0 * np.array([np.sin(0.2), np.cos(0.2)])
    history = run(straight, state, [0, 0, 0, 0], 40)
    assert any(h[0, st.WALL] for h in history)
    assert speed(history[-1][0]) < 50.0 - 3.0


def test_steering_at_speed_is_grip_limited_and_braking_drifts(straight: TrackPack) -> None:
    def slip_after(keys: list[int]) -> tuple[float, float]:
        state = np.zeros((1, st.N_STATE))
        reset_car(state[0], straight, 0)
        state[0, [st.Z, st.IDX, st.VZ]] = [50.0, 100, 40.0]
        history = run(straight, state, keys, 30)
        row = history[-1][0]
        yaw = row[st.YAW]
        lateral = row[st.VX] * np.cos(yaw) - row[st.VZ] * np.sin(yaw)
        return abs(lateral), max(h[0, st.SLIDING] for h in history)

    grip_slip, _ = slip_after([0, 0, 0, 1])
    brake_slip, brake_sliding = slip_after([0, 1, 0, 1])
    assert brake_slip > grip_slip
    assert brake_sliding == 1.0


def test_speed_dependent_steering(straight: TrackPack) -> None:
    def yaw_rate_at(v: float) -> tuple[float, float]:
        state = np.zeros((1, st.N_STATE))
        reset_car(state[0], straight, 0)
        state[0, [st.Z, st.IDX, st.VZ]] = [50.0, 100, v]
        row = run(straight, state, [0, 0, 0, 1], 30)[-1][0]
        return float(row[st.YAW_RATE]), speed(row)

    (slow, _), (fast, v_fast) = yaw_rate_at(10.0), yaw_rate_at(70.0)
    assert slow > fast > 0  # right turns raise the heading; the steering angle shrinks with speed
    cfg = PhysicsConfig()
    assert fast <= cfg.oversteer * cfg.grip / v_fast * 1.01  # capped a little above grip at speed


def test_same_inputs_give_the_same_trajectory(straight: TrackPack) -> None:
    rng = np.random.default_rng(3)
    keys = rng.integers(0, 2, (400, 4))
    runs = []
    for _ in range(2):
        state = np.zeros((1, st.N_STATE))
        reset_car(state[0], straight, 0)
        for k in keys:
            run(straight, state, k, 1)
        runs.append(state.copy())
    np.testing.assert_array_equal(runs[0], runs[1])


def test_scraping_a_wall_turns_the_car_along_it(straight: TrackPack) -> None:
    state = np.zeros((1, st.N_STATE))
    reset_car(state[0], straight, 0, yaw_offset=0.5)  # 29° into the right wall
    state[0, [st.X, st.Z, st.IDX]] = [5.0, 100.0, 200]
    state[0, [st.VX, st.VZ]] = 30.0 * np.array([np.sin(0.5), np.cos(0.5)])
    history = run(straight, state, [1, 0, 0, 0], 200)
    row = history[-1][0]
    assert abs(row[st.YAW]) < 0.05  # parallel to the wall (the line heads +z, yaw 0)
    assert row[st.VZ] > 20.0  # still driving along it
