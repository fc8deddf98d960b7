"""The emulated game as the ``Python_Link`` plugin sees it, and what each client command does to it (the plugin's
``HandleMessage``, TMINTERFACE.md §2.2).

``EmulatedGame`` holds the game's and the plugin's settings (speed, on-step period, RESPONSE_TIMEOUT, the pending
frame request, the race, a map being loaded) and executes one command at a time through a table of handlers; the
server (``emulator.py``) reads the ids, hands over a reader for the payload and a writer for replies, and decides
when a wait ends.

As in the plugin: rewinds, inputs, give-up and prevent-finish are ignored outside a race (here: while a map loads);
``C_GET_SIMULATION_STATE`` has no such guard and answers a short state while loading; an id without a handler is
logged as unknown and consumes no payload, and 3 (the lap answer) has none. The command-string length is used as a
byte count.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from hairpin.config.sim import EnvConfig
from hairpin.errors import HairpinError
from hairpin.game.emulator_faults import FaultKind, FaultTrigger
from hairpin.game.emulator_race import EmulatedRace
from hairpin.game.protocol import FIXED_PAYLOADS, INT32, MessageId, encode_blob

__all__ = ["DEFAULT_RESPONSE_TIMEOUT_MS", "DEFAULT_STEP_PERIOD_MS", "TINY_STATE_BYTES", "EmulatedGame"]

log = logging.getLogger(__name__)

DEFAULT_RESPONSE_TIMEOUT_MS = 2000
"""The plugin's RESPONSE_TIMEOUT at start and after every disconnect."""
DEFAULT_STEP_PERIOD_MS = 10
"""The plugin's on_step_period at start: a run step every tick."""
TINY_STATE_BYTES = 64
"""Length of the state answered in menus or while loading."""
CONSOLE_COMMANDS = ("map", "set", "cam", "toggle_console", "load", "unload", "replay")
"""Console commands accepted; all but ``map`` are only recorded."""

Read = Callable[[int], memoryview]
"""Reads the next n payload bytes of the message being executed."""
Reply = Callable[[bytes], None]
"""Writes a reply to the client at once."""
_M = MessageId
_P = FIXED_PAYLOADS


