from __future__ import annotations

import pytest
from minari.dataset.minari_dataset import parse_dataset_id

from hairpin.data.meta import DatasetError, DatasetMeta, dataset_id


@pytest.mark.parametrize("name", ["demo", "expert-v2_64px", "0"])
def test_dataset_ids_are_minari_ids(name: str) -> None:
    assert dataset_id(name) == f"hairpin/{name}-v0"
    assert parse_dataset_id(dataset_id(name)) == ("hairpin", name, 0)


@pytest.mark.parametrize("name", ["", "-x", ".hidden", "a/b", "a b", "é"])
def test_names_that_cannot_be_a_folder_and_a_minari_name_are_refused(name: str) -> None:
    with pytest.raises(DatasetError, match="letters, digits"):
        dataset_id(name)


def test_the_sidecar_must_agree_with_itself(tiny_dataset: DatasetMeta) -> None:
    tree = tiny_dataset.model_dump()
    with pytest.raises(ValueError, match="n_frames"):
        DatasetMeta.model_validate(tree | {"n_frames": tree["n_frames"] + 1})
    with pytest.raises(ValueError, match="do not match the episodes' maps"):
        DatasetMeta.model_validate(tree | {"maps": ["gen-4", "gen-3"]})
    with pytest.raises(ValueError, match="map_sources lacks"):
        DatasetMeta.model_validate(tree | {"map_sources": {}})
    with pytest.raises(DatasetError, match="has no map 'x'"):
        tiny_dataset.map_load_path("x")
    assert tiny_dataset.map_load_path("gen-3") == str(tiny_dataset.directory / "maps" / "gen-3.npy")
