"""The simulation state TMInterface 2 sends for ``C_GET_SIMULATION_STATE``: decode it into ``hairpin.obs.CarState``
and encode one (for the emulator and tests).

Layout (TMINTERFACE.md §4): ``STATE_FIXED_BYTES`` = 8356 bytes with no checkpoints; each checkpoint state adds 4
bytes and each checkpoint time 8; all values little-endian. The offsets below rest on TMINTERFACE.md §4.1/§4.2,
which took them from the TMInterface 1.x struct map that Python clients decode TMInterface 2 states with; that they
hold for TMInterface 2.1.x is inferred from Linesight training on them (§12), not checked against a running game:

- 0 version, 4 context_mode, 8 flags (0xFF: every block valid; ``race_time`` reads 0 without bit 0x80)
- 16 ``timers[1]`` (the ``time`` property; written as the race time here)
- 688 rotation M, 3×3 f32 row-major, ``M[i][j]`` at 688 + 4(3i + j); the columns of M are the car's axes (right,
  up, forward) in world coordinates, which is exactly ``CarState.orientation``
- 724 position, 736 linear speed (world m/s), 760 angular speed (world; rad/s inferred), 3×f32 each
- 2388 gearbox_state i32, 3112 rpm f32, 3128 gear i32, 3196 freewheeling bool32
- wheels w = 0..3 at 3996 + 764w: damper f32 +0, ground contact bool32 +112, contact material i32 +116 (read
  ``& 0xFFFF``), sliding bool32 +120; wheel order as the game stores it, taken to be hairpin's FL, FR, RL, RR
  (inferred)
- 6940 ``cmd_buffer_core``, 264 opaque bytes: the emulator keeps its exact float64 car row there (``opaque``)
- 7892 race_time i32, 8032 race_finished bool32
- 8344 checkpoint data: i32 reserved, i32 n_states @8348, n_states × bool32, i32 n_times, n_times × (i32 time,
  i32 stunts score). A time of −1 is a checkpoint not yet passed; −1 in the last entry un-finishes a race.

Not written or read: the quaternion at 672 (unused by any client), the previous/temporary dyna states, the input
events. ``CarState.gearbox_counter`` is not in the bytes (clients derive it from the history): it decodes as 0.

Contact materials. The game's ``contact_material_id`` (low 16 bits) names a surface; hairpin keeps four kinds
(``MATERIAL_KINDS``). The ids are the game's surface enum as the TMInterface community lists it (0 Concrete,
1 Pavement, 2 Grass, 3 Ice, 4 Metal, 5 Sand, 6 Dirt, 7 Turbo, 8 DirtRoad, …, 16 Asphalt, 17 WetDirtRoad,
18 WetAsphalt, 19 WetPavement, 20 WetGrass, 22 ResonantMetal, …); TMINTERFACE.md does not list them and they
were not checked against the game. The grouping is hairpin's choice: road = {0, 1, 4, 16, 18, 19, 22},
grass = {2, 20}, dirt = {5, 6, 8, 17}, every other id (turbo and ice among them) = other. Encoding writes
16 (Asphalt) for road, 2 for grass, 6 for dirt and 3 (Ice) for other.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hairpin.game.errors import GameProtocolError
from hairpin.game.protocol import STATE_FIXED_BYTES
from hairpin.obs import MATERIAL_KINDS, CarState

__all__ = [
    "OPAQUE_BYTES",
    "GameState",
    "decode_state",
    "encode_state",
    "material_id_of_kind",
    "material_kind",
    "with_last_cp_time",
]

VERSION_OFFSET = 0
CONTEXT_MODE_OFFSET = 4
FLAGS_OFFSET = 8
TIME_OFFSET = 16
ROTATION_OFFSET = 688
POSITION_OFFSET = 724
LINEAR_SPEED_OFFSET = 736
ANGULAR_SPEED_OFFSET = 760
GEARBOX_STATE_OFFSET = 2388
RPM_OFFSET = 3112
GEAR_OFFSET = 3128
FREEWHEELING_OFFSET = 3196
WHEEL_BASE_OFFSET = 3996
WHEEL_STRIDE = 764
DAMPER, CONTACT, MATERIAL, SLIDING = 0, 112, 116, 120
"""Offsets inside a wheel's real-time state."""
OPAQUE_OFFSET = 6940
OPAQUE_BYTES = 264
"""Room for an opaque save block (the ``cmd_buffer_core`` block, which no client reads)."""
RACE_TIME_OFFSET = 7892
RACE_FINISHED_OFFSET = 8032
CP_DATA_OFFSET = 8344
CP_STATES_LENGTH_OFFSET = 8348
CP_STATES_OFFSET = 8352
ALL_FLAGS = 0xFF
CONTEXT_RUN = 1

