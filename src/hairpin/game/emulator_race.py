"""The race inside hairpin's emulated game: one car of the built-in simulator, seen the way TMInterface sees a race.

``EmulatedRace`` adds to ``RaceSim`` what the game has and the sim does not: a countdown (negative race times,
during which the car does not move), keys held from tick to tick, checkpoint times and the checkpoint count the
plugin reports (the finish counts as the last checkpoint, so the race is finished when ``current == target``),
"prevent finish" (the car drives on past the line), save states in TMInterface's byte layout, and BGRA frames.

Choices where the game is not known in detail (TMINTERFACE.md §12):
- After a (re)start the race time is ``-countdown_ms`` (2600 ms by default, where rulka saw its first run step);
  each tick adds ``tick_ms`` until 0, then the car drives and the race time is the sim's ticks × ``tick_ms``.
- The car starts where ``RaceSim.reset_cars`` puts it (``env.start_noise`` with a fixed seed: the same start on
  every restart).
- The sim's own cut-offs (no progress, time limit) do not apply: the game does not cut a race off.
- A save state keeps the exact float64 car row, the countdown and the finish flags in the state's opaque block,
  so a rewind restores the car exactly; the checkpoint times are read back from the state's checkpoint tail, so
  the usual patch (−1 in the last checkpoint time) un-finishes a finished race: the car then drives on.
- Frames are the sim's gray chase-camera view, written into B, G and R (alpha 255). The renderer draws squares,
  so a W×H request renders a square of side max(W, H) and keeps its centre W×H.
"""

from __future__ import annotations

import math
import struct
import zlib

import numpy as np

from hairpin.config.sim import EnvConfig
from hairpin.game.errors import GameProtocolError
from hairpin.game.state_bytes import OPAQUE_BYTES, GameState, decode_state, encode_state
from hairpin.obs import CarState
from hairpin.sim import state as st
from hairpin.sim.physics import ACCEL, BRAKE, LEFT, RIGHT, advance_pack
from hairpin.sim.race import RaceSim
from hairpin.sim.render import MIN_SIZE, Renderer
from hairpin.sim.sensors import REST_DAMPER

__all__ = ["COUNTDOWN_MS", "EmulatedRace", "car_state_of_row"]

COUNTDOWN_MS = 2600
"""Length of the countdown after a (re)start; rulka observed the first run step near −2600 ms."""

_SAVE = struct.Struct(f"<4sIiBB2x{st.N_STATE}d")
"""Opaque save block: magic, map checksum, countdown time, finish prevented, past the line, the car row."""
_MAGIC = b"HPEM"
assert (ACCEL, BRAKE, LEFT, RIGHT) == (0, 1, 2, 3)
assert _SAVE.size <= OPAQUE_BYTES

_FLAT_CONTACT, _FLAT_DAMPER, _FLAT_MATERIAL = np.ones(4), np.full(4, REST_DAMPER), np.zeros(4, np.int64)


def car_state_of_row(row: np.ndarray) -> CarState:
    """The ``CarState`` of one sim car row, with the same values ``sim.sensors.sim_floats`` uses (flat tarmac
    wheels, gearbox state 1, angular velocity about the world y axis)."""
    v = row.tolist()
    sy, cy = math.sin(v[st.YAW]), math.cos(v[st.YAW])
    sp, cp = math.sin(v[st.PITCH]), math.cos(v[st.PITCH])
    orientation = np.array(  # columns: right, up, forward (as sim.sensors builds them)
        [[cy, -sy * sp, sy * cp], [0.0, cp, sp], [-sy, -cy * sp, cy * cp]], np.float64
    )
    return CarState(
        position=np.array([v[st.X], v[st.Y], v[st.Z]]),
        orientation=orientation,
        velocity=np.array([v[st.VX], v[st.VY], v[st.VZ]]),
        angular_velocity=np.array([0.0, v[st.YAW_RATE], 0.0]),
        wheel_sliding=np.full(4, v[st.SLIDING]),
        wheel_contact=_FLAT_CONTACT.copy(),
        wheel_damper=_FLAT_DAMPER.copy(),
        wheel_material=_FLAT_MATERIAL.copy(),
        gearbox_state=1.0,
        gear=v[st.GEAR],
        rpm=v[st.RPM],
    )


