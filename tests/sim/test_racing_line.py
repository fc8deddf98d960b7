"""The racing line: inside the road, driven to the finish on every map, faster than the centre-line expert."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import sparse
from scipy.optimize import lsq_linear
from tests.conftest import u_turn_line

from hairpin.config.sim import EnvConfig, RacingLineConfig
from hairpin.sim import state as st
from hairpin.sim.expert import drive_lap, reference_lap
from hairpin.sim.generator import blocks_to_line, generate_blocks
from hairpin.sim.maps import BUILTIN_MAPS, load_map
from hairpin.sim.race import RaceSim
from hairpin.sim.racing_line import (
    _bounded_least_squares,
    _offset_bounds,
    _optimise_offset,
    cache_dir,
    corner_speed_limit,
    limit_lap,
    line_driver,
    path_geometry,
    racing_line,
    speed_profile_along,
)
from hairpin.sim.track import Track


@pytest.fixture(scope="module")
def builtin_lines() -> dict[str, tuple[Track, object]]:
    return {name: (load_map(name), racing_line(load_map(name))) for name in BUILTIN_MAPS}


def test_line_stays_inside_the_road(builtin_lines) -> None:
    physics = EnvConfig().physics
    for name, (track, line) in builtin_lines.items():
        room_right = track.width_right - physics.car_half_width_m
        room_left = track.width_left - physics.car_half_width_m
        assert np.all(line.offset <= room_right + 1e-9), name
        assert np.all(line.offset >= -room_left - 1e-9), name
        assert np.abs(line.offset).max() > 2.0, f"{name}: the line never leaves the centre"


def test_line_driver_finishes_every_builtin_map_faster_than_the_expert(builtin_lines) -> None:
    env = EnvConfig()
    for name, (track, line) in builtin_lines.items():
        expert = reference_lap(track, env)
        assert line.lap_ms is not None, f"{name}: the racing line did not finish"
        assert line.lap_ms < expert.race_time_ms, name
    tight_expert = reference_lap(builtin_lines["technical"][0], env).race_time_ms
    assert builtin_lines["technical"][1].lap_ms < 0.9 * tight_expert  # tight turns: the line pays most


def test_limit_replays_exactly_in_the_simulator(builtin_lines) -> None:
    """The recorded limit is what the driver does in a fresh simulator, to the tick."""
    track, line = builtin_lines["sprint"]
    env = EnvConfig()
    lap = drive_lap(RaceSim(env, [track]), line_driver(track, env.physics, line))
    assert lap.finished and lap.race_time_ms == line.lap_ms == limit_lap(track)


def test_held_actions_only_drives_as_an_agent_must(builtin_lines) -> None:
    """Without the tracker's per-tick inputs every 50 ms step holds one key combination; the lap still finishes
    and, on ``sprint``, stays within 5% of the limit."""
    track, line = builtin_lines["sprint"]
    env = EnvConfig()
    driver = line_driver(track, env.physics, line, cfg=RacingLineConfig(held_actions_only=True, horizon_s=3.0))
    lap = drive_lap(RaceSim(env, [track]), driver)
    steps = lap.keys.reshape(-1, env.physics.ticks_per_step, 4)
    assert (steps == steps[:, :1]).all()
    shipped = drive_lap(RaceSim(env, [track]), line_driver(track, env.physics, line)).keys
    shipped = shipped.reshape(-1, env.physics.ticks_per_step, 4)
    assert not (shipped == shipped[:, :1]).all()  # the default driver does change keys between ticks
    assert lap.finished and lap.race_time_ms <= 1.05 * line.lap_ms


def test_hairpin_line_uses_the_road_width() -> None:
    """On a U-turn the line swings out before the turn and clips the inside: it bends less than the centre line."""
    track = Track(name="u-turn", points=u_turn_line(radius=16.0, leg_m=60.0), half_width=8.0)
    line = racing_line(track, cfg=RacingLineConfig(cache=False))
    _, segments, curvature = path_geometry(track, line.offset)
    bending = np.sum(curvature[1:] ** 2 * segments)
    assert bending < 0.8 * np.sum(track.curvature[1:] ** 2 * 0.5)
    assert line.offset[100] < -2.0 and line.offset[170] > 2.0  # out to the left before, in to the right at the apex
    assert line.lap_ms is not None and line.lap_ms < reference_lap(track, EnvConfig()).race_time_ms


def test_speed_profile_respects_grip_engine_and_brakes() -> None:
    physics = EnvConfig().physics
    n = 2001
    curvature = np.zeros(n)
    curvature[1400:1500] = 1 / 20.0
    segments, rise = np.full(n - 1, 0.5), np.zeros(n - 1)
    v = speed_profile_along(segments, curvature, rise, physics, grip_use=1.0, brake_use=1.0)
    assert v[0] == 0.0
    corner = np.sqrt(physics.grip * 20.0)
    assert np.all(v[1400:1500] <= corner + 1e-6)
    gained = v[1:] ** 2 - v[:-1] ** 2
    assert np.all(gained <= 2 * physics.engine_accel * 0.5 + 1e-6)  # no point gains more than the engine gives
    lost = v[:-1] ** 2 - v[1:] ** 2
    assert lost.max() > 0 and np.all(lost <= 2 * (physics.brake_accel + physics.drag * 90**2 + 1) * 0.5 + 1e-6)
    aim = speed_profile_along(segments, curvature, rise, physics, 1.0, 1.0, forward=False)
    assert aim[0] > 50 and np.all(aim >= v - 1e-9)
    assert np.all(corner_speed_limit(np.full(3, 1 / 16.0), physics, 1.0) <= np.sqrt(physics.grip * 16.0))


def test_generated_maps_finish() -> None:
    for seed in (101, 202, 303):
        track = Track(name=f"gen-{seed}", points=blocks_to_line(generate_blocks(seed, 14)))
        assert limit_lap(track) is not None, seed


def test_real_reference_line_finishes(hockolicious_path) -> None:
    track = Track.from_file(hockolicious_path)
    line = racing_line(track)
    assert line.lap_ms is not None and line.lap_ms < reference_lap(track, EnvConfig()).race_time_ms


def test_cached_by_content(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HAIRPIN_CACHE", str(tmp_path))
    track = Track(name="u-turn", points=u_turn_line(radius=24.0, leg_m=40.0))
    cfg = RacingLineConfig(grip_uses=(1.0,), length_weights=(0.0,))
    first = racing_line(track, cfg=cfg)
    files = list(cache_dir().glob("*.npz"))
    assert len(files) == 1
    from hairpin.sim import racing_line as module

    module._MEMORY.clear()
    again = racing_line(Track(name="renamed", points=u_turn_line(radius=24.0, leg_m=40.0)), cfg=cfg)
    assert again.lap_ms == first.lap_ms and np.array_equal(again.offset, first.offset)
    assert len(list(cache_dir().glob("*.npz"))) == 1  # same content, same entry, whatever the name
    files[0].write_bytes(b"damaged")
    module._MEMORY.clear()
    assert racing_line(track, cfg=cfg).lap_ms == first.lap_ms  # a damaged entry is recomputed
    other = racing_line(track, cfg=cfg.model_copy(update={"margins_m": (1.5,)}))
    assert len(list(cache_dir().glob("*.npz"))) == 2 and other is not first


def test_bounded_least_squares_finds_the_exact_bounded_minimum() -> None:
    """A banded problem like the line's (second differences, weighted), some values held at their bounds: the
    solver lands on scipy's exact bounded linear least squares."""
    n = 120
    rng = np.random.default_rng(0)
    second = sparse.diags([1.0, -2.0, 1.0], [0, 1, 2], shape=(n - 2, n))  # (n-2, n)
    a = sparse.vstack([second * 10.0, sparse.identity(n) * 0.3]).tocsr()
    b = np.concatenate([rng.normal(0.0, 1.0, n - 2), np.zeros(n)])
    lo, hi = np.full(n, -0.5), np.full(n, 0.5)
    exact = lsq_linear(a.toarray(), b, bounds=(lo, hi), method="bvls", tol=1e-15).x
    assert np.any(np.isclose(exact, 0.5)) and np.any(np.isclose(exact, -0.5))  # bounds are active
    lo[0] = hi[0] = exact[0]  # one value held fixed, as the line's first point is
    found = _bounded_least_squares(lambda x: (a @ x - b, a), np.zeros(n), lo, hi)
    np.testing.assert_allclose(found, exact, atol=1e-8)


