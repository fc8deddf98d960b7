"""How far apart a network's actions are, and the ``pretrain_advantage_scale`` that puts a BC head on RL's scale.

A BC A_head is a classifier: its advantages are logits, several units apart. An RL network's advantages are as far
apart as one 50 ms decision moves the return, which depends on the reward (about 0.01 without the clock shaping,
about 0.1 with it). Injected unscaled, the head's greedy action drives well, but TD's targets take the maximum over
those logits, the Q values inflate, and the cloned ordering is lost within a few hundred batches.

Here both are measured on the same demonstration frames (at mini-race time 0, the value used when acting): the
spread of Q over the 12 actions of a trained RL run, of a fresh network with a BC run's exports injected, and the
scale that makes the second match the first. ``hairpin pretrain advantage-scale`` prints them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from hairpin.config.rl import RLConfig
from hairpin.data.arrays import DemoArrays
from hairpin.errors import HairpinError
from hairpin.nets import IQNNetwork
from hairpin.obs import FloatLayout
from hairpin.pretrain.artifacts import ARTIFACT_FILES, read_manifest
from hairpin.rl.collector import make_network
from hairpin.rl.inject import INJECTION_KEYS, inject_pretrained
from hairpin.sim.race import float_layout

__all__ = ["AdvantageSpread", "advantage_spread", "demo_inputs", "injected_network", "matching_scale"]


@dataclass(frozen=True)
class AdvantageSpread:
    """Q over the 12 actions of one network on a set of frames (means over the frames)."""

    mean_q: float
    std: float
    """Standard deviation of Q over the actions: the spread of the advantages (V cancels)."""
    best_gap: float
    """Q of the greedy action minus the median action's."""
    agreement: float
    """Share of frames whose greedy action is the demonstration's."""


def demo_inputs(
    demos: DemoArrays, layout: FloatLayout, *, frames: int, seed: int, images: bool
) -> tuple[torch.Tensor | None, torch.Tensor, np.ndarray]:
    """(images or None, floats, actions) of ``frames`` frames drawn without replacement, mini-race time 0."""
    rng = np.random.default_rng(seed)
    index = np.sort(rng.choice(len(demos.actions), size=min(frames, len(demos.actions)), replace=False))
    floats = torch.as_tensor(demos.floats[index]).clone()
    floats[:, layout.slices["mini_race_time"]] = 0.0
    img = torch.as_tensor(demos.images[index]) if images else None
    return img, floats, demos.actions[index]


@torch.no_grad()
def advantage_spread(
    net: IQNNetwork, img: torch.Tensor | None, floats: torch.Tensor, actions: np.ndarray, n_taus: int = 32
) -> AdvantageSpread:
    """The spread of ``net``'s Q values over the actions on these frames."""
    net.eval()
    q = net.q_values(img, floats, n_taus=n_taus).double()  # (B, A)
    greedy_gap = q.max(dim=1).values - q.median(dim=1).values
    agree = q.argmax(dim=1).numpy() == actions
    return AdvantageSpread(
        mean_q=float(q.mean()),
        std=float(q.std(dim=1, unbiased=False).mean()),
        best_gap=float(greedy_gap.mean()),
        agreement=float(agree.mean()),
    )


def injected_network(cfg: RLConfig, bc_dir: str | Path) -> IQNNetwork:
    """A fresh network of ``cfg`` with everything the BC run exports injected, unscaled: the whole IQN when it
    exports one, else its encoder (when the network sees images), float head and A_head."""
    bc_dir = Path(bc_dir)
    files = set(read_manifest(bc_dir).get("files", {}))
    if "iqn_bc" in files:
        keys = {"pretrain_bc_heads_path": str(bc_dir)}
    elif "actions_head" in files:
        keys = {
            key: str(bc_dir)
            for key, artifact, part in INJECTION_KEYS
            if part is not None and artifact in files and (part != "img_head" or cfg.nn.vis.enabled)
        }
    else:
        raise HairpinError(
            f"{bc_dir} exports no A_head ({ARTIFACT_FILES['actions_head']}) and no whole network "
            f"({ARTIFACT_FILES['iqn_bc']}): there is no advantage head to scale"
        )
    training = cfg.training.model_copy(update={**keys, "pretrain_advantage_scale": 1.0})
    net = make_network(cfg)
    inject_pretrained(net, training, image_size=cfg.env.image_size, float_layout=float_layout(cfg.env))
    return net


def matching_scale(reference: AdvantageSpread, head: AdvantageSpread) -> float:
    """The ``pretrain_advantage_scale`` that gives ``head`` the spread of ``reference``."""
    if head.std <= 0:
        raise HairpinError("the injected head gives every action the same Q: no scale can match a spread")
    return reference.std / head.std
