"""Writing a dataset: the Minari dataset (raw uint8 images, no JPEG), map files, then the sidecar, then a rename.

Everything is written into a hidden temporary directory next to the target (``ROOT/.NAME.tmp-*``) and renamed to
``ROOT/NAME`` at the end, so a crash never leaves a half dataset under NAME; the temporary directory is removed on
any error. Episodes are written to the HDF5 file in chunks as they come, so a recording never holds all its frames
in memory. Minari places datasets under ``MINARI_DATASETS_PATH``: it is set to the temporary directory only for
the call that creates the dataset, and restored after.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import numpy as np

from hairpin.actions import N_ACTIONS
from hairpin.atomic import atomic_write_text, fsync_dir
from hairpin.config.sim import EnvConfig, ExpertConfig
from hairpin.data.episode import Episode
from hairpin.data.maps import DemoMap
from hairpin.data.meta import (
    SIDECAR,
    DatasetError,
    DatasetMeta,
    EpisodeRecord,
    MapRecord,
    check_name,
    dataset_id,
    minari_data_dir,
)
from hairpin.sim.race import float_layout
from hairpin.version import code_version

__all__ = ["DatasetWriter"]

FLUSH_FRAMES = 20_000
"""Frames held in memory before they are appended to the HDF5 file."""


@contextlib.contextmanager
def _minari_root(path: Path) -> Iterator[None]:
    """``MINARI_DATASETS_PATH`` set to ``path`` for the duration of the block, restored after."""
    before = os.environ.get("MINARI_DATASETS_PATH")
    os.environ["MINARI_DATASETS_PATH"] = str(path)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("MINARI_DATASETS_PATH", None)
        else:
            os.environ["MINARI_DATASETS_PATH"] = before


def _env_spec(env: EnvConfig, maps: Mapping[str, MapRecord]) -> Any:
    """``hairpin/Race-v0`` with the recording env config as its keyword arguments."""
    import gymnasium  # importing hairpin registered hairpin/Race-v0

    kwargs = env.model_dump(mode="json")
    builtin = [r.load for r in maps.values() if r.kind == "builtin"]
    kwargs["map"] = builtin[0] if builtin else EnvConfig().map  # per-episode maps are in options["map"]
    return dataclasses.replace(gymnasium.spec("hairpin/Race-v0"), kwargs=kwargs)


def _episode_buffer(episode: Episode) -> Any:
    from minari.data_collector import EpisodeBuffer

    m = episode.n_frames
    terminations = np.zeros(m, bool)
    truncations = np.zeros(m, bool)
    terminations[-1], truncations[-1] = episode.terminated, episode.truncated and not episode.terminated
    return EpisodeBuffer(
        seed=episode.seed,
        options={"map": episode.map},
        observations={"image": episode.images, "floats": episode.floats},
        actions=episode.actions,
        rewards=episode.rewards,
        terminations=terminations,
        truncations=truncations,
        infos={
            "race_time_ms": episode.race_time_ms,
            "frame_tick": episode.frame_tick,
            "tick_actions": episode.tick_actions,
        },
    )


class DatasetWriter:
    """Write episodes into dataset ``name`` under ``root``; ``close`` finishes it, leaving the context aborts it.

    ``maps`` are those episodes may name; the reference line of each one that is not built in is saved as
    ``maps/<name>.npy`` so that the dataset holds everything needed to drive its maps again.
    """

    def __init__(
        self,
        root: str | Path,
        name: str,
        *,
        env: EnvConfig,
        source: Literal["expert", "rl-best"],
        maps: Sequence[DemoMap],
        expert: ExpertConfig | None = None,
        capture_every_steps: int = 1,
        overwrite: bool = False,
    ) -> None:
        self.root, self.name = Path(root), check_name(name)
        self.final = self.root / name
        self.overwrite = overwrite
        refuse_existing(self.final, overwrite)
        self.env, self.source, self.expert = env, source, expert
        self.capture = capture_every_steps
        self.tracks = {m.name: m.track for m in maps}
        self.map_sources = {m.name: m.source for m in maps}
        self.n_floats = float_layout(env).size
        self.records: list[EpisodeRecord] = []
        self._pending: list[Episode] = []
        self._pending_frames = 0
        self.root.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=self.root)).resolve()  # Minari needs it absolute
        self._dataset: Any = None

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self.tmp.exists():  # not closed: an error or an early exit
            shutil.rmtree(self.tmp, ignore_errors=True)

    def add(self, episode: Episode) -> None:
        """Queue one episode; it is written with the next chunk."""
        self._check(episode)
        self.records.append(
            EpisodeRecord(
                map=episode.map,
                seed=episode.seed,
                frames=episode.n_frames,
                ticks=episode.n_ticks,
                finished=episode.terminated,
                race_time_ms=episode.final_race_time_ms,
                extra=episode.extra,
            )
        )
        self._pending.append(episode)
        self._pending_frames += episode.n_frames + 1
        if self._pending_frames >= FLUSH_FRAMES:
            self.flush()

    def _check(self, episode: Episode) -> None:
        """A ``DatasetError`` naming what does not fit this dataset."""
        size, width = self.env.image_size, self.capture * self.env.physics.ticks_per_step
        where = f"episode {len(self.records)} on {episode.map!r}"
        if episode.map not in self.tracks:
            raise DatasetError(f"{where}: not one of the dataset's maps {sorted(self.tracks)}")
        if episode.images.shape[1:] != (1, size, size) or episode.images.dtype != np.uint8:
            shape, dtype = episode.images.shape, episode.images.dtype
            raise DatasetError(f"{where}: images {shape} {dtype}, expected (M + 1, 1, {size}, {size}) uint8")
        if episode.floats.shape[1:] != (self.n_floats,):
            raise DatasetError(f"{where}: floats {episode.floats.shape}, expected (M + 1, {self.n_floats})")
        if episode.actions.min() < 0 or episode.actions.max() >= N_ACTIONS:
            raise DatasetError(f"{where}: actions outside [0, {N_ACTIONS})")
        if episode.tick_actions.shape[1] != width:
            raise DatasetError(f"{where}: tick_actions rows of {episode.tick_actions.shape[1]} ticks, expected {width}")

    def flush(self) -> None:
        """Append the queued episodes to the HDF5 file."""
        if not self._pending:
            return
        buffers = [_episode_buffer(e) for e in self._pending]
        if self._dataset is None:
            self._dataset = self._create()
        self._dataset.update_dataset_from_buffer(buffers)
        self._pending, self._pending_frames = [], 0

    def _create(self) -> Any:
        import inspect

        import minari
        from gymnasium import spaces

        from hairpin.sim.env import observation_space

        # Minari 0.5.4 JPEG-encodes image spaces unless told not to (lossy); earlier 0.5 releases store them raw
        # and know no such argument. The loader refuses images that are not raw (H, W) uint8 arrays.
        lossless = {"jpeg_encoding": False}
        if "jpeg_encoding" not in inspect.signature(minari.create_dataset_from_buffers).parameters:
            lossless = {}
        with _minari_root(self.tmp), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*is set to None", category=UserWarning)
            return minari.create_dataset_from_buffers(
                dataset_id=dataset_id(self.name),
                buffer=[],
                env=_env_spec(self.env, self.map_sources),
                observation_space=observation_space(self.env, self.n_floats),
                action_space=spaces.Discrete(N_ACTIONS),
                algorithm_name=f"hairpin {self.source}",
                author="hairpin",
                code_permalink=f"hairpin {code_version()}",
                description=f"hairpin demonstrations ({self.source}); hairpin facts in {SIDECAR} beside",
                **lossless,
            )

    def close(self, recording: dict[str, Any] | None = None) -> DatasetMeta:
        """Write the rest, the map files and the sidecar, then move the dataset to ``root/name``."""
        from hairpin.obs import float_layout_record

        if not self.records:
            raise DatasetError(f"dataset {self.name!r}: no episode was recorded; refusing to write an empty dataset")
        self.flush()
        layout = float_layout(self.env)
        used = list(dict.fromkeys(r.map for r in self.records))
        meta = DatasetMeta(
            name=self.name,
            dataset_id=dataset_id(self.name),
            source=self.source,
            created=datetime.now(UTC).isoformat(timespec="seconds"),
            code_version=code_version(),
            image_size=self.env.image_size,
            n_floats=layout.size,
            float_layout=float_layout_record(layout),
            env=self.env.model_dump(mode="json"),
            expert=self.expert.model_dump(mode="json") if self.expert is not None else None,
            capture_every_steps=self.capture,
            ticks_per_step=self.env.physics.ticks_per_step,
            tick_ms=round(self.env.physics.tick_s * 1000),
            maps=used,
            map_sources={n: self.map_sources[n] for n in used},
            episodes=self.records,
            n_frames=sum(r.frames for r in self.records),
            recording=dict(recording or {}),
        )
        for n in used:
            if meta.map_sources[n].kind != "builtin":
                (self.tmp / "maps").mkdir(exist_ok=True)
                np.save(self.tmp / meta.map_sources[n].load, self.tracks[n].points)
        if not (minari_data_dir(self.tmp, self.name) / "main_data.hdf5").is_file():
            raise DatasetError(f"dataset {self.name!r}: Minari wrote no main_data.hdf5 in {self.tmp}")
        atomic_write_text(self.tmp / SIDECAR, meta.model_dump_json(indent=1) + "\n")
        self._move_into_place()
        return meta.at(self.final)

    def _move_into_place(self) -> None:
        refuse_existing(self.final, self.overwrite)
        old = None
        if self.final.exists():
            old = self.root / f".{self.name}.old-{os.getpid()}"
            os.replace(self.final, old)
        os.replace(self.tmp, self.final)
        fsync_dir(self.root)
        if old is not None:
            shutil.rmtree(old)


def refuse_existing(path: Path, overwrite: bool) -> None:
    """A ``DatasetError`` when a dataset (or anything) is at ``path`` and ``overwrite`` is off."""
    if path.exists() and not overwrite:
        raise DatasetError(f"{path} already exists; choose another name or pass --overwrite to replace it")
