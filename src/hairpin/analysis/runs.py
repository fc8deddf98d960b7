"""Which directories hold a run's TensorBoard logs, and what its run.json says (DESIGN §6–§7).

A hairpin run is found through ``<runs_dir>/<name>/run.json``: its ``tensorboard_dirs`` are its log directories and
nothing else is guessed. A plain TensorBoard directory ``<logdir>/<name>`` (Linesight, rulka, or hairpin logs
without their runs/ tree) is a run too, and its siblings ``<name>_2``, ``<name>_3``… (the directories a
``tensorboard_suffix_schedule`` opens) are merged into it, unless a sibling is a run of its own: it has a run.json,
another run.json lists it, or it is named on the command line. Run names may be glob patterns (``"bc_s*"``).
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hairpin.analysis.errors import AnalysisError
from hairpin.analysis.events import is_event_file
from hairpin.runfiles.manifest import MANIFEST, RunManifest, RunManifestError

__all__ = ["RunCatalog", "RunSource"]

_SUFFIX = re.compile(r"^(?P<base>.+)_(?P<number>[0-9]+)$")


@dataclass(frozen=True)
class RunSource:
    """One run to read: its name, its log directories in order, and its run.json when it has one."""

    name: str
    log_dirs: tuple[Path, ...]
    manifest: RunManifest | None = None
    notes: tuple[str, ...] = ()

    @property
    def group(self) -> str | None:
        """The variant this run belongs to (run.json ``group``), or None."""
        return self.manifest.group if self.manifest is not None else None

    @property
    def seed(self) -> int | None:
        """The run's seed from run.json, or None."""
        return self.manifest.seed if self.manifest is not None else None


def _has_events(directory: Path) -> bool:
    return directory.is_dir() and any(is_event_file(path) for path in directory.iterdir())


def _is_glob(pattern: str) -> bool:
    return any(char in pattern for char in "*?[")


def _load_manifest(run_dir: Path) -> RunManifest:
    try:
        return RunManifest.load(run_dir)
    except RunManifestError as error:
        raise AnalysisError(str(error)) from error


class RunCatalog:
    """The runs under a runs directory (run.json) and a TensorBoard directory (plain event directories)."""

    def __init__(self, logdir: str | Path, runs_dir: str | Path) -> None:
        self.logdir, self.runs_dir = Path(logdir), Path(runs_dir)
        runs = sorted(self.runs_dir.iterdir()) if self.runs_dir.is_dir() else []
        self.manifests: dict[str, RunManifest] = {}
        self.unreadable: dict[str, AnalysisError] = {}
        """Runs whose run.json does not load: an error only when one of them is asked for."""
        for path in runs:
            if (path / MANIFEST).is_file():
                try:
                    self.manifests[path.name] = _load_manifest(path)
                except AnalysisError as error:
                    self.unreadable[path.name] = error
        logs = sorted(self.logdir.iterdir()) if self.logdir.is_dir() else []
        self.plain_dirs = {path.name: path for path in logs if _has_events(path)}
        self._claimed = {
            directory.resolve()
            for name in self.manifests
            for directory in self._manifest_dirs(name, self.manifests[name])[0]
        }

    def _manifest_dirs(self, name: str, manifest: RunManifest) -> tuple[list[Path], list[str]]:
        """The existing log directories run.json lists, and a note for each listed one that is not found."""
        found, notes = [], []
        for listed in manifest.tensorboard_dirs:
            path = Path(listed)
            candidates = [path] if path.is_absolute() else [path, self.runs_dir.parent / path, self.logdir / path.name]
            existing = next((c for c in candidates if c.is_dir()), None)
            if existing is None:
                notes.append(
                    f"{name}: run.json lists {listed}, not found (looked in {', '.join(map(str, candidates))})"
                )
            else:
                found.append(existing)
        return found, notes

    def _is_suffix_dir(self, name: str) -> bool:
        """Whether plain directory ``name`` is ``<base>_<n>`` of a plain run ``base`` and no run of its own."""
        match = _SUFFIX.match(name)
        if match is None or name in self.manifests or self.plain_dirs[name].resolve() in self._claimed:
            return False
        base = self.plain_dirs.get(match["base"])
        return base is not None and base.resolve() not in self._claimed and match["base"] not in self.manifests

    def _suffix_dirs(self, name: str, explicit: set[str]) -> list[Path]:
        """The suffix directories of plain run ``name``, by number; one named on the command line stays apart."""
        siblings = []
        for other, path in self.plain_dirs.items():
            match = _SUFFIX.match(other)
            if match and match["base"] == name and other not in explicit and self._is_suffix_dir(other):
                siblings.append((int(match["number"]), path))
        return [path for _, path in sorted(siblings)]

    def _plain_names(self) -> list[str]:
        """Plain directories that are runs: not listed by a run.json, not a suffix directory of another one."""
        return [
            name
            for name, path in self.plain_dirs.items()
            if path.resolve() not in self._claimed and name not in self.manifests and not self._is_suffix_dir(name)
        ]

    def names(self) -> list[str]:
        """Every run name: run.json runs first, then plain TensorBoard directories."""
        return [*self.manifests, *(name for name in self._plain_names() if name not in self.manifests)]

    def _unknown(self, pattern: str) -> AnalysisError:
        close = difflib.get_close_matches(pattern, self.names(), n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        manifests = ", ".join(self.manifests) or "none"
        plain = ", ".join(self._plain_names()) or "none"
        unreadable = f"\n  run.json that do not load: {', '.join(self.unreadable)}" if self.unreadable else ""
        return AnalysisError(
            f"no run matches {pattern!r}{hint}\n  runs with run.json in {self.runs_dir}/: {manifests}\n"
            f"  TensorBoard directories in {self.logdir}/: {plain}{unreadable}"
        )

    def _manifest_source(self, name: str, manifest: RunManifest) -> RunSource:
        dirs, notes = self._manifest_dirs(name, manifest)
        if not dirs:
            listed = ", ".join(manifest.tensorboard_dirs) or "none"
            raise AnalysisError(f"run {name}: none of the TensorBoard directories its run.json lists exists ({listed})")
        return RunSource(name, tuple(dirs), manifest, tuple(notes))

    def _plain_source(self, name: str, directory: Path, explicit: set[str]) -> RunSource:
        suffixes = self._suffix_dirs(name, explicit)
        notes = (f"{name}: suffix directories merged: {', '.join(p.name for p in suffixes)}",) if suffixes else ()
        return RunSource(name, (directory, *suffixes), None, notes)

    def resolve(self, patterns: Sequence[str]) -> list[RunSource]:
        """The runs named by ``patterns`` (names, glob patterns or directories), in order, each once."""
        explicit = {p for p in patterns if not _is_glob(p)}
        names: list[str] = []
        for pattern in patterns:
            matched = [n for n in self.names() if fnmatch.fnmatchcase(n, pattern)] if _is_glob(pattern) else [pattern]
            if not matched:
                raise self._unknown(pattern)
            names.extend(name for name in matched if name not in names)
        sources = []
        for name in names:
            path = Path(name)
            if name in self.unreadable:
                raise self.unreadable[name]
            if name in self.manifests:
                sources.append(self._manifest_source(name, self.manifests[name]))
            elif name in self.plain_dirs:
                sources.append(self._plain_source(name, self.plain_dirs[name], explicit))
            elif (path / MANIFEST).is_file():
                sources.append(self._manifest_source(path.name, _load_manifest(path)))
            elif _has_events(path):
                sources.append(RunCatalog(path.parent, self.runs_dir)._plain_source(path.name, path, explicit))
            else:
                raise self._unknown(name)
        return sources
