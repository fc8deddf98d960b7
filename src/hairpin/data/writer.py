"""Writing a dataset: the Minari dataset (raw uint8 images, no JPEG), map files, then the sidecar, then a rename.

Everything is written into a hidden temporary directory next to the target (``ROOT/.NAME.tmp-*``) and renamed to
``ROOT/NAME`` at the end, so a crash never leaves a half dataset under NAME; the temporary directory is removed on
any error, and one left by a writer that was killed is removed by the next writer under ROOT (its ``.writer.json``
names the dead pid: ``hairpin.data.leftovers``). Episodes are written to the HDF5 file in chunks as they come, so a
recording never holds all its frames in memory. Minari places datasets under ``MINARI_DATASETS_PATH``: it is set to
the temporary directory only for the call that creates the dataset, and restored after. The sidecar lists the size
and SHA-256 of every file written before it (``hairpin.data.integrity``).

A full disk. HDF5 cannot fail cleanly when the disk fills under it: its chunk and metadata writes fail inside
destructors (``Exception ignored in … __dealloc__``, many times over) and closing the file then crashes the process
(a segmentation fault, seen with h5py 3.16 on a 2 MB tmpfs). So HDF5 is never let near a full disk: before each
chunk the disk blocks it can take are reserved at the end of the HDF5 file (``posix_fallocate``; HDF5 allocates
from its end-of-address, which stays where it was, and cuts the file back to it when Minari closes the file), an
upper bound of what the chunk takes (``bytes_needed``). When the reservation fails the recording stops with one
``OSError`` (ENOSPC) naming the root, before HDF5 writes anything, and the temporary folder is removed. Without
``posix_fallocate`` (Windows, macOS) the free space is compared instead; that, and file systems whose allocation
does not truly reserve (copy-on-write or compressing ones: btrfs, ZFS), a second process filling the disk at the
same moment can still outrun. Checked by hand on 2 MB and 150 MB tmpfs: one line and exit code 2 at the first and
at the second chunk, no temporary folder left, an existing dataset of the name unchanged.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import gc
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
from hairpin.data.integrity import WRITER_RECORD, file_records
from hairpin.data.leftovers import Leftovers, remove_dead_writers, temporary_prefix, write_writer_record
from hairpin.data.maps import DemoMap
from hairpin.data.meta import (
    MINARI_FILE,
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

__all__ = ["DatasetWriter", "bytes_needed", "reserve_space"]

FLUSH_FRAMES = 20_000
"""Frames held in memory before they are appended to the HDF5 file."""
_MIB = 1 << 20
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def _arrays(value: Any) -> Iterator[np.ndarray]:
    """The arrays of an episode buffer's field: itself, or those of a (nested) dict."""
    if isinstance(value, Mapping):
        for item in value.values():
            yield from _arrays(item)
    elif value is not None:
        yield np.asarray(value)


