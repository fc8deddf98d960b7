"""Config files: YAML with ``_base_`` inheritance, ``--set`` overrides, named validation errors, dumping."""

from __future__ import annotations

import copy
import difflib
import re
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from hairpin.atomic import atomic_write_text
from hairpin.config.base import CHECK_FILES, range_text
from hairpin.errors import HairpinError

__all__ = ["ConfigError", "apply_overrides", "dump_config", "load_config", "load_yaml_tree", "save_config"]

M = TypeVar("M", bound=BaseModel)
Loc = tuple[int | str, ...]

BASE_KEY = "_base_"
"""Top-level key naming the file (or list of files) a config inherits from."""


class ConfigError(HairpinError, ValueError):
    """A config file, override or value that cannot be used; the message names the file and key."""


class _YamlLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe loader (libyaml's parser where PyYAML has it) that also reads ``1e-3`` as a float (PyYAML's YAML 1.1
    rules want ``1.0e-3``)."""


_YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.VERBOSE,
    ),
    list("-+0123456789."),
)


class _YamlDumper(yaml.SafeDumper):
    """Safe dumper writing lists without mappings inline (``[[0, 0.001], [1000, 0.0001]]``)."""


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    inline = not any(isinstance(item, dict) for item in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=inline)


_YamlDumper.add_representer(list, _represent_list)


def _parse_yaml(text: str, source: str) -> Any:
    """Parse YAML text; a syntax error becomes a ConfigError naming ``source``."""
    try:
        return yaml.load(text, Loader=_YamlLoader)
    except yaml.YAMLError as error:
        raise ConfigError(f"{source}: invalid YAML: {error}") from error


def _deep_merge(base: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``child``: mappings merged recursively, everything else (lists too) replaced."""
    merged = dict(base)
    for key, value in child.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _base_paths(tree: dict[str, Any], path: Path) -> list[Path]:
    """The files named by ``_base_`` in ``tree``, relative to the directory of ``path``."""
    bases = tree.get(BASE_KEY, [])
    if isinstance(bases, str):
        bases = [bases]
    if not isinstance(bases, list) or not all(isinstance(base, str) for base in bases):
        raise ConfigError(f"{path}: {BASE_KEY} must be a file name or a list of file names, got {bases!r}")
    return [path.parent / base for base in bases]


def _load_with_bases(path: Path, chain: tuple[Path, ...]) -> dict[str, Any]:
    """Load ``path`` merged over its bases; ``chain`` holds the files that include it, to detect cycles."""
    resolved = path.resolve()
    if resolved in chain:
        cycle = " -> ".join(str(file) for file in (*chain[chain.index(resolved) :], resolved))
        raise ConfigError(f"{path}: {BASE_KEY} cycle: {cycle}")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as error:
        included_by = f" (the {BASE_KEY} of {chain[-1]})" if chain else ""
        raise ConfigError(f"config file not found: {path}{included_by}") from error
    tree = _parse_yaml(text, str(path))
    if tree is None:
        # An empty file is most likely a mistake (a truncated copy, the wrong file), not a wish for the defaults.
        what = "is empty" if not text.strip() else "holds only comments"
        raise ConfigError(
            f"{path}: the config file {what}, no keys; write the keys to set, or {{}} to take every default"
        )
    if not isinstance(tree, dict):
        raise ConfigError(f"{path}: a config file must hold a mapping of keys, got {type(tree).__name__}")
    merged: dict[str, Any] = {}
    for base in _base_paths(tree, path):
        merged = _deep_merge(merged, _load_with_bases(base, (*chain, resolved)))
    return _deep_merge(merged, {key: value for key, value in tree.items() if key != BASE_KEY})


def load_yaml_tree(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping, merged over the files its ``_base_`` names (child wins, lists replaced)."""
    return _load_with_bases(Path(path), ())


def _parse_override(override: str) -> tuple[list[str], Any]:
    """Split ``a.b.c=value`` into its key path and its YAML-parsed value."""
    key, equals, text = override.partition("=")
    keys = key.strip().split(".")
    if not equals or not all(keys):
        raise ConfigError(f"override {override!r} must look like key.subkey=value")
    return keys, _parse_yaml(text, f"override {override!r}")


def apply_overrides(tree: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """A copy of ``tree`` with each ``a.b.c=value`` override set (values parsed as YAML)."""
    result = copy.deepcopy(tree)
    for override in overrides:
        keys, value = _parse_override(override)
        node = result
        for depth, key in enumerate(keys[:-1]):
            child = node.setdefault(key, {})
            if not isinstance(child, dict):
                parent = ".".join(keys[: depth + 1])
                raise ConfigError(f"override {override!r}: {parent!r} holds {child!r}, not a mapping")
            node = child
        node[keys[-1]] = value
    return result


def _dotted(loc: Loc) -> str:
    """A key path as written in configs: ``physics.grip``, ``points[0][1]``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside a field's type (itself, or in Optional, list[...], dict[...])."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _model_at(model: type[BaseModel], loc: Loc) -> type[BaseModel] | None:
    """The model that holds the key at ``loc``; list indices and dict keys along the way are skipped."""
    current: type[BaseModel] | None = model
    for part in loc[:-1]:
        if current is None:
            return None
        if isinstance(part, str) and part in current.model_fields:
            current = _model_in(current.model_fields[part].annotation)
    return current


def _suggestion(model: type[BaseModel], loc: Loc) -> str:
    """`` (did you mean 'x.y'?)`` for the valid key closest to an unknown one, or nothing."""
    holder = _model_at(model, loc)
    if holder is None or not isinstance(loc[-1], str):
        return ""
    matches = difflib.get_close_matches(loc[-1], list(holder.model_fields), n=1)
    return f" (did you mean {_dotted((*loc[:-1], matches[0]))!r}?)" if matches else ""


def _is_override(loc: Loc, override_locs: Sequence[Loc]) -> bool:
    """Whether a ``--set`` override wrote the key at ``loc``, or a mapping around or inside it."""
    return any(loc[: len(keys)] == keys or keys[: len(loc)] == loc for keys in override_locs)


_BOUND_TYPES = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}
"""pydantic error types of a number outside a Field's bounds."""


