from __future__ import annotations

import copy
import math

import pytest
import torch

from hairpin.config.nn import NNConfig
from hairpin.config.rl import IQNConfig
from hairpin.nets import IQNNetwork
from hairpin.nets.groups import apply_freezing, param_groups
from hairpin.obs import FloatLayout
from hairpin.rl.learner import Learner, TorchBatch, polyak_update
from hairpin.rl.loss import TargetSpread, quantile_huber_loss
from hairpin.rl.nstep import Batch

LAYOUT = FloatLayout()


def make(nn_cfg: NNConfig, iqn: IQNConfig, lr: float = 1e-3) -> Learner:
    torch.manual_seed(0)
    online = IQNNetwork(nn_cfg, image_size=64, float_layout=LAYOUT)
    target = copy.deepcopy(online)
    optimizer = torch.optim.Adam(param_groups(online, nn_cfg, lr))
    return Learner(online, target, optimizer, iqn)


def batch(B: int = 32, with_image: bool = False, reward: float = 1.0) -> TorchBatch:
    g = torch.Generator().manual_seed(1)
    floats = torch.randn(B, LAYOUT.size, generator=g) * torch.from_numpy(LAYOUT.std) + torch.from_numpy(LAYOUT.mean)
    img = torch.randint(0, 256, (B, 1, 64, 64), dtype=torch.uint8, generator=g) if with_image else None
    return Batch(
        img=img,
        floats=floats,
        action=torch.randint(0, 12, (B,), generator=g),
        reward=torch.full((B,), reward),
        discount=torch.zeros(B),
        next_img=img,
        next_floats=floats,
        weight=torch.ones(B),
        index=torch.arange(B),
    )


def test_terminal_transitions_learn_their_reward() -> None:
    cfg = NNConfig.model_validate({"vis": {"enabled": False}})
    learner = make(cfg, IQNConfig(batch_size=32, kappa=1.0))
    b = batch()
    first = learner.update(b).loss
    for _ in range(300):
        stats = learner.update(b)
    assert stats.loss < 0.05 * first
    q = learner.online.q_values(None, b.floats)  # (B, A)
    taken = q.gather(1, b.action[:, None]).squeeze(1)
    assert torch.allclose(taken, torch.ones_like(taken), atol=0.15)
    assert stats.td_error.shape == (32,)


def test_frozen_parts_do_not_change_through_updates() -> None:
    cfg = NNConfig.model_validate({"vis": {"freeze": True}, "decoder": {"advantage": {"frozen_until_frames": 1000}}})
    learner = make(cfg, IQNConfig(batch_size=16))
    frozen = apply_freezing(learner.online, cfg, frames_played=0)
    assert set(frozen) == {"img_head", "A_head"}
    before = copy.deepcopy(learner.online.state_dict())
    for _ in range(5):
        learner.update(batch(16, with_image=True))
    after = learner.online.state_dict()
    for name, tensor in after.items():
        if name.startswith(("img_head", "A_head")):
            assert torch.equal(tensor, before[name]), name
    assert not torch.equal(after["V_head.0.weight"], before["V_head.0.weight"])
    assert apply_freezing(learner.online, cfg, frames_played=1000) == ["img_head"]


def test_lr_multipliers_follow_the_learning_rate() -> None:
    cfg = NNConfig.model_validate({"floats": {"lr_mult": 0.1}})
    learner = make(cfg, IQNConfig())
    learner.set_learning_rate(2e-3)
    rates = {g["part"]: g["lr"] for g in learner.optimizer.param_groups}
    assert rates["float_feature_extractor"] == 2e-4
    assert rates["A_head"] == 2e-3


def test_polyak_update_is_a_weighted_average() -> None:
    online, target = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    expected = 0.75 * target.weight.detach() + 0.25 * online.weight.detach()
    polyak_update(target, online, 0.25)
    assert torch.allclose(target.weight, expected)


def test_double_dqn_and_test_loss_run() -> None:
    cfg = NNConfig.model_validate({"vis": {"enabled": False}})
    learner = make(cfg, IQNConfig(double_dqn=True))
    b = batch()
    b = b._replace(discount=torch.full((32,), 0.9))
    assert learner.update(b).loss > 0
    assert learner.test_loss(b) > 0


def test_target_spread_divides_each_loss_by_its_targets_spread() -> None:
    """Wide targets weigh less than narrow ones; a target with no spread is floored at typical / clamp_ratio."""
    spread = TargetSpread(clamp_ratio=4.0)
    taus = torch.full((3, 4), 0.5)
    narrow = torch.tensor([0.0, 0.1, 0.2, 0.3])
    target = torch.stack([narrow, 4 * narrow, torch.zeros(4)])  # (3, Np): spreads s, 4s (Huber's square part), 0
    weights = spread.weights(target, taus, kappa=10.0)  # every δ in the square part
    own = quantile_huber_loss(target, target, taus, 10.0).sqrt()  # (3,)
    assert own[1] / own[0] == pytest.approx(4.0, rel=1e-4) and own[2] == 0
    assert weights[0] / weights[1] == pytest.approx(4.0, rel=1e-4)
    floor = spread.typical / 4.0
    assert weights[2] == pytest.approx(spread.typical_clamped / floor)
    assert spread.typical == pytest.approx(float(own.mean()))  # the first batch starts the running mean


def test_target_self_loss_rescaling_is_off_by_default_and_trains_when_on() -> None:
    cfg = NNConfig.model_validate({"vis": {"enabled": False}})
    assert make(cfg, IQNConfig(batch_size=32)).target_spread is None
    learner = make(cfg, IQNConfig(batch_size=32, kappa=1.0, target_self_loss_clamp_ratio=4.0))
    b = batch()._replace(discount=torch.full((32,), 0.9))  # bootstrapped targets, so they have a spread
    first = learner.update(b).loss
    for _ in range(100):
        stats = learner.update(b)
    assert learner.target_spread is not None and learner.target_spread.typical is not None
    assert math.isfinite(stats.loss) and stats.loss < first
