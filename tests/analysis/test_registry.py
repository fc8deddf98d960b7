"""configs/experiments.yaml validates, and an experiment becomes the analysis options it names."""

from __future__ import annotations

from pathlib import Path

import pytest

from hairpin.analysis.errors import AnalysisError
from hairpin.analysis.registry import experiment_options, load_registry
from hairpin.analysis.report import experiment_command, plot_command

SHIPPED = Path(__file__).resolve().parents[2] / "configs" / "experiments.yaml"


def test_the_shipped_registry_loads() -> None:
    registry = load_registry(SHIPPED)
    assert "cpu-smoke" in registry.experiments and registry.experiments["cpu-smoke"].runs == ["cpu"]


def test_an_experiment_becomes_options(tmp_path: Path) -> None:
    path = tmp_path / "experiments.yaml"
    path.write_text(
        "experiments:\n  seeds:\n    groups: {base: [base_s*], bc: [bc_s0, bc_s1]}\n    time_axis: frames\n"
        "    step_interval: 1M\n    metrics: [loss]\n"
    )
    options = experiment_options(load_registry(path), "seeds", Path("tb"), Path("runs"))
    assert options.runs == ("base_s*", "bc_s0", "bc_s1")
    assert options.groups == ("base=base_s*", "bc=bc_s0", "bc=bc_s1")
    assert (options.time_axis, options.step_interval, options.metrics) == ("frames", "1M", ("loss",))
    command = plot_command(options, Path("out"))
    assert command.startswith("hairpin plot 'base_s*' bc_s0 bc_s1 --logdir tb --runs-dir runs --time-axis frames")
    assert "--step-interval 1M --metrics loss --group 'base=base_s*'" in command
    assert experiment_command("seeds", path, "tb", "runs", "out").endswith("--runs-dir runs --output-dir out")


def test_registry_errors_name_the_key(tmp_path: Path) -> None:
    path = tmp_path / "experiments.yaml"
    path.write_text("experiments:\n  empty: {}\n  typo:\n    run: [a]\n")
    with pytest.raises(AnalysisError) as error:
        load_registry(path)
    assert "experiments.empty" in str(error.value) and "an experiment needs runs or groups" in str(error.value)
    assert "unknown key 'experiments.typo.run'" in str(error.value)