def _bounds_in(metadata: Sequence[Any]) -> dict[str, Any]:
    """The gt/ge/lt/le bounds among a field's (or an Annotated type's) metadata."""
    bounds: dict[str, Any] = {}
    for item in metadata:
        for name in ("gt", "ge", "lt", "le"):
            if getattr(item, name, None) is not None:
                bounds[name] = getattr(item, name)
        bounds |= _bounds_in(getattr(item, "metadata", ()))  # a FieldInfo inside Annotated
    return bounds


def _field_bounds(model: type[BaseModel], loc: Loc) -> dict[str, Any]:
    """Every bound of the value at ``loc``: its field's, or its element type's for ``betas[0]``; {} if unknown."""
    names = [index for index, part in enumerate(loc) if isinstance(part, str)]
    if not names:
        return {}
    last = names[-1]
    holder = _model_at(model, loc[: last + 1])
    key = str(loc[last])
    if holder is None or key not in holder.model_fields:
        return {}
    field = holder.model_fields[key]
    if last == len(loc) - 1:
        return _bounds_in(field.metadata)
    if last != len(loc) - 2:
        return {}
    args = [arg for arg in typing.get_args(field.annotation) if arg is not types.NoneType]
    if len(args) == 1 and typing.get_origin(field.annotation) in (typing.Union, types.UnionType):
        args = list(typing.get_args(args[0]))  # tuple[...] | None
    index = loc[-1]
    if len(args) == 2 and args[1] is Ellipsis:
        element = args[0]
    elif isinstance(index, int) and index < len(args):
        element = args[index]
    elif args:
        element = args[-1]  # a dict's values
    else:
        return {}
    return _bounds_in(typing.get_args(element)[1:]) if typing.get_origin(element) is typing.Annotated else {}


def _message(error: Any, model: type[BaseModel], loc: Loc) -> str:
    """What is wrong, in the config's words: the allowed range of a number, a validator's own sentence."""
    if error["type"] == "value_error":
        # A validator's own ValueError reads better without pydantic's "Value error, " prefix.
        return str(error["ctx"]["error"])
    if error["type"] in _BOUND_TYPES:
        bounds = _field_bounds(model, loc) or dict(error.get("ctx") or {})
        return f"must be {range_text(**{name: bounds.get(name) for name in ('gt', 'ge', 'lt', 'le')})}"
    if error["type"] == "finite_number":
        return "must be a finite number, not nan or inf"
    return str(error["msg"])


def _describe(error: Any, model: type[BaseModel], override_locs: Sequence[Loc]) -> str:
    """One line for one pydantic error: the dotted key, where it came from, what is wrong."""
    loc: Loc = tuple(error["loc"])
    key = _dotted(loc)
    origin = " (from --set)" if loc and _is_override(loc, override_locs) else ""
    if error["type"] == "extra_forbidden":
        return f"unknown key {key!r}{origin}{_suggestion(model, loc)}"
    if error["type"] == "missing":
        return f"missing key {key!r}"
    message = _message(error, model, loc)
    value = error.get("input")
    got = f" (got {value!r})" if isinstance(value, str | int | float | bool | types.NoneType) else ""
    return f"{key!r}{origin}: {message}{got}" if loc else f"{message}{got}"


def load_config(model: type[M], path: str | Path | None, overrides: Sequence[str] = ()) -> M:
    """Load ``path`` (defaults only when None), apply ``--set`` overrides and validate as ``model``.

    Files the config names (a map's ``.npy``) must exist now; ``model.model_validate`` of a stored copy skips that.
    """
    tree = load_yaml_tree(path) if path is not None else {}
    tree = apply_overrides(tree, overrides)
    try:
        return model.model_validate(tree, context={CHECK_FILES: True})
    except ValidationError as error:
        source = str(path) if path is not None else f"{model.__name__} (no file)"
        override_locs = [tuple(_parse_override(override)[0]) for override in overrides]
        lines = [f"{source}: {_describe(item, model, override_locs)}" for item in error.errors()]
        raise ConfigError("\n".join(lines)) from error


def dump_config(cfg: BaseModel) -> str:
    """YAML text of a resolved config: keys in model order, tuples as lists, schedules in their plain form."""
    return yaml.dump(cfg.model_dump(mode="json"), Dumper=_YamlDumper, sort_keys=False, allow_unicode=True, width=110)


def save_config(cfg: BaseModel, path: str | Path) -> None:
    """Write ``dump_config(cfg)`` to ``path`` atomically (a temporary file, then ``os.replace``)."""
    path = Path(path)
    text = dump_config(cfg)
    atomic_write_text(path, text)
