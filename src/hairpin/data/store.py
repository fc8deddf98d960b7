"""Loading datasets for training: every frame read once into memory as ``DemoArrays``, images kept uint8.

The Minari HDF5 file is read directly with h5py in Minari's documented layout (``episode_<i>/observations/image``,
``…/floats``, ``actions``, ``rewards``, ``infos/<key>``) into preallocated arrays. Minari's own episode iteration
decodes every episode into fresh arrays that must then be concatenated: on a 50k-frame 64 px dataset it reached
about 145k frames/s and twice the peak memory, against about 215k frames/s for this reader (README,
"Demonstrations"). Everything is checked against the sidecar before anything is returned, so a dataset is loaded
whole or not at all; first of all the files' sizes and SHA-256 checksums (``hairpin.data.integrity``), so that a
damaged file is named as such rather than read.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from hairpin.actions import N_ACTIONS
from hairpin.data.arrays import DemoArrays
from hairpin.data.episode import PAD
from hairpin.data.integrity import check_integrity
from hairpin.data.meta import MINARI_FILE, SIDECAR, DatasetError, DatasetMeta, minari_data_dir
from hairpin.obs import FloatLayout, float_layout_differences

__all__ = ["DatasetError", "DatasetMeta", "check_fits", "list_datasets", "load_actions", "load_demos", "read_meta"]


def list_datasets(root: str | Path = "datasets") -> list[str]:
    """Names of the finished datasets under ``root`` (folders holding a sidecar)."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(
        p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and (p / SIDECAR).exists()
    )


def dataset_dir(name_or_path: str | Path, root: str | Path = "datasets") -> Path:
    """The directory of a dataset given by name (under ``root``) or by path; a ``DatasetError`` when there is none."""
    path, under_root = Path(name_or_path), Path(root) / name_or_path
    for candidate in (path, under_root):
        if (candidate / SIDECAR).exists():
            return candidate
    for candidate in (under_root, path):
        if candidate.is_dir():
            return candidate  # read_meta says what is wrong with it
    names = list_datasets(root)
    listing = ", ".join(names) if names else "none"
    raise DatasetError(f"no dataset {str(name_or_path)!r} under {root}/ (datasets there: {listing})")


def read_meta(name_or_path: str | Path, root: str | Path = "datasets") -> DatasetMeta:
    """The validated sidecar of a dataset."""
    directory = dataset_dir(name_or_path, root)
    path = directory / SIDECAR
    if not path.exists():
        raise DatasetError(
            f"{directory} has no {SIDECAR}: the dataset is unfinished (its recording stopped) or not a hairpin dataset"
        )
    try:
        meta = DatasetMeta.model_validate_json(path.read_bytes())
    except ValidationError as error:
        raise DatasetError(f"{path} is corrupt:\n{error}") from error
    if not meta.episodes:
        raise DatasetError(f"dataset {meta.name!r} ({directory}) is empty: it has no episode")
    return meta.at(directory)


def check_fits(meta: DatasetMeta, *, image_size: int | None, float_layout: FloatLayout | None) -> None:
    """A ``DatasetError`` naming each way the dataset does not fit a network of this image size and float layout."""
    problems = []
    if image_size is not None and meta.image_size != image_size:
        problems.append(f"images are {meta.image_size} px, expected {image_size} px")
    if float_layout is not None:
        problems += float_layout_differences(meta.float_layout, float_layout)
    if problems:
        raise DatasetError(f"dataset {meta.name!r} does not fit: " + "; ".join(problems))


@contextmanager
def _reading(meta: DatasetMeta) -> Iterator[Any]:
    """The dataset's Minari file, open for reading; any read error, there or inside the block, is a
    ``DatasetError`` naming the dataset."""
    import h5py

    path = minari_data_dir(meta.directory, meta.name) / MINARI_FILE
    if not path.exists():
        raise DatasetError(f"dataset {meta.name!r}: {path} is missing")
    try:
        file = h5py.File(path, "r")
    except OSError as error:
        raise DatasetError(
            f"dataset {meta.name!r}: {path} cannot be read, it is truncated or corrupt ({error})"
        ) from error
    with file:
        try:
            yield file
        except DatasetError:
            raise
        except (OSError, KeyError, ValueError, TypeError) as error:
            raise DatasetError(f"dataset {meta.name!r}: the Minari file is corrupt ({error})") from error


def _episode(file: Any, meta: DatasetMeta, i: int) -> Any:
    group = file.get(f"episode_{i}")
    if group is None:
        raise DatasetError(
            f"dataset {meta.name!r}: the Minari file has no episode_{i} (the sidecar lists {len(meta.episodes)})"
        )
    return group


def load_actions(
    name_or_path: str | Path | DatasetMeta, root: str | Path = "datasets", *, verify: bool = True
) -> np.ndarray:
    """(T,) int64 actions (labels at 0 ms) of every frame, without reading images; the files are checked against
    their checksums first unless ``verify`` is off (``hairpin demos info`` without ``--verify``: a quick look)."""
    meta = name_or_path if isinstance(name_or_path, DatasetMeta) else read_meta(name_or_path, root)
    if verify:
        check_integrity(meta)
    out = np.empty(meta.n_frames, np.int64)
    with _reading(meta) as file:
        start = 0
        for i, record in enumerate(meta.episodes):
            out[start : start + record.frames] = _episode(file, meta, i)["actions"][: record.frames]
            start += record.frames
    return out


