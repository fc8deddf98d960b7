from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tests.data.conftest import ENV, make_run

from hairpin.data.maps import resolve_maps
from hairpin.data.replay import export_best, replay_actions
from hairpin.data.store import DatasetError, load_demos
from hairpin.runfiles.manifest import RunManifest


def test_export_best_replays_each_race_to_its_stored_time(tmp_path: Path) -> None:
    run, times = make_run(tmp_path, "a")
    meta, checks = export_best([run], root=tmp_path / "datasets", name="best")
    assert [(c.map, c.stored_ms, c.replayed_ms) for c in checks] == [(m, t, t) for m, t in times.items()]
    assert all(c.matches for c in checks)
    demos, meta = load_demos("best", tmp_path / "datasets")
    assert meta.source == "rl-best" and meta.maps == ["g3", "g4"] and demos.finished.all()
    assert meta.map_sources["g3"].kind == "file" and (meta.directory / "maps" / "g3.npy").is_file()
    assert [e.extra["run"] for e in meta.episodes] == [str(run)] * 2
    stored = json.loads((run / "best" / "g3" / "actions.json").read_text())["actions"]
    np.testing.assert_array_equal(demos.actions[: demos.episode_starts[1]], stored)
    np.testing.assert_array_equal(np.diff(demos.timeline_starts), 5 * np.diff(demos.episode_starts))


def test_a_stored_time_the_replay_does_not_reach_is_reported(tmp_path: Path) -> None:
    run, _ = make_run(tmp_path, "b", time_error_ms=-100)
    _, checks = export_best([run], root=tmp_path / "datasets", name="best")
    assert not any(c.matches for c in checks)
    assert [c.replayed_ms - c.stored_ms for c in checks] == [100, 100]


def test_runs_with_different_envs_cannot_share_a_dataset(tmp_path: Path) -> None:
    run_a, _ = make_run(tmp_path, "a")
    run_b, _ = make_run(tmp_path, "b", env=ENV.model_copy(update={"n_ref_points": 20}))
    with pytest.raises(DatasetError, match="n_ref_points"):
        export_best([run_a, run_b], root=tmp_path / "datasets", name="best")
    assert not (tmp_path / "datasets" / "best").exists()


def test_a_run_without_best_races_is_an_error(tmp_path: Path) -> None:
    run = tmp_path / "empty"
    RunManifest.open_or_create(run, config={"env": ENV.model_dump(mode="json"), "map_cycle": {}}, seed=0)
    with pytest.raises(DatasetError, match="no best race"):
        export_best([run], root=tmp_path / "datasets", name="best")


def test_actions_that_run_out_end_the_episode_truncated() -> None:
    demo_map = resolve_maps([], generated=1, generator_seed=3, generated_blocks=6)[0]
    episode = replay_actions(ENV, demo_map, np.zeros(50, np.int8))  # 10 steps of accel
    assert episode.n_frames == 10 and episode.truncated and not episode.terminated
    assert episode.extra["actions_ran_out"]
