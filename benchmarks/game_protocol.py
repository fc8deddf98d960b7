"""Speed of the TMInterface 2 protocol: one client against one emulated game on loopback, steps per second.

Three figures, each the median of ``--repeats`` timed runs of ``--steps`` decisions (50 ms of race time each):

- ``float_only``: the action is chosen inside the run-step sync (get the state, set the keys, answer; no frame and
  no pause), the fast path of TMINTERFACE.md §9 item 1;
- ``frames_64``: the full §5.4 loop with a 64×64 frame (get the state, rewind to it, speed 0, request the frame,
  answer; then on the frame: keys, speed back, answer);
- ``sim_direct``: ``RaceSim`` stepping one car in this process (floats and a 64×64 image per step), the baseline.

The emulator runs in its own process, as the game would. Every 400 decisions the race is rewound to its start
state, as a collector does between rollouts. Prints one JSON line.

    python benchmarks/game_protocol.py [--repeats 5] [--steps 2000]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from hairpin.actions import ACTION_KEYS
from hairpin.config.sim import EnvConfig
from hairpin.game.client import Frame, OnConnect, RunStep, TMInterfaceClient
from hairpin.game.emulator import Emulator

FRAME_SIZE = 64
ROLLOUT_STEPS = 400
SPEED = 100.0


def serve(cfg_json: str, ports: Any, cpu: int | None) -> None:
    """Child process: an emulator on a free port, which is sent back through ``ports``."""
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    emulator = Emulator(EnvConfig.model_validate_json(cfg_json), port=0)
    ports.put(emulator.listen())
    emulator.serve_forever()


def cpu_s(pid: int) -> float:
    """CPU time (user + system) a process has used so far, from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def median_rate(run: Callable[[], int], repeats: int, server_pid: int | None = None) -> dict[str, float]:
    """Median steps/s of ``run`` and the CPU time per step of this process and of the server (when given)."""
    rates, client_cpu, server_cpu = [], [], []
    for _ in range(repeats):
        start, cpu, server = time.perf_counter(), time.process_time(), cpu_s(server_pid) if server_pid else 0.0
        steps = run()
        rates.append(steps / (time.perf_counter() - start))
        client_cpu.append((time.process_time() - cpu) / steps)
        if server_pid:
            server_cpu.append((cpu_s(server_pid) - server) / steps)
    result = {"steps_per_s": round(statistics.median(rates), 1)}
    if server_pid:
        result["client_cpu_us_per_step"] = round(1e6 * statistics.median(client_cpu), 1)
        result["emulator_cpu_us_per_step"] = round(1e6 * statistics.median(server_cpu), 1)
    return result


class Driver:
    """A client driving random actions; it rewinds to the start state every ``ROLLOUT_STEPS`` decisions."""

    def __init__(self, port: int) -> None:
        self.client = TMInterfaceClient(port, timeout_s=10.0)
        self.client.connect()
        self.rng = np.random.default_rng(0)
        self.start_state: bytes | None = None
        event = self.client.read_event()
        assert isinstance(event, OnConnect), event
        self.client.set_on_step_period(50)
        self.client.set_speed(SPEED)
        self.client.answer(event)
        self.steps_in_rollout = 0

    def _keys(self) -> tuple[bool, bool, bool, bool]:
        accel, brake, left, right = ACTION_KEYS[self.rng.integers(0, 3)]  # accel, accel+left, accel+right
        return bool(left), bool(right), bool(accel), bool(brake)

    def _decision_time(self, event: RunStep) -> bool:
        """At a run step: whether this is a decision (race started); rewinds at the end of a rollout."""
        c = self.client
        if event.race_time_ms < 0:
            return False
        if self.start_state is None:
            self.start_state = c.get_simulation_state().raw
        if self.steps_in_rollout >= ROLLOUT_STEPS:
            c.rewind_to_state(self.start_state)
            self.steps_in_rollout = 0
        self.steps_in_rollout += 1
        return True

    def float_only(self, steps: int) -> int:
        c = self.client
        done = 0
        while done < steps:
            event = c.read_event()
            if isinstance(event, RunStep) and self._decision_time(event):
                c.get_simulation_state()
                c.set_input_state(*self._keys())
                done += 1
            c.answer(event)
        return done

    def frames(self, steps: int) -> int:
        c = self.client
        done = 0
        while done < steps:
            event = c.read_event()
            if isinstance(event, RunStep) and self._decision_time(event):
                c.get_simulation_state()
                c.rewind_to_current_state()
                c.set_speed(0.0)
                c.request_frame(FRAME_SIZE, FRAME_SIZE)
            elif isinstance(event, Frame):
                event.gray()
                c.set_input_state(*self._keys())
                c.set_speed(SPEED)
                done += 1
            c.answer(event)
        return done


def sim_direct_rate(cfg: EnvConfig, steps: int, repeats: int) -> float:
    from hairpin.sim.race import RaceSim

    sim = RaceSim(cfg)
    rng = np.random.default_rng(0)
    sim.reset_cars([0], rng)
    actions = rng.integers(0, 3, size=(steps, 1))

    def run() -> int:
        for i in range(steps):
            if i % ROLLOUT_STEPS == 0:
                sim.reset_cars([0], rng)
            sim.step(actions[i])
        return steps

    run()
    return median_rate(run, repeats)["steps_per_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--pin", action="store_true", help="Emulator on one CPU core, client on another.")
    args = parser.parse_args()
    cpus = sorted(os.sched_getaffinity(0))
    pin = args.pin and len(cpus) >= 2
    if pin:
        os.sched_setaffinity(0, {cpus[1]})
    cfg = EnvConfig(image_size=FRAME_SIZE)
    ctx = mp.get_context("spawn")
    ports = ctx.Queue()
    server = ctx.Process(target=serve, args=(cfg.model_dump_json(), ports, cpus[0] if pin else None), daemon=True)
    server.start()
    try:
        driver = Driver(ports.get(timeout=120))
        driver.float_only(args.steps // 4)  # warm-up: compilation, caches, the countdown
        float_only = median_rate(lambda: driver.float_only(args.steps), args.repeats, server.pid)
        driver.frames(args.steps // 4)
        frames = median_rate(lambda: driver.frames(args.steps), args.repeats, server.pid)
        driver.client.close()
    finally:
        server.terminate()
        server.join(10)
    direct = sim_direct_rate(cfg, args.steps, args.repeats)
    result = {
        "benchmark": "game_protocol",
        "steps": args.steps,
        "repeats": args.repeats,
        "pinned": pin,
        "cpus": len(cpus),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "float_only": float_only,
        f"frames_{FRAME_SIZE}": frames,
        "sim_direct_steps_per_s": round(direct, 1),
        "float_only_vs_sim_direct": round(float_only["steps_per_s"] / direct, 3),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
