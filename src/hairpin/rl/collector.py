"""The collector loop, shared by every collector backend: a vector of simulated cars (or, with ``env.backend:
game``, one game) driven with batched inference, whole races handed to the learner through a ``CollectorPort``.

A collector follows the map cycle car by car, acts with its own copy of the online network (pulled from the
learner's latest weights every ``update_inference_network_every_n_actions`` actions), explores with ε and
Boltzmann-ε from the schedules at the learner's current frame count, and hands every finished or cut-off race over,
numbered by its ``sequence`` within the collector's ``incarnation``. It waits, and never drops a race, while the
learner asks it to or has too many of its races still to take. A game that fails mid-race loses that race (none is
sent half); the collector reconnects, relaunching the game if it died, and drives on. How the port reaches the
learner (processes on this machine, or Ray actors) is the backend's business: ``collector_pool`` and
``ray_collectors``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from contextlib import ExitStack
from typing import TYPE_CHECKING, Protocol

import numpy as np
import torch

from hairpin.actions import N_ACTIONS
from hairpin.config.rl import RLConfig
from hairpin.devices import resolve_device
from hairpin.game.errors import GameError
from hairpin.nets import IQNNetwork
from hairpin.rl.exploration import Explorer
from hairpin.rl.map_cycle import MapCycle, unique_maps
from hairpin.rl.race_channel import RaceRecord
from hairpin.rl.random_starts import RandomStarts
from hairpin.rl.schedules import RunSchedules
from hairpin.sim.race import RaceSim, float_layout

if TYPE_CHECKING:
    from hairpin.game.race import GameRace

__all__ = ["WAIT_POLL_S", "CollectorPort", "collect", "make_network", "race_progress"]

log = logging.getLogger("hairpin.collector")

WAIT_POLL_S = 0.5
"""How often a waiting collector checks whether it should stop."""


class CollectorPort(Protocol):
    """What the collector loop needs from the learner, whichever way it is reached."""

    def running(self) -> bool:
        """The run goes on (False once the learner stops or is gone)."""
        ...

    def wait_to_run(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds while the learner is behind; whether the collector may drive now."""
        ...

    def pull(self, net: IQNNetwork, version: int) -> int:
        """Load the learner's latest weights into ``net`` when newer than ``version``; the version held."""
        ...

    def frames_played(self) -> int:
        """The learner's frame count, which the exploration schedules read."""
        ...

    def send(self, record: RaceRecord) -> bool:
        """Hand a race over, waiting for room first; False when the run stopped before there was room."""
        ...


def make_network(cfg: RLConfig) -> IQNNetwork:
    """The run's network, as the learner and every collector build it."""
    return IQNNetwork(cfg.nn, image_size=cfg.env.image_size, float_layout=float_layout(cfg.env))


class _Races:
    """Per-car lists of the race in progress."""

    def __init__(self, n_cars: int) -> None:
        self.frames: list[list[np.ndarray]] = [[] for _ in range(n_cars)]
        self.floats: list[list[np.ndarray]] = [[] for _ in range(n_cars)]
        self.actions: list[list[int]] = [[] for _ in range(n_cars)]
        self.rewards: list[list[float]] = [[] for _ in range(n_cars)]
        self.q: list[list[float]] = [[] for _ in range(n_cars)]
        self.greedy: list[list[bool]] = [[] for _ in range(n_cars)]

    def start(self, car: int, image: np.ndarray, floats: np.ndarray) -> None:
        self.frames[car], self.floats[car] = [image.copy()], [floats.copy()]
        self.actions[car], self.rewards[car], self.q[car], self.greedy[car] = [], [], [], []


def race_progress(sim: RaceSim | GameRace, car: int, start_m: float, finished: bool) -> float:
    """The share of the line from the race's start to the finish that ``car`` covered: 1.0 for a finish, in
    [0, 1) for a race cut off on the way (where it ended along the line)."""
    if finished:
        return 1.0
    finish_m = sim.pack.tracks[int(sim.track_id[car])].finish_s_m
    reached = float(sim.info(car)["meters_advanced"])
    return float(np.clip((reached - start_m) / max(finish_m - start_m, 1e-6), 0.0, 1.0))


def _open_cars(
    cfg: RLConfig, index: int, maps: list[str], car_tracks: Sequence[int], resources: ExitStack
) -> RaceSim | GameRace:
    """The collector's cars: a vector of simulated cars, or with ``env.backend: game`` its one game (``GameRace``
    offers the same interface; its connection is closed when ``resources`` closes)."""
    if cfg.env.backend == "game":
        from hairpin.game.race import collector_race

        race = collector_race(cfg, index, maps, car_tracks)
        resources.callback(race.close)
        return race
    return RaceSim(cfg.env, maps, cfg.performance.cars_per_collector, car_tracks=car_tracks)


