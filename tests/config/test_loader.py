"""Tests of hairpin.config.loader: _base_ inheritance, --set overrides, named errors, dump/load round trip."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import Field

from hairpin.config import (
    ConfigError,
    ConfigModel,
    EnvConfig,
    Schedule,
    apply_overrides,
    dump_config,
    load_config,
    load_yaml_tree,
    save_config,
)


class OptimiserConfig(ConfigModel):
    """Test-local section with a schedule and a tuple."""

    lr_schedule: Schedule = Schedule(points=((0, 1e-3),))
    betas: tuple[float, float] = (0.9, 0.999)
    clip: float = Field(10.0, gt=0)


class TrainConfig(ConfigModel):
    """Test-local root model: a nested real section plus a test section."""

    env: EnvConfig = EnvConfig()
    optimiser: OptimiserConfig = OptimiserConfig()
    seeds: tuple[int, ...] = (0,)


def write(path: Path, text: str) -> Path:
    """Write a YAML file (creating its folder) and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_loads_a_file_into_the_model(tmp_path: Path) -> None:
    path = write(tmp_path / "env.yaml", "map: technical\nphysics:\n  grip: 25\n")
    cfg = load_config(EnvConfig, path)
    assert cfg.map == "technical"
    assert cfg.physics.grip == 25.0
    assert cfg.physics.drag == EnvConfig().physics.drag


def test_no_file_gives_defaults() -> None:
    assert load_config(EnvConfig, None) == EnvConfig()


def test_explicit_empty_mapping_gives_defaults(tmp_path: Path) -> None:
    assert load_config(EnvConfig, write(tmp_path / "empty.yaml", "{}\n")) == EnvConfig()


def test_scientific_notation_without_dot_is_a_float(tmp_path: Path) -> None:
    tree = load_yaml_tree(write(tmp_path / "a.yaml", "x: 1e-3\ny: 5E2\nz: 1.5e+1\nname: e5\n"))
    assert tree == {"x": 1e-3, "y": 500.0, "z": 15.0, "name": "e5"}


def test_unknown_key_names_key_file_and_suggestion(tmp_path: Path) -> None:
    path = write(tmp_path / "configs" / "env.yaml", "mapp: sprint\n")
    with pytest.raises(ConfigError) as caught:
        load_config(EnvConfig, path)
    assert str(caught.value) == f"{path}: unknown key 'mapp' (did you mean 'map'?)"


def test_nested_unknown_key_is_dotted_with_suggestion(tmp_path: Path) -> None:
    path = write(tmp_path / "env.yaml", "physics:\n  grip_x: 3\n")
    with pytest.raises(ConfigError, match=r"env\.yaml: unknown key 'physics\.grip_x'") as caught:
        load_config(EnvConfig, path)
    assert "did you mean 'physics.grip'?" in str(caught.value)


def test_unknown_key_without_close_match_has_no_suggestion(tmp_path: Path) -> None:
    path = write(tmp_path / "env.yaml", "camera:\n  zzzzzz: 1\n")
    with pytest.raises(ConfigError) as caught:
        load_config(EnvConfig, path)
    assert str(caught.value) == f"{path}: unknown key 'camera.zzzzzz'"


def test_bad_value_names_key_and_problem(tmp_path: Path) -> None:
    path = write(tmp_path / "env.yaml", "physics:\n  grip: -1\n")
    with pytest.raises(ConfigError) as caught:
        load_config(EnvConfig, path)
    message = str(caught.value)
    assert message.startswith(f"{path}: 'physics.grip': must be > 0 (got -1)")
    assert "(from --set)" not in message


def test_every_error_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path / "env.yaml", "image_size: 8\nphysics:\n  grp: 1\n")
    with pytest.raises(ConfigError) as caught:
        load_config(EnvConfig, path)
    lines = str(caught.value).splitlines()
    assert len(lines) == 2
    assert all(line.startswith(f"{path}: ") for line in lines)