def _stored_bytes(array: np.ndarray) -> int:
    """Bytes of ``array`` as a chunked HDF5 dataset: whole chunks, in the layout h5py guesses (Minari's
    ``chunks=True``); twice its bytes and 1 MiB more if h5py's (private) guess is not there to ask."""
    if array.ndim == 0 or array.size == 0:
        return array.nbytes
    try:
        from h5py._hl.filters import guess_chunk

        chunk = guess_chunk(array.shape, None, array.dtype.itemsize)
        padded = [-(-n // int(c)) * int(c) for n, c in zip(array.shape, chunk, strict=True)]
    except (ImportError, AttributeError, TypeError, ValueError):
        return 2 * array.nbytes + _MIB
    return int(np.prod(padded)) * array.dtype.itemsize


def bytes_needed(buffers: Sequence[Any]) -> int:
    """An upper bound of the bytes the HDF5 file grows by when Minari appends ``buffers`` (``EpisodeBuffer``).

    Per array (a chunked HDF5 dataset): its whole chunks, 5 % more for the chunk index and 16 KiB for its object
    header; per episode 64 KiB for its three groups; per call 1 MiB for the file's own metadata. Measured on
    recordings of 16 to 64 px, 1 to 32 episodes a chunk: the file grew by 14–90 % of this bound (90 % for
    chunks of 32 episodes at 64 px, 100.9 of 112.5 MB).
    """
    total = _MIB
    for buffer in buffers:
        total += 64 * 1024
        fields = (buffer.observations, buffer.actions, buffer.rewards, buffer.terminations, buffer.truncations)
        for array in (a for f in (*fields, buffer.infos) for a in _arrays(f)):
            total += int(_stored_bytes(array) * 1.05) + 16 * 1024
    return total


def reserve_space(path: Path, n_bytes: int) -> None:
    """Allocate ``n_bytes`` of disk blocks past the end of ``path``; an ``OSError`` (ENOSPC) when the disk cannot.

    Where the file system cannot allocate ahead, only checks that as many bytes are free.
    """
    fallocate = getattr(os, "posix_fallocate", None)
    if fallocate is not None:
        descriptor = os.open(path, os.O_RDWR)
        try:
            fallocate(descriptor, os.fstat(descriptor).st_size, n_bytes)
            return
        except OSError as error:
            if error.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                raise
        finally:
            os.close(descriptor)
    if shutil.disk_usage(path.parent).free < n_bytes:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))


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
        source: Literal["expert", "rl-best", "script"],
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
        self.leftovers: Leftovers = remove_dead_writers(self.root)
        """What was left under ``root`` by writers that died; ``leftovers.note()`` says it in one line
        (``report_leftovers`` prints it)."""
        self._dataset: Any = None
        # Minari needs the directory absolute
        self.tmp = Path(tempfile.mkdtemp(prefix=temporary_prefix(name), dir=self.root)).resolve()
        try:
            write_writer_record(self.tmp)
        except BaseException:
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.abort()

    def abort(self) -> None:
        """Drop what was written (a no-op once closed): Minari's handle first, then the temporary directory."""
        self._dataset, self._pending = None, []
        if self.tmp.exists():
            gc.collect()  # no h5py object of the file may outlive the folder (Minari opens the file per call)
            shutil.rmtree(self.tmp, ignore_errors=True)

    @contextlib.contextmanager
    def _writing(self, what: str, need: int | None = None) -> Iterator[None]:
        """Any failure of the disk or of HDF5 inside the block: the dataset aborted, one clear error raised."""
        try:
            yield
        except (OSError, RuntimeError) as error:
            failure = self._failure(error, what, need)  # the free space before the folder goes
            self.abort()
            raise failure from error

    def _failure(self, error: OSError | RuntimeError, what: str, need: int | None) -> Exception:
        code = error.errno if isinstance(error, OSError) else None
        first = (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
        if code in _DISK_FULL or "No space left on device" in str(error):
            free = shutil.disk_usage(self.root).free if self.root.exists() else 0
            needs = f" (about {need / 1e6:.1f} MB more needed, {free / 1e6:.1f} MB free)" if need else ""
            return OSError(
                code or errno.ENOSPC,
                f"no space left on the disk for dataset {self.name!r} while {what}{needs}; the recording stopped "
                f"and its temporary folder was removed",
                str(self.root),
            )
        if isinstance(error, OSError) and code is not None:
            return OSError(
                code,
                f"dataset {self.name!r}: {what} failed ({first}); the temporary folder was removed",
                error.filename or str(self.root),
            )
        return DatasetError(
            f"dataset {self.name!r}: {what} in {self.root} failed ({first}); the temporary folder was removed"
        )

    def report_leftovers(self, console: Any) -> None:
        """Print what was left by writers that died (one line), if anything, on a rich ``console`` (None: nothing)."""
        note = self.leftovers.note()
        if note and console is not None:
            console.print(note, markup=False, highlight=False)

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
        need = bytes_needed(buffers)
        with self._writing(f"writing {len(buffers)} episodes", need):
            if self._dataset is None:
                if shutil.disk_usage(self.root).free < need:  # before HDF5 creates anything
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.root))
                self._dataset = self._create()
            reserve_space(minari_data_dir(self.tmp, self.name) / MINARI_FILE, need)
            self._write(buffers)
        self._pending, self._pending_frames = [], 0

    def _write(self, buffers: list[Any]) -> None:
        """Append episode buffers to the Minari dataset (its HDF5 file and metadata.json)."""
        self._dataset.update_dataset_from_buffer(buffers)

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
        with self._writing("writing its map files and sidecar"):
            for n in used:
                if self.map_sources[n].kind != "builtin":
                    (self.tmp / "maps").mkdir(exist_ok=True)
                    np.save(self.tmp / self.map_sources[n].load, self.tracks[n].points)
            if not (minari_data_dir(self.tmp, self.name) / MINARI_FILE).is_file():
                raise DatasetError(f"dataset {self.name!r}: Minari wrote no {MINARI_FILE} in {self.tmp}")
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
                files=file_records(self.tmp),  # every file is written by now, and fsynced here
            )
            atomic_write_text(self.tmp / SIDECAR, meta.model_dump_json(indent=1) + "\n")
        self._move_into_place()
        return meta.at(self.final)

    def _move_into_place(self) -> None:
        refuse_existing(self.final, self.overwrite)
        old = None
        if self.final.exists():
            old = self.root / f".{self.name}.old-{os.getpid()}"
            os.replace(self.final, old)
        try:
            os.replace(self.tmp, self.final)
        except BaseException:
            if old is not None:
                os.replace(old, self.final)  # the previous dataset back where it was
            raise
        fsync_dir(self.root)
        (self.final / WRITER_RECORD).unlink(missing_ok=True)
        if old is not None:
            shutil.rmtree(old)


def refuse_existing(path: Path, overwrite: bool) -> None:
    """A ``DatasetError`` when a dataset (or anything) is at ``path`` and ``overwrite`` is off."""
    if path.exists() and not overwrite:
        raise DatasetError(f"{path} already exists; choose another name or pass --overwrite to replace it")
