"""Pretraining speed: images per second of autoencoder and behavioural-cloning training, and the share of each
step spent assembling batches.

An expert dataset is recorded into a temporary directory (``--maps`` generated maps, ``--episodes`` each, at
``--image-size``) and read back with ``load_demos``, as ``hairpin pretrain`` does. Each timed run then takes
``--batches`` batches in a random order, as one epoch does: ``trainer.batch(indices)`` (gather the uint8 frames,
floats and labels and move them to the device) and one gradient step, timed separately. ``ae_images_per_s`` and
``bc_images_per_s`` are batch size × batches / seconds of both; ``data_loading_share`` is the time in
``batch(...)`` over the whole, for ae and bc together (the larger of the two is printed as well). The bc run uses
``configs/pretrain/bc/v2_multi_offset_ahead_dropout_inner.yaml``'s settings (4 offsets, A_head-shaped heads on
the τ path, dropout) and the ae run ``configs/pretrain/vis/v1.yaml``'s, at the chosen image size.

Prints one JSON line; each figure is the median of ``--repeats`` timed runs after a warm-up.

    python benchmarks/pretrain_speed.py [--image-size 64] [--batches 20] [--repeats 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hairpin.config.loader import load_config
from hairpin.config.pretrain import BCConfig, VisConfigPretrain
from hairpin.config.sim import DriveConfig, EnvConfig
from hairpin.data.arrays import DemoArrays
from hairpin.data.maps import resolve_maps
from hairpin.data.record import write_expert_dataset
from hairpin.data.store import load_demos
from hairpin.pretrain.bc import BCTrainer
from hairpin.pretrain.run import split_demos
from hairpin.pretrain.vis import VisTrainer
from hairpin.sim.race import float_layout

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "pretrain"


def _record(tmp: Path, image_size: int, n_maps: int, episodes: int) -> tuple[DemoArrays, EnvConfig, float]:
    cfg = DriveConfig.model_validate({"env": {"image_size": image_size}, "expert": {"noise": 0.5}})
    maps = resolve_maps([], generated=n_maps, generator_seed=50, generated_blocks=12)
    write_expert_dataset(cfg, maps, root=tmp, name="bench", episodes_per_map=episodes, seed=0)
    start = time.perf_counter()
    demos, _ = load_demos("bench", tmp)
    return demos, cfg.env, demos.n_frames / (time.perf_counter() - start)


def _paddings(image_size: int) -> list[int]:
    """The encoder's paddings: none from 34 px up, one pixel per layer below (as the 32 px configs have)."""
    return [0, 0, 0, 0] if image_size >= 34 else [1, 1, 1, 1]


def _timed(
    batch: Callable[[np.ndarray], Any], step: Callable[[Any], Any], indices: list[np.ndarray]
) -> tuple[float, float]:
    """(seconds in batch, seconds in total) over ``indices``."""
    loading = total = 0.0
    for index in indices:
        t0 = time.perf_counter()
        item = batch(index)
        t1 = time.perf_counter()
        step(item)
        t2 = time.perf_counter()
        loading, total = loading + t1 - t0, total + t2 - t0
    return loading, total


def _bc_step(trainer: BCTrainer) -> Callable[[Any], None]:
    n_taus = trainer.cfg.n_taus

    def step(batch: Any) -> None:
        b = batch.floats.shape[0]
        taus = torch.rand(b, n_taus, device=trainer.device)
        terms, _ = trainer.losses(batch, taus, taus)
        trainer.optimizer.zero_grad(set_to_none=True)
        terms.total.backward()
        trainer.optimizer.step()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--maps", type=int, default=4, help="generated maps in the recorded dataset")
    parser.add_argument("--episodes", type=int, default=3, help="expert episodes per map")
    parser.add_argument("--batches", type=int, default=20, help="batches per timed run")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    with tempfile.TemporaryDirectory() as tmp:
        demos, env, load_frames_per_s = _record(Path(tmp), args.image_size, args.maps, args.episodes)
    common = [f"nn.vis.paddings={_paddings(args.image_size)}", "run_name=bench", "data.dataset=bench"]
    vis = load_config(VisConfigPretrain, CONFIGS / "vis/v1.yaml", [*common, f"image_size={args.image_size}"])
    bc_path = CONFIGS / "bc/v2_multi_offset_ahead_dropout_inner.yaml"
    bc = load_config(BCConfig, bc_path, [*common, "encoder_init_path=null"])
    validation = sorted(set(demos.maps))[-1:]
    train, val = split_demos(demos, vis.data.model_copy(update={"validation_maps": validation}))
    ae_trainer = VisTrainer(vis, train, val, device=device)
    bc_trainer = BCTrainer(bc, train, val, float_layout=float_layout(env), device=device)
    rng = np.random.default_rng(0)

    def indices(batch_size: int) -> list[np.ndarray]:
        return [rng.choice(train.n_frames, batch_size, replace=False) for _ in range(args.batches)]

    jobs = {
        "ae": (ae_trainer.batch, ae_trainer.train_step, vis.train.batch_size),
        "bc": (bc_trainer.batch, _bc_step(bc_trainer), bc.train.batch_size),
    }
    figures: dict[str, list[float]] = {f"{k}_{f}": [] for k in jobs for f in ("images_per_s", "share")}
    for repeat in range(args.repeats + 1):
        for name, (batch, step, batch_size) in jobs.items():
            loading, total = _timed(batch, step, indices(batch_size))
            if repeat:  # the first round warms up
                figures[f"{name}_images_per_s"].append(batch_size * args.batches / total)
                figures[f"{name}_share"].append(loading / total)
    median = {k: statistics.median(v) for k, v in figures.items()}
    print(
        json.dumps(
            {
                "ae_images_per_s": round(median["ae_images_per_s"], 1),
                "bc_images_per_s": round(median["bc_images_per_s"], 1),
                "data_loading_share": round(max(median["ae_share"], median["bc_share"]), 4),
                "ae_data_loading_share": round(median["ae_share"], 4),
                "bc_data_loading_share": round(median["bc_share"], 4),
                "dataset_load_frames_per_s": round(load_frames_per_s),
                "dataset_frames": demos.n_frames,
                "image_size": args.image_size,
                "ae_batch_size": vis.train.batch_size,
                "bc_batch_size": bc.train.batch_size,
                "threads": args.threads,
                "device": str(device),
                "repeats": args.repeats,
            }
        )
    )


if __name__ == "__main__":
    main()
