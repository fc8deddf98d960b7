"""Config values are checked for meaning, not only type: ranges, finiteness, order, fit, names; empty files refused.

Every case loads a small valid file plus one meaningless value (a ``--set`` override or a YAML snippet) and
expects a ConfigError naming the file and the key; the same file without the bad value loads.
"""

from __future__ import annotations

import types
import typing
from pathlib import Path

import numpy as np
import pytest
from pydantic import BaseModel

from hairpin.config import ConfigError, load_config
from hairpin.config.memory import MemoryConfig
from hairpin.config.pretrain import BCConfig, VisConfigPretrain
from hairpin.config.rl import MapCycleEntry, RLConfig
from hairpin.config.sim import DriveConfig, EnvConfig
from hairpin.study.spec import StudySpec, load_study

CONFIGS = Path(__file__).resolve().parents[2] / "configs"

BASE_TEXT: dict[type[BaseModel], str] = {
    RLConfig: "run_name: meaning\n",
    DriveConfig: "expert:\n  noise: 0.5\n",
    VisConfigPretrain: "run_name: meaning\ndata:\n  dataset: toy\n",
    BCConfig: "run_name: meaning\ndata:\n  dataset: toy\n",
}
"""A small valid file per model; each case adds one bad value to it."""

MODELS = {"rl": RLConfig, "drive": DriveConfig, "vis": VisConfigPretrain, "bc": BCConfig}

