"""``hairpin analyze`` in every format and ``hairpin plot --experiments``, end to end on real event files."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from PIL import Image
from tests.analysis.conftest import T0, Logs, races
from typer.testing import CliRunner

from hairpin.cli import app

runner = CliRunner()
RACE_FIGURES = ("best_time", "finish_rate", "race_times")


def two_runs(logs: Logs) -> list[str]:
    """Runs a and b (20 minutes, eval and explo races, loss) and the CLI's --logdir/--runs-dir arguments."""
    for name, best in (("a", 20.0), ("b", 22.0)):
        values = []
        for m in range(21):
            wall, frames = T0 + 60 * m, 1000 * m
            values += [("Training/loss", 1 / (m + 1), frames, wall)]
            values += races("eval", "sprint", [(frames, best + 20 - m, m >= 5, wall)])
            values += races("explo", "sprint", [(frames, best + 30 - m, m >= 3, wall)])
        logs.write(name, values)
    return ["--logdir", str(logs.tensorboard), "--runs-dir", str(logs.runs)]


def test_analyze_text_starts_with_durations_then_tables(logs: Logs) -> None:
    result = runner.invoke(app, ["analyze", "a", "b", *two_runs(logs), "--interval", "10m"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.index("durations of each run") < out.index("eval blind sprint") < out.index("explo blind sprint")
    assert "common window: 20.0 min (limited by a)" in out and "checkpoints every 10 min: 10, 20" in out
    assert "wall_minutes (auto: every run ran in one stretch" in out
    assert "Training/loss: last value" in out


def test_analyze_csv_json_and_md_are_machine_clean(logs: Logs) -> None:
    args = ["analyze", "a", "b", *two_runs(logs), "--time-axis", "frames", "--step-interval", "10k"]
    result = runner.invoke(app, [*args, "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert rows[0]["section"] == "duration" and {row["axis"] for row in rows} == {"frames"}
    wanted = ("a", "eval blind sprint", "first_finish", "20000.0")
    first = next(r for r in rows if (r["subject"], r["metric"], r["statistic"], r["at"]) == wanted)
    assert float(first["value"]) == 5000.0 and first["n"] == "21"
    result = runner.invoke(app, [*args, "--format", "json"])
    data = json.loads(result.stdout)
    assert data["axis"] == "frames" and data["checkpoints"] == [10_000.0, 20_000.0]
    assert data["races"] == ["eval blind sprint", "explo blind sprint"] and len(data["cells"]) > 0
    result = runner.invoke(app, [*args, "--format", "md"])
    assert "| at (frames) | run | races |" in result.stdout and "### durations of each run" in result.stdout


def test_analyze_plot_writes_one_figure_per_metric(logs: Logs, tmp_path: Path) -> None:
    out = tmp_path / "figures"
    result = runner.invoke(app, ["analyze", "a", "b", *two_runs(logs), "--plot", "--output-dir", str(out)])
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in out.iterdir())
    races = [f"{kind}_blind_sprint_{what}.png" for kind in ("eval", "explo") for what in RACE_FIGURES]
    assert names == [*races, "scalar_Training-loss.png"]
    titles = {name: Image.open(out / name).info["Title"] for name in names}
    assert titles["eval_blind_sprint_best_time.png"].startswith("Eval races on sprint")
    assert titles["explo_blind_sprint_best_time.png"].startswith("Exploration races on sprint")


def test_plot_experiments_writes_figures_and_a_report(logs: Logs, tmp_path: Path) -> None:
    paths = two_runs(logs)
    registry = tmp_path / "experiments.yaml"
    registry.write_text("experiments:\n  ab:\n    description: a against b\n    runs: [a, b]\n    interval: 10m\n")
    out = tmp_path / "plots"
    result = runner.invoke(
        app, ["plot", "--experiments", "ab", "--registry", str(registry), *paths, "--output-dir", str(out)]
    )
    assert result.exit_code == 0, result.output
    report = (out / "ab" / "report.md").read_text()
    assert report.startswith("# ab\n\na against b") and "hairpin plot --experiments ab --registry" in report
    assert "![eval_blind_sprint_best_time](eval_blind_sprint_best_time.png)" in report
    assert "| at (min) | run | races |" in report
    assert (out / "ab" / "eval_blind_sprint_best_time.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    result = runner.invoke(app, ["plot", "--experiments", "nope", "--registry", str(registry), *paths])
    assert result.exit_code == 2 and "no experiment 'nope'; the registry has: ab" in result.output


def test_plot_and_analyze_refuse_earlier_figures_unless_asked(logs: Logs, tmp_path: Path) -> None:
    paths = two_runs(logs)
    out = tmp_path / "plots"
    first = runner.invoke(app, ["plot", "a", "b", *paths, "--output-dir", str(out)])
    assert first.exit_code == 0, first.output
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    for command in (["plot", "a", "b"], ["analyze", "a", "b", "--plot"]):
        again = runner.invoke(app, [*command, *paths, "--output-dir", str(out)])
        assert again.exit_code == 2 and "--overwrite" in again.output and "report.md" in again.output
        assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    replaced = runner.invoke(app, ["plot", "a", "b", *paths, "--output-dir", str(out), "--overwrite"])
    assert replaced.exit_code == 0, replaced.output


def test_an_unknown_run_exits_2_listing_the_runs(logs: Logs) -> None:
    result = runner.invoke(app, ["analyze", "c", *two_runs(logs)])
    assert result.exit_code == 2
    assert "no run matches 'c'" in result.output and "a, b" in result.output
