"""TMInterface input scripts: read one into the keys held at every 10 ms tick, and write keys back as a script.

A script is how people write and share a run's inputs for TMInterface; hairpin replays one in the simulator (or the
game) to record it as a demonstration. Syntax (TMInterface 2's timed input commands):

- ``<time> press <key>`` / ``<time> rel <key>``: press or release a key; it stays so until the next command on it.
  Keys: ``up`` (accelerate), ``down`` (brake), ``left``, ``right``.
- ``<from>-<to> press <key>``: pressed at ``from``, released at ``to``.
- ``<time> steer <value>``: the analog steering axis, −65536 (full left) … 65536 (full right); ``<from>-<to> steer
  <value>`` sets it back to 0 at ``to``. hairpin's actions are keys, so a value further than ``steer_dead_zone``
  from 0 counts as left or right, a value within it as neither. The default, half of full lock, maps each value to
  the nearest of the three (left, straight, right); a small dead zone would read a slight correction as full lock.
- ``<time> gas <value>``: the analog throttle axis, −65536 … 65536, read the same way: a negative value past the
  dead zone accelerates, a positive one brakes (the sign scripts use for ``gas``: −65536 is full throttle; taken
  from how scripts written for the game use it, not confirmed in the game's documentation).
  A key and the axis of the same input combine: ``left`` is held when the key is or the steer is left.
- Times: milliseconds (``9430``) or seconds with a decimal point (``9.43``, ``1:09.43``, ``1:02:09.43``). Every time
  must be ≥ 0 and on a 10 ms tick; a fraction of more than two digits is read exactly, so ``9.435`` is an error
  rather than silently 9.43 s.
- ``#`` starts a comment, blank lines are skipped, ``;`` separates commands on one line. Commands at the same time
  apply in the order of the lines (the last wins); otherwise the order of lines does not matter.

Anything else (an immediate command such as ``set speed 10``, a timed non-input command, the keys ``enter``,
``delete``, ``horn``) is an ``InputScriptError`` naming the file, the line and the problem.

Ticks: row ``i`` of ``InputScript.keys`` holds the keys during tick ``i``, from race time ``10 i`` to ``10 i + 10``
ms: a command at time ``t`` acts from tick ``t / 10`` on. The script covers the ticks before its latest command; the
state that command leaves (``final``) is held after it, as the game keeps a key pressed until it is released.
``write_script`` ends every script at ``10 K`` (K ticks written) by releasing the keys still held, or, when none is,
by a release of ``up`` (which changes nothing) that marks the end, so ``read(write(keys)).keys == keys``.

In hairpin's key order (the columns of ``actions.ACTION_KEYS``): accelerate, brake, left, right.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hairpin.actions import ACTION_KEYS
from hairpin.data.arrays import keys_to_actions
from hairpin.errors import HairpinError

__all__ = [
    "AXIS_FULL",
    "DEFAULT_DEAD_ZONE",
    "SCRIPT_KEYS",
    "TICK_MS",
    "InputScript",
    "InputScriptError",
    "keys_of_step_actions",
    "parse_script",
    "read_script",
    "step_actions",
    "write_script",
]

TICK_MS = 10
"""The game's physics tick: every script time is a multiple of it."""
SCRIPT_KEYS = ("up", "down", "left", "right")
"""The script's name of each key, in hairpin's key order (accelerate, brake, left, right)."""
AXIS_FULL = 65536
"""Full deflection of an analog axis (steer, gas)."""
DEFAULT_DEAD_ZONE = AXIS_FULL // 2
"""An analog value further than this from 0 presses the key it leans to: the nearest of key, nothing, other key."""
_UNSUPPORTED_KEYS = {"enter": "respawn", "delete": "reset", "horn": "horn"}
_DIGITS = re.compile(r"[0-9]+")


class InputScriptError(HairpinError, ValueError):
    """A script that cannot be read: names the file, the line and what is wrong with it."""