def test_the_line_does_not_depend_on_numpys_simd_kernels(tmp_path: Path) -> None:
    """The machine's float kernels (AVX-512 or not) change the last bits of every step; the optimised offsets must
    not move for it (the first-order solver hairpin used before ended millimetres apart, the limit 1% apart)."""
    from numpy._core import _multiarray_umath as umath

    extra = [target for target in umath.__cpu_dispatch__ if umath.__cpu_features__.get(target)]
    if not extra:
        pytest.skip("this machine has no NumPy SIMD kernels beyond the baseline to turn off")
    script = (
        "import sys, numpy as np\n"
        "from hairpin.config.sim import EnvConfig\n"
        "from hairpin.sim.maps import load_map\n"
        "from hairpin.sim.racing_line import _offset_bounds, _optimise_offset\n"
        "track = load_map('sprint')\n"
        "lo, hi = _offset_bounds(track, EnvConfig().physics, 0.5)\n"
        "np.save(sys.argv[1], _optimise_offset(track, lo, hi, 0.001))\n"
    )
    baseline_only = {**os.environ, "NPY_DISABLE_CPU_FEATURES": " ".join(extra)}
    out = tmp_path / "offset.npy"
    subprocess.run([sys.executable, "-c", script, str(out)], env=baseline_only, check=True, timeout=300)
    track = load_map("sprint")
    lo, hi = _offset_bounds(track, EnvConfig().physics, 0.5)
    np.testing.assert_allclose(np.load(out), _optimise_offset(track, lo, hi, 0.001), rtol=0, atol=1e-6)