# (model, bad value: "key=value" for --set or YAML text appended to the file, key the message names, more text)
CASES: list[tuple[str, str, str, str]] = [
    # learning rates > 0, at every point of the schedule
    ("rl", "schedules.lr_schedule=[[0, 1e-3], [1000, 0]]", "schedules.lr_schedule", "learning rate must be > 0"),
    ("rl", "schedules.lr_schedule=[[0, -1e-3]]", "schedules.lr_schedule", "points[0]"),
    ("vis", "train.lr=0", "train.lr", "must be > 0 (got 0)"),
    ("bc", "train.lr=-1e-3", "train.lr", "must be > 0"),
    # lr multipliers >= 0
    ("rl", "nn.vis.lr_mult=-1", "nn.vis.lr_mult", "must be >= 0 (got -1)"),
    ("rl", "training.plateau.lr_factor=0", "training.plateau.lr_factor", "must be > 0"),
    # probabilities and fractions in [0, 1]
    ("rl", "exploration.epsilon_schedule=[[0, 1.5]]", "exploration.epsilon_schedule", "ε must be in [0, 1]: 1.5"),
    (
        "rl",
        "exploration.epsilon_boltzmann_schedule=[[0, 0.1], [10, -0.1]]",
        "exploration.epsilon_boltzmann_schedule",
        "[0, 1]",
    ),
    ("rl", "memory.prio_alpha=1.5", "memory.prio_alpha", "must be in [0, 1] (got 1.5)"),
    ("rl", "memory.prio_beta=-0.1", "memory.prio_beta", "must be in [0, 1]"),
    ("rl", "memory.buffer_test_ratio=1", "memory.buffer_test_ratio", "must be in [0, 1)"),
    ("rl", "optimizer.betas=[0.9, 1.0]", "optimizer.betas[1]", "must be in [0, 1) (got 1.0)"),
    ("bc", "dropout=1.0", "dropout", "must be in [0, 1)"),
    ("bc", "action_head_dropout=-0.1", "action_head_dropout", "[0, 1)"),
    ("vis", "data.validation_fraction=1", "data.validation_fraction", "must be in (0, 1)"),
    ("drive", "expert.noise=1.5", "expert.noise", "must be in [0, 1]"),
    ("drive", "env.physics.wall_restitution=2", "env.physics.wall_restitution", "in [0, 1]"),
    # discounts in [0, 1]
    ("rl", "schedules.gamma_schedule=[[0, 0.99], [100, 1.01]]", "schedules.gamma_schedule", "points[1]"),
    ("bc", "gamma=1.5", "gamma", "must be in (0, 1]"),
    # seeds >= 0 (and within what numpy and torch take)
    ("rl", "seed=-1", "seed", "must be in [0, 4294967295] (got -1)"),
    ("rl", "seed=4294967296", "seed", "(got 4294967296)"),
    ("vis", "seed=-5", "seed", "[0, 4294967295]"),
    # counts and sizes >= 1
    ("rl", "iqn.batch_size=0", "iqn.batch_size", "must be >= 1 (got 0)"),
    ("rl", "iqn.n_quantiles=0", "iqn.n_quantiles", ">= 1"),
    ("rl", "memory.n_steps=0", "memory.n_steps", ">= 1"),
    ("rl", "performance.gpu_collectors_count=0", "performance.gpu_collectors_count", ">= 1"),
    ("rl", "performance.cars_per_collector=0", "performance.cars_per_collector", ">= 1"),
    ("rl", "memory.memory_min_size=0", "memory.memory_min_size", ">= 1"),
    ("rl", "memory.memory_size_schedule=[[0, 0]]", "memory.memory_size_schedule", "must be >= 1: 0 at points[0]"),
    ("rl", "env.image_size=0", "env.image_size", "must be in [16, 512]"),
    ("vis", "train.epochs=0", "train.epochs", ">= 1"),
    ("bc", "train.batch_size=0", "train.batch_size", ">= 1"),
    ("rl", "nn.vis.strides=[2, 2, 2, 0]", "nn.vis.strides[3]", "must be > 0"),
    # durations > 0
    ("rl", "training.max_minutes=0", "training.max_minutes", "must be > 0 (got 0)"),
    ("rl", "training.checkpoint_every_minutes=-1", "training.checkpoint_every_minutes", "> 0"),
    ("rl", "schedules.global_schedule_speed=0", "schedules.global_schedule_speed", "> 0"),
    ("drive", "env.physics.tick_s=0", "env.physics.tick_s", "> 0"),
    # every float finite: rewards and the rest
    ("rl", "env.reward.per_ms=.nan", "env.reward.per_ms", "finite"),
    ("rl", "env.reward.finish_bonus=.inf", "env.reward.finish_bonus", "finite"),
    ("rl", "training.plateau.minutes=.inf", "training.plateau.minutes", "finite"),
    ("rl", "env.physics.gear_speeds=[0, .nan]", "env.physics.gear_speeds[1]", "finite"),
    ("drive", "env.camera.fov_deg=.nan", "env.camera.fov_deg", "(got nan)"),
    ("vis", "vae_beta=-.inf", "vae_beta", "finite"),
    ("rl", "schedules.lr_schedule=[[0, .nan]]", "schedules.lr_schedule.points[0][1]", "finite"),
    # order
    ("rl", "schedules.tensorboard_suffix_schedule=[[100, a], [50, b]]", "tensorboard_suffix_schedule", "[1]"),
    ("rl", "schedules.tensorboard_suffix_schedule=[[0, a/b]]", "tensorboard_suffix_schedule", "path separator"),
    ("drive", "env.physics.gear_speeds=[0, 20, 10]", "env.physics.gear_speeds", "[2] = 10"),
    # the map cycle: names that resolve, a repeat >= 1
    ("rl", "map_cycle.entries=[{short_name: a, map: nowhere}]", "map_cycle.entries[0].map", "unknown map 'nowhere'"),
    ("rl", "map_cycle.entries=[{short_name: a, map: sprint, repeat: 0}]", "map_cycle.entries[0].repeat", ">= 1"),
    ("rl", "map_cycle.entries=[{short_name: a, map: gone.npy}]", "map_cycle.entries[0].map", "'gone.npy' does not"),
    ("rl", "env.map=Sprint", "env.map", "unknown map 'Sprint'"),
    ("drive", "env.map=nowhere.txt", "env.map", "not a built-in map (sprint, grand-tour, technical)"),
    # sections that must agree
    ("rl", "memory.step_ms=100", "memory.step_ms", "env.physics.tick_s"),
    ("rl", "memory.mini_race_oversample_zero_steps=6", "mini_race_oversample_zero_steps", "more than half"),
    ("rl", "memory.shaping_min_m=30", "shaping_min_m", "below shaping_max_m"),
    # Linesight's options within their meaning
    ("rl", "memory.shaping_per_m_from_line=0.1", "memory.shaping_per_m_from_line", "<= 0"),
    ("rl", "iqn.target_self_loss_clamp_ratio=0.5", "iqn.target_self_loss_clamp_ratio", ">= 1"),
    ("rl", "env.image_size=16", "env.image_size", "too small for nn.vis"),
    ("vis", "image_size=20", "image_size", "too small for nn.vis"),
    # names and paths that cannot be empty or repeated
    ("rl", "paths.runs=''", "paths.runs", "at least 1 character"),
    ("rl", "training.pretrain_encoder_path=''", "training.pretrain_encoder_path", "at least 1 character"),
    ("bc", "data.validation_maps=[gen-1, gen-1]", "data.validation_maps", "gen-1"),
    # small YAML files instead of overrides
    ("rl", "exploration:\n  epsilon_schedule: [[0, 1.0], [1000, 2.0]]\n", "exploration.epsilon_schedule", "2 at"),
    ("rl", "memory:\n  prio_alpha: .nan\n", "memory.prio_alpha", "finite"),
    ("drive", "env:\n  reward:\n    per_m_advanced: -.inf\n", "env.reward.per_m_advanced", "finite"),
    ("bc", "td_n_steps: 0\n", "td_n_steps", ">= 1"),
]


