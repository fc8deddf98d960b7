"""Config models of RL training: the IQN learning rule, exploration, schedules, map cycle, run control."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from hairpin.config.base import ConfigModel
from hairpin.config.schedules import Schedule

__all__ = ["ExplorationConfig", "IQNConfig", "MapCycleEntry", "OptimizerConfig", "ScheduleConfig"]


class IQNConfig(ConfigModel):
    """The implicit quantile network's learning rule (Dabney et al. 2018)."""

    kappa: float = Field(5e-3, gt=0)
    """Huber threshold of the quantile loss (κ)."""
    n_quantiles: int = Field(8, ge=1)
    """N: quantiles τ sampled for the online prediction of each transition."""
    n_target_quantiles: int = Field(8, ge=1)
    """N′: quantiles τ′ sampled for the target of each transition."""
    n_acting_quantiles: int = Field(32, ge=1)
    """K: quantiles averaged to choose an action."""
    double_dqn: bool = False
    """Choose the next action with the online network and value it with the target network."""
    target_update_tau: float = Field(0.02, gt=0, le=1)
    """Polyak weight of the online network in each target update (1: hard copy)."""
    target_update_every_batches: int = Field(1, ge=1)
    """Batches between target updates."""
    batch_size: int = Field(512, ge=1)
    """Transitions per gradient step."""
    clip_grad_norm: float = Field(30.0, gt=0)
    """Largest global gradient norm; larger gradients are scaled down."""


class OptimizerConfig(ConfigModel):
    """The optimizer of the online network."""

    kind: Literal["adam", "radam"] = "radam"
    """Adam or RAdam."""
    weight_decay: float = Field(0.0, ge=0)
    """Decoupled weight decay (AdamW-style) of every trained parameter."""
    eps: float = Field(1e-4, gt=0)
    """Adam's ε."""
    betas: tuple[float, float] = (0.9, 0.999)
    """Adam's β1, β2."""


class ExplorationConfig(ConfigModel):
    """ε-greedy plus Boltzmann-ε exploration of the collectors."""

    epsilon_schedule: Schedule = Schedule(points=((0, 1.0), (50_000, 0.1), (300_000, 0.03)), mode="exponential")
    """Probability of a uniformly random action, by frames played."""
    epsilon_boltzmann_schedule: Schedule = Schedule(points=((0, 0.15), (300_000, 0.03)))
    """Probability of an action drawn from softmax(Q / tau_epsilon_boltzmann), by frames played."""
    tau_epsilon_boltzmann: float = Field(0.01, gt=0)
    """Temperature of the Boltzmann draw."""


class ScheduleConfig(ConfigModel):
    """Values that follow ``cumul_number_frames_played``."""

    lr_schedule: Schedule = Schedule(points=((0, 1e-3), (1_000_000, 1e-4)), mode="exponential")
    """Learning rate."""
    gamma_schedule: Schedule = Schedule(points=((0, 0.999), (500_000, 1.0)))
    """Discount per step (may reach 1 with the mini-race horizon)."""
    tensorboard_suffix_schedule: Schedule | None = None
    """Starting frames of new TensorBoard directories: value k means suffix ``_k`` (0: no suffix)."""
    global_schedule_speed: float = Field(1.0, gt=0)
    """Multiplies the step of every point of every schedule."""


class MapCycleEntry(ConfigModel):
    """One stop of the map cycle."""

    short_name: str = Field(min_length=1)
    """Name of the map in tags and tables."""
    map: str = Field(min_length=1)
    """A built-in map's name or a reference-line ``.npy`` file."""
    reference_line_path: str | None = None
    """Reference line of a real-game map; the sim uses ``map``."""
    is_exploration: bool = True
    """Explore (ε, Boltzmann) on this map; False: a greedy evaluation race."""
    fill_buffer: bool = True
    """Its transitions go into the replay buffer ("trained" map); False: "blind"."""
    repeat: int = Field(1, ge=1)
    """Races in a row before the cycle moves on."""

    @model_validator(mode="after")
    def _short_name_is_a_tag(self) -> MapCycleEntry:
        if not self.short_name.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"short_name {self.short_name!r} may hold only letters, digits, '-' and '_'")
        return self