def test_base_is_merged_under_the_child(tmp_path: Path) -> None:
    write(tmp_path / "base.yaml", "map: sprint\nimage_size: 32\nphysics:\n  grip: 20\n  drag: 0.001\n")
    child = write(tmp_path / "child.yaml", "_base_: base.yaml\nimage_size: 64\nphysics:\n  grip: 25\n")
    cfg = load_config(EnvConfig, child)
    assert (cfg.map, cfg.image_size, cfg.physics.grip, cfg.physics.drag) == ("sprint", 64, 25.0, 0.001)


def test_base_path_is_relative_to_the_including_file(tmp_path: Path) -> None:
    write(tmp_path / "common" / "root.yaml", "x: 1\n")
    write(tmp_path / "common" / "mid.yaml", "_base_: root.yaml\ny: 2\n")
    child = write(tmp_path / "rl" / "run.yaml", "_base_: ../common/mid.yaml\nz: 3\n")
    assert load_yaml_tree(child) == {"x": 1, "y": 2, "z": 3}


def test_lists_replace_and_list_of_bases_merges_in_order(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", "seeds: [1, 2, 3]\nsection:\n  a: 1\n  b: 1\n")
    write(tmp_path / "b.yaml", "seeds: [4]\nsection:\n  b: 2\n  c: 2\n")
    child = write(tmp_path / "child.yaml", "_base_: [a.yaml, b.yaml]\nsection:\n  c: 3\n")
    assert load_yaml_tree(child) == {"seeds": [4], "section": {"a": 1, "b": 2, "c": 3}}


def test_base_cycle_is_an_error(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", "_base_: b.yaml\n")
    write(tmp_path / "b.yaml", "_base_: a.yaml\n")
    with pytest.raises(ConfigError, match="_base_ cycle") as caught:
        load_yaml_tree(tmp_path / "a.yaml")
    assert "a.yaml" in str(caught.value) and "b.yaml" in str(caught.value)


def test_self_base_is_a_cycle(tmp_path: Path) -> None:
    path = write(tmp_path / "self.yaml", "_base_: self.yaml\n")
    with pytest.raises(ConfigError, match="cycle"):
        load_yaml_tree(path)


def test_missing_base_names_the_including_file(tmp_path: Path) -> None:
    path = write(tmp_path / "child.yaml", "_base_: nowhere.yaml\n")
    with pytest.raises(ConfigError, match=r"nowhere\.yaml.*child\.yaml"):
        load_yaml_tree(path)


def test_non_mapping_file_is_an_error_naming_it(tmp_path: Path) -> None:
    path = write(tmp_path / "list.yaml", "- 1\n- 2\n")
    with pytest.raises(ConfigError, match=r"list\.yaml: .*mapping"):
        load_yaml_tree(path)


def test_invalid_yaml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "broken.yaml", "a: [1, 2\n")
    with pytest.raises(ConfigError, match=r"broken\.yaml: invalid YAML"):
        load_yaml_tree(path)


def test_overrides_parse_yaml_values_and_create_sections() -> None:
    tree = {"env": {"map": "sprint"}}
    result = apply_overrides(
        tree,
        [
            "env.physics.grip=1e-3",
            "env.map=hockolicious",
            "flag=true",
            "seeds=[1,2]",
            "lr=[[0, 1.0], [1000, 0.1]]",
            "url=a=b",
        ],
    )
    assert result == {
        "env": {"map": "hockolicious", "physics": {"grip": 1e-3}},
        "flag": True,
        "seeds": [1, 2],
        "lr": [[0, 1.0], [1000, 0.1]],
        "url": "a=b",
    }
    assert tree == {"env": {"map": "sprint"}}


@pytest.mark.parametrize("override", ["no_equals", "=1", "a..b=1", "a.=1"])
def test_malformed_override_is_an_error_naming_it(override: str) -> None:
    with pytest.raises(ConfigError, match=f"override '{override}'"):
        apply_overrides({}, [override])


def test_override_through_a_value_is_an_error() -> None:
    with pytest.raises(ConfigError, match="'map' holds 'sprint', not a mapping"):
        apply_overrides({"map": "sprint"}, ["map.x=1"])


def test_overrides_win_over_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "train.yaml", "env:\n  physics:\n    grip: 20\n")
    cfg = load_config(TrainConfig, path, ["env.physics.grip=35", "optimiser.betas=[0.5, 0.9]"])
    assert cfg.env.physics.grip == 35.0
    assert cfg.optimiser.betas == (0.5, 0.9)


