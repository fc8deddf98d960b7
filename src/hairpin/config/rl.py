"""Config models of RL training: the IQN learning rule, exploration, schedules, map cycle, run control."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from hairpin.config.base import ConfigModel, NonEmptyStr, Seed, number_text
from hairpin.config.game import GameConfig
from hairpin.config.memory import MemoryConfig
from hairpin.config.nn import NNConfig
from hairpin.config.schedules import Schedule, schedule_values
from hairpin.config.sim import EnvConfig, MapName

__all__ = [
    "ExplorationConfig",
    "IQNConfig",
    "MapCycleConfig",
    "MapCycleEntry",
    "OptimizerConfig",
    "PathsConfig",
    "PerformanceConfig",
    "PlateauConfig",
    "RLConfig",
    "ScheduleConfig",
    "TrainingConfig",
]


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
    batch_size_schedule: Annotated[Schedule, schedule_values("batch size", ge=1)] | None = None
    """Transitions per gradient step by frames played, in place of ``batch_size`` (values rounded), e.g.
    ``{points: [[0, 512], [150000, 256]], mode: staircase}``. None: ``batch_size`` throughout."""
    clip_grad_norm: float = Field(30.0, gt=0)
    """Largest global gradient norm; larger gradients are scaled down."""
    target_self_loss_clamp_ratio: float | None = Field(None, ge=1)
    """Linesight's target self-loss rescaling: divide each sample's loss by the spread of its target, √(the
    target's quantile loss against itself), floored at the running mean spread / this ratio (Linesight: 4).
    None: off."""


class OptimizerConfig(ConfigModel):
    """The optimizer of the online network."""

    kind: Literal["adam", "radam"] = "radam"
    """Adam or RAdam."""
    weight_decay: float = Field(0.0, ge=0)
    """Decoupled weight decay (AdamW-style) of every trained parameter."""
    eps: float = Field(2e-7, gt=0)
    """Adam's ε. hairpin's loss is the batch mean; Linesight's 1e-4 on a loss summed over its 512 samples is
    2e-7 here. A larger ε makes Adam step several times slower than its learning rate on the small gradients of
    the body and the advantage head."""
    betas: tuple[Annotated[float, Field(ge=0, lt=1)], Annotated[float, Field(ge=0, lt=1)]] = (0.9, 0.999)
    """Adam's β1, β2."""


class ExplorationConfig(ConfigModel):
    """ε-greedy plus Boltzmann-ε exploration of the collectors."""

    epsilon_schedule: Annotated[Schedule, schedule_values("ε", ge=0, le=1)] = Schedule(
        points=((0, 1.0), (50_000, 0.1), (300_000, 0.03)), mode="exponential"
    )
    """Probability of a uniformly random action, by frames played."""
    epsilon_boltzmann_schedule: Annotated[Schedule, schedule_values("Boltzmann ε", ge=0, le=1)] = Schedule(
        points=((0, 0.15), (300_000, 0.03))
    )
    """Probability of the action argmax(Q + tau_epsilon_boltzmann · N(0, 1)) instead of argmax(Q), by frames played."""
    tau_epsilon_boltzmann: float = Field(0.01, gt=0)
    """Scale of the Gaussian noise of the Boltzmann-ε choice, in units of Q."""
    random_action_hold_steps: float = Field(5.0, ge=1)
    """Mean number of steps an ε-random action is held (geometric); 1: one-step ε-greedy."""
    epsilon_is_step_share: bool = True
    """ε is the share of steps that are random (a held action starts with probability ε / (hold × (1 − ε) + ε));
    False: ε is the probability that a random action starts, so holds make the random share several times ε."""
    random_start_share: float = Field(0.0, ge=0, le=1)
    """Share of exploration races that start at a random place along the map (on the racing line, at a fraction of
    its speed) instead of the start line, so every part of the map is practised early (``rl/random_starts.py``).
    Their times are not laps: they fill the buffer but stay out of the race statistics. 0: every race starts on the
    start line."""
    random_start_speed: tuple[float, float] = (0.5, 1.0)
    """Start speed of those races, as a range of fractions of the racing line's speed at the start place."""

    @model_validator(mode="after")
    def _check_start_speed(self) -> ExplorationConfig:
        lo, hi = self.random_start_speed
        if not 0 <= lo <= hi <= 1.5:
            raise ValueError(f"random_start_speed must be [lo, hi] with 0 ≤ lo ≤ hi ≤ 1.5, got [{lo}, {hi}]")
        return self


class ScheduleConfig(ConfigModel):
    """Values that follow ``cumul_number_frames_played``."""

    lr_schedule: Annotated[Schedule, schedule_values("learning rate", gt=0)] = Schedule(
        points=((0, 1e-3), (1_000_000, 1e-4)), mode="exponential"
    )
    """Learning rate."""
    gamma_schedule: Annotated[Schedule, schedule_values("γ", ge=0, le=1)] = Schedule(
        points=((0, 0.999), (500_000, 1.0))
    )
    """Discount per step (may reach 1 with the mini-race horizon)."""
    tensorboard_suffix_schedule: list[tuple[int, str]] = [(0, "")]
    """``[[frames, suffix], ...]``: from these frames on, TensorBoard writes into ``<run_name><suffix>/``."""
    global_schedule_speed: float = Field(1.0, gt=0)
    """Multiplies the step of every point of every schedule."""

    @field_validator("tensorboard_suffix_schedule")
    @classmethod
    def _suffixes_in_order(cls, entries: list[tuple[int, str]]) -> list[tuple[int, str]]:
        """At least one entry, frames >= 0 and strictly increasing, suffixes without a path separator."""
        if not entries:
            raise ValueError("needs at least one [frames, suffix] entry, e.g. [[0, '']]")
        for index, (frames, suffix) in enumerate(entries):
            if frames < 0:
                raise ValueError(f"[{index}]: frames must be >= 0, got {frames}")
            if index and frames <= entries[index - 1][0]:
                raise ValueError(
                    f"frames must increase: [{index}] (frames {frames}) is not after [{index - 1}] "
                    f"(frames {entries[index - 1][0]})"
                )
            if "/" in suffix or "\\" in suffix:
                raise ValueError(f"[{index}]: a suffix cannot hold a path separator, got {suffix!r}")
        return entries


class MapCycleEntry(ConfigModel):
    """One stop of the map cycle."""

    short_name: str = Field(min_length=1)
    """Name of the map in tags and tables."""
    map: MapName
    """A built-in map's name or a reference-line ``.npy`` file."""
    reference_line_path: NonEmptyStr | None = None
    """Reference line of a real-game map; the sim uses ``map``."""
    is_exploration: bool = True
    """Explore (ε, Boltzmann) on this map; False: a greedy evaluation race."""
    fill_buffer: bool = True
    """Its transitions go into the replay buffer ("trained" map); False: "blind"."""
    repeat: int = Field(1, ge=1)
    """Races in a row before the cycle moves on."""
    limit_ms: int | None = Field(None, gt=0)
    """The map's limit (its best known lap, ms) that races are read against; None: the racing line's lap."""

    @model_validator(mode="after")
    def _short_name_is_a_tag(self) -> MapCycleEntry:
        if not self.short_name.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"short_name {self.short_name!r} may hold only letters, digits, '-' and '_'")
        return self