@dataclass(frozen=True)
class InputScript:
    """The keys a script holds at each tick."""

    keys: np.ndarray  # (K, 4) int8 [accel, brake, left, right] during each tick before the script's latest command
    final: np.ndarray  # (4,) int8 keys held from tick K on
    tick_ms: int = TICK_MS

    @property
    def n_ticks(self) -> int:
        """K, the ticks the script covers."""
        return len(self.keys)

    def keys_at(self, tick: int) -> np.ndarray:
        """(4,) int8 keys held during tick ``tick`` ≥ 0: ``final`` past the script."""
        return self.keys[tick] if tick < self.n_ticks else self.final

    def tick_keys(self, n_ticks: int | None = None) -> np.ndarray:
        """(n_ticks, 4) int8 keys of the first ``n_ticks`` ticks (default K): past the script, ``final`` is held."""
        n = self.n_ticks if n_ticks is None else n_ticks
        out = np.empty((n, 4), np.int8)
        covered = min(n, self.n_ticks)
        out[:covered] = self.keys[:covered]
        out[covered:] = self.final
        return out

    def tick_actions(self, n_ticks: int | None = None) -> np.ndarray:
        """(n_ticks,) int8 action of each tick (left+right counts as neither, as ``keys_to_actions`` says)."""
        return keys_to_actions(self.tick_keys(n_ticks))

    def step_actions(self, ticks_per_step: int = 5) -> np.ndarray:
        """Action of each step the script covers (see ``step_actions``)."""
        return step_actions(self.keys, ticks_per_step)


def step_actions(keys: np.ndarray, ticks_per_step: int = 5) -> np.ndarray:
    """(ceil(K / ticks_per_step),) int64: the action of each step's first tick, the label a demo frame carries (the
    keys can change within a step, as a person's do; ``tick_actions`` keeps them all)."""
    return keys_to_actions(np.asarray(keys)[::ticks_per_step]).astype(np.int64)


def keys_of_step_actions(actions: np.ndarray, ticks_per_step: int = 5) -> np.ndarray:
    """(M × ticks_per_step, 4) int8 keys of step actions (M,), each held for its whole step."""
    return np.repeat(ACTION_KEYS[np.asarray(actions, np.int64)], ticks_per_step, axis=0)


def _time_ms(token: str) -> int:
    """Milliseconds of one time token, or a ``ValueError`` saying what forms are accepted."""
    if _DIGITS.fullmatch(token):
        return int(token)
    clock, dot, fraction = token.partition(".")
    parts = clock.split(":")  # [h, m,] s
    if not dot or len(fraction) > 3 or len(parts) > 3 or not all(map(_DIGITS.fullmatch, [*parts, fraction])):
        raise ValueError(
            f"bad time {token!r}: expected milliseconds (9430) or seconds with a decimal point (9.43, 1:09.43)"
        )
    seconds = sum(int(p) * 60**i for i, p in enumerate(reversed(parts)))
    return seconds * 1000 + int(fraction.ljust(3, "0"))


def _times(token: str, tick_ms: int) -> tuple[int, int | None]:
    """(from, to) of a time or a range ``from-to`` (``to`` None for a single time), each checked."""
    if token.startswith("-"):
        raise ValueError(f"negative time {token!r}: a script starts at race time 0")
    parts = token.split("-")
    if len(parts) > 2:
        raise ValueError(f"bad time range {token!r}: expected <from>-<to>")
    times = [_time_ms(p) for p in parts]
    for part, ms in zip(parts, times, strict=True):
        if ms % tick_ms:
            raise ValueError(f"time {part!r} ({ms} ms) is not on a {tick_ms} ms tick")
    if len(times) == 2 and times[1] < times[0]:
        raise ValueError(f"range {token!r} ends ({times[1]} ms) before it starts ({times[0]} ms)")
    return times[0], times[1] if len(times) == 2 else None


def _key_column(name: str) -> int:
    key = name.lower()
    if key in SCRIPT_KEYS:
        return SCRIPT_KEYS.index(key)
    if key in _UNSUPPORTED_KEYS:
        raise ValueError(
            f"key {name!r} ({_UNSUPPORTED_KEYS[key]}) is not replayed: hairpin drives with up, down, left and right"
        )
    raise ValueError(f"unknown key {name!r}: expected one of {', '.join(SCRIPT_KEYS)}")


