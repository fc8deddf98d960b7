"""Per-part training of the IQN network: which config section drives which part, one optimizer parameter group
per part with its learning-rate multiplier, and freezing (DESIGN §4).

A part with ``freeze: true`` is never trained: it is left out of the optimizer and its parameters have
``requires_grad`` False. A part with ``frozen_until_frames: N`` is in the optimizer from the start but
``apply_freezing`` keeps ``requires_grad`` False (and its gradients None) while fewer than N frames were played.
A parameter whose gradient is None is skipped by torch's optimizers, weight decay and momentum included, so a
frozen part stays bit-identical; ``torch.compile`` guards on ``requires_grad`` and recompiles when it changes.
"""

from __future__ import annotations

from typing import Any

from hairpin.config.nn import NNConfig, PartConfig
from hairpin.nets.iqn import PART_NAMES, IQNNetwork

__all__ = ["PART_NAMES", "apply_freezing", "param_groups", "part_configs"]


def part_configs(cfg: NNConfig) -> dict[str, PartConfig]:
    """The config section of each part, keyed by part name (``nn.vis`` → ``img_head``, ...)."""
    return {
        "img_head": cfg.vis,
        "float_feature_extractor": cfg.floats,
        "iqn_fc": cfg.iqn,
        "A_head": cfg.decoder.advantage,
        "V_head": cfg.decoder.value,
    }


def param_groups(net: IQNNetwork, cfg: NNConfig, base_lr: float) -> list[dict[str, Any]]:
    """One optimizer group per trainable part: ``params``, ``lr`` = base_lr · lr_mult, ``lr_mult`` and ``part``.

    Parts with ``freeze: true`` are left out. A learning-rate schedule sets ``group["lr"] = lr * group["lr_mult"]``.
    """
    configs = part_configs(cfg)
    groups = []
    for name, part in net.parts().items():
        part_cfg = configs[name]
        if part_cfg.freeze:
            continue
        groups.append(
            {
                "params": list(part.parameters()),
                "lr": base_lr * part_cfg.lr_mult,
                "lr_mult": part_cfg.lr_mult,
                "part": name,
            }
        )
    return groups


def apply_freezing(net: IQNNetwork, cfg: NNConfig, frames_played: int) -> list[str]:
    """Set ``requires_grad`` of each part for this point of training; return the names of the parts frozen now.

    Call it before each update (it is cheap) or whenever ``frames_played`` crosses a ``frozen_until_frames``.
    """
    configs = part_configs(cfg)
    frozen = []
    for name, part in net.parts().items():
        part_cfg = configs[name]
        is_frozen = part_cfg.freeze or frames_played < part_cfg.frozen_until_frames
        for param in part.parameters():
            param.requires_grad_(not is_frozen)
            if is_frozen:
                param.grad = None
        if is_frozen:
            frozen.append(name)
    return frozen