_DYNA = struct.Struct("<9f3f3f12x3f")
"""Rotation, position, linear speed, (12 bytes not used), angular speed: 688 to 772."""
_WHEEL = struct.Struct("<f108xiii")
"""Damper, (108 bytes not used), contact, material, sliding: a wheel's real-time state from +0 to +124."""
_I32 = struct.Struct("<i")
_F32 = struct.Struct("<f")
assert ROTATION_OFFSET + 36 == POSITION_OFFSET and POSITION_OFFSET + 12 == LINEAR_SPEED_OFFSET
assert LINEAR_SPEED_OFFSET + 24 == ANGULAR_SPEED_OFFSET
assert (DAMPER, CONTACT, MATERIAL, SLIDING) == (0, 112, 116, 120)

ROAD, GRASS, DIRT, OTHER = (MATERIAL_KINDS.index(k) for k in ("road", "grass", "dirt", "other"))
_KIND_OF_ID = {**dict.fromkeys((0, 1, 4, 16, 18, 19, 22), ROAD), **dict.fromkeys((2, 20), GRASS)}
_KIND_OF_ID.update(dict.fromkeys((5, 6, 8, 17), DIRT))
_ID_OF_KIND = {ROAD: 16, GRASS: 2, DIRT: 6, OTHER: 3}


def material_kind(material_id: int) -> int:
    """Index into ``MATERIAL_KINDS`` of a game contact material id (its low 16 bits are used)."""
    return _KIND_OF_ID.get(material_id & 0xFFFF, OTHER)


def material_id_of_kind(kind: int) -> int:
    """The game contact material id written for a ``MATERIAL_KINDS`` index."""
    return _ID_OF_KIND[int(kind)]


@dataclass
class GameState:
    """One decoded simulation state."""

    car: CarState
    race_time_ms: int
    cp_times_ms: list[int]
    """Time at which each checkpoint (the last is the finish) was passed; −1 for not yet."""
    cp_states: list[bool]
    raw: bytes
    """The bytes as received, to rewind to (``with_last_cp_time`` patches a copy)."""

    @property
    def opaque(self) -> bytes:
        """The ``OPAQUE_BYTES`` block (the emulator's own save data; the game's internal buffer otherwise)."""
        return self.raw[OPAQUE_OFFSET : OPAQUE_OFFSET + OPAQUE_BYTES]


def _cp_layout(data: bytes | bytearray | memoryview) -> tuple[int, int, int]:
    """(n_states, offset of the n_times field, n_times), checked against the length of ``data``."""
    n_states = _I32.unpack_from(data, CP_STATES_LENGTH_OFFSET)[0]
    if n_states < 0 or CP_STATES_OFFSET + 4 * n_states + 4 > len(data):
        raise GameProtocolError(f"state of {len(data)} bytes cannot hold {n_states} checkpoint states")
    times_at = CP_STATES_OFFSET + 4 * n_states
    n_times = _I32.unpack_from(data, times_at)[0]
    if n_times < 0 or times_at + 4 + 8 * n_times > len(data):
        raise GameProtocolError(f"state of {len(data)} bytes cannot hold {n_times} checkpoint times")
    return n_states, times_at, n_times


def decode_state(data: bytes | bytearray | memoryview) -> GameState:
    """Decode a state; ``GameProtocolError`` if it is shorter than the fixed part or its checkpoint tail."""
    if len(data) < STATE_FIXED_BYTES:
        raise GameProtocolError(
            f"simulation state of {len(data)} bytes is shorter than its fixed part of {STATE_FIXED_BYTES}: the game "
            "is probably in menus or loading a map"
        )
    raw = bytes(data)
    n_states, times_at, n_times = _cp_layout(raw)
    dyna = _DYNA.unpack_from(raw, ROTATION_OFFSET)
    damper, contact, material, sliding = zip(
        *(_WHEEL.unpack_from(raw, WHEEL_BASE_OFFSET + WHEEL_STRIDE * w) for w in range(4)), strict=True
    )
    car = CarState(
        position=np.array(dyna[9:12]),
        orientation=np.array(dyna[0:9]).reshape(3, 3),
        velocity=np.array(dyna[12:15]),
        angular_velocity=np.array(dyna[15:18]),
        wheel_sliding=np.array([float(v != 0) for v in sliding]),
        wheel_contact=np.array([float(v != 0) for v in contact]),
        wheel_damper=np.array(damper),
        wheel_material=np.array([material_kind(m) for m in material], np.int64),
        gearbox_state=float(_I32.unpack_from(raw, GEARBOX_STATE_OFFSET)[0]),
        gear=float(_I32.unpack_from(raw, GEAR_OFFSET)[0]),
        rpm=float(_F32.unpack_from(raw, RPM_OFFSET)[0]),
        freewheeling=float(_I32.unpack_from(raw, FREEWHEELING_OFFSET)[0] != 0),
    )
    states = struct.unpack_from(f"<{n_states}i", raw, CP_STATES_OFFSET)
    times = struct.unpack_from(f"<{2 * n_times}i", raw, times_at + 4)[0::2]
    return GameState(
        car=car,
        race_time_ms=int(_I32.unpack_from(raw, RACE_TIME_OFFSET)[0]),
        cp_times_ms=list(times),
        cp_states=[s != 0 for s in states],
        raw=raw,
    )


