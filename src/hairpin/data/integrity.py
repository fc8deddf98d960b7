"""Checksums of a dataset's files: recorded in the sidecar when the dataset is written, checked before it is read.

Every file of a dataset but the sidecar (the Minari HDF5 file and metadata, the map files) is listed in the
sidecar's ``files`` with its size and SHA-256. ``verify_files`` compares them before ``load_demos`` or
``load_actions`` return anything, so overwritten bytes inside the HDF5 file (which HDF5 itself does not notice:
raw images carry no checksum) are a ``DatasetError`` naming the file, not frames that pretraining trains on.

SHA-256 through ``hashlib.file_digest``: 1.48 GB/s on the development machine's CPU (with SHA-NI), 0.17 s for the
252 MB HDF5 file of a 51,040-frame 64 px expert dataset (file in the page cache); its ``load_demos`` went from
0.45 s to 0.64 s. BLAKE2b (0.80 GB/s) and MD5 (0.67 GB/s) were slower there, so SHA-256 it is. Files are
fsynced as they are hashed at write time, so the sidecar, written after them, never lists a file the disk does not
yet hold.

Datasets written before checksums (sidecar format version 1, no ``files``) still load: they cannot be verified, and
``check_integrity`` says so with an ``UnverifiedDatasetWarning`` (a ``UserWarning``, shown once per place by
Python's default filter) rather than an error, so that existing datasets keep working; recording them again adds
the checksums. Extra files in a dataset directory (not listed) are ignored: they cannot change what is loaded.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

from hairpin.data.meta import SIDECAR, DatasetError, DatasetMeta, FileRecord

__all__ = ["WRITER_RECORD", "UnverifiedDatasetWarning", "check_integrity", "file_records", "verify_files"]

WRITER_RECORD = ".writer.json"
"""Who is writing a temporary dataset folder (``hairpin.data.leftovers``); never part of a dataset."""
_CHUNK = 1 << 20


class UnverifiedDatasetWarning(UserWarning):
    """A dataset written before checksums: its files cannot be verified."""


def _digest(path: Path, *, sync: bool = False) -> str:
    with path.open("rb") as file:
        digest = hashlib.file_digest(file, "sha256").hexdigest()
        if sync:
            os.fsync(file.fileno())
    return digest


def file_records(directory: Path) -> dict[str, FileRecord]:
    """Size and SHA-256 of every file under ``directory`` but the sidecar and the writer record, fsynced."""
    records = {}
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        relative = path.relative_to(directory).as_posix()
        if relative in (SIDECAR, WRITER_RECORD):
            continue
        records[relative] = FileRecord(size=path.stat().st_size, sha256=_digest(path, sync=True))
    return records


def _again(meta: DatasetMeta) -> str:
    if meta.source == "rl-best":
        return f"export it again (hairpin demos export-best RUN_DIR… --out {meta.name} --overwrite)"
    return f"record it again (hairpin demos record --out {meta.name} --overwrite …)"


def verify_files(meta: DatasetMeta) -> list[str] | None:
    """The files checked, each one's size and SHA-256 as the sidecar says; None when the dataset has no checksums
    (format version 1). A ``DatasetError`` naming the first file that differs: the dataset is damaged."""
    if meta.files is None:
        return None
    for relative, record in meta.files.items():
        path = meta.directory / relative
        damaged = f"dataset {meta.name!r} is damaged: {path}"
        try:
            size = path.stat().st_size
            if size != record.size:
                raise DatasetError(
                    f"{damaged} is {size} bytes, {SIDECAR} recorded {record.size} (the file is truncated or "
                    f"corrupt); {_again(meta)}"
                )
            if _digest(path) != record.sha256:
                raise DatasetError(
                    f"{damaged} does not match its SHA-256 checksum in {SIDECAR} (the file is corrupt: its bytes "
                    f"changed on disk since it was written); {_again(meta)}"
                )
        except FileNotFoundError as error:
            raise DatasetError(f"{damaged} is missing; {_again(meta)}") from error
        except OSError as error:  # a read error of the disk is damage too, named as such
            raise DatasetError(f"{damaged} cannot be read ({error}); {_again(meta)}") from error
    return list(meta.files)


def check_integrity(meta: DatasetMeta) -> None:
    """``verify_files``, with an ``UnverifiedDatasetWarning`` when the dataset has no checksums."""
    if verify_files(meta) is None:
        warnings.warn(
            f"dataset {meta.name!r} ({meta.directory}) was written before hairpin recorded checksums (sidecar "
            f"format version {meta.format_version}): its files cannot be verified; {_again(meta)} to add them",
            UnverifiedDatasetWarning,
            stacklevel=3,
        )
