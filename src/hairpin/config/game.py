"""Config models of the real-game backend (``env.backend: game``): how hairpin reaches, launches and drives
Trackmania Nations Forever through TMInterface 2, or the emulator that stands in for it.

The protocol values (ports, plugin timeouts, running speed) default to the usual Trackmania IQN setup so existing
game setups carry over (TMINTERFACE.md §1, §3, §5).
"""

from __future__ import annotations

import string
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from hairpin.config.base import ConfigModel, NonEmptyStr

__all__ = [
    "GameConfig",
    "GameMapConfig",
    "LaunchConfig",
    "LinuxLaunchConfig",
    "WindowsLaunchConfig",
    "check_game_text",
]

MAX_PORT = 65535
UINT32_MAX = 2**32 - 1


def check_game_text(value: str) -> str:
    """Text sent to the game as a console command: ASCII only, no line breaks.

    The plugin reads a command's length as its character count and then that many bytes, so a non-ASCII character
    would desynchronise the stream (TMINTERFACE.md §2, wire quirks)."""
    if not value.isascii():
        raise ValueError(f"{value!r}: the game link only carries ASCII text (rename the file or folder)")
    if "\n" in value or "\r" in value:
        raise ValueError(f"{value!r}: a console command cannot hold a line break")
    return value


GameText = Annotated[str, Field(min_length=1), AfterValidator(check_game_text)]
"""A non-empty ASCII string the game receives as (part of) a console command."""


class GameMapConfig(ConfigModel):
    """The game's side of one map: what the ``map`` console command loads, and the limit the user gives."""

    path: GameText
    """The map file as TMInterface's ``map`` command takes it: relative to ``Tracks/Challenges`` (``\\`` on Windows,
    ``/`` under Wine), e.g. ``My Challenges/ESL-Hockolicious.Challenge.Gbx``."""
    limit_ms: int | None = Field(None, gt=0)
    """The map's limit (DESIGN §8): the best lap you know on it (a world record or your own best), in ms. None:
    a map-cycle entry's ``limit_ms``, else none (the emulator: the simulator's racing line)."""


class WindowsLaunchConfig(ConfigModel):
    """Starting the game on Windows: TMLoader runs TmForever with a TMInterface profile."""

    tmloader_path: NonEmptyStr | None = None
    """Path of ``TMLoader.exe``; needed with ``launch.kind: windows``."""
    profile: NonEmptyStr = "default"
    """TMLoader profile that loads TMInterface 2.1.x (with hairpin's plugin in ``Documents/TMInterface/Plugins/``)."""
    extra_configstring: str = "set skip_map_load_screens true; set disable_forced_camera true"
    """TMInterface commands appended to ``set custom_port N`` in the launch configstring (``;``-separated)."""

    @model_validator(mode="after")
    def _no_quotes(self) -> WindowsLaunchConfig:
        for name in ("profile", "extra_configstring"):
            if '"' in getattr(self, name):
                raise ValueError(f"launch.windows.{name} cannot hold a double quote (it is quoted on the command line)")
        return self


class LinuxLaunchConfig(ConfigModel):
    """Starting the game under Wine or Proton with a command of your own."""

    command: str = ""
    """Command line that starts the game and its TMInterface on port ``{port}``, e.g. ``wine
    /path/TMLoader.exe run TmForever "default" /configstring="set custom_port {port}"``. Keep the game in the
    foreground of this command (``exec`` in a script): hairpin watches it to know when the game died (or, with
    psutil installed, the TmForever process it starts). Needed with ``launch.kind: linux``."""


