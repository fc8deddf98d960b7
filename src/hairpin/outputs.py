"""Named outputs are never overwritten without being asked: ``check_writable_output`` before writing one.

Every command that writes a file or folder the user named (``--out``, ``--gif``…) checks it first, before any
work, and refuses an existing one unless ``--overwrite`` is given. The refusal is an ``OutputExistsError``, which
the ``hairpin`` command prints as one line with exit code 2; the existing file is left as it was.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from hairpin.errors import HairpinError

__all__ = [
    "OVERWRITE_HINT",
    "OutputExistsError",
    "OutputPathError",
    "check_writable_output",
    "check_writable_outputs",
    "output_with_suffix",
]

OVERWRITE_HINT = "pass --overwrite to replace it, or choose another path"


class OutputPathError(HairpinError):
    """An output path that cannot be used: a folder where a file should go, a file where a folder should, a suffix."""


class OutputExistsError(OutputPathError):
    """An output that already exists and may not be replaced (no ``--overwrite``)."""


def output_with_suffix(path: str | Path, suffix: str) -> Path:
    """``path`` with ``suffix`` (".npy") added when it has none; another suffix is refused, never silently doubled."""
    path = Path(path)
    if path.suffix == suffix:
        return path
    if not path.name or path.is_dir():
        raise OutputPathError(f"{path} is a folder: name the {suffix} file to write, e.g. {path / ('out' + suffix)}")
    if path.suffix:
        raise OutputPathError(
            f"{path}: the output must be a {suffix} file, not {path.suffix}; end its name with {suffix}"
        )
    return path.with_name(path.name + suffix)


def check_writable_output(path: str | Path, overwrite: bool) -> Path:
    """``path`` if a file may be written there: nothing is there yet, or it is a file and ``overwrite`` is set.

    A folder where the file should go is refused even with ``overwrite`` (it is never deleted).
    """
    path = Path(path)
    if path.is_dir():
        raise OutputPathError(f"{path} is a folder, not a file: choose a file path for the output")
    if path.exists() or path.is_symlink():
        if not overwrite:
            raise OutputExistsError(f"{path} already exists: {OVERWRITE_HINT}")
    elif path.parent.exists() and not path.parent.is_dir():
        raise OutputPathError(f"{path.parent} is a file, not a folder: choose another path for {path.name}")
    return path


def check_writable_outputs(folder: str | Path, names: Iterable[str], overwrite: bool) -> Path:
    """``folder`` if the files ``names`` may be written into it; names every one that exists when refusing."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputPathError(f"{folder} is a file, not a folder: choose a folder for the outputs")
    names = list(names)
    for name in names:
        if (folder / name).is_dir():
            raise OutputPathError(f"{folder / name} is a folder where a file is to be written: choose another folder")
    existing = [name for name in names if (folder / name).exists() or (folder / name).is_symlink()]
    if existing and not overwrite:
        raise OutputExistsError(
            f"{folder} already holds {', '.join(existing)}: pass --overwrite to replace "
            f"{'them' if len(existing) > 1 else 'it'}, or choose another folder"
        )
    return folder
