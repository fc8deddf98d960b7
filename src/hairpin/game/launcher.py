"""Starting the game of one collector, noticing when it died, starting it again, and restarting it every N hours.

Three ways to start it (``game.launch.kind``, TMINTERFACE.md §5.1): on Windows, TMLoader runs TmForever with
TMInterface and ``/configstring="set custom_port N"``; on Linux, the user's Wine/Proton command with ``{port}``;
anywhere, the emulator (``hairpin sim serve``), hairpin's simulator behind the game's protocol, which stands in
for the game in tests. The command lines are built by pure functions (tested); only the emulator path runs here:
the Windows and Linux paths are untested against the game.

A game already listening on the port when hairpin would launch one (left by an earlier session or by a collector
that was restarted) is used as it is. Emulators hairpin started are stopped with their collector; games are left
running, so the next session connects without the minute a game takes to start.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any

from hairpin.config.game import GameConfig
from hairpin.config.sim import DriveConfig, EnvConfig
from hairpin.game.errors import GameConnectionError

__all__ = [
    "GAME_PROCESS_PREFIX",
    "PLUGIN_NAME",
    "GameProcess",
    "configstring",
    "emulator_command",
    "install_plugin",
    "linux_command_line",
    "plugin_source",
    "port_in_use",
    "windows_command_line",
]

log = logging.getLogger("hairpin.game")

GAME_PROCESS_PREFIX = "TmForever"
"""Name the game's process starts with (``TmForever.exe``)."""
PLUGIN_NAME = "HairpinLink.as"
POLL_S = 0.2
"""How often a launch looks for the game's process."""
STOP_WAIT_S = 10.0
"""How long a stopped process may take to exit before it is killed."""


def configstring(port: int, extra: str = "") -> str:
    """TMInterface commands the game runs at start: ``set custom_port N`` (the plugin's port), then ``extra``."""
    commands = [f"set custom_port {port}"] + [c.strip() for c in extra.split(";") if c.strip()]
    return "; ".join(commands)


def windows_command_line(tmloader_path: str, profile: str, port: int, extra_configstring: str = "") -> str:
    """The Windows command line that starts the game on ``port`` through TMLoader, passed to CreateProcess as it is:
    ``"<TMLoader.exe>" run TmForever "<profile>" /configstring="set custom_port <port>; ..."``."""
    return f'"{tmloader_path}" run TmForever "{profile}" /configstring="{configstring(port, extra_configstring)}"'


def linux_command_line(template: str, port: int) -> str:
    """The shell command that starts the game on ``port``: the configured template with ``{port}`` filled in."""
    return template.format(port=port)


def emulator_command(
    port: int, map_name: str, config_path: Path | str | None = None, owner_pid: int | None = None
) -> list[str]:
    """The command that runs the emulator (``hairpin sim serve``) on ``port``, starting on ``map_name``; it stops by
    itself when process ``owner_pid`` is gone (so a killed run leaves no emulator behind)."""
    command = [sys.executable, "-m", "hairpin.cli", "sim", "serve", "--port", str(port), "--map", map_name]
    command += ["--config", str(config_path)] if config_path is not None else []
    return command + (["--parent-pid", str(owner_pid)] if owner_pid is not None else [])


def port_in_use(host: str, port: int) -> bool:
    """Whether something listens on ``host:port`` (a bind test: it opens no connection the game would accept).

    POSIX binds with SO_REUSEADDR so a closed connection lingering in TIME_WAIT does not count; Windows' default
    bind already refuses only a port that is really taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        if sys.platform != "win32":
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def plugin_source() -> Path:
    """hairpin's TMInterface plugin as shipped in the package."""
    return Path(str(resources.files("hairpin.game").joinpath("plugin", PLUGIN_NAME)))


