"""Greedy races: what a race reports when it does not finish (how far it got, what it held)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from hairpin.actions import ACTION_NAMES
from hairpin.config.rl import RLConfig
from hairpin.rl.collector import make_network
from hairpin.rl.evaluate import race_greedy

from .conftest import tiny_config


def _always(cfg: RLConfig, action: str) -> torch.nn.Module:
    """A network whose greedy action is ``action`` in every state."""
    torch.manual_seed(0)
    net = make_network(cfg)
    with torch.no_grad():
        net.A_head[-1].weight.zero_()
        net.A_head[-1].bias.zero_()
        net.A_head[-1].bias[ACTION_NAMES.index(action)] = 1.0
    return net.eval()


def test_a_car_that_never_moves_reports_no_progress_and_the_action_it_held(tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path)
    [standing] = race_greedy(_always(cfg, "left"), cfg.env, cfg.env.map, 1)
    assert not standing.finished and standing.progress == 0.0
    assert set(standing.actions.tolist()) == {ACTION_NAMES.index("left")}
    assert standing.race_time_ms == int(cfg.env.no_progress_cutoff_s * 1000)  # cut off, never having moved

    [driving] = race_greedy(_always(cfg, "accel"), cfg.env, cfg.env.map, 1)
    assert driving.progress > 0.2  # straight on at full throttle: it gets into the first turn at least
    assert driving.progress == 1.0 if driving.finished else 0 < driving.progress < 1
    assert np.all(driving.actions == ACTION_NAMES.index("accel"))


def test_a_rolling_start_tells_a_car_that_cannot_pull_away_from_one_that_cannot_drive(tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path)
    steering = _always(cfg, "left")
    [standing] = race_greedy(steering, cfg.env, cfg.env.map, 1)
    [rolling] = race_greedy(steering, cfg.env, cfg.env.map, 1, start_speed=15.0)
    assert standing.progress == 0.0
    assert 0.0 < rolling.progress < 1.0 and not rolling.finished  # it coasts on, steering into the wall
