from __future__ import annotations

import contextlib
import json
import warnings
from pathlib import Path

import minari
import numpy as np
import pytest
from tests.data.conftest import TINY_NAME, tiny_config, tiny_maps, without_checksums

from hairpin.actions import ACTION_KEYS
from hairpin.config.sim import EnvConfig
from hairpin.data.integrity import UnverifiedDatasetWarning
from hairpin.data.meta import SIDECAR, DatasetMeta, minari_data_dir
from hairpin.data.record import record_expert, write_expert_dataset
from hairpin.data.store import DatasetError, check_fits, list_datasets, load_actions, load_demos
from hairpin.data.writer import DatasetWriter
from hairpin.obs import FloatLayout
from hairpin.sim.maps import load_map
from hairpin.sim.race import RaceSim, float_layout


def test_loaded_arrays_are_consistent(tiny_dataset: DatasetMeta) -> None:
    demos, meta = load_demos(TINY_NAME, tiny_dataset.directory.parent)
    assert demos.n_frames == meta.n_frames == sum(e.frames for e in meta.episodes)
    assert demos.n_episodes == 4 and demos.maps == ("gen-3", "gen-3", "gen-4", "gen-4")
    assert demos.images.dtype == np.uint8 and demos.images.shape[1:] == (1, 32, 32)
    assert demos.floats.shape[1] == meta.n_floats == float_layout(EnvConfig()).size
    np.testing.assert_array_equal(np.diff(demos.episode_starts), [e.frames for e in meta.episodes])
    np.testing.assert_array_equal(np.diff(demos.timeline_starts), 5 * np.diff(demos.episode_starts))
    labels, valid = demos.labels_at([0])
    assert valid.all()
    np.testing.assert_array_equal(labels[:, 0], demos.actions)
    for e in range(demos.n_episodes):
        frames = slice(demos.episode_starts[e], demos.episode_starts[e + 1])
        np.testing.assert_array_equal(demos.frame_tick[frames], 5 * np.arange(meta.episodes[e].frames))
        assert demos.race_time_ms[frames][0] == 0 and np.all(np.diff(demos.race_time_ms[frames]) == 50)
    assert demos.finished.all() and np.all(demos.rewards[demos.race_time_ms > 1000] > -0.1)
    np.testing.assert_array_equal(load_actions(meta), demos.actions)


def test_floats_and_images_are_what_a_sim_driving_the_same_keys_sees(tiny_dataset: DatasetMeta) -> None:
    demos, meta = load_demos(tiny_dataset.directory)
    env = EnvConfig.model_validate(meta.env)
    for e in (0, 3):
        track = load_map(meta.map_load_path(demos.maps[e]), half_width=env.road_half_width_m)
        sim = RaceSim(env, [track])
        sim.reset_cars([0], np.random.default_rng(meta.episodes[e].seed))
        ticks = demos.timeline[demos.timeline_starts[e] : demos.timeline_starts[e + 1]].reshape(-1, 5)
        for step, frame in enumerate(range(demos.episode_starts[e], demos.episode_starts[e + 1])):
            np.testing.assert_array_equal(sim.floats[0], demos.floats[frame])
            np.testing.assert_array_equal(sim.image[0], demos.images[frame])
            keys = ACTION_KEYS[ticks[step]]
            sim.step_ticks(keys[None], keys[-1][None])
        assert sim.info(0)["race_time_ms"] == meta.episodes[e].race_time_ms


def test_minari_opens_the_dataset_losslessly(tiny_dataset: DatasetMeta, monkeypatch: pytest.MonkeyPatch) -> None:
    demos, meta = load_demos(tiny_dataset.directory)
    dataset = minari.MinariDataset(minari_data_dir(meta.directory, meta.name))
    assert dataset.total_episodes == len(meta.episodes) and dataset.total_steps == meta.n_frames
    assert dataset.env_spec is not None and dataset.env_spec.id == "hairpin/Race-v0"
    last = dataset[3]
    np.testing.assert_array_equal(last.observations["image"][:-1], demos.images[demos.episode_starts[3] :])
    np.testing.assert_array_equal(last.actions, demos.actions[demos.episode_starts[3] :])
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(meta.directory))
    assert minari.load_dataset(meta.dataset_id).total_episodes == 4


def test_check_fits_names_each_mismatch(tiny_dataset: DatasetMeta) -> None:
    check_fits(tiny_dataset, image_size=32, float_layout=FloatLayout())
    check_fits(tiny_dataset, image_size=None, float_layout=None)
    with pytest.raises(DatasetError, match="images are 32 px, expected 64 px"):
        check_fits(tiny_dataset, image_size=64, float_layout=None)
    with pytest.raises(DatasetError, match=r"floats have 184 values, expected 124.*ref_points"):
        check_fits(tiny_dataset, image_size=32, float_layout=FloatLayout(n_ref_points=20))