class EmulatedGame:
    """Game and plugin state, changed by client commands (``execute``) and by the server's loop."""

    def __init__(self, cfg: EnvConfig, countdown_ms: int, loading_iterations: int, faults: FaultTrigger) -> None:
        self.cfg = cfg
        self.countdown_ms = countdown_ms
        self.loading_iterations = max(1, loading_iterations)
        self.faults = faults
        self.race = EmulatedRace(cfg, cfg.map, countdown_ms)
        self.speed = 1.0
        self.on_step_period_ms = DEFAULT_STEP_PERIOD_MS
        self.response_timeout_ms = DEFAULT_RESPONSE_TIMEOUT_MS
        self.frame_request: tuple[int, int] | None = None
        self.interface_visible = True
        self.loading = 0
        """Loop turns left until the map being loaded is ready (0: in a race)."""
        self.next_race: EmulatedRace | None = None
        self.time_before_load = 0
        """The race time when the last map load began (what a stale run step carries)."""
        self.run_steps_sent = 0
        self.console: list[str] = []
        """Console commands received, in order."""
        self.unknown_ids: list[int] = []
        """Ids the plugin would log as "got unknown message" (3 among them)."""
        self._handlers: dict[int, Callable[[Read, Reply], None]] = {
            _M.SC_RUN_STEP_SYNC: _answer,
            _M.SC_CHECKPOINT_COUNT_CHANGED_SYNC: _answer,
            _M.SC_REQUESTED_FRAME_SYNC: _answer,
            _M.SC_ON_CONNECT_SYNC: _answer,
            _M.C_SET_SPEED: self._set_speed,
            _M.C_REWIND_TO_STATE: self._rewind_to_state,
            _M.C_REWIND_TO_CURRENT_STATE: _answer,  # rewinding to the state it is in changes nothing here
            _M.C_GET_SIMULATION_STATE: self._get_simulation_state,
            _M.C_SET_INPUT_STATE: self._set_input_state,
            _M.C_GIVE_UP: self._give_up,
            _M.C_PREVENT_SIMULATION_FINISH: self._prevent_simulation_finish,
            _M.C_SHUTDOWN: _answer,  # the server ends the wait and drops the client
            _M.C_EXECUTE_COMMAND: self._execute_command,
            _M.C_SET_TIMEOUT: self._set_timeout,
            _M.C_RACE_FINISHED: self._race_finished,
            _M.C_REQUEST_FRAME: self._request_frame,
            _M.C_RESET_CAMERA: _answer,
            _M.C_SET_ON_STEP_PERIOD: self._set_on_step_period,
            _M.C_UNREQUEST_FRAME: self._unrequest_frame,
            _M.C_TOGGLE_INTERFACE: self._toggle_interface,
            _M.C_IS_IN_MENUS: self._is_in_menus,
            _M.C_GET_INPUTS: self._get_inputs,
        }

    @property
    def in_race(self) -> bool:
        return not self.loading

    def execute(self, message: int, read: Read, reply: Reply) -> None:
        """Execute one command: read its payload, change the game, reply if it is a query."""
        handler = self._handlers.get(message)
        if handler is None:
            log.info("Server: got unknown message %d", message)
            self.unknown_ids.append(message)
            return
        handler(read, reply)

    def client_dropped(self) -> None:
        """The plugin's disconnect: the frame request is cleared and RESPONSE_TIMEOUT reset."""
        self.frame_request = None
        self.response_timeout_ms = DEFAULT_RESPONSE_TIMEOUT_MS

    def load_turn(self) -> bool:
        """One loop turn of a map load; True when the new map has just become the race."""
        self.loading -= 1
        if self.loading or self.next_race is None:
            return False
        self.race, self.next_race = self.next_race, None
        return True

    def _set_speed(self, read: Read, reply: Reply) -> None:
        self.speed = _P[_M.C_SET_SPEED].unpack(read(4))[0]

    def _rewind_to_state(self, read: Read, reply: Reply) -> None:
        data = bytes(read(INT32.unpack(read(4))[0]))
        why_not = self.race.restore(data) if self.in_race else None
        if why_not:
            log.warning("rewind_to_state ignored: %s", why_not)

    def _get_simulation_state(self, read: Read, reply: Reply) -> None:
        tiny = self.loading or self.faults.fire(FaultKind.TINY_STATE, self.run_steps_sent)
        reply(encode_blob(bytes(TINY_STATE_BYTES) if tiny else self.race.save()))

    def _set_input_state(self, read: Read, reply: Reply) -> None:
        left, right, accelerate, brake = read(4)
        if self.in_race:
            self.race.set_keys(bool(left), bool(right), bool(accelerate), bool(brake))

    def _give_up(self, read: Read, reply: Reply) -> None:
        if self.in_race:
            self.race.restart()

    def _prevent_simulation_finish(self, read: Read, reply: Reply) -> None:
        if self.in_race:
            self.race.prevent_finish()

    def _execute_command(self, read: Read, reply: Reply) -> None:
        # The length is taken as a byte count: a client that sends a character count with non-ASCII text
        # desynchronises the stream, as with the real plugin.
        text = bytes(read(INT32.unpack(read(4))[0])).decode("utf-8", errors="replace")
        self.console.append(text)
        name, _, argument = text.strip().partition(" ")
        if name == "map":
            self._load_map(argument.strip().strip("\"'"))
        elif name not in CONSOLE_COMMANDS:
            log.info("console command %r ignored", text)

    def _load_map(self, name: str) -> None:
        try:
            race = EmulatedRace(self.cfg, name, self.countdown_ms)
        except (HairpinError, ValueError, OSError) as err:
            log.warning("map %r cannot be loaded: %s", name, err)
            return
        self.time_before_load = self.race.race_time_ms
        self.next_race = race
        self.loading = self.loading_iterations

    def _set_timeout(self, read: Read, reply: Reply) -> None:
        self.response_timeout_ms = _P[_M.C_SET_TIMEOUT].unpack(read(4))[0]

    def _race_finished(self, read: Read, reply: Reply) -> None:
        reply(INT32.pack(int(self.race.finished)))

    def _request_frame(self, read: Read, reply: Reply) -> None:
        self.frame_request = _P[_M.C_REQUEST_FRAME].unpack(read(8))

    def _set_on_step_period(self, read: Read, reply: Reply) -> None:
        period = _P[_M.C_SET_ON_STEP_PERIOD].unpack(read(4))[0]
        if period > 0:
            self.on_step_period_ms = period
        else:
            log.warning("on-step period %d ignored (the plugin would divide by it)", period)

    def _unrequest_frame(self, read: Read, reply: Reply) -> None:
        self.frame_request = None

    def _toggle_interface(self, read: Read, reply: Reply) -> None:
        self.interface_visible = _P[_M.C_TOGGLE_INTERFACE].unpack(read(4))[0] > 0

    def _is_in_menus(self, read: Read, reply: Reply) -> None:
        reply(INT32.pack(int(bool(self.loading))))

    def _get_inputs(self, read: Read, reply: Reply) -> None:
        reply(encode_blob(self.race.inputs_script().encode()))


def _answer(read: Read, reply: Reply) -> None:
    """Answers (and commands that change nothing here) only matter to the wait."""