class MapCycleConfig(ConfigModel):
    """The maps races are driven on, in order, forever."""

    entries: list[MapCycleEntry] = [
        MapCycleEntry(short_name="sprint", map="sprint", repeat=4),
        MapCycleEntry(short_name="sprint", map="sprint", is_exploration=False),
    ]
    """Each car drives the entries in turn, ``repeat`` races each; cars start at different places of the cycle."""

    @model_validator(mode="after")
    def _not_empty(self) -> MapCycleConfig:
        if not self.entries:
            raise ValueError("map_cycle.entries must hold at least one entry")
        if not any(e.fill_buffer for e in self.entries):
            raise ValueError("no map_cycle entry has fill_buffer: true, so nothing would ever be learned from")
        return self


class PerformanceConfig(ConfigModel):
    """Processes, devices and how often weights move."""

    gpu_collectors_count: int = Field(1, ge=1)
    """Collector processes, each driving ``cars_per_collector`` simulated cars (or one game)."""
    cars_per_collector: int = Field(8, ge=1)
    """Simulated cars stepped together by one collector, with one batched inference per step."""
    update_inference_network_every_n_actions: int = Field(400, ge=1)
    """Actions (car-steps) a collector takes between pulls of the learner's latest weights."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """Learner device; auto: CUDA when present."""
    collector_device: Literal["auto", "cpu", "cuda"] = "cpu"
    """Device of the collectors' inference copies."""
    learner_threads: int = Field(1, ge=1)
    """torch CPU threads of the learner."""
    max_pending_races: int = Field(64, ge=1)
    """Finished races waiting for the learner before collectors wait, shared evenly among the collectors (at least
    one each); nothing is dropped."""
    collectors: Literal["local", "ray"] = "local"
    """Where collectors run: ``local``, processes on this machine; ``ray``, actors on a Ray cluster (the ``ray``
    extra; README, "Collectors on several machines")."""
    ray_address: str | None = None
    """With ``collectors: ray``, the cluster to join (``HOST:PORT``, or ``auto``); None: the cluster started on
    this machine by ``ray start``, or else a Ray of this machine's own for this run."""
    ray_cpus_per_collector: float = Field(1.0, gt=0)
    """CPUs a Ray collector asks for (its cars and inference run in one thread)."""

    @model_validator(mode="after")
    def _ray_settings_need_ray_collectors(self) -> PerformanceConfig:
        if self.collectors != "ray" and self.ray_address is not None:
            raise ValueError(
                f"ray_address {self.ray_address!r} is only read with collectors: ray "
                f"(collectors is {self.collectors!r})"
            )
        return self