def _fixed_template() -> bytes:
    buf = bytearray(STATE_FIXED_BYTES)
    struct.pack_into("<III", buf, VERSION_OFFSET, 1, CONTEXT_RUN, ALL_FLAGS)
    return bytes(buf)


_TEMPLATE = _fixed_template()


def encode_state(
    car: CarState,
    race_time_ms: int,
    cp_states: Sequence[bool],
    cp_times_ms: Sequence[int],
    opaque: bytes = b"",
) -> bytes:
    """The state bytes of a car (``decode_state`` reads back the same ``CarState`` at float32 precision).

    ``opaque`` (at most ``OPAQUE_BYTES``) goes into the ``cmd_buffer_core`` block. ``race_finished`` at 8032 is
    written as true when the last checkpoint time is set.
    """
    if len(opaque) > OPAQUE_BYTES:
        raise ValueError(f"opaque block of {len(opaque)} bytes does not fit in {OPAQUE_BYTES}")
    n_states, n_times = len(cp_states), len(cp_times_ms)
    buf = bytearray(_TEMPLATE)
    buf += bytes(4 * n_states + 8 * n_times)
    _I32.pack_into(buf, TIME_OFFSET, race_time_ms)
    vectors = (car.orientation, car.position, car.velocity, car.angular_velocity)
    _DYNA.pack_into(buf, ROTATION_OFFSET, *np.concatenate([np.ravel(v) for v in vectors]).tolist())
    _I32.pack_into(buf, GEARBOX_STATE_OFFSET, round(car.gearbox_state))
    _F32.pack_into(buf, RPM_OFFSET, car.rpm)
    _I32.pack_into(buf, GEAR_OFFSET, round(car.gear))
    _I32.pack_into(buf, FREEWHEELING_OFFSET, int(bool(car.freewheeling)))
    damper, contact = np.asarray(car.wheel_damper).tolist(), np.asarray(car.wheel_contact).tolist()
    material, sliding = np.asarray(car.wheel_material).tolist(), np.asarray(car.wheel_sliding).tolist()
    for w in range(4):
        wheel = (damper[w], bool(contact[w]), _ID_OF_KIND[int(material[w])], bool(sliding[w]))
        _WHEEL.pack_into(buf, WHEEL_BASE_OFFSET + WHEEL_STRIDE * w, *wheel)
    buf[OPAQUE_OFFSET : OPAQUE_OFFSET + len(opaque)] = opaque
    _I32.pack_into(buf, RACE_TIME_OFFSET, race_time_ms)
    _I32.pack_into(buf, RACE_FINISHED_OFFSET, int(n_times > 0 and cp_times_ms[-1] >= 0))
    struct.pack_into(f"<ii{n_states}i", buf, CP_DATA_OFFSET, 0, n_states, *(int(bool(s)) for s in cp_states))
    times_at = CP_STATES_OFFSET + 4 * n_states
    pairs = [v for t in cp_times_ms for v in (int(t), 0)]
    struct.pack_into(f"<i{2 * n_times}i", buf, times_at, n_times, *pairs)
    return bytes(buf)


def with_last_cp_time(data: bytes | bytearray | memoryview, time_ms: int) -> bytes:
    """A copy of ``data`` with the last ``cp_times[].time`` set to ``time_ms`` (−1 un-finishes a race when rewound
    to, TMINTERFACE.md §5.3 step 4); ``GameProtocolError`` if the state has no checkpoint times."""
    if len(data) < STATE_FIXED_BYTES:
        raise GameProtocolError(f"simulation state of {len(data)} bytes has no checkpoint data")
    _, times_at, n_times = _cp_layout(data)
    if n_times == 0:
        raise GameProtocolError("simulation state has no checkpoint times to patch")
    out = bytearray(data)
    _I32.pack_into(out, times_at + 4 + 8 * (n_times - 1), time_ms)
    return bytes(out)