def install_plugin(folder: Path | str) -> Path:
    """Copy the plugin into TMInterface's ``Plugins`` folder (created if missing) unless an identical copy is there;
    return its path."""
    folder = Path(folder).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / PLUGIN_NAME
    source = plugin_source()
    if not target.is_file() or target.read_bytes() != source.read_bytes():
        shutil.copyfile(source, target)
        log.info("installed the game plugin into %s", target)
    return target


def _psutil() -> Any:
    """psutil when installed (``pip install 'hairpin[game]'``), else None."""
    try:
        import psutil
    except ImportError:
        return None
    return psutil


class GameProcess:
    """The game (or emulator) process behind one collector's port: launched on demand, watched, relaunched."""

    def __init__(
        self, game: GameConfig, port: int, env: EnvConfig, first_map: str | None = None, owner_pid: int | None = None
    ) -> None:
        self.game = game
        self.owner_pid = owner_pid if owner_pid is not None else os.getpid()
        """An emulator launched here stops when this process is gone (a collector passes its learner's)."""
        self.port = port
        self.env = env
        self.first_map = first_map or env.map
        self.kind = game.launch.kind
        self.launched_at: float | None = None
        """``time.monotonic()`` of the last launch by this object; None when it launched nothing (yet)."""
        self.launches = 0
        self._popen: subprocess.Popen[bytes] | None = None
        self._pid: int | None = None  # the game's own process, when found (psutil)
        self._config_dir: tempfile.TemporaryDirectory[str] | None = None

    # -- what runs ------------------------------------------------------------------------------------------

    def alive(self) -> bool | None:
        """Whether the process runs: True, False, or None when hairpin cannot tell (started by someone else)."""
        psutil = _psutil()
        if self._pid is not None and psutil is not None:
            try:
                return bool(psutil.Process(self._pid).status() != psutil.STATUS_ZOMBIE)
            except psutil.NoSuchProcess:
                return False
        if self._popen is not None:
            return self._popen.poll() is None
        return None

    def due_for_restart(self) -> bool:
        """Whether a game this object launched has run longer than ``restart_every_hours``."""
        hours = self.game.launch.restart_every_hours
        return self.launched_at is not None and hours is not None and time.monotonic() - self.launched_at > 3600 * hours

    def ensure_running(self) -> bool:
        """Make sure a game listens (or will soon) on the port: launch one when none runs, relaunch a dead one,
        restart one that is due. True when a new process was started (the caller's map and saved states are gone).
        """
        if self.kind == "manual":
            return False
        alive = self.alive()
        if alive and self.due_for_restart():
            log.warning("port %d: restarting the game after %.1f h", self.port, self.game.launch.restart_every_hours)
            self.stop()
            return self._launch()
        if alive is False:
            if not self.game.launch.relaunch_on_death:
                raise GameConnectionError(f"the game on port {self.port} died and game.launch.relaunch_on_death is off")
            log.warning("port %d: the game process died; launching it again", self.port)
            self._forget()
            return self._launch()
        if alive is None and self._popen is None and self._pid is None:
            if port_in_use(self.game.host, self.port):
                self._pid = _listening_pid(self.port)
                log.info("port %d: a game already listens there; using it", self.port)
                return False
            return self._launch()
        return False

    # -- launching and stopping -----------------------------------------------------------------------------

    def _launch(self) -> bool:
        launch = self.game.launch
        if launch.install_plugin_to is not None and self.kind != "emulator":
            install_plugin(launch.install_plugin_to)
        psutil = _psutil()
        before = _game_pids(psutil) if psutil is not None else set()
        if self.kind == "emulator":
            self._popen = subprocess.Popen(
                emulator_command(self.port, self.first_map, self._emulator_config(), self.owner_pid),
                stdout=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: stopping it stops what it started
            )
        elif self.kind == "windows":
            if psutil is None:
                raise GameConnectionError(
                    "game.launch.kind: windows needs psutil to find the game's process: pip install 'hairpin[game]'"
                )
            w = launch.windows
            tmloader = w.tmloader_path
            assert tmloader is not None  # the config refuses kind windows without it
            command = windows_command_line(tmloader, w.profile, self.port, w.extra_configstring)
            self._popen = subprocess.Popen(command, stdout=subprocess.DEVNULL)
            self._pid = self._wait_for_game_pid(psutil, before, parent=self._popen.pid)
        else:
            command = linux_command_line(launch.linux.command, self.port)
            self._popen = subprocess.Popen(command, shell=True, stdout=subprocess.DEVNULL, start_new_session=True)
            if psutil is not None:
                self._pid = self._wait_for_game_pid(psutil, before, parent=None)
        self.launched_at = time.monotonic()
        self.launches += 1
        log.info("port %d: launched the game (%s, launch %d)", self.port, self.kind, self.launches)
        return True

    def _emulator_config(self) -> Path:
        """A config file with the run's env section, so the emulator simulates exactly the races hairpin expects."""
        if self._config_dir is None:
            self._config_dir = tempfile.TemporaryDirectory(prefix="hairpin-emulator-")
        from hairpin.config import dump_config

        path = Path(self._config_dir.name) / "env.yaml"
        path.write_text(dump_config(DriveConfig(env=self.env.model_copy(update={"backend": "sim"}))))
        return path

    def _wait_for_game_pid(self, psutil: Any, before: set[int], parent: int | None) -> int | None:
        """The game process the launch started: a new ``TmForever`` process (a child of ``parent`` when given)."""
        deadline = time.monotonic() + self.game.launch.connect_retry_s
        while time.monotonic() < deadline:
            for proc in psutil.process_iter(["pid", "name", "ppid"]):
                info = proc.info
                name = info.get("name") or ""
                new = name.startswith(GAME_PROCESS_PREFIX) and info["pid"] not in before
                if new and (parent is None or info.get("ppid") == parent):
                    return int(info["pid"])
            time.sleep(POLL_S)
        if parent is not None:
            raise GameConnectionError(
                f"port {self.port}: TMLoader started, but no {GAME_PROCESS_PREFIX} process appeared within "
                f"{self.game.launch.connect_retry_s:g} s (check launch.windows.tmloader_path and the profile)"
            )
        log.warning("port %d: no %s process appeared; watching the launch command instead", self.port, "TmForever")
        return None

    def stop(self) -> None:
        """Stop the process this object launched (or found), and wait for it to exit."""
        psutil = _psutil()
        if self._pid is not None and psutil is not None:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc = psutil.Process(self._pid)
                proc.kill()
                proc.wait(STOP_WAIT_S)
        if self._popen is not None and self._popen.poll() is None:
            if sys.platform != "win32":
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self._popen.pid, signal.SIGTERM)
            else:
                self._popen.terminate()
            try:
                self._popen.wait(STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                self._popen.kill()
                self._popen.wait(STOP_WAIT_S)
        self._forget()

    def close(self) -> None:
        """End of the session: stop an emulator hairpin started (or found on the port, when psutil can name its
        process); leave a game running for the next session."""
        if self.kind == "emulator" and (self._popen is not None or self._pid is not None):
            self.stop()
        if self._config_dir is not None:
            self._config_dir.cleanup()
            self._config_dir = None

    def _forget(self) -> None:
        self._popen, self._pid, self.launched_at = None, None, None


def _game_pids(psutil: Any) -> set[int]:
    """Pids of the game processes running now."""
    return {
        int(p.info["pid"])
        for p in psutil.process_iter(["pid", "name"])
        if (p.info.get("name") or "").startswith(GAME_PROCESS_PREFIX)
    }


def _listening_pid(port: int) -> int | None:
    """The pid listening on ``port`` when psutil can tell (it may need more rights than the user has), else None.
    Never this process: stopping "the game" must not kill the process that asked."""
    psutil = _psutil()
    if psutil is None:
        return None
    try:
        for conn in psutil.net_connections(kind="tcp"):
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN and conn.pid:
                return int(conn.pid) if conn.pid != os.getpid() else None
    except (psutil.AccessDenied, OSError):
        return None
    return None