class PlateauConfig(ConfigModel):
    """LR plateau breaker: when the best eval time stalls, raise the learning rate for a while."""

    minutes: float | None = Field(None, gt=0)
    """Minutes without a better eval time that trigger it; None: off."""
    lr_factor: float = Field(5.0, gt=0)
    """Multiplier of the scheduled learning rate while it lasts."""
    frames: int = Field(100_000, ge=1)
    """How many frames it lasts before the schedule takes over again."""


class TrainingConfig(ConfigModel):
    """When a run stops, and how often it saves."""

    max_frames: int | None = Field(None, ge=1)
    """Stop after this many frames (steps of all cars) were played and trained on: the collectors wait while the
    learner finishes the batches those frames allow at the replay ratio."""
    max_batches: int | None = Field(None, ge=1)
    """Stop after this many gradient batches."""
    max_minutes: float | None = Field(None, gt=0)
    """Stop after this many minutes of this session."""
    early_stop_minutes: float | None = Field(None, gt=0)
    """Stop when the best eval time of every map has not improved for this many minutes."""
    plateau: PlateauConfig = PlateauConfig()
    checkpoint_every_minutes: float = Field(3.0, gt=0)
    """Minutes between checkpoints (one is also written on exit)."""
    log_every_seconds: float = Field(10.0, gt=0)
    """Seconds between TensorBoard points of the training scalars."""
    test_loss_every_batches: int = Field(100, ge=1)
    """Batches between measurements of ``Training/loss_test`` on the held-out buffer."""
    pretrain_encoder_path: NonEmptyStr | None = None
    """Inject ``img_head`` from a pretraining run directory (vis or bc) or its ``encoder.pt``, when the run starts
    fresh. An encoder trained on stacked frames has its first kernels summed into one channel."""
    pretrain_float_head_path: NonEmptyStr | None = None
    """Inject ``float_feature_extractor`` from a bc run directory or its ``float_head.pt``, when the run starts
    fresh."""
    pretrain_actions_head_path: NonEmptyStr | None = None
    """Inject ``A_head`` (the 0 ms head) and the τ embedding ``iqn_fc`` it was trained behind from a bc run directory
    or its ``actions_head.pt``, when the run starts fresh."""
    pretrain_advantage_scale: float = Field(1.0, gt=0)
    """Multiplies the output layer (weight and bias) of an injected ``A_head``, from ``pretrain_actions_head_path``
    or ``pretrain_bc_heads_path``: every advantage scales, the greedy action stays. A head trained by cross-entropy
    has logits several units apart (std over the 12 actions about 3), where a trained RL network's advantages are
    about 0.01 apart without the clock shaping and 0.1 with it: unscaled, TD's targets take the maximum over logits
    and the cloned ordering is lost. ``hairpin pretrain advantage-scale`` measures both on the same frames and prints
    the scale that matches them (0.03 for the CPU study's BC head against ``cpu_vis.yaml``)."""
    pretrain_bc_heads_path: NonEmptyStr | None = None
    """Inject the whole network (every part) from a full-IQN bc run directory or its ``iqn_bc.pt``, when the run
    starts fresh. Applied first: the three part keys above then replace the parts they name."""


