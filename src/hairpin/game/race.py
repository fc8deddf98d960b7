"""One car in Trackmania (or its emulator), driven through TMInterface 2 with the interface ``RaceSim`` offers the
collector: ``reset_cars``, ``step(actions) -> StepResult``, ``image``/``floats`` buffers, ``info``/``infos``.

A race, as the game sees it (TMINTERFACE.md §3, §5):
- Start: inside a held sync, rewind to the map's saved start state (its 0 ms state). The first race of a map
  loads it (``map``) or gives up, lets the countdown run, and saves the state at 0 ms; run steps are trusted only
  after one with a negative time was seen, so stale steps of a previous race never start one.
- Step: the action's keys are set inside the held sync, which is answered; the game runs 50 ms (5 ticks, the
  on-step period) to the next run step, which is held. There the state is read and, when images are used, the game
  paused (``set_speed 0``), a frame requested at the image size, and the frame's sync held instead.
- Finish: a checkpoint sync with ``current == target`` ends the race at its tick; the state's last checkpoint time
  is patched to −1 and rewound to (``prevent_simulation_finish`` when it has none), so the game never shows its end
  screen. Cut-offs (no progress, time limit) are decided at action steps.
- Between races the last sync stays unanswered, with the plugin's timeout raised first: the game waits frozen
  until the next race starts inside that sync.

Observation and reward are the simulator's, computed from the decoded state: progress along the map's reference
line by a ``ZoneTracker``, reference points ahead with the sim's ``line_point_at``, the floats by
``hairpin.obs.build_floats``, the reward per ms and per metre advanced plus the optional finish bonus.

Decisions where the spec is silent (one line each):
- No pause without images: the held run-step sync already freezes the game, so the float-only path skips
  ``set_speed`` and the frame (rulka's fast path).
- No ``rewind_to_current_state`` at action steps (a leftover of TMInterface 1.4 that rulka blames for drift).
- The in-run plugin timeout is sent on connecting and again at every race's first action step (a fresh wait: the
  plugin times a wait from its start, so shortening it inside the long-held wake-up sync would drop hairpin at
  once); the between-runs one at every race end. Linesight sends the in-run value once per launch only, so it
  runs with the 6.9-day one from its second race on.
- The finish gets a frame too (the final observation of a race, as in the sim), taken paused after the un-finish.
- ``gearbox_counter`` stays 0, as the simulator writes it, so the floats of both backends mean the same (the sim and
  its emulator report ``gearbox_state`` 1 throughout, where Linesight's counter would count every step).
- No progress: the best progress is checked at action steps, so the cut-off comes up to one step later than the
  sim's per-tick count.
- Rewinds and give-ups go inside run-step or checkpoint syncs (as the reference client sends them), never inside
  a frame's or the greeting's: a race that ended on a frame answers it and starts at the next run step.
- While paused for a frame only the run step of the tick observed may come (after its checkpoint sync); any other
  sync, or a race time going back, is a ``GameProtocolError`` (the frame would not show the state read).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

import numpy as np

from hairpin.actions import ACTION_KEYS, N_ACTIONS
from hairpin.config.game import GameConfig
from hairpin.config.rl import RLConfig
from hairpin.config.sim import EnvConfig
from hairpin.game.client import (
    CheckpointCountChanged,
    Event,
    Frame,
    OnConnect,
    RunStep,
    TMInterfaceClient,
)
from hairpin.game.errors import GameConnectionError, GameError, GameProtocolError, GameTimeoutError
from hairpin.game.launcher import GameProcess
from hairpin.game.state_bytes import GameState, with_last_cp_time
from hairpin.obs import build_floats
from hairpin.sim.maps import load_map
from hairpin.sim.race import StepResult, float_layout, time_limit_s
from hairpin.sim.refline import POINT_SPACING_M
from hairpin.sim.track import Track, TrackPack
from hairpin.sim.tracking import ZoneTracker, line_point_at

__all__ = ["CONNECT_SETTINGS", "RESET_ATTEMPTS", "GameRace", "collector_race", "map_command"]

log = logging.getLogger("hairpin.game")

CONNECT_SETTINGS = (
    "set unfocused_fps_limit false",
    "set skip_map_load_screens true",
    "set disable_forced_camera true",
    "set autorewind false",
    "set auto_reload_plugins false",
    "set use_valseed false",
)
"""TMInterface settings sent on every connection (TMINTERFACE.md §5.2; ``use_valseed false`` gives a fixed start)."""
RESET_ATTEMPTS = 3
"""Tries to start a race (each reconnecting, and relaunching a dead game) before a reset gives up."""
CONNECT_CHECK_S = 1.0
"""While waiting for a game to listen, how often hairpin checks that its process still runs."""


def map_command(path: str) -> str:
    """The ``map`` console command of a game map: quotes dropped, the path quoted only when it holds a space."""
    path = path.replace('"', "")
    return f'map "{path}"' if " " in path else f"map {path}"


class _Progress:
    """What one race has done so far."""

    def __init__(self, track: Track, race_time_ms: int) -> None:
        self.tracker = ZoneTracker(track)
        self.race_time_ms = race_time_ms
        self.best_m = 0.0
        self.best_time_ms = race_time_ms
        self.actions: list[int] = []
        self.finished = False
        self.ended = False
        self.checkpoints = 0
        self.speed = 0.0


class GameRace:
    """One car in the game behind ``port`` (``n_cars`` is 1): ``RaceSim``'s interface, over ``TMInterfaceClient``.

    ``maps`` are hairpin maps (their reference lines give progress and floats); ``game.maps`` names the game file
    each one loads. ``frames``: ask for an image every step (else ``image`` stays black). ``process``: the game's
    launcher, consulted before every (re)connection (relaunch a dead game, restart an old one); None when someone
    else runs the game.
    """

    n_cars = 1

    def __init__(
        self,
        cfg: EnvConfig,
        game: GameConfig,
        *,
        port: int,
        maps: Sequence[str] | None = None,
        car_tracks: Sequence[int] | None = None,
        frames: bool = True,
        process: GameProcess | None = None,
    ) -> None:
        self.cfg = cfg
        self.game = game
        self.port = port
        self.maps = list(maps) if maps is not None else [cfg.map]
        if car_tracks is not None and (len(car_tracks) != 1 or not 0 <= car_tracks[0] < len(self.maps)):
            raise ValueError(f"car_tracks must give the one car an index into {len(self.maps)} maps, got {car_tracks}")
        self.pack = TrackPack.build([load_map(m, half_width=cfg.road_half_width_m) for m in self.maps])
        self.track_id = np.array([car_tracks[0] if car_tracks is not None else 0], np.int64)
        self.layout = float_layout(cfg)
        self.frames = frames
        self.process = process
        self.client = TMInterfaceClient(port, game.host, game.timeout_s)
        size = cfg.image_size
        self.image = np.zeros((1, 1, size, size), np.uint8)
        self.floats = np.zeros((1, self.layout.size), np.float32)
        self.step_ms = round(cfg.physics.tick_s * cfg.physics.ticks_per_step * 1000)
        self.connections = 0
        """Connections opened so far (every one after the first follows a failure)."""
        self._window: Event | None = None  # the sync held open: the game waits inside it
        self._loaded_map: str | None = None  # the game map loaded in the game, as far as this race knows
        self._start_states: dict[str, bytes] = {}  # the 0 ms state of each game map, to rewind to
        self._setup_done = False  # camera and HUD set on this connection
        self._race: _Progress | None = None
        self._ref = np.empty((self.layout.n_ref_points, 3))
        self._point = np.empty(3)

    # -- RaceSim's interface --------------------------------------------------------------------------------

    def track_of(self, car: int) -> Track:
        return self.pack.tracks[int(self.track_id[car])]

    def add_map(self, name: str) -> int:
        """The index of hairpin map ``name`` among this race's maps, loading it when it is new."""
        if name not in self.maps:
            self.maps.append(name)
            track = load_map(name, half_width=self.cfg.road_half_width_m)
            self.pack = TrackPack.build([*self.pack.tracks, track])
        return self.maps.index(name)

    def assign_track(self, car: int, track_index: int) -> None:
        """Move the car to map ``track_index``; it takes effect at its next reset."""
        self.track_id[car] = track_index

    def reset_cars(
        self, cars: np.ndarray | Sequence[int], rng: np.random.Generator, places: Sequence[Any] | None = None
    ) -> None:
        """Start a new race (the game starts every race on the start line; ``rng`` is not used)."""
        if [int(c) for c in cars] != [0]:
            raise ValueError(f"a game drives one car, 0; got cars {list(cars)}")
        if places is not None and any(p is not None for p in places):
            raise ValueError("the game starts every race on the start line: random start places are sim-only")
        for attempt in range(1, RESET_ATTEMPTS + 1):
            try:
                with self._dropping_on_failure():
                    self._start_race()
                return
            except GameError as err:
                if attempt == RESET_ATTEMPTS:
                    raise
                log.warning("port %d: starting a race failed (%s); trying again", self.port, err)

    def step(self, actions: np.ndarray) -> StepResult:
        """Hold the action for one step (50 ms of race time); return the reward and whether the race ended."""
        actions = np.asarray(actions)
        if actions.shape != (1,) or not np.issubdtype(actions.dtype, np.integer) or not 0 <= actions[0] < N_ACTIONS:
            raise ValueError(f"expected one action, an integer in [0, {N_ACTIONS}), got {actions.tolist()}")
        race = self._race
        if race is None or race.ended or self._window is None:
            raise RuntimeError("no race in progress: call reset_cars([0], rng) first")
        with self._dropping_on_failure():
            return self._step(race, int(actions[0]))

    def infos(self) -> dict[str, np.ndarray]:
        """The per-race facts of DESIGN §3, as arrays (1,)."""
        race = self._race
        if race is None:
            values: dict[str, Any] = dict.fromkeys(("race_time_ms", "zone_idx", "checkpoints"), 0)
            values.update(finished=False, meters_advanced=0.0, speed=0.0)
        else:
            values = {
                "race_time_ms": race.race_time_ms,
                "finished": race.finished,
                "meters_advanced": race.tracker.meters_advanced,
                "zone_idx": race.tracker.zone_idx,
                "checkpoints": race.checkpoints,
                "speed": race.speed,
            }
        dtypes = {"finished": np.bool_, "meters_advanced": np.float64, "speed": np.float64}
        return {k: np.array([v], dtypes.get(k, np.int64)) for k, v in values.items()}

    def info(self, car: int) -> dict[str, float | int | bool]:
        """The per-race facts of the car, as Python scalars."""
        return {k: v[car].item() for k, v in self.infos().items()}

    def close(self) -> None:
        """Let the game go (at speed 1, never left frozen), close the connection, and stop an emulator this race's
        launcher started (a game is left running for the next session)."""
        if self.client.connected and self._window is not None:
            with suppress(GameError):
                self.client.set_speed(1.0)
        self.client.close()
        self._window = None
        if self.process is not None:
            self.process.close()

    # -- connection -----------------------------------------------------------------------------------------

    @contextmanager
    def _dropping_on_failure(self) -> Iterator[None]:
        """Drop the connection when a game error escapes: the stream is then in no known state."""
        try:
            yield
        except GameError:
            self.disconnect()
            raise

    def disconnect(self) -> None:
        """Drop the connection; the next reset reconnects (relaunching the game first if it died)."""
        self.client.close()
        self._window = None
        if self._race is not None:
            self._race.ended = True

    def _ensure_connected(self) -> None:
        if self.client.connected:
            return
        wait_s = self.game.launch.connect_retry_s if self.process is not None else self.game.timeout_s
        deadline = time.monotonic() + wait_s
        while True:
            self._connect(deadline, wait_s)
            try:
                event = self.client.read_event()
                break
            except (GameTimeoutError, GameConnectionError):  # a game still starting greets once its menus are up;
                if time.monotonic() >= deadline:  # one dying as it accepted is found dead and launched again
                    raise
        self.connections += 1
        if not isinstance(event, OnConnect):
            raise GameProtocolError(f"the game greeted with {type(event).__name__}, not OnConnect")
        self._window = event
        self._greet()

    def _connect(self, deadline: float, wait_s: float) -> None:
        """Connect before ``deadline``, launching the game first when it is not running; a game found dead while
        hairpin waits for it to listen (it may take a moment to die after a failure) is launched again."""
        process = self.process
        while True:
            if process is not None and process.ensure_running():
                self._loaded_map = None
                self._start_states.clear()
            try:
                self.client.connect(retry_for_s=min(CONNECT_CHECK_S, max(deadline - time.monotonic(), 0.0)))
                return
            except GameConnectionError as err:
                if time.monotonic() >= deadline:
                    raise GameConnectionError(
                        f"nothing accepted a connection on {self.game.host}:{self.port} within {wait_s:g} s: is the "
                        "game running there with TMInterface and hairpin's plugin (custom_port)?"
                    ) from err

    def _greet(self) -> None:
        """The setup of a new connection, inside its OnConnect sync (TMINTERFACE.md §5.2)."""
        c, game = self.client, self.game
        c.set_timeout(game.plugin_timeout_during_run_ms)  # a fresh wait: safe to shorten the plugin's patience
        c.set_on_step_period(self.step_ms)
        c.execute_command(f"set countdown_speed {game.running_speed:g}")
        for command in (*CONNECT_SETTINGS, *game.on_connect_commands):
            c.execute_command(command)
        if c.is_in_menus():
            self._loaded_map = None
        self._setup_done = False

    def _read(self) -> Event:
        return self.client.read_event()

    def _answer(self, event: Event) -> None:
        self.client.answer(event)
        if event is self._window:
            self._window = None

    # -- a race ---------------------------------------------------------------------------------------------

    def _start_race(self) -> None:
        if self.process is not None and self.client.connected and self.process.due_for_restart():
            self.disconnect()  # between races: the game is restarted before the connection opens again
        self._ensure_connected()
        c, game = self.client, self.game
        window = self._window if self._window is not None else self._read()
        self._window = window
        c.set_speed(game.running_speed)
        if not self._setup_done:
            if game.camera is not None:
                c.execute_command(f"cam {game.camera}")
            c.toggle_interface(False)
            self._setup_done = True
        want = game.map_path(self.maps[int(self.track_id[0])])
        if self._loaded_map == want and not isinstance(window, RunStep | CheckpointCountChanged):
            window = self._next_run_step(window)
        start = self._start_states.get(want)
        if self._loaded_map == want and start is not None:
            c.rewind_to_state(start)
            self._begin(window, c.get_simulation_state())
            return
        if self._loaded_map != want:
            c.execute_command(map_command(want))
            self._loaded_map = want
        else:
            c.give_up()
        self._begin_after_countdown(window, want)

    def _next_run_step(self, window: Event) -> RunStep:
        """Answer ``window`` (a frame's or the greeting's sync) and hold the next run step instead: rewinds and
        give-ups are sent inside the simulation's own syncs, as the reference client sends them."""
        event = window
        while True:
            self._answer(event)
            event = self._read()
            if isinstance(event, RunStep):
                self._window = event
                return event

    def _begin_after_countdown(self, window: Event, want: str) -> None:
        """Let the countdown of a fresh race run; begin at its 0 ms step (or rewind to a saved start there)."""
        c = self.client
        deadline = time.monotonic() + self.game.start_timeout_s
        seen_countdown = False
        event = window
        while True:
            self._answer(event)
            if time.monotonic() > deadline:
                raise GameTimeoutError(
                    f"the race on {want!r} did not start within {self.game.start_timeout_s:g} s (game.start_timeout_s)"
                )
            event = self._read()
            if not isinstance(event, RunStep):
                continue
            t = event.race_time_ms
            seen_countdown = seen_countdown or t < 0
            if not seen_countdown:
                continue  # a stale step of the race before the map change or give-up
            start = self._start_states.get(want)
            if start is not None:
                c.rewind_to_state(start)
                self._begin(event, c.get_simulation_state())
                return
            if t == 0:
                state = c.get_simulation_state()
                self._start_states[want] = state.raw
                self._begin(event, state)
                return
            if t > 0:  # the 0 ms step went by unseen: start over
                c.give_up()
                seen_countdown = False

    def _begin(self, window: Event, state: GameState) -> None:
        """A race starts at ``state``: fresh progress, the first observation, the window held."""
        self._window = window
        race = self._race = _Progress(self.track_of(0), state.race_time_ms)
        self._observe(race, state)

    def _step(self, race: _Progress, action: int) -> StepResult:
        c, window = self.client, self._window
        assert window is not None
        accel, brake, left, right = (bool(k) for k in ACTION_KEYS[action])
        c.set_input_state(left, right, accel, brake)
        if self.frames:
            c.set_speed(self.game.running_speed)
        self._answer(window)
        before_ms, before_m = race.race_time_ms, race.tracker.meters_advanced
        target_ms = before_ms + self.step_ms
        while True:
            event = self._read()
            if isinstance(event, RunStep):
                if event.race_time_ms < before_ms:
                    raise GameProtocolError(f"race time went back from {before_ms} to {event.race_time_ms} ms")
                if event.race_time_ms >= target_ms:
                    break
            elif isinstance(event, CheckpointCountChanged):
                race.checkpoints = min(event.current, event.target - 1)
                if event.current == event.target:
                    race.finished = True
                    break
            elif isinstance(event, Frame | OnConnect):
                raise GameProtocolError(f"unexpected {type(event).__name__} sync during a step")
            self._answer(event)  # a lap count change, a checkpoint, a step before the next action
        self._window = event
        if not race.actions:
            # The race began inside the held wake-up sync, whose wait started long ago: the plugin measures its
            # timeout from a wait's start, so the in-run value is set only now, in a fresh wait.
            c.set_timeout(self.game.plugin_timeout_during_run_ms)
        state = c.get_simulation_state()
        if race.finished:
            if state.cp_times_ms:
                c.rewind_to_state(with_last_cp_time(state.raw, -1))  # un-finish: the game shows no end screen
            else:
                c.prevent_simulation_finish()
        race.actions.append(action)
        self._observe(race, state)
        cfg = self.cfg
        reward = (
            cfg.reward.per_ms * (race.race_time_ms - before_ms)
            + cfg.reward.per_m_advanced * (race.tracker.meters_advanced - before_m)
            + cfg.reward.finish_bonus * race.finished
        )
        truncated = stalled = False
        if not race.finished:
            if race.tracker.meters_advanced >= race.best_m + POINT_SPACING_M:
                race.best_m, race.best_time_ms = race.tracker.meters_advanced, race.race_time_ms
            limit_ms = 1000.0 * time_limit_s(cfg, self.track_of(0))
            stalled = race.race_time_ms - race.best_time_ms >= 1000.0 * cfg.no_progress_cutoff_s
            truncated = stalled or race.race_time_ms >= limit_ms
        if race.finished or truncated:
            self._end_race(race)
        return StepResult(
            np.array([reward]),
            np.array([race.finished]),
            np.array([truncated]),
            np.array([race.finished]),
            np.array([stalled]),
        )

    def _end_race(self, race: _Progress) -> None:
        """Hold the last sync as the wake-up of the next race, with the plugin's patience raised first."""
        race.ended = True
        self.client.set_timeout(self.game.plugin_timeout_between_runs_ms)

    def _observe(self, race: _Progress, state: GameState) -> None:
        """Floats from ``state`` and, with frames, the image of this very tick (paused, the frame's sync held)."""
        car = state.car
        race.race_time_ms = state.race_time_ms
        race.tracker.update(car.position)
        race.speed = float(np.hypot(car.velocity[0], car.velocity[2]))
        pk, t = self.pack, int(self.track_id[0])
        for k in range(self.layout.n_ref_points):
            s = race.tracker.meters_advanced + self.layout.ref_point_spacing_m * (k + 1)
            line_point_at(pk.centre, pk.tangent, pk.offset[t], pk.count[t], s, self._point)
            self._ref[k] = self._point
        self.floats[0] = build_floats(
            car, self._ref, race.actions[-self.layout.n_prev_actions :], race.tracker.distance_to_finish, self.layout
        )
        if not self.frames:
            return
        c, window = self.client, self._window
        assert window is not None
        size = self.cfg.image_size
        c.set_speed(0.0)
        c.request_frame(size, size)
        self._answer(window)
        while True:
            event = self._read()
            if isinstance(event, Frame):
                break
            # the run step of the very tick observed may follow its checkpoint sync; anything later means the game
            # did not pause, and the frame would not show the state read
            if not (isinstance(event, RunStep) and event.race_time_ms == state.race_time_ms):
                raise GameProtocolError(f"{type(event).__name__} sync while the game was paused for a frame")
            self._answer(event)
        self.image[0] = event.gray()
        self._window = event


def collector_race(cfg: RLConfig, index: int, maps: Sequence[str], car_tracks: Sequence[int]) -> GameRace:
    """The one car of collector ``index`` with ``env.backend: game``: its game on port ``base_tmi_port + index``,
    launched on demand; frames only when the network has an image head (``game.frames: auto``)."""
    game = cfg.game
    port = game.port_of(index)
    first_map = maps[car_tracks[0]]
    process = (
        None
        if game.launch.kind == "manual"
        else GameProcess(game, port, cfg.env, first_map=first_map, owner_pid=os.getppid())
    )
    frames = game.frames == "always" or (game.frames == "auto" and cfg.nn.vis.enabled)
    return GameRace(cfg.env, game, port=port, maps=maps, car_tracks=car_tracks, frames=frames, process=process)