def _reference_points(sim: RaceSim) -> np.ndarray:
    return sim.floats[0, sim.layout.ref_points].reshape(-1, 3).astype(np.float64)


def test_floats_can_follow_the_racing_line() -> None:
    """``env.reference_line: racing`` moves each reference point by the line's offset there, and nothing else."""
    track = Track(name="u-turn", points=u_turn_line(radius=16.0, leg_m=60.0), half_width=8.0)
    env = EnvConfig(image_size=16, n_ref_points=12, ref_point_spacing_m=5.0)
    on_centre, on_line = RaceSim(env, [track]), RaceSim(env.model_copy(update={"reference_line": "racing"}), [track])
    offsets = racing_line(track, env).offset
    assert np.array_equal(on_line.ref_lateral, offsets) and not on_centre.ref_lateral.any()
    rng = np.random.default_rng(0)
    on_centre.reset_cars([0], rng)
    on_line.reset_cars([0], rng)
    throttle_left = np.array([2])  # accel+left: the car turns off the centre line
    for step in range(40):
        moved = np.abs(_reference_points(on_line) - _reference_points(on_centre))
        ahead = on_centre.state[0, st.S] + env.ref_point_spacing_m * np.arange(1, env.n_ref_points + 1)  # st.S
        expected = np.abs(np.interp(ahead / 0.5, np.arange(len(offsets)), offsets))
        assert np.allclose(np.linalg.norm(moved, axis=1), expected, atol=1e-3), step
        others = np.ones(on_line.layout.size, bool)
        others[on_line.layout.ref_points] = False
        assert np.array_equal(on_line.floats[0, others], on_centre.floats[0, others])
        assert on_line.step(throttle_left).reward[0] == on_centre.step(throttle_left).reward[0]
    assert expected.max() > 2.0  # the hairpin's line leaves the centre line: the test compared something


def test_the_game_refuses_a_racing_reference_line() -> None:
    with pytest.raises(ValueError, match="reference_line must be centre with backend: game"):
        EnvConfig(backend="game", reference_line="racing")
