"""TMInterface input scripts: reading, writing, replaying in the simulator as demos, and the commands around them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from hairpin.actions import ACTION_NAMES
from hairpin.cli import app
from hairpin.config.sim import DriveConfig, EnvConfig
from hairpin.data.arrays import keys_to_actions
from hairpin.data.input_script import (
    InputScriptError,
    keys_of_step_actions,
    parse_script,
    read_script,
    step_actions,
    write_script,
)
from hairpin.data.maps import resolve_maps
from hairpin.data.script_replay import lap_script, replay_script, write_script_dataset
from hairpin.data.store import load_demos

GEN3 = resolve_maps([], generated=1, generator_seed=3, generated_blocks=6)[0]
ENV = EnvConfig(image_size=32)
A, B, L, R = np.eye(4, dtype=np.int8)  # accelerate, brake, left, right


def test_a_script_becomes_the_keys_of_every_tick() -> None:
    script = parse_script(
        """
        # accelerate from the start; times in ms, s.cc and m:ss.cc
        0 press up
        0.05-0.08 press left ; 70 press right   # a range and a second command on the line
        100 steer -40000
        0:00.12 steer 0
        130 gas 65536
        0.14 rel up
        """
    )
    expected = [A] * 5 + [A + L] * 2 + [A + L + R] + [A + R] * 2 + [A + L + R] * 2 + [A + R] + [A + B + R]
    np.testing.assert_array_equal(script.keys, expected)
    np.testing.assert_array_equal(script.final, B + R)  # held after the script's last command
    assert script.n_ticks == 14 and script.keys.dtype == np.int8


def test_commands_at_the_same_time_apply_in_line_order() -> None:
    assert parse_script("0 press up\n100 rel up\n100 press up\n").final.tolist() == A.tolist()
    assert parse_script("0 press up\n100 press up\n100 rel up\n").final.tolist() == [0, 0, 0, 0]
    shuffled = parse_script("50 rel left\n0 press left\n")  # otherwise the order of lines does not matter
    np.testing.assert_array_equal(shuffled.keys, [L] * 5)


@pytest.mark.parametrize(
    ("value", "keys"),
    [(-65536, L), (-32769, L), (-32768, 0 * L), (0, 0 * L), (32768, 0 * L), (32769, R), (65536, R)],
)
def test_an_analog_steer_is_the_nearest_key(value: int, keys: np.ndarray) -> None:
    np.testing.assert_array_equal(parse_script(f"0 steer {value}").final, keys)


def test_negative_gas_accelerates_and_positive_gas_brakes() -> None:
    np.testing.assert_array_equal(parse_script("0 gas -65536").final, A)
    np.testing.assert_array_equal(parse_script("0 gas 40000").final, B)
    np.testing.assert_array_equal(parse_script("0 gas 1000").final, 0 * A)
    np.testing.assert_array_equal(parse_script("0 gas 1000", gas_dead_zone=500).final, B)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("120 press enter", "key 'enter' (respawn) is not replayed"),
        ("120 press space", "unknown key 'space'"),
        ("120 jump up", "unknown command 'jump'"),
        ("set speed 10", "has no time"),
        ("-20 press up", "negative time '-20'"),
        ("125 press up", "time '125' (125 ms) is not on a 10 ms tick"),
        ("1.235 press up", "not on a 10 ms tick"),
        ("1:05 press up", "bad time '1:05'"),
        ("ten press up", "has no time"),
        ("300-200 press up", "range '300-200' ends (200 ms) before it starts (300 ms)"),
        ("100-200 rel up", "not rel"),
        ("100 steer 70000", "steer value 70000 is outside"),
        ("100 gas full", "gas value 'full' is not an integer"),
        ("100 press", "press takes one argument"),
        ("100", "has a time but no command"),
    ],
)
def test_a_malformed_line_is_named_with_its_file_and_number(line: str, problem: str) -> None:
    with pytest.raises(InputScriptError) as error:
        parse_script(f"0 press up\n\n{line}\n", source="run.txt")
    assert str(error.value).startswith("run.txt:3: ") and problem in str(error.value)


def test_a_missing_file_is_an_input_script_error(tmp_path: Path) -> None:
    with pytest.raises(InputScriptError, match="cannot read input script"):
        read_script(tmp_path / "nope.txt")


@pytest.mark.parametrize("seed", range(4))
def test_written_keys_read_back_the_same(seed: int) -> None:
    rng = np.random.default_rng(seed)
    keys = (rng.random((int(rng.integers(1, 200)), 4)) < 0.3).astype(np.int8)
    if seed % 2:
        keys[-7:] = 0  # nothing held at the end: the end is still marked
    text = write_script(keys, comment="a test\nof two lines")
    script = parse_script(text)
    np.testing.assert_array_equal(script.keys, keys)
    np.testing.assert_array_equal(script.final, np.zeros(4))  # the writer releases everything at the end
    changes = np.count_nonzero(np.diff(np.concatenate([np.zeros((1, 4)), keys]), axis=0))
    assert len([ln for ln in text.splitlines() if not ln.startswith("#")]) == changes + max(keys[-1].sum(), 1)


def test_step_actions_written_as_a_script_read_back_the_same() -> None:
    actions = np.array([0, 0, 1, 2, 11, 3, 3, 6, 9, 0])
    script = parse_script(write_script(keys_of_step_actions(actions, 5)))
    np.testing.assert_array_equal(script.step_actions(5), actions)
    assert parse_script(write_script(np.zeros((0, 4)))).n_ticks == 0


def test_a_step_takes_the_keys_of_its_first_tick() -> None:
    keys = np.array([A, A + L, A + L, A + L, A + L, B, B, 0 * A, 0 * A, 0 * A])
    assert [ACTION_NAMES[a] for a in step_actions(keys, 5)] == ["accel", "brake"]
    np.testing.assert_array_equal(parse_script("0 press left; 0 press right").tick_actions(3), [3, 3, 3])


@pytest.mark.parametrize("driver", ["line", "expert"])
def test_a_lap_written_as_a_script_replays_to_the_same_episode(driver: str) -> None:
    cfg = DriveConfig.model_validate({"env": {"image_size": 32}, "driver": driver, "expert": {"noise": 0.5}})
    text, lap = lap_script(cfg, GEN3, seed=1)
    assert lap.terminated and text.startswith(f"# hairpin: {driver} lap on gen-3")
    replay = replay_script(cfg.env, GEN3, parse_script(text))
    assert replay.terminated and replay.final_race_time_ms == lap.final_race_time_ms
    for name in ("images", "floats", "actions", "tick_actions", "rewards", "race_time_ms", "frame_tick"):
        np.testing.assert_array_equal(getattr(replay, name), getattr(lap, name), err_msg=name)


def test_past_its_end_a_script_holds_its_final_keys_until_the_race_is_cut_off() -> None:
    episode = replay_script(ENV, GEN3, parse_script("0-1000 press up\n1000 press left"))
    assert episode.truncated and not episode.terminated
    assert episode.n_ticks > 300  # the car rolled on, then stopped making progress for 2 s
    assert set(episode.timeline[:100]) == {0} and set(episode.timeline[100:]) == {ACTION_NAMES.index("left")}
    assert episode.extra["script_ticks"] == 100 and episode.extra["driver"] == "script"


def test_a_script_needs_the_simulator_to_tick_every_10_ms() -> None:
    env = ENV.model_copy(update={"physics": ENV.physics.model_copy(update={"tick_s": 0.02})})
    with pytest.raises(InputScriptError, match=r"set env\.physics\.tick_s to 0\.01"):
        replay_script(env, GEN3, parse_script("0 press up"))


def test_scripts_are_written_as_a_dataset_bc_can_load(tmp_path: Path) -> None:
    keys = keys_of_step_actions(np.array([0] * 40 + [1] * 20 + [2] * 20 + [6] * 10), 5)
    (tmp_path / "a.txt").write_text(write_script(keys))
    (tmp_path / "b.txt").write_text("0 press up\n")
    scripts = [(tmp_path / "a.txt", GEN3), (tmp_path / "b.txt", GEN3)]
    meta = write_script_dataset(ENV, scripts, root=tmp_path / "ds", name="human")
    demos, meta = load_demos("human", tmp_path / "ds")
    assert meta.source == "script" and meta.maps == ["gen-3"] and demos.n_episodes == 2
    first = demos.select_episodes([0])
    np.testing.assert_array_equal(first.timeline[: len(keys)], keys_to_actions(keys))
    np.testing.assert_array_equal(first.actions[:90], [0] * 40 + [1] * 20 + [2] * 20 + [6] * 10)
    assert [r["script"] for r in meta.recording["replays"]] == [str(p) for p, _ in scripts]
    assert [e.extra["script"] for e in meta.episodes] == ["a.txt", "b.txt"]


def test_a_bad_script_writes_no_dataset(tmp_path: Path) -> None:
    (tmp_path / "bad.txt").write_text("0 press up\n15 rel up\n")
    with pytest.raises(InputScriptError, match=r"bad\.txt:2: time '15'"):
        write_script_dataset(ENV, [(tmp_path / "bad.txt", GEN3)], root=tmp_path / "ds", name="x")
    assert not (tmp_path / "ds" / "x").exists()


def run(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(app, args)
    return result.exit_code, " ".join(result.output.split())


def test_demos_script_then_record_input_script(tmp_path: Path) -> None:
    line, script, root = tmp_path / "gen-3.npy", tmp_path / "lap.txt", str(tmp_path / "ds")
    np.save(line, GEN3.track.points)
    code, out = run(["demos", "script", str(line), "--out", str(script), "--noise", "0.5", "--seed", "1"])
    assert code == 0, out
    lap = out.split("expert lap on gen-3, ")[1].split(",")[0]  # "8.00 s"
    assert read_script(script).n_ticks > 0
    record = ["demos", "record", "--maps", str(line), "--image-size", "32", "--input-script", str(script)]
    code, out = run([*record, "--out", "s", "--root", root])
    assert code == 0, out
    assert f"{script} on gen-3: {lap}" in out and "1 episodes" in out
    demos, meta = load_demos("s", root)
    assert meta.source == "script" and demos.finished.all() and demos.image_size == 32
    code, out = run(["demos", "script", str(line), "--out", str(script)])
    assert code == 2 and "already exists" in out
    code, out = run([*record, "--maps", f"{line},sprint", "--out", "t", "--root", root])
    assert code == 2 and "1 input script(s) for 2 maps" in out
    code, out = run([*record, "--out", "u", "--root", root, "--episodes", "10", "--cars", "2"])
    assert code == 2 and "--episodes, --cars: no use with --input-script" in out
    assert not (tmp_path / "ds" / "u").exists()
