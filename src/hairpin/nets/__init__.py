"""IQN network parts shared by pretraining and RL (DESIGN §4); nets imports nothing from rl, pretrain or cli."""

from hairpin.nets.groups import apply_freezing, param_groups, part_configs
from hairpin.nets.iqn import IMAGE_MEAN, IMAGE_SCALE, PART_NAMES, IQNNetwork, fixed_taus, sample_taus

__all__ = [
    "IMAGE_MEAN",
    "IMAGE_SCALE",
    "PART_NAMES",
    "IQNNetwork",
    "apply_freezing",
    "fixed_taus",
    "param_groups",
    "part_configs",
    "sample_taus",
]