def test_a_missing_dataset_lists_those_there(tiny_dataset: DatasetMeta) -> None:
    with pytest.raises(DatasetError, match=r"no dataset 'nope' under .*\(datasets there: tiny\)"):
        load_demos("nope", tiny_dataset.directory.parent)


def test_a_missing_sidecar_is_an_unfinished_dataset(tiny_copy: Path) -> None:
    (tiny_copy / SIDECAR).unlink()
    with pytest.raises(DatasetError, match="unfinished"):
        load_demos(tiny_copy)
    assert list_datasets(tiny_copy.parent) == []


def test_a_corrupt_sidecar_is_an_error(tiny_copy: Path) -> None:
    (tiny_copy / SIDECAR).write_text('{"name": "tiny", "episodes": [')
    with pytest.raises(DatasetError, match="corrupt"):
        load_demos(tiny_copy)


def test_an_empty_dataset_is_an_error(tiny_copy: Path) -> None:
    sidecar = json.loads((tiny_copy / SIDECAR).read_text())
    sidecar |= {"episodes": [], "maps": [], "n_frames": 0}
    (tiny_copy / SIDECAR).write_text(json.dumps(sidecar))
    with pytest.raises(DatasetError, match="empty"):
        load_demos(tiny_copy)
    cfg = tiny_config()
    with (
        pytest.raises(DatasetError, match="no episode was recorded"),
        DatasetWriter(tiny_copy.parent, "none", env=cfg.env, source="expert", maps=tiny_maps()) as writer,
    ):
        writer.close()
    assert not (tiny_copy.parent / "none").exists()


@pytest.mark.parametrize("checksums", [True, False], ids=["checksums", "no-checksums"])
def test_a_truncated_minari_file_is_an_error(tiny_copy: Path, checksums: bool) -> None:
    data = minari_data_dir(tiny_copy, TINY_NAME) / "main_data.hdf5"
    data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])
    if not checksums:  # HDF5's own checks, all a dataset written before checksums has
        without_checksums(tiny_copy)
    with pytest.raises(DatasetError, match="truncated or corrupt"), warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        load_demos(tiny_copy)
    assert [w.category for w in seen] == ([] if checksums else [UnverifiedDatasetWarning])


@pytest.mark.parametrize("checksums", [True, False], ids=["checksums", "no-checksums"])
def test_a_corrupt_minari_file_is_an_error(tiny_copy: Path, checksums: bool) -> None:
    data = minari_data_dir(tiny_copy, TINY_NAME) / "main_data.hdf5"
    raw = bytearray(data.read_bytes())
    raw[:64] = bytes(64)
    data.write_bytes(bytes(raw))
    if not checksums:
        without_checksums(tiny_copy)
    unverified = contextlib.nullcontext() if checksums else pytest.warns(UnverifiedDatasetWarning)
    match = "does not match its SHA-256" if checksums else "truncated or corrupt"
    with pytest.raises(DatasetError, match=match), unverified:
        load_demos(tiny_copy)


def test_a_sidecar_that_disagrees_with_the_minari_file_is_an_error(tiny_copy: Path) -> None:
    sidecar = json.loads((tiny_copy / SIDECAR).read_text())
    sidecar["episodes"][1]["frames"] += 1
    sidecar["n_frames"] += 1
    (tiny_copy / SIDECAR).write_text(json.dumps(sidecar))
    with pytest.raises(DatasetError, match=r"episode 1: observations/image is \("):
        load_demos(tiny_copy)


def test_a_sparse_capture_loads_with_the_full_timeline(tmp_path: Path) -> None:
    cfg, maps = tiny_config(), tiny_maps()
    meta = write_expert_dataset(cfg, maps, root=tmp_path, name="sparse", episodes_per_map=1, capture_every_steps=4)
    demos, _ = load_demos("sparse", tmp_path)
    full = list(record_expert(cfg.env, cfg.expert, maps, 1))
    np.testing.assert_array_equal(demos.timeline, np.concatenate([e.timeline for e in full]))
    assert demos.n_frames == sum(-(-e.n_frames // 4) for e in full) == meta.n_frames
    np.testing.assert_array_equal(demos.frame_tick[: meta.episodes[0].frames], 20 * np.arange(meta.episodes[0].frames))
    labels, valid = demos.labels_at([0, 10, 190])
    np.testing.assert_array_equal(labels[:, 0], demos.actions)
    assert valid[:, 1].all() and not valid[:, 2].all()
