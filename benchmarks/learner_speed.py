"""Learner speed: samples/s of the real replay → ``Learner.update`` loop against a plain IQN update written inline.

For each config (``default``: the GPU-sized ``RLConfig()`` defaults, or ``configs/rl/default.yaml`` when it exists;
``cpu``: ``configs/rl/cpu.yaml``) a replay memory built by ``SplitMemory.from_config`` is filled with synthetic
races (random frames, floats drawn around the ``FloatLayout`` mean and std, random actions and rewards). Each timed
run then does what ``Trainer._train_one`` does, batch after batch: ``sample`` (with the n-step and mini-race
rules) → ``to_torch`` → ``Learner.update`` → ``update_priorities``. ``samples_per_s`` is batch size × batches /
seconds of that loop. The same run times ``reference_update`` below, the IQN update of Dabney et al. (2018) on one
pre-made tensor batch with no buffer, Learner or parameter groups: ``ratio`` = samples_per_s /
reference_samples_per_s shows what sampling and the machinery cost (1: nothing).

Where the time goes, per batch: ``sample_ms`` (sample + to_torch), ``forward_backward_ms`` (everything in
``Learner.update`` before ``optimizer.step``: τ, target, prediction, loss, backward, clipping), ``optimizer_ms``
(``optimizer.step``) and ``after_step_ms`` (Polyak update and stats); ``forward_backward_ms`` splits further into
``target_forward_ms``, ``online_forward_ms`` and ``backward_ms`` (loss, backward and clipping, from the end of the
online forward to the step). They are read off the real learner through optimizer step hooks and module forward
hooks: ``perf_counter`` on the CPU, CUDA events on a GPU, so nothing is synchronised that the learner would not
synchronise. Hairpin and reference runs alternate, so background load hits both alike.

Prints one JSON line per config. Each figure is the median of ``--repeats`` timed runs after a warm-up.

    python benchmarks/learner_speed.py [--repeats 5] [--batches 30] [--threads 1] [--device cpu]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from hairpin.actions import N_ACTIONS
from hairpin.config.loader import load_config
from hairpin.config.rl import RLConfig
from hairpin.nets import IQNNetwork
from hairpin.rl.buffer import SplitMemory, to_torch
from hairpin.rl.collector import make_network
from hairpin.rl.learner import Learner
from hairpin.rl.sampler import BatchSampler
from hairpin.rl.trainer import _optimizer
from hairpin.sim.race import float_layout

CONFIGS = Path(__file__).resolve().parent.parent / "configs" / "rl"
SPANS = {
    "sample": ("start", "sampled"),
    "forward_backward": ("sampled", "step_begin"),
    "optimizer": ("step_begin", "step_end"),
    "after_step": ("step_end", "update_end"),
    "target_forward": ("target_begin", "target_end"),
    "online_forward": ("online_begin", "online_end"),
    "backward": ("online_end", "step_begin"),
}
"""Timed parts of one batch, as (first mark, last mark); the last three split ``forward_backward``."""


def pin_to_cores(n: int) -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:n]))


def load(name: str, overrides: list[str]) -> RLConfig:
    """The ``default`` (GPU-sized) or ``cpu`` config, with ``--set`` overrides."""
    path = CONFIGS / f"{name}.yaml"
    return load_config(RLConfig, path if path.exists() or name != "default" else None, overrides)


def fill_memory(cfg: RLConfig, transitions: int, rng: np.random.Generator) -> SplitMemory:
    """A replay memory as the trainer builds it, its train buffer holding ``transitions`` synthetic transitions."""
    layout = float_layout(cfg.env)
    image_shape = (1, cfg.env.image_size, cfg.env.image_size)
    memory = SplitMemory.from_config(cfg.memory, image_shape, layout.size, rng)
    if transitions > memory.train.capacity:
        raise ValueError(f"{transitions} transitions do not fit the train buffer's {memory.train.capacity}")
    while len(memory.train) < transitions:
        T = int(rng.integers(100, 600))
        frames = rng.integers(0, 256, (T + 1, *image_shape), dtype=np.uint8)  # (T+1, 1, H, W)
        floats = (layout.mean + layout.std * rng.standard_normal((T + 1, layout.size))).astype(np.float32)  # (T+1, F)
        actions = rng.integers(0, N_ACTIONS, T)  # (T,)
        rewards = rng.normal(0.0, 0.1, T).astype(np.float32)  # (T,)
        memory.add_race(frames, floats, actions, rewards, terminated=bool(rng.random() < 0.5))
    return memory


class Marks:
    """Named time points of each batch: ``perf_counter`` on the CPU, CUDA events on a GPU (recorded without a sync).

    A point marked twice in one batch keeps its last time (the online network runs twice with double DQN).
    """

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self.batches: list[dict[str, Any]] = []

    def mark(self, name: str) -> None:
        if name == "start":
            self.batches.append({})
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            self.batches[-1][name] = event
        else:
            self.batches[-1][name] = time.perf_counter()

    def hook(self, module: torch.nn.Module, name: str) -> None:
        """Mark ``<name>_begin`` and ``<name>_end`` around every forward call of ``module``."""
        module.register_forward_pre_hook(lambda *_: self.mark(f"{name}_begin"))
        module.register_forward_hook(lambda *_: self.mark(f"{name}_end"))

    def span_ms(self) -> dict[str, float]:
        """Mean milliseconds per batch of each span, over the batches marked since the last call."""
        if self.cuda:
            torch.cuda.synchronize()
        means = {}
        for span, (first, last) in SPANS.items():
            if self.cuda:
                ms = [b[first].elapsed_time(b[last]) for b in self.batches]
            else:
                ms = [1e3 * (b[last] - b[first]) for b in self.batches]
            means[span] = statistics.fmean(ms)
        self.batches.clear()
        return means


def reference_update(
    online: IQNNetwork,
    target: IQNNetwork,
    optimizer: torch.optim.Optimizer,
    batch: tuple[Tensor, ...],
    cfg: RLConfig,
) -> float:
    """One plain IQN step (Dabney et al. 2018, eq. 3) on a tensor batch; returns the loss."""
    img, floats, action, reward, discount, next_img, next_floats = batch
    iqn = cfg.iqn
    B, N, Np, device = action.shape[0], iqn.n_quantiles, iqn.n_target_quantiles, floats.device
    with torch.no_grad():
        next_taus = torch.rand(B, Np, device=device)  # (B, Np)
        next_quantiles = target(next_img, next_floats, next_taus)  # (B, Np, A)
        if iqn.double_dqn:
            acting_taus = torch.rand(B, iqn.n_acting_quantiles, device=device)  # (B, K)
            next_action = online(next_img, next_floats, acting_taus).mean(1).argmax(1)  # (B,)
        else:
            next_action = next_quantiles.mean(1).argmax(1)  # (B,)
        chosen = next_quantiles.gather(2, next_action[:, None, None].expand(B, Np, 1)).squeeze(2)  # (B, Np)
        target_quantiles = reward[:, None] + discount[:, None] * chosen  # (B, Np)
    taus = torch.rand(B, N, device=device)  # (B, N)
    quantiles = online(img, floats, taus)  # (B, N, A)
    pred = quantiles.gather(2, action[:, None, None].expand(B, N, 1)).squeeze(2)  # (B, N)
    delta = target_quantiles[:, None, :] - pred[:, :, None]  # (B, N, Np)
    abs_delta = delta.abs()
    kappa = iqn.kappa
    huber = torch.where(abs_delta <= kappa, 0.5 * delta**2, kappa * (abs_delta - 0.5 * kappa))  # (B, N, Np)
    weight = (taus[:, :, None] - (delta.detach() < 0).float()).abs()  # (B, N, Np)
    loss = (weight * huber / kappa).sum(1).mean(1).mean()  # sum over N, mean over Np, mean over B
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(online.parameters(), iqn.clip_grad_norm)
    optimizer.step()
    with torch.no_grad():
        for t, o in zip(target.parameters(), online.parameters(), strict=True):
            t.lerp_(o, iqn.target_update_tau)  # Polyak: t ← (1 − τ)·t + τ·o
    return float(loss.detach())


def bench_config(name: str, args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    cfg = load(name, args.set)
    batch_size = cfg.iqn.batch_size
    batches = args.batches if name == "cpu" or device.type == "cuda" else args.default_batches
    rng = np.random.default_rng(0)
    memory = fill_memory(cfg, args.transitions, rng)
    gamma, mini_race_steps = cfg.schedules.gamma_schedule.value(0), cfg.memory.mini_race_steps

    torch.manual_seed(0)
    online = make_network(cfg).to(device)
    learner = Learner(online, copy.deepcopy(online), _optimizer(online, cfg), cfg.iqn)
    marks = Marks(device)
    learner.optimizer.register_step_pre_hook(lambda *_: marks.mark("step_begin"))
    learner.optimizer.register_step_post_hook(lambda *_: marks.mark("step_end"))
    marks.hook(learner.target, "target")
    marks.hook(learner.online, "online")

    sampler = BatchSampler(memory.train, batch_size, device, mini_race_steps)

    def hairpin_run(n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            marks.mark("start")
            batch, tensors = sampler.sample(gamma, rng)
            marks.mark("sampled")
            stats = learner.update(tensors)  # ends with float(loss): synchronised like the trainer
            marks.mark("update_end")
            memory.train.update_priorities(batch.index, stats.td_error.cpu().numpy())
        return batch_size * n / (time.perf_counter() - start)

    torch.manual_seed(0)
    ref_online = make_network(cfg).to(device)
    ref_target = copy.deepcopy(ref_online).requires_grad_(False)
    o = cfg.optimizer
    kind = torch.optim.Adam if o.kind == "adam" else torch.optim.RAdam
    ref_optimizer = kind(
        ref_online.parameters(),
        lr=cfg.schedules.lr_schedule.value(0),
        eps=o.eps,
        betas=o.betas,
        weight_decay=o.weight_decay,
        decoupled_weight_decay=True,
    )
    sampled = memory.train.sample(batch_size, gamma, rng, mini_race_steps=mini_race_steps)
    ref_batch = tuple(t.clone() for t in to_torch(sampled, device)[:7])  # img .. next_floats, made once

    def reference_run(n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            reference_update(ref_online, ref_target, ref_optimizer, ref_batch, cfg)
        return batch_size * n / (time.perf_counter() - start)

    hairpin_run(args.warmup)
    reference_run(args.warmup)
    marks.span_ms()
    rates: list[float] = []
    reference_rates: list[float] = []
    spans: list[dict[str, float]] = []
    for _ in range(args.repeats):
        rates.append(hairpin_run(batches))
        spans.append(marks.span_ms())
        reference_rates.append(reference_run(batches))
    rate, reference_rate = statistics.median(rates), statistics.median(reference_rates)
    return {
        "config": name,
        "samples_per_s": round(rate),
        "reference_samples_per_s": round(reference_rate),
        "ratio": round(rate / reference_rate, 3),
        **{f"{span}_ms": round(statistics.median(s[span] for s in spans), 2) for span in SPANS},
        "reference_ms": round(1e3 * batch_size / reference_rate, 2),
        "batch_size": batch_size,
        "image_size": cfg.env.image_size,
        "batches": batches,
        "repeats": args.repeats,
        "device": device.type,
        "threads": args.threads,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per figure (the median is reported)")
    parser.add_argument("--batches", type=int, default=30, help="batches per timed run")
    parser.add_argument(
        "--default-batches",
        type=int,
        default=10,
        help="batches per timed run of the GPU-sized default config on the CPU (about 0.5 s each on one core)",
    )
    parser.add_argument("--warmup", type=int, default=3, help="batches of warm-up before the timed runs")
    parser.add_argument("--transitions", type=int, default=20_000, help="synthetic transitions in the buffer")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (the process is pinned to as many)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--configs", nargs="+", choices=("default", "cpu"), default=["default", "cpu"])
    parser.add_argument("--set", action="append", default=[], help="key=value override of the configs (repeatable)")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    pin_to_cores(args.threads)
    for name in args.configs:
        print(json.dumps({**bench_config(name, args, device), "overrides": args.set}), flush=True)


if __name__ == "__main__":
    main()
