"""What a dataset is, as its sidecar ``hairpin.json`` says: the facts that do not fit Minari's per-step arrays.

On disk a dataset ``NAME`` under ``ROOT`` is::

    ROOT/NAME/
      hairpin/NAME-v0/data/main_data.hdf5   the Minari dataset ``hairpin/NAME-v0`` (HDF5, raw uint8 images)
      hairpin/NAME-v0/data/metadata.json    Minari's metadata (spaces, env spec, counts)
      hairpin/namespace_metadata.json       Minari's namespace ``hairpin``
      maps/<map>.npy                        reference lines of maps that are not built in (generated, files)
      hairpin.json                          this sidecar, written last: its absence means an unfinished dataset

While it is written the dataset is ``ROOT/.NAME.tmp-*``, holding ``.writer.json`` (the writer's pid and host), so
that the next writer under ROOT can remove the folders of writers that died (``hairpin.data.leftovers``).

Format version 2 (this one) lists in the sidecar the size and SHA-256 of every other file of the dataset
(``files``), checked before frames or actions are returned (``hairpin.data.integrity``); version 1 sidecars, written
before, have no ``files``: they still load, with an ``UnverifiedDatasetWarning``.

``ROOT/NAME`` is a Minari datasets directory, so ``MINARI_DATASETS_PATH=ROOT/NAME`` makes
``minari.load_dataset("hairpin/NAME-v0")`` find it, and ``minari.MinariDataset(ROOT/NAME/hairpin/NAME-v0/data)``
opens it directly. NAME must be a valid Minari dataset name: letters, digits, ``-`` and ``_``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from hairpin.errors import HairpinError

__all__ = [
    "FORMAT_VERSION",
    "MINARI_FILE",
    "NAMESPACE",
    "SIDECAR",
    "DatasetError",
    "DatasetMeta",
    "EpisodeRecord",
    "FileRecord",
    "MapRecord",
    "check_name",
    "dataset_id",
    "minari_data_dir",
]

SIDECAR = "hairpin.json"
MINARI_FILE = "main_data.hdf5"
"""Minari's HDF5 file, in ``minari_data_dir``."""
NAMESPACE = "hairpin"
FORMAT_VERSION: Literal[2] = 2
"""1: no checksums; 2: ``files`` holds the size and SHA-256 of every file of the dataset but the sidecar."""
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


class DatasetError(HairpinError, ValueError):
    """A dataset is missing, unfinished, corrupt, empty, or does not fit what it is used for."""


def check_name(name: str) -> str:
    """``name`` if it can be a dataset folder and a Minari dataset name, else a ``DatasetError``."""
    if not _NAME_RE.fullmatch(name):
        raise DatasetError(
            f"dataset name {name!r} must start with a letter or digit and hold only letters, digits, '-' and '_' "
            "(it is a folder name and part of the Minari id hairpin/NAME-v0)"
        )
    return name


def dataset_id(name: str) -> str:
    """The Minari dataset id of dataset ``name``: ``hairpin/<name>-v0``."""
    return f"{NAMESPACE}/{check_name(name)}-v0"


def minari_data_dir(dataset_dir: Path, name: str) -> Path:
    """Minari's ``data`` folder inside a hairpin dataset directory."""
    return dataset_dir / NAMESPACE / f"{check_name(name)}-v0" / "data"


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MapRecord(_Record):
    """How to build a map of the dataset again."""

    load: str
    """What ``hairpin.sim.maps.load_map`` takes: a built-in name, or a ``.npy`` path relative to the dataset."""
    kind: Literal["builtin", "generated", "file"]
    length_m: float
    blocks: str | None = None
    """Block string of a generated map (``hairpin.sim.generator``)."""


class EpisodeRecord(_Record):
    """One episode's summary; its arrays are episode ``i`` of the Minari file."""

    map: str
    seed: int | None
    frames: int = Field(ge=1)
    """M, frames carrying a decision (the Minari episode's steps)."""
    ticks: int = Field(ge=1)
    """10 ms ticks played (length of the episode's action timeline)."""
    finished: bool
    race_time_ms: int
    """Race time at the end: the finish time when finished."""
    extra: dict[str, Any] = {}


class FileRecord(_Record):
    """Size and checksum of one file of a dataset, as it was written."""

    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class DatasetMeta(_Record):
    """The sidecar ``hairpin.json`` of a dataset."""

    format: Literal["hairpin-demos"] = "hairpin-demos"
    format_version: Literal[1, 2] = FORMAT_VERSION
    name: str
    dataset_id: str
    source: Literal["expert", "rl-best", "script"]
    created: str
    code_version: str
    image_size: int
    n_floats: int
    float_layout: dict[str, Any]
    """``hairpin.obs.float_layout_record`` of the recording env."""
    env: dict[str, Any]
    """The recording ``EnvConfig``, dumped (its ``map`` is irrelevant: each episode names its own)."""
    expert: dict[str, Any] | None = None
    """The ``ExpertConfig`` that drove (source expert)."""
    capture_every_steps: int = Field(ge=1)
    ticks_per_step: int = Field(ge=1)
    tick_ms: int = Field(ge=1)
    maps: list[str]
    """Distinct maps, in order of first episode."""
    map_sources: dict[str, MapRecord]
    episodes: list[EpisodeRecord]
    n_frames: int
    recording: dict[str, Any] = {}
    """How it was made: seed, noise, cars, runs, speed…"""
    files: dict[str, FileRecord] | None = None
    """Every file of the dataset but the sidecar, by path relative to the dataset directory (``/``-separated);
    None in format version 1."""
    _directory: Path | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _consistent(self) -> DatasetMeta:
        if self.n_frames != sum(e.frames for e in self.episodes):
            raise ValueError(f"n_frames {self.n_frames} is not the sum of the episodes' frames")
        in_order = list(dict.fromkeys(e.map for e in self.episodes))
        if self.maps != in_order:
            raise ValueError(f"maps {self.maps} do not match the episodes' maps {in_order}")
        missing = sorted(set(self.maps) - set(self.map_sources))
        if missing:
            raise ValueError(f"map_sources lacks {missing}")
        if (self.files is None) != (self.format_version == 1):
            has = "has" if self.files is not None else "lacks"
            raise ValueError(f"format_version {self.format_version} {has} files (sizes and checksums)")
        for path in self.files or {}:
            parts = path.split("/")
            if path.startswith("/") or "\\" in path or any(part in ("", ".", "..") for part in parts):
                raise ValueError(f"files: {path!r} is not a path inside the dataset")
        minari_file = f"{NAMESPACE}/{self.name}-v0/data/{MINARI_FILE}"
        if self.files is not None and minari_file not in self.files:
            raise ValueError(f"files lacks the Minari file {minari_file}")
        return self

    @property
    def directory(self) -> Path:
        """The dataset directory this sidecar was read from (or written to)."""
        if self._directory is None:
            raise DatasetError(f"dataset {self.name!r}: the sidecar was not read from disk, it has no directory")
        return self._directory

    def at(self, directory: Path) -> DatasetMeta:
        """This sidecar, bound to the dataset directory it describes."""
        self._directory = Path(directory)
        return self

    def map_load_path(self, name: str) -> str:
        """What ``load_map`` takes to build map ``name`` again (built-in name or absolute ``.npy`` path)."""
        if name not in self.map_sources:
            raise DatasetError(f"dataset {self.name!r} has no map {name!r}; it has {self.maps}")
        record = self.map_sources[name]
        return record.load if record.kind == "builtin" else str(self.directory / record.load)