class EmulatedRace:
    """One car racing on one map, ticked by the emulator; every time is in integer milliseconds."""

    def __init__(self, cfg: EnvConfig, map_name: str, countdown_ms: int = COUNTDOWN_MS) -> None:
        self.cfg = cfg
        self.sim = RaceSim(cfg, maps=[map_name], n_cars=1)
        self._row = self.sim.state[0]
        self.track = self.sim.track_of(0)
        self.map_checksum = zlib.crc32(self.track.name.encode())
        self.tick_ms = round(cfg.physics.tick_s * 1000)
        self.countdown_ms = countdown_ms
        self.target = len(self.track.checkpoints) + 1
        self.keys = np.zeros((1, 1, 4), np.int8)  # (cars, ticks, [accel, brake, left, right]) held keys
        self._held = (False, False, False, False)
        self._batch_keys = np.zeros((1, 64, 4), np.int8)
        self._renderers: dict[int, Renderer] = {cfg.image_size: self.sim.renderer}
        self.key_log: list[tuple[int, str, bool]] = []
        self.restart()

    @property
    def row(self) -> np.ndarray:
        """The car's row of the sim state (a view: the sim writes in place)."""
        return self._row

    def restart(self) -> None:
        """Give up: the car back on the start line, the countdown from the top, no checkpoint passed."""
        self.sim.reset_cars([0], np.random.default_rng(0))
        self._countdown = -self.countdown_ms
        self.cp_times = [-1] * self.target
        self.finish_prevented = False
        self.past_line = False
        self.key_log.clear()

    @property
    def race_time_ms(self) -> int:
        if self._countdown < 0:
            return self._countdown
        return int(self._row[st.RACE_TICKS]) * self.tick_ms  # whole ticks, stored exactly in a float64

    @property
    def finished(self) -> bool:
        return self.row[st.FINISHED] != 0.0

    @property
    def checkpoint_count(self) -> int:
        """Checkpoints passed, the finish included (the plugin's ``current``)."""
        return sum(t >= 0 for t in self.cp_times)

    def set_keys(self, left: bool, right: bool, accelerate: bool, brake: bool) -> None:
        """Keys held from the next tick on (ignored by the physics during the countdown)."""
        held = (accelerate, brake, left, right)  # the sim's key order: ACCEL, BRAKE, LEFT, RIGHT
        if held == self._held:
            return
        time_ms = max(self.race_time_ms, 0)
        for key, name in ((ACCEL, "up"), (BRAKE, "down"), (LEFT, "left"), (RIGHT, "right")):
            if held[key] != self._held[key]:
                self.key_log.append((time_ms, name, held[key]))
            self.keys[0, 0, key] = held[key]
        self._held = held

    def inputs_script(self) -> str:
        """The keys pressed and released since the start, as TMInterface script lines."""
        return "".join(f"{t} {'press' if down else 'rel'} {key}\n" for t, key, down in self.key_log)

    def prevent_finish(self) -> None:
        """Keep the car driving past the finish line; a race that just finished goes on (un-finished)."""
        self.finish_prevented = True
        self.row[st.FINISHED] = 0.0

    def ticks_to_period(self, period_ms: int) -> int:
        """Ticks until the race time is next a multiple of ``period_ms`` (1 once the race is finished)."""
        if self.finished:
            return 1
        t = self.race_time_ms
        for k in range(1, period_ms + 1):
            if (t + k * self.tick_ms) % period_ms == 0:
                return k
        return 1

    def tick(self) -> bool:
        """Advance one tick; True if the checkpoint count changed (the plugin then sends a checkpoint sync)."""
        if self.finished:
            return False  # the race time stays at the finish; only the game's tick time moves on
        if self._countdown < 0:
            self._countdown = min(self._countdown + self.tick_ms, 0)
            return False
        row = self.row
        passed = int(row[st.NEXT_CP])
        self._advance(self.keys)
        time_ms = self.race_time_ms
        changed = False
        for k in range(passed, int(row[st.NEXT_CP])):
            self.cp_times[k] = time_ms
            changed = True
        if row[st.FINISHED] != 0.0 and not self.past_line:
            self.past_line = True
            self.cp_times[-1] = time_ms
            changed = True
        if self.finish_prevented:
            row[st.FINISHED] = 0.0
        return changed

    def advance_quietly(self, n_ticks: int) -> bool:
        """Advance ``n_ticks`` at once if the checkpoint count does not change on the way; otherwise change nothing
        and return False (the caller then ticks one at a time and reports each change)."""
        if n_ticks <= 0:
            return True
        if self.finished or self.finish_prevented or n_ticks > self._batch_keys.shape[1]:
            return False
        if self._countdown < 0:
            if self._countdown + n_ticks * self.tick_ms > 0:
                return False
            self._countdown += n_ticks * self.tick_ms
            return True
        row = self.row
        saved = row.copy()
        keys = self._batch_keys[:, :n_ticks]
        keys[:] = self.keys
        self._advance(keys)
        if row[st.NEXT_CP] != saved[st.NEXT_CP] or row[st.FINISHED] != 0.0:
            row[:] = saved
            return False
        return True

    def _advance(self, keys: np.ndarray) -> None:
        sim = self.sim
        advance_pack(sim.state, sim.track_id, keys, sim.pack, sim.gear_speeds, sim.params)

    def save(self) -> bytes:
        """The state bytes of the race now, with the exact car row in the opaque block."""
        cp_states = [t >= 0 for t in self.cp_times[:-1]]
        opaque = _SAVE.pack(
            _MAGIC,
            self.map_checksum,
            self._countdown,
            self.finish_prevented,
            self.past_line,
            *self.row.tolist(),
        )
        return encode_state(car_state_of_row(self.row), self.race_time_ms, cp_states, self.cp_times, opaque)

    def restore(self, data: bytes) -> str | None:
        """Rewind to state bytes made by ``save`` (patched or not); the reason it cannot, or None."""
        try:
            state: GameState = decode_state(data)
        except GameProtocolError as err:
            return str(err)
        magic, checksum, countdown, prevented, past_line, *row = _SAVE.unpack_from(state.opaque)
        if magic != _MAGIC:
            return "the state was not made by this emulator"
        if checksum != self.map_checksum:
            return "the state belongs to another map"
        if len(state.cp_times_ms) != self.target:
            return f"the state has {len(state.cp_times_ms)} checkpoint times, the map {self.target}"
        self.row[:] = row
        self._countdown = countdown
        self.cp_times = list(state.cp_times_ms)
        self.past_line = bool(past_line)
        self.finish_prevented = bool(prevented)
        if self.row[st.FINISHED] != 0.0 and self.cp_times[-1] < 0:
            self.prevent_finish()  # the un-finish patch: the race goes on past the line
        return None

    def render_bgra(self, width: int, height: int) -> bytes:
        """``width`` × ``height`` BGRA8 bytes, rows top to bottom: the gray view in B, G and R, alpha 255."""
        side = max(width, height, MIN_SIZE)
        renderer = self._renderers.get(side)
        if renderer is None:
            renderer = self._renderers[side] = Renderer(self.sim.pack, self.cfg.camera, side)
        gray = renderer.gray(self.sim.track_id[:1], self.sim.state[:1])[0, 0]  # (side, side)
        top, left = (side - height) // 2, (side - width) // 2
        bgra = np.empty((height, width, 4), np.uint8)
        bgra[..., :3] = gray[top : top + height, left : left + width, None]
        bgra[..., 3] = 255
        return bgra.tobytes()
