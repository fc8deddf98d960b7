"""Config models of the built-in simulator: physics, camera, reward, episode cut-offs, expert driver."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator

from hairpin.config.base import ConfigModel, check_files
from hairpin.config.game import GameConfig

__all__ = [
    "CameraConfig",
    "DriveConfig",
    "EnvConfig",
    "ExpertConfig",
    "MapName",
    "PhysicsConfig",
    "RacingLineConfig",
    "RewardConfig",
    "check_map_name",
]


def check_map_name(value: str, info: ValidationInfo) -> str:
    """A built-in map's name, or a reference-line file, as ``hairpin.sim.maps.load_map`` resolves them.

    Only the name is looked at (the built-in table, a ``.npy`` suffix, an existing path), never the map itself. When
    ``load_config`` reads a config file it also asks that a file-named map exist; a stored copy of an old run's or
    dataset's config is not refused for a file moved since.
    """
    from hairpin.sim.maps import BUILTIN_MAPS  # the name table only: no map is built

    if value in BUILTIN_MAPS:
        return value
    path = Path(value)
    if path.suffix != ".npy" and not path.exists():
        raise ValueError(
            f"unknown map {value!r}: not a built-in map ({', '.join(BUILTIN_MAPS)}) nor a .npy reference-line file"
        )
    if check_files(info) and not path.is_file():
        raise ValueError(
            f"map file {value!r} does not exist (relative paths are read from the current directory, {Path.cwd()})"
        )
    return value


MapName = Annotated[str, Field(min_length=1), AfterValidator(check_map_name)]
"""A built-in map's name or a reference-line ``.npy`` file."""


class PhysicsConfig(ConfigModel):
    """Car and road constants. Accelerations are in m/s², speeds in m/s, angles in radians."""

    tick_s: float = Field(0.01, gt=0)
    """Length of one physics tick (Trackmania runs at 100 Hz)."""
    ticks_per_step: int = Field(5, ge=1)
    """Ticks one decision is held for: 5 × 10 ms = 50 ms, 20 decisions per second."""
    engine_accel: float = Field(12.0, gt=0)
    """Largest forward acceleration from the engine, reached at low speed."""
    engine_power: float = Field(520.0, gt=0)
    """Engine power per unit mass (m²/s³): acceleration is min(engine_accel, engine_power / speed)."""
    drag: float = Field(0.00095, ge=0)
    """Air drag coefficient per unit mass (1/m): deceleration drag × v². With the engine, top speed ≈ 80 m/s."""
    rolling_resistance: float = Field(0.3, ge=0)
    """Constant deceleration while rolling."""
    brake_accel: float = Field(22.0, gt=0)
    """Deceleration of the brakes."""
    reverse_accel: float = Field(6.0, gt=0)
    """Acceleration backwards when braking from (almost) standstill with no throttle."""
    reverse_max_speed: float = Field(15.0, gt=0)
    """Top speed in reverse."""
    grip: float = Field(30.0, gt=0)
    """Lateral acceleration the tyres can hold on tarmac before they slide."""
    brake_grip_factor: float = Field(0.45, gt=0, le=1)
    """Fraction of the lateral grip left while braking: braking into a turn makes the car drift."""
    oversteer: float = Field(1.15, ge=1)
    """Yaw rate allowed beyond what grip holds (× grip / speed); above 1 the car slides when pushed."""
    brake_oversteer: float = Field(1.6, ge=1)
    """The same while braking."""
    wheelbase_m: float = Field(2.8, gt=0)
    """Distance between the axles; sets the yaw rate of a given steering angle."""
    max_steer_rad: float = Field(0.55, gt=0)
    """Steering angle at standstill."""
    steer_falloff_speed: float = Field(22.0, gt=0)
    """Speed at which the steering angle has shrunk to half (speed-dependent steering)."""
    yaw_response_s: float = Field(0.06, gt=0)
    """Time constant with which the yaw rate follows the steering."""
    slide_threshold: float = Field(1.5, gt=0)
    """Lateral speed above which the wheels count as sliding."""
    slide_scrub: float = Field(0.6, ge=0)
    """Forward speed lost per second per m/s of lateral speed while sliding."""
    gravity: float = Field(9.81, gt=0)
    """Pulls the car back on slopes."""
    wall_restitution: float = Field(0.1, ge=0, le=1)
    """Fraction of the speed into a wall that bounces back."""
    wall_friction: float = Field(0.5, ge=0)
    """Speed along the wall lost per m/s of speed into it."""
    wall_align: float = Field(0.15, ge=0, le=1)
    """Fraction of the angle between the heading and the wall turned away per tick of contact: a car scraping a
    wall swings parallel to it, as in Trackmania, instead of pinning itself. 0: no turn; a head-on car never turns."""
    car_half_width_m: float = Field(1.0, gt=0)
    """Half the car's width: how close its centre gets to a wall."""
    gear_speeds: tuple[float, ...] = (0.0, 13.0, 25.0, 38.0, 52.0)
    """Speeds at which gears 1–5 begin (for the gear and rpm floats)."""
    max_rpm: float = Field(11000.0, gt=0)
    """Engine rpm at the top of each gear."""

    @field_validator("gear_speeds")
    @classmethod
    def _gears_in_order(cls, speeds: tuple[float, ...]) -> tuple[float, ...]:
        """At least one gear, speeds >= 0 and strictly increasing."""
        if not speeds:
            raise ValueError("needs at least one gear speed")
        if speeds[0] < 0:
            raise ValueError(f"gear speeds must be >= 0: {speeds[0]:g} at [0]")
        for index in range(1, len(speeds)):
            if speeds[index] <= speeds[index - 1]:
                raise ValueError(
                    f"gear speeds must increase: [{index}] = {speeds[index]:g} is not above [{index - 1}] = "
                    f"{speeds[index - 1]:g}"
                )
        return speeds


