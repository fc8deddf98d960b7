"""Collector processes: each drives a vector of simulated cars (or, with ``env.backend: game``, one game) with
batched inference and sends whole races.

A collector follows the map cycle car by car, acts with its own copy of the online network (pulled from the
learner's shared weights every ``update_inference_network_every_n_actions`` actions), explores with ε and
Boltzmann-ε from the schedules at the learner's current frame count, and sends every finished or cut-off race to
the learner. It waits, and never drops a race, when the learner asks it to (``may_run`` cleared) or has too many of
its races still to take. A game that fails mid-race loses that race (none is sent half); the collector reconnects,
relaunching the game if it died, and drives on.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from contextlib import ExitStack
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import torch

from hairpin.actions import N_ACTIONS
from hairpin.config.rl import RLConfig
from hairpin.devices import resolve_device
from hairpin.game.errors import GameError
from hairpin.nets import IQNNetwork
from hairpin.rl.exploration import Explorer
from hairpin.rl.lockfree import RaceSlots, SharedFlag
from hairpin.rl.map_cycle import MapCycle, unique_maps
from hairpin.rl.race_channel import RaceRecord, send_race
from hairpin.rl.random_starts import RandomStarts
from hairpin.rl.schedules import RunSchedules
from hairpin.rl.shared_weights import SharedWeights
from hairpin.sim.race import RaceSim, float_layout

if TYPE_CHECKING:
    from hairpin.game.race import GameRace

__all__ = ["CollectorLinks", "collector_main", "make_network"]

log = logging.getLogger("hairpin.collector")

WAIT_POLL_S = 0.5
"""How often a waiting collector checks whether it should stop."""


class CollectorLinks(NamedTuple):
    """What every collector shares with the learner."""

    weights: SharedWeights
    frames_played: Any  # multiprocessing.Value('q'): the learner's cumul_number_frames_played
    may_run: SharedFlag  # cleared while the learner is behind its replay ratio
    stop: SharedFlag
    slots: RaceSlots  # races that may wait for the learner
    spool: Path  # directory the race files go through


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


def collector_main(index: int, cfg: RLConfig, links: CollectorLinks, conn: Connection, seed: int) -> None:
    """Entry point of a collector process; races go out through ``conn``."""
    torch.set_num_threads(1)
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    parent = os.getppid()
    try:
        with ExitStack() as resources:  # the game connection and the emulator a game collector started
            _collect(index, cfg, links, conn, seed, parent, resources)
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group; the learner handles it
        pass
    except (BrokenPipeError, ConnectionResetError):
        pass  # the learner closed its end of the pipe: it stopped or died; nothing to report
    except FileNotFoundError:
        if _running(links, parent):
            raise
        # the spool went with the learner that died: nothing to report


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


def _collect(
    index: int, cfg: RLConfig, links: CollectorLinks, conn: Connection, seed: int, parent: int, resources: ExitStack
) -> None:
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    device = resolve_device(cfg.performance.collector_device)
    net = make_network(cfg).to(device).eval()
    version = links.weights.pull(net, -1)
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
    while _running(links, parent):
        if not links.may_run.wait(WAIT_POLL_S):
            continue
        if actions_since_pull >= cfg.performance.update_inference_network_every_n_actions:
            version, actions_since_pull = links.weights.pull(net, version), 0
        values = schedules.at(links.frames_played.value)
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
            )
            if not _wait_for_slot(links, index, parent):
                return
            send_race(conn, links.spool, record, sent)
            links.slots.mark_sent(index)
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


def _running(links: CollectorLinks, parent: int) -> bool:
    """The run goes on: not stopped, and the learner that started this collector is still its parent (a learner
    killed with SIGKILL cannot tell its collectors to stop, so they notice it is gone)."""
    return not links.stop.is_set() and os.getppid() == parent


def _wait_for_slot(links: CollectorLinks, index: int, parent: int) -> bool:
    """Wait until the learner has room for another race; False when the run stops first."""
    while _running(links, parent):
        if links.slots.wait_for_room(index, WAIT_POLL_S):
            return True
    return False
