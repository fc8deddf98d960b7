"""Playing an input script in the game through a TMInterface client: against a scripted fake client (the order of
commands in the sync windows), and against the emulated game (the lap the simulator drives)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hairpin.config.sim import DriveConfig, EnvConfig
from hairpin.data.input_script import parse_script
from hairpin.data.maps import resolve_maps
from hairpin.data.script_replay import lap_script
from hairpin.game.client import CheckpointCountChanged, Event, OnConnect, RunStep, TMInterfaceClient
from hairpin.game.script_player import ScriptRun, play_script

SCRIPT = parse_script("0 press up\n20 press left\n40 rel left\n40 press down\n")  # 4 ticks, then up+down held


@dataclass
class FakeGame:
    """Hands out ``events`` one by one and logs every command with the event whose window it came in."""

    events: list[Event]
    finish_ms: int = 0
    log: list[tuple[Any, ...]] = field(default_factory=list)
    window: Event | None = None

    def read_event(self) -> Event:
        assert self.window is None, "read an event while a window was open"
        self.window = self.events.pop(0)
        return self.window

    def answer(self, event: Event) -> None:
        assert event is self.window
        self.log.append(("answer", event))
        self.window = None

    def __getattr__(self, name: str) -> Any:
        def command(*args: Any) -> Any:
            assert self.window is not None, f"{name} outside a window"
            self.log.append((name, *args))
            if name == "get_simulation_state":
                return type("State", (), {"cp_times_ms": [self.finish_ms - 300, self.finish_ms], "race_time_ms": 0})

        return command


def inputs_by_time(log: list[tuple[Any, ...]]) -> dict[int, tuple[bool, ...]]:
    """The keys (left, right, accelerate, brake) set in each run step's window, by its race time."""
    keys, out = None, {}
    for entry in log:
        if entry[0] == "set_input_state":
            keys = entry[1:]
        elif entry[0] == "answer" and isinstance(entry[1], RunStep) and keys is not None:
            out[entry[1].race_time_ms], keys = keys, None
    return out


def test_the_player_restarts_the_race_and_sets_each_ticks_keys() -> None:
    steps = [RunStep(t) for t in (-20, -10, 0, 10, 20, 30, 40, 50, 60)]
    game = FakeGame([OnConnect(), RunStep(7000), *steps, CheckpointCountChanged(2, 2)], finish_ms=70)
    seen: list[Event] = []
    run = play_script(game, SCRIPT, speed=4.0, on_sync=lambda _, e: seen.append(e))  # type: ignore[arg-type]
    assert run == ScriptRun(finished=True, race_time_ms=70, ticks_played=7)
    assert game.log[:4] == [("set_on_step_period", 10), ("set_speed", 4.0), ("give_up",), ("answer", OnConnect())]
    off, up = (False, False, False, False), (False, False, True, False)  # left, right, accelerate, brake
    up_left, up_down = (True, False, True, False), (False, False, True, True)
    expected = {-20: off, -10: off, 0: up, 10: up, 20: up_left, 30: up_left, 40: up_down, 50: up_down, 60: up_down}
    assert inputs_by_time(game.log) == expected
    assert RunStep(7000) not in seen and seen == [*steps, CheckpointCountChanged(2, 2)]  # the stale step is skipped


def test_a_race_that_does_not_finish_is_given_up_after_the_limit() -> None:
    steps = [RunStep(t) for t in range(-10, 200, 10)]
    game = FakeGame([OnConnect(), *steps, CheckpointCountChanged(1, 2)])
    run = play_script(game, SCRIPT, give_up_after_ms=100)  # type: ignore[arg-type]
    assert run == ScriptRun(finished=False, race_time_ms=110, ticks_played=11)
    assert game.log[-1] == ("answer", RunStep(110))  # the last sync is answered: the game is not left waiting


def test_a_lap_plays_in_the_emulated_game_as_in_the_simulator(tmp_path: Path) -> None:
    emulator = pytest.importorskip("hairpin.game.emulator")
    line = tmp_path / "gen-3.npy"
    np.save(line, resolve_maps([], generated=1, generator_seed=3, generated_blocks=6)[0].track.points)
    cfg = DriveConfig(env=EnvConfig(map=str(line), image_size=32))
    (demo_map,) = resolve_maps([str(line)], half_width=cfg.env.road_half_width_m)
    text, lap = lap_script(cfg, demo_map)
    script = parse_script(text)
    with emulator.Emulator(cfg.env) as game:
        client = TMInterfaceClient(game.port, timeout_s=10.0)
        client.connect(retry_for_s=10.0)
        try:
            run = play_script(client, script)
            event = client.read_event()
            inputs = client.get_inputs()
            client.answer(event)
        finally:
            client.close()
    assert lap.terminated and run.finished and run.race_time_ms == lap.final_race_time_ms
    played = parse_script(inputs)  # the keys the game received, at the race times it received them
    assert played.n_ticks > 0.9 * run.race_time_ms / 10
    np.testing.assert_array_equal(played.keys, script.keys[: played.n_ticks])
