"""Fixtures of the pretraining tests. Visual pretraining's are prefixed ``vis_``, behavioural cloning's ``bc_``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hairpin.config.pretrain import BCConfig, VisConfigPretrain
from hairpin.data.arrays import DemoArrays

VisDemoFactory = Callable[..., DemoArrays]
VisConfigFactory = Callable[..., VisConfigPretrain]


def _vis_frame(size: int, map_index: int, progress: float, rng: np.random.Generator) -> np.ndarray:
    """A structured grey frame: a map-dependent gradient and a bright disc that moves along the episode."""
    y, x = np.mgrid[0:size, 0:size] / size  # (H, W) each
    angle = 0.9 * map_index
    background = 60 + 80 * (np.cos(angle) * x + np.sin(angle) * y)  # (H, W)
    cx, cy = 0.2 + 0.6 * progress, 0.5 + 0.3 * np.sin(2 * np.pi * progress + map_index)
    disc = 110 * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / 0.01)  # (H, W)
    return np.clip(background + disc + rng.normal(0, 3, (size, size)), 0, 255).astype(np.uint8)


def vis_synthetic_demos(
    *,
    n_maps: int = 4,
    episodes_per_map: int = 2,
    frames_per_episode: int = 25,
    size: int = 32,
    pixel_is_row: bool = False,
    seed: int = 0,
) -> DemoArrays:
    """Episodes of structured frames (or, with ``pixel_is_row``, frames filled with their own row index)."""
    rng = np.random.default_rng(seed)
    lengths = [frames_per_episode + e for e in range(n_maps * episodes_per_map)]  # unequal episode lengths
    maps = tuple(f"map{m}" for m in range(n_maps) for _ in range(episodes_per_map))
    frames = []
    for e, length in enumerate(lengths):
        for i in range(length):
            frames.append(_vis_frame(size, e // episodes_per_map, i / length, rng))
    images = np.stack(frames)[:, None]  # (T, 1, H, W)
    t = len(images)
    if pixel_is_row:
        assert t <= 256, "pixel_is_row needs at most 256 frames"
        images = np.broadcast_to(np.arange(t, dtype=np.uint8)[:, None, None, None], images.shape).copy()
    ticks_per_frame = 5
    return DemoArrays(
        images=images,
        floats=np.zeros((t, 4), np.float32),
        actions=np.zeros(t, np.int64),
        rewards=np.zeros(t, np.float32),
        race_time_ms=np.concatenate([np.arange(n) * 50 for n in lengths]).astype(np.int64),
        episode=np.repeat(np.arange(len(lengths)), lengths).astype(np.int64),
        episode_starts=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        finished=np.ones(len(lengths), bool),
        timeline=np.zeros(sum(lengths) * ticks_per_frame, np.int8),
        timeline_starts=np.concatenate([[0], np.cumsum(lengths) * ticks_per_frame]).astype(np.int64),
        frame_tick=np.concatenate([np.arange(n) * ticks_per_frame for n in lengths]).astype(np.int64),
        maps=maps,
    )


@pytest.fixture
def vis_make_demos() -> VisDemoFactory:
    """``vis_synthetic_demos`` as a factory fixture."""
    return vis_synthetic_demos


@pytest.fixture
def vis_demos() -> DemoArrays:
    """About 230 structured 32 × 32 frames of 8 episodes on 4 maps (the validation map is map3)."""
    return vis_synthetic_demos()


@pytest.fixture
def vis_make_config(tmp_path: Path) -> VisConfigFactory:
    """A tiny CPU config writing under ``tmp_path``: 32 px frames, padded convs, small batches; ``**overrides``
    update the top level (nested sections as dicts)."""

    def make(**overrides: Any) -> VisConfigPretrain:
        tree: dict[str, Any] = {
            "run_name": "vis",
            "paths": {"runs": str(tmp_path / "runs"), "tensorboard": str(tmp_path / "tb")},
            "data": {"dataset": "synthetic"},
            "train": {"epochs": 1, "batch_size": 32, "lr": 3e-3, "device": "cpu", "threads": 1},
            "nn": {"vis": {"paddings": [1, 1, 1, 1]}},
            "image_size": 32,
            "latent_dim": 16,
            "recon_grid_images": 6,
        }
        for key, value in overrides.items():
            if isinstance(value, dict) and isinstance(tree.get(key), dict):
                tree[key] = {**tree[key], **value}
            else:
                tree[key] = value
        return VisConfigPretrain.model_validate(tree)

    return make


BC_STEER_THRESHOLD = 0.52
"""|z| below this (about 40 % of a standard normal) means straight: accel is the majority action."""


def bc_synthetic_demos(
    *,
    n_maps: int = 5,
    episodes_per_map: int = 2,
    frames_per_episode: int = 30,
    size: int = 16,
    seed: int = 0,
) -> DemoArrays:
    """An easy dataset: the action is accel, accel+left or accel+right by the car-frame x of the first reference
    point (standardised), held for the 5 ticks of each frame; episodes alternate finished / cut off; the
    validation map is the last (``map{n_maps-1}``)."""
    from hairpin.obs import FloatLayout

    layout = FloatLayout()
    rng = np.random.default_rng(seed)
    n_episodes = n_maps * episodes_per_map
    lengths = [frames_per_episode + (e % 3) for e in range(n_episodes)]  # unequal episode lengths
    t = sum(lengths)
    z = 0.1 * rng.standard_normal((t, layout.size)).astype(np.float32)  # (T, F) standardised floats, small noise
    steer = rng.standard_normal(t).astype(np.float32)  # (T,) the one informative float
    z[:, layout.slices["ref_points"].start] = steer
    floats = (layout.mean + layout.std * z).astype(np.float32)  # (T, F)
    actions = np.where(steer < -BC_STEER_THRESHOLD, 1, np.where(steer > BC_STEER_THRESHOLD, 2, 0)).astype(np.int64)
    ticks_per_frame = 5
    images = rng.integers(0, 256, (t, 1, size, size), dtype=np.uint8)
    return DemoArrays(
        images=images,
        floats=floats,
        actions=actions,
        rewards=rng.uniform(-0.1, 0.3, t).astype(np.float32),
        race_time_ms=np.concatenate([np.arange(n) * 50 for n in lengths]).astype(np.int64),
        episode=np.repeat(np.arange(n_episodes), lengths).astype(np.int64),
        episode_starts=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        finished=np.arange(n_episodes) % 2 == 0,
        timeline=np.repeat(actions, ticks_per_frame).astype(np.int8),
        timeline_starts=np.concatenate([[0], np.cumsum(lengths) * ticks_per_frame]).astype(np.int64),
        frame_tick=np.concatenate([np.arange(n) * ticks_per_frame for n in lengths]).astype(np.int64),
        maps=tuple(f"map{e // episodes_per_map}" for e in range(n_episodes)),
    )


def _bc_merge(tree: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    out = dict(tree)
    for key, value in overrides.items():
        out[key] = _bc_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


BC_TINY_NN: dict[str, Any] = {
    "vis": {"enabled": False, "paddings": [1, 1, 1, 1]},
    "floats": {"hidden": 32},
    "iqn": {"embedding_dim": 16},
    "decoder": {"advantage": {"hidden": 32}, "value": {"hidden": 32}},
}
"""A small network; set ``nn.vis.enabled`` to use 32 × 32 images (padded convs)."""


@pytest.fixture
def bc_make_demos() -> Callable[..., DemoArrays]:
    """``bc_synthetic_demos`` as a factory fixture."""
    return bc_synthetic_demos


@pytest.fixture
def bc_make_config(tmp_path: Path) -> Callable[..., BCConfig]:
    """A tiny CPU BC config writing under ``tmp_path``, validated on map4; ``**overrides`` merge recursively."""

    def make(**overrides: Any) -> BCConfig:
        tree: dict[str, Any] = {
            "run_name": "bc",
            "paths": {"runs": str(tmp_path / "runs"), "tensorboard": str(tmp_path / "tb")},
            "data": {"dataset": "synthetic", "validation_maps": ["map4"]},
            "train": {"epochs": 2, "batch_size": 64, "lr": 3e-3, "device": "cpu", "threads": 1},
            "nn": BC_TINY_NN,
            "n_taus": 4,
        }
        return BCConfig.model_validate(_bc_merge(tree, overrides))

    return make