def _base_file(tmp_path: Path, model: type[BaseModel], extra: str = "") -> Path:
    path = tmp_path / "cfg.yaml"
    path.write_text(BASE_TEXT[model] + extra, encoding="utf-8")
    return path


@pytest.mark.parametrize("model", list(BASE_TEXT))
def test_the_base_files_load(tmp_path: Path, model: type[BaseModel]) -> None:
    load_config(model, _base_file(tmp_path, model))


@pytest.mark.parametrize(("name", "bad", "key", "text"), CASES, ids=[f"{case[0]}:{case[1]}" for case in CASES])
def test_meaningless_value_is_refused_naming_file_and_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, bad: str, key: str, text: str
) -> None:
    monkeypatch.chdir(tmp_path)  # relative map files resolve here, where none exists
    model = MODELS[name]
    override = "=" in bad and "\n" not in bad
    path = _base_file(tmp_path, model, "" if override else bad)
    with pytest.raises(ConfigError) as caught:
        load_config(model, path, [bad] if override else [])
    message = str(caught.value)
    assert message.startswith(f"{path}: "), message
    assert key in message, message
    assert text in message, message
    assert "\n" not in message, message  # one fault, one line
    if override and message.startswith(f"{path}: '{bad.partition('=')[0]}"):
        assert "(from --set)" in message, message


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 25
    assert {case[0] for case in CASES} == set(MODELS)


