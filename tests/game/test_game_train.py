"""Training on the game backend: the run config's checks, collectors that lose a race to a game fault and drive on
(never sending half a race), and a short ``hairpin train`` on two emulated games started by the launcher."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pydantic import ValidationError
from tests.rl.conftest import tiny_config

from hairpin.config.loader import dump_config
from hairpin.config.rl import RLConfig
from hairpin.game.emulator import Emulator, FaultKind, FaultPlan
from hairpin.game.launcher import port_in_use
from hairpin.rl.collector import make_network
from hairpin.rl.collector_pool import CollectorPool
from hairpin.rl.limits import map_limit
from hairpin.rl.race_channel import RaceRecord

RACE_STEPS = 60
"""Every race is cut off at 3 s of race time (60 steps); the short map cannot be finished that fast."""


def free_ports(n: int) -> int:
    """The first of ``n`` consecutive free ports."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = int(s.getsockname()[1])
        if base + n <= 65535 and not any(port_in_use("127.0.0.1", base + k) for k in range(n)):
            return base
    raise RuntimeError("no free ports")


def game_config(tmp_path: Path, port: int, **overrides: object) -> RLConfig:
    return tiny_config(
        tmp_path,
        **{
            "env.backend": "game",
            "env.time_limit_s": RACE_STEPS / 20,
            "env.no_progress_cutoff_s": 1000.0,
            "performance.cars_per_collector": 1,
            "game.base_tmi_port": port,
            "game.timeout_s": 10.0,
            "game.start_timeout_s": 30.0,
            **overrides,
        },
    )


def collect(cfg: RLConfig, n_races: int, timeout_s: float = 90.0, after_first: object = None) -> list[RaceRecord]:
    """Run the collectors of ``cfg`` until ``n_races`` races arrived; ``after_first()`` runs once the first has."""
    pool = CollectorPool(cfg, make_network(cfg), seed=0)
    pool.start()
    races: list[RaceRecord] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(races) < n_races and time.monotonic() < deadline:
            got = pool.receive(timeout=0.5)
            if got and not races and callable(after_first):
                after_first()
            races += got
            pool.check_health(lambda kind, message: kind != "collector_restarted" or pytest.fail(message))
    finally:
        pool.stop()
    assert len(races) >= n_races, f"only {len(races)} races within {timeout_s} s"
    return races


def assert_whole(races: list[RaceRecord]) -> None:
    """Every race ran to its cut-off: none was sent cut short by a fault."""
    for race in races:
        assert len(race.actions) == RACE_STEPS and race.race_time_ms == 50 * RACE_STEPS and not race.terminated
        assert len(race.frames) == len(race.floats) == RACE_STEPS + 1


# -- the config ------------------------------------------------------------------------------------------------


def test_the_game_backend_drives_one_car_per_collector(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"set performance\.cars_per_collector: 1 \(got 4\)"):
        tiny_config(tmp_path, **{"env.backend": "game"})
    with pytest.raises(ValidationError, match="runs past port 65535"):
        game_config(tmp_path, 65535, **{"performance.gpu_collectors_count": 2})
    with pytest.raises(ValidationError, match="random_start_share must be 0"):
        game_config(tmp_path, 8478, **{"exploration.random_start_share": 0.5})
    with pytest.raises(ValidationError, match=r"game\.maps has no game map for"):
        game_config(tmp_path, 8478, **{"game.launch": {"kind": "linux", "linux": {"command": "run {port}"}}})
    assert game_config(tmp_path, 8478).env.backend == "game"


def test_a_game_maps_limit_is_the_users_and_a_real_game_has_no_sim_limit(tmp_path: Path) -> None:
    line = str(tmp_path / "short.npy")
    linux = {"kind": "linux", "linux": {"command": "run {port}"}}
    given = game_config(
        tmp_path, 8478, **{"game.launch": linux, "game.maps": {line: {"path": "S.Gbx", "limit_ms": 9000}}}
    )
    assert map_limit(given, "short") == 9000
    unknown = game_config(tmp_path, 8478, **{"game.launch": linux, "game.maps": {line: {"path": "S.Gbx"}}})
    assert map_limit(unknown, "short") is None