class PathsConfig(ConfigModel):
    """Where runs live (relative paths are relative to the current directory)."""

    runs: NonEmptyStr = "runs"
    """Parent of ``<run_name>/`` (run.json, checkpoints, best races)."""
    tensorboard: NonEmptyStr = "tensorboard"
    """Parent of the TensorBoard directories ``<run_name><suffix>/``."""


class RLConfig(ConfigModel):
    """Everything ``hairpin train`` needs."""

    run_name: str = Field("run", min_length=1)
    """Name of the run: ``runs/<run_name>/``. Running again with the same name resumes it."""
    group: NonEmptyStr | None = None
    """Variant this run belongs to (runs of one group with different seeds are aggregated by the analysis)."""
    seed: Seed = 0
    """Seed of networks, exploration, sampling and the simulator."""
    paths: PathsConfig = PathsConfig()
    env: EnvConfig = EnvConfig()
    nn: NNConfig = NNConfig()
    iqn: IQNConfig = IQNConfig()
    optimizer: OptimizerConfig = OptimizerConfig()
    memory: MemoryConfig = MemoryConfig()
    exploration: ExplorationConfig = ExplorationConfig()
    schedules: ScheduleConfig = ScheduleConfig()
    performance: PerformanceConfig = PerformanceConfig()
    map_cycle: MapCycleConfig = MapCycleConfig()
    training: TrainingConfig = TrainingConfig()
    game: GameConfig = GameConfig()

    @model_validator(mode="after")
    def _run_name_is_a_directory_name(self) -> RLConfig:
        if "/" in self.run_name or self.run_name in (".", ".."):
            raise ValueError(f"run_name {self.run_name!r} must be a plain directory name")
        return self

    @model_validator(mode="after")
    def _sections_agree(self) -> RLConfig:
        """The replay memory's step is the simulator's, and the images fit the encoder."""
        physics = self.env.physics
        env_step_ms = physics.tick_s * physics.ticks_per_step * 1000
        if abs(self.memory.step_ms - env_step_ms) > 1e-6:
            raise ValueError(
                f"memory.step_ms={self.memory.step_ms} is not the simulator's step, env.physics.tick_s × "
                f"ticks_per_step = {number_text(physics.tick_s)} s × {physics.ticks_per_step} = "
                f"{number_text(round(env_step_ms, 6))} ms"
            )
        too_small = self.nn.vis.image_too_small(self.env.image_size)
        if too_small is not None:
            raise ValueError(f"env.{too_small}")
        return self

    @model_validator(mode="after")
    def _game_fits(self) -> RLConfig:
        """With the game backend: one car per collector, a port per collector, a game map for every map."""
        if self.env.backend != "game":
            return self
        perf, game = self.performance, self.game
        if perf.cars_per_collector != 1:
            raise ValueError(
                f"env.backend: game drives one game per collector: set performance.cars_per_collector: 1 "
                f"(got {perf.cars_per_collector}) and raise gpu_collectors_count to run more games"
            )
        last_port = game.port_of(perf.gpu_collectors_count - 1)
        if last_port > 65535:
            raise ValueError(
                f"game.base_tmi_port {game.base_tmi_port} + {perf.gpu_collectors_count} collectors runs past port "
                f"65535 (collector k uses base_tmi_port + k)"
            )
        if self.exploration.random_start_share > 0:
            raise ValueError(
                "exploration.random_start_share must be 0 with env.backend: game (every game race starts on the start "
                "line)"
            )
        if game.launch.kind in ("windows", "linux"):
            missing = [e.map for e in self.map_cycle.entries if e.map not in game.maps]
            if missing:
                raise ValueError(
                    f"game.maps has no game map for {', '.join(dict.fromkeys(missing))}: give each map-cycle map its "
                    "game file, e.g. game.maps: {MAP: {path: 'My Challenges/NAME.Challenge.Gbx'}}"
                )
        return self