def _float_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Dotted keys of every plain float field (``float`` or ``float | None``) of ``model`` and its sections."""
    keys = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        args = [arg for arg in typing.get_args(annotation) if arg is not types.NoneType]
        if annotation is float or (
            args == [float] and typing.get_origin(annotation) in (typing.Union, types.UnionType)
        ):
            keys.append(prefix + name)
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys += _float_keys(annotation, f"{prefix}{name}.")
    return keys


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("bad", [".nan", ".inf", "-.inf"])
def test_every_float_refuses_nan_and_inf(tmp_path: Path, name: str, bad: str) -> None:
    model = MODELS[name]
    path = _base_file(tmp_path, model)
    keys = _float_keys(model)
    assert len(keys) > (10 if name in ("rl", "drive") else 5), keys
    accepted = []
    for key in keys:
        try:
            load_config(model, path, [f"{key}={bad}"])
        except ConfigError as error:
            assert f"'{key}' (from --set): must be a finite number" in str(error)
        else:
            accepted.append(key)
    assert not accepted


def test_every_float_refuses_nan_when_built_in_python() -> None:
    with pytest.raises(ValueError, match="finite"):
        EnvConfig(start_noise=float("nan"))


# --- empty files ------------------------------------------------------------------------------------------------


EMPTY_FILES = [("", "is empty"), ("# only a comment\n\n# and another\n", "holds only comments")]


@pytest.mark.parametrize(("text", "what"), EMPTY_FILES)
@pytest.mark.parametrize("model", [RLConfig, DriveConfig, BCConfig])
def test_empty_or_comment_only_file_is_refused_naming_it(
    tmp_path: Path, model: type[BaseModel], text: str, what: str
) -> None:
    path = tmp_path / "blank.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(model, path)
    message = str(caught.value)
    assert message.startswith(f"{path}: the config file {what}"), message
    assert "{}" in message  # the way out: an explicit empty mapping


def test_empty_base_file_is_refused_naming_the_base(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text("", encoding="utf-8")
    child = tmp_path / "child.yaml"
    child.write_text("_base_: base.yaml\nrun_name: x\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"base\.yaml: the config file is empty"):
        load_config(RLConfig, child)


def test_an_explicit_empty_mapping_still_means_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "defaults.yaml"
    path.write_text("{}  # every default\n", encoding="utf-8")
    assert load_config(DriveConfig, path) == DriveConfig()


@pytest.mark.parametrize(("text", "kind"), [("- a\n- b\n", "list"), ("42\n", "int"), ("just words\n", "str")])
def test_a_file_of_a_list_or_scalar_is_still_refused(tmp_path: Path, text: str, kind: str) -> None:
    path = tmp_path / "odd.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"odd\.yaml: a config file must hold a mapping of keys, got {kind}"):
        load_config(RLConfig, path)


# --- schedule order -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "points", "named"),
    [
        (
            "schedules.lr_schedule",
            "[[0, 1e-3], [1000, 1e-4], [500, 1e-5]]",
            "points[2] (step 500) is not after points[1]",
        ),
        ("schedules.gamma_schedule", "[[0, 0.9], [0, 0.99]]", "points[1] (step 0) is not after points[0] (step 0)"),
        ("exploration.epsilon_schedule", "[[10, 1.0], [20, 0.5], [30, 0.1], [25, 0.0]]", "points[3] (step 25)"),
        ("memory.memory_size_schedule", "[[0, 50000], [-1, 60000]]", "points[1] (step -1)"),
    ],
)
def test_out_of_order_schedule_names_the_point(tmp_path: Path, key: str, points: str, named: str) -> None:
    path = _base_file(tmp_path, RLConfig)
    with pytest.raises(ConfigError) as caught:
        load_config(RLConfig, path, [f"{key}={points}"])
    message = str(caught.value)
    assert message.startswith(f"{path}: '{key}' (from --set): schedule steps must increase"), message
    assert named in message, message


# --- memory_min_size within the buffer ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "smallest"),
    [("[[0, 1000], [100, 3000]]", 1000), ("[[0, 50000], [1000, 4000], [2000, 80000]]", 4000)],
)
def test_memory_min_size_above_the_smallest_capacity_is_refused(tmp_path: Path, schedule: str, smallest: int) -> None:
    path = _base_file(tmp_path, RLConfig)
    with pytest.raises(ConfigError) as caught:
        load_config(
            RLConfig, path, [f"memory.memory_size_schedule={schedule}", f"memory.memory_min_size={smallest + 1}"]
        )
    message = str(caught.value)
    assert message.startswith(f"{path}: 'memory.memory_min_size' (from --set): must be <= the smallest"), message
    assert f"{smallest} transitions" in message and f"(got {smallest + 1})" in message
    # at the smallest capacity itself it fits
    cfg = load_config(RLConfig, path, [f"memory.memory_size_schedule={schedule}", f"memory.memory_min_size={smallest}"])
    assert cfg.memory.memory_min_size == smallest


def test_default_memory_min_size_against_a_small_buffer_is_refused() -> None:
    with pytest.raises(ValueError, match="memory_min_size"):
        MemoryConfig(memory_size_schedule=[[0, 10_000]])  # type: ignore[arg-type]  # default min size is 20,000


# --- map files ----------------------------------------------------------------------------------------------------


def test_an_existing_map_file_loads_and_a_missing_one_is_refused_at_load_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    np.save(tmp_path / "here.npy", np.zeros((3, 3)))  # existence is checked, not the contents
    path = _base_file(tmp_path, RLConfig)
    entries = "map_cycle.entries=[{short_name: a, map: here.npy}, {short_name: b, map: technical, repeat: 2}]"
    cfg = load_config(RLConfig, path, [entries, "env.map=here.npy"])
    assert [entry.map for entry in cfg.map_cycle.entries] == ["here.npy", "technical"]
    with pytest.raises(ConfigError, match=r"'map_cycle\.entries\[1\]\.map' \(from --set\): map file 'gone\.npy'"):
        load_config(
            RLConfig, path, ["map_cycle.entries=[{short_name: a, map: here.npy}, {short_name: b, map: gone.npy}]"]
        )


def test_a_stored_config_naming_a_moved_map_file_still_validates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    entry = MapCycleEntry.model_validate({"short_name": "a", "map": "moved.npy"})  # a run's stored copy: no file check
    assert entry.map == "moved.npy"
    with pytest.raises(ValueError, match="unknown map 'moved'"):
        MapCycleEntry.model_validate({"short_name": "a", "map": "moved"})  # a name is still checked


# --- every shipped config -----------------------------------------------------------------------------------------

SHIPPED_MODELS: dict[str, type[BaseModel]] = {
    "rl": RLConfig,
    "sim": DriveConfig,
    "pretrain/vis": VisConfigPretrain,
    "pretrain/bc": BCConfig,
    "studies": StudySpec,
}
"""The model of each folder of configs/; configs/experiments.yaml is the analysis registry, not a config."""

NOT_CONFIGS = {"experiments.yaml"}


def _shipped_model(relative: Path) -> type[BaseModel] | None:
    for folder, model in SHIPPED_MODELS.items():
        if relative.as_posix().startswith(folder + "/"):
            return model
    return None


SHIPPED = sorted(p.relative_to(CONFIGS) for p in CONFIGS.rglob("*.yaml") if p.name not in NOT_CONFIGS)


def test_every_shipped_yaml_has_a_model() -> None:
    assert len(SHIPPED) >= 25
    assert [str(p) for p in SHIPPED if _shipped_model(p) is None] == []
    assert {p.name for p in CONFIGS.glob("*.yaml")} <= NOT_CONFIGS


@pytest.mark.parametrize("relative", SHIPPED, ids=str)
def test_every_shipped_config_loads(relative: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(CONFIGS.parent)  # the repository root, where the commands run
    model = _shipped_model(relative)
    assert model is not None
    if model is StudySpec:
        load_study(CONFIGS / relative)  # its config paths are relative to the study file
    else:
        load_config(model, CONFIGS / relative)
