"""Collector processes: each drives a vector of simulated cars with batched inference and sends whole races.

A collector follows the map cycle car by car, acts with its own copy of the online network (pulled from the
learner's shared weights every ``update_inference_network_every_n_actions`` actions), explores with ε and
Boltzmann-ε from the schedules at the learner's current frame count, and sends every finished or cut-off race to
the learner. It waits, and never drops a race, when the learner asks it to (``may_run`` cleared) or has too many of
its races still to take.
"""

from __future__ import annotations

import os
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from hairpin.actions import N_ACTIONS
from hairpin.config.rl import RLConfig
from hairpin.devices import resolve_device
from hairpin.nets import IQNNetwork
from hairpin.rl.exploration import Explorer
from hairpin.rl.lockfree import RaceSlots, SharedFlag
from hairpin.rl.map_cycle import MapCycle, unique_maps
from hairpin.rl.race_channel import RaceRecord, send_race
from hairpin.rl.schedules import RunSchedules
from hairpin.rl.shared_weights import SharedWeights
from hairpin.sim.race import RaceSim, float_layout

__all__ = ["CollectorLinks", "collector_main", "make_network"]

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
        _collect(index, cfg, links, conn, seed, parent)
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group; the learner handles it
        pass
    except (BrokenPipeError, ConnectionResetError):
        pass  # the learner closed its end of the pipe: it stopped or died; nothing to report
    except FileNotFoundError:
        if _running(links, parent):
            raise
        # the spool went with the learner that died: nothing to report


def _collect(index: int, cfg: RLConfig, links: CollectorLinks, conn: Connection, seed: int, parent: int) -> None:
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
    sim = RaceSim(cfg.env, maps, n_cars, car_tracks=[maps.index(entries[e].map) for e in car_entry])
    sim.reset_cars(range(n_cars), rng)
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
        result = sim.step(actions)
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
            sim.reset_cars(ended, rng)
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