# -- collectors meet faults ------------------------------------------------------------------------------------


@pytest.mark.timeout(180)
def test_a_fault_mid_race_loses_that_race_and_the_collector_drives_on(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    port = free_ports(1)
    cfg = game_config(tmp_path, port, **{"game.launch": {"kind": "manual"}})
    countdown_steps = 52  # run steps from -2550 to 0 ms
    fault = FaultPlan(FaultKind.CLOSE_MID_MESSAGE, after_run_steps=countdown_steps + RACE_STEPS + RACE_STEPS // 2)
    with Emulator(cfg.env, port=port, faults=fault) as emulator:
        races = collect(cfg, 3)
        assert "fault: closed mid-message" in emulator.drops
    assert_whole(races)
    lines = [line for line in capfd.readouterr().err.splitlines() if "race discarded" in line]
    assert len(lines) == 1 and "collector 0" in lines[0]


def emulator_pids(port: int) -> list[int]:
    """Pids of ``hairpin sim serve`` processes on ``port``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                args = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"serve" in args and b"--port" in args and args[args.index(b"--port") + 1] == str(port).encode():
                pids.append(int(entry.name))
    return pids


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the emulator's process through /proc")
@pytest.mark.timeout(240)
def test_a_game_that_died_is_launched_again(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    port = free_ports(1)
    cfg = game_config(tmp_path, port, **{"game.launch": {"kind": "emulator"}, "game.frames": "always"})
    killed: list[int] = []

    def kill_the_game() -> None:
        (pid,) = emulator_pids(port)
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)

    races = collect(cfg, 4, timeout_s=180, after_first=kill_the_game)
    assert_whole(races)
    assert any(r.frames.any() for r in races)  # frames were requested and came
    err = capfd.readouterr().err
    assert "race discarded" in err or "starting a race failed" in err
    deadline = time.monotonic() + 15
    while emulator_pids(port) and time.monotonic() < deadline:  # the collector stops the emulator it launched
        time.sleep(0.2)
    assert killed and not emulator_pids(port)


# -- hairpin train ---------------------------------------------------------------------------------------------


@pytest.mark.timeout(300)
def test_hairpin_train_on_two_emulated_games(tmp_path: Path) -> None:
    port = free_ports(2)
    line = str(
        tmp_path / "short.npy"
    )  # tiny_config's map; the emulator loads its file, its limit skips the racing line
    cfg = game_config(
        tmp_path,
        port,
        **{
            "performance.gpu_collectors_count": 2,
            "game.launch": {"kind": "emulator"},
            "game.maps": {line: {"path": line, "limit_ms": 9000}},
            "training.max_frames": 400,
            "memory.memory_min_size": 100,
        },
    )
    path = tmp_path / "game.yaml"
    path.write_text(dump_config(cfg))
    result = subprocess.run(
        [sys.executable, "-m", "hairpin.cli", "train", str(path)], capture_output=True, text=True, timeout=280
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    run_dir = Path(cfg.paths.runs) / cfg.run_name
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["sessions"][0]["frames_end"] >= 400
    events = {e["kind"]: e["message"] for e in manifest["events"]}
    assert events["stop"] == "max_frames 400 reached" and "collector_restarted" not in events  # both games served
    assert (run_dir / "checkpoints" / "latest").is_file()
    (tb_dir,) = manifest["tensorboard_dirs"]
    assert any(p.name.startswith("events.out.tfevents") for p in Path(tb_dir).iterdir())
    assert not port_in_use("127.0.0.1", port) and not port_in_use("127.0.0.1", port + 1)  # emulators stopped