def test_schedule_valued_overrides(tmp_path: Path) -> None:
    path = write(tmp_path / "train.yaml", "optimiser:\n  lr_schedule: [[0, 1e-3], [100, 1e-4]]\n")
    cfg = load_config(TrainConfig, path, ["optimiser.lr_schedule=[[0, 1e-2], [1000, 1e-3]]"])
    assert cfg.optimiser.lr_schedule == Schedule(points=((0, 1e-2), (1000, 1e-3)))
    cfg = load_config(TrainConfig, path, ["optimiser.lr_schedule={points: [[0, 1.0], [10, 0.1]], mode: staircase}"])
    assert cfg.optimiser.lr_schedule.value(5) == 1.0


def test_errors_from_overrides_say_so(tmp_path: Path) -> None:
    path = write(tmp_path / "train.yaml", "seeds: [1]\n")
    with pytest.raises(ConfigError) as caught:
        load_config(TrainConfig, path, ["env.physics.grip_x=1", "optimiser.clip=-1"])
    message = str(caught.value)
    assert f"{path}: unknown key 'env.physics.grip_x' (from --set) (did you mean 'env.physics.grip'?)" in message
    assert f"{path}: 'optimiser.clip' (from --set): must be > 0 (got -1)" in message


def test_bad_schedule_names_key_and_steps(tmp_path: Path) -> None:
    path = write(tmp_path / "train.yaml", "optimiser:\n  lr_schedule: [[0, 1.0], [1000, 0.5], [500, 0.1]]\n")
    with pytest.raises(ConfigError) as caught:
        load_config(TrainConfig, path)
    assert str(caught.value) == (
        f"{path}: 'optimiser.lr_schedule': schedule steps must increase: points[2] (step 500) is not after "
        "points[1] (step 1000): 1000 then 500"
    )


def test_bad_value_inside_a_list_uses_indices(tmp_path: Path) -> None:
    path = write(tmp_path / "train.yaml", "seeds: [1, two]\n")
    with pytest.raises(ConfigError, match=r"'seeds\[1\]': .*integer.*\(got 'two'\)"):
        load_config(TrainConfig, path)


def test_dump_keeps_model_order_and_writes_plain_yaml() -> None:
    cfg = TrainConfig(optimiser=OptimiserConfig(lr_schedule=Schedule(points=((0, 1e-3), (100000, 1e-4)))))
    text = dump_config(cfg)
    assert text.index("env:") < text.index("optimiser:") < text.index("seeds:")
    assert text.index("  map:") < text.index("  image_size:") < text.index("  physics:")
    assert "lr_schedule: [[0, 0.001], [100000, 0.0001]]" in text
    assert "betas: [0.9, 0.999]" in text
    assert "gear_speeds: [0.0, 13.0, 25.0, 38.0, 52.0]" in text


def test_dump_then_load_gives_an_equal_model(tmp_path: Path) -> None:
    cfg = TrainConfig(
        env=EnvConfig(
            map="grand-tour",
            time_limit_s=90.0,
            physics=EnvConfig().physics.model_copy(update={"gear_speeds": (0.0, 10.0)}),
        ),
        optimiser=OptimiserConfig(lr_schedule=Schedule(points=((0, 1.0), (1e6, 1e-5)), mode="exponential")),
        seeds=(3, 4),
    )
    path = tmp_path / "runs" / "resolved.yaml"
    save_config(cfg, path)
    assert load_config(TrainConfig, path) == cfg
    assert [file.name for file in path.parent.iterdir()] == ["resolved.yaml"]


def test_save_replaces_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "env.yaml"
    save_config(EnvConfig(map="sprint"), path)
    save_config(EnvConfig(map="technical"), path)
    assert load_config(EnvConfig, path).map == "technical"
