"""An input script played in the game (or its emulator) through a TMInterface client, one tick at a time.

hairpin drives the script itself rather than handing it to TMInterface (``load`` of a script file): every run step
sync comes at ``on_step_period`` 10 (each 10 ms tick), and inside it the keys of that tick are sent with
``set_input_state``, so the game plays exactly the keys ``InputScript`` gives the simulator, and a caller can record
what the game shows at each tick in the same windows (``on_sync``).

The run: in the first sync window the player sets the step period (and the speed, if given) and gives up, which
restarts the race and its countdown. Run steps of the race that was running before (TMINTERFACE.md §7: stale ticks)
are answered untouched until the race time is first negative. During the countdown no key is held; at a run step
of race time ``t ≥ 0`` the keys of tick ``t / 10`` are set, held from that tick on (as ``InputScript.keys`` row
``i`` holds tick ``10 i`` to ``10 i + 10``); past the script the final keys stay held. The run ends at the
checkpoint sync that finishes the race (``current == target``), with the race's last checkpoint time as the finish
time, or, unfinished, at the first run step past ``give_up_after_ms``. The game is left running and the client
connected; the last sync is answered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hairpin.data.input_script import InputScript
from hairpin.game.client import CheckpointCountChanged, Event, RunStep, TMInterfaceClient

__all__ = ["GRACE_MS", "ScriptRun", "play_script"]

GRACE_MS = 10_000
"""How long past its last command a script that has not finished is given before the run is called unfinished."""


@dataclass(frozen=True)
class ScriptRun:
    """How a script's run in the game ended."""

    finished: bool
    race_time_ms: int  # the finish time, or the race time at which the run was given up
    ticks_played: int  # run steps at race time ≥ 0 whose keys were set


def play_script(
    client: TMInterfaceClient,
    script: InputScript,
    *,
    speed: float | None = None,
    give_up_after_ms: int | None = None,
    on_sync: Callable[[TMInterfaceClient, Event], None] | None = None,
) -> ScriptRun:
    """Restart the race and play ``script`` on a connected ``client`` until the finish or ``give_up_after_ms`` of
    race time (default: the script's end + ``GRACE_MS``). ``on_sync(client, event)`` runs inside every sync window of
    the new race, after the tick's keys were set and before the answer (to request frames, read states)."""
    tick_ms = script.tick_ms
    limit_ms = give_up_after_ms if give_up_after_ms is not None else script.n_ticks * tick_ms + GRACE_MS
    first = client.read_event()
    client.set_on_step_period(tick_ms)
    if speed is not None:
        client.set_speed(speed)
    client.give_up()
    client.answer(first)
    restarted, ticks = False, 0
    while True:
        event = client.read_event()
        ended: ScriptRun | None = None
        if isinstance(event, RunStep):
            t = event.race_time_ms
            restarted = restarted or t < 0
            if restarted and t > limit_ms:
                ended = ScriptRun(False, t, ticks)
            elif restarted:
                accelerate, brake, left, right = script.keys_at(t // tick_ms) if t >= 0 else (0, 0, 0, 0)
                client.set_input_state(bool(left), bool(right), bool(accelerate), bool(brake))
                ticks += t >= 0
        elif isinstance(event, CheckpointCountChanged) and restarted and event.current == event.target:
            state = client.get_simulation_state()
            finish_ms = state.cp_times_ms[-1] if state.cp_times_ms else state.race_time_ms
            ended = ScriptRun(True, finish_ms, ticks)
        if restarted and on_sync is not None:
            on_sync(client, event)
        client.answer(event)
        if ended is not None:
            return ended
