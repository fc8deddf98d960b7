"""``hairpin demos …``: one tiny end-to-end run per command."""

from __future__ import annotations

from pathlib import Path

from tests.data.conftest import TINY_NAME, make_run
from typer.testing import CliRunner

from hairpin.actions import ACTION_NAMES
from hairpin.cli import app
from hairpin.data.meta import DatasetMeta
from hairpin.data.store import load_demos

runner = CliRunner()


def run(args: list[str]) -> tuple[int, str]:
    """Exit code and output with rich's line wrapping undone."""
    result = runner.invoke(app, args)
    return result.exit_code, " ".join(result.output.split())


TINY = ["--generated", "2", "--generator-seed", "3", "--generated-blocks", "6", "--image-size", "32"]


def test_record_writes_a_dataset_and_refuses_to_overwrite_it(tmp_path: Path) -> None:
    args = ["demos", "record", *TINY, "--episodes", "1", "--noise", "0.3", "--out", "d", "--root", str(tmp_path)]
    code, out = run(args)
    assert code == 0, out
    assert "2 episodes (2 finished)" in out and "frames/s" in out and "Minari id hairpin/d-v0" in out
    demos, meta = load_demos("d", tmp_path)
    assert demos.maps == ("gen-3", "gen-4") and demos.image_size == 32 and meta.expert is not None
    assert meta.expert["noise"] == 0.3 and meta.recording["episodes_per_map"] == 1

    code, out = run(args)
    assert code == 2 and "already exists" in out
    code, out = run([*args, "--overwrite", "--maps", "technical"])
    assert code == 0, out
    assert load_demos("d", tmp_path)[0].maps == ("technical", "gen-3", "gen-4")


def test_record_with_an_unknown_map_says_so(tmp_path: Path) -> None:
    code, out = run(["demos", "record", "--maps", "nowhere", "--out", "d", "--root", str(tmp_path)])
    assert code == 2 and "unknown map 'nowhere'" in out
    assert not (tmp_path / "d").exists()


def test_info_prints_maps_actions_and_times(tiny_dataset: DatasetMeta) -> None:
    code, out = run(["demos", "info", TINY_NAME, "--root", str(tiny_dataset.directory.parent)])
    assert code == 0, out
    assert f"4 episodes, {tiny_dataset.n_frames} frames, 4 finished" in out
    assert "images 32×32 px, 184 floats" in out
    for name in ("gen-3", "gen-4", *ACTION_NAMES):
        assert name in out
    mean = sum(e.race_time_ms for e in tiny_dataset.episodes) / 4000
    assert f"mean finished race time {mean:.2f} s" in out


def test_info_of_a_missing_dataset_lists_the_datasets(tiny_dataset: DatasetMeta) -> None:
    code, out = run(["demos", "info", "nope", "--root", str(tiny_dataset.directory.parent)])
    assert code == 2 and "datasets there: tiny" in out


def test_export_best_warns_when_a_replay_differs(tmp_path: Path) -> None:
    good, times = make_run(tmp_path, "good")
    g3 = times["g3"] / 1000
    code, out = run(["demos", "export-best", str(good), "--out", "b", "--root", str(tmp_path / "ds")])
    assert code == 0, out
    assert "warning:" not in out and f"stored {g3:.2f} s, replayed {g3:.2f} s" in out and "2 races" in out
    bad, _ = make_run(tmp_path, "bad", time_error_ms=50)
    code, out = run(["demos", "export-best", str(bad), "--out", "c", "--root", str(tmp_path / "ds")])
    assert code == 0, out
    assert out.count("warning:") == 2 and f"stored {g3 + 0.05:.2f} s, replayed {g3:.2f} s: the replay differs" in out


def test_record_from_the_racing_line(tmp_path: Path) -> None:
    args = ["demos", "record", *TINY, "--episodes", "1", "--driver", "line", "--out", "l", "--root", str(tmp_path)]
    code, out = run(args)
    assert code == 0, out
    assert "2 episodes (2 finished)" in out
    demos, meta = load_demos("l", tmp_path)
    assert meta.recording["driver"] == "line"
    expert_args = [*args[:-4], "--driver", "expert", "--out", "e", "--root", str(tmp_path)]
    assert run(expert_args)[0] == 0
    line_frames, expert_frames = demos.n_frames, load_demos("e", tmp_path)[0].n_frames
    assert line_frames < expert_frames  # the racing line finishes sooner, so it has fewer frames
