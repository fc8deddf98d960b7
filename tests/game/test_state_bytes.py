"""State bytes: TMINTERFACE.md §4 offsets, the checkpoint tail, the encode → decode round trip, the material ids,
the un-finish patch, and that the emulator's state decodes to the floats the simulator computes."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from hairpin.config.sim import EnvConfig
from hairpin.game import STATE_FIXED_BYTES, GameProtocolError, decode_state, encode_state, with_last_cp_time
from hairpin.game.emulator_race import EmulatedRace, car_state_of_row
from hairpin.game.state_bytes import OPAQUE_BYTES, material_id_of_kind, material_kind
from hairpin.obs import MATERIAL_KINDS, CarState, build_floats
from hairpin.sim.race import float_layout


def some_car() -> CarState:
    rng = np.random.default_rng(3)
    return CarState(
        position=np.array([512.25, 9.5, -1033.125]),
        orientation=Rotation.from_euler("yxz", [0.7, -0.1, 0.05]).as_matrix(),
        velocity=np.array([3.5, -0.25, 61.0]),
        angular_velocity=np.array([0.01, -0.4, 0.002]),
        wheel_sliding=np.array([0.0, 1.0, 0.0, 1.0]),
        wheel_contact=np.array([1.0, 1.0, 0.0, 1.0]),
        wheel_damper=rng.uniform(0.005, 0.15, 4),
        wheel_material=np.array([0, 1, 2, 3]),
        gearbox_state=2.0,
        gear=4.0,
        rpm=8123.5,
        gearbox_counter=0.0,
        freewheeling=1.0,
    )


def f32(data: bytes, offset: int, n: int = 1) -> tuple[float, ...]:
    return struct.unpack_from(f"<{n}f", data, offset)


def i32(data: bytes, offset: int, n: int = 1) -> tuple[int, ...]:
    return struct.unpack_from(f"<{n}i", data, offset)


def test_round_trip_gives_the_same_car_at_float32() -> None:
    car = some_car()
    decoded = decode_state(encode_state(car, 12340, [True, False], [5000, -1, -1])).car
    for name in ("position", "orientation", "velocity", "angular_velocity", "wheel_damper"):
        expected = np.asarray(getattr(car, name), np.float32)
        assert np.array_equal(np.asarray(getattr(decoded, name), np.float32), expected), name
    for name in ("wheel_sliding", "wheel_contact", "wheel_material"):
        assert np.array_equal(getattr(decoded, name), getattr(car, name)), name
    for name in ("gearbox_state", "gear", "rpm", "gearbox_counter", "freewheeling"):
        assert np.float32(getattr(decoded, name)) == np.float32(getattr(car, name)), name


def test_fields_sit_at_the_documented_offsets() -> None:
    car = some_car()
    data = encode_state(car, -1230, [], [])
    assert len(data) == STATE_FIXED_BYTES == 8356
    assert i32(data, 8) == (0xFF,)
    M = np.asarray(car.orientation, np.float32)
    for i in range(3):
        for j in range(3):
            assert f32(data, 688 + 4 * (3 * i + j)) == (M[i, j],)  # row-major, columns are the car's axes
    assert f32(data, 724, 3) == tuple(np.float32(car.position))
    assert f32(data, 736, 3) == tuple(np.float32(car.velocity))
    assert f32(data, 760, 3) == tuple(np.float32(car.angular_velocity))
    assert i32(data, 2388) == (2,) and f32(data, 3112) == (np.float32(8123.5),)
    assert i32(data, 3128) == (4,) and i32(data, 3196) == (1,)
    for w, base in enumerate((3996, 4760, 5524, 6288)):
        assert f32(data, base) == (np.float32(car.wheel_damper[w]),)
        assert i32(data, base + 112) == (int(car.wheel_contact[w]),)
        assert material_kind(i32(data, base + 116)[0]) == car.wheel_material[w]
        assert i32(data, base + 120) == (int(car.wheel_sliding[w]),)
    assert i32(data, 7892) == (-1230,)


def test_checkpoint_tail_layout() -> None:
    data = encode_state(some_car(), 9000, [True, True, False, False], [4000, 8000, -1])
    assert len(data) == 8396  # TMINTERFACE.md §4.1: 4 states and 3 times
    assert i32(data, 8348) == (4,) and i32(data, 8352, 4) == (1, 1, 0, 0)
    assert i32(data, 8368) == (3,)
    assert i32(data, 8372, 6) == (4000, 0, 8000, 0, -1, 0)  # (time, stunts score) pairs
    state = decode_state(data)
    assert state.cp_states == [True, True, False, False] and state.cp_times_ms == [4000, 8000, -1]
    assert state.race_time_ms == 9000 and state.raw == data


def test_un_finish_patch_changes_only_the_last_checkpoint_time() -> None:
    data = encode_state(some_car(), 9000, [True], [4000, 9000])
    patched = with_last_cp_time(data, -1)
    assert decode_state(patched).cp_times_ms == [4000, -1]
    diff = [k for k in range(len(data)) if data[k] != patched[k]]
    assert diff and min(diff) >= 8352 + 4 + 4 + 8 and max(diff) < 8352 + 4 + 4 + 12
    with pytest.raises(GameProtocolError, match="no checkpoint times"):
        with_last_cp_time(encode_state(some_car(), 0, [], []), -1)


@pytest.mark.parametrize("length", [0, 4, 1424, STATE_FIXED_BYTES - 1])
def test_short_states_are_protocol_errors(length: int) -> None:
    with pytest.raises(GameProtocolError, match="shorter than its fixed part"):
        decode_state(bytes(length))


def test_a_tail_longer_than_the_bytes_is_a_protocol_error() -> None:
    data = bytearray(encode_state(some_car(), 0, [False], [-1, -1]))
    struct.pack_into("<i", data, 8348, 50)
    with pytest.raises(GameProtocolError, match="cannot hold 50 checkpoint states"):
        decode_state(bytes(data))
    with pytest.raises(GameProtocolError, match="checkpoint times"):
        decode_state(bytes(encode_state(some_car(), 0, [False], [-1, -1]))[:-1])


def test_material_ids_map_to_kinds_and_back() -> None:
    assert [material_kind(i) for i in (16, 0, 1, 18, 2, 20, 6, 8, 5, 7, 13, 999)] == [
        0,
        0,
        0,
        0,
        1,
        1,
        2,
        2,
        2,
        3,
        3,
        3,
    ]
    assert material_kind(0x00010010) == 0  # only the low 16 bits name the material
    for kind in range(len(MATERIAL_KINDS)):
        assert material_kind(material_id_of_kind(kind)) == kind


def test_opaque_block_is_kept_and_bounded() -> None:
    opaque = bytes(range(200))
    state = decode_state(encode_state(some_car(), 0, [], [], opaque))
    assert state.opaque[:200] == opaque and len(state.opaque) == OPAQUE_BYTES
    with pytest.raises(ValueError, match="does not fit"):
        encode_state(some_car(), 0, [], [], bytes(OPAQUE_BYTES + 1))


def test_the_emulators_state_decodes_to_the_floats_of_the_simulator() -> None:
    cfg = EnvConfig()
    race = EmulatedRace(cfg, "sprint", countdown_ms=0)
    race.set_keys(left=False, right=False, accelerate=True, brake=False)
    for _ in range(150):
        race.tick()
    race.set_keys(left=False, right=True, accelerate=True, brake=False)
    for _ in range(15):
        race.tick()
    car = decode_state(race.save()).car
    sim = race.sim
    sim.observe()
    layout = float_layout(cfg)
    floats = build_floats(car, np.zeros((layout.n_ref_points, 3)), [], 0.0, layout)
    for block in ("wheel_sliding", "wheel_contact", "wheel_damper", "gearbox_state", "gear", "rpm", "wheel_material"):
        np.testing.assert_allclose(floats[layout.slices[block]], sim.floats[0, layout.slices[block]], rtol=1e-6)
    for block in ("angular_velocity", "velocity", "world_up"):
        np.testing.assert_allclose(
            floats[layout.slices[block]], sim.floats[0, layout.slices[block]], rtol=1e-5, atol=1e-5
        )
    assert np.linalg.norm(sim.floats[0, layout.velocity]) > 5.0  # the car moves and turns: not a check of zeros
    assert abs(sim.floats[0, layout.angular_velocity][1]) > 0.01
    exact = car_state_of_row(race.row)
    assert np.allclose(exact.orientation.T @ exact.orientation, np.eye(3))
