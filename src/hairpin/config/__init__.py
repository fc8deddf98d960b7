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
from hairpin.config.schedules import Schedule
from hairpin.config.sim import CameraConfig, DriveConfig, EnvConfig, ExpertConfig, PhysicsConfig, RewardConfig

__all__ = [
    "CameraConfig",
    "ConfigError",
    "ConfigModel",
    "DriveConfig",
    "EnvConfig",
    "ExpertConfig",
    "PhysicsConfig",
    "RewardConfig",
    "Schedule",
    "apply_overrides",
    "dump_config",
    "load_config",
    "load_yaml_tree",
    "save_config",
]