class CameraConfig(ConfigModel):
    """Chase camera looking at the road ahead of the car."""

    height_m: float = Field(4.0, gt=0)
    """Camera height above the road."""
    back_m: float = Field(7.0, ge=0)
    """Distance of the camera behind the car's centre."""
    pitch_deg: float = Field(18.0, gt=0, lt=90)
    """Downward tilt of the optical axis."""
    fov_deg: float = Field(90.0, gt=10, lt=170)
    """Horizontal field of view."""
    view_m: float = Field(160.0, gt=10)
    """Road further than this along the line is not drawn."""


class RewardConfig(ConfigModel):
    """Reward terms; the defaults are the usual Trackmania ones."""

    per_ms: float = -6 / 5000
    """Constant reward for each millisecond of race time."""
    per_m_advanced: float = 5 / 500
    """Reward per metre advanced along the reference line (negative when driving backwards)."""
    per_wall_contact_s: float = 0.0
    """Optional shaping: reward per second spent touching a wall (set negative to penalise)."""
    finish_bonus: float = 0.0
    """Optional shaping: reward when the finish is crossed."""


class EnvConfig(ConfigModel):
    """Everything one simulated race needs."""

    backend: Literal["sim", "game"] = "sim"
    """Who runs the races: ``sim``, the built-in simulator; ``game``, Trackmania through TMInterface 2 (or its
    emulator), set up in the ``game`` section of an RL config. ``sim drive`` and demo recording always use the sim."""
    map: MapName = "sprint"
    """A built-in map's name or a reference-line ``.npy`` file."""
    image_size: int = Field(64, ge=16, le=512)
    """Height and width of the agent's grayscale image."""
    human_size: int = Field(256, ge=32, le=1024)
    """Height and width of the RGB frame of ``render()``."""
    road_half_width_m: float | None = Field(None, gt=1)
    """Road half-width in metres; None: the map's own (8 m for reference-line files)."""
    n_prev_actions: int = Field(5, ge=0)
    """Previous actions included in the floats."""
    n_ref_points: int = Field(40, ge=1)
    """Reference-line points ahead included in the floats."""
    reference_line: Literal["centre", "racing"] = "centre"
    """The line those points lie on: ``centre``, the road's centre line; ``racing``, the map's racing line (its
    offset from the centre line, ``hairpin.sim.racing_line``, computed once per map and cached). Progress, reward and
    the zone tracker stay on the centre line either way."""
    ref_point_spacing_m: float = Field(10.0, gt=0)
    """Distance between those points."""
    finish_distance_cap_m: float = Field(700.0, gt=0)
    """Distance to finish is reported up to this value."""
    no_progress_cutoff_s: float = Field(2.0, gt=0)
    """Truncate the episode when the best progress has not grown for this long."""
    time_limit_s: float | None = Field(None, gt=0)
    """Truncate the race after this long; None: 20 s plus the map's length at 8 m/s."""
    start_noise: float = Field(0.0, ge=0)
    """Random start offset: lateral offset up to start_noise × 2 m and heading up to start_noise × 0.1 rad."""
    physics: PhysicsConfig = PhysicsConfig()
    camera: CameraConfig = CameraConfig()
    reward: RewardConfig = RewardConfig()

    @model_validator(mode="after")
    def _game_can_do_it(self) -> EnvConfig:
        """The game starts every race from the map's saved start and reports no wall contact."""
        if self.backend == "game":
            if self.reference_line != "centre":
                raise ValueError(
                    "reference_line must be centre with backend: game (the game's floats follow the map's "
                    "reference-line file: for a racing line, give the map as a line recorded from a fast run)"
                )
            if self.start_noise:
                raise ValueError("start_noise must be 0 with backend: game (every race starts from the map's start)")
            if self.reward.per_wall_contact_s:
                raise ValueError(
                    "reward.per_wall_contact_s must be 0 with backend: game (the game reports no wall contact)"
                )
            tick = self.physics.tick_s
            if tick != 0.01:
                raise ValueError(
                    f"physics.tick_s must be 0.01 with backend: game (the game ticks every 10 ms), not {tick}"
                )
        return self