class LaunchConfig(ConfigModel):
    """Who starts the game of each collector, and when hairpin starts it again."""

    kind: Literal["emulator", "windows", "linux", "manual"] = "emulator"
    """``emulator``: ``hairpin sim serve`` on the port, hairpin's simulator behind the game's protocol (runs
    anywhere; what the tests use). ``windows``: TMLoader (section ``windows``). ``linux``: your Wine/Proton command
    (section ``linux``). ``manual``: you start the games yourself, one per collector on its port."""
    windows: WindowsLaunchConfig = WindowsLaunchConfig()
    linux: LinuxLaunchConfig = LinuxLaunchConfig()
    relaunch_on_death: bool = True
    """Start the game again when its process has died (checked whenever hairpin connects: at the start and after
    every fault)."""
    restart_every_hours: float | None = Field(12.0, gt=0)
    """Restart a game hairpin launched after it has run this long, between races (the game leaks memory over long
    sessions). None: never."""
    connect_retry_s: float = Field(120.0, gt=0)
    """How long to keep trying to connect after a launch (a game takes tens of seconds to start)."""
    install_plugin_to: NonEmptyStr | None = None
    """Folder hairpin copies its TMInterface plugin ``HairpinLink.as`` into before it launches a game: TMInterface's
    ``Plugins`` folder, e.g. ``~/Documents/TMInterface/Plugins`` (under Wine, the one in the Wine prefix). None:
    you install the plugin yourself."""

    @model_validator(mode="after")
    def _launch_settings_present(self) -> LaunchConfig:
        if self.kind == "windows" and self.windows.tmloader_path is None:
            raise ValueError("launch.kind: windows needs launch.windows.tmloader_path (the path of TMLoader.exe)")
        if self.kind == "linux":
            _check_command_template(self.linux.command)
        return self


def _check_command_template(command: str) -> None:
    """A Linux launch command: not empty, naming ``{port}`` and no other placeholder."""
    if not command.strip():
        raise ValueError("launch.kind: linux needs launch.linux.command, the command that starts the game on {port}")
    fields = {name for _, name, _, _ in string.Formatter().parse(command) if name is not None}
    if fields != {"port"}:
        other = sorted(fields - {"port"})
        detail = f"it names {', '.join('{' + f + '}' for f in other)}" if other else "it has no {port}"
        raise ValueError(
            f"launch.linux.command must name the port as {{port}} and nothing else in braces ({detail}; "
            "write {{ and }} for literal braces)"
        )


class GameConfig(ConfigModel):
    """The real-game backend: the TMInterface 2 link of each collector and the game process behind it."""

    host: NonEmptyStr = "127.0.0.1"
    """Address the game's plugin listens on (it binds loopback)."""
    base_tmi_port: int = Field(8478, ge=1, le=MAX_PORT)
    """Port of collector 0's game; collector k uses base_tmi_port + k (set as TMInterface's ``custom_port``)."""
    running_speed: float = Field(80.0, gt=0, le=1000)
    """Game speed while the car drives (TMInterface ``set_speed``; 1 is real time). Above about 20 some setups skip
    inputs; lower it if races do not replay."""
    timeout_s: float = Field(60.0, gt=0)
    """Longest wait for the game's next message before the race counts as failed (a map load must fit)."""
    start_timeout_s: float = Field(90.0, gt=0)
    """Longest wait from a map command or a give-up until the race starts (its first 0 ms step)."""
    plugin_timeout_during_run_ms: int = Field(10_100, ge=100, le=UINT32_MAX)
    """The plugin drops hairpin when one sync stays unanswered longer than this during a race (``set_timeout``)."""
    plugin_timeout_between_runs_ms: int = Field(600_000_000, ge=100, le=UINT32_MAX)
    """The same between races, while the game waits frozen in the last sync for the next race (about 6.9 days)."""
    frames: Literal["auto", "always", "never"] = "auto"
    """Ask the game for an image every step: ``auto`` only when the network has an image head (``nn.vis.enabled``;
    without, steps skip the pause and the frame and store blank images); ``always``; ``never``."""
    camera: int | None = Field(2, ge=0, le=9)
    """Camera the game shows (TMInterface ``cam N``) at the first race of a connection; None: leave it."""
    on_connect_commands: list[GameText] = []
    """Extra TMInterface console commands sent after the usual setup on every connection, e.g. ``set autologin
    NAME``."""
    maps: dict[NonEmptyStr, GameMapConfig] = {}
    """The game map of each hairpin map (the map-cycle ``map``: its ``.npy`` reference line gives progress and the
    floats). Needed for every map with a real game; the emulator loads the hairpin map itself when none is given."""
    launch: LaunchConfig = LaunchConfig()

    def map_path(self, hairpin_map: str) -> str:
        """What the ``map`` command loads for a hairpin map: its configured game map, else the name itself."""
        entry = self.maps.get(hairpin_map)
        return entry.path if entry is not None else hairpin_map

    def port_of(self, collector: int) -> int:
        """The port of collector ``collector``'s game."""
        return self.base_tmi_port + collector
