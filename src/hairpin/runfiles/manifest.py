"""``runs/<run_name>/run.json``: what a run is (config, seed, code version) and what happened to it (DESIGN §6).

Each process that trains the run is a session. ``start_session`` saves at once with ``"end": null``, so a session
survives a SIGKILL: when the run is reopened with an open last session, that session is closed as
``"end": null, "killed": true`` (its frames and batches at the end are unknown: the next session's start, read from
the last checkpoint, is where training really resumed). Every change is written atomically.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, PrivateAttr, ValidationError

from hairpin.atomic import atomic_write_text
from hairpin.errors import HairpinError
from hairpin.version import code_version as current_code_version

__all__ = ["ConfigChange", "Event", "RunManifest", "RunManifestError", "Session", "config_diff"]

MANIFEST = "run.json"


class RunManifestError(HairpinError, RuntimeError):
    """run.json cannot be read, or the run is reopened with a config or seed that differs where it matters."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Session(_Record):
    """One process training the run; ``end`` is null while it runs, and stays null with ``killed`` if it died."""

    start: str
    end: str | None = None
    frames_start: int
    frames_end: int | None = None
    batches_start: int
    batches_end: int | None = None
    code_version: str
    init_from: str | None = None
    killed: bool = False


class Event(_Record):
    """Something worth finding on a timeline: "collector restarted", "plateau breaker", "early stop"…"""

    time: str
    frames: int
    kind: str
    message: str


class ConfigChange(_Record):
    """Config keys that differed when session ``session`` (0-based) reopened the run: ``{key: [old, new]}``."""

    time: str
    session: int
    changes: dict[str, list[Any]]


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(tree, Mapping) and tree:
        return {k: v for key, value in tree.items() for k, v in _flatten(value, f"{prefix}{key}.").items()}
    return {prefix.rstrip("."): tree}


def config_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, list[Any]]:
    """``{dotted key: [old, new]}`` for every leaf that differs (a missing side is null)."""
    flat_old, flat_new = _flatten(old), _flatten(new)
    keys = sorted(set(flat_old) | set(flat_new))
    return {key: [flat_old.get(key), flat_new.get(key)] for key in keys if flat_old.get(key) != flat_new.get(key)}


def _as_json_dict(config: BaseModel | Mapping[str, Any]) -> dict[str, Any]:
    """The config as run.json stores it (JSON types only), so that a reopened run compares like with like."""
    tree = config.model_dump(mode="json") if isinstance(config, BaseModel) else dict(config)
    return dict(json.loads(json.dumps(tree)))


def _keys_added_at_default(old: Mapping[str, Any], config: BaseModel | Mapping[str, Any]) -> set[str]:
    """Keys a newer hairpin added to the config that ``old`` (a run's stored config) lacks, where ``config`` holds
    their default: such a key changes nothing the run did, so it does not block a resume (it is still recorded)."""
    if not isinstance(config, BaseModel):
        return set()
    try:
        defaults = _flatten(_as_json_dict(type(config)()))
    except ValueError:  # a config model without a default for every field
        return set()
    flat_old, flat_new = _flatten(old), _flatten(_as_json_dict(config))
    return {k for k, v in flat_new.items() if k not in flat_old and k in defaults and defaults[k] == v}