class ExpertConfig(ConfigModel):
    """The expert driver: a speed profile from curvature and grip, tracked through the 12 actions."""

    grip_use: float = Field(0.9, gt=0, le=1.5)
    """Fraction of the car's grip the speed profile plans to use in turns."""
    brake_use: float = Field(0.8, gt=0, le=1)
    """Fraction of the brakes the speed profile plans to use."""
    lookahead_s: float = Field(0.35, gt=0)
    """Pure-pursuit look-ahead time; the steering aims at the line this far ahead."""
    lookahead_min_m: float = Field(4.0, gt=0)
    """Shortest look-ahead distance."""
    yaw_rate_band: float = Field(0.02, ge=0)
    """Yaw-rate errors (rad/s) within which the expert does not steer."""
    speed_margin: float = Field(0.5, ge=0)
    """Coast within this many m/s above the target speed; brake above it."""
    noise: float = Field(0.0, ge=0, le=1)
    """0: the same precise lap every time; 1: a varied, human-like driver (speed, line, late inputs)."""
    decide_every_tick: bool = True
    """Change inputs every 10 ms tick, as a person can; False: hold each decision for a whole step."""


class RacingLineConfig(ConfigModel):
    """The racing line (``hairpin.sim.racing_line``): how its candidates are made and how hard it is driven."""

    grip_uses: tuple[float, ...] = Field((1.0, 1.05, 1.1), min_length=1)
    """Fractions of the car's grip the line's speed profile plans to use in turns; one driven lap each. Above 1
    the plan is a target the search trims where the car cannot hold it."""
    brake_use: float = Field(1.0, gt=0, le=1)
    """Fraction of the brakes the speed profile plans to use."""
    margins_m: tuple[float, ...] = Field((0.5, 1.0, 2.0), min_length=1)
    """Room kept between the car and the walls; a wider margin is tried only when no line of the narrower finished."""
    length_weights: tuple[float, ...] = Field((0.0005, 0.001, 0.002, 0.003), min_length=1)
    """Weights of the path length (per metre) beside its bending (∫ κ² ds); one candidate line each, the fastest
    driven lap wins. 0 is the minimum-curvature line; about 0.03 already cuts corners too much."""
    cache: bool = True
    """Keep computed lines on disk (``$HAIRPIN_CACHE`` or ``~/.cache/hairpin``), keyed by the map and these settings."""

    horizon_s: float = Field(2.0, gt=0, le=10)
    """How far the driver's search plays out each candidate start (long enough to brake from top speed)."""
    held_actions_only: bool = False
    """Drive as an agent must: one of the 12 actions held for each whole 50 ms step. False: the search may also
    start with the tracker's own inputs, which can change keys between the step's 10 ms ticks."""

    @field_validator("margins_m", "length_weights")
    @classmethod
    def _non_negative(cls, values: tuple[float, ...]) -> tuple[float, ...]:
        if any(not v >= 0 for v in values):
            raise ValueError(f"values must be >= 0, got {values}")
        return values

    @field_validator("grip_uses")
    @classmethod
    def _positive(cls, values: tuple[float, ...]) -> tuple[float, ...]:
        if any(not 0 < v <= 1.5 for v in values):
            raise ValueError(f"grip uses must lie in (0, 1.5], got {values}")
        return values


class DriveConfig(ConfigModel):
    """Config file of ``hairpin sim drive``, ``hairpin sim maps`` and ``hairpin demos record``."""

    driver: Literal["expert", "line"] = "expert"
    """Who drives: ``expert`` (the centre line at a steady pace) or ``line`` (the racing line: the map's limit)."""
    env: EnvConfig = EnvConfig()
    expert: ExpertConfig = ExpertConfig()
    racing_line: RacingLineConfig = RacingLineConfig()
    game: GameConfig = GameConfig()
    """How to reach and launch the game when ``env.backend`` is ``game`` (``demos record --input-script``)."""