def load_demos(name_or_path: str | Path, root: str | Path = "datasets") -> tuple[DemoArrays, DatasetMeta]:
    """Read a whole dataset into memory: (DemoArrays, its sidecar). Nothing is returned unless all of it checks,
    its files' checksums first."""
    meta = read_meta(name_or_path, root)
    check_integrity(meta)
    with _reading(meta) as file:
        if len(file.keys()) != len(meta.episodes):
            raise DatasetError(
                f"dataset {meta.name!r}: the Minari file has {len(file.keys())} episodes, "
                f"the sidecar {len(meta.episodes)}"
            )
        demos = _read_all(file, meta)
    return demos, meta


def _read_all(file: Any, meta: DatasetMeta) -> DemoArrays:
    t, size, f = meta.n_frames, meta.image_size, meta.n_floats
    width = meta.capture_every_steps * meta.ticks_per_step
    images = np.empty((t, 1, size, size), np.uint8)
    floats = np.empty((t, f), np.float32)
    actions = np.empty(t, np.int64)
    rewards = np.empty(t, np.float32)
    race_time = np.empty(t, np.int64)
    frame_tick = np.empty(t, np.int64)
    ticks = np.array([r.ticks for r in meta.episodes], np.int64)
    timeline = np.empty(int(ticks.sum()), np.int8)
    timeline_starts = np.concatenate([[0], np.cumsum(ticks)]).astype(np.int64)
    frames = np.array([r.frames for r in meta.episodes], np.int64)
    episode_starts = np.concatenate([[0], np.cumsum(frames)]).astype(np.int64)
    for i, record in enumerate(meta.episodes):
        group, a, m = _episode(file, meta, i), int(episode_starts[i]), record.frames
        where = f"dataset {meta.name!r} episode {i}"
        shapes = {
            "observations/image": (m + 1, 1, size, size),
            "observations/floats": (m + 1, f),
            "actions": (m,),
            "rewards": (m,),
            "infos/race_time_ms": (m + 1,),
            "infos/frame_tick": (m + 1,),
            "infos/tick_actions": (m + 1, width),
        }
        ds = _datasets(group, shapes, where)
        ds["observations/image"].read_direct(images, np.s_[:m], np.s_[a : a + m])
        ds["observations/floats"].read_direct(floats, np.s_[:m], np.s_[a : a + m])
        actions[a : a + m] = ds["actions"][()]
        rewards[a : a + m] = ds["rewards"][()]
        race_time[a : a + m] = ds["infos/race_time_ms"][:m]
        frame_tick[a : a + m] = ds["infos/frame_tick"][:m]
        played = ds["infos/tick_actions"][()].reshape(-1)
        k = record.ticks
        if np.any(played[k:] != PAD) or np.any(played[:k] < 0) or np.any(played[:k] >= N_ACTIONS):
            raise DatasetError(f"{where}: the tick actions do not hold {k} actions in [0, {N_ACTIONS}) then padding")
        timeline[timeline_starts[i] : timeline_starts[i + 1]] = played[:k]
    _check_labels(meta, actions, timeline, timeline_starts, frame_tick, episode_starts)
    return DemoArrays(
        images=images,
        floats=floats,
        actions=actions,
        rewards=rewards,
        race_time_ms=race_time,
        episode=np.repeat(np.arange(len(frames)), frames),
        episode_starts=episode_starts,
        finished=np.array([r.finished for r in meta.episodes], bool),
        timeline=timeline,
        timeline_starts=timeline_starts,
        frame_tick=frame_tick,
        maps=tuple(r.map for r in meta.episodes),
        tick_ms=meta.tick_ms,
    )


def _datasets(group: Any, shapes: dict[str, tuple[int, ...]], where: str) -> dict[str, Any]:
    """The HDF5 datasets of one episode by key, each looked up once and checked against its expected shape."""
    found = {}
    for key, shape in shapes.items():
        dataset = group.get(key)
        if dataset is None or dataset.shape != shape:
            raise DatasetError(f"{where}: {key} is {'missing' if dataset is None else dataset.shape}, expected {shape}")
        found[key] = dataset
    return found


def _check_labels(
    meta: DatasetMeta,
    actions: np.ndarray,
    timeline: np.ndarray,
    timeline_starts: np.ndarray,
    frame_tick: np.ndarray,
    episode_starts: np.ndarray,
) -> None:
    """Each frame's action must be the timeline's action at its tick (the label at 0 ms)."""
    episode = np.repeat(np.arange(len(meta.episodes)), np.diff(episode_starts))
    length = np.diff(timeline_starts)[episode]
    if np.any(frame_tick < 0) or np.any(frame_tick >= length):
        raise DatasetError(f"dataset {meta.name!r}: a frame's tick lies outside its episode's timeline")
    at_frame = timeline[timeline_starts[episode] + frame_tick]
    bad = np.flatnonzero(at_frame != actions)
    if len(bad):
        raise DatasetError(f"dataset {meta.name!r}: frame {bad[0]}'s action differs from its tick action")
    if np.any(actions < 0) or np.any(actions >= N_ACTIONS):
        raise DatasetError(f"dataset {meta.name!r}: actions outside [0, {N_ACTIONS})")
