from __future__ import annotations

import os
from pathlib import Path

import pytest
from tests.data.conftest import TINY_NAME, tiny_config, tiny_maps

from hairpin.data.record import record_expert
from hairpin.data.store import DatasetError, list_datasets, read_meta
from hairpin.data.writer import DatasetWriter


def test_writing_restores_minari_datasets_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINARI_DATASETS_PATH", "/somewhere/else")
    cfg, maps = tiny_config(), tiny_maps()[:1]
    with DatasetWriter(tmp_path, "one", env=cfg.env, source="expert", maps=maps, expert=cfg.expert) as writer:
        for episode in record_expert(cfg.env, cfg.expert, maps, 1):
            writer.add(episode)
        writer.close()
    assert os.environ["MINARI_DATASETS_PATH"] == "/somewhere/else"
    assert list_datasets(tmp_path) == ["one"] and sorted(p.name for p in tmp_path.iterdir()) == ["one"]


def test_a_relative_root_is_written_where_it_points(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cfg, maps = tiny_config(), tiny_maps()[:1]
    with DatasetWriter("datasets", "rel", env=cfg.env, source="expert", maps=maps, expert=cfg.expert) as writer:
        for episode in record_expert(cfg.env, cfg.expert, maps, 1):
            writer.add(episode)
        writer.close()
    assert list_datasets(tmp_path / "datasets") == ["rel"]


def test_an_existing_dataset_is_not_overwritten_unless_asked(tiny_copy: Path) -> None:
    cfg, maps = tiny_config(), tiny_maps()[:1]
    with pytest.raises(DatasetError, match=r"already exists.*--overwrite"):
        DatasetWriter(tiny_copy.parent, TINY_NAME, env=cfg.env, source="expert", maps=maps)
    with DatasetWriter(tiny_copy.parent, TINY_NAME, env=cfg.env, source="expert", maps=maps, overwrite=True) as w:
        for episode in record_expert(cfg.env, cfg.expert, maps, 1):
            w.add(episode)
        w.close()
    assert len(read_meta(tiny_copy).episodes) == 1
    assert sorted(p.name for p in tiny_copy.parent.iterdir()) == [TINY_NAME]


def test_a_crash_while_writing_leaves_nothing_behind(tmp_path: Path) -> None:
    cfg, maps = tiny_config(), tiny_maps()[:1]
    with (
        pytest.raises(RuntimeError, match="crash"),
        DatasetWriter(tmp_path, "x", env=cfg.env, source="expert", maps=maps) as w,
    ):
        for episode in record_expert(cfg.env, cfg.expert, maps, 1):
            w.add(episode)
        w.flush()  # the HDF5 file exists in the temporary directory
        raise RuntimeError("crash")
    assert list(tmp_path.iterdir()) == []


def test_images_of_another_size_are_refused(tmp_path: Path) -> None:
    cfg, maps = tiny_config(), tiny_maps()[:1]
    (episode,) = record_expert(cfg.env, cfg.expert, maps, 1)
    env64 = cfg.env.model_copy(update={"image_size": 64})
    with (
        DatasetWriter(tmp_path, "x", env=env64, source="expert", maps=maps) as w,
        pytest.raises(DatasetError, match="images"),
    ):
        w.add(episode)


def test_dataset_names_must_be_minari_names(tmp_path: Path) -> None:
    cfg = tiny_config()
    with pytest.raises(DatasetError, match="letters, digits"):
        DatasetWriter(tmp_path, "../up", env=cfg.env, source="expert", maps=tiny_maps())
