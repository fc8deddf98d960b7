"""GameRace and hairpin/Game-v0 against the emulated game on loopback: the same races as hairpin/Race-v0, the
Gymnasium contract, and how a race meets the game's failures."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from hairpin.config.game import GameConfig
from hairpin.config.sim import EnvConfig, ExpertConfig
from hairpin.data.arrays import keys_to_actions
from hairpin.game.emulator import Emulator, FaultKind, FaultPlan
from hairpin.game.env import GameRaceEnv
from hairpin.game.errors import GameError, GameTimeoutError
from hairpin.game.launcher import GameProcess
from hairpin.game.race import GameRace, map_command
from hairpin.sim.env import RaceEnv
from hairpin.sim.expert import Expert
from hairpin.sim.generator import blocks_to_line

pytestmark = pytest.mark.timeout(120)

MANUAL = {"launch": {"kind": "manual"}, "timeout_s": 5.0, "start_timeout_s": 10.0}
"""The test starts the emulator itself; a hang becomes an error within seconds."""


@pytest.fixture
def short_map(tmp_path: Path) -> str:
    """A 180 m map: a race on it finishes in a few seconds of race time."""
    path = tmp_path / "short.npy"
    np.save(path, blocks_to_line("S S R48 S S"))
    return str(path)


@pytest.fixture
def cfg(short_map: str) -> EnvConfig:
    return EnvConfig(map=short_map, image_size=32)


@pytest.fixture
def emulator(cfg: EnvConfig) -> Iterator[Emulator]:
    with Emulator(cfg, port=0) as emu:
        yield emu


def expert_race(cfg: EnvConfig) -> tuple[list[int], list[tuple]]:
    """The expert's actions (one decision per step) on Race-v0, and each step's (obs, reward, ends, info)."""
    env = RaceEnv(cfg)
    obs, info = env.reset(seed=0)
    expert = Expert(env.track, cfg.physics, ExpertConfig(decide_every_tick=False))
    expert.reset(np.random.default_rng(0))
    actions, steps = [], [(obs, 0.0, False, False, info)]
    while not (steps[-1][2] or steps[-1][3]):
        action = int(keys_to_actions(expert.plan(env.sim.state[0], cfg.physics.ticks_per_step))[0])
        actions.append(action)
        steps.append(env.step(action))
    return actions, steps


def game_env(cfg: EnvConfig, emulator: Emulator, **kwargs: object) -> GameRaceEnv:
    return GameRaceEnv(cfg, game=GameConfig.model_validate(MANUAL), port=emulator.port, **kwargs)  # type: ignore[arg-type]


def assert_same_observation(sim_obs: dict, game_obs: dict, step: int) -> None:
    np.testing.assert_allclose(game_obs["floats"], sim_obs["floats"], rtol=1e-5, atol=1e-3, err_msg=f"step {step}")
    np.testing.assert_array_equal(game_obs["image"], sim_obs["image"], err_msg=f"step {step}")


def test_a_race_in_the_game_is_the_race_in_the_sim(cfg: EnvConfig, emulator: Emulator) -> None:
    actions, sim_steps = expert_race(cfg)
    assert sim_steps[-1][2], "the expert finishes the short map"
    env = game_env(cfg, emulator)
    try:
        for race in range(2):  # the first race loads the map and saves its start; the second rewinds to it
            obs, info = env.reset(seed=0)
            assert_same_observation(sim_steps[0][0], obs, 0)
            assert info == pytest.approx(sim_steps[0][4], abs=1e-5)
            for k, action in enumerate(actions, start=1):
                obs, reward, terminated, truncated, info = env.step(action)
                sim_obs, sim_reward, sim_terminated, sim_truncated, sim_info = sim_steps[k]
                assert_same_observation(sim_obs, obs, k)
                assert reward == pytest.approx(sim_reward, abs=1e-6), k
                assert (terminated, truncated) == (sim_terminated, sim_truncated), k
                assert info["race_time_ms"] == sim_info["race_time_ms"] and info["zone_idx"] == sim_info["zone_idx"]
                assert info["checkpoints"] == sim_info["checkpoints"]
                assert info["meters_advanced"] == pytest.approx(sim_info["meters_advanced"], abs=1e-3)
            assert info["finished"] and info["race_time_ms"] == sim_steps[-1][4]["race_time_ms"], race
            assert not emulator.race.finished and emulator.race.cp_times[-1] == -1  # un-finished: no end screen
        assert env.race.connections == 1
        assert sum(c.startswith("map ") for c in emulator.console) == 1  # the second race rewound, no reload
    finally:
        env.close()


def test_the_float_only_path_needs_no_frame_and_gives_the_same_floats(cfg: EnvConfig, emulator: Emulator) -> None:
    actions, sim_steps = expert_race(cfg)
    env = game_env(cfg, emulator, frames=False)
    try:
        obs, _ = env.reset()
        assert not obs["image"].any()
        for k, action in enumerate(actions[:60], start=1):
            obs, reward, *_ = env.step(action)
            np.testing.assert_allclose(obs["floats"], sim_steps[k][0]["floats"], rtol=1e-5, atol=1e-3)
            assert reward == pytest.approx(sim_steps[k][1], abs=1e-6)
        assert emulator.speed > 0  # never paused: the held run step freezes the game
    finally:
        env.close()


def test_check_env_passes(cfg: EnvConfig, emulator: Emulator) -> None:
    env = game_env(cfg, emulator)
    try:
        check_env(env, skip_render_check=False)
    finally:
        env.close()


def test_game_v0_is_registered(cfg: EnvConfig, emulator: Emulator) -> None:
    env = gymnasium.make(
        "hairpin/Game-v0", config=cfg, game=GameConfig.model_validate(MANUAL), port=emulator.port
    ).unwrapped
    try:
        assert isinstance(env, GameRaceEnv)
        obs, info = env.reset()
        assert obs["floats"].shape == env.observation_space["floats"].shape and info["race_time_ms"] == 0
    finally:
        env.close()


@pytest.mark.parametrize(
    ("cutoffs", "stalled"),
    [({"no_progress_cutoff_s": 1.0}, True), ({"time_limit_s": 1.0, "no_progress_cutoff_s": 100.0}, False)],
)
def test_a_race_says_whether_it_was_cut_off_for_lack_of_progress(
    short_map: str, cutoffs: dict[str, float], stalled: bool
) -> None:
    cfg = EnvConfig(map=short_map, image_size=32, **cutoffs)
    with Emulator(cfg, port=0) as emulator:
        env = game_env(cfg, emulator)
        try:
            env.reset()
            results = [env.race.step(np.array([3])) for _ in range(20)]  # "nothing" for 1 s
            assert [bool(r.truncated[0]) for r in results] == [False] * 19 + [True]
            assert [bool(r.stalled[0]) for r in results] == [False] * 19 + [stalled]
        finally:
            env.close()


def test_a_cut_off_race_ends_truncated_at_the_time_limit(short_map: str) -> None:
    cfg = EnvConfig(map=short_map, image_size=32, time_limit_s=1.0, no_progress_cutoff_s=100)
    with Emulator(cfg, port=0) as emulator:
        env = game_env(cfg, emulator)
        try:
            env.reset()
            ends = [env.step(3)[2:4] for _ in range(20)]  # "nothing": the car stands at the start
            assert ends[:-1] == [(False, False)] * 19 and ends[-1] == (False, True)
            assert env.race.info(0)["race_time_ms"] == 1000
            with pytest.raises(RuntimeError, match="reset"):
                env.step(0)
            _, info = env.reset()  # the held sync wakes the game up for the next race
            assert info["race_time_ms"] == 0 and emulator.response_timeout_ms == 600_000_000  # raised between races
            env.step(0)
            assert emulator.response_timeout_ms == 10_100  # back to the in-run value, in a fresh wait
        finally:
            env.close()


def test_stale_run_steps_after_a_map_change_do_not_start_a_race(cfg: EnvConfig, short_map: str) -> None:
    with Emulator(cfg, port=0, faults=FaultPlan(FaultKind.STALE_RUN_STEP)) as emulator:
        race = GameRace(cfg, GameConfig.model_validate(MANUAL), port=emulator.port, maps=[short_map, "sprint"])
        try:
            race.reset_cars([0], np.random.default_rng(0))
            for _ in range(30):
                race.step(np.array([0]))
            race.assign_track(0, 1)
            race.reset_cars([0], np.random.default_rng(0))  # loads sprint; a step of the old race comes first
            assert race.info(0)["race_time_ms"] == 0 and race.track_of(0).name == "sprint"
            assert emulator.race.track.name == "sprint"
            race.step(np.array([0]))
            assert race.info(0)["race_time_ms"] == 50
        finally:
            race.close()


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        (FaultKind.CLOSE_MID_MESSAGE, GameError),
        (FaultKind.PLUGIN_TIMEOUT, GameError),
        (FaultKind.NO_FRAME, GameTimeoutError),
        (FaultKind.TINY_STATE, GameError),
    ],
)
def test_a_fault_mid_race_is_a_game_error_and_the_next_race_reconnects(
    cfg: EnvConfig, kind: FaultKind, error: type[Exception]
) -> None:
    game = GameConfig.model_validate({**MANUAL, "timeout_s": 1.0})
    with Emulator(cfg, port=0, faults=FaultPlan(kind, after_run_steps=80)) as emulator:
        race = GameRace(cfg, game, port=emulator.port)
        try:
            race.reset_cars([0], np.random.default_rng(0))
            with pytest.raises(error):
                for _ in range(100):
                    race.step(np.array([0]))
            assert not race.client.connected
            race.reset_cars([0], np.random.default_rng(0))  # reconnects and rewinds to the saved start
            assert race.connections == 2 and race.info(0)["race_time_ms"] == 0
            race.step(np.array([0]))
            assert race.info(0)["race_time_ms"] == 50
        finally:
            race.close()


def test_map_commands_are_quoted_only_with_a_space() -> None:
    assert map_command("A01-Race.Challenge.Gbx") == "map A01-Race.Challenge.Gbx"
    assert map_command('"My Challenges/Hock.Challenge.Gbx"') == 'map "My Challenges/Hock.Challenge.Gbx"'


def test_bad_actions_and_cars_are_refused(cfg: EnvConfig, emulator: Emulator) -> None:
    race = GameRace(cfg, GameConfig.model_validate(MANUAL), port=emulator.port)
    try:
        with pytest.raises(ValueError, match="one car"):
            race.reset_cars([0, 1], np.random.default_rng(0))
        with pytest.raises(RuntimeError, match="reset"):
            race.step(np.array([0]))
        race.reset_cars([0], np.random.default_rng(0))
        with pytest.raises(ValueError, match="integer in"):
            race.step(np.array([12]))
        with pytest.raises(ValueError, match="sim-only"):
            race.reset_cars([0], np.random.default_rng(0), [object()])
    finally:
        race.close()


def test_an_old_game_is_restarted_between_races(cfg: EnvConfig) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    game = GameConfig.model_validate({"launch": {"kind": "emulator", "connect_retry_s": 60}, "timeout_s": 20.0})
    process = GameProcess(game, port, cfg)
    race = GameRace(cfg, game, port=port, process=process)
    try:
        race.reset_cars([0], np.random.default_rng(0))  # launches the emulator
        race.step(np.array([0]))
        assert process.launches == 1 and race.connections == 1
        process.launched_at = time.monotonic() - 13 * 3600  # as if it had run 13 h: due for its 12-hourly restart
        race.reset_cars([0], np.random.default_rng(0))
        assert process.launches == 2 and race.connections == 2 and race.info(0)["race_time_ms"] == 0
        race.step(np.array([0]))
        assert race.info(0)["race_time_ms"] == 50
    finally:
        race.close()
    assert process.alive() is None  # the emulator went with the race


def test_an_input_script_recorded_in_the_game_is_the_demo_the_sim_records(cfg: EnvConfig, emulator: Emulator) -> None:
    """``demos record --input-script`` with env.backend: game: the same dataset, frame for frame, as in the sim."""
    from hairpin.data.input_script import keys_of_step_actions, write_script
    from hairpin.data.maps import resolve_maps
    from hairpin.data.script_replay import write_script_dataset
    from hairpin.data.store import load_demos

    actions, steps = expert_race(cfg)
    root = Path(cfg.map).parent
    script = root / "lap.txt"
    script.write_text(write_script(keys_of_step_actions(np.array(actions))))
    (demo_map,) = resolve_maps([cfg.map])
    game = GameConfig.model_validate({**MANUAL, "base_tmi_port": emulator.port})
    for name, env in (("in-sim", cfg), ("in-game", cfg.model_copy(update={"backend": "game"}))):
        write_script_dataset(
            env, [(script, demo_map)], root=root / "datasets", name=name, game=game, game_maps=[cfg.map]
        )
    (sim, _), (played, meta) = (load_demos(name, root / "datasets") for name in ("in-sim", "in-game"))
    assert meta.recording["replays"][0]["finished"] and played.finished.tolist() == [True]
    assert played.race_time_ms.tolist() == sim.race_time_ms.tolist() and played.actions.tolist() == actions
    np.testing.assert_array_equal(played.timeline, sim.timeline)
    np.testing.assert_array_equal(played.images, sim.images)
    np.testing.assert_allclose(played.floats, sim.floats, rtol=1e-5, atol=1e-3)
    assert steps[-1][4]["race_time_ms"] == meta.recording["replays"][0]["race_time_ms"]
