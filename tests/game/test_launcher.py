"""The game launcher: the command lines it builds for Windows, Linux and the emulator, the game config's checks,
the plugin it ships, and the emulator process it starts, watches, relaunches and restarts."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from hairpin.config.game import GameConfig
from hairpin.config.sim import EnvConfig
from hairpin.game.client import OnConnect, TMInterfaceClient
from hairpin.game.errors import GameConnectionError
from hairpin.game.launcher import (
    PLUGIN_NAME,
    GameProcess,
    configstring,
    emulator_command,
    install_plugin,
    linux_command_line,
    plugin_source,
    port_in_use,
    windows_command_line,
)
from hairpin.game.protocol import MessageId

pytestmark = pytest.mark.timeout(120)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- command lines ---------------------------------------------------------------------------------------------


def test_configstring_sets_the_port_first_then_the_extra_commands() -> None:
    assert configstring(8478) == "set custom_port 8478"
    assert configstring(8480, " set a 1;; set b 2 ; ") == "set custom_port 8480; set a 1; set b 2"


def test_the_windows_command_line_runs_tmloader_with_the_profile_and_port() -> None:
    line = windows_command_line(r"C:\Program Files\TMLoader\TMLoader.exe", "default", 8479, "set skip 1")
    assert line == (
        r'"C:\Program Files\TMLoader\TMLoader.exe" run TmForever "default" '
        '/configstring="set custom_port 8479; set skip 1"'
    )


def test_the_linux_command_fills_in_the_port() -> None:
    template = 'cd ~/tm && exec wine TMLoader.exe run TmForever "default" /configstring="set custom_port {port}"'
    assert linux_command_line(template, 8481).endswith('/configstring="set custom_port 8481"')
    assert linux_command_line("launch.sh {port} {{literal}}", 9000) == "launch.sh 9000 {literal}"


def test_the_emulator_command_serves_the_map_on_the_port(tmp_path: Path) -> None:
    command = emulator_command(8478, "sprint", tmp_path / "env.yaml")
    assert command[:3] == [sys.executable, "-m", "hairpin.cli"]
    assert command[3:] == ["sim", "serve", "--port", "8478", "--map", "sprint", "--config", str(tmp_path / "env.yaml")]
    assert emulator_command(8478, "sprint", owner_pid=42)[-2:] == ["--parent-pid", "42"]


def test_an_emulator_stops_by_itself_when_its_owner_is_gone() -> None:
    """A run killed outright cannot stop its emulators: each watches the process that owns it."""
    owner = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    port = free_port()
    emulator = subprocess.Popen(emulator_command(port, "sprint", owner_pid=owner.pid), stdout=subprocess.DEVNULL)
    try:
        greet(port)
        assert emulator.poll() is None
        owner.kill()
        owner.wait(10)
        assert emulator.wait(30) == 0  # it stopped on its own (a hang fails here after 30 s)
    finally:
        for proc in (owner, emulator):
            if proc.poll() is None:
                proc.kill()


# -- the config ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tree", "message"),
    [
        ({"base_tmi_port": 70000}, "less than or equal to 65535"),
        ({"base_tmi_port": 0}, "greater than or equal to 1"),
        ({"running_speed": 0}, "greater than 0"),
        ({"plugin_timeout_during_run_ms": 2**32}, "less than or equal to 4294967295"),
        ({"launch": {"kind": "windows"}}, "needs launch.windows.tmloader_path"),
        ({"launch": {"kind": "linux"}}, "needs launch.linux.command"),
        ({"launch": {"kind": "linux", "linux": {"command": "run.sh"}}}, "it has no {port}"),
        ({"launch": {"kind": "linux", "linux": {"command": "run.sh {port} {user}"}}}, r"it names \{user\}"),
        ({"launch": {"kind": "windows", "windows": {"tmloader_path": "T.exe", "profile": 'a"b'}}}, "double quote"),
        ({"maps": {"sprint": {"path": "Défi.Challenge.Gbx"}}}, "only carries ASCII"),
        ({"on_connect_commands": ["set a 1\nset b 2"]}, "line break"),
        ({"launch": {"kind": "steam"}}, "'emulator', 'windows', 'linux' or 'manual'"),
        ({"frames": "sometimes"}, "'auto', 'always' or 'never'"),
        ({"hosts": "127.0.0.1"}, "Extra inputs are not permitted"),
    ],
)
def test_nonsense_game_settings_are_refused(tree: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        GameConfig.model_validate(tree)


def test_game_settings_that_make_sense_are_kept() -> None:
    game = GameConfig.model_validate(
        {
            "launch": {"kind": "linux", "linux": {"command": "exec wine TMLoader.exe {port}"}},
            "maps": {"hock.npy": {"path": "My Challenges/Hock.Challenge.Gbx", "limit_ms": 52_340}},
        }
    )
    assert game.port_of(3) == 8481
    assert game.map_path("hock.npy") == "My Challenges/Hock.Challenge.Gbx" and game.map_path("sprint") == "sprint"


def test_the_env_refuses_what_the_game_cannot_do() -> None:
    with pytest.raises(ValidationError, match="start_noise must be 0 with backend: game"):
        EnvConfig(backend="game", start_noise=0.5)
    with pytest.raises(ValidationError, match="wall contact"):
        EnvConfig.model_validate({"backend": "game", "reward": {"per_wall_contact_s": -1.0}})
    with pytest.raises(ValidationError, match=r"tick_s must be 0\.01"):
        EnvConfig.model_validate({"backend": "game", "physics": {"tick_s": 0.02}})


# -- the plugin ------------------------------------------------------------------------------------------------


def test_the_plugin_ships_with_the_protocols_message_ids() -> None:
    text = plugin_source().read_text()
    ids = {name: int(value) for name, value in re.findall(r"const int ((?:SC|C)_[A-Z_]+) = (\d+);", text)}
    assert ids == {m.name: m.value for m in MessageId}
    assert "Documents/TMInterface/Plugins" in text and "UNTESTED AGAINST THE GAME" in text
    for name in ids:  # every message has its case
        assert f"case {name}:" in text, name


def test_the_plugin_is_installed_once(tmp_path: Path) -> None:
    target = install_plugin(tmp_path / "Plugins")
    assert target == tmp_path / "Plugins" / PLUGIN_NAME and target.read_bytes() == plugin_source().read_bytes()
    stamp = target.stat().st_mtime_ns
    install_plugin(tmp_path / "Plugins")
    assert target.stat().st_mtime_ns == stamp
    target.write_text("old")
    install_plugin(tmp_path / "Plugins")
    assert target.read_bytes() == plugin_source().read_bytes()


# -- the emulator process --------------------------------------------------------------------------------------


@pytest.fixture
def process(tmp_path: Path) -> Iterator[GameProcess]:
    game = GameConfig.model_validate({"launch": {"kind": "emulator", "connect_retry_s": 60}})
    proc = GameProcess(game, free_port(), EnvConfig(image_size=32))
    yield proc
    proc.stop()


def greet(port: int) -> None:
    """Connect to the game on ``port`` and take its greeting (proof that it runs)."""
    client = TMInterfaceClient(port, timeout_s=20)
    client.connect(retry_for_s=60)
    try:
        assert isinstance(client.read_event(), OnConnect)
    finally:
        client.close()


def test_the_emulator_is_launched_relaunched_when_dead_and_stopped(process: GameProcess) -> None:
    assert process.alive() is None and not port_in_use("127.0.0.1", process.port)
    assert process.ensure_running() is True and process.alive() is True
    greet(process.port)
    assert process.ensure_running() is False and process.launches == 1
    assert process._popen is not None
    process._popen.kill()
    process._popen.wait(10)
    assert process.alive() is False
    assert process.ensure_running() is True and process.launches == 2
    greet(process.port)
    process.close()
    assert process.alive() is None and not port_in_use("127.0.0.1", process.port)


def test_a_dead_game_is_not_relaunched_when_told_not_to(tmp_path: Path) -> None:
    game = GameConfig.model_validate({"launch": {"kind": "emulator", "relaunch_on_death": False}})
    process = GameProcess(game, free_port(), EnvConfig(image_size=32))
    try:
        process.ensure_running()
        assert process._popen is not None
        process._popen.kill()
        process._popen.wait(10)
        with pytest.raises(GameConnectionError, match="relaunch_on_death is off"):
            process.ensure_running()
    finally:
        process.stop()


def test_an_old_game_is_restarted(tmp_path: Path) -> None:
    game = GameConfig.model_validate({"launch": {"kind": "emulator", "restart_every_hours": 1e-9}})
    process = GameProcess(game, free_port(), EnvConfig(image_size=32))
    try:
        process.ensure_running()
        first = process._popen
        assert first is not None and process.due_for_restart()
        assert process.ensure_running() is True and process.launches == 2
        assert first.poll() is not None and process.alive() is True
    finally:
        process.stop()


def test_a_game_already_on_the_port_is_used_not_launched_again(process: GameProcess) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", process.port))
        listener.listen(1)
        assert port_in_use("127.0.0.1", process.port)
        assert process.ensure_running() is False and process.launches == 0
        process.stop()  # what listens is this process: stopping "the game" must leave it alive


def test_a_manual_game_is_left_to_the_user() -> None:
    process = GameProcess(GameConfig.model_validate({"launch": {"kind": "manual"}}), free_port(), EnvConfig())
    assert process.ensure_running() is False and process.alive() is None