def collect(index: int, incarnation: int, cfg: RLConfig, port: CollectorPort, seed: int, resources: ExitStack) -> None:
    """Drive collector ``index``'s cars and hand their races to ``port`` until the run stops."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    device = resolve_device(cfg.performance.collector_device)
    net = make_network(cfg).to(device).eval()
    version = port.pull(net, -1)
    entries = cfg.map_cycle.entries
    maps = unique_maps(entries)
    n_cars = cfg.performance.cars_per_collector
    cycles = [MapCycle(entries, start=index * n_cars + car) for car in range(n_cars)]
    car_entry = [cycle.next() for cycle in cycles]
    greedy = np.array([not entries[e].is_exploration for e in car_entry])  # (n,) eval races act greedily
    sim = _open_cars(cfg, index, maps, [maps.index(entries[e].map) for e in car_entry], resources)
    sim.reset_cars(range(n_cars), rng)
    starts = RandomStarts(cfg, sim.pack.tracks)
    start_m = np.zeros(n_cars)  # where each car's race in progress started along the line
    races = _Races(n_cars)
    for car in range(n_cars):
        races.start(car, sim.image[car], sim.floats[car])
    schedules = RunSchedules(cfg)
    explo = cfg.exploration
    explorer = Explorer(n_cars, N_ACTIONS, explo.random_action_hold_steps, rng)
    actions_since_pull = sent = 0
    while port.running():
        if not port.wait_to_run(WAIT_POLL_S):
            continue
        if actions_since_pull >= cfg.performance.update_inference_network_every_n_actions:
            version, actions_since_pull = port.pull(net, version), 0
        values = schedules.at(port.frames_played())
        with torch.no_grad():
            img = torch.from_numpy(sim.image).to(device) if cfg.nn.vis.enabled else None
            q = net.q_values(img, torch.from_numpy(sim.floats).to(device), cfg.iqn.n_acting_quantiles).cpu().numpy()
        actions = explorer.act(
            q,
            greedy,
            values.epsilon,
            values.epsilon_boltzmann,
            explo.tau_epsilon_boltzmann,
            epsilon_is_step_share=explo.epsilon_is_step_share,
        )
        try:
            result = sim.step(actions)
        except GameError as err:  # the game failed mid-race: the race is dropped (never sent half), a new one starts
            log.warning("collector %d: %s; race discarded, reconnecting", index, err)
            sim.reset_cars([0], rng)
            explorer.reset(np.array([0]))
            races.start(0, sim.image[0], sim.floats[0])
            continue
        actions_since_pull += n_cars
        for car in range(n_cars):
            races.actions[car].append(int(actions[car]))
            races.rewards[car].append(float(result.reward[car]))
            races.q[car].append(float(q[car, actions[car]]))
            races.greedy[car].append(bool(explorer.last_greedy[car]))
            races.frames[car].append(sim.image[car].copy())
            races.floats[car].append(sim.floats[car].copy())
        ended = np.flatnonzero(result.terminated | result.truncated)
        for car in ended.tolist():
            record = RaceRecord(
                collector=index,
                entry=car_entry[car],
                frames=np.stack(races.frames[car]),
                floats=np.stack(races.floats[car]),
                actions=np.array(races.actions[car], np.int64),
                rewards=np.array(races.rewards[car], np.float32),
                greedy=np.array(races.greedy[car], np.bool_),
                terminated=bool(result.terminated[car]),
                race_time_ms=sim.info(int(car))["race_time_ms"],  # type: ignore[arg-type]
                mean_q=float(np.mean(races.q[car])),
                weights_version=version,
                start_m=float(start_m[car]),
                incarnation=incarnation,
                sequence=sent,
                ended_unix=time.time(),
                progress=race_progress(sim, int(car), float(start_m[car]), bool(result.terminated[car])),
                stalled=bool(result.stalled[car]),
            )
            if not port.send(record):
                return
            sent += 1
            car_entry[car] = cycles[car].next()
            greedy[car] = not entries[car_entry[car]].is_exploration
            sim.assign_track(int(car), maps.index(entries[car_entry[car]].map))
        if len(ended):
            places = [starts.draw(int(sim.track_id[c]), rng) if not greedy[c] else None for c in ended.tolist()]
            start_m[ended] = [place.s_m if place else 0.0 for place in places]
            sim.reset_cars(ended, rng, places)
            explorer.reset(ended)
            for car in ended.tolist():
                races.start(car, sim.image[car], sim.floats[car])
