from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from hairpin.cli import app
from hairpin.sim.refline import validate_reference_line

runner = CliRunner()
SMALL = ["--set", "env.image_size=32", "--set", "env.human_size=64", "--gif-every", "10"]


def test_sim_maps_lists_every_builtin_map_with_its_expert_time_and_limit() -> None:
    result = runner.invoke(app, ["sim", "maps"])
    assert result.exit_code == 0, result.output
    for name in ("sprint", "grand-tour", "technical"):
        assert name in result.output
    assert "DNF" not in result.output and "limit" in result.output
    sprint = next(line for line in result.output.splitlines() if "sprint" in line)
    expert, limit = (float(cell.split()[0]) for cell in sprint.split("│")[4:6])
    assert limit < expert


def test_sim_drive_the_racing_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["sim", "drive", "sprint", "--driver", "line", "--out", str(tmp_path), *SMALL])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "lap.json").read_text())
    assert summary["finished"] and summary["driver"] == "line"
    from hairpin.sim.maps import load_map
    from hairpin.sim.racing_line import limit_lap

    assert summary["race_time_ms"] == limit_lap(load_map("sprint"))


def test_sim_drive_writes_gif_png_and_summary(tmp_path: Path) -> None:
    result = runner.invoke(app, ["sim", "drive", "technical", "--out", str(tmp_path), *SMALL])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "lap.json").read_text())
    assert summary["finished"] and summary["map"] == "technical"
    assert (tmp_path / "lap.gif").read_bytes()[:6] == b"GIF89a"
    assert (tmp_path / "map.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "image_size: 32" in (tmp_path / "config.yaml").read_text()


def test_sim_generate_then_drive_the_file(tmp_path: Path) -> None:
    line_path = tmp_path / "gen.npy"
    result = runner.invoke(app, ["sim", "generate", "--seed", "5", "--blocks", "10", "--out", str(line_path)])
    assert result.exit_code == 0, result.output
    validate_reference_line(np.load(line_path))
    result = runner.invoke(app, ["sim", "drive", str(line_path), "--out", str(tmp_path / "drive"), *SMALL])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "drive" / "lap.json").read_text())["finished"]


def test_bad_override_names_the_key() -> None:
    result = runner.invoke(app, ["sim", "config", "--set", "env.physics.grp=3"])
    assert result.exit_code == 2
    assert "env.physics.grp" in result.output and "env.physics.grip" in result.output


def test_unknown_map_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["sim", "drive", "nowhere", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "unknown map 'nowhere'" in " ".join(result.output.split())
    assert "Traceback" not in result.output
