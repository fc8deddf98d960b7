"""hairpin configuration: validated pydantic models, YAML loading with ``_base_`` and ``--set``, schedules."""

from hairpin.config.base import ConfigModel
from hairpin.config.loader import (
    ConfigError,
    apply_overrides,
    dump_config,
    load_config,
    load_yaml_tree,
    save_config,
)
from hairpin.config.nn import NNConfig, PartConfig
from hairpin.config.rl import ExplorationConfig, IQNConfig, MapCycleEntry, OptimizerConfig, ScheduleConfig
from hairpin.config.schedules import Schedule
from hairpin.config.sim import CameraConfig, DriveConfig, EnvConfig, ExpertConfig, PhysicsConfig, RewardConfig

__all__ = [
    "CameraConfig",
    "ConfigError",
    "ConfigModel",
    "DriveConfig",
    "EnvConfig",
    "ExpertConfig",
    "ExplorationConfig",
    "IQNConfig",
    "MapCycleEntry",
    "NNConfig",
    "OptimizerConfig",
    "PartConfig",
    "PhysicsConfig",
    "RewardConfig",
    "Schedule",
    "ScheduleConfig",
    "apply_overrides",
    "dump_config",
    "load_config",
    "load_yaml_tree",
    "save_config",
]