class RunManifest(_Record):
    """The contents of run.json, with the methods that change it; each method saves before it returns."""

    run_name: str
    group: str | None = None
    seed: int | None = None
    code_version: str
    created: str
    config: dict[str, Any]
    config_changes: list[ConfigChange] = []
    sessions: list[Session] = []
    tensorboard_dirs: list[str] = []
    events: list[Event] = []
    pretrained: list[dict[str, Any]] = []
    """Pretrained artifacts injected when the run started (rl/inject.py)."""
    limits_ms: dict[str, int] = {}
    """The limit of each map (DESIGN §8) in ms, by short name, as the last session computed it."""
    _path: Path = PrivateAttr()

    @property
    def path(self) -> Path:
        """Where this manifest is saved."""
        return self._path

    @classmethod
    def load(cls, run_dir: str | Path) -> RunManifest:
        """Read ``run_dir/run.json`` as it is (for analysis: nothing is marked or saved)."""
        path = Path(run_dir) / MANIFEST
        try:
            manifest = cls.model_validate_json(path.read_bytes())
        except FileNotFoundError as error:
            raise RunManifestError(f"{path} does not exist") from error
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "the file"
            raise RunManifestError(
                f"{path} is not a readable run manifest ({error.error_count()} problem(s); {where}: {first['msg']}); "
                "restore it from a backup, or move the run away to start it anew"
            ) from error
        manifest._path = path
        return manifest

    @classmethod
    def open_or_create(
        cls,
        run_dir: str | Path,
        *,
        config: BaseModel | Mapping[str, Any],
        seed: int | None,
        group: str | None = None,
        run_name: str | None = None,
        code_version: str | None = None,
        allow_config_change: bool = False,
        free_keys: Collection[str] = (),
    ) -> RunManifest:
        """Create run.json, or reopen it for a new session: an open last session is marked killed.

        A reopened run refuses a different seed or a config that differs outside the dotted prefixes in
        ``free_keys`` unless ``allow_config_change``; any accepted difference is recorded in ``config_changes``.
        """
        run_dir = Path(run_dir)
        new_config = _as_json_dict(config)
        version = code_version if code_version is not None else current_code_version()
        changes = cls.check_reopen(
            run_dir, config=config, seed=seed, allow_config_change=allow_config_change, free_keys=free_keys
        )
        if changes is None:
            manifest = cls(
                run_name=run_name or run_dir.name,
                group=group,
                seed=seed,
                code_version=version,
                created=_now(),
                config=new_config,
            )
            manifest._path = run_dir / MANIFEST
            manifest.save()
            return manifest
        manifest = cls.load(run_dir)
        if changes:
            change = ConfigChange(time=_now(), session=len(manifest.sessions), changes=changes)
            manifest.config_changes.append(change)
            manifest.config, manifest.seed = new_config, seed
        if manifest.sessions and manifest.sessions[-1].end is None:
            manifest.sessions[-1].killed = True
        manifest.code_version = version
        manifest.save()
        return manifest

    @classmethod
    def check_reopen(
        cls,
        run_dir: str | Path,
        *,
        config: BaseModel | Mapping[str, Any],
        seed: int | None,
        allow_config_change: bool = False,
        free_keys: Collection[str] = (),
    ) -> dict[str, list[Any]] | None:
        """The config changes a reopening would record (None for a new run); raises, writing nothing, when run.json
        is unreadable or the seed or config differ outside ``free_keys`` and ``allow_config_change`` is not set."""
        if not (Path(run_dir) / MANIFEST).exists():
            return None
        manifest = cls.load(run_dir)
        changes = config_diff(manifest.config, _as_json_dict(config))
        if seed != manifest.seed:
            changes["seed"] = [manifest.seed, seed]
        new_at_default = _keys_added_at_default(manifest.config, config)
        binding = [
            key
            for key in changes
            if key not in new_at_default and not any(key == p or key.startswith(f"{p}.") for p in free_keys)
        ]
        if binding and not allow_config_change:
            lines = "\n  ".join(f"{key}: {changes[key][0]!r} -> {changes[key][1]!r}" for key in binding)
            raise RunManifestError(
                f"{manifest.path}: the run was started with another config; resume it with its own config, start a "
                "new run (--set run_name=NEW), or accept the change with `hairpin train --allow-config-change` "
                f"(both configs are recorded):\n  {lines}"
            )
        return changes

    @property
    def session_open(self) -> bool:
        """Whether a session was started by this process and not ended yet."""
        return self._open_session() is not None

    def save(self) -> None:
        """Write run.json atomically."""
        atomic_write_text(self._path, self.model_dump_json(indent=2) + "\n")

    def _open_session(self) -> Session | None:
        last = self.sessions[-1] if self.sessions else None
        return last if last is not None and last.end is None and not last.killed else None

    def start_session(self, frames: int, batches: int, init_from: str | None = None) -> Session:
        """Append a session starting at these counters (``init_from``: weights it was initialised from)."""
        if self._open_session() is not None:
            raise RunManifestError(f"{self._path}: a session is already open; end it first")
        session = Session(
            start=_now(),
            frames_start=frames,
            batches_start=batches,
            code_version=self.code_version,
            init_from=init_from,
        )
        self.sessions.append(session)
        self.save()
        return session

    def end_session(self, frames: int, batches: int) -> None:
        """Close the open session at these counters."""
        session = self._open_session()
        if session is None:
            raise RunManifestError(f"{self._path}: no open session to end")
        session.end, session.frames_end, session.batches_end = _now(), frames, batches
        self.save()

    def add_tensorboard_dir(self, path: str | Path) -> None:
        """List a TensorBoard directory of this run (as given: relative or absolute); listed once."""
        if str(path) not in self.tensorboard_dirs:
            self.tensorboard_dirs.append(str(path))
            self.save()

    def set_pretrained(self, records: list[dict[str, Any]]) -> None:
        """Record the pretrained artifacts injected into the fresh run."""
        self.pretrained = records
        self.save()

    def set_limits(self, limits_ms: dict[str, int]) -> None:
        """Record the maps' limits (a change of the racing line between sessions is logged as an event)."""
        if self.limits_ms and limits_ms != self.limits_ms:
            self.events.append(
                Event(time=_now(), frames=0, kind="limits_changed", message=f"{self.limits_ms} → {limits_ms}")
            )
        self.limits_ms = dict(limits_ms)
        self.save()

    def log_event(self, kind: str, message: str, frames: int) -> None:
        """Record an event at ``frames`` (cumul_number_frames_played)."""
        self.events.append(Event(time=_now(), frames=frames, kind=kind, message=message))
        self.save()