def _axis_value(text: str, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{what} value {text!r} is not an integer") from None
    if abs(value) > AXIS_FULL:
        raise ValueError(f"{what} value {value} is outside -{AXIS_FULL}…{AXIS_FULL}")
    return value


_Event = tuple[int, str, int]
"""(time ms, channel: a script key, 'steer' or 'gas', value: 0/1 for a key, the axis value for an axis)."""


def _command_events(command: str, tick_ms: int) -> list[_Event]:
    """The events of one timed input command, in the order they apply at equal times."""
    tokens = command.split()
    if not tokens[0][0].isdigit() and not tokens[0].startswith("-"):
        raise ValueError(f"{command!r} has no time: a script replays timed input commands (press, rel, steer, gas)")
    start, end = _times(tokens[0], tick_ms)
    if len(tokens) < 2:
        raise ValueError(f"{command!r} has a time but no command")
    verb, args = tokens[1].lower(), tokens[2:]
    if verb not in ("press", "rel", "steer", "gas"):
        raise ValueError(f"unknown command {tokens[1]!r}: a script replays press, rel, steer and gas")
    if len(args) != 1:
        raise ValueError(f"{verb} takes one argument, got {len(args)} in {command!r}")
    if verb == "rel" and end is not None:
        raise ValueError(f"a range goes with press, steer or gas, not rel: {command!r}")
    if verb in ("press", "rel"):
        key = SCRIPT_KEYS[_key_column(args[0])]
        events = [(start, key, int(verb == "press"))]
    else:
        events = [(start, verb, _axis_value(args[0], verb))]
    if end is not None:
        events.append((end, events[0][1], 0))  # a range releases the key, or centres the axis, at its end
    return events


def _effective(pressed: np.ndarray, steer: int, gas: int, steer_dead_zone: int, gas_dead_zone: int) -> np.ndarray:
    """Keys [accel, brake, left, right] from the keys pressed and the two analog axes."""
    keys = pressed.copy()
    keys[0] |= gas < -gas_dead_zone
    keys[1] |= gas > gas_dead_zone
    keys[2] |= steer < -steer_dead_zone
    keys[3] |= steer > steer_dead_zone
    return keys


def parse_script(
    text: str,
    *,
    source: str = "<script>",
    tick_ms: int = TICK_MS,
    steer_dead_zone: int = DEFAULT_DEAD_ZONE,
    gas_dead_zone: int = DEFAULT_DEAD_ZONE,
) -> InputScript:
    """The keys of script ``text``; ``source`` names it in errors (a file name)."""
    events: list[_Event] = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        for command in line.split("#", 1)[0].split(";"):
            if not command.strip():
                continue
            try:
                events += _command_events(command.strip(), tick_ms)
            except ValueError as error:
                raise InputScriptError(f"{source}:{line_no}: {error}") from None
    events.sort(key=lambda e: e[0])  # stable: equal times keep the order of the lines
    n_ticks = events[-1][0] // tick_ms if events else 0
    keys = np.zeros((n_ticks, 4), np.int8)
    pressed, steer, gas = np.zeros(4, np.int8), 0, 0
    for k, (time_ms, channel, value) in enumerate(events):
        if channel == "steer":
            steer = value
        elif channel == "gas":
            gas = value
        else:
            pressed[SCRIPT_KEYS.index(channel)] = value
        if k + 1 < len(events) and events[k + 1][0] == time_ms:
            continue  # more commands at this time
        tick = time_ms // tick_ms
        next_tick = events[k + 1][0] // tick_ms if k + 1 < len(events) else n_ticks
        keys[tick:next_tick] = _effective(pressed, steer, gas, steer_dead_zone, gas_dead_zone)
    final = _effective(pressed, steer, gas, steer_dead_zone, gas_dead_zone)
    return InputScript(keys=keys, final=final, tick_ms=tick_ms)


def read_script(path: str | Path, **options: int) -> InputScript:
    """The keys of the script file ``path`` (``options``: those of ``parse_script``)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InputScriptError(f"cannot read input script {path}: {error}") from error
    return parse_script(text, source=str(path), **options)


def write_script(keys: np.ndarray, *, tick_ms: int = TICK_MS, comment: str | None = None) -> str:
    """A script of per-tick keys (K, 4) [accel, brake, left, right]: a ``press`` or ``rel`` line where a key changes,
    then, at ``tick_ms × K``, the release of the keys still held (see the module docstring); ``comment`` goes on top."""
    keys = np.asarray(keys, np.int8)
    if keys.ndim != 2 or keys.shape[1] != 4:
        raise ValueError(f"keys must be (K, 4) [accel, brake, left, right], got shape {keys.shape}")
    lines = [f"# {line}" for line in comment.splitlines()] if comment else []
    if len(keys) == 0:
        return "\n".join(lines) + "\n" if lines else ""
    changes = np.diff(np.concatenate([np.zeros((1, 4), np.int8), keys]), axis=0)  # (K, 4): +1 press, -1 release
    for tick, column in zip(*np.nonzero(changes), strict=True):
        verb = "press" if changes[tick, column] > 0 else "rel"
        lines.append(f"{tick * tick_ms} {verb} {SCRIPT_KEYS[column]}")
    end = len(keys) * tick_ms
    held = [SCRIPT_KEYS[c] for c in np.flatnonzero(keys[-1])] or [SCRIPT_KEYS[0]]  # a no-op release marks the end
    lines += [f"{end} rel {key}" for key in held]
    return "\n".join(lines) + "\n"
